//! Tracing output: retries are visible. Its own test binary, because tracing caches
//! callsite interest per process and parallel tests with other subscribers would race.

use crate::support;

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

#[tokio::test]
async fn a_wait_is_one_span_around_its_calls_which_carry_opentelemetry_rpc_fields() {
    use longrunning_grpc::emulator::Completion;
    use tracing_subscriber::fmt::format::FmtSpan;

    let captured = support::Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emulator = Emulator::start().await.unwrap();
    let name = op("waited");
    emulator.insert(ScriptedOperation::new(&name).completion(Completion::AfterPolls(3)));
    let client = support::builder(&emulator)
        .polling_policy(
            longrunning_grpc::policy::PollingPolicy::builder()
                .initial_delay(std::time::Duration::from_millis(1))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    client
        .operation::<(), prost_types::Any>(&name)
        .until_done()
        .await
        .unwrap();

    let text = captured.text();
    let closes: Vec<_> = text.lines().filter(|l| l.contains(": close")).collect();
    let calls: Vec<_> = closes
        .iter()
        .filter(|l| l.contains("longrunning.wait{") && l.contains("}:longrunning{"))
        .collect();
    assert_eq!(
        calls.len(),
        3,
        "each poll's span inside the wait's:\n{text}"
    );
    for field in [
        "otel.kind=\"client\"",
        // The emulator serves WaitOperation, so every look is one.
        "otel.name=\"google.longrunning.Operations/WaitOperation\"",
        "rpc.system=\"grpc\"",
        "rpc.service=\"google.longrunning.Operations\"",
        "rpc.method=\"WaitOperation\"",
        "rpc.grpc.status_code=0",
        "server.address=\"127.0.0.1\"",
    ] {
        assert!(calls[0].contains(field), "{field} in {}", calls[0]);
    }
    let wait: Vec<_> = closes
        .iter()
        .filter(|l| l.contains("longrunning.wait{") && !l.contains("}:longrunning{"))
        .collect();
    assert_eq!(wait.len(), 1, "{text}");
    assert!(
        wait[0].contains("polls=3") && wait[0].contains("outcome=\"completed\""),
        "{}",
        wait[0]
    );
}
