//! A handle on one operation: [`Poller`], typed by the operation's response `R` and
//! metadata `M`, made with [`OperationsClient::operation`] from a name or from the
//! `Operation` any tonic client returned; and what each look at it found
//! ([`PollingResult`]).
//!
//! One wait ([`Poller::until_done`], [`Poller::into_stream`]) is one state machine: it
//! looks at it on the client's [`PollingPolicy`](crate::policy::PollingPolicy) schedule
//! (`WaitOperation` where the server serves it, else `GetOperation`),
//! inside one `tracing` span (`longrunning.wait`: name, polls, outcome) that each call's
//! span sits in.

use std::fmt;
use std::marker::PhantomData;

use futures_util::Stream;
use prost_types::Any;
use tokio::time::Instant;

use super::CancelOutcome;
use super::look;
use super::schedule::{Hold, PollSchedule};
use crate::error::code_name;
use crate::name::OperationName;
use crate::operation::unpack;
use crate::pb::{self, operation};
use crate::transport::{GrpcTransport, Transport};
use crate::{Call, Error, OperationsClient};

/// What a [`Poller`] starts from: an operation's name, or an operation a call returned
/// (`From` a `&str`, `String`, [`OperationName`] or [`pb::Operation`]).
#[derive(Clone, Debug, PartialEq)]
pub enum OperationSource {
    /// The operation's name: the first look is a `GetOperation`.
    Name(String),
    /// An operation as a call returned it: a done one is read without any call.
    Operation(pb::Operation),
}

impl From<&str> for OperationSource {
    fn from(name: &str) -> Self {
        Self::Name(name.to_owned())
    }
}

impl From<String> for OperationSource {
    fn from(name: String) -> Self {
        Self::Name(name)
    }
}

impl From<&String> for OperationSource {
    fn from(name: &String) -> Self {
        Self::Name(name.clone())
    }
}

impl From<OperationName> for OperationSource {
    fn from(name: OperationName) -> Self {
        Self::Name(name.as_str().to_owned())
    }
}

impl From<&OperationName> for OperationSource {
    fn from(name: &OperationName) -> Self {
        Self::Name(name.as_str().to_owned())
    }
}

impl From<pb::Operation> for OperationSource {
    fn from(op: pb::Operation) -> Self {
        Self::Operation(op)
    }
}

/// What one look at an operation found.
pub enum PollingResult<R, M> {
    /// Still running, with its metadata, if it has any.
    InProgress(Option<M>),
    /// Done: its response, or the error it finished with (or, at the end of a wait, the
    /// error that ended the wait).
    Completed(Result<R, Error>),
    /// A poll failed, and the wait goes on: UNAVAILABLE or DEADLINE_EXCEEDED of one poll,
    /// within the polling policy's deadline.
    PollingError(Error),
}

impl<R: fmt::Debug, M: fmt::Debug> fmt::Debug for PollingResult<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InProgress(m) => f.debug_tuple("InProgress").field(m).finish(),
            Self::Completed(r) => f.debug_tuple("Completed").field(r).finish(),
            Self::PollingError(e) => f.debug_tuple("PollingError").field(e).finish(),
        }
    }
}

/// A handle on one operation whose response is `R` and metadata `M` (any prost message;
/// [`prost_types::Empty`](crate::prost_types::Empty) for none, `prost_types::Any` to take
/// whatever comes). Made by [`OperationsClient::operation`]; cheap, and each method
/// takes its own copy of the client.
///
/// ```
/// # use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
/// # use longrunning_grpc::policy::PollingPolicy;
/// # use longrunning_grpc::wait::PollingResult;
/// # use longrunning_grpc::OperationsClient;
/// use longrunning_grpc::prost_types::{Any, Duration, Timestamp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let emulator = Emulator::start().await?;
/// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1")
/// #     .metadata(Any::from_msg(&Timestamp { seconds: 1, nanos: 0 })?)
/// #     .response(Any::from_msg(&Duration { seconds: 3, nanos: 0 })?)
/// #     .completion(Completion::AfterPolls(3)));
/// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous()
/// #     .polling_policy(PollingPolicy::builder().initial_delay(std::time::Duration::from_millis(10)).build()?)
/// #     .build()?;
/// let poller = client.operation::<Duration, Timestamp>("projects/p/locations/l/operations/op-1");
/// if let PollingResult::InProgress(Some(started)) = poller.poll().await? {
///     println!("running since {}", started.seconds);
/// }
/// let took: Duration = poller.until_done().await?;
/// assert_eq!(took.seconds, 3);
/// # Ok(()) }
/// ```
pub struct Poller<R, M, T = Transport> {
    client: OperationsClient<T>,
    name: String,
    /// The operation it was made from, if any.
    start: Option<pb::Operation>,
    types: PhantomData<fn() -> (R, M)>,
}

