//! Connecting as a mature client does: a certificate for another name or a server without
//! HTTP/2 ends the call at once with one readable line (not retried); every resolved
//! address is tried, with Happy Eyeballs; a dead endpoint is not hit with one connect per
//! call (gRPC's connection backoff); a connect attempt runs to its end when the calls
//! waiting on it are dropped.

use crate::support;
use crate::support::tls_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, Method, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use support::op;
use tokio::time::Instant;

/// A builder for `server` that trusts its certificate.
fn trusting(server: &tls_server::TlsServer) -> longrunning_grpc::OperationsClientBuilder {
    OperationsClient::builder()
        .endpoint(format!("https://{}", server.addr))
        .anonymous()
        .ca_certificate(&server.cert_pem)
}

#[tokio::test(start_paused = true)]
async fn a_certificate_for_another_name_ends_the_call_at_once() {
    let server = tls_server::serve(&["localhost"], &[b"h2"]).await;
    let client = trusting(&server).build().unwrap();

    let started = Instant::now();
    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_permanent() && err.is_transport(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            r#"unavailable: tls: the certificate is for "localhost", not "127.0.0.1""#
        ),
        "{shown}"
    );
    assert_eq!(server.accepted(), 1, "tried once, not retried");
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_untrusted_certificate_is_named_and_not_retried() {
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let client = OperationsClient::builder()
        .endpoint(format!("https://{}", server.addr))
        .anonymous()
        .build()
        .unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_permanent(), "{err:?}");
    assert!(err.to_string().contains("unknown issuer"), "{err}");
    assert_eq!(server.accepted(), 1, "tried once, not retried");
}

#[tokio::test(start_paused = true)]
async fn a_server_without_http2_in_alpn_ends_the_call_at_once() {
    for alpn in [&[][..], &[&b"http/1.1"[..]][..]] {
        let server = tls_server::serve(&["127.0.0.1"], alpn).await;
        let client = OperationsClient::builder()
            .endpoint(format!("https://{}", server.addr))
            .anonymous()
            .ca_certificate(&server.cert_pem)
            .build()
            .unwrap();

        let err = client.get_operation(op("x")).await.unwrap_err();

        assert!(err.is_permanent(), "ALPN {alpn:?}: {err:?}");
        assert!(
            err.to_string().contains("does not speak HTTP/2 (ALPN)"),
            "{err}"
        );
        assert_eq!(server.accepted(), 1, "tried once, not retried");
    }
}

#[tokio::test]
async fn a_trusted_certificate_with_h2_still_works() {
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let client = trusting(&server).build().unwrap();

    client.cancel_operation(op("x")).await.unwrap();
}

/// A listener on `[::1]` whose backlog is full, so connects to it hang (SYNs dropped), as
/// to an address that black-holes; its port is free on 127.0.0.1 too.
fn black_hole_on_ipv6() -> (socket2::Socket, Vec<std::net::TcpStream>, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
    socket.set_only_v6(true).unwrap();
    socket
        .bind(&"[::1]:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // Fill the backlog; never accept.
    let filling: Vec<_> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();
    (socket, filling, addr.port())
}

#[tokio::test(start_paused = true)]
async fn every_address_is_tried_with_happy_eyeballs() {
    let (_hole, _filling, port) = black_hole_on_ipv6();
    let emulator = Emulator::builder()
        .listen(SocketAddr::from(([127, 0, 0, 1], port)))
        .start()
        .await
        .unwrap();
    emulator.insert(ScriptedOperation::new(op("x")));
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let client = OperationsClient::builder()
        .endpoint(format!("http://dual.test:{port}"))
        .resolve("dual.test", [v6, v4])
        .anonymous()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let started = Instant::now();
    client.get_operation(op("x")).await.unwrap();

    // IPv6 first (the first address's family); IPv4 after Happy Eyeballs' 300 ms, not
    // after the connect timeout.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(emulator.count(Method::Get), 1);
}

/// Accepts TCP connections and closes each at once; counts them.
async fn closing_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (addr, accepted)
}

