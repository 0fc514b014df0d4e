//! Waiting on many operations on one scheduler (`client.wait_all(names)`): each is yielded
//! as it finishes, after exactly the polls its policy schedules; polls in flight stay
//! within the bound; one operation's error or deadline ends only its own wait.

use crate::support;
use crate::support::holding_server;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Completion, Emulator, Fault, Method, ScriptedOperation};
use longrunning_grpc::policy::{PollingPolicy, RetryPolicy};
use support::op;
use tonic::Code;

/// Every second (no jitter, no growth), for at most `deadline`.
fn policy(deadline: Option<Duration>) -> PollingPolicy {
    PollingPolicy::builder()
        .initial_delay(Duration::from_secs(1))
        .multiplier(1.0)
        .jitter(longrunning_grpc::policy::Jitter::None)
        .deadline(deadline)
        .build()
        .unwrap()
}

async fn client(emulator: &Emulator, deadline: Option<Duration>) -> OperationsClient {
    support::pipe(emulator)
        .polling_policy(policy(deadline))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap()
}

/// Looks (GetOperation and WaitOperation calls) by operation.
fn looks_by_name(emulator: &Emulator) -> HashMap<String, usize> {
    let mut gets = HashMap::new();
    for received in emulator.journal() {
        if matches!(received.method, Method::Get | Method::Wait) {
            *gets.entry(received.name.clone()).or_default() += 1;
        }
    }
    gets
}

#[tokio::test(start_paused = true)]
async fn each_finishes_in_turn_after_exactly_the_polls_its_policy_schedules() {
    let emulator = Emulator::start().await.unwrap();
    // Added in reverse, so the order they finish in is not the order they were given.
    let names: Vec<String> = (1..=5).rev().map(|k| op(&format!("k{k}"))).collect();
    for k in 1..=5 {
        emulator.insert(
            ScriptedOperation::new(op(&format!("k{k}"))).completion(Completion::AfterPolls(k)),
        );
    }
    let client = client(&emulator, None).await;

    let finished: Vec<_> = client.wait_all(&names).collect().await;

    let order: Vec<_> = finished.iter().map(|(name, _)| name.clone()).collect();
    let expected: Vec<_> = (1..=5).map(|k| op(&format!("k{k}"))).collect();
    assert_eq!(order, expected);
    for (name, result) in &finished {
        let done = result.as_ref().unwrap();
        assert!(done.done && &done.name == name, "{done:?}");
    }
    let gets = looks_by_name(&emulator);
    for k in 1..=5 {
        assert_eq!(gets[&op(&format!("k{k}"))], k as usize, "k{k}");
    }
}

#[tokio::test]
async fn polls_in_flight_stay_within_the_bound() {
    let (addr, held, gate) = holding_server::serve(1024).await;
    let client = support::builder_at(addr)
        .polling_policy(policy(None))
        .build()
        .unwrap();
    let names: Vec<String> = (0..50).map(|i| op(&format!("held-{i}"))).collect();
    let mut waiter = client.wait_all(&names).max_in_flight(8);
    assert_eq!(waiter.len(), 50);
    let polling = tokio::spawn(async move { while waiter.next().await.is_some() {} });

    while held.in_hand() < 8 {
        tokio::task::yield_now().await;
    }
    // Time for any poll beyond the bound to reach the server too.
    for _ in 0..20_000 {
        tokio::task::yield_now().await;
    }

    assert_eq!(held.peak(), 8);
    polling.abort();
    gate.open();
}

#[tokio::test]
async fn one_operations_error_ends_only_its_own_wait() {
    let emulator = Emulator::start().await.unwrap();
    let names: Vec<String> = ["a", "denied", "b"].iter().map(|id| op(id)).collect();
    for name in &names {
        emulator.insert(ScriptedOperation::new(name).completion(Completion::AfterPolls(2)));
    }
    emulator.inject(Fault::new(Code::PermissionDenied, 1).name(op("denied")));
    let client = support::pipe(&emulator)
        .polling_policy(
            PollingPolicy::builder()
                .initial_delay(Duration::from_millis(5))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    let finished: HashMap<_, _> = client.wait_all(&names).collect().await;

    assert_eq!(finished.len(), 3);
    let denied = finished[&op("denied")].as_ref().unwrap_err();
    assert!(denied.is_permission_denied(), "{denied:?}");
    assert!(finished[&op("a")].as_ref().unwrap().done);
    assert!(finished[&op("b")].as_ref().unwrap().done);
    assert_eq!(
        looks_by_name(&emulator)[&op("denied")],
        1,
        "not polled again"
    );
}

#[tokio::test(start_paused = true)]
async fn unavailable_is_polled_again_and_the_deadline_ends_a_wait_after_a_last_look() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("flaky")).completion(Completion::AfterPolls(2)));
    emulator.insert(ScriptedOperation::new(op("slow")));
    emulator.inject(Fault::new(Code::Unavailable, 2).name(op("flaky")));
    // Polling, whose schedule this counts (`held_looks_…` for WaitOperation's).
    let client = client(&emulator, Some(Duration::from_millis(4500)))
        .await
        .with_polling_policy(support::polling_every_second(Duration::from_millis(4500)));

    let finished: Vec<_> = client.wait_all([op("slow"), op("flaky")]).collect().await;

    assert_eq!(finished.len(), 2);
    let (first, flaky) = &finished[0];
    assert_eq!(first, &op("flaky"));
    assert!(flaky.as_ref().unwrap().done);
    let (second, slow) = &finished[1];
    assert_eq!(second, &op("slow"));
    let slow = slow.as_ref().unwrap_err();
    assert!(
        slow.is_timeout() && slow.name() == Some(op("slow").as_str()),
        "{slow:?}"
    );
    let gets = looks_by_name(&emulator);
    // Two refused, then two answered (done at the second).
    assert_eq!(gets[&op("flaky")], 4);
    // At 0, 1, 2, 3 and 4 s, and the last look at 4.5 s.
    assert_eq!(gets[&op("slow")], 6);
}

#[tokio::test]
async fn an_invalid_name_fails_alone_and_is_never_sent() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("ok")).completion(Completion::Immediately));
    let client = client(&emulator, None).await;

    let finished: HashMap<_, _> = client
        .wait_all(["not a name", op("ok").as_str()])
        .collect()
        .await;

    assert!(
        finished["not a name"]
            .as_ref()
            .unwrap_err()
            .is_invalid_argument()
    );
    assert!(finished[&op("ok")].as_ref().unwrap().done);
    assert_eq!(emulator.looks(), 1);
}

#[tokio::test]
async fn names_added_later_are_waited_on_too() {
    let emulator = Emulator::start().await.unwrap();
    for id in ["first", "later"] {
        emulator.insert(ScriptedOperation::new(op(id)).completion(Completion::Immediately));
    }
    let client = client(&emulator, None).await;
    let mut waiter = client.wait_all([op("first")]);

    let (first, _) = waiter.next().await.unwrap();
    assert!(waiter.is_empty());
    waiter.add(op("later"));
    let (later, result) = waiter.next().await.unwrap();

    assert_eq!((first, later), (op("first"), op("later")));
    assert!(result.unwrap().done);
    assert!(waiter.next().await.is_none());
}