impl<R, M, T> fmt::Debug for Poller<R, M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("name", &self.name)
            .field("response", &std::any::type_name::<R>())
            .field("metadata", &std::any::type_name::<M>())
            .finish_non_exhaustive()
    }
}

impl<R, M, T> Poller<R, M, T> {
    /// A handle from a name or from an operation a call returned
    /// ([`OperationsClient::operation`]).
    pub(crate) fn new(client: OperationsClient<T>, operation: OperationSource) -> Self {
        let (name, start) = match operation {
            OperationSource::Name(name) => (name, None),
            OperationSource::Operation(op) => (op.name.clone(), Some(op)),
        };
        Poller {
            client,
            name,
            start,
            types: PhantomData,
        }
    }
}

impl<R, M, T> Poller<R, M, T>
where
    R: prost::Message + prost::Name + Default + Send + 'static,
    M: prost::Message + prost::Name + Default + Send + 'static,
    T: GrpcTransport,
{
    /// The operation's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Looks once: one `GetOperation`, or none if the handle was made from an operation
    /// that is already done. An error is the call's, or a response or metadata of another
    /// type than `R` or `M` (naming both).
    pub fn poll(&self) -> Call<PollingResult<R, M>> {
        if let Some(op) = self.start.as_ref().filter(|op| op.done) {
            return Call::ready(state_of(op));
        }
        let get = self.client.get_operation(&self.name);
        Call::new(async move { state_of(&get.await?) })
    }

    /// Waits until the operation is done, polling on the client's polling policy, and
    /// returns its response; `Err` is the error the operation finished with
    /// ([`Error::is_operation_failed`]), or what ended the wait: the policy's deadline, a
    /// poll error that is not transient, a response of another type.
    pub fn until_done(self) -> Call<R> {
        Call::new(async move {
            let mut wait = Wait::new(self, false);
            while let Some(item) = wait.next().await {
                if let PollingResult::Completed(result) = item {
                    return result;
                }
            }
            // A wait ends with `Completed`, so this is never reached.
            Err(Error::decode("the wait ended without a result"))
        })
    }

    /// The wait as a stream: `InProgress` first and then only when the metadata changed,
    /// `PollingError` for each failed poll the wait survives, and `Completed` once, last.
    ///
    /// Polls follow the client's [`PollingPolicy`](crate::policy::PollingPolicy); UNAVAILABLE and
    /// DEADLINE_EXCEEDED of one poll keep the wait going until the policy's deadline,
    /// other errors end it (as `Completed(Err(..))`). Dropping the stream stops polling.
    pub fn into_stream(self) -> impl Stream<Item = PollingResult<R, M>> + Send + 'static {
        futures_util::stream::unfold(Wait::new(self, true), |mut wait| async move {
            let item = wait.next().await?;
            Some((item, wait))
        })
    }

    /// Asks the server to cancel the operation, then polls until it is done or the
    /// polling deadline passes, and says what became of it
    /// ([`OperationsClient::cancel_and_wait`]).
    pub fn cancel(self) -> Call<CancelOutcome> {
        Call::new(super::cancel_and_wait(self.client, self.name))
    }
}

/// The state `op` is in, read as `R` and `M`.
fn state_of<R, M>(op: &pb::Operation) -> Result<PollingResult<R, M>, Error>
where
    R: prost::Name + Default,
    M: prost::Name + Default,
{
    if !op.done {
        return Ok(PollingResult::InProgress(metadata_of(op)?));
    }
    match result_of(op) {
        Err(error) if error.is_decode() => Err(error),
        result => Ok(PollingResult::Completed(result)),
    }
}

