//! Put tower layers (a concurrency limit, a timeout) in front of the client's transport.
//!
//! ```sh
//! cargo run --example tower_layers --features emulator
//! ```

use std::time::{Duration, Instant};

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use tonic::transport::Channel;
use tower::ServiceBuilder;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start().await?;
    let name = "projects/example/locations/global/operations/op-1";
    emulator.insert(ScriptedOperation::new(name));
    emulator.set_latency(Duration::from_millis(50));

    let channel = Channel::from_shared(emulator.endpoint())?.connect_lazy();
    let transport = ServiceBuilder::new()
        .concurrency_limit(2) // at most two calls on the wire at once
        .timeout(Duration::from_secs(5)) // a hard cap under the client's own deadline
        .service(channel);
    let client = OperationsClient::builder()
        .anonymous()
        .build_with_service(transport)?;

    let start = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| tokio::spawn(client.get_operation(name)))
        .collect();
    for call in calls {
        call.await??;
    }
    // Six calls of 50 ms, two at a time: about 150 ms.
    println!("6 calls, 2 at a time, took {:?}", start.elapsed());
    Ok(())
}
