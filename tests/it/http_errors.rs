//! What a server or front end sends that is not a clean gRPC answer: HTTP error pages become
//! the statuses gRPC specifies (and UNAVAILABLE ones are retried), and malformed status
//! headers never panic, on every transport a user can choose.

use crate::support;
use crate::support::h2_server;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use h2_server::Answer;
use longrunning_grpc::Error;
use longrunning_grpc::policy::RetryPolicy;
use support::op;
use tonic::Code;
use tonic::transport::Channel;

/// The three ways a client can reach a server.
#[derive(Clone, Copy, Debug)]
enum Via {
    OwnConnections,
    Channel,
    Service,
}

const ALL: [Via; 3] = [Via::OwnConnections, Via::Channel, Via::Service];

/// One GetOperation through `via`.
async fn get(addr: SocketAddr, via: Via, retry: RetryPolicy) -> Result<(), Error> {
    let name = op("x");
    match via {
        Via::OwnConnections => {
            let client = support::builder_at(addr).retry_policy(retry).build()?;
            client.get_operation(&name).await.map(drop)
        }
        Via::Channel => {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy();
            let client = support::builder_at(addr)
                .retry_policy(retry)
                .channel(channel)
                .build()?;
            client.get_operation(&name).await.map(drop)
        }
        Via::Service => {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy();
            let client = support::builder_at(addr)
                .retry_policy(retry)
                .build_with_service(channel)?;
            client.get_operation(&name).await.map(drop)
        }
    }
}

#[tokio::test]
async fn http_error_pages_become_the_statuses_grpc_specifies() {
    let cases = [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (500, Code::Unknown),
    ];
    for (status, code) in cases {
        let (addr, _) = h2_server::serve(Answer::http(status, "text/html", "<h1>oops</h1>")).await;
        for via in ALL {
            let err = get(addr, via, RetryPolicy::never()).await.unwrap_err();
            assert_eq!(err.code(), code, "HTTP {status} via {via:?}: {err}");
            assert!(err.is_status(), "the server's answer: {err:?}");
            let want = format!("HTTP {status} from the server (text/html): oops");
            assert!(err.to_string().contains(&want), "via {via:?}: {err}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_http_503_page_is_unavailable_and_retried() {
    let page = "<html><head><title>503 Service Temporarily Unavailable</title></head></html>";
    let (addr, requests) = h2_server::serve(Answer::http(503, "text/html", page)).await;
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .jitter(longrunning_grpc::policy::Jitter::None)
        .build()
        .unwrap();

    for (n, via) in ALL.into_iter().enumerate() {
        let err = get(addr, via, retry.clone()).await.unwrap_err();

        assert_eq!(err.code(), Code::Unavailable, "via {via:?}: {err}");
        assert!(
            err.to_string().contains(
                "HTTP 503 from the server (text/html): 503 Service Temporarily Unavailable"
            ),
            "via {via:?}: {err}"
        );
        assert_eq!(
            requests.load(Ordering::SeqCst),
            3 * (n + 1),
            "via {via:?}: retried"
        );
    }
}

#[tokio::test]
async fn an_http_200_that_is_not_grpc_is_unknown_not_a_decode_error() {
    let (addr, _) = h2_server::serve(Answer::http(200, "text/html", "captive portal")).await;
    for via in ALL {
        let err = get(addr, via, RetryPolicy::never()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unknown, "via {via:?}: {err}");
        assert!(
            err.to_string()
                .contains("HTTP 200 from the server (text/html): captive portal"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn status_details_that_are_not_base64_never_panic() {
    let bad = vec![
        ("grpc-status", "5"),
        ("grpc-message", "gone"),
        ("grpc-status-details-bin", "!!! not base64 !!!"),
    ];
    for answer in [
        Answer::grpc_trailers(bad.clone()),
        Answer::trailers_only(bad),
    ] {
        let (addr, _) = h2_server::serve(answer).await;
        for via in ALL {
            let err = get(addr, via, RetryPolicy::never()).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "via {via:?}: {err}");
            assert_eq!(err.message(), Some("gone"));
            assert!(err.details().is_empty());
        }
    }
}

#[tokio::test]
async fn a_status_that_is_not_a_number_is_unknown() {
    let (addr, _) = h2_server::serve(Answer::grpc_trailers(vec![("grpc-status", "five")])).await;
    for via in ALL {
        let err = get(addr, via, RetryPolicy::never()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unknown, "via {via:?}: {err}");
    }
}

#[tokio::test]
async fn a_message_that_is_not_utf8_keeps_the_servers_code() {
    let trailers = vec![("grpc-status", "7"), ("grpc-message", "denied %FF%FE here")];
    let (addr, _) = h2_server::serve(Answer::grpc_trailers(trailers)).await;
    for via in ALL {
        let err = get(addr, via, RetryPolicy::never()).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "via {via:?}: {err}");
        assert_eq!(err.message(), Some("denied \u{fffd}\u{fffd} here"));
    }
}

#[tokio::test]
async fn a_bad_percent_sequence_in_the_message_is_kept_as_text() {
    let trailers = vec![("grpc-status", "9"), ("grpc-message", "50%zz done")];
    let (addr, _) = h2_server::serve(Answer::grpc_trailers(trailers)).await;
    for via in ALL {
        let err = get(addr, via, RetryPolicy::never()).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "via {via:?}: {err}");
        assert_eq!(err.message(), Some("50%zz done"));
    }
}
