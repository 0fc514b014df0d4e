//! Helpers shared by the integration tests: an emulator and a client pointed at it.
#![allow(dead_code)]

use std::time::Duration;

use longrunning_grpc::emulator::Emulator;
use longrunning_grpc::{OperationsClient, OperationsClientBuilder, RetryPolicy};

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

/// An anonymous client for `emulator`.
pub async fn client(emulator: &Emulator) -> OperationsClient {
    builder(emulator).build().await.expect("client builds")
}

/// A retry policy without jitter, so delays are exact.
pub fn exact_retries() -> RetryPolicy {
    RetryPolicy::builder().jitter(false).build().unwrap()
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
