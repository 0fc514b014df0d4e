//! Waiting for operations: one operation's handle ([`Poller`]), many at once on one
//! scheduler ([`Waiter`]), the client's own waits (`poll_until_done`, `cancel_and_wait`),
//! and what a cancel came to ([`CancelOutcome`]).
//!
//! Every wait looks at the operation under the client's
//! [`PollingPolicy`](crate::policy::PollingPolicy): with `WaitOperation`, which the server
//! holds until the operation is done, where the server serves it, else by polling
//! `GetOperation` (the policy's docs say how and why). It ends in one of two ways: the
//! operation is done, or the policy's deadline passed with it still running. The second
//! is always the same error, [`Error::is_polling_deadline`], carrying the operation
//! as last seen ([`Error::operation`]), whichever wait met it.

use tokio::time::Instant;

use crate::pb::Operation;
use crate::transport::GrpcTransport;
use crate::{Error, OperationsClient};

mod look;
mod poller;
mod schedule;
mod wait_all;

pub(crate) use look::ServerWait;
use look::look;
pub use poller::{OperationSource, Poller, PollingResult};
use schedule::{Hold, PollSchedule};
pub use wait_all::Waiter;

/// [`OperationsClient::poll_until_done`]: polls until the operation is done or the
/// policy's deadline passes.
pub(crate) async fn until_done<T: GrpcTransport>(
    client: OperationsClient<T>,
    name: String,
) -> Result<Operation, Error> {
    // No check of the name here: the first look checks it before sending.
    let policy = &client.config.polling;
    let hold = Hold::of(policy, false);
    let mut schedule = PollSchedule::start(policy, Instant::now());
    loop {
        let plan = schedule.plan(Instant::now(), hold);
        let op = look(&client, &name, &plan).await?;
        if op.done {
            return Ok(op);
        }
        match schedule.after(&plan, Instant::now()) {
            Some(at) => tokio::time::sleep_until(at).await,
            None => return Err(give_up(client, op).await),
        }
    }
}

/// The error a wait ends with when its deadline passed with `last` still running; under
/// a policy that cancels then, after sending the cancel and confirming it for a while.
pub(crate) async fn give_up<T: GrpcTransport>(
    client: OperationsClient<T>,
    last: Operation,
) -> Error {
    let policy = &client.config.polling;
    let Some(confirm) = policy.cancel_on_deadline() else {
        return policy.deadline_passed(last);
    };
    let gave_up = policy.deadline_passed(last.clone());
    let name = last.name.clone();
    if let Err(e) = client.cancel_operation(&name).await {
        tracing::debug!(error = %e, "the cancel on giving up failed");
        return gave_up.with_cancel(Err(e.code()), last);
    }
    let confirming = client.with_polling_policy(policy.confirming(confirm));
    let last = match Box::pin(until_done(confirming, name)).await {
        Ok(op) => op,
        Err(e) => e.operation().cloned().unwrap_or(last),
    };
    gave_up.with_cancel(Ok(confirm), last)
}

/// [`OperationsClient::cancel_and_wait`]: requests the cancel, then polls until it is
/// known what became of the operation.
pub(crate) async fn cancel_and_wait<T: GrpcTransport>(
    client: OperationsClient<T>,
    name: String,
) -> Result<CancelOutcome, Error> {
    // The cancel is this wait's own: none more at its deadline.
    let client = match client.config.polling.without_cancel() {
        Some(policy) => client.with_polling_policy(policy),
        None => client,
    };
    match client.cancel_operation(&name).await {
        Ok(()) => {}
        Err(e) if e.is_status() && e.is_unimplemented() => {
            return Ok(CancelOutcome::Unsupported(e));
        }
        Err(e) => return Err(e),
    }
    until_done(client, name).await.map(CancelOutcome::of_done)
}

/// What became of a cancel request, as confirmed by polling `GetOperation`
/// ([`OperationsClient::cancel_and_wait`], [`Poller::cancel`]).
///
/// An operation still running when the polling deadline passes is not an outcome but the
/// error every wait ends with then: [`Error::is_polling_deadline`], with the operation as
/// last seen in [`Error::operation`].
#[derive(Debug)]
pub enum CancelOutcome {
    /// Done with error code 1 (`CANCELLED`): the cancellation took effect.
    Cancelled(Operation),
    /// Done with a response: the operation completed before the cancel took effect.
    Completed(Operation),
    /// Done with an error other than `CANCELLED`.
    Failed(Operation),
    /// The server answered the cancel with `UNIMPLEMENTED`; nothing was polled.
    Unsupported(Error),
}

impl CancelOutcome {
    /// What a cancel came to, as `op` shows it; `None` while it still runs. For the
    /// operation a wait that cancelled on giving up ended with ([`Error::operation`],
    /// [`Error::cancel_requested`]), or one you looked at yourself.
    pub fn of_operation(op: Operation) -> Option<Self> {
        op.done.then(move || Self::of_done(op))
    }

    /// The outcome an operation that is done shows.
    fn of_done(op: Operation) -> Self {
        if op.is_cancelled() {
            return CancelOutcome::Cancelled(op);
        }
        match op.result() {
            Some(Ok(_)) => CancelOutcome::Completed(op),
            _ => CancelOutcome::Failed(op),
        }
    }

    /// The last operation seen, if any was polled.
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            CancelOutcome::Cancelled(op)
            | CancelOutcome::Completed(op)
            | CancelOutcome::Failed(op) => Some(op),
            CancelOutcome::Unsupported(_) => None,
        }
    }

    /// Whether the cancellation took effect.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CancelOutcome::Cancelled(_))
    }

    /// A short lower-case word for the outcome: `cancelled`, `completed`, `failed` or
    /// `unsupported`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CancelOutcome::Cancelled(_) => "cancelled",
            CancelOutcome::Completed(_) => "completed",
            CancelOutcome::Failed(_) => "failed",
            CancelOutcome::Unsupported(_) => "unsupported",
        }
    }
}
