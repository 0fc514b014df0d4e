//! Exponential schedules of delays, their jitter, and gRPC's connection backoff.
//!
//! These are small on purpose. Crates such as `backon` add jitter on top of the delay; Google's
//! service config asks for *full* jitter (a uniform draw in `[0, delay]`), a server's
//! `RetryInfo` must override the next delay, and tests need an exact, seedable schedule, so the
//! schedule is computed here and the loop lives in the client.

use std::time::Duration;

use crate::Error;

/// How a policy's delays are spread at random around the schedule, one meaning for both
/// policies: [`RetryPolicyBuilder::jitter`](super::RetryPolicyBuilder::jitter) (default [`Jitter::Full`], as Google's service
/// config asks) and [`PollingPolicyBuilder::jitter`](super::PollingPolicyBuilder::jitter) (default [`Jitter::Half`]).
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
