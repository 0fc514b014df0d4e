//! A connection that stops answering (bytes accepted, nothing back, nothing closed) is
//! replaced within the failing call's deadline plus 5 s with default settings, without
//! periodic pings; with periodic keepalive it is replaced before a call needs it.

use crate::support;
use crate::support::relay;

use std::time::Duration;

use longrunning_grpc::emulator::{Emulator, Method, ScriptedOperation};
use support::op;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(2);

/// An emulator holding operation `x`, and a relay in front of it.
async fn relayed_emulator() -> (Emulator, relay::Relay) {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("x")));
    let relay = relay::start(emulator.local_addr()).await;
    (emulator, relay)
}

/// A client through `relay` with calls of `DEADLINE`, its connection up (one call made).
async fn connected(relay: &relay::Relay) -> longrunning_grpc::OperationsClient {
    let client = support::builder_at(relay.addr)
        .timeout(DEADLINE)
        .build()
        .unwrap();
    client.get_operation(op("x")).await.unwrap();
    client
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_replaced_within_the_deadline_plus_five_seconds() {
    let (emulator, relay) = relayed_emulator().await;
    let client = connected(&relay).await;

    relay.freeze();
    let frozen = Instant::now();
    let mut failed = 0;
    loop {
        match client.get_operation(op("x")).await {
            Ok(_) => break,
            Err(e) => {
                assert!(e.is_timeout() || e.is_unavailable(), "{e}");
                failed += 1;
            }
        }
        assert!(
            frozen.elapsed() < Duration::from_secs(120),
            "never recovered ({failed} calls failed)"
        );
    }
    let recovered = frozen.elapsed();

    assert!(
        recovered <= DEADLINE + Duration::from_secs(5),
        "took {recovered:?}"
    );
    assert!(failed <= 3, "{failed} calls failed");
    assert_eq!(relay.accepted(), 2, "one new connection");
    assert_eq!(
        emulator.count(Method::Get),
        2,
        "the first call and the one after recovery"
    );
}

#[tokio::test(start_paused = true)]
async fn a_busy_connection_stays_in_use_after_a_slow_calls_deadline() {
    // A call that outlives its deadline while other calls' answers keep arriving on the
    // same connection: the connection is not silent, so it is not retired. (The relay
    // cannot see pings, so this asserts the connection stays, not that none was sent.)
    let (emulator, relay) = relayed_emulator().await;
    let client = connected(&relay).await;

    emulator.set_latency(Duration::from_secs(3));
    let slow = tokio::spawn(client.get_operation(op("x")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    emulator.set_latency(Duration::ZERO);
    for _ in 0..30 {
        client.get_operation(op("x")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slow.await.unwrap().unwrap_err().is_timeout());
    tokio::time::sleep(Duration::from_secs(10)).await;
    client.get_operation(op("x")).await.unwrap();

    assert_eq!(relay.accepted(), 1, "the same connection throughout");
}

#[tokio::test(start_paused = true)]
async fn periodic_keepalive_replaces_a_silent_idle_connection_before_a_call_needs_it() {
    let (_emulator, relay) = relayed_emulator().await;
    let client = support::builder_at(relay.addr)
        .timeout(DEADLINE)
        .keepalive_interval(Duration::from_secs(1))
        .keepalive_timeout(Duration::from_secs(1))
        .keepalive_while_idle(true)
        .build()
        .unwrap();
    client.get_operation(op("x")).await.unwrap();

    relay.freeze();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    client.get_operation(op("x")).await.unwrap();

    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(relay.accepted(), 2);
}

#[tokio::test(start_paused = true)]
async fn keepalive_without_while_idle_pings_only_once_a_call_is_in_flight() {
    let (_emulator, relay) = relayed_emulator().await;
    let client = support::builder_at(relay.addr)
        .timeout(Duration::from_secs(10))
        .keepalive_interval(Duration::from_secs(1))
        .keepalive_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    client.get_operation(op("x")).await.unwrap();

    relay.freeze();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        relay.accepted(),
        1,
        "no ping while idle, so nothing noticed"
    );
    let started = Instant::now();
    client.get_operation(op("x")).await.unwrap();

    // The call waited for the next ping to go unanswered, then was retried on a new
    // connection.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(relay.accepted(), 2);
}
