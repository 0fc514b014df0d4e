//! The auth layer reuses the credentials' last headers for the check interval, asks again
//! after it, picks up a rotated token then, and never caches a failure.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{HeaderMap, HeaderValue};
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
use longrunning_grpc::policy::RetryPolicy;
use support::{SharedProvider, op};

/// Answers with its current token (a new tag whenever it changes), counting each question;
/// fails while `failures` is above zero.
#[derive(Debug)]
struct Provider {
    token: Mutex<(String, EntityTag)>,
    asked: AtomicUsize,
    failures: AtomicUsize,
}

impl Provider {
    fn new(token: &str) -> Arc<Self> {
        Arc::new(Self {
            token: Mutex::new((token.to_owned(), EntityTag::new())),
            asked: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        })
    }

    fn rotate(&self, token: &str) {
        *self.token.lock().unwrap() = (token.to_owned(), EntityTag::new());
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl CredentialsProvider for Provider {
    async fn headers(
        &self,
        extensions: http::Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(CredentialsError::from_msg(true, "token endpoint down"));
        }
        let (token, tag) = self.token.lock().unwrap().clone();
        if extensions.get::<EntityTag>() == Some(&tag) {
            return Ok(CacheableResource::NotModified);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::try_from(format!("Bearer {token}")).unwrap(),
        );
        Ok(CacheableResource::New {
            entity_tag: tag,
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

async fn setup(provider: &Arc<Provider>) -> (Emulator, OperationsClient) {
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("op-1")));
    let client = support::builder(&emulator)
        .credentials(Credentials::from(SharedProvider(provider.clone())))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    (emulator, client)
}

fn tokens_sent(emulator: &Emulator) -> Vec<String> {
    emulator
        .journal()
        .iter()
        .map(|call| call.header("authorization").unwrap_or("<none>").to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn headers_are_reused_within_the_check_interval_and_asked_for_again_after_it() {
    let provider = Provider::new("t-1");
    let (emulator, client) = setup(&provider).await;

    for _ in 0..5 {
        client.get_operation(op("op-1")).await.unwrap();
    }
    assert_eq!(provider.asked(), 1, "five calls inside 1 s ask once");

    tokio::time::sleep(Duration::from_millis(1001)).await;
    client.get_operation(op("op-1")).await.unwrap();
    client.get_operation(op("op-1")).await.unwrap();

    assert_eq!(provider.asked(), 2, "the interval passed: asked once more");
    assert_eq!(tokens_sent(&emulator), vec!["Bearer t-1"; 7]);
}

#[tokio::test(start_paused = true)]
async fn a_rotated_token_is_sent_once_the_check_interval_passes() {
    let provider = Provider::new("old");
    let (emulator, client) = setup(&provider).await;

    client.get_operation(op("op-1")).await.unwrap();
    provider.rotate("new");
    client.get_operation(op("op-1")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.get_operation(op("op-1")).await.unwrap();

    assert_eq!(
        tokens_sent(&emulator),
        ["Bearer old", "Bearer old", "Bearer new"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_credentials_failure_is_not_cached() {
    let provider = Provider::new("t-1");
    provider.failures.store(1, Ordering::SeqCst);
    let (emulator, client) = setup(&provider).await;

    let err = client.get_operation(op("op-1")).await.unwrap_err();
    assert!(err.is_credentials(), "{err:?}");
    client.get_operation(op("op-1")).await.unwrap();

    assert_eq!(provider.asked(), 2, "the failure was asked again at once");
    assert_eq!(tokens_sent(&emulator), ["Bearer t-1"]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_check_interval_asks_the_credentials_on_every_call() {
    let provider = Provider::new("t-1");
    let emulator = Emulator::start().await.unwrap();
    emulator.insert(ScriptedOperation::new(op("op-1")));
    let client = support::builder(&emulator)
        .credentials(Credentials::from(SharedProvider(provider.clone())))
        .credentials_check_interval(Duration::ZERO)
        .build()
        .unwrap();

    for _ in 0..4 {
        client.get_operation(op("op-1")).await.unwrap();
    }

    assert_eq!(provider.asked(), 4);
    assert_eq!(tokens_sent(&emulator), vec!["Bearer t-1"; 4]);
}
