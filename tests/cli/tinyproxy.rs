//! The proxy support against a real proxy that no one here wrote: Debian's tinyproxy
//! (`tests/support/tinyproxy.rs`). Plain and TLS targets through its tunnel, Basic auth
//! taken from the URL, its refusals (407 without credentials, 401 for wrong ones) named
//! and not retried, one tunnel per pooled connection, and `lro --proxy`.

use crate::support;
use crate::support::tinyproxy;
use crate::support::tls_server;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, Method, ScriptedOperation};
use support::op;

async fn emulator() -> Emulator {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("x")));
    emulator
}

#[tokio::test]
async fn a_call_goes_through_tinyproxy_to_its_target() {
    let Some(proxy) = tinyproxy::start(None) else {
        return;
    };
    let emulator = emulator().await;
    let client = support::builder(&emulator)
        .proxy(proxy.url(None))
        .build()
        .unwrap();

    client.get_operation(op("x")).await.unwrap();

    let target = emulator.local_addr();
    assert_eq!(
        proxy.connects(),
        [format!("CONNECT {target} HTTP/1.1")],
        "{}",
        proxy.log()
    );
    assert_eq!(emulator.count(Method::Get), 1);
}

#[tokio::test]
async fn tls_runs_end_to_end_through_tinyproxy_with_the_targets_name() {
    let Some(proxy) = tinyproxy::start(None) else {
        return;
    };
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let client = OperationsClient::builder()
        .endpoint(format!("https://{}", server.addr))
        .anonymous()
        .ca_certificate(&server.cert_pem)
        .proxy(proxy.url(None))
        .build()
        .unwrap();

    client.cancel_operation(op("x")).await.unwrap();

    assert_eq!(server.handshakes(), 1);
    assert_eq!(proxy.connects().len(), 1, "{}", proxy.log());
}

#[tokio::test]
async fn tinyproxy_takes_basic_credentials_from_the_url_and_its_refusals_are_named() {
    let Some(proxy) = tinyproxy::start(Some(("lro-user", "s3cret-pass"))) else {
        return;
    };
    let emulator = emulator().await;
    let with = |credentials: Option<&str>| {
        support::builder(&emulator)
            .proxy(proxy.url(credentials))
            .build()
    };

    let missing = with(None).unwrap().get_operation(op("x")).await;
    let wrong = with(Some("lro-user:wrong-pass"))
        .unwrap()
        .get_operation(op("x"))
        .await;
    let connects_refused = proxy.connects().len();
    let right = with(Some("lro-user:s3cret-pass"))
        .unwrap()
        .get_operation(op("x"))
        .await;

    let missing = missing.unwrap_err();
    assert!(missing.is_permanent(), "{missing:?}");
    assert!(
        missing.to_string().contains(&format!(
            "proxy {} refused CONNECT: 407 Proxy Authentication Required",
            proxy.addr
        )),
        "{missing}"
    );
    let wrong = wrong.unwrap_err();
    assert!(wrong.is_permanent(), "{wrong:?}");
    assert!(
        wrong
            .to_string()
            .contains("refused CONNECT: 401 Unauthorized"),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("wrong-pass"), "{wrong}");
    assert_eq!(connects_refused, 2, "neither refusal was retried");
    right.unwrap();
    assert_eq!(emulator.count(Method::Get), 1);
}

#[tokio::test]
async fn each_pooled_connection_has_its_own_tunnel_through_tinyproxy() {
    let Some(proxy) = tinyproxy::start(None) else {
        return;
    };
    let emulator = emulator().await;
    let client = support::builder(&emulator)
        .proxy(proxy.url(None))
        .connections(3)
        .build()
        .unwrap();

    let calls: Vec<_> = (0..30)
        .map(|_| tokio::spawn(client.get_operation(op("x"))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(proxy.connects().len(), 3, "{}", proxy.log());
    assert_eq!(support::peers(&emulator).len(), 3);
    assert_eq!(emulator.count(Method::Get), 30);
}

#[tokio::test]
async fn lro_proxy_goes_through_tinyproxy() {
    let Some(proxy) = tinyproxy::start(None) else {
        return;
    };
    let emulator = emulator().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_lro"))
        .args(["--endpoint", &emulator.endpoint(), "--no-auth"])
        .args([
            "--proxy",
            &proxy.url(None),
            "--output",
            "json",
            "get",
            &op("x"),
        ])
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
        .output()
        .await
        .unwrap();

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxy.connects().len(), 1, "{}", proxy.log());
    assert_eq!(emulator.count(Method::Get), 1);
}
