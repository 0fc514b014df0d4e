//! Operation handles (`client.operation::<R, M>(..)`): one poll is one call (none for an
//! operation already done), typed results, types that do not match named, the stream's
//! order (progress only on change, poll errors the wait survives, `Completed` once), the
//! policy's deadline, and cancel from the handle.

use crate::support;

use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::emulator::{Completion, Emulator, Fault, Method, ScriptedOperation};
use longrunning_grpc::policy::{PollingPolicy, RetryPolicy};
use longrunning_grpc::prost_types::{Any, Empty, Timestamp};
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{CancelOutcome, OperationName, OperationsClient, pb};
use support::op;
use tonic::Code;

type Result = prost_types::Duration;

fn at(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

fn took(seconds: i64) -> Result {
    Result { seconds, nanos: 0 }
}

/// Polls every 10 ms (no jitter, no growth), for at most `deadline`.
fn policy(deadline: Option<Duration>) -> PollingPolicy {
    PollingPolicy::builder()
        .initial_delay(Duration::from_millis(10))
        .multiplier(1.0)
        .jitter(longrunning_grpc::policy::Jitter::None)
        .deadline(deadline)
        .build()
        .unwrap()
}

async fn client(emulator: &Emulator) -> OperationsClient {
    support::pipe(emulator)
        .polling_policy(policy(None))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap()
}

fn job(id: &str, completion: Completion) -> ScriptedOperation {
    ScriptedOperation::new(op(id))
        .metadata(Any::from_msg(&at(1)).unwrap())
        .response(Any::from_msg(&took(3)).unwrap())
        .completion(completion)
}

#[tokio::test]
async fn a_poll_is_one_get_and_reads_the_typed_metadata() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("a", Completion::Never));
    let client = client(&emulator).await;

    let poller = client.operation::<Result, Timestamp>(op("a"));
    let state = poller.poll().await.unwrap();

    assert_eq!(poller.name(), op("a"));
    assert!(
        matches!(&state, PollingResult::InProgress(Some(t)) if *t == at(1)),
        "{state:?}"
    );
    assert_eq!(emulator.count(Method::Get), 1);
}

#[tokio::test]
async fn a_handle_made_from_a_done_operation_reads_it_without_a_call() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("done", Completion::Immediately));
    let client = client(&emulator).await;
    let done: pb::Operation = client.get_operation(op("done")).await.unwrap();
    emulator.clear_journal();

    let poller = client.operation::<Result, Timestamp>(done.clone());
    let state = poller.poll().await.unwrap();
    let result = client
        .operation::<Result, Timestamp>(done)
        .until_done()
        .await
        .unwrap();

    assert!(
        matches!(&state, PollingResult::Completed(Ok(r)) if *r == took(3)),
        "{state:?}"
    );
    assert_eq!(result, took(3));
    assert!(emulator.journal().is_empty(), "no call was made");
}

#[tokio::test]
async fn every_kind_of_source_makes_a_handle() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("a", Completion::Immediately));
    let client = client(&emulator).await;
    let name = op("a");
    let parsed = OperationName::parse(&name).unwrap();

    let from_str = client.operation::<Result, Timestamp>(name.as_str());
    let from_string = client.operation::<Result, Timestamp>(name.clone());
    let from_name = client.operation::<Result, Timestamp>(parsed);

    for poller in [from_str, from_string, from_name] {
        assert_eq!(poller.name(), name);
        assert_eq!(poller.until_done().await.unwrap(), took(3));
    }
}

#[tokio::test]
async fn types_that_do_not_match_are_errors_naming_both() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("running", Completion::Never));
    emulator.insert(job("done", Completion::Immediately));
    let client = client(&emulator).await;

    let metadata = client
        .operation::<Result, Result>(op("running"))
        .poll()
        .await
        .unwrap_err();
    let response = client
        .operation::<Timestamp, Timestamp>(op("done"))
        .until_done()
        .await
        .unwrap_err();

    assert!(metadata.is_decode(), "{metadata:?}");
    assert!(
        metadata.to_string().contains("google.protobuf.Timestamp")
            && metadata.to_string().contains("google.protobuf.Duration"),
        "{metadata}"
    );
    assert!(response.is_decode(), "{response:?}");
    assert!(
        response.to_string().contains(
            "response is \"type.googleapis.com/google.protobuf.Duration\", expected \
             \"type.googleapis.com/google.protobuf.Timestamp\""
        ),
        "{response}"
    );
}

#[tokio::test]
async fn any_takes_whatever_type_comes_and_empty_reads_an_empty_response() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("typed", Completion::Immediately));
    emulator.insert(ScriptedOperation::new(op("empty")).completion(Completion::Immediately));
    let client = client(&emulator).await;

    let any: Any = client
        .operation::<Any, Any>(op("typed"))
        .until_done()
        .await
        .unwrap();
    let empty = client
        .operation::<Empty, Any>(op("empty"))
        .until_done()
        .await;

    assert_eq!(any.to_msg::<Result>().unwrap(), took(3));
    assert!(empty.is_ok(), "{empty:?}");
}

#[tokio::test]
async fn until_done_returns_the_response_or_the_error_the_operation_finished_with() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("ok", Completion::AfterPolls(3)));
    emulator.insert(
        ScriptedOperation::new(op("failed"))
            .error(Code::ResourceExhausted, "quota")
            .completion(Completion::AfterPolls(2)),
    );
    let client = client(&emulator).await;

    let ok = client
        .operation::<Result, Timestamp>(op("ok"))
        .until_done()
        .await;
    let looks_ok = emulator.looks();
    let failed = client
        .operation::<Result, Timestamp>(op("failed"))
        .until_done()
        .await
        .unwrap_err();

    assert_eq!(ok.unwrap(), took(3));
    assert_eq!(looks_ok, 3, "looked until done and no more");
    assert!(
        failed.is_operation_failed() && !failed.is_status(),
        "{failed:?}"
    );
    assert_eq!(failed.code(), Code::ResourceExhausted);
    assert_eq!(failed.message(), Some("quota"));
    assert_eq!(
        failed.to_string(),
        format!(
            "operation failed with RESOURCE_EXHAUSTED: quota for {:?}",
            op("failed")
        )
    );
}

