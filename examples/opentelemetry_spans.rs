//! Export the client's spans to OpenTelemetry (here: to stdout) with
//! `tracing-opentelemetry`. Each call is a client span named
//! `google.longrunning.Operations/<Method>` with OpenTelemetry's RPC attributes
//! (`rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, `server.address`);
//! a wait ([`Poller::until_done`](longrunning_grpc::Poller::until_done)) is one span,
//! `longrunning.wait`, around its polls.
//!
//! ```sh
//! cargo run --example opentelemetry_spans --features emulator
//! ```

use std::time::Duration;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::prost_types::{Any, Empty};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Spans go to stdout as each ends; a real program exports to a collector instead.
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let telemetry = tracing_opentelemetry::layer().with_tracer(provider.tracer("example"));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("longrunning_grpc=debug"))
        .with(telemetry);
    tracing::subscriber::set_global_default(subscriber)?;

    let emulator = Emulator::start().await?;
    let name = "projects/example/locations/global/operations/op-1";
    emulator.insert(ScriptedOperation::new(name).completion(Completion::AfterPolls(2)));
    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .anonymous()
        .polling_policy(
            PollingPolicy::builder()
                .initial_delay(Duration::from_millis(50))
                .build()?,
        )
        .build()?;

    // One `longrunning.wait` span holding two `GetOperation` client spans.
    client.operation::<Empty, Any>(name).until_done().await?;

    provider.shutdown()?;
    Ok(())
}
