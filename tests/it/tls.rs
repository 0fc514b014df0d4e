//! TLS is verified: a self-signed server is refused by default and trusted when its CA is
//! handed to the builder.

use crate::support;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use support::op;

async fn tls_emulator() -> (Emulator, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let emulator = Emulator::builder()
        .tls(cert_pem.clone(), key_pem)
        .start()
        .await
        .unwrap();
    emulator.insert(ScriptedOperation::new(op("secure")));
    (emulator, cert_pem)
}

#[tokio::test]
async fn a_self_signed_server_is_refused_by_default() {
    let (emulator, _) = tls_emulator().await;
    assert!(emulator.endpoint().starts_with("https://127.0.0.1:"));
    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .access_token("token-over-tls")
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let err = client.get_operation(op("secure")).await.unwrap_err();

    assert!(err.is_transport(), "{err:?}");
    assert!(
        emulator.journal().is_empty(),
        "no request reached the server"
    );
}

#[tokio::test]
async fn a_self_signed_server_is_trusted_when_its_ca_is_given() {
    let (emulator, ca) = tls_emulator().await;
    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .access_token("token-over-tls")
        .ca_certificate(ca)
        .build()
        .unwrap();

    let got = client.get_operation(op("secure")).await.unwrap();

    assert_eq!(got.name, op("secure"));
    assert_eq!(
        emulator.journal()[0].header("authorization"),
        Some("Bearer token-over-tls")
    );
}
