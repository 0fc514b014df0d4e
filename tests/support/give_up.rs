//! Giving up on a call at a random point, as callers do: polled once and dropped, cut by a
//! `select!`-style timeout, aborted with its task, or run to its end. Shared by the
//! dropped-call test (`tests/lost_calls.rs`) and benchmark (`benches/lost_calls.rs`).
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// Runs `call` or gives up on it at a point `rng` draws; whether it ran to a successful end.
pub async fn run_or_give_up<F, E>(call: F, rng: &mut fastrand::Rng) -> bool
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    match rng.u8(0..4) {
        // Polled once, then dropped: waiting for room or a connection, or just sent.
        0 => {
            let _ = tokio::time::timeout(Duration::ZERO, call).await;
            false
        }
        // A timeout at a random point.
        1 => {
            let after = Duration::from_micros(rng.u64(0..3000));
            matches!(tokio::time::timeout(after, call).await, Ok(Ok(())))
        }
        // An aborted task.
        2 => {
            let task = tokio::spawn(call);
            for _ in 0..rng.u8(0..4) {
                tokio::task::yield_now().await;
            }
            task.abort();
            let _ = task.await;
            false
        }
        // Some run to the end.
        _ => call.await.is_ok(),
    }
}
