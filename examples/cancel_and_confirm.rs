//! Cancel an operation and confirm what became of it, against the in-process emulator.
//!
//! ```sh
//! cargo run --example cancel_and_confirm --features emulator
//! ```

use longrunning_grpc::emulator::{Emulator, OnCancel, ScriptedOperation};
use longrunning_grpc::{CancelOutcome, OperationsClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start().await?;
    let name = "projects/example/locations/global/operations/nightly-build";
    emulator.insert(ScriptedOperation::new(name).on_cancel(OnCancel::Honour));

    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .anonymous()
        .build()?;

    // Step by step: a successful cancel only means "requested"...
    client.cancel_operation(name).await?;
    // ...and GetOperation says what happened.
    let op = client.get_operation(name).await?;
    println!("done = {}, cancelled = {}", op.is_done(), op.is_cancelled());

    // Or in one call, polling until the outcome is known.
    match client.cancel_and_wait(name).await? {
        CancelOutcome::Cancelled(op) => println!("{} is cancelled (and still listed)", op.name),
        other => println!("outcome: {}", other.as_str()),
    }
    Ok(())
}
