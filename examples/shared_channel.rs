//! Share one tonic `Channel` (one HTTP/2 connection) between `OperationsClient` and another
//! tonic client, here the raw generated one standing in for your API's own client.
//!
//! ```sh
//! cargo run --example shared_channel --features emulator
//! ```

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::pb::{self, operations_client::OperationsClient as RawClient};
use tonic::transport::Channel;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start().await?;
    let name = "projects/example/locations/global/operations/op-1";
    emulator.insert(ScriptedOperation::new(name));

    // One channel, built once, as your service already does for its other clients.
    let channel = Channel::from_shared(emulator.endpoint())?.connect_lazy();

    let operations = OperationsClient::builder()
        .channel(channel.clone())
        .anonymous()
        .build()?;
    let mut other = RawClient::new(channel);

    operations.cancel_operation(name).await?;
    let op = other
        .get_operation(pb::GetOperationRequest { name: name.into() })
        .await?
        .into_inner();
    println!("{}: cancelled = {}", op.name, op.is_cancelled());

    let peers: std::collections::HashSet<_> =
        emulator.journal().iter().filter_map(|c| c.peer).collect();
    println!("connections used: {}", peers.len());
    Ok(())
}