#[tokio::test(start_paused = true)]
async fn a_dead_endpoint_is_not_hit_with_one_connect_per_call() {
    let (addr, accepted) = closing_listener().await;
    let client = support::builder_at(addr)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    // Twenty calls in a row within the first backoff (1 s ± 20 %): one connect, and every
    // call still fails at once with UNAVAILABLE.
    for call in 0..20 {
        let started = Instant::now();
        let err = client.get_operation(op("x")).await.unwrap_err();
        assert!(
            err.is_unavailable() && err.is_transport(),
            "call {call}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(10),
            "call {call}: fails fast"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // After the backoff, one new attempt; the next waits 1.6 s ± 20 %.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.get_operation(op("x")).await.unwrap_err();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.get_operation(op("x")).await.unwrap_err();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "still backing off (1.28 s at least)"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    client.get_operation(op("x")).await.unwrap_err();
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retried_call_waits_for_the_backoff_and_reaches_a_server_that_came_back() {
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let client = support::builder_at(addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // Refused: the slot backs off.
    client
        .with_retry_policy(RetryPolicy::never())
        .get_operation(op("x"))
        .await
        .unwrap_err();

    let emulator = Emulator::builder().listen(addr).start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("x")));

    // The first attempt fails fast inside the backoff; the retry waits for its end.
    client.get_operation(op("x")).await.unwrap();
    assert_eq!(emulator.count(Method::Get), 1);
}

// Ordered by the server, not by time: it holds the TLS handshake until the test opens it,
// after the call has given up; the wait for the handshake is a bound, not a window.
#[tokio::test]
async fn a_connect_attempt_runs_to_its_end_when_its_calls_are_dropped() {
    let server = tls_server::serve_held(&["127.0.0.1"], &[b"h2"]).await;
    let client = trusting(&server)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    // The call gives up while the server holds the TLS handshake.
    let err = client
        .with_timeout(Duration::from_millis(100))
        .cancel_operation(op("x"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(server.handshakes(), 0);

    // Nothing polls the attempt now; the handshake (which needs the client's part too)
    // finishes anyway.
    server.open();
    let waited = std::time::Instant::now();
    while server.handshakes() == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the attempt stopped with its call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The next call finds the connection that attempt opened.
    client.cancel_operation(op("x")).await.unwrap();
    assert_eq!(server.accepted(), 1, "one connection in all");
}

#[tokio::test]
async fn a_client_certificate_is_presented_and_a_missing_one_is_one_clear_error() {
    // The client's certificate is self-signed; the server trusts it as its own CA.
    let client_cert = rcgen::generate_simple_self_signed(vec!["client.test".to_owned()]).unwrap();
    let server =
        tls_server::serve_requiring_client_cert(&["127.0.0.1"], &client_cert.cert.pem()).await;

    let with = trusting(&server)
        .client_identity(
            client_cert.cert.pem(),
            client_cert.signing_key.serialize_pem(),
        )
        .build()
        .unwrap();
    with.cancel_operation(op("x")).await.unwrap();

    let without = trusting(&server).build().unwrap();
    let err = without.cancel_operation(op("x")).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(
        err.to_string()
            .contains("tls: the server requires a client certificate, and none was given"),
        "{err}"
    );
}

#[tokio::test]
async fn a_client_identity_that_is_not_pem_is_refused_when_built() {
    let err = OperationsClient::builder()
        .endpoint("https://127.0.0.1:1")
        .anonymous()
        .client_identity("not a certificate", "not a key")
        .build()
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("client_identity"),
        "{err}"
    );
    assert!(!err.to_string().contains("not a key"), "{err}");
}

#[tokio::test]
async fn a_plaintext_client_against_a_tls_server_is_told_to_use_https_at_once() {
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let client = support::builder_at(server.addr).build().unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_permanent() && err.is_transport(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("the server speaks TLS, not plaintext HTTP/2")
            && shown.contains("use an https:// endpoint"),
        "{shown}"
    );
    assert_eq!(
        server.accepted(),
        1,
        "known on the first attempt, not retried"
    );
}

#[tokio::test]
async fn a_tls_client_against_a_plaintext_server_is_told_to_use_http_at_once() {
    let emulator = longrunning_grpc::emulator::Emulator::start().await.unwrap();
    let https = emulator.endpoint().replace("http://", "https://");
    let client = OperationsClient::builder()
        .endpoint(&https)
        .anonymous()
        .build()
        .unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_permanent() && err.is_transport(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("does not speak TLS") && shown.contains("use an http:// endpoint"),
        "{shown}"
    );
    assert!(emulator.journal().is_empty(), "nothing reached the server");
}

#[tokio::test]
async fn a_self_signed_ca_certificate_as_the_servers_own_is_named_in_words() {
    let server = tls_server::serve_with_ca_certificate(&["127.0.0.1"]).await;
    let client = trusting(&server).build().unwrap();

    let err = client.get_operation(op("x")).await.unwrap_err();

    assert!(err.is_permanent(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("is a CA certificate (CA:TRUE), which cannot be a server's own"),
        "{shown}"
    );
    for debug in ["Other(", "OtherError", "CaUsedAsEndEntity"] {
        assert!(!shown.contains(debug), "{debug} in {shown}");
    }
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn tls_server_name_verifies_the_certificate_for_another_name_than_the_host() {
    // The certificate is for "localhost"; the endpoint is 127.0.0.1.
    let server = tls_server::serve(&["localhost"], &[b"h2"]).await;

    let client = trusting(&server)
        .tls_server_name("localhost")
        .build()
        .unwrap();
    client.cancel_operation(op("x")).await.unwrap();

    let wrong = trusting(&server)
        .tls_server_name("other.example")
        .build()
        .unwrap();
    let err = wrong.cancel_operation(op("x")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"the certificate is for "localhost", not "other.example""#),
        "{err}"
    );
    let bad = trusting(&server)
        .tls_server_name("not a name")
        .build()
        .unwrap_err();
    assert!(
        bad.is_config() && bad.to_string().contains(r#"tls_server_name "not a name""#),
        "{bad}"
    );
}

#[tokio::test]
async fn without_the_built_in_roots_only_the_given_ca_is_trusted() {
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let url = format!("https://{}", server.addr);

    let none = OperationsClient::builder()
        .endpoint(&url)
        .anonymous()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap_err();
    assert!(none.is_config(), "{none}");
    assert!(
        none.to_string().contains("no trusted root certificates"),
        "{none}"
    );
    assert_eq!(server.accepted(), 0, "nothing was sent");

    let only_ours = trusting(&server)
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    only_ours.cancel_operation(op("x")).await.unwrap();
}

#[tokio::test]
async fn a_preconfigured_rustls_config_is_used_as_it_is() {
    use longrunning_grpc::rustls;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = |trusted: bool| {
        let mut roots = rustls::RootCertStore::empty();
        if trusted {
            let cert = CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap();
            roots.add(cert).unwrap();
        }
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    };
    let endpoint = format!("https://{}", server.addr);
    let with = |config| {
        OperationsClient::builder()
            .endpoint(&endpoint)
            .anonymous()
            .retry_policy(RetryPolicy::never())
            .use_preconfigured_tls(config)
            .build()
            .unwrap()
    };

    // Its roots, not the crate's: ALPN h2 is added to a config that names none.
    with(config(true)).cancel_operation(op("x")).await.unwrap();
    let err = with(config(false))
        .cancel_operation(op("x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown issuer"), "{err}");

    let mut http1 = config(true);
    http1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let refused = OperationsClient::builder()
        .endpoint(&endpoint)
        .anonymous()
        .use_preconfigured_tls(http1)
        .build()
        .unwrap_err();
    assert!(
        refused.is_config() && refused.to_string().contains("h2"),
        "{refused}"
    );
}

#[tokio::test]
async fn connect_opens_the_connection_at_start_up_and_reports_its_failure() {
    let server = tls_server::serve(&["127.0.0.1"], &[b"h2"]).await;

    let client = trusting(&server).connect().await.unwrap();
    assert_eq!(server.handshakes(), 1, "connected before any call");
    client.cancel_operation(op("x")).await.unwrap();
    assert_eq!(server.accepted(), 1, "the call used that connection");

    let untrusted = OperationsClient::builder()
        .endpoint(format!("https://{}", server.addr))
        .anonymous()
        .tls_built_in_root_certs(false)
        .ca_certificate(
            rcgen::generate_simple_self_signed(vec!["x".into()])
                .unwrap()
                .cert
                .pem(),
        )
        .connect()
        .await
        .unwrap_err();
    assert!(
        untrusted.is_permanent() && untrusted.is_transport(),
        "{untrusted:?}"
    );
    // A CA of the same (rcgen's) subject that did not sign it: a signature that fails.
    assert!(
        untrusted
            .to_string()
            .starts_with("unavailable: tls: the certificate of"),
        "{untrusted}"
    );
    assert_eq!(untrusted.method(), None);

    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = probe.local_addr().unwrap();
    drop(probe);
    let refused = support::builder_at(dead).connect().await.unwrap_err();
    assert!(
        refused.is_unavailable() && refused.is_transport(),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .starts_with(&format!("unavailable: cannot connect to {dead}")),
        "{refused}"
    );
}
