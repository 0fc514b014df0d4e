//! The request headers Google front ends expect, besides the credentials'.

use tonic::metadata::AsciiMetadataValue;

/// Routes the request to the right backend: `name=<percent-encoded name>`.
pub(crate) const REQUEST_PARAMS: &str = "x-goog-request-params";
/// Identifies the client library and its runtime.
pub(crate) const API_CLIENT: &str = "x-goog-api-client";
/// The project billed for quota.
pub(crate) const USER_PROJECT: &str = "x-goog-user-project";

/// The value of `x-goog-api-client`: `gl-rust/<rustc> grpc/<tonic> longrunning-grpc/<crate>`.
///
/// `<tonic>` is the major.minor of tonic this crate is built against (Cargo resolves a
/// semver-compatible release; tonic's own `user-agent` header names the exact one).
pub const API_CLIENT_VALUE: &str = concat!(
    "gl-rust/",
    env!("LRO_RUSTC_VERSION"),
    " grpc/0.14 longrunning-grpc/",
    env!("CARGO_PKG_VERSION")
);

pub(crate) fn api_client() -> AsciiMetadataValue {
    AsciiMetadataValue::from_static(API_CLIENT_VALUE)
}
