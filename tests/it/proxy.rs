//! HTTP CONNECT proxies: a call goes through the proxy to its target (TLS end to end with
//! the target's name), Basic credentials are sent and never shown, a refusal names the
//! proxy and its answer and is not retried, and each connection of a pool has its own
//! tunnel. (The environment's rules are unit tests in `src/transport/proxy.rs`.)

use crate::support;
use crate::support::connect_proxy;
use crate::support::tls_server;

use connect_proxy::Mode;
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, Method, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use support::op;

/// A builder for `emulator` through `proxy`.
fn through(
    emulator: &Emulator,
    proxy: &connect_proxy::ConnectProxy,
) -> longrunning_grpc::OperationsClientBuilder {
    support::builder(emulator).proxy(format!("http://{}", proxy.addr))
}

async fn emulator() -> Emulator {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("x")));
    emulator
}

#[tokio::test]
async fn a_call_goes_through_the_proxy_to_its_target() {
    let emulator = emulator().await;
    let proxy = connect_proxy::start(Mode::Open).await;
    let client = through(&emulator, &proxy).build().unwrap();

    client.get_operation(op("x")).await.unwrap();

    let target = emulator.local_addr();
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{requests:?}"
    );
    assert!(requests[0].contains(&format!("Host: {target}\r\n")));
    assert_eq!(emulator.count(Method::Get), 1);
}

#[tokio::test]
async fn tls_runs_end_to_end_through_the_tunnel_with_the_targets_name() {
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let proxy = connect_proxy::start(Mode::Open).await;
    let client = OperationsClient::builder()
        .endpoint(format!("https://{}", server.addr))
        .anonymous()
        .ca_certificate(&server.cert_pem)
        .proxy(format!("http://{}", proxy.addr))
        .build()
        .unwrap();

    client.cancel_operation(op("x")).await.unwrap();

    assert_eq!(server.handshakes(), 1);
    assert_eq!(proxy.requests().len(), 1);
}

#[tokio::test]
async fn basic_credentials_are_sent_and_never_shown() {
    let emulator = emulator().await;
    let proxy = connect_proxy::start(Mode::Auth("Basic dXNlcjpzM2NyZXQ=")).await;
    let builder = support::builder(&emulator).proxy(format!("http://user:s3cret@{}", proxy.addr));
    let shown_builder = format!("{builder:?}");
    let client = builder.build().unwrap();

    client.get_operation(op("x")).await.unwrap();

    for shown in [shown_builder, format!("{client:?}")] {
        assert!(
            !shown.contains("s3cret") && !shown.contains("dXNlcjpzM2NyZXQ"),
            "{shown}"
        );
    }
    assert_eq!(emulator.count(Method::Get), 1);
}

#[tokio::test]
async fn a_407_names_the_proxy_and_its_answer_and_is_not_retried() {
    let emulator = emulator().await;
    let proxy = connect_proxy::start(Mode::Auth("Basic dXNlcjpzM2NyZXQ=")).await;
    let client = support::builder(&emulator)
        .proxy(format!("http://user:wrong@{}", proxy.addr))
        .build()
        .unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_permanent(), "{err:?}");
    assert!(
        err.to_string().contains(&format!(
            "proxy {} refused CONNECT: 407 Proxy Authentication Required",
            proxy.addr
        )),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"), "{err}");
    assert_eq!(proxy.requests().len(), 1, "not retried");
    assert_eq!(emulator.count(Method::Get), 0);
}

#[tokio::test]
async fn a_403_is_not_retried_and_a_502_is() {
    let emulator = emulator().await;
    let forbidden = connect_proxy::start(Mode::Refuse("HTTP/1.1 403 Forbidden")).await;
    let client = support::builder(&emulator)
        .proxy(format!("http://{}", forbidden.addr))
        .build()
        .unwrap();
    let err = client.get_operation(op("x")).await.unwrap_err();
    assert!(
        err.to_string().contains("refused CONNECT: 403 Forbidden"),
        "{err}"
    );
    assert_eq!(forbidden.requests().len(), 1);

    let gateway = connect_proxy::start(Mode::Refuse("HTTP/1.1 502 Bad Gateway")).await;
    let retry = RetryPolicy::builder()
        .max_attempts(2)
        .jitter(longrunning_grpc::policy::Jitter::None)
        .build()
        .unwrap();
    let client = support::builder(&emulator)
        .proxy(format!("http://{}", gateway.addr))
        .retry_policy(retry)
        .build()
        .unwrap();
    let err = client.get_operation(op("x")).await.unwrap_err();
    assert!(err.is_unavailable() && !err.is_permanent(), "{err}");
    assert_eq!(
        gateway.requests().len(),
        2,
        "retried after the connection backoff"
    );
}

#[tokio::test]
async fn a_proxy_that_closes_is_unavailable() {
    let emulator = emulator().await;
    let proxy = connect_proxy::start(Mode::Close).await;
    let client = through(&emulator, &proxy)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_unavailable() && !err.is_permanent(), "{err}");
    // A close, or a reset when our request was still unread: both during the CONNECT.
    assert!(err.to_string().contains("during CONNECT"), "{err}");
}

#[tokio::test]
async fn each_connection_of_a_pool_has_its_own_tunnel() {
    let emulator = emulator().await;
    let proxy = connect_proxy::start(Mode::Open).await;
    let client = through(&emulator, &proxy).connections(3).build().unwrap();

    let calls: Vec<_> = (0..30)
        .map(|_| tokio::spawn(client.get_operation(op("x"))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(proxy.requests().len(), 3);
    assert_eq!(support::peers(&emulator).len(), 3);
}

#[tokio::test]
async fn a_proxy_url_that_is_not_http_is_refused_when_built() {
    let err = OperationsClient::builder()
        .anonymous()
        .proxy("https://proxy.example:3128")
        .build()
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("only http:// proxies"),
        "{err}"
    );
}
