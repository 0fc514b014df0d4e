//! The client shares a channel with other tonic clients and takes tower layers in front.

use crate::support;

use std::time::Duration;

use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::pb::operations_client::OperationsClient as RawClient;
use longrunning_grpc::{OperationsClient, pb};
use support::op;
use tonic::transport::Channel;

#[tokio::test]
async fn one_channel_serves_the_wrapped_and_the_raw_client() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("shared");
    emulator.insert(ScriptedOperation::new(&name));
    let channel = Channel::from_shared(emulator.endpoint())
        .unwrap()
        .connect_lazy();

    let client = OperationsClient::builder()
        .channel(channel.clone())
        .anonymous()
        .build()
        .unwrap();
    let mut raw = RawClient::new(channel);

    client.cancel_operation(&name).await.unwrap();
    let op = raw
        .get_operation(pb::GetOperationRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(op.is_cancelled());
    let journal = emulator.journal();
    assert_eq!(journal.len(), 2);
    assert!(journal[0].header("x-goog-request-params").is_some());
    assert!(
        journal[1].header("x-goog-request-params").is_none(),
        "raw stub sends none"
    );
}

#[tokio::test]
async fn tower_layers_can_sit_in_front_of_the_client() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("layered");
    emulator.insert(ScriptedOperation::new(&name));
    let channel = Channel::from_shared(emulator.endpoint())
        .unwrap()
        .connect_lazy();
    let service = tower::ServiceBuilder::new()
        .concurrency_limit(2)
        .timeout(Duration::from_secs(5))
        .service(channel);

    let client = OperationsClient::builder()
        .anonymous()
        .build_with_service(service)
        .unwrap();
    let calls = (0..8).map(|_| tokio::spawn(client.get_operation(name.clone())));
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(emulator.journal().len(), 8);
}

#[tokio::test]
async fn a_pool_spreads_calls_over_several_connections() {
    let emulator = Emulator::builder()
        .max_concurrent_streams(10)
        .start()
        .await
        .unwrap();
    let name = op("pooled");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.set_latency(Duration::from_millis(20));
    let client = support::builder(&emulator).connections(4).build().unwrap();

    let calls: Vec<_> = (0..200)
        .map(|_| tokio::spawn(client.get_operation(name.clone())))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    let peers = support::peers(&emulator);
    assert_eq!(peers.len(), 4, "{peers:?}");
}

#[tokio::test]
async fn one_connection_by_default() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("single");
    emulator.insert(ScriptedOperation::new(&name));
    emulator.set_latency(Duration::from_millis(20));
    let client = support::client(&emulator).await;

    let calls: Vec<_> = (0..50)
        .map(|_| tokio::spawn(client.get_operation(name.clone())))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(support::peers(&emulator).len(), 1);
}
