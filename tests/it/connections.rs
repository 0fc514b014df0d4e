//! The connections the builder opens: a burst on a new client shares one connection attempt
//! per pool slot, a burst past 1,024 calls per connection waits for room, and a handshake
//! that stalls is cut by the connect timeout, and responses keep flowing past the
//! flow-control windows.

use crate::support;
use crate::support::holding_server;

use std::time::Duration;

use tokio::time::Instant;

use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
use longrunning_grpc::pb::operation::Result;
use longrunning_grpc::policy::RetryPolicy;
use support::{op, peers};

/// Starts `n` GetOperation calls for `id` at once, each its own task, and waits for all of
/// them to succeed.
async fn get_all_at_once(client: &OperationsClient, id: &str, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|_| tokio::spawn(client.get_operation(op(id))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
}

async fn burst_on_a_new_client(connections: usize) -> usize {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("op-1")));
    let client = support::builder(&emulator)
        .connections(connections)
        .build()
        .unwrap();

    // Every call starts before any connection exists.
    get_all_at_once(&client, "op-1", 100).await;

    assert_eq!(emulator.journal().len(), 100);
    peers(&emulator).len()
}

#[tokio::test]
async fn a_burst_on_a_new_client_shares_one_connection_attempt() {
    assert_eq!(burst_on_a_new_client(1).await, 1);
}

#[tokio::test]
async fn a_burst_on_a_new_pool_opens_each_connection_once() {
    assert_eq!(burst_on_a_new_client(3).await, 3);
}

#[tokio::test(start_paused = true)]
async fn a_tls_handshake_that_stalls_is_cut_by_the_connect_timeout() {
    // Accepts TCP connections and never says a word, so the TLS handshake cannot finish.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let client = longrunning_grpc::OperationsClient::builder()
        .endpoint(format!("https://{addr}"))
        .anonymous()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(30))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let started = Instant::now();
    let err = client.get_operation(op("op-1")).await.unwrap_err();
    let took = started.elapsed();

    assert!(err.is_transport() && err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("connect timeout"), "{err}");
    // Paused time: the connect timeout, not the call's 30 s deadline, ended it.
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(1),
        "took {took:?}"
    );
    held.abort();
}

#[tokio::test]
async fn a_burst_beyond_1024_calls_per_connection_waits_for_room() {
    // The server would take all 1,500 at once and holds each until the gate opens; only
    // the client's bound holds some back.
    let (addr, held, gate) = holding_server::serve(4096).await;
    let client = support::builder_at(addr)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let calls: Vec<_> = (0..1500)
        .map(|_| tokio::spawn(client.get_operation(op("op-1"))))
        .collect();

    // Counted, not timed: the test task yields (so the runtime never idles) until the
    // server holds 1,024, then yields many more times, which would let any further
    // request in, before the gate opens.
    let bound = std::time::Instant::now();
    while held.in_hand() < 1024 {
        assert!(
            bound.elapsed() < Duration::from_secs(60),
            "only {} arrived",
            held.in_hand()
        );
        tokio::task::yield_now().await;
    }
    for _ in 0..20_000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(held.in_hand(), 1024, "calls in the server's hands at once");
    gate.open();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(held.answered(), 1500);
    assert_eq!(held.peak(), 1024, "calls in the server's hands at once");
}

#[tokio::test]
async fn responses_beyond_the_flow_control_windows_keep_flowing() {
    // 3 MiB responses, over the 2 MiB window the client grants a stream, three of them on
    // one connection (over its 5 MiB window): each response's bytes must go back to the
    // windows as they are read, or the first would stall at 2 MiB until the deadline.
    let size = 3 << 20;
    let emulator = Emulator::start().await.unwrap();
    let big = prost_types::Any {
        type_url: "type.googleapis.com/google.protobuf.BytesValue".into(),
        value: vec![7; size],
    };
    emulator.insert(
        ScriptedOperation::new(op("big"))
            .completion(Completion::Immediately)
            .response(big),
    );
    let client = support::builder(&emulator)
        .timeout(Duration::from_secs(5))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    for call in 0..3 {
        let operation = client.get_operation(op("big")).await;
        let operation = operation.unwrap_or_else(|e| panic!("call {call}: {e}"));
        let Some(Result::Response(response)) = operation.result else {
            panic!("call {call}: no response");
        };
        assert_eq!(response.value.len(), size, "call {call}");
    }
    assert_eq!(peers(&emulator).len(), 1, "one connection");
}
