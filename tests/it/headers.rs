//! Every call carries the method path and the headers Google front ends expect.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{HeaderMap, HeaderValue};
use longrunning_grpc::OperationsClient;
use longrunning_grpc::emulator::{Emulator, Method, ScriptedOperation};
use support::{op, parse_grpc_timeout};

/// The version of tonic in Cargo.lock, as major.minor.
fn tonic_minor_from_lock() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    let at = lock
        .find("name = \"tonic\"\nversion = \"")
        .expect("tonic in lock");
    let rest = &lock[at + "name = \"tonic\"\nversion = \"".len()..];
    let version = &rest[..rest.find('"').unwrap()];
    let mut parts = version.split('.');
    format!("{}.{}", parts.next().unwrap(), parts.next().unwrap())
}

fn rustc_version() -> String {
    let out = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .expect("rustc runs");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn cancel_sends_method_path_and_every_google_header_byte_for_byte() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));
    let client = OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .access_token("test-token-123")
        .quota_project("billing-project")
        .build()
        .unwrap();

    client.cancel_operation(&name).await.unwrap();

    let journal = emulator.journal();
    assert_eq!(journal.len(), 1);
    let call = &journal[0];
    assert_eq!(call.method, Method::Cancel);
    assert_eq!(call.path, "/google.longrunning.Operations/CancelOperation");
    assert_eq!(call.name, name);
    assert_eq!(call.header("authorization"), Some("Bearer test-token-123"));
    assert_eq!(
        call.header("x-goog-request-params"),
        Some("name=projects%2Ftest-project%2Flocations%2Fus-central1%2Foperations%2Fop-1")
    );
    let expected_api_client = format!(
        "gl-rust/{} grpc/{} longrunning-grpc/{}",
        rustc_version(),
        tonic_minor_from_lock(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        call.header("x-goog-api-client"),
        Some(expected_api_client.as_str())
    );
    assert_eq!(call.header("x-goog-user-project"), Some("billing-project"));
    assert_eq!(call.header("content-type"), Some("application/grpc"));
}

#[tokio::test]
async fn routing_header_percent_encodes_reserved_characters() {
    let emulator = Emulator::start().await.unwrap();
    let name = "projects/p/locations/l/operations/a:b@c%d&e=f+g~h.i_j-k";
    emulator.insert(ScriptedOperation::new(name));
    let client = support::client(&emulator).await;

    client.get_operation(name).await.unwrap();

    assert_eq!(
        emulator.journal()[0].header("x-goog-request-params"),
        Some("name=projects%2Fp%2Flocations%2Fl%2Foperations%2Fa%3Ab%40c%25d%26e%3Df%2Bg~h.i_j-k")
    );
}

#[tokio::test]
async fn every_method_sends_the_routing_and_api_client_headers() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::client(&emulator).await;

    client.get_operation(&name).await.unwrap();
    client
        .list_operations(support::PARENT)
        .page("")
        .await
        .unwrap();
    client
        .wait_operation(&name, Duration::from_millis(1))
        .await
        .unwrap();
    client.cancel_operation(&name).await.unwrap();
    client.delete_operation(&name).await.unwrap();

    let journal = emulator.journal();
    let methods: Vec<_> = journal.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        methods,
        [
            "/google.longrunning.Operations/GetOperation",
            "/google.longrunning.Operations/ListOperations",
            "/google.longrunning.Operations/WaitOperation",
            "/google.longrunning.Operations/CancelOperation",
            "/google.longrunning.Operations/DeleteOperation",
        ]
    );
    for call in &journal {
        // Written out, not computed by the crate: these names hold only unreserved
        // characters and '/', which must travel as %2F.
        let expected = format!("name={}", call.name.replace('/', "%2F"));
        assert_eq!(
            call.header("x-goog-request-params"),
            Some(expected.as_str()),
            "{call:?}"
        );
        assert_eq!(
            call.header("x-goog-api-client"),
            Some(longrunning_grpc::OperationsClient::API_CLIENT)
        );
        assert_eq!(call.header("authorization"), None, "anonymous sends none");
        assert_eq!(
            call.header("x-goog-user-project"),
            None,
            "no quota project set"
        );
    }
}

#[tokio::test]
async fn deadline_is_sent_as_grpc_timeout() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));
    let client = support::builder(&emulator)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();

    client.get_operation(&name).await.unwrap();
    client
        .with_timeout(Duration::from_millis(700))
        .get_operation(&name)
        .await
        .unwrap();
    client.get_operation(&name).await.unwrap();

    // A first attempt carries the client's timeout itself, so the value repeats from call to
    // call (and HPACK sends it as one byte); retries carry the time left (tests/retry.rs).
    let sent: Vec<String> = emulator
        .journal()
        .iter()
        .map(|c| c.header("grpc-timeout").expect("grpc-timeout").to_owned())
        .collect();
    assert_eq!(parse_grpc_timeout(&sent[0]), Duration::from_secs(3));
    assert_eq!(parse_grpc_timeout(&sent[1]), Duration::from_millis(700));
    assert_eq!(sent[2], sent[0]);
}

/// A provider that counts how often it is asked and answers with a cached tag.
#[derive(Debug)]
struct CountingProvider {
    asked: Arc<AtomicUsize>,
    tag: EntityTag,
}

impl CredentialsProvider for CountingProvider {
    async fn headers(
        &self,
        extensions: http::Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if extensions.get::<EntityTag>() == Some(&self.tag) {
            return Ok(CacheableResource::NotModified);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer from-provider"),
        );
        headers.insert("x-custom-auth", HeaderValue::from_static("extra"));
        Ok(CacheableResource::New {
            entity_tag: self.tag.clone(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn custom_credentials_provider_headers_are_sent_on_every_call() {
    let emulator = Emulator::start().await.unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));
    let asked = Arc::new(AtomicUsize::new(0));
    let credentials = Credentials::from(CountingProvider {
        asked: asked.clone(),
        tag: EntityTag::new(),
    });
    let client = support::builder(&emulator)
        .credentials(credentials)
        .build()
        .unwrap();

    for _ in 0..3 {
        client.get_operation(&name).await.unwrap();
    }

    let journal = emulator.journal();
    assert_eq!(journal.len(), 3);
    for call in journal {
        assert_eq!(call.header("authorization"), Some("Bearer from-provider"));
        assert_eq!(call.header("x-custom-auth"), Some("extra"));
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "asked once; the headers are reused within the check interval"
    );
}

#[tokio::test]
async fn static_token_is_accepted_by_a_server_that_requires_it() {
    let emulator = Emulator::builder()
        .require_token("s3cret")
        .check_routing_header(true)
        .start()
        .await
        .unwrap();
    let name = op("op-1");
    emulator.insert(ScriptedOperation::new(&name));

    let good = support::builder(&emulator)
        .access_token("s3cret")
        .build()
        .unwrap();
    good.cancel_operation(&name).await.unwrap();

    let wrong = support::builder(&emulator)
        .access_token("other")
        .build()
        .unwrap();
    let err = wrong.cancel_operation(&name).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}