/// What a done operation finished with, its response read as `R`.
fn result_of<R: prost::Name + Default>(op: &pb::Operation) -> Result<R, Error> {
    match &op.result {
        Some(operation::Result::Response(any)) => unpack::<R>(any, "response", &op.name),
        Some(operation::Result::Error(status)) => Err(Error::operation_failed(status, &op.name)),
        None => Err(
            Error::decode("the operation is done but has neither a response nor an error")
                .with_name(&op.name),
        ),
    }
}

fn metadata_of<M: prost::Name + Default>(op: &pb::Operation) -> Result<Option<M>, Error> {
    op.metadata
        .as_ref()
        .map(|any| unpack::<M>(any, "metadata", &op.name))
        .transpose()
}

/// Whether a failed poll leaves the wait going: the server or the connection may answer
/// next time.
pub(crate) fn is_transient(error: &Error) -> bool {
    matches!(
        error.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
    ) && !error.is_permanent()
}

/// One wait on one operation.
struct Wait<R, M, T> {
    poller: Poller<R, M, T>,
    schedule: PollSchedule,
    hold: Hold,
    /// When the next look may start; `None`: now.
    due: Option<Instant>,
    /// The metadata last yielded (`Some(None)`: none); `None` before the first yield.
    shown: Option<Option<Any>>,
    polls: u64,
    done: bool,
    span: tracing::Span,
}

impl<R, M, T> Wait<R, M, T>
where
    R: prost::Message + prost::Name + Default + Send + 'static,
    M: prost::Message + prost::Name + Default + Send + 'static,
    T: GrpcTransport,
{
    /// `progress`: the wait reports each look (a stream), so a look the server holds ends
    /// by the next scheduled one.
    fn new(poller: Poller<R, M, T>, progress: bool) -> Self {
        let span = tracing::info_span!(
            "longrunning.wait",
            name = %poller.name,
            polls = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let policy = &poller.client.config.polling;
        Self {
            schedule: PollSchedule::start(policy, Instant::now()),
            hold: Hold::of(policy, progress),
            due: None,
            shown: None,
            polls: 0,
            done: false,
            span,
            poller,
        }
    }

    async fn next(&mut self) -> Option<PollingResult<R, M>> {
        if self.done {
            return None;
        }
        loop {
            if let Some(at) = self.due.take() {
                tokio::time::sleep_until(at).await;
            }
            let plan = self.schedule.plan(Instant::now(), self.hold);
            let looked = match self.poller.start.take() {
                Some(op) => Ok(op),
                None => {
                    self.polls += 1;
                    let call = self
                        .span
                        .in_scope(|| look(&self.poller.client, &self.poller.name, &plan));
                    call.await
                }
            };
            let next = self.schedule.after(&plan, Instant::now());
            let op = match looked {
                Ok(op) => op,
                Err(error) if is_transient(&error) && next.is_some() => {
                    tracing::debug!(parent: &self.span, %error, "poll failed; waiting on");
                    self.due = next;
                    return Some(PollingResult::PollingError(error));
                }
                Err(error) => return Some(self.finish(Err(error))),
            };
            if op.done {
                return Some(self.finish(result_of::<R>(&op)));
            }
            if next.is_none() {
                let error = super::give_up(self.poller.client.clone(), op).await;
                return Some(self.finish(Err(error)));
            }
            self.due = next;
            if self.shown.as_ref() == Some(&op.metadata) {
                continue;
            }
            match metadata_of::<M>(&op) {
                Ok(metadata) => {
                    self.shown = Some(op.metadata);
                    return Some(PollingResult::InProgress(metadata));
                }
                Err(error) => return Some(self.finish(Err(error))),
            }
        }
    }

    fn finish(&mut self, result: Result<R, Error>) -> PollingResult<R, M> {
        self.done = true;
        self.span.record("polls", self.polls);
        let outcome = match &result {
            Ok(_) => "completed",
            Err(e) if e.is_operation_failed() => code_name(e.code()),
            Err(e) if e.is_polling_deadline() => "deadline",
            Err(_) => "error",
        };
        self.span.record("outcome", outcome);
        PollingResult::Completed(result)
    }
}
