//! Waiting at fleet scale, in figures: how soon a wait sees an operation done and how many
//! calls it makes, with `WaitOperation` and with polling, against a server that serves it,
//! one that answers `UNIMPLEMENTED` and one that answers at once; and what retries cost a
//! service that fails everything, with adaptive throttling and without.
//!
//! Both are properties of the schedules, not of this machine's speed, so they run on
//! paused tokio time over the emulator's in-process pipe: the virtual clock says to the
//! nanosecond when a wait returned, and the emulator's journal counts what it saw. Each
//! figure is printed beside its baseline from the same run.
//!
//! `cargo bench --features emulator --bench waiting` (a few seconds; `-- --quick` for
//! fewer operations).

use std::time::Duration;

use longrunning_grpc::emulator::{
    Completion, Emulator, Fault, Method, ScriptedOperation, WaitBehaviour,
};
use longrunning_grpc::policy::{PollingPolicy, RetryPolicy};
use longrunning_grpc::{OperationsClient, OperationsClientBuilder};
use tokio::time::Instant;
use tonic::Code;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` passes other flags: nothing to do then.
    if !(args.iter().any(|a| a == "--bench" || a == "--quick") || args.len() == 1) {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        time_to_observe(if quick { 100 } else { 1000 }).await;
        throttling(if quick { 100 } else { 400 }).await;
    });
}

/// An anonymous client of `emulator` over its in-process pipe: on paused time, a socket
/// would let the clock run on while an answer sits in the kernel.
fn over_the_pipe(emulator: &Emulator) -> OperationsClientBuilder {
    OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .anonymous()
        .channel(emulator.channel())
}

/// A deterministic spread of completion times in `[10 s, 300 s)`.
fn finish_times(ops: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..ops)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(10_000 + x % 290_000)
        })
        .collect()
}

async fn time_to_observe(ops: usize) {
    println!(
        "\n{ops} waits at once (poll_until_done, default policy), each operation done at a \
         time spread over 10..300 s; time from done to the wait's return, and calls per wait"
    );
    println!(
        "  {:<46} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "", "mean s", "p50 s", "p99 s", "max s", "calls/wait"
    );
    let rows = [
        ("polling (server_wait(None))", WaitBehaviour::Hold, false),
        (
            "WaitOperation, the server serves it",
            WaitBehaviour::Hold,
            true,
        ),
        (
            "WaitOperation, the server: UNIMPLEMENTED",
            WaitBehaviour::Unimplemented,
            true,
        ),
        (
            "WaitOperation, the server answers at once",
            WaitBehaviour::AtOnce,
            true,
        ),
    ];
    for (label, behaviour, server_wait) in rows {
        let emulator = Emulator::builder()
            .wait_operation(behaviour)
            .start()
            .await
            .unwrap();
        let finish = finish_times(ops);
        let names: Vec<String> = (0..ops)
            .map(|i| format!("projects/bench/locations/global/operations/w-{i}"))
            .collect();
        for (name, after) in names.iter().zip(&finish) {
            emulator.insert(ScriptedOperation::new(name).completion(Completion::After(*after)));
        }
        let mut policy = PollingPolicy::builder();
        if !server_wait {
            policy = policy.server_wait(None);
        }
        let client: OperationsClient = over_the_pipe(&emulator)
            .polling_policy(policy.build().unwrap())
            .build()
            .unwrap();
        let start = Instant::now();
        let waits: Vec<_> = names
            .iter()
            .map(|name| {
                let wait = client.poll_until_done(name);
                tokio::spawn(async move {
                    let done = wait.await.is_ok_and(|op| op.done);
                    (done, start.elapsed())
                })
            })
            .collect();
        let mut late = Vec::with_capacity(ops);
        for (wait, after) in waits.into_iter().zip(&finish) {
            let (done, at) = wait.await.unwrap();
            assert!(done, "{label}: a wait ended before its operation");
            late.push(at.saturating_sub(*after).as_secs_f64());
        }
        late.sort_by(f64::total_cmp);
        let mean = late.iter().sum::<f64>() / ops as f64;
        let pick = |q: f64| late[((ops as f64 * q) as usize).min(ops - 1)];
        let calls = emulator.looks() as f64 / ops as f64;
        println!(
            "  {label:<46} {mean:>9.3} {:>9.3} {:>9.3} {:>9.3} {calls:>10.2}",
            pick(0.5),
            pick(0.99),
            late[ops - 1],
        );
        let waits = emulator.count(Method::Wait);
        if behaviour == WaitBehaviour::Unimplemented {
            println!("  {:<46} {waits} WaitOperation in all", "");
        }
    }
}

async fn throttling(calls: usize) {
    println!(
        "\n{calls} calls (CancelOperation) through one client, default retry policy (5 \
         attempts); attempts the server saw"
    );
    println!(
        "  {:<46} {:>12} {:>14} {:>10}",
        "", "all failing", "per call", "20% failing"
    );
    for throttled in [false, true] {
        let mut row = Vec::new();
        for failing in [1.0, 0.2] {
            let emulator = Emulator::start().await.unwrap();
            let name = "projects/bench/locations/global/operations/t";
            emulator.insert(ScriptedOperation::new(name));
            emulator.inject(
                Fault::new(Code::Unavailable, usize::MAX)
                    .method(Method::Cancel)
                    .probability(failing, 11),
            );
            let mut policy = RetryPolicy::builder().seed(3);
            if !throttled {
                policy = policy.no_throttling();
            }
            let client: OperationsClient = over_the_pipe(&emulator)
                .retry_policy(policy.build().unwrap())
                .build()
                .unwrap();
            let mut ok = 0;
            for _ in 0..calls {
                ok += usize::from(client.cancel_operation(name).await.is_ok());
            }
            row.push((emulator.count(Method::Cancel), ok));
        }
        let label = if throttled {
            "adaptive throttling (the default)"
        } else {
            "no_throttling()"
        };
        let (all, _) = row[0];
        let (_, ok) = row[1];
        println!(
            "  {label:<46} {all:>12} {:>14.2} {:>10}",
            all as f64 / calls as f64,
            format!("{ok}/{calls} ok"),
        );
    }
}
