//! Show the tracing spans and events the client emits (method, operation name, attempt,
//! status code, retries). The library never installs a subscriber; your program does.
//!
//! ```sh
//! cargo run --example tracing_spans --features emulator
//! ```

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, Fault, ScriptedOperation};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("longrunning_grpc=debug")
        .with_target(false)
        .init();

    let emulator = Emulator::start().await?;
    let name = "projects/example/locations/global/operations/op-1";
    emulator.insert(ScriptedOperation::new(name));
    emulator.inject(Fault::new(tonic::Code::Unavailable, 1));

    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .anonymous()
        .build()?;
    client.get_operation(name).await?; // one retry, then success
    let _ = client
        .delete_operation("projects/example/locations/global/operations/missing")
        .await;
    Ok(())
}
