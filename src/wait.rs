//! Waiting for an operation: polling `GetOperation` under the
//! [`PollingPolicy`](crate::PollingPolicy), cancelling
//! and confirming, and what a wait saw ([`Polled`], [`CancelOutcome`]).

use tokio::time::Instant;

use crate::Error;
use crate::call::Call;
use crate::client::OperationsClient;
use crate::pb::Operation;
use crate::retry::PollSchedule;
use crate::transport::GrpcTransport;

impl<T: GrpcTransport> OperationsClient<T> {
    /// Polls `GetOperation` until the operation is done or the polling deadline passes,
    /// sleeping between polls as the [`PollingPolicy`](crate::PollingPolicy) says. Each poll is a full call (retried
    /// on `UNAVAILABLE`); any other error ends the wait. Dropping the future stops polling.
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
    /// # use longrunning_grpc::{OperationsClient, Polled, PollingPolicy};
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1").completion(Completion::AfterPolls(2)));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous()
    /// #     .polling_policy(PollingPolicy::builder().initial_delay(Duration::from_millis(10)).build()?)
    /// #     .build()?;
    /// match client.poll_until_done("projects/p/locations/l/operations/op-1").await? {
    ///     Polled::Done(op) => println!("done: {:?}", op.result()),
    ///     Polled::StillRunning(op) => println!("gave up; {} still running", op.name),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn poll_until_done(&self, name: impl AsRef<str>) -> Call<Polled> {
        let this = self.clone();
        let name = name.as_ref().to_owned();
        Call::new(async move { this.poll(name).await })
    }

    async fn poll(self, name: String) -> Result<Polled, Error> {
        // No check of the name here: the first GetOperation checks it before sending.
        let mut schedule = PollSchedule::start(&self.config.polling, Instant::now());
        loop {
            let op = self.get_operation(&name).await?;
            if op.done {
                return Ok(Polled::Done(op));
            }
            match schedule.next(Instant::now()) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => return Ok(Polled::StillRunning(op)),
            }
        }
    }

    /// Cancels an operation and confirms the outcome by polling, in one call.
    ///
    /// Returns [`CancelOutcome::Unsupported`] if the server answers the cancel with
    /// `UNIMPLEMENTED`; other errors of the cancel or of a poll are returned as errors.
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::{CancelOutcome, OperationsClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1"));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build()?;
    /// match client.cancel_and_wait("projects/p/locations/l/operations/op-1").await? {
    ///     CancelOutcome::Cancelled(op) => println!("{} cancelled", op.name),
    ///     CancelOutcome::Completed(_) => println!("finished before the cancel took effect"),
    ///     CancelOutcome::Failed(op) => println!("failed: {:?}", op.error()),
    ///     CancelOutcome::StillRunning(_) => println!("still running at the polling deadline"),
    ///     CancelOutcome::Unsupported(_) => println!("this server cannot cancel"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn cancel_and_wait(&self, name: impl AsRef<str>) -> Call<CancelOutcome> {
        let this = self.clone();
        let name = name.as_ref().to_owned();
        Call::new(async move {
            match this.cancel_operation(&name).await {
                Ok(()) => {}
                Err(e) if e.is_status() && e.is_unimplemented() => {
                    return Ok(CancelOutcome::Unsupported(e));
                }
                Err(e) => return Err(e),
            }
            let polled = this.poll(name).await?;
            Ok(CancelOutcome::from_polled(polled))
        })
    }
}

/// What [`crate::OperationsClient::poll_until_done`] saw last.
#[derive(Clone, Debug, PartialEq)]
pub enum Polled {
    /// The operation is done.
    Done(Operation),
    /// The polling deadline passed while the operation was still running.
    StillRunning(Operation),
}

impl Polled {
    /// The last operation seen.
    pub fn operation(&self) -> &Operation {
        match self {
            Polled::Done(op) | Polled::StillRunning(op) => op,
        }
    }

    /// The last operation seen.
    pub fn into_operation(self) -> Operation {
        match self {
            Polled::Done(op) | Polled::StillRunning(op) => op,
        }
    }
}

/// What became of a cancel request, as confirmed by polling `GetOperation`
/// ([`crate::OperationsClient::cancel_and_wait`]).
#[derive(Debug)]
pub enum CancelOutcome {
    /// Done with error code 1 (`CANCELLED`): the cancellation took effect.
    Cancelled(Operation),
    /// Done with a response: the operation completed before the cancel took effect.
    Completed(Operation),
    /// Done with an error other than `CANCELLED`.
    Failed(Operation),
    /// The polling deadline passed and the operation was still running.
    StillRunning(Operation),
    /// The server answered the cancel with `UNIMPLEMENTED`; nothing was polled.
    Unsupported(Error),
}

impl CancelOutcome {
    pub(crate) fn from_polled(polled: Polled) -> Self {
        match polled {
            Polled::StillRunning(op) => CancelOutcome::StillRunning(op),
            Polled::Done(op) if op.is_cancelled() => CancelOutcome::Cancelled(op),
            Polled::Done(op) => match op.result() {
                Some(Ok(_)) => CancelOutcome::Completed(op),
                _ => CancelOutcome::Failed(op),
            },
        }
    }

    /// The last operation seen, if any was polled.
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            CancelOutcome::Cancelled(op)
            | CancelOutcome::Completed(op)
            | CancelOutcome::Failed(op)
            | CancelOutcome::StillRunning(op) => Some(op),
            CancelOutcome::Unsupported(_) => None,
        }
    }

    /// Whether the cancellation took effect.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CancelOutcome::Cancelled(_))
    }

    /// A short lower-case word for the outcome: `cancelled`, `completed`, `failed`,
    /// `running` or `unsupported`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CancelOutcome::Cancelled(_) => "cancelled",
            CancelOutcome::Completed(_) => "completed",
            CancelOutcome::Failed(_) => "failed",
            CancelOutcome::StillRunning(_) => "running",
            CancelOutcome::Unsupported(_) => "unsupported",
        }
    }
}
