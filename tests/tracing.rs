//! Tracing output: retries are visible. Its own test binary, because tracing caches
//! callsite interest per process and parallel tests with other subscribers would race.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use longrunning_grpc::emulator::{Emulator, Fault, ScriptedOperation};
use support::op;
use tonic::Code;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn each_retry_emits_a_tracing_event_with_attempt_code_and_delay() {
    let captured = Captured::default();
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

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
