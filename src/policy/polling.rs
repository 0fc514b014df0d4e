//! The polling policy: how a wait spaces its looks at an operation, and for how long.

use std::time::Duration;

use super::backoff::{Backoff, Jitter, Schedule, Spread};
use crate::Error;
use crate::pb::Operation;

/// How [`crate::OperationsClient::poll_until_done`] polls `GetOperation`.
///
/// Default: first poll after 1 s, delays growing by 1.5 up to 20 s, each drawn uniformly
/// from `[delay / 2, delay]`, and an overall deadline of 15 minutes.
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
}

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
        }
    }
}

impl PollingPolicy {
    /// The error of a wait that this policy's deadline ended, `last` still running.
    pub(crate) fn deadline_passed(&self, last: Operation) -> Error {
        let name = last.name.clone();
        Error::polling_deadline(self.deadline.unwrap_or_default(), Some(last)).with_name(name)
    }

    /// The same, for a wait that never saw the operation.
    pub(crate) fn deadline_passed_unseen(&self, name: &str) -> Error {
        Error::polling_deadline(self.deadline.unwrap_or_default(), None).with_name(name)
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

    /// Checks the numbers and returns the policy.
    pub fn build(self) -> Result<PollingPolicy, Error> {
        // A zero delay would poll in a busy loop.
        if self.policy.schedule.initial.is_zero() {
            return Err(Error::config(
                "polling initial_delay must be more than zero",
            ));
        }
        self.policy.schedule.check("polling")?;
        Ok(self.policy)
    }
}
