//! The handle's shape, exactly as the issue writes it, compiles and runs for each kind of
//! source (`pb::Operation`, `&str`, `String`, `OperationName`) and for `Empty` / `Any`.

use crate::support;

use futures_util::{Stream, StreamExt};
use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
use longrunning_grpc::prost_types::{Any, Empty, Timestamp};
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{CancelOutcome, OperationName, OperationsClient, Poller, pb};
use support::op;

type Error = longrunning_grpc::Error;

fn is_send_static_stream<S: Stream + Send + 'static>(stream: S) -> S {
    stream
}

/// The issue's snippet, for response `R` and metadata `M`.
async fn shape<R, M>(
    client: &OperationsClient,
    op_or_name: impl Into<longrunning_grpc::wait::OperationSource>,
) -> Result<(R, CancelOutcome), Error>
where
    R: prost::Message + prost::Name + Default + 'static,
    M: prost::Message + prost::Name + Default + 'static,
{
    let poller: Poller<R, M> = client.operation::<R, M>(op_or_name);
    let name: &str = poller.name();
    let state: PollingResult<R, M> = poller.poll().await?;
    assert!(!matches!(state, PollingResult::PollingError(_)));
    let result: R = client.operation::<R, M>(name).until_done().await?;
    let stream = is_send_static_stream(client.operation::<R, M>(name).into_stream());
    let items: Vec<PollingResult<R, M>> = stream.collect().await;
    assert!(matches!(
        items.last(),
        Some(PollingResult::Completed(Ok(_)))
    ));
    let outcome: CancelOutcome = client.operation::<R, M>(name).cancel().await?;
    Ok((result, outcome))
}

#[tokio::test]
async fn the_issues_shape_runs_for_every_kind_of_source() {
    let emulator = Emulator::start().await.unwrap();
    let client = support::client(&emulator).await;
    let done = |id: &str| {
        ScriptedOperation::new(op(id))
            .metadata(Any::from_msg(&Timestamp::default()).unwrap())
            .completion(Completion::Immediately)
    };
    for id in ["op", "str", "string", "name"] {
        emulator.insert(done(id));
    }
    let operation: pb::Operation = client.get_operation(op("op")).await.unwrap();

    let from_operation = shape::<Empty, Timestamp>(&client, operation).await;
    let from_str = shape::<Any, Any>(&client, op("str").as_str()).await;
    let from_string = shape::<Empty, Any>(&client, op("string")).await;
    let from_name =
        shape::<Empty, Timestamp>(&client, OperationName::parse(&op("name")).unwrap()).await;

    for outcome in [
        from_operation.map(|r| r.1),
        from_str.map(|r| r.1),
        from_string.map(|r| r.1),
        from_name.map(|r| r.1),
    ] {
        // Already done with a response: the cancel came too late.
        assert!(
            matches!(outcome, Ok(CancelOutcome::Completed(_))),
            "{outcome:?}"
        );
    }
}
