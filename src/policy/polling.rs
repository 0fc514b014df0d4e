//! The polling policy: how a wait spaces its looks at an operation, and for how long.

use std::time::Duration;

use super::backoff::{Backoff, Jitter, Schedule, Spread};
use crate::Error;
use crate::pb::Operation;

/// How every wait looks at an operation: when, for how long in all, and whether the server
/// may hold a look until the operation is done (`WaitOperation`).
///
/// Default: first look after 1 s, delays growing by 1.5 up to 20 s, each drawn uniformly
/// from `[delay / 2, delay]`, an overall deadline of 15 minutes, and `WaitOperation` held
/// for up to 30 s where the server serves it.
///
/// # Waiting on the server
///
/// Where the server implements `WaitOperation`, a look is a `WaitOperation` whose
/// `timeout` is the time until the next scheduled look (for [`Poller::into_stream`], which
/// reports progress) or the [`server_wait`](PollingPolicyBuilder::server_wait) hold
/// (for waits that report only the end), never past the deadline. The server answers as
/// soon as the operation is done, so completion is seen at once and a long operation
/// costs a call per hold instead of one per delay. The call's own deadline is the
/// client's timeout *plus* the hold, so the client never cuts the server's hold short.
///
/// - A server that answers `UNIMPLEMENTED` (most do) is remembered by the client and its
///   clones: one `WaitOperation` learns it, and from then on every wait polls
///   `GetOperation`. While that first call is out, other waits poll.
/// - A server that answers at once with the operation still running does not make the
///   wait spin: the next look still waits out the schedule's delay.
/// - A look that fails with `UNAVAILABLE` or `DEADLINE_EXCEEDED` is taken again at once
///   as a `GetOperation` under the retry policy.
///
/// Why a 30 s hold by default, not the whole deadline: a held call carries no bytes until
/// it ends, and the proxies and load balancers in front of gRPC services cut streams that
/// stay silent for a minute (nginx's `grpc_read_timeout` and many cloud load balancers'
/// idle timeouts are 60 s); 30 s stays well inside that while costing, over a 15-minute
/// wait, about 31 calls (the first held less, while the client learns whether the
/// server serves it) instead of about 67 polls.
///
/// [`Poller::into_stream`]: crate::Poller::into_stream
///
/// ```
/// use std::time::Duration;
/// use longrunning_grpc::policy::PollingPolicy;
///
/// let policy = PollingPolicy::builder()
///     .initial_delay(Duration::from_millis(200))
///     .deadline(None) // poll until done
///     .build()?;
/// assert_eq!(policy.deadline(), None);
/// # Ok::<(), longrunning_grpc::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PollingPolicy {
    schedule: Schedule,
    deadline: Option<Duration>,
    server_wait: Option<Duration>,
    cancel_on_deadline: Option<Duration>,
}

/// The longest a server holds one `WaitOperation`, unless set.
const DEFAULT_SERVER_WAIT: Duration = Duration::from_secs(30);

impl Default for PollingPolicy {
    fn default() -> Self {
        Self {
            schedule: Schedule {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(20),
                multiplier: 1.5,
                jitter: Spread::Jitter(Jitter::Half),
                seed: None,
            },
            deadline: Some(Duration::from_secs(15 * 60)),
            server_wait: Some(DEFAULT_SERVER_WAIT),
            cancel_on_deadline: None,
        }
    }
}

impl PollingPolicy {
    /// The error of a wait that this policy's deadline ended, `last` still running.
    pub(crate) fn deadline_passed(&self, last: Operation) -> Error {
        let name = last.name.clone();
        Error::polling_deadline(self.deadline.unwrap_or_default(), Some(last)).with_name(name)
    }

    /// A builder starting from the default policy.
    pub fn builder() -> PollingPolicyBuilder {
        PollingPolicyBuilder {
            policy: Self::default(),
        }
    }

    /// How long polling may last in all; `None` polls until the operation is done.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The longest the server may hold one look (`WaitOperation`'s `timeout`); `None` when
    /// waits only poll `GetOperation`.
    pub fn server_wait(&self) -> Option<Duration> {
        self.server_wait
    }

