//! Get, list, delete and wait, and reading operations without touching `Any` by hand.

use crate::support;

use std::time::Duration;

use futures_util::TryStreamExt;
use longrunning_grpc::emulator::{Completion, Emulator, Method, ScriptedOperation};
use prost_types::{Any, Timestamp};
use support::{PARENT, op};
use tonic::Code;

#[tokio::test]
async fn get_decodes_typed_response_and_metadata() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("typed");
    let metadata = Timestamp {
        seconds: 1_700_000_000,
        nanos: 5,
    };
    let response = prost_types::Duration {
        seconds: 42,
        nanos: 0,
    };
    emulator.insert(
        ScriptedOperation::new(&name)
            .metadata(Any::from_msg(&metadata).unwrap())
            .response(Any::from_msg(&response).unwrap())
            .completion(Completion::Immediately),
    );
    let client = support::client(&emulator).await;

    let got = client.get_operation(&name).await.unwrap();

    assert!(got.is_done());
    assert!(!got.is_cancelled());
    assert_eq!(got.metadata_as::<Timestamp>().unwrap(), Some(metadata));
    assert_eq!(
        got.response_as::<prost_types::Duration>().unwrap(),
        Some(response)
    );
    assert!(matches!(got.result(), Some(Ok(_))));
}

#[tokio::test]
async fn typed_decode_with_the_wrong_type_is_an_error_not_garbage() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("mismatch");
    emulator.insert(
        ScriptedOperation::new(&name)
            .metadata(Any::from_msg(&Timestamp::default()).unwrap())
            .completion(Completion::Immediately),
    );
    let client = support::client(&emulator).await;
    let got = client.get_operation(&name).await.unwrap();

    let err = got.metadata_as::<prost_types::Duration>().unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(
        err.to_string().contains("google.protobuf.Timestamp"),
        "{err}"
    );
    assert!(
        err.to_string().contains("google.protobuf.Duration"),
        "{err}"
    );
    // The default response is google.protobuf.Empty, not a Timestamp.
    assert!(got.response_as::<Timestamp>().unwrap_err().is_decode());

    // Right type URL, bytes that are not that message.
    let mut broken = got.clone();
    broken.metadata = Some(Any {
        type_url: "type.googleapis.com/google.protobuf.Timestamp".into(),
        value: vec![0xff, 0xff, 0xff],
    });
    assert!(broken.metadata_as::<Timestamp>().unwrap_err().is_decode());
}

#[tokio::test]
async fn running_operation_has_no_result_and_failed_one_has_its_status() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("running")));
    emulator.insert(
        ScriptedOperation::new(op("failed"))
            .error(Code::ResourceExhausted, "quota")
            .completion(Completion::Immediately),
    );
    let client = support::client(&emulator).await;

    let running = client.get_operation(op("running")).await.unwrap();
    assert!(!running.is_done() && running.result().is_none());
    assert_eq!(running.response_as::<Timestamp>().unwrap(), None);

    let failed = client.get_operation(op("failed")).await.unwrap();
    let status = failed.error().unwrap();
    assert_eq!(status.code, Code::ResourceExhausted as i32);
    assert!(!failed.is_cancelled());
    assert_eq!(failed.response_as::<Timestamp>().unwrap(), None);
}

#[tokio::test]
async fn list_follows_page_tokens_across_pages() {
    let emulator = Emulator::start().await.unwrap();
    for i in 0..7 {
        emulator.insert(ScriptedOperation::new(op(&format!("op-{i}"))));
    }
    emulator.insert(ScriptedOperation::new(
        "projects/other/locations/l/operations/x",
    ));
    let client = support::client(&emulator).await;

    let all: Vec<_> = client
        .list_operations(PARENT)
        .page_size(2)
        .stream()
        .try_collect()
        .await
        .unwrap();

    let names: Vec<_> = all.iter().map(|o| o.name.clone()).collect();
    let expected: Vec<_> = (0..7).map(|i| op(&format!("op-{i}"))).collect();
    assert_eq!(names, expected);
    assert_eq!(emulator.count(Method::List), 4, "2 + 2 + 2 + 1");
}

