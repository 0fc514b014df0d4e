//! The retry policy: which codes are retried, how many attempts, and the backoff between them.

use std::time::Duration;

use super::backoff::{Backoff, Jitter, Schedule, Spread};
use crate::Error;

/// How calls are retried: which codes, how many attempts, and the backoff between them.
///
/// The default follows Google's published service config for `google.longrunning.Operations`:
/// only `UNAVAILABLE` (connection failures included) is retried, at most 5 attempts, backoff
/// starting at 0.5 s and doubling up to 10 s, with full jitter. All attempts share the call's
/// deadline. A server's `RetryInfo` sets the next delay, and so does its
/// `grpc-retry-pushback-ms` trailer (gRPC A6), after which the backoff starts over; a
/// negative or malformed pushback means not to retry. Retries are throttled adaptively
/// ([`RetryPolicyBuilder::throttle_factor`]). `WaitOperation` is never retried.
///
/// ```
/// use std::time::Duration;
/// use longrunning_grpc::policy::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(3)
///     .initial_delay(Duration::from_millis(100))
///     .seed(7)
///     .build()?;
/// let delays: Vec<Duration> = policy.delays().take(2).collect();
/// assert!(delays[0] <= Duration::from_millis(100));
/// # Ok::<(), longrunning_grpc::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    schedule: Schedule,
    codes: Vec<tonic::Code>,
    /// The adaptive throttling factor K, if retries are throttled.
    throttle: Option<f64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            schedule: Schedule {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(10),
                multiplier: 2.0,
                jitter: Spread::Jitter(Jitter::Full),
                seed: None,
            },
            codes: vec![tonic::Code::Unavailable],
            throttle: Some(2.0),
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the default policy.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: Self::default(),
        }
    }

    /// A policy that makes one attempt only.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The most attempts a call makes, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether an error with this code is retried.
    pub fn retries(&self, code: tonic::Code) -> bool {
        self.codes.contains(&code)
    }

    /// The delays between attempts, in order (endless: the caller stops at
    /// [`RetryPolicy::max_attempts`]).
    /// The adaptive throttling factor K, or `None` if retries are not throttled.
    pub fn throttle_factor(&self) -> Option<f64> {
        self.throttle
    }

    /// The delays between attempts, in order.
    pub fn delays(&self) -> Backoff {
        self.schedule.iter()
    }
}

/// Builds a [`RetryPolicy`]; [`RetryPolicyBuilder::build`] checks the numbers.
#[derive(Clone, Debug)]
#[must_use]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// The most attempts a call makes, the first included; at least 1. Default: 5.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.policy.max_attempts = attempts;
        self
    }

    /// The delay before the first retry (before jitter). Default: 500 ms.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.policy.schedule.initial = delay;
        self
    }

    /// The largest delay between attempts (before jitter). Default: 10 s.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.policy.schedule.max = delay;
        self
    }

    /// How much each backoff grows; at least 1.0. Default: 2.0.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.policy.schedule.multiplier = multiplier;
        self
    }

    /// How each delay is spread at random. Default: [`Jitter::Full`], uniform in
    /// `[0, delay]`.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.schedule.jitter = Spread::Jitter(jitter);
        self
    }

    /// Seeds the jitter, making the schedule reproducible. Default: a random seed per call.
    pub fn seed(mut self, seed: u64) -> Self {
        self.policy.schedule.seed = Some(seed);
        self
    }

    /// Throttles retries adaptively, shared by every clone of a client: over the last two
    /// minutes, a retry is refused with probability `max(0, (requests − k·accepts) /
    /// (requests + 1))`, where `requests` counts the client's attempts and `accepts` those
    /// the service did not refuse (a code this policy retries, or a failed connection).
    /// First attempts always go out. With the default `k = 2.0` (the SRE book's), retries
    /// go on as long as at least half the attempts are accepted, and a service that fails
    /// everything sees about one attempt per call, not five. A larger `k` throttles later.
    /// Default: 2.0.
    pub fn throttle_factor(mut self, k: f64) -> Self {
        self.policy.throttle = Some(k);
        self
    }

    /// Retries are never throttled: each call makes its attempts whatever the others see.
    pub fn no_throttling(mut self) -> Self {
        self.policy.throttle = None;
        self
    }

    /// The codes that are retried. Default: `UNAVAILABLE` only.
    pub fn codes(mut self, codes: impl IntoIterator<Item = tonic::Code>) -> Self {
        self.policy.codes = codes.into_iter().collect();
        self
    }

    /// Checks the numbers and returns the policy.
    pub fn build(self) -> Result<RetryPolicy, Error> {
        if self.policy.max_attempts == 0 {
            return Err(Error::config("retry max_attempts must be at least 1"));
        }
        self.policy.schedule.check("retry")?;
        if let Some(k) = self.policy.throttle
            && !(k.is_finite() && k >= 1.0)
        {
            return Err(Error::config(format!(
                "retry throttle_factor must be a finite number of at least 1.0, not {k}"
            )));
        }
        Ok(self.policy)
    }
}
