//! Decode an operation's metadata and response into your own prost messages, with the type
//! URL checked.
//!
//! ```sh
//! cargo run --example typed_metadata --features emulator
//! ```

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
use prost_types::Any;

/// What your API puts in `Operation.metadata`.
#[derive(Clone, PartialEq, prost::Message)]
struct BuildMetadata {
    #[prost(string, tag = "1")]
    step: String,
    #[prost(uint32, tag = "2")]
    percent_done: u32,
}

impl prost::Name for BuildMetadata {
    const NAME: &'static str = "BuildMetadata";
    const PACKAGE: &'static str = "example.v1";
    fn type_url() -> String {
        "type.googleapis.com/example.v1.BuildMetadata".into()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start().await?;
    let name = "projects/example/locations/global/operations/build-42";
    let metadata = BuildMetadata {
        step: "linking".into(),
        percent_done: 80,
    };
    emulator.insert(
        ScriptedOperation::new(name)
            .metadata(Any::from_msg(&metadata)?)
            .response(Any::from_msg(&prost_types::Duration {
                seconds: 95,
                nanos: 0,
            })?)
            .completion(Completion::Immediately),
    );
    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .anonymous()
        .build()?;

    let op = client.get_operation(name).await?;
    let meta: Option<BuildMetadata> = op.metadata_as()?;
    println!("metadata: {meta:?}");
    let took: Option<prost_types::Duration> = op.response_as()?;
    println!("response: {took:?}");

    // Asking for the wrong type is an error, never garbage.
    let wrong = op.metadata_as::<prost_types::Timestamp>().unwrap_err();
    println!("wrong type: {wrong}");
    Ok(())
}
