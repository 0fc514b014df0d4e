//! The client: [`OperationsClient`] and every public method it has, in this file; how it
//! is built ([`builder`], [`endpoint`], [`config`]); one call ([`call`]) and a listing
//! ([`list`]). Waiting lives in [`crate::wait`], policies in [`crate::policy`], the
//! connections in `transport`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tonic::client::Grpc;

mod builder;
mod call;
pub(crate) mod config;
mod endpoint;
mod list;

pub use builder::OperationsClientBuilder;
pub use call::Call;
pub(crate) use call::transport_error;
use config::{Config, Timeout};
pub use list::{ListOperations, Listing, Page};

use crate::auth::AddCredentials;
use crate::policy::{PollingPolicy, RetryPolicy};
use crate::transport::{CheckResponses, GrpcTransport, Transport};
use crate::wait::{self, CancelOutcome, OperationSource, Poller, Waiter};
use crate::{headers, pb};

/// A client for `google.longrunning.Operations`.
///
/// Cheap to clone (reference counts only): clone it rather than wrapping it in an `Arc`.
/// Every call checks the name first, then sends the credentials' headers,
/// `x-goog-request-params`, `x-goog-api-client` and (if set) `x-goog-user-project`, with the
/// call's deadline as `grpc-timeout`. `UNAVAILABLE` is retried under the [`RetryPolicy`].
///
/// The transport `T` is a [`Transport`] (the HTTP/2 connections the builder opens, or the
/// tonic `Channel` you gave it) unless built with
/// [`OperationsClientBuilder::build_with_service`].
#[derive(Clone)]
pub struct OperationsClient<T = Transport> {
    pub(crate) grpc: Grpc<AddCredentials<CheckResponses<T>>>,
    pub(crate) config: Arc<Config>,
}

impl<T> fmt::Debug for OperationsClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationsClient")
            .field("endpoint", &self.config.endpoint)
            .field("quota_project", &self.config.quota_project)
            .field("timeout", &self.config.timeout.duration())
            .field("retry", &self.config.retry)
            .field("polling", &self.config.polling)
            .finish_non_exhaustive()
    }
}

impl OperationsClient {
    /// A builder with every setting at its default.
    pub fn builder() -> OperationsClientBuilder {
        OperationsClientBuilder::default()
    }

    /// The value of the `x-goog-api-client` header every call sends:
    /// `gl-rust/<rustc> grpc/<tonic> longrunning-grpc/<crate>`, so Google can tell clients
    /// apart. `<tonic>` is the major.minor of tonic this crate is built against.
    pub const API_CLIENT: &'static str = headers::API_CLIENT_VALUE;
}

impl<T: GrpcTransport> OperationsClient<T> {
    /// How many calls are in flight on the connections the builder opened (see
    /// [`Transport::in_flight`]); `None` over a transport of yours.
    pub fn in_flight(&self) -> Option<usize> {
        self.config.transport.as_ref()?.in_flight()
    }

