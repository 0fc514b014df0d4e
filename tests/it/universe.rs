//! Universe domains: the universe names the default endpoint, and credentials of another
//! universe fail the first call, naming both, before anything is sent.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{HeaderMap, HeaderValue};
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use support::{SharedProvider, op};

/// Sends `Bearer universe-token` and belongs to `universe` (`None`: the default one);
/// counts how often it was asked for its universe.
#[derive(Debug)]
struct Provider {
    universe: Option<&'static str>,
    tag: EntityTag,
    asked_universe: AtomicUsize,
}

impl Provider {
    fn new(universe: Option<&'static str>) -> Arc<Self> {
        Arc::new(Self {
            universe,
            tag: EntityTag::new(),
            asked_universe: AtomicUsize::new(0),
        })
    }
}

impl CredentialsProvider for Provider {
    async fn headers(
        &self,
        _: http::Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer universe-token"),
        );
        Ok(CacheableResource::New {
            entity_tag: self.tag.clone(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        self.asked_universe.fetch_add(1, Ordering::SeqCst);
        self.universe.map(str::to_owned)
    }
}

/// A client of `emulator` in `universe` (none: the default one) with `provider`'s
/// credentials.
async fn client_with(
    emulator: &Emulator,
    universe: Option<&str>,
    provider: &Arc<Provider>,
) -> OperationsClient {
    let mut builder = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .credentials(Credentials::from(SharedProvider(provider.clone())));
    if let Some(universe) = universe {
        builder = builder.universe_domain(universe);
    }
    builder.build().unwrap()
}

async fn emulator() -> Emulator {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("u")));
    emulator
}

#[tokio::test]
async fn the_universe_domain_names_the_default_endpoint() {
    // Nothing listens on port 443 of 127.0.0.2, so the connection is refused; the message
    // names where the client went. `resolve` keeps DNS out of it, for the public
    // universe's host too should the client go there.
    let nowhere = [SocketAddr::from(([127, 0, 0, 2], 443))];
    let client = OperationsClient::builder()
        .universe_domain("sovereign.example")
        .resolve("cloudaicompanion.sovereign.example", nowhere)
        .resolve("cloudaicompanion.googleapis.com", nowhere)
        .anonymous()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();

    let err = client.get_operation(op("u")).await.unwrap_err();

    assert!(err.is_transport(), "{err:?}");
    assert!(
        err.to_string()
            .contains("cloudaicompanion.sovereign.example:443"),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_of_another_universe_fail_the_first_call_naming_both() {
    let emulator = emulator().await;
    let provider = Provider::new(None);
    let client = client_with(&emulator, Some("sovereign.example"), &provider).await;

    let first = client.get_operation(op("u")).await.unwrap_err();
    let second = client.get_operation(op("u")).await.unwrap_err();

    assert!(first.is_credentials(), "{first:?}");
    let message = first.to_string();
    assert!(
        message.contains("the client's universe domain is sovereign.example")
            && message.contains("the credentials' is googleapis.com"),
        "{message}"
    );
    assert_eq!(second.to_string(), message);
    assert!(emulator.journal().is_empty(), "nothing was sent");
    assert_eq!(
        provider.asked_universe.load(Ordering::SeqCst),
        1,
        "the universe is asked once and remembered"
    );
}

#[tokio::test]
async fn credentials_of_the_clients_universe_are_sent() {
    let emulator = emulator().await;
    let provider = Provider::new(Some("sovereign.example"));
    let client = client_with(&emulator, Some("sovereign.example"), &provider).await;

    client.get_operation(op("u")).await.unwrap();
    client.get_operation(op("u")).await.unwrap();

    let journal = emulator.journal();
    assert_eq!(journal.len(), 2);
    assert_eq!(
        journal[0].header("authorization"),
        Some("Bearer universe-token")
    );
    assert_eq!(provider.asked_universe.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn credentials_of_the_default_universe_pass_in_the_default_universe() {
    let emulator = emulator().await;
    let provider = Provider::new(Some("googleapis.com"));
    let client = client_with(&emulator, None, &provider).await;

    client.get_operation(op("u")).await.unwrap();

    assert_eq!(emulator.journal().len(), 1);
}

#[tokio::test]
async fn anonymous_credentials_skip_the_check() {
    let emulator = emulator().await;
    // google-cloud-auth's anonymous credentials say they are of googleapis.com, but send
    // nothing, so nothing can reach the wrong universe.
    let anonymous = google_cloud_auth::credentials::anonymous::Builder::new().build();
    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .universe_domain("sovereign.example")
        .credentials(anonymous)
        .build()
        .unwrap();
    let none = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .universe_domain("sovereign.example")
        .anonymous()
        .build()
        .unwrap();

    client.get_operation(op("u")).await.unwrap();
    none.get_operation(op("u")).await.unwrap();

    assert_eq!(emulator.journal().len(), 2);
}