    /// Whether a wait that reaches its deadline cancels the operation, and if so how long
    /// it then looks to confirm it.
    pub fn cancel_on_deadline(&self) -> Option<Duration> {
        self.cancel_on_deadline
    }

    /// The policy of the looks that confirm a give-up's cancel: these delays and server
    /// waits, for `confirm` in all, and no cancel of their own.
    pub(crate) fn confirming(&self, confirm: Duration) -> Self {
        Self {
            deadline: Some(confirm),
            cancel_on_deadline: None,
            ..self.clone()
        }
    }

    /// The same policy without the give-up's cancel: for a wait that confirms a cancel
    /// already sent.
    pub(crate) fn without_cancel(&self) -> Option<Self> {
        self.cancel_on_deadline.map(|_| Self {
            cancel_on_deadline: None,
            ..self.clone()
        })
    }

    /// The delays between polls, in order; endless.
    pub fn delays(&self) -> Backoff {
        self.schedule.iter()
    }
}

/// Builds a [`PollingPolicy`]; [`PollingPolicyBuilder::build`] checks the numbers.
#[derive(Clone, Debug)]
#[must_use]
pub struct PollingPolicyBuilder {
    policy: PollingPolicy,
}

impl PollingPolicyBuilder {
    /// The delay before the first poll (before jitter); more than zero. Default: 1 s.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.policy.schedule.initial = delay;
        self
    }

    /// The largest delay between polls (before jitter). Default: 20 s.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.policy.schedule.max = delay;
        self
    }

    /// How much each delay grows; at least 1.0. Default: 1.5.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.policy.schedule.multiplier = multiplier;
        self
    }

    /// How each delay is spread at random. Default: [`Jitter::Half`], uniform in
    /// `[delay / 2, delay]`.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.schedule.jitter = Spread::Jitter(jitter);
        self
    }

    /// Seeds the jitter, making the schedule reproducible. Default: a random seed per wait.
    pub fn seed(mut self, seed: u64) -> Self {
        self.policy.schedule.seed = Some(seed);
        self
    }

    /// How long polling may last in all; `None` for no limit. Default: 15 minutes.
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.policy.deadline = deadline;
        self
    }

    /// The longest the server may hold one look with `WaitOperation`, where it serves it;
    /// `None` turns `WaitOperation` off, and every wait polls `GetOperation` (for a server
    /// whose `WaitOperation` misbehaves). More than zero. Default: 30 s (see
    /// [`PollingPolicy`] for why).
    pub fn server_wait(mut self, hold: Option<Duration>) -> Self {
        self.policy.server_wait = hold;
        self
    }

    /// Cancel on give-up: a wait that reaches its deadline with the operation still running
    /// sends `CancelOperation`, looks again for up to `confirm` (as
    /// [`cancel_and_wait`](crate::OperationsClient::cancel_and_wait) does), and ends with
    /// the true final state: the polling-deadline error, with
    /// [`Error::cancel_requested`] and the operation as it then was in
    /// [`Error::operation`] (done and cancelled if the cancel took effect in time). So a
    /// backend whose caller gave up stops paying for the work. `None` (the default) leaves
    /// the operation running. `cancel_and_wait` never cancels twice.
    pub fn cancel_on_deadline(mut self, confirm: Option<Duration>) -> Self {
        self.policy.cancel_on_deadline = confirm;
        self
    }

    /// Checks the numbers and returns the policy.
    pub fn build(self) -> Result<PollingPolicy, Error> {
        // A zero delay would poll in a busy loop.
        if self.policy.schedule.initial.is_zero() {
            return Err(Error::config(
                "polling initial_delay must be more than zero",
            ));
        }
        if self.policy.server_wait.is_some_and(|hold| hold.is_zero()) {
            return Err(Error::config(
                "polling server_wait must be more than zero (None turns WaitOperation off)",
            ));
        }
        self.policy.schedule.check("polling")?;
        Ok(self.policy)
    }
}
