//! Waits wait on the server: `WaitOperation`, held until the operation is done, where the
//! server serves it; `UNIMPLEMENTED` learnt once per client; no spinning on a server that
//! answers at once; progress still reported on the poll schedule; the policy switch.
//!
//! On paused time over the in-process pipe, so "at once" is exact: the virtual clock
//! says when the wait returned, to the nanosecond.

use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{
    Completion, Emulator, Fault, Method, ScriptedOperation, WaitBehaviour,
};
use longrunning_grpc::policy::{Jitter, PollingPolicy};
use longrunning_grpc::prost_types::{Any, Empty, Timestamp};
use longrunning_grpc::wait::PollingResult;
use tokio::time::Instant;
use tonic::Code;

use crate::support::{self, op};

/// Every second, no jitter, for at most `deadline`.
fn every_second(deadline: Duration) -> PollingPolicy {
    PollingPolicy::builder()
        .initial_delay(Duration::from_secs(1))
        .multiplier(1.0)
        .jitter(Jitter::None)
        .deadline(Some(deadline))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_wait_returns_the_moment_the_operation_is_done_after_two_held_calls() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("ten-seconds");
    emulator.insert(
        ScriptedOperation::new(&name).completion(Completion::After(Duration::from_secs(10))),
    );
    let client: OperationsClient = support::pipe(&emulator).build().unwrap();
    let start = Instant::now();

    let done = client.poll_until_done(&name).await.unwrap();

    assert!(done.done);
    assert_eq!(start.elapsed(), Duration::from_secs(10), "seen at once");
    // The first asks whether the server serves WaitOperation and is held only half the
    // first delay (at most 0.5 s); the second is held until it is done.
    let journal = emulator.journal();
    let methods: Vec<_> = journal.iter().map(|r| r.method).collect();
    assert_eq!(methods, [Method::Wait, Method::Wait]);
    assert!(journal[0].at - start <= Duration::from_secs(1));
    // Each call's own deadline is longer than the hold it asks for (at most 30 s here):
    // the client's timeout on top of it.
    let timeout = support::parse_grpc_timeout(
        journal[1]
            .metadata
            .get("grpc-timeout")
            .unwrap()
            .to_str()
            .unwrap(),
    );
    assert!(timeout > Duration::from_secs(30), "{timeout:?}");
}

#[tokio::test(start_paused = true)]
async fn a_held_call_never_asks_past_the_deadline_and_the_wait_ends_there() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("forever");
    emulator.insert(ScriptedOperation::new(&name));
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(every_second(Duration::from_millis(4500)))
        .build()
        .unwrap();
    let start = Instant::now();

    let err = client.poll_until_done(&name).await.unwrap_err();

    assert!(err.is_polling_deadline(), "{err}");
    assert!(!err.operation().unwrap().done);
    assert_eq!(start.elapsed(), Duration::from_millis(4500));
    // Held 0.5 s (the probe: half the first delay), then from 1 s the 3.5 s left: two
    // looks, where polling takes six.
    let at: Vec<_> = emulator.journal().iter().map(|r| r.at - start).collect();
    assert_eq!(
        at,
        [Duration::from_millis(500), Duration::from_millis(4500)]
    );
}

#[tokio::test(start_paused = true)]
async fn unimplemented_is_learnt_by_one_call_for_the_client_and_its_clones() {
    let emulator = Emulator::builder()
        .wait_operation(WaitBehaviour::Unimplemented)
        .start()
        .await
        .unwrap();
    for i in 0..20 {
        emulator.insert(
            ScriptedOperation::new(op(&format!("u-{i}"))).completion(Completion::AfterPolls(3)),
        );
    }
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(every_second(Duration::from_secs(60)))
        .build()
        .unwrap();

    let waits: Vec<_> = (0..20)
        .map(|i| tokio::spawn(client.poll_until_done(op(&format!("u-{i}")))))
        .collect();
    for wait in waits {
        assert!(wait.await.unwrap().unwrap().done);
    }
    // A clone with other settings remembers too.
    emulator.insert(ScriptedOperation::new(op("later")).completion(Completion::AfterPolls(1)));
    let later = client.with_timeout(Duration::from_secs(5));
    assert!(later.poll_until_done(op("later")).await.unwrap().done);

    assert_eq!(
        emulator.count(Method::Wait),
        1,
        "one WaitOperation learnt it"
    );
    // Each wait polled as before: 3 looks each (the one whose WaitOperation was refused
    // took that look again as a GetOperation), and 1 for the last.
    assert_eq!(emulator.count(Method::Get), 20 * 3 + 1);
}

