//! Use the emulator inside your own `#[tokio::test]`s. Run the tests with:
//!
//! ```sh
//! cargo test --example emulator_in_test --features emulator
//! ```
//!
//! `main` runs the same scenario, so `cargo run --example emulator_in_test --features emulator`
//! works too.

use longrunning_grpc::emulator::{Emulator, Fault, Method, OnCancel, ScriptedOperation};
use longrunning_grpc::{CancelOutcome, Error, OperationsClient};

/// Your code under test: cancels a job and reports whether it stopped.
async fn stop_job(client: &OperationsClient, name: &str) -> Result<bool, Error> {
    Ok(client.cancel_and_wait(name).await?.is_cancelled())
}

async fn scenario() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::builder()
        .require_token("test-token")
        .check_routing_header(true)
        .start()
        .await?;
    let name = "projects/p/locations/l/operations/job-1";
    emulator.insert(ScriptedOperation::new(name).on_cancel(OnCancel::Honour));
    emulator.inject(Fault::new(tonic::Code::Unavailable, 1).method(Method::Cancel));

    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .access_token("test-token")
        .build()?;

    assert!(stop_job(&client, name).await?);
    // The first cancel met the injected fault and was retried.
    assert_eq!(emulator.count(Method::Cancel), 2);
    assert!(matches!(
        client.cancel_and_wait(name).await?,
        CancelOutcome::Cancelled(_)
    ));
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    scenario().await?;
    println!("ok");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn stop_job_cancels_through_a_transient_failure() {
        super::scenario().await.unwrap();
    }
}