#[tokio::test]
async fn list_page_by_page_with_an_own_cursor() {
    let emulator = Emulator::start().await.unwrap();
    for i in 0..5 {
        emulator.insert(ScriptedOperation::new(op(&format!("op-{i}"))));
    }
    let client = support::client(&emulator).await;
    let list = client.list_operations(PARENT).page_size(3);

    let first = list.page("").await.unwrap();
    assert_eq!(first.operations.len(), 3);
    assert!(!first.next_page_token.is_empty());
    let second = list.page(first.next_page_token.clone()).await.unwrap();
    assert_eq!(second.operations.len(), 2);
    assert!(second.next_page_token.is_empty());
    assert_eq!(second.operations[0].name, op("op-3"));

    let err = list.page("not-a-token").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.is_status(), "the server refused it: {err:?}");
}

#[tokio::test]
async fn list_with_a_filter_returns_only_matching_operations() {
    let emulator = Emulator::start().await.unwrap();
    for i in 0..6 {
        let mut s = ScriptedOperation::new(op(&format!("op-{i}")));
        if i % 2 == 0 {
            s = s.completion(Completion::Immediately);
        }
        emulator.insert(s);
    }
    let client = support::client(&emulator).await;

    let done: Vec<_> = client
        .list_operations(PARENT)
        .filter("done=true")
        .page_size(1)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let running = client
        .list_operations(PARENT)
        .filter("done = false")
        .collect(None)
        .await
        .unwrap();

    assert_eq!(
        done.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        [op("op-0"), op("op-2"), op("op-4")]
    );
    assert!(done.iter().all(|o| o.done));
    assert_eq!(running.operations.len(), 3);
    assert!(running.operations.iter().all(|o| !o.done));
}

#[tokio::test]
async fn unreachable_is_surfaced_only_when_partial_success_is_asked() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("a")));
    emulator.set_unreachable(vec!["projects/test-project/locations/eu".into()]);
    let client = support::client(&emulator).await;

    let plain = client.list_operations(PARENT).collect(None).await.unwrap();
    let partial = client
        .list_operations(PARENT)
        .return_partial_success(true)
        .collect(None)
        .await
        .unwrap();

    assert!(plain.unreachable.is_empty());
    assert_eq!(partial.unreachable, ["projects/test-project/locations/eu"]);
    assert_eq!(partial.operations.len(), 1);
}

#[tokio::test]
async fn collect_stops_at_max() {
    let emulator = Emulator::start().await.unwrap();
    for i in 0..10 {
        emulator.insert(ScriptedOperation::new(op(&format!("op-{i}"))));
    }
    let client = support::client(&emulator).await;

    let listing = client
        .list_operations(PARENT)
        .page_size(3)
        .collect(Some(4))
        .await
        .unwrap();

    assert_eq!(listing.operations.len(), 4);
    assert_eq!(
        emulator.count(Method::List),
        2,
        "no page fetched past the max"
    );
}

#[tokio::test]
async fn delete_removes_the_operation_without_cancelling_it() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("gone");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::client(&emulator).await;

    client.delete_operation(&name).await.unwrap();

    assert!(
        client
            .get_operation(&name)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        client
            .delete_operation(&name)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(emulator.count(Method::Cancel), 0);
}

#[tokio::test(start_paused = true)]
async fn wait_operation_returns_when_done_or_when_its_timeout_passes() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("slow");
    emulator.insert(
        ScriptedOperation::new(&name).completion(Completion::After(Duration::from_secs(5))),
    );
    let client = support::pipe_client(&emulator).await;

    let start = tokio::time::Instant::now();
    let early = client
        .wait_operation(&name, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(!early.done);
    assert!(start.elapsed() >= Duration::from_secs(2));

    let done = client
        .wait_operation(&name, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(done.done);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
}