#[tokio::test(start_paused = true)]
async fn a_server_that_answers_at_once_does_not_make_the_wait_spin() {
    let emulator = Emulator::builder()
        .wait_operation(WaitBehaviour::AtOnce)
        .start()
        .await
        .unwrap();
    let name = op("ten-seconds");
    emulator.insert(
        ScriptedOperation::new(&name).completion(Completion::After(Duration::from_secs(10))),
    );
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(every_second(Duration::from_secs(60)))
        .build()
        .unwrap();
    let start = Instant::now();

    assert!(client.poll_until_done(&name).await.unwrap().done);

    // One look a second, as polling would: at 0, 1, …, 10 s.
    let at: Vec<_> = emulator.journal().iter().map(|r| r.at - start).collect();
    let expected: Vec<_> = (0..=10).map(Duration::from_secs).collect();
    assert_eq!(at, expected);
    assert_eq!(emulator.count(Method::Wait), 11);
}

#[tokio::test(start_paused = true)]
async fn the_stream_still_shows_progress_at_the_poll_schedule() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("progressing");
    let at = |seconds| Any::from_msg(&Timestamp { seconds, nanos: 0 }).unwrap();
    emulator.insert(
        ScriptedOperation::new(&name)
            .metadata(at(1))
            .response(Any::from_msg(&Empty::default()).unwrap())
            .completion(Completion::After(Duration::from_secs(10))),
    );
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(every_second(Duration::from_secs(60)))
        .build()
        .unwrap();
    let start = Instant::now();
    let stream = client.operation::<Empty, Timestamp>(&name).into_stream();
    let watching = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        let mut seen = Vec::new();
        while let Some(item) = stream.next().await {
            seen.push((item, start.elapsed()));
        }
        seen
    });
    tokio::time::sleep_until(start + Duration::from_millis(2500)).await;
    emulator.set_metadata(&name, at(2));
    let mut seen = watching.await.unwrap().into_iter();
    let (first, first_at) = seen.next().unwrap();
    let (second, second_at) = seen.next().unwrap();
    let (last, last_at) = seen.next().unwrap();
    assert!(seen.next().is_none());

    assert!(matches!(first, PollingResult::InProgress(Some(t)) if t.seconds == 1));
    assert_eq!(
        first_at,
        Duration::from_millis(500),
        "the probe, held half the first delay"
    );
    // Each held look ends when the next poll would be, so the change at 2.5 s is seen at 3 s.
    assert!(matches!(second, PollingResult::InProgress(Some(t)) if t.seconds == 2));
    assert_eq!(second_at, Duration::from_secs(3));
    assert!(matches!(last, PollingResult::Completed(Ok(_))), "{last:?}");
    assert_eq!(last_at, Duration::from_secs(10));
    assert_eq!(
        emulator.count(Method::Wait),
        10,
        "one look a second, each held"
    );
    assert_eq!(emulator.count(Method::Get), 0);
}

