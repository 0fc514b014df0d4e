//! One convention for a wait that ended while the operation still runs: every wait the
//! crate runs (`poll_until_done`, `cancel_and_wait`, `Poller::until_done`,
//! `Poller::into_stream`, `Poller::cancel`, `Waiter`) ends with the same error,
//! `is_polling_deadline()` (`DEADLINE_EXCEEDED`), carrying the operation as last seen.

use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::emulator::{Emulator, Method, OnCancel, ScriptedOperation};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::prost_types::{Empty, Timestamp};
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{CancelOutcome, Error, OperationsClient};

use crate::support::{self, op};

/// The error every wait must end with for `name`, still running after 30 s.
fn assert_gave_up(what: &str, err: &Error, name: &str) {
    assert!(err.is_polling_deadline(), "{what}: {err}");
    assert!(err.is_timeout() && !err.is_deadline(), "{what}: {err}");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{what}");
    let last = err
        .operation()
        .unwrap_or_else(|| panic!("{what}: no last operation"));
    assert_eq!(last.name, name, "{what}");
    assert!(!last.done, "{what}: {last:?}");
    assert_eq!(err.name(), Some(name), "{what}");
    assert!(
        err.to_string().contains("still running") && err.to_string().contains("30s"),
        "{what}: {err}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_wait_that_gives_up_ends_with_the_same_error_and_the_last_state() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("forever");
    emulator.insert(ScriptedOperation::new(&name).on_cancel(OnCancel::Ignore));
    let client = giving_up_after_30s(&emulator, None);

    let err = client.poll_until_done(&name).await.unwrap_err();
    assert_gave_up("poll_until_done", &err, &name);

    let err = client.cancel_and_wait(&name).await.unwrap_err();
    assert_gave_up("cancel_and_wait", &err, &name);

    let poller = client.operation::<Empty, Timestamp>(name.as_str());
    let err = poller.until_done().await.unwrap_err();
    assert_gave_up("Poller::until_done", &err, &name);

    let mut stream = Box::pin(
        client
            .operation::<Empty, Timestamp>(name.as_str())
            .into_stream(),
    );
    let mut last = None;
    while let Some(state) = stream.next().await {
        last = Some(state);
    }
    let Some(PollingResult::Completed(Err(err))) = last else {
        panic!("into_stream ended with {last:?}")
    };
    assert_gave_up("Poller::into_stream", &err, &name);

    let err = client
        .operation::<Empty, Timestamp>(name.as_str())
        .cancel()
        .await
        .unwrap_err();
    assert_gave_up("Poller::cancel", &err, &name);

    let mut waiter = client.wait_all([&name]);
    let (seen, result) = waiter.next().await.expect("one result");
    assert_eq!(seen, name);
    assert_gave_up("Waiter", &result.unwrap_err(), &name);
    // Only the two waits that are cancels sent one: giving up leaves it running by default.
    assert_eq!(emulator.count(Method::Cancel), 2);
}

/// A client whose waits give up after 30 s, and then cancel if `confirm` says for how
/// long to confirm; over the in-process pipe, for paused time.
fn giving_up_after_30s(emulator: &Emulator, confirm: Option<Duration>) -> OperationsClient {
    support::pipe(emulator)
        .polling_policy(
            PollingPolicy::builder()
                .deadline(Some(Duration::from_secs(30)))
                .cancel_on_deadline(confirm)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// A client whose waits give up after 30 s and then cancel, confirming for 10 s.
fn cancelling(emulator: &Emulator) -> OperationsClient {
    giving_up_after_30s(emulator, Some(Duration::from_secs(10)))
}

/// The four waits that cancel on giving up, each on its own operation named `{id}-{i}`,
/// with the error each ended with and how long it took.
async fn give_up_each(
    client: &OperationsClient,
    emulator: &Emulator,
    id: &str,
    on: OnCancel,
) -> Vec<(&'static str, Error, Duration)> {
    let mut ended = Vec::new();
    for (i, what) in [
        "poll_until_done",
        "Poller::until_done",
        "Poller::into_stream",
        "Waiter",
    ]
    .into_iter()
    .enumerate()
    {
        let name = op(&format!("{id}-{i}"));
        emulator.insert(ScriptedOperation::new(&name).on_cancel(on));
        let start = tokio::time::Instant::now();
        let err = match i {
            0 => client.poll_until_done(&name).await.unwrap_err(),
            1 => client
                .operation::<Empty, Timestamp>(name.as_str())
                .until_done()
                .await
                .unwrap_err(),
            2 => {
                let items: Vec<_> = client
                    .operation::<Empty, Timestamp>(name.as_str())
                    .into_stream()
                    .collect()
                    .await;
                match items.into_iter().last() {
                    Some(PollingResult::Completed(Err(e))) => e,
                    other => panic!("{what}: {other:?}"),
                }
            }
            _ => client
                .wait_all([&name])
                .next()
                .await
                .unwrap()
                .1
                .unwrap_err(),
        };
        ended.push((what, err, start.elapsed()));
    }
    ended
}

#[tokio::test(start_paused = true)]
async fn every_wait_that_gives_up_cancels_when_asked_and_returns_the_final_state() {
    let emulator = Emulator::start().await.unwrap();
    let client = cancelling(&emulator);

    let ended = give_up_each(&client, &emulator, "honoured", OnCancel::Honour).await;

    for (what, err, took) in &ended {
        assert!(
            err.is_polling_deadline() && err.cancel_requested(),
            "{what}: {err}"
        );
        assert_eq!(err.cancel_refused(), None, "{what}");
        let last = err.operation().unwrap();
        assert!(last.done && last.is_cancelled(), "{what}: {last:?}");
        assert!(
            CancelOutcome::of_operation(last.clone()).is_some_and(|o| o.is_cancelled()),
            "{what}"
        );
        assert_eq!(*took, Duration::from_secs(30), "{what}: confirmed at once");
        assert_eq!(
            err.to_string(),
            format!(
                "gave up at the polling deadline of 30s and cancelled it for {:?}",
                last.name
            ),
            "{what}"
        );
    }
    assert_eq!(emulator.count(Method::Cancel), 4, "one cancel per wait");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_that_is_ignored_or_refused_on_giving_up_is_reported_with_the_state() {
    let emulator = Emulator::start().await.unwrap();
    let client = cancelling(&emulator);

    let ignored = give_up_each(&client, &emulator, "ignored", OnCancel::Ignore).await;
    let refused = give_up_each(&client, &emulator, "refused", OnCancel::Unsupported).await;

    for (what, err, took) in &ignored {
        assert!(
            err.is_polling_deadline() && err.cancel_requested(),
            "{what}: {err}"
        );
        assert!(!err.operation().unwrap().done, "{what}");
        assert!(CancelOutcome::of_operation(err.operation().unwrap().clone()).is_none());
        assert_eq!(*took, Duration::from_secs(40), "{what}: confirmed for 10 s");
        assert!(
            err.to_string().contains("10s after the cancel"),
            "{what}: {err}"
        );
    }
    for (what, err, took) in &refused {
        assert!(
            err.is_polling_deadline() && !err.cancel_requested(),
            "{what}: {err}"
        );
        assert_eq!(
            err.cancel_refused(),
            Some(tonic::Code::Unimplemented),
            "{what}"
        );
        assert!(!err.operation().unwrap().done, "{what}");
        assert_eq!(*took, Duration::from_secs(30), "{what}: nothing to confirm");
        assert!(
            err.to_string().contains("failed with UNIMPLEMENTED"),
            "{what}: {err}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn cancel_and_wait_under_cancel_on_deadline_sends_one_cancel() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("ignoring");
    emulator.insert(ScriptedOperation::new(&name).on_cancel(OnCancel::Ignore));
    let client = cancelling(&emulator);

    let err = client.cancel_and_wait(&name).await.unwrap_err();

    assert!(
        err.is_polling_deadline() && !err.cancel_requested(),
        "{err}"
    );
    assert_eq!(emulator.count(Method::Cancel), 1);
}
