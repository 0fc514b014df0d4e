//! Cancel and confirm: each of the five outcomes, and the poller.

use crate::support;

use std::time::Duration;

use longrunning_grpc::emulator::{Completion, Emulator, Method, OnCancel, ScriptedOperation};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::{CancelOutcome, OperationsClient};
use support::op;
use tokio::time::Instant;
use tonic::Code;

async fn outcome_for(script: ScriptedOperation) -> (CancelOutcome, Emulator) {
    let emulator = Emulator::start().await.unwrap();
    let name = script.name().to_owned();
    emulator.insert(script);
    let client = support::pipe_client(&emulator).await;
    let outcome = client.cancel_and_wait(&name).await.unwrap();
    (outcome, emulator)
}

#[tokio::test(start_paused = true)]
async fn honoured_cancel_is_confirmed_as_cancelled_and_the_operation_is_kept() {
    let (outcome, emulator) =
        outcome_for(ScriptedOperation::new(op("a")).on_cancel(OnCancel::Honour)).await;

    let CancelOutcome::Cancelled(last) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(last.done && last.is_cancelled());
    assert_eq!(last.error().unwrap().code, 1);
    assert!(
        emulator.operation(&op("a")).is_some(),
        "cancelled, not deleted"
    );
}

#[tokio::test(start_paused = true)]
async fn operation_that_completes_anyway_is_reported_as_completed() {
    let (outcome, _e) =
        outcome_for(ScriptedOperation::new(op("b")).on_cancel(OnCancel::CompleteAnyway)).await;

    let CancelOutcome::Completed(last) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(last.done && matches!(last.result(), Some(Ok(_))));
}

#[tokio::test(start_paused = true)]
async fn operation_that_fails_otherwise_is_reported_as_failed() {
    let (outcome, _e) = outcome_for(
        ScriptedOperation::new(op("c"))
            .on_cancel(OnCancel::Ignore)
            .error(Code::Internal, "boom")
            .completion(Completion::AfterPolls(3)),
    )
    .await;

    let CancelOutcome::Failed(last) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(last.error().unwrap().code, Code::Internal as i32);
}

#[tokio::test(start_paused = true)]
async fn operation_still_running_at_the_polling_deadline_is_reported_with_the_last_state() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("d");
    emulator.insert(ScriptedOperation::new(&name).on_cancel(OnCancel::Ignore));
    let client = support::pipe(&emulator)
        .polling_policy(
            PollingPolicy::builder()
                .deadline(Some(Duration::from_secs(60)))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();

    let start = Instant::now();
    let err = client.cancel_and_wait(&name).await.unwrap_err();

    assert!(err.is_polling_deadline() && err.is_timeout(), "{err}");
    let last = err.operation().expect("the last state");
    assert!(!last.done);
    assert_eq!(last.name, name);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn unimplemented_cancel_is_reported_as_unsupported_without_polling() {
    let (outcome, emulator) =
        outcome_for(ScriptedOperation::new(op("e")).on_cancel(OnCancel::Unsupported)).await;

    let CancelOutcome::Unsupported(err) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(err.is_unimplemented());
    assert_eq!(emulator.looks(), 0);
}

#[tokio::test(start_paused = true)]
async fn poller_follows_the_default_policy_delays() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("p");
    emulator.insert(ScriptedOperation::new(&name).completion(Completion::AfterPolls(6)));
    let policy = PollingPolicy::builder().seed(3).build().unwrap();
    let client = support::pipe(&emulator)
        .polling_policy(policy.clone())
        .build()
        .unwrap();

    let polled = client.poll_until_done(&name).await.unwrap();

    assert!(polled.done);
    let journal = emulator.journal();
    assert_eq!(journal.len(), 6);
    let gaps: Vec<Duration> = journal.windows(2).map(|w| w[1].at - w[0].at).collect();
    let expected: Vec<Duration> = policy.delays().take(5).collect();
    assert_eq!(gaps, expected);
    // Default schedule 1 s, 1.5 s, 2.25 s, … with each delay in [half, full].
    for (gap, base) in gaps.iter().zip([1.0, 1.5, 2.25, 3.375, 5.0625]) {
        let s = gap.as_secs_f64();
        assert!(s >= base / 2.0 - 1e-6 && s <= base + 1e-6, "{s} vs {base}");
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_poller_stops_polling() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("forever");
    emulator.insert(ScriptedOperation::new(&name));
    // Polling, so there are looks to count (a held WaitOperation is one look in 30 s).
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(PollingPolicy::builder().server_wait(None).build().unwrap())
        .build()
        .unwrap();

    let poll = client.poll_until_done(&name);
    let result = tokio::time::timeout(Duration::from_secs(10), poll).await;
    assert!(result.is_err(), "still polling at 10 s");
    let polls = emulator.count(Method::Get);
    assert!(polls >= 3, "it was polling: {polls}");

    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        emulator.count(Method::Get),
        polls,
        "no poll after the future was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn polling_without_deadline_waits_as_long_as_it_takes() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("slow");
    emulator.insert(
        ScriptedOperation::new(&name).completion(Completion::After(Duration::from_secs(3 * 3600))),
    );
    let client: OperationsClient = support::pipe(&emulator)
        .polling_policy(PollingPolicy::builder().deadline(None).build().unwrap())
        .build()
        .unwrap();

    let polled = client.poll_until_done(&name).await.unwrap();

    assert!(polled.done);
    // At most one poll per 10 s on average once the delay reaches its 20 s cap.
    let polls = emulator.count(Method::Get);
    assert!(polls < 3 * 3600 / 10 + 10, "{polls} polls");
}

#[tokio::test(start_paused = true)]
async fn a_poll_error_other_than_unavailable_ends_the_wait() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("vanishing");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::pipe_client(&emulator).await;
    emulator.inject(longrunning_grpc::emulator::Fault::new(Code::NotFound, 100));

    let err = client.poll_until_done(&name).await.unwrap_err();
    assert!(err.is_not_found());
}
