//! Tracing output: retries are visible. Its own test binary, because tracing caches
//! callsite interest per process and parallel tests with other subscribers would race.

mod support;

use longrunning_grpc::emulator::{Emulator, Fault, ScriptedOperation};
use support::op;
use tonic::Code;

#[tokio::test(start_paused = true)]
async fn each_retry_emits_a_tracing_event_with_attempt_code_and_delay() {
    let captured = support::Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emulator = Emulator::start().await.unwrap();
    let name = op("traced");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.inject(Fault::new(Code::Unavailable, 2));
    let client = support::builder(&emulator)
        .retry_policy(support::exact_retries())
        .build()
        .await
        .unwrap();
    client.get_operation(&name).await.unwrap();

    let text = captured.text();
    let retries: Vec<_> = text
        .lines()
        .filter(|l| l.contains("retrying GetOperation"))
        .collect();
    assert_eq!(retries.len(), 2, "{text}");
    assert!(
        retries[0].contains("attempt=1")
            && retries[0].contains("code=\"UNAVAILABLE\"")
            && retries[0].contains("delay=500ms"),
        "{}",
        retries[0]
    );
    assert!(
        retries[1].contains("attempt=2") && retries[1].contains("delay=1s"),
        "{}",
        retries[1]
    );
}
