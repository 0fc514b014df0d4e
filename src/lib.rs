//! Manage Google long-running operations over native gRPC.
//!
//! Google APIs return long-running operations (LROs) and serve the
//! `google.longrunning.Operations` service beside them. This crate wraps the generated tonic
//! client for that service with what Google front ends expect: credentials from
//! [`google-cloud-auth`](google_cloud_auth), the `x-goog-request-params` routing header,
//! `x-goog-api-client`, `x-goog-user-project`, deadlines, retries and polling. Its first user
//! is the Gemini for Google Cloud API (`cloudaicompanion.googleapis.com`, names
//! `projects/{project}/locations/{location}/operations/{id}`), but any Google API that
//! serves this service works.
//!
//! # The cancel contract
//!
//! [`OperationsClient::cancel_operation`] only *requests* cancellation: it is asynchronous and
//! best effort, and a server that does not support it answers `UNIMPLEMENTED`. Whether it worked
//! is learned from `GetOperation`: `done` with `error.code == 1` (`CANCELLED`) means cancelled
//! (the operation is kept, not deleted); `done` with a `response` means it completed anyway;
//! `done == false` means it is still running. [`OperationsClient::cancel_and_wait`] does both
//! steps and returns a [`CancelOutcome`].
//!
//! # Quick start
//!
//! ```no_run
//! use longrunning_grpc::{CancelOutcome, OperationsClient};
//!
//! # async fn run() -> Result<(), longrunning_grpc::Error> {
//! // Application Default Credentials, https://cloudaicompanion.googleapis.com.
//! let client = OperationsClient::builder().build()?;
//! let name = "projects/my-project/locations/global/operations/operation-123";
//! client.cancel_operation(name).await?;
//! if let CancelOutcome::Cancelled(op) = client.cancel_and_wait(name).await? {
//!     println!("{} is cancelled", op.name);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every call checks the name before anything is sent ([`validate_name`]; [`OperationName`]
//! parses the Gemini pattern, and plain strings are accepted for other APIs), returns a
//! `'static` [`Call`] future you can spawn, and is traced with a `longrunning` span carrying
//! the method, the name, the final attempt and the status code.
//!
//! # Credentials
//!
//! - Application Default Credentials are the default ([`OperationsClientBuilder::build`]
//!   creates them, with the `cloud-platform` scope).
//! - [`OperationsClientBuilder::credentials`] takes any
//!   [`google_cloud_auth::credentials::Credentials`], including your own
//!   [`CredentialsProvider`](google_cloud_auth::credentials::CredentialsProvider).
//! - [`OperationsClientBuilder::access_token`] sends a static bearer token ([`StaticToken`](auth::StaticToken)).
//! - [`OperationsClientBuilder::anonymous`] sends no credentials (the emulator, local servers).
//!
//! The credentials' headers are reused for a second before they are asked for again
//! ([`OperationsClientBuilder::credentials_check_interval`]).
//!
//! Credentials other than anonymous are never sent over plaintext `http://` to a host that is
//! not loopback unless [`OperationsClientBuilder::allow_insecure`] says so. Tokens never appear
//! in `Debug`, errors or logs; header values holding them are marked sensitive.
//!
//! # Errors
//!
//! Every call returns [`Error`]: invalid input (reported before anything is sent, with
//! [`Error::is_invalid_input`]), credentials, transport, deadline, or a server status with
//! its gRPC [`code`](Error::code), message and the decoded `google.rpc`
//! [`details`](Error::details) (`ErrorInfo`, `RetryInfo`, …). Its `Display` is one line that
//! names the cause, e.g. `unavailable: the server refused the stream before processing it
//! (REFUSED_STREAM) in GetOperation for "…"`; `source()` keeps the underlying errors. The
//! predicates named after a code (`is_not_found`, …) hold exactly when [`Error::code`] is
//! that code; the others say where the error came from (the table in [`Error`]'s docs).
//!
//! # Retries, deadlines and polling
//!
//! Each call has a deadline ([`OperationsClientBuilder::timeout`], 10 s by default) that covers
//! every attempt and is sent as `grpc-timeout`. `UNAVAILABLE` (connection failures included)
//! is retried under the [`RetryPolicy`](policy::RetryPolicy): at most 5 attempts, 0.5 s doubling to 10 s with full
//! jitter, a server's `RetryInfo` setting the next delay and its `grpc-retry-pushback-ms`
//! trailer (gRPC A6) setting it too, or, negative or malformed, stopping the retries.
//! Retries are throttled adaptively for a client and its clones (the SRE book's rule over
//! the last two minutes: a service that fails everything sees about one attempt per call;
//! [`RetryPolicyBuilder::no_throttling`](policy::RetryPolicyBuilder::no_throttling) turns it
//! off). A `WaitOperation` call is never retried.
//!
//! Every wait ([`OperationsClient::poll_until_done`], `cancel_and_wait`, [`Poller`],
//! [`Waiter`](wait::Waiter), `lro wait`) runs under the [`PollingPolicy`](policy::PollingPolicy)
//! (1 s growing by 1.5 to 20 s, 15 minutes in all) and waits *on the server* where it can:
//! each look is a `WaitOperation` the server holds until the operation is done (up to 30 s,
//! never past the deadline), so completion is seen at once and a long wait costs a call per
//! hold rather than one per delay. A server that answers `UNIMPLEMENTED` is remembered by
//! the client (one call learns it) and its waits then poll `GetOperation`; one that answers
//! at once does not make a wait spin. A policy can also cancel what a wait gave up on
//! ([`PollingPolicyBuilder::cancel_on_deadline`](policy::PollingPolicyBuilder::cancel_on_deadline)).
//! Both policies are set per client and can be
//! overridden for one call with [`OperationsClient::with_retry_policy`] and
//! [`OperationsClient::with_polling_policy`].
//!
//! # Operation handles, and waiting on many
//!
//! [`OperationsClient::operation`] makes a [`Poller`] typed by the operation's response and
//! metadata, from a name or from the `Operation` any call returned: [`Poller::poll`] (one
//! `GetOperation`, none for an operation already done), [`Poller::until_done`] (the typed
//! response, or the error the operation finished with), [`Poller::into_stream`] (progress
//! as the metadata changes, then `Completed` once) and [`Poller::cancel`] (request, then
//! confirm). A wait is one `longrunning.wait` span around its calls' spans, which carry
//! OpenTelemetry's RPC fields (`rpc.system`, `rpc.service`, `rpc.method`,
//! `rpc.grpc.status_code`, `server.address`).
//!
//! ```no_run
//! use longrunning_grpc::OperationsClient;
//! use longrunning_grpc::prost_types::{Empty, Timestamp};
//!
//! # async fn run(client: OperationsClient) -> Result<(), longrunning_grpc::Error> {
//! let poller = client.operation::<Empty, Timestamp>("projects/p/locations/l/operations/o");
//! println!("waiting on {}", poller.name());
//! poller.until_done().await?;
//! # Ok(()) }
//! ```
//!
//! [`OperationsClient::wait_all`] waits on many at once on one scheduler
//! ([`Waiter`](wait::Waiter)), each on the policy's schedule, with a bound on calls in
//! flight (a held `WaitOperation` counts, so it holds calls only while every operation
//! can have one).
//!
//! Every wait that reaches the polling policy's deadline with the operation still running
//! ends the same way: an error that [`is_polling_deadline`](Error::is_polling_deadline),
//! carrying the operation as last seen ([`Error::operation`]).
//!
//! # Operations from your own tonic clients
//!
//! A Google API's own methods return `google.longrunning.Operation`. Generate their client
//! with `.google.longrunning` and `.google.rpc` mapped to this crate's [`pb`], and the
//! operation it returns is this crate's type, ready for [`OperationsClient::operation`].
//! The vendored protos (`google/longrunning/operations.proto` and what it imports) are
//! published to your build script as `DEP_LONGRUNNING_GRPC_INCLUDE` (this crate has
//! `links = "longrunning_grpc"`):
//!
//! ```ignore
//! // build.rs of a crate that depends on longrunning-grpc
//! let include = std::env::var("DEP_LONGRUNNING_GRPC_INCLUDE")?;
//! let fds = protox::compile(["proto/my/api/v1/service.proto"], ["proto", &include])?;
//! tonic_prost_build::configure()
//!     .extern_path(".google.longrunning", "::longrunning_grpc::pb")
//!     .extern_path(".google.rpc", "::longrunning_grpc::pb::rpc")
//!     .compile_fds(fds)?;
//! ```
//!
//! `examples/jobs` in the repository is a whole worked example, with the emulator hosting
//! a fake of the service beside `Operations` ([`emulator::EmulatorBuilder::add_service`]).
//!
//! # Connections
//!
//! By default the client opens its own HTTP/2 connections (rustls for `https://`), lazily,
//! and reconnects when one closes; a request a connection refuses before it goes out (after
//! a GOAWAY) is sent at once on a new connection. Google front ends allow about 100
//! concurrent streams per HTTP/2 connection; [`OperationsClientBuilder::connections`]
//! spreads calls over several. TLS trusts the roots chosen by the crate's features, plus
//! any CA given to [`OperationsClientBuilder::ca_certificate`].
//!
//! Every resolved address is tried, with Happy Eyeballs; after a failed connect the
//! connection waits out gRPC's connection backoff, and calls meanwhile fail at once (their
//! retries wait for the next attempt). A connection that goes silent is noticed when a
//! call's deadline passes on it with nothing received: it is pinged once and replaced if
//! the ping goes unanswered for 4 s. Periodic keepalive is off by default (Google front
//! ends refuse pings more frequent than about once a minute);
//! [`OperationsClientBuilder::keepalive_interval`] turns it on. A front end's HTTP error
//! page becomes the status gRPC specifies for it, and TLS failures that trying again
//! cannot mend are reported at once ([`Error::is_permanent`]).
//!
//! The client can instead share a tonic channel with your other clients
//! ([`OperationsClientBuilder::channel`]) or run over any [`GrpcTransport`] with your own
//! tower layers in front ([`OperationsClientBuilder::build_with_service`]).
//!
//! # The emulator in your own tests
//!
//! With the `emulator` feature, [`emulator::Emulator`] is a real in-process gRPC server with
//! scripted operations, faithful semantics, front-end checks, fault injection and a journal:
//!
//! ```
//! # #[cfg(feature = "emulator")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use longrunning_grpc::emulator::{Emulator, OnCancel, ScriptedOperation};
//! use longrunning_grpc::{CancelOutcome, OperationsClient};
//!
//! let emulator = Emulator::start().await?;
//! emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/o").on_cancel(OnCancel::Ignore));
//! let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build()?;
//! client.cancel_operation("projects/p/locations/l/operations/o").await?;
//! assert!(!client.get_operation("projects/p/locations/l/operations/o").await?.is_done());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "emulator"))]
//! # fn main() {}
//! ```
//!
//! # Cargo features
//!
//! - `webpki-roots` (default): trust the Mozilla roots bundled by `webpki-roots` for TLS.
//! - `native-roots`: trust the operating system's root certificates.
//! - `emulator`: [`emulator`], an in-process `google.longrunning.Operations` server for tests.
//! - `json`: [`json`], operations and errors as JSON documents (`serde_json`).
//! - `cli`: the `lro` command line (implies `emulator` and `json`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod client;
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod json;
pub mod name;
mod operation;
pub mod pb;
pub mod policy;
mod transport;
pub mod wait;

/// Listing operations: what [`OperationsClient::list_operations`] returns, and its pages.
pub mod list {
    pub use crate::client::{ListOperations, Listing, Page};
}

pub use client::{Call, OperationsClient, OperationsClientBuilder};
pub use error::{Error, ErrorDetails};
pub use name::{OperationName, validate_name};
pub use transport::{GrpcTransport, Transport};
pub use wait::{CancelOutcome, Poller};

/// Re-exported so users name the same versions this crate was built with.
pub use google_cloud_auth;
/// The `prost-types` this crate was built with, re-exported so users name the same
/// version, plus `Empty`, the type prost maps `google.protobuf.Empty` to.
pub mod prost_types {
    pub use ::prost_types::*;

    /// `google.protobuf.Empty`, which prost maps to `()`: the `R` of an operation whose
    /// response is empty, e.g. `Poller<Empty, M>`.
    pub type Empty = ();
}

/// Re-exported so users name the same versions this crate was built with.
pub use tonic;

/// The rustls this crate's TLS runs on, for
/// [`OperationsClientBuilder::use_preconfigured_tls`].
pub use tokio_rustls::rustls;
