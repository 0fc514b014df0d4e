//! The token never appears in tracing output, even at TRACE with every crate's events
//! (tonic, hyper, h2) captured. It installs the process's global subscriber, so it lives
//! in the `logs` binary, beside the span tests whose own subscribers are per thread.

use crate::support;

use std::time::Duration;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::auth::StaticToken;
use longrunning_grpc::emulator::{Emulator, Fault, ScriptedOperation};
use support::op;
use tonic::Code;

const TOKEN: &str = "ya29.a0-this-token-must-never-be-logged";

#[tokio::test]
async fn the_token_never_appears_in_trace_output_of_a_whole_run() {
    let captured = support::Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    // Success, retries, a refused token, a wrong-token server, errors and Debug output, all
    // with the token in play.
    let emulator = Emulator::builder()
        .require_token(TOKEN)
        .start()
        .await
        .unwrap();
    let name = op("logged");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 2).retry_delay(Duration::from_millis(10)));
    let client = support::builder(&emulator)
        .access_token(TOKEN)
        .quota_project("qp")
        .build()
        .unwrap();
    client.get_operation(&name).await.unwrap();
    client.cancel_and_wait(&name).await.unwrap();
    tracing::info!(?client, "client");
    let provider_client = support::builder(&emulator)
        .credentials(google_cloud_auth::credentials::Credentials::from(
            StaticToken::new(TOKEN).unwrap(),
        ))
        .build()
        .unwrap();
    provider_client
        .list_operations(support::PARENT)
        .collect(None)
        .await
        .unwrap();

    let strict = Emulator::builder()
        .require_token("other")
        .start()
        .await
        .unwrap();
    strict.insert(ScriptedOperation::new(&name));
    let refused = OperationsClient::builder()
        .endpoint(strict.endpoint())
        .access_token(TOKEN)
        .build()
        .unwrap();
    let err = refused.get_operation(&name).await.unwrap_err();
    tracing::error!(error = %err, debug = ?err, "refused");

    let text = captured.text();
    assert!(
        text.contains("retrying GetOperation"),
        "our events were captured"
    );
    assert!(
        text.contains("h2") || text.contains("hyper"),
        "dependencies' TRACE events were captured"
    );
    assert!(
        text.len() > 10_000,
        "a whole run's worth: {} bytes",
        text.len()
    );
    assert!(!text.contains(TOKEN), "token leaked into the logs");
    assert!(
        !text.contains("must-never-be-logged"),
        "part of the token leaked into the logs"
    );
}
