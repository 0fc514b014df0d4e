//! Credentials never travel over plaintext to a remote host, and tokens never show.

use crate::support;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::auth::StaticToken;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use support::op;

#[tokio::test]
async fn token_over_plaintext_to_a_non_loopback_host_is_refused_when_built() {
    // These clients are only built, never called: no test sends anything off loopback.
    for endpoint in [
        "http://example.com:50051",
        "http://10.1.2.3:8080",
        "http://[2001:db8::1]:443",
    ] {
        let err = OperationsClient::builder()
            .endpoint(endpoint)
            .access_token("secret-token")
            .build()
            .unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains("plaintext"), "{err}");
        assert!(!err.to_string().contains("secret-token"));
    }
}

#[tokio::test]
async fn plaintext_is_allowed_for_loopback_anonymous_or_when_told() {
    for endpoint in ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"] {
        OperationsClient::builder()
            .endpoint(endpoint)
            .access_token("t")
            .build()
            .unwrap();
    }
    OperationsClient::builder()
        .endpoint("http://example.com:50051")
        .anonymous()
        .build()
        .unwrap();
    OperationsClient::builder()
        .endpoint("http://example.com:50051")
        .access_token("t")
        .allow_insecure(true)
        .build()
        .unwrap();
}

#[tokio::test]
async fn bad_endpoints_and_header_values_are_refused_naming_the_setting() {
    let err = OperationsClient::builder()
        .endpoint("ftp://host")
        .anonymous()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("https:// or http://"), "{err}");

    let err = OperationsClient::builder()
        .endpoint("http://127.0.0.1:1")
        .anonymous()
        .quota_project("proj\r\nx-evil: 1")
        .build()
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("quota_project"),
        "{err}"
    );

    let err = OperationsClient::builder()
        .endpoint("http://127.0.0.1:1")
        .access_token("tok\nen")
        .build()
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("access_token"),
        "{err}"
    );
    assert!(!err.to_string().contains("tok\nen"));
}

#[tokio::test]
async fn the_token_never_appears_in_debug_or_errors() {
    const TOKEN: &str = "ya29.super-secret-token";
    let emulator = Emulator::builder()
        .require_token("another")
        .start()
        .await
        .unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));

    let builder = support::builder(&emulator).access_token(TOKEN);
    let builder_debug = format!("{builder:?}");
    let client = builder.build().unwrap();
    let err = client.cancel_operation(&name).await.unwrap_err();
    let static_token = StaticToken::new(TOKEN).unwrap();
    let credentials =
        google_cloud_auth::credentials::Credentials::from(StaticToken::new(TOKEN).unwrap());

    for shown in [
        builder_debug,
        format!("{client:?}"),
        format!("{err:?}"),
        format!("{err}"),
        format!("{static_token:?}"),
        format!("{credentials:?}"),
    ] {
        assert!(
            !shown.contains(TOKEN) && !shown.contains("super-secret"),
            "leaked in {shown}"
        );
    }
    // The token did go out: the server saw it (and refused it).
    assert_eq!(
        emulator.journal()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn a_user_agent_with_invalid_bytes_is_refused_and_a_valid_one_is_sent() {
    for bad in ["agent\r\nx-evil: 1", "agent\n", "agent\u{7f}"] {
        let err = OperationsClient::builder()
            .endpoint("http://127.0.0.1:1")
            .anonymous()
            .user_agent(bad)
            .build()
            .unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("user_agent"),
            "{err}"
        );
    }

    let emulator = Emulator::start().await.unwrap();
    let name = op("ua");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::builder(&emulator)
        .user_agent("my-service/1.2")
        .build()
        .unwrap();
    client.get_operation(&name).await.unwrap();
    let ua = emulator.journal()[0]
        .header("user-agent")
        .unwrap()
        .to_owned();
    assert!(ua.starts_with("my-service/1.2 longrunning-grpc/"), "{ua}");
}
