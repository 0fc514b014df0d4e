//! Retry and polling policies: validated numbers that yield delays.
//!
//! Retrying (a call's attempts, [`RetryPolicy`]) and polling (a wait's looks at an
//! operation, [`PollingPolicy`]) are kept apart, as Google's clients keep them; both are
//! built the same way, name their setters alike and share one meaning of [`Jitter`].

use std::time::Duration;

mod backoff;
mod polling;
mod retry;
mod throttle;

pub(crate) use backoff::connection_backoff;
pub use backoff::{Backoff, Jitter};
pub use polling::{PollingPolicy, PollingPolicyBuilder};
pub use retry::{RetryPolicy, RetryPolicyBuilder};
pub(crate) use throttle::Throttler;

/// `from + after`, or about thirty years from `from` when that would overflow the clock: a
/// huge timeout, polling deadline or server-sent `RetryInfo` must not panic.
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