#[tokio::test]
async fn the_stream_shows_progress_only_when_the_metadata_changes_then_completes_once() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("p", Completion::AfterPolls(6)));
    let client = client(&emulator).await;
    let mut stream = Box::pin(client.operation::<Result, Timestamp>(op("p")).into_stream());

    let first = stream.next().await.unwrap();
    let looks_first = emulator.looks();
    // The stream is idle until asked again, so this lands before the next poll.
    emulator.set_metadata(&op("p"), Any::from_msg(&at(2)).unwrap());
    let second = stream.next().await.unwrap();
    let looks_second = emulator.looks();
    let third = stream.next().await.unwrap();
    let end = stream.next().await;

    assert!(
        matches!(&first, PollingResult::InProgress(Some(t)) if *t == at(1)),
        "{first:?}"
    );
    assert_eq!(looks_first, 1);
    assert!(
        matches!(&second, PollingResult::InProgress(Some(t)) if *t == at(2)),
        "{second:?}"
    );
    assert_eq!(looks_second, 2);
    assert!(
        matches!(&third, PollingResult::Completed(Ok(r)) if *r == took(3)),
        "{third:?}: unchanged metadata is not shown again"
    );
    assert!(end.is_none(), "Completed is the last item");
    assert_eq!(emulator.looks(), 6);
}

#[tokio::test]
async fn transient_poll_errors_keep_the_wait_going_and_others_end_it() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("t", Completion::AfterPolls(3)));
    emulator.insert(job("denied", Completion::Never));
    // Polling only: a WaitOperation that fails so is looked at again with GetOperation
    // (`a_wait_operation_that_fails_transiently_is_taken_again_as_a_get`).
    let client = client(&emulator).await.with_polling_policy(
        PollingPolicy::builder()
            .initial_delay(Duration::from_millis(10))
            .multiplier(1.0)
            .server_wait(None)
            .build()
            .unwrap(),
    );

    // The first poll succeeds; the next two are refused as UNAVAILABLE.
    let mut stream = Box::pin(client.operation::<Result, Timestamp>(op("t")).into_stream());
    let first = stream.next().await.unwrap();
    emulator.inject(
        Fault::new(Code::Unavailable, 2)
            .method(Method::Get)
            .name(op("t")),
    );
    let mut rest = Vec::new();
    while let Some(item) = stream.next().await {
        rest.push(item);
    }
    emulator.inject(Fault::new(Code::PermissionDenied, 1).name(op("denied")));
    let denied: Vec<_> = client
        .operation::<Result, Timestamp>(op("denied"))
        .into_stream()
        .collect()
        .await;

    assert!(matches!(first, PollingResult::InProgress(_)), "{first:?}");
    assert_eq!(rest.len(), 3, "{rest:?}");
    for item in &rest[..2] {
        assert!(
            matches!(item, PollingResult::PollingError(e) if e.is_unavailable()),
            "{item:?}"
        );
    }
    assert!(
        matches!(&rest[2], PollingResult::Completed(Ok(r)) if *r == took(3)),
        "{:?}",
        rest[2]
    );
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(
        matches!(&denied[0], PollingResult::Completed(Err(e)) if e.is_permission_denied()),
        "{:?}",
        denied[0]
    );
}

#[tokio::test(start_paused = true)]
async fn the_wait_ends_at_the_policy_deadline_after_a_last_look() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("slow", Completion::Never));
    let client = support::pipe(&emulator)
        .polling_policy(support::polling_every_second(Duration::from_millis(4500)))
        .build()
        .unwrap();

    let err = client
        .operation::<Result, Timestamp>(op("slow"))
        .until_done()
        .await
        .unwrap_err();

    assert!(err.is_timeout() && !err.is_operation_failed(), "{err:?}");
    assert_eq!(err.name(), Some(op("slow").as_str()));
    // At 0, 1, 2, 3 and 4 s, and the last look at 4.5 s.
    assert_eq!(emulator.count(Method::Get), 6);
}

#[tokio::test]
async fn cancel_from_the_handle_requests_then_confirms() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(job("c", Completion::Never));
    let client = client(&emulator).await;

    let outcome = client
        .operation::<Result, Timestamp>(op("c"))
        .cancel()
        .await
        .unwrap();

    assert!(
        matches!(&outcome, CancelOutcome::Cancelled(op) if op.is_cancelled()),
        "{outcome:?}"
    );
    let methods: Vec<_> = emulator.journal().iter().map(|r| r.method).collect();
    // The confirmation is one WaitOperation, answered as soon as the cancel took effect.
    assert_eq!(methods, [Method::Cancel, Method::Wait]);
}

#[tokio::test]
async fn an_invalid_name_is_refused_before_anything_is_sent() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator).await;

    let poll = client
        .operation::<Result, Timestamp>("not a name")
        .poll()
        .await
        .unwrap_err();
    let wait = client
        .operation::<Result, Timestamp>("")
        .until_done()
        .await
        .unwrap_err();

    assert!(poll.is_invalid_argument(), "{poll:?}");
    assert!(wait.is_invalid_argument(), "{wait:?}");
    assert!(emulator.journal().is_empty());
}
