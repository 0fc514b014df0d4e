//! Helpers shared by the integration tests: an emulator and a client pointed at it.
#![allow(dead_code)]

pub mod connect_proxy;
pub mod daemon;
pub mod frames;
pub mod give_up;
pub mod h2_server;
pub mod h2_slow;
pub mod holding_server;
pub mod lro;
pub mod nginx;
pub mod raw_server;
pub mod relay;
pub mod tinyproxy;
pub mod tls_server;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use longrunning_grpc::emulator::Emulator;
use longrunning_grpc::policy::RetryPolicy;
use longrunning_grpc::{OperationsClient, OperationsClientBuilder};

/// A name in the Gemini for Google Cloud pattern.
pub fn op(id: &str) -> String {
    format!("projects/test-project/locations/us-central1/operations/{id}")
}

pub const PARENT: &str = "projects/test-project/locations/us-central1";

/// A builder aimed at `emulator`, with anonymous credentials.
pub fn builder(emulator: &Emulator) -> OperationsClientBuilder {
    OperationsClient::builder()
        .endpoint(emulator.endpoint())
        .anonymous()
}

/// A builder aimed at a raw server on `addr`, with anonymous credentials.
pub fn builder_at(addr: std::net::SocketAddr) -> OperationsClientBuilder {
    OperationsClient::builder()
        .endpoint(format!("http://{addr}"))
        .anonymous()
}

/// A builder aimed at `emulator` over its in-process pipe, not a socket: for tests on
/// paused time, whose clock would run on while an answer waits in the kernel (shifting
/// polls, or firing a call's deadline on a busy machine).
pub fn pipe(emulator: &Emulator) -> OperationsClientBuilder {
    builder(emulator).channel(emulator.channel())
}

/// An anonymous client for `emulator` over its in-process pipe (see [`pipe`]).
pub async fn pipe_client(emulator: &Emulator) -> OperationsClient {
    pipe(emulator).build().expect("client builds")
}

/// An anonymous client for `emulator`.
pub async fn client(emulator: &Emulator) -> OperationsClient {
    builder(emulator).build().expect("client builds")
}

/// A retry policy without jitter, so delays are exact.
pub fn exact_retries() -> RetryPolicy {
    RetryPolicy::builder()
        .jitter(longrunning_grpc::policy::Jitter::None)
        .build()
        .unwrap()
}

/// Polling every second (no growth, no jitter) for at most `deadline`: `GetOperation`
/// only, so the looks a test counts are the polling schedule's.
pub fn polling_every_second(deadline: Duration) -> longrunning_grpc::policy::PollingPolicy {
    longrunning_grpc::policy::PollingPolicy::builder()
        .initial_delay(Duration::from_secs(1))
        .multiplier(1.0)
        .jitter(longrunning_grpc::policy::Jitter::None)
        .deadline(Some(deadline))
        .server_wait(None)
        .build()
        .unwrap()
}

/// Parses a `grpc-timeout` header value (e.g. `2999870u`) into a duration.
pub fn parse_grpc_timeout(value: &str) -> Duration {
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().expect("grpc-timeout digits");
    match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        other => panic!("unknown grpc-timeout unit {other:?}"),
    }
}

/// Everything a tracing subscriber writes, for tests that read the log.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The set of client addresses (one per HTTP/2 connection) in the emulator's journal.
pub fn peers(emulator: &Emulator) -> std::collections::HashSet<std::net::SocketAddr> {
    emulator.journal().iter().map(|c| c.peer.unwrap()).collect()
}

/// Lends a credentials provider to a client while the test keeps it to look at
/// (`Credentials::from` takes the provider by value).
#[derive(Debug)]
pub struct SharedProvider<P>(pub Arc<P>);

impl<P> google_cloud_auth::credentials::CredentialsProvider for SharedProvider<P>
where
    P: google_cloud_auth::credentials::CredentialsProvider + std::fmt::Debug + Send + Sync,
{
    async fn headers(
        &self,
        extensions: http::Extensions,
    ) -> Result<
        google_cloud_auth::credentials::CacheableResource<http::HeaderMap>,
        google_cloud_auth::errors::CredentialsError,
    > {
        self.0.headers(extensions).await
    }

    async fn universe_domain(&self) -> Option<String> {
        self.0.universe_domain().await
    }
}

/// A StringValue "x" inside `depth` Anys, encoded from the inside out in one pass (each
/// level re-encoded in turn would copy it `depth` times): what a hostile server can send
/// as an operation's metadata.
pub fn nested_any(depth: usize) -> prost_types::Any {
    use prost::Message;
    const ANY: &str = "type.googleapis.com/google.protobuf.Any";
    let mut inner = prost_types::Any {
        type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
        value: "x".to_owned().encode_to_vec(),
    }
    .encode_to_vec();
    let mut heads = Vec::with_capacity(depth);
    let mut len = inner.len();
    for _ in 1..depth {
        let mut head = Vec::new();
        prost::encoding::string::encode(1, &ANY.to_owned(), &mut head);
        prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut head);
        prost::encoding::encode_varint(len as u64, &mut head);
        len += head.len();
        heads.push(head);
    }
    let mut value = Vec::with_capacity(len);
    for head in heads.iter().rev() {
        value.extend_from_slice(head);
    }
    value.append(&mut inner);
    prost_types::Any {
        type_url: ANY.into(),
        value,
    }
}
