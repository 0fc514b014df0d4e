//! Manage Google long-running operations over native gRPC.
//!
//! Google APIs return long-running operations (LROs) and serve the
//! `google.longrunning.Operations` service beside them. This crate wraps the generated tonic
//! client for that service with what Google front ends expect: credentials from
//! [`google-cloud-auth`](google_cloud_auth), the `x-goog-request-params` routing header,
//! `x-goog-api-client`, `x-goog-user-project`, deadlines, retries and polling.
//!
//! # The cancel contract
//!
//! [`OperationsClient::cancel_operation`] only *requests* cancellation: it is asynchronous and
//! best effort, and a server that does not support it answers `UNIMPLEMENTED`. Whether it worked
//! is learned from `GetOperation`: `done` with `error.code == 1` (`CANCELLED`) means cancelled
//! (the operation is kept, not deleted); `done` with a `response` means it completed anyway;
//! `done == false` means it is still running.
//!
//! # Quick start
//!
//! ```no_run
//! use longrunning_grpc::OperationsClient;
//!
//! # async fn run() -> Result<(), longrunning_grpc::Error> {
//! // Application Default Credentials, https://cloudaicompanion.googleapis.com.
//! let client = OperationsClient::builder().build().await?;
//! client
//!     .cancel_operation("projects/my-project/locations/global/operations/operation-123")
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Credentials
//!
//! - Application Default Credentials are the default ([`OperationsClientBuilder::build`]
//!   creates them).
//! - [`OperationsClientBuilder::credentials`] takes any
//!   [`google_cloud_auth::credentials::Credentials`], including your own
//!   [`CredentialsProvider`](google_cloud_auth::credentials::CredentialsProvider).
//! - [`OperationsClientBuilder::access_token`] sends a static bearer token.
//! - [`OperationsClientBuilder::anonymous`] sends no credentials (local servers).
//!
//! Credentials other than anonymous are never sent over plaintext `http://` to a host that is
//! not loopback unless [`OperationsClientBuilder::allow_insecure`] says so.
//!
//! # Errors
//!
//! Every call returns [`Error`]: invalid input (reported before anything is sent),
//! credentials, transport, deadline, or a server status with its gRPC code and the decoded
//! `google.rpc` error details.
//!
//! # Cargo features
//!
//! - `webpki-roots` (default): trust the Mozilla roots bundled by `webpki-roots` for TLS.
//! - `native-roots`: trust the operating system's root certificates.
//! - `emulator`: an in-process `google.longrunning.Operations` server for tests.
//! - `cli`: the `lro` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod client;
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;
mod error;
mod headers;
mod name;
mod operation;
pub mod pb;
mod retry;
mod transport;

pub use auth::{AuthLayer, AuthService, CredentialsFailed, StaticToken};
pub use client::{
    CLOUD_PLATFORM_SCOPE, Call, DEFAULT_ENDPOINT, ListOperations, Listing, OperationsClient,
    OperationsClientBuilder, Page,
};
pub use error::{Error, ErrorDetails, code_name};
pub use headers::API_CLIENT_VALUE;
pub use name::{MAX_NAME_LEN, OperationName, routing_header, validate_name};
pub use operation::{CancelOutcome, Polled};
pub use retry::{Backoff, PollingPolicy, PollingPolicyBuilder, RetryPolicy, RetryPolicyBuilder};
pub use transport::Transport;

/// Re-exported so users name the same versions this crate was built with.
pub use google_cloud_auth;
/// Re-exported so users name the same versions this crate was built with.
pub use prost_types;
/// Re-exported so users name the same versions this crate was built with.
pub use tonic;
