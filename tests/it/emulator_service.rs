//! The emulator as a service any test can use: the standard health service and server
//! reflection, checked with tonic-health's and tonic-reflection's own clients, and the
//! admin service (insert, faults, journal with secrets masked, reset).

use crate::support;

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::pb::admin::{self, admin_client::AdminClient};
use support::op;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

async fn channel(emulator: &Emulator) -> Channel {
    Channel::from_shared(emulator.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn health_says_serving_for_the_server_and_each_service() {
    let emulator = Emulator::start().await.unwrap();
    let mut health = HealthClient::new(channel(&emulator).await);

    for service in [
        "",
        "google.longrunning.Operations",
        "longrunning_grpc.emulator.v1.Admin",
    ] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_services_and_describe_operations() {
    use tonic_reflection::pb::{v1, v1alpha};
    let emulator = Emulator::start().await.unwrap();
    let channel = channel(&emulator).await;

    let mut v1 = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let asks = futures_util::stream::iter([
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "google.longrunning.Operations".into(),
                ),
            ),
        },
    ]);
    let answers: Vec<_> = v1
        .server_reflection_info(asks)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let ask = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let alpha_answers: Vec<_> = alpha
        .server_reflection_info(futures_util::stream::iter([ask]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;

    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answers[0].as_ref().unwrap().message_response.clone()
    else {
        panic!("{answers:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "google.longrunning.Operations",
        "longrunning_grpc.emulator.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&service), "{service} in {names:?}");
    }
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        answers[1].as_ref().unwrap().message_response.clone()
    else {
        panic!("{answers:?}");
    };
    let file: prost_types::FileDescriptorProto =
        prost::Message::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
    assert_eq!(file.name(), "google/longrunning/operations.proto");
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        alpha_answers[0].as_ref().unwrap().message_response.clone()
    else {
        panic!("{alpha_answers:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "google.longrunning.Operations")
    );
}

#[tokio::test]
async fn the_admin_service_inserts_injects_reads_the_journal_and_resets() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hooked = seen.clone();
    let emulator = Emulator::builder()
        .on_received(move |received| hooked.lock().unwrap().push(received.name.clone()))
        .start()
        .await
        .unwrap();
    let channel = channel(&emulator).await;
    let mut admin = AdminClient::new(channel.clone());
    let client = longrunning_grpc::OperationsClient::builder()
        .channel(channel)
        .access_token("secret-token-value")
        .retry_policy(longrunning_grpc::policy::RetryPolicy::never())
        .build()
        .unwrap();

    let inserted = admin
        .insert_operation(admin::InsertOperationRequest {
            name: op("admin"),
            complete: Some(admin::insert_operation_request::Complete::AfterPolls(2)),
            on_cancel: admin::OnCancel::Ignore as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    admin
        .inject_fault(admin::InjectFaultRequest {
            method: "GetOperation".into(),
            code: 14,
            count: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let faulted = client.get_operation(op("admin")).await.unwrap_err();
    let first = client.get_operation(op("admin")).await.unwrap();
    let second = client.get_operation(op("admin")).await.unwrap();
    let journal = admin
        .read_journal(admin::ReadJournalRequest {})
        .await
        .unwrap()
        .into_inner();
    admin.reset(admin::ResetRequest {}).await.unwrap();
    let gone = client.get_operation(op("admin")).await.unwrap_err();
    let bad = admin
        .inject_fault(admin::InjectFaultRequest {
            code: 0,
            count: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();

    assert_eq!(inserted.name, op("admin"));
    assert!(!inserted.done);
    assert!(faulted.is_unavailable(), "{faulted:?}");
    assert!(!first.done && second.done, "done at the second poll");
    assert_eq!(journal.entries.len(), 3);
    let entry = &journal.entries[0];
    assert_eq!(
        (
            entry.method.as_str(),
            entry.name.as_str(),
            entry.code.as_str()
        ),
        ("GetOperation", op("admin").as_str(), "UNAVAILABLE")
    );
    assert_eq!(entry.headers["authorization"], "Bearer [masked]");
    assert!(entry.unix_ms > 1_700_000_000_000, "{}", entry.unix_ms);
    assert!(gone.is_not_found(), "{gone:?}");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "every Operations call, to the hook"
    );
    assert!(
        emulator.journal().len() == 1,
        "reset forgot the journal too"
    );
}

#[tokio::test]
async fn the_journal_masks_credentials_and_keeps_other_headers() {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("m")));
    let client = support::builder(&emulator)
        .access_token("ya29.very-secret")
        .quota_project("billing-project")
        .build()
        .unwrap();
    client.get_operation(op("m")).await.unwrap();

    let headers = emulator.journal()[0].masked_headers();
    let shown = format!("{headers:?}");
    assert!(!shown.contains("very-secret"), "{shown}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer [masked]")
    );
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-goog-user-project" && v == "billing-project")
    );
}
