//! The connections the builder opens: a burst on a new client shares one connection attempt
//! per pool slot, and a handshake that stalls is cut by the connect timeout.

mod support;

use std::time::{Duration, Instant};

use longrunning_grpc::RetryPolicy;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use support::{op, peers};

async fn burst_on_a_new_client(connections: usize) -> usize {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("op-1")));
    let client = support::builder(&emulator)
        .connections(connections)
        .build()
        .await
        .unwrap();

    // Every call starts before any connection exists.
    let calls: Vec<_> = (0..100)
        .map(|_| tokio::spawn(client.get_operation(op("op-1"))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

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

#[tokio::test]
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
        .await
        .unwrap();

    let started = Instant::now();
    let err = client.get_operation(op("op-1")).await.unwrap_err();
    let took = started.elapsed();

    assert!(err.is_transport() && err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("connect timeout"), "{err}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    held.abort();
}