#[tokio::test(start_paused = true)]
async fn a_wait_operation_that_fails_transiently_is_taken_again_as_a_get() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("done");
    emulator.insert(ScriptedOperation::new(&name).completion(Completion::Immediately));
    emulator.inject(Fault::new(Code::Unavailable, 1).method(Method::Wait));
    let client: OperationsClient = support::pipe(&emulator).build().unwrap();

    assert!(client.poll_until_done(&name).await.unwrap().done);

    let calls: Vec<_> = emulator
        .journal()
        .iter()
        .map(|r| (r.method, r.code))
        .collect();
    assert_eq!(
        calls,
        [(Method::Wait, Code::Unavailable), (Method::Get, Code::Ok)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_operation_that_fails_where_get_does_not_is_not_used_again() {
    let emulator = Emulator::start().await.unwrap();
    emulator.inject(
        Fault::new(Code::InvalidArgument, 1000)
            .method(Method::Wait)
            .message("timeout is too long"),
    );
    let names: Vec<String> = (0..3).map(|i| op(&format!("m-{i}"))).collect();
    for name in &names {
        emulator.insert(ScriptedOperation::new(name).completion(Completion::AfterPolls(3)));
    }
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(every_second(Duration::from_secs(60)))
        .build()
        .unwrap();

    for name in &names {
        assert!(client.poll_until_done(name).await.unwrap().done);
    }

    assert_eq!(emulator.count(Method::Wait), 1, "learnt by one call");
    assert_eq!(emulator.count(Method::Get), 3 * 3);
}

#[tokio::test(start_paused = true)]
async fn no_server_wait_in_the_policy_only_polls() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("three-seconds");
    emulator.insert(
        ScriptedOperation::new(&name).completion(Completion::After(Duration::from_secs(3))),
    );
    let policy = PollingPolicy::builder()
        .initial_delay(Duration::from_secs(1))
        .multiplier(1.0)
        .jitter(Jitter::None)
        .server_wait(None)
        .build()
        .unwrap();
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(policy)
        .build()
        .unwrap();

    assert!(client.poll_until_done(&name).await.unwrap().done);

    assert_eq!(emulator.count(Method::Wait), 0);
    assert_eq!(emulator.count(Method::Get), 4, "at 0, 1, 2 and 3 s");
}

#[tokio::test(start_paused = true)]
async fn wait_all_holds_a_call_per_operation_while_all_fit_in_flight_and_polls_beyond() {
    let emulator = Emulator::start().await.unwrap();
    let names: Vec<String> = (1..=5).map(|k| op(&format!("k{k}"))).collect();
    for (k, name) in (1..=5).zip(&names) {
        emulator.insert(
            ScriptedOperation::new(name).completion(Completion::After(Duration::from_secs(10 * k))),
        );
    }
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(every_second(Duration::from_secs(120)))
        .build()
        .unwrap();
    let start = Instant::now();

    let mut held = client.wait_all(&names);
    let mut seen = Vec::new();
    while let Some((name, result)) = held.next().await {
        assert!(result.unwrap().done);
        seen.push((name, start.elapsed()));
    }
    let held_looks = emulator.looks();
    let held_waits = emulator.count(Method::Wait);
    // Five more, two in flight at most: a held call would keep the others waiting, so
    // these are polled.
    let more: Vec<String> = (1..=5).map(|k| op(&format!("p{k}"))).collect();
    for name in &more {
        emulator.insert(
            ScriptedOperation::new(name).completion(Completion::After(Duration::from_secs(3))),
        );
    }
    let polled: Vec<_> = client.wait_all(&more).max_in_flight(2).collect().await;

    let expected: Vec<_> = (1..=5)
        .zip(&names)
        .map(|(k, name)| (name.clone(), Duration::from_secs(10 * k)))
        .collect();
    assert_eq!(seen, expected, "each seen the moment it was done");
    // Polling would look 155 times (every second until 10, 20, …, 50 s).
    // At 0 and 1 s (the probe's answer comes at 1 s too), then held: 16 looks where
    // polling takes 155 (every second until 10, 20, …, 50 s).
    assert!(held_looks <= 16, "{held_looks}");
    assert!(polled.iter().all(|(_, r)| r.as_ref().unwrap().done));
    // Polled while more were waited on than could be in flight; only the last one, alone,
    // was held.
    assert!(emulator.count(Method::Wait) - held_waits <= 1);
    assert_eq!(
        emulator.looks() - held_looks,
        5 * 4,
        "at 0, 1, 2 and 3 s each"
    );
}

#[tokio::test]
async fn a_held_call_outlives_the_clients_timeout_on_its_one_connection() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("soon");
    emulator.insert(
        ScriptedOperation::new(&name).completion(Completion::After(Duration::from_millis(1500))),
    );
    // Over a socket, where the stalled-connection check runs; a call's timeout shorter
    // than the hold (the first look, the probe, is held half the first delay: 2.5 s).
    let client: OperationsClient = support::builder(&emulator)
        .timeout(Duration::from_millis(300))
        .polling_policy(
            PollingPolicy::builder()
                .initial_delay(Duration::from_secs(5))
                .jitter(Jitter::None)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    let done = client.poll_until_done(&name).await.unwrap();

    assert!(done.done);
    let methods: Vec<_> = emulator.journal().iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        [Method::Wait],
        "one call, held until done, not cut short"
    );
    assert_eq!(support::peers(&emulator).len(), 1, "on one connection");
}
