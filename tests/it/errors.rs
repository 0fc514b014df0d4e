//! Errors carry the gRPC code, the message, the decoded details and the operation's name.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use google_cloud_auth::credentials::{CacheableResource, Credentials, CredentialsProvider};
use google_cloud_auth::errors::CredentialsError;
use longrunning_grpc::Error;
use longrunning_grpc::emulator::{Emulator, Fault, Method, OnCancel, ScriptedOperation};
use longrunning_grpc::pb::rpc::ErrorInfo;
use prost_types::Any;
use support::op;
use tonic::Code;

#[test]
fn error_is_send_sync_and_static() {
    fn check<T: Send + Sync + 'static + std::error::Error>() {}
    check::<Error>();
}

#[tokio::test]
async fn unimplemented_cancel_answers_is_unimplemented() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("no-cancel");
    emulator.insert(ScriptedOperation::new(&name).on_cancel(OnCancel::Unsupported));
    let client = support::client(&emulator).await;

    let err = client.cancel_operation(&name).await.unwrap_err();

    assert!(err.is_unimplemented(), "{err:?}");
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(err.method(), Some("CancelOperation"));
    assert_eq!(err.name(), Some(name.as_str()));
    assert_eq!(
        emulator.count(Method::Cancel),
        1,
        "UNIMPLEMENTED is not retried"
    );
}

#[tokio::test]
async fn permission_denied_with_error_info_is_decoded() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));
    let info = ErrorInfo {
        reason: "IAM_PERMISSION_DENIED".into(),
        domain: "cloudaicompanion.googleapis.com".into(),
        metadata: HashMap::from([(
            "permission".to_owned(),
            "cloudaicompanion.operations.cancel".to_owned(),
        )]),
    };
    emulator.inject(
        Fault::new(Code::PermissionDenied, 1)
            .message("Permission 'cloudaicompanion.operations.cancel' denied")
            .detail(Any::from_msg(&info).unwrap()),
    );
    let client = support::client(&emulator).await;

    let err = client.cancel_operation(&name).await.unwrap_err();

    assert!(err.is_permission_denied());
    assert!(err.is_status());
    assert_eq!(
        err.message(),
        Some("Permission 'cloudaicompanion.operations.cancel' denied")
    );
    assert_eq!(err.details().error_info.as_ref(), Some(&info));
    let shown = err.to_string();
    assert_eq!(
        shown,
        format!(
            "server returned PERMISSION_DENIED: Permission 'cloudaicompanion.operations.cancel' \
             denied in CancelOperation for {name:?}"
        )
    );
    assert!(shown.chars().next().unwrap().is_lowercase() && !shown.ends_with('.'));
}

#[derive(Debug)]
struct FailingProvider {
    asked: Arc<AtomicUsize>,
}

impl CredentialsProvider for FailingProvider {
    async fn headers(
        &self,
        _: http::Extensions,
    ) -> Result<CacheableResource<http::HeaderMap>, CredentialsError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Err(CredentialsError::from_msg(
            true,
            "token endpoint unreachable",
        ))
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn credentials_failure_is_a_credentials_error_and_nothing_is_sent() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));
    let asked = Arc::new(AtomicUsize::new(0));
    let client = support::builder(&emulator)
        .credentials(Credentials::from(FailingProvider {
            asked: asked.clone(),
        }))
        .build()
        .unwrap();

    let err = client.cancel_operation(&name).await.unwrap_err();

    assert!(err.is_credentials(), "{err:?}");
    assert!(!err.is_transport());
    assert!(
        err.to_string().contains("token endpoint unreachable"),
        "{err}"
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "a credentials failure is not retried"
    );
    assert!(emulator.journal().is_empty());
}

#[tokio::test]
async fn not_found_names_the_operation() {
    let emulator = Emulator::start().await.unwrap();
    let client = support::client(&emulator).await;

    let err = client.get_operation(op("missing")).await.unwrap_err();

    assert!(err.is_not_found());
    assert!(err.to_string().contains("operations/missing"), "{err}");
}
