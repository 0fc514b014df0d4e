//! Retry and polling policies: validated numbers that yield delays.
//!
//! These are small on purpose. Crates such as `backon` add jitter on top of the delay; Google's
//! service config asks for *full* jitter (a uniform draw in `[0, delay]`), a server's
//! `RetryInfo` must override the next delay, and tests need an exact, seedable schedule, so the
//! schedule is computed here and the loop lives in the client.

use std::time::Duration;

use crate::Error;

/// How calls are retried: which codes, how many attempts, and the backoff between them.
///
/// The default follows Google's published service config for `google.longrunning.Operations`:
/// only `UNAVAILABLE` (connection failures included) is retried, at most 5 attempts, backoff
/// starting at 0.5 s and doubling up to 10 s, with full jitter. All attempts share the call's
/// deadline. `WaitOperation` is never retried.
///
/// ```
/// use std::time::Duration;
/// use longrunning_grpc::RetryPolicy;
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
        Ok(self.policy)
    }
}

/// How a policy's delays are spread at random around the schedule, one meaning for both
/// policies: [`RetryPolicyBuilder::jitter`] (default [`Jitter::Full`], as Google's service
/// config asks) and [`PollingPolicyBuilder::jitter`] (default [`Jitter::Half`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// No jitter: each delay is the schedule's.
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[delay / 2, delay]`: never close to zero, so waits cannot bunch up.
    Half,
}

/// How a schedule's delays are drawn: a policy's [`Jitter`], or gRPC's connection backoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Spread {
    Jitter(Jitter),
    /// Uniform in `[delay × (1 − j), delay × (1 + j)]`, as gRPC's connection backoff.
    Proportional(f64),
}

/// An exponential schedule of delays.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Schedule {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: Spread,
    pub(crate) seed: Option<u64>,
}

impl Schedule {
    pub(crate) fn check(&self, what: &str) -> Result<(), Error> {
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Error::config(format!(
                "{what} multiplier must be a finite number of at least 1.0, not {}",
                self.multiplier
            )));
        }
        if self.initial > self.max {
            return Err(Error::config(format!(
                "{what} initial delay {:?} is larger than its maximum {:?}",
                self.initial, self.max
            )));
        }
        Ok(())
    }

    pub(crate) fn iter(&self) -> Backoff {
        Backoff {
            next: self.initial,
            max: self.max,
            multiplier: self.multiplier,
            jitter: self.jitter,
            rng: match self.seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            },
        }
    }
}

/// The delays of a policy, in order; endless.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    multiplier: f64,
    jitter: Spread,
    rng: fastrand::Rng,
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        // `try_from_secs_f64` instead of `mul_f64`: no panic however large the numbers.
        self.next = Duration::try_from_secs_f64(base.as_secs_f64() * self.multiplier)
            .unwrap_or(self.max)
            .min(self.max);
        // Jittered delays are whole milliseconds: tokio's timer cannot sleep finer, so the
        // delay drawn is the delay slept.
        let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        Some(match self.jitter {
            Spread::Jitter(Jitter::None) => base,
            Spread::Jitter(Jitter::Full) => Duration::from_millis(self.rng.u64(0..=millis)),
            Spread::Jitter(Jitter::Half) => {
                Duration::from_millis(self.rng.u64(millis.div_ceil(2)..=millis))
            }
            Spread::Proportional(j) => {
                let factor = 1.0 + j * (self.rng.f64() * 2.0 - 1.0);
                Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
            }
        })
    }
}

/// How [`crate::OperationsClient::poll_until_done`] polls `GetOperation`.
///
/// Default: first poll after 1 s, delays growing by 1.5 up to 20 s, each drawn uniformly
/// from `[delay / 2, delay]`, and an overall deadline of 15 minutes.
///
/// ```
/// use std::time::Duration;
/// use longrunning_grpc::PollingPolicy;
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
    /// The error of a wait on `name` that this policy's deadline ended.
    pub(crate) fn deadline_passed(&self, name: &str) -> Error {
        Error::polling_deadline(self.deadline.unwrap_or_default()).with_name(name)
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

/// `from + after`, or about thirty years from `from` when that would overflow the clock: a
/// huge timeout, polling deadline or server-sent `RetryInfo` must not panic.
/// gRPC's connection backoff (`doc/connection-backoff.md`): 1 s, growing by 1.6 up to
/// 120 s, each delay within ± 20 %.
pub(crate) fn connection_backoff() -> Backoff {
    Schedule {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(120),
        multiplier: 1.6,
        jitter: Spread::Proportional(0.2),
        seed: None,
    }
    .iter()
}

/// One wait's polls under a [`PollingPolicy`]: its delays until its deadline, then one last
/// look at the deadline itself, so a wait of N seconds sees the state at N seconds rather
/// than a little before. Shared by `poll_until_done`, `Poller` and `Waiter`.
#[derive(Clone, Debug)]
pub(crate) struct PollSchedule {
    delays: Backoff,
    deadline: Option<tokio::time::Instant>,
    last_look: bool,
}

impl PollSchedule {
    /// A wait under `policy` that starts `now`.
    pub(crate) fn start(policy: &PollingPolicy, now: tokio::time::Instant) -> Self {
        Self {
            delays: policy.delays(),
            deadline: policy.deadline().map(|d| later(now, d)),
            last_look: false,
        }
    }

    /// When to poll next after a look at `now`; `None` once the last look has been taken.
    pub(crate) fn next(&mut self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        if self.last_look {
            return None;
        }
        let delay = self.delays.next().unwrap_or(Duration::from_secs(1));
        let wake = later(now, delay);
        match self.deadline {
            Some(deadline) if wake >= deadline => {
                self.last_look = true;
                Some(deadline)
            }
            _ => Some(wake),
        }
    }

    /// Whether the next (or current) look is the last one, at the deadline.
    pub(crate) fn is_last_look(&self) -> bool {
        self.last_look
    }
}

pub(crate) fn later(from: tokio::time::Instant, after: Duration) -> tokio::time::Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(after)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_without_jitter_doubles_to_the_cap() {
        let policy = RetryPolicy::builder().jitter(Jitter::None).build().unwrap();
        let delays: Vec<u64> = policy
            .delays()
            .take(7)
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
    }

    #[test]
    fn polling_delays_never_fall_below_half() {
        let policy = PollingPolicy::builder().seed(1).build().unwrap();
        let bases = [
            1000.0, 1500.0, 2250.0, 3375.0, 5062.5, 7593.75, 11390.625, 17085.9375, 20000.0,
        ];
        for (delay, base) in policy.delays().zip(bases) {
            let ms = delay.as_secs_f64() * 1000.0;
            assert!(
                ms >= base / 2.0 - 0.001 && ms <= base + 0.001,
                "{ms} vs {base}"
            );
        }
    }

    #[test]
    fn builders_refuse_bad_numbers() {
        assert!(RetryPolicy::builder().max_attempts(0).build().is_err());
        assert!(RetryPolicy::builder().multiplier(0.5).build().is_err());
        assert!(RetryPolicy::builder().multiplier(f64::NAN).build().is_err());
        assert!(
            PollingPolicy::builder()
                .initial_delay(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(
            PollingPolicy::builder()
                .initial_delay(Duration::from_secs(30))
                .build()
                .is_err()
        );
    }
}
