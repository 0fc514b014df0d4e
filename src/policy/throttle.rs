//! Client-side adaptive throttling of retries (the SRE book's "Handling Overload"): a
//! retry is refused with probability `max(0, (requests − K·accepts) / (requests + 1))`
//! over the last two minutes, shared by every clone of a client.
//!
//! An attempt counts as accepted unless the service refused it as one the retry policy
//! would retry, or left it unanswered past the call's deadline. First attempts always go
//! out. When most calls succeed, `accepts` is close to
//! `requests`, the probability is 0 and retries work as before; when a service fails
//! everything, `accepts` falls to 0, the probability to nearly 1, and the fleet's load on
//! it to about one attempt per call instead of five. google-cloud-rust's
//! `AdaptiveThrottler` counts over the client's whole life, which for a backend that runs
//! for weeks means an outage is judged against last week's successes; here the counts are
//! a sliding window of 12 buckets of 10 s, as the SRE book's "last two minutes".

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The window's buckets, each this long.
const BUCKET: Duration = Duration::from_secs(10);
const BUCKETS: usize = 12;

/// Attempts the window must hold before a retry can be refused: the rule alone refuses
/// half the retries of a new client whose very first attempt fails, which would make a
/// single blip at start-up an error; twenty attempts (four calls' worth of retries) is
/// enough history to tell a blip from an outage.
const MIN_REQUESTS: f64 = 20.0;

/// Requests and accepts over the last two minutes.
#[derive(Debug)]
pub(crate) struct Throttler {
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// `(requests, accepts)` per bucket; `current` is the newest.
    counts: [(u32, u32); BUCKETS],
    current: usize,
    /// When the current bucket began.
    began: Instant,
}

impl Default for Throttler {
    fn default() -> Self {
        Self {
            window: Mutex::new(Window {
                counts: [(0, 0); BUCKETS],
                current: 0,
                began: Instant::now(),
            }),
        }
    }
}

impl Window {
    /// Moves the window on to `now`, emptying the buckets it passed.
    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.began);
        let passed = elapsed.as_nanos() / BUCKET.as_nanos();
        if passed == 0 {
            return;
        }
        for _ in 0..passed.min(BUCKETS as u128) {
            self.current = (self.current + 1) % BUCKETS;
            self.counts[self.current] = (0, 0);
        }
        // The current bucket began at the last whole bucket before `now`.
        let into = Duration::from_nanos(
            u64::try_from(elapsed.as_nanos() % BUCKET.as_nanos()).unwrap_or_default(),
        );
        self.began = now.checked_sub(into).unwrap_or(now);
    }

    fn totals(&self) -> (f64, f64) {
        self.counts.iter().fold((0.0, 0.0), |(r, a), (cr, ca)| {
            (r + f64::from(*cr), a + f64::from(*ca))
        })
    }
}

impl Throttler {
    /// One attempt's outcome: `accepted` unless the service refused it as overloaded or
    /// unreachable (a code the retry policy retries, or a failed connection).
    pub(crate) fn record(&self, accepted: bool) {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.advance(Instant::now());
        let current = window.current;
        let bucket = &mut window.counts[current];
        bucket.0 = bucket.0.saturating_add(1);
        bucket.1 = bucket.1.saturating_add(u32::from(accepted));
    }

    /// The probability that a retry is refused now, with factor `k`.
    pub(crate) fn refusal(&self, k: f64) -> f64 {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        window.advance(Instant::now());
        let (requests, accepts) = window.totals();
        if requests < MIN_REQUESTS {
            return 0.0;
        }
        ((requests - k * accepts) / (requests + 1.0)).clamp(0.0, 1.0)
    }

    /// Whether a retry may go out now, drawn with `rng`.
    pub(crate) fn allows_retry(&self, k: f64, rng: &mut fastrand::Rng) -> bool {
        let refusal = self.refusal(k);
        refusal == 0.0 || rng.f64() >= refusal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refusal_follows_the_sre_rule_over_the_last_two_minutes() {
        let t = Throttler::default();
        assert_eq!(t.refusal(2.0), 0.0);
        for _ in 0..19 {
            t.record(false);
        }
        assert_eq!(t.refusal(2.0), 0.0, "too little history to refuse");
        for _ in 0..80 {
            t.record(false);
        }
        assert!((t.refusal(2.0) - 0.99).abs() < 1e-9, "{}", t.refusal(2.0));
        // Half accepted: 200 requests, 100 accepts, K = 2: nothing refused.
        for _ in 0..101 {
            t.record(true);
        }
        assert_eq!(t.refusal(2.0), 0.0);
        // Two minutes on, the window has forgotten them.
        tokio::time::advance(Duration::from_secs(121)).await;
        assert_eq!(t.refusal(2.0), 0.0);
        for _ in 0..20 {
            t.record(false);
        }
        assert!((t.refusal(2.0) - 20.0 / 21.0).abs() < 1e-9);
    }
}