    /// A copy of this client whose calls have another deadline, for one call or a few.
    ///
    /// ```no_run
    /// # async fn run(client: longrunning_grpc::OperationsClient) -> Result<(), longrunning_grpc::Error> {
    /// use std::time::Duration;
    /// client.with_timeout(Duration::from_secs(60)).get_operation("operations/123").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.with_config(|c| c.timeout = Timeout::new(timeout))
    }

    /// A copy of this client with another retry policy, for one call or a few.
    pub fn with_retry_policy(&self, policy: RetryPolicy) -> Self {
        self.with_config(|c| c.retry = policy)
    }

    /// A copy of this client with another polling policy, for one wait or a few.
    pub fn with_polling_policy(&self, policy: PollingPolicy) -> Self {
        self.with_config(|c| c.polling = policy)
    }

    /// A copy with its settings changed by `change` (one copy of the settings, however many
    /// change).
    fn with_config(&self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = (*self.config).clone();
        change(&mut config);
        Self {
            grpc: self.grpc.clone(),
            config: Arc::new(config),
        }
    }

    /// Asks the server to cancel an operation (`CancelOperation`).
    ///
    /// Success only means the request was accepted: cancellation is asynchronous and best
    /// effort. Confirm it with [`OperationsClient::get_operation`] (done with error code 1
    /// means cancelled) or use [`OperationsClient::cancel_and_wait`]. A server that does not
    /// support cancellation answers `UNIMPLEMENTED` ([`Error::is_unimplemented`](crate::Error::is_unimplemented)).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), longrunning_grpc::Error> {
    /// use longrunning_grpc::OperationsClient;
    ///
    /// let client = OperationsClient::builder().build()?;
    /// client.cancel_operation("projects/p/locations/global/operations/op-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_operation(&self, name: impl AsRef<str>) -> Call<()> {
        self.call(name.as_ref(), |name| pb::CancelOperationRequest {
            name: name.to_owned(),
        })
    }

    /// Fetches an operation (`GetOperation`).
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::OperationsClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1"));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build()?;
    /// let op = client.get_operation("projects/p/locations/l/operations/op-1").await?;
    /// if op.is_done() {
    ///     println!("finished: cancelled = {}", op.is_cancelled());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_operation(&self, name: impl AsRef<str>) -> Call<pb::Operation> {
        self.call(name.as_ref(), |name| pb::GetOperationRequest {
            name: name.to_owned(),
        })
    }

    /// Deletes an operation (`DeleteOperation`): the server forgets it.
    ///
    /// This does **not** cancel the operation; cancel it first if it must stop.
    ///
    /// ```no_run
    /// # async fn run(client: longrunning_grpc::OperationsClient) -> Result<(), longrunning_grpc::Error> {
    /// client.delete_operation("projects/p/locations/global/operations/op-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn delete_operation(&self, name: impl AsRef<str>) -> Call<()> {
        self.call(name.as_ref(), |name| pb::DeleteOperationRequest {
            name: name.to_owned(),
        })
    }

    /// Waits on the server until the operation is done or `timeout` passes (`WaitOperation`),
    /// returning the operation as it then is. Not every server implements it
    /// ([`Error::is_unimplemented`](crate::Error::is_unimplemented)); [`OperationsClient::poll_until_done`] works everywhere.
    ///
    /// The call's deadline is the client's timeout plus `timeout`. Never retried.
    ///
    /// ```no_run
    /// # async fn run(client: longrunning_grpc::OperationsClient) -> Result<(), longrunning_grpc::Error> {
    /// use std::time::Duration;
    /// let op = client
    ///     .wait_operation("projects/p/locations/global/operations/op-1", Duration::from_secs(30))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_operation(&self, name: impl AsRef<str>, timeout: Duration) -> Call<pb::Operation> {
        let wait = prost_types::Duration::try_from(timeout).ok();
        self.with_config(|c| {
            c.retry = RetryPolicy::never();
            c.timeout = Timeout::new(c.timeout.duration().saturating_add(timeout));
        })
        .call(name.as_ref(), move |name| pb::WaitOperationRequest {
            name: name.to_owned(),
            timeout: wait,
        })
    }

    /// Lists the operations under `parent` (`ListOperations`), e.g.
    /// `projects/p/locations/global`. Set a filter or page size on the returned
    /// [`ListOperations`], then read it as a stream of operations
    /// ([`ListOperations::stream`]), a stream of pages ([`ListOperations::pages`]), one page
    /// at a time with your own cursor ([`ListOperations::page`]), or all at once
    /// ([`ListOperations::collect`]). Resources the server could not reach are reported in
    /// each page's and the collected listing's `unreachable`.
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::OperationsClient;
    /// use futures_util::TryStreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # for i in 0..5 { emulator.insert(ScriptedOperation::new(format!("projects/p/locations/l/operations/op-{i}"))); }
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build()?;
    /// let running: Vec<_> = client
    ///     .list_operations("projects/p/locations/l")
    ///     .filter("done=false")
    ///     .page_size(2)
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// assert_eq!(running.len(), 5);
    /// # Ok(()) }
    /// ```
    pub fn list_operations(&self, parent: impl Into<String>) -> ListOperations<T> {
        ListOperations::new(self.clone(), parent.into())
    }

    /// Waits until the operation is done and returns it done (a response or an error of
    /// its own: see [`pb::Operation::result`]): with `WaitOperation`, held by the server
    /// until it is done, where the server serves it, else polling `GetOperation`, as the
    /// [`PollingPolicy`] says. A `GetOperation` is retried on `UNAVAILABLE`; any other
    /// error ends the wait. Dropping the future stops it.
    ///
    /// If the policy's deadline passes first, the error [`is_polling_deadline`]
    /// (`DEADLINE_EXCEEDED`) and carries the operation as last seen
    /// ([`Error::operation`](crate::Error::operation)), as every wait does.
    ///
    /// [`is_polling_deadline`]: crate::Error::is_polling_deadline
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
    /// # use longrunning_grpc::{OperationsClient, policy::PollingPolicy};
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1").completion(Completion::AfterPolls(2)));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous()
    /// #     .polling_policy(PollingPolicy::builder().initial_delay(Duration::from_millis(10)).build()?)
    /// #     .build()?;
    /// match client.poll_until_done("projects/p/locations/l/operations/op-1").await {
    ///     Ok(op) => println!("done: {:?}", op.result()),
    ///     Err(e) if e.is_polling_deadline() => {
    ///         println!("gave up; {:?} still running", e.operation().map(|op| &op.name))
    ///     }
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn poll_until_done(&self, name: impl AsRef<str>) -> Call<pb::Operation> {
        Call::new(wait::until_done(self.clone(), name.as_ref().to_owned()))
    }

    /// Cancels an operation and confirms the outcome by polling, in one call.
    ///
    /// Returns [`CancelOutcome::Unsupported`] if the server answers the cancel with
    /// `UNIMPLEMENTED`; other errors of the cancel or of a poll are returned as errors. An
    /// operation still running at the polling deadline is the error every wait ends with
    /// then ([`poll_until_done`](Self::poll_until_done)).
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::{CancelOutcome, OperationsClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1"));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build()?;
    /// match client.cancel_and_wait("projects/p/locations/l/operations/op-1").await {
    ///     Ok(CancelOutcome::Cancelled(op)) => println!("{} cancelled", op.name),
    ///     Ok(CancelOutcome::Completed(_)) => println!("finished before the cancel took effect"),
    ///     Ok(CancelOutcome::Failed(op)) => println!("failed: {:?}", op.error()),
    ///     Ok(CancelOutcome::Unsupported(_)) => println!("this server cannot cancel"),
    ///     Err(e) if e.is_polling_deadline() => println!("still running at the polling deadline"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn cancel_and_wait(&self, name: impl AsRef<str>) -> Call<CancelOutcome> {
        Call::new(wait::cancel_and_wait(
            self.clone(),
            name.as_ref().to_owned(),
        ))
    }

    /// A handle on one operation, from its name or from the `Operation` a call returned
    /// (any tonic client's, when its build maps `.google.longrunning` to this crate's
    /// [`pb`]). See [`Poller`].
    pub fn operation<R, M>(&self, operation: impl Into<OperationSource>) -> Poller<R, M, T> {
        Poller::new(self.clone(), operation.into())
    }

    /// Waits on every operation in `names` at once; see [`Waiter`]. Each is looked at on
    /// this client's [`PollingPolicy`] (first look at once, then its delays, until its
    /// deadline), at most 100 calls in flight unless [`Waiter::max_in_flight`] says
    /// otherwise; the server holds each look (`WaitOperation`) only while every operation
    /// can have one in flight.
    pub fn wait_all<I>(&self, names: I) -> Waiter<T>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Waiter::new(self.clone(), names)
    }
}
