//! A stream the server refuses with REFUSED_STREAM was never processed, so it is sent again
//! at once (once), before the retry policy; when that fails too, the error says so in one
//! readable line.

use crate::support;
use crate::support::h2_server;

use std::sync::atomic::Ordering;

use longrunning_grpc::policy::RetryPolicy;
use support::op;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_refused_stream_is_sent_again_at_once() {
    let (addr, requests) = h2_server::serve_refusing(1).await;
    let client = support::builder_at(addr)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let started = Instant::now();
    client.cancel_operation(op("x")).await.unwrap();

    assert_eq!(requests.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), std::time::Duration::ZERO, "no backoff");
}

#[tokio::test]
async fn a_stream_refused_twice_is_one_readable_error() {
    let (addr, requests) = h2_server::serve_refusing(usize::MAX).await;
    let client = support::builder_at(addr)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert_eq!(requests.load(Ordering::SeqCst), 2, "sent again once");
    assert!(err.is_unavailable() && err.is_transport(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "unavailable: the server refused the stream before processing it \
             (REFUSED_STREAM) in GetOperation for {:?}",
            op("x")
        )
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the chain is kept"
    );
}

#[tokio::test]
async fn transport_errors_show_no_debug_output() {
    // A port nothing listens on: connection refused.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let client = support::builder_at(addr)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let shown = client.get_operation(op("x")).await.unwrap_err().to_string();

    assert!(
        shown.starts_with(&format!(
            "unavailable: cannot connect to {addr}: connection refused"
        )),
        "{shown}"
    );
    for debug in ["Error {", "Kind", "Custom {", "Os {", "source:", "StreamId"] {
        assert!(!shown.contains(debug), "{debug:?} in {shown}");
    }
    assert_eq!(shown.lines().count(), 1);
}
