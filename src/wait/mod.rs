//! Waiting for operations: one operation's handle ([`Poller`]), many at once on one
//! scheduler ([`Waiter`]), the client's own waits (`poll_until_done`, `cancel_and_wait`),
//! and what a cancel came to ([`CancelOutcome`]).
//!
//! Every wait polls `GetOperation` under the client's
//! [`PollingPolicy`](crate::policy::PollingPolicy) and ends in one of two
//! ways: the operation is done, or the policy's deadline passed with it still running. The
//! second is always the same error, [`Error::is_polling_deadline`], carrying the operation
//! as last seen ([`Error::operation`]), whichever wait met it.

use tokio::time::Instant;

use crate::pb::Operation;
use crate::transport::GrpcTransport;
use crate::{Error, OperationsClient};

mod poller;
mod schedule;
mod wait_all;

pub use poller::{OperationSource, Poller, PollingResult};
pub(crate) use schedule::PollSchedule;
pub use wait_all::Waiter;

/// [`OperationsClient::poll_until_done`]: polls until the operation is done or the
/// policy's deadline passes.
pub(crate) async fn until_done<T: GrpcTransport>(
    client: OperationsClient<T>,
    name: String,
) -> Result<Operation, Error> {
    // No check of the name here: the first GetOperation checks it before sending.
    let mut schedule = PollSchedule::start(&client.config.polling, Instant::now());
    loop {
        let op = client.get_operation(&name).await?;
        if op.done {
            return Ok(op);
        }
        match schedule.next(Instant::now()) {
            Some(at) => tokio::time::sleep_until(at).await,
            None => return Err(client.config.polling.deadline_passed(op)),
        }
    }
}

/// [`OperationsClient::cancel_and_wait`]: requests the cancel, then polls until it is
/// known what became of the operation.
pub(crate) async fn cancel_and_wait<T: GrpcTransport>(
    client: OperationsClient<T>,
    name: String,
) -> Result<CancelOutcome, Error> {
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
    /// The outcome an operation that is done shows.
    pub(crate) fn of_done(op: Operation) -> Self {
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
