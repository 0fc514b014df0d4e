//! Waiting on many operations issues the polls the policy schedules and no more.

use crate::support;

use std::time::Duration;

use longrunning_grpc::emulator::{Completion, Emulator, Method, ScriptedOperation};
use longrunning_grpc::policy::PollingPolicy;

#[tokio::test(start_paused = true)]
async fn waiting_on_1000_operations_issues_exactly_the_scheduled_polls() {
    const OPS: usize = 1000;
    let finish = Duration::from_secs(60);
    let emulator = Emulator::start().await.unwrap();
    for i in 0..OPS {
        emulator.insert(
            ScriptedOperation::new(support::op(&format!("w-{i}")))
                .completion(Completion::After(finish)),
        );
    }
    // The default policy, seeded so every wait follows the same known schedule.
    // Polling only: `waiting_on_1000_operations_with_wait_operation_…` is the other path.
    let policy = PollingPolicy::builder()
        .seed(11)
        .server_wait(None)
        .build()
        .unwrap();
    // Over an in-process pipe: on paused time, a socket lets the clock run on while an
    // answer waits in the kernel, which shifts the polls or fires a call's deadline.
    let client = support::builder(&emulator)
        .channel(emulator.channel())
        .polling_policy(policy.clone())
        .build()
        .unwrap();

    let waits: Vec<_> = (0..OPS)
        .map(|i| tokio::spawn(client.poll_until_done(support::op(&format!("w-{i}")))))
        .collect();
    for wait in waits {
        assert!(wait.await.unwrap().unwrap().done);
    }

    // One poll at once, then one after each delay until the operation is done at 60 s.
    let mut at = Duration::ZERO;
    let mut per_op = 1;
    for delay in policy.delays() {
        at += delay;
        per_op += 1;
        if at >= finish {
            break;
        }
    }
    assert_eq!(emulator.count(Method::Get), OPS * per_op);
    assert!(
        (9..=14).contains(&per_op),
        "the default schedule polls about a dozen times in 60 s: {per_op}"
    );
}
