//! One wait's schedule of looks under a polling policy.

use std::time::Duration;

use tokio::time::Instant;

use crate::policy::{Backoff, PollingPolicy, later};

/// One wait's looks under a [`PollingPolicy`]: its delays until its deadline, then one last
/// look at the deadline itself, so a wait of N seconds sees the state at N seconds rather
/// than a little before. Shared by `poll_until_done`, `Poller` and `Waiter`.
///
/// Delays count from the start of each look, so a look the server holds (`WaitOperation`)
/// for at least the delay is followed by the next one at once, and one it answers sooner is
/// followed by the next one only when the delay is up: the wait never spins.
#[derive(Clone, Debug)]
pub(crate) struct PollSchedule {
    delays: Backoff,
    deadline: Option<Instant>,
    last_look: bool,
}

/// How long the server may hold a look, as the wait asks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hold {
    /// Until the next scheduled look, at most this long (a wait that reports progress).
    UntilNext(Duration),
    /// This long (a wait that reports only its end).
    For(Duration),
    /// Not at all: the look is a `GetOperation`.
    Never,
}

impl Hold {
    /// What a wait under `policy` asks; `progress` if it reports each look.
    pub(crate) fn of(policy: &PollingPolicy, progress: bool) -> Self {
        match policy.server_wait() {
            None => Hold::Never,
            Some(hold) if progress => Hold::UntilNext(hold),
            Some(hold) => Hold::For(hold),
        }
    }
}

/// One look, planned by [`PollSchedule::plan`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    /// How long the server may hold it (`WaitOperation`'s `timeout`); zero for a
    /// `GetOperation`.
    pub(crate) hold: Duration,
    /// Half the time until the next scheduled look (at most `hold`): the hold of the look
    /// that first asks a server whether it serves `WaitOperation`. The other waits poll
    /// meanwhile; ended halfway, the probe's answer is in before their next looks, which
    /// started with it, so each of them polls once, not twice.
    pub(crate) probe_hold: Duration,
    /// The earliest the next look may start; `None` when this is the last.
    next: Option<Instant>,
}

impl PollSchedule {
    /// A wait under `policy` that starts `now`.
    pub(crate) fn start(policy: &PollingPolicy, now: Instant) -> Self {
        Self {
            delays: policy.delays(),
            deadline: policy.deadline().map(|d| later(now, d)),
            last_look: false,
        }
    }

    /// Plans the look that starts `now`: how long the server may hold it (never past the
    /// deadline) and when the one after it may start.
    pub(crate) fn plan(&mut self, now: Instant, hold: Hold) -> Look {
        if self.last_look {
            return Look {
                hold: Duration::ZERO,
                probe_hold: Duration::ZERO,
                next: None,
            };
        }
        let delay = self.delays.next().unwrap_or(Duration::from_secs(1));
        let mut next = later(now, delay);
        if let Some(deadline) = self.deadline
            && next >= deadline
        {
            self.last_look = true;
            next = deadline;
        }
        let left = self.deadline.map(|d| d.saturating_duration_since(now));
        let hold = match hold {
            Hold::Never => Duration::ZERO,
            Hold::UntilNext(cap) => next.saturating_duration_since(now).min(cap),
            Hold::For(cap) => left.map_or(cap, |left| left.min(cap)),
        };
        Look {
            hold,
            probe_hold: hold.min(next.saturating_duration_since(now) / 2),
            next: Some(next),
        }
    }

    /// After `look` found the operation running at `now`: when to look next, or `None` when
    /// the wait is over (that was the last look, or the deadline passed while it was held).
    pub(crate) fn after(&self, look: &Look, now: Instant) -> Option<Instant> {
        let next = look.next?;
        if self.deadline.is_some_and(|d| now >= d) {
            return None;
        }
        Some(next.max(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Jitter;

    fn policy(deadline: u64) -> PollingPolicy {
        PollingPolicy::builder()
            .jitter(Jitter::None)
            .deadline(Some(Duration::from_secs(deadline)))
            .build()
            .unwrap()
    }

    #[test]
    fn a_held_look_never_outlasts_the_deadline_and_the_last_is_a_get() {
        let t0 = Instant::now();
        let mut schedule = PollSchedule::start(&policy(45), t0);
        let first = schedule.plan(t0, Hold::For(Duration::from_secs(30)));
        assert_eq!(first.hold, Duration::from_secs(30));
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(
            schedule.after(&first, t1),
            Some(t1),
            "held as asked: next at once"
        );
        let second = schedule.plan(t1, Hold::For(Duration::from_secs(30)));
        assert_eq!(second.hold, Duration::from_secs(15), "only the time left");
        assert_eq!(schedule.after(&second, t0 + Duration::from_secs(45)), None);
    }

    #[test]
    fn an_answer_at_once_waits_out_the_delay() {
        let t0 = Instant::now();
        let mut schedule = PollSchedule::start(&policy(60), t0);
        let look = schedule.plan(t0, Hold::For(Duration::from_secs(30)));
        let answered = t0 + Duration::from_millis(1);
        assert_eq!(
            schedule.after(&look, answered),
            Some(t0 + Duration::from_secs(1))
        );
    }

    #[test]
    fn a_progress_hold_ends_at_the_next_scheduled_look() {
        let t0 = Instant::now();
        let mut schedule = PollSchedule::start(&policy(60), t0);
        let hold = Hold::UntilNext(Duration::from_secs(30));
        assert_eq!(schedule.plan(t0, hold).hold, Duration::from_secs(1));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(schedule.plan(t1, hold).hold, Duration::from_millis(1500));
        let never = schedule.plan(t1, Hold::Never);
        assert_eq!(never.hold, Duration::ZERO);
    }

    #[test]
    fn polling_takes_one_last_look_at_the_deadline() {
        let t0 = Instant::now();
        let mut schedule = PollSchedule::start(&policy(2), t0);
        let first = schedule.plan(t0, Hold::Never);
        let t1 = schedule.after(&first, t0).unwrap();
        assert_eq!(t1, t0 + Duration::from_secs(1));
        let second = schedule.plan(t1, Hold::Never);
        let t2 = schedule.after(&second, t1).unwrap();
        assert_eq!(
            t2,
            t0 + Duration::from_secs(2),
            "the last look, at the deadline"
        );
        let last = schedule.plan(t2, Hold::Never);
        assert!(last.next.is_none(), "no look after the last");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::Jitter;

    proptest! {
        /// Whatever the policy and however soon the server answers, a look never asks the
        /// server to hold past the deadline, the next look never starts before the answer
        /// or the schedule's time, never after the deadline, and a wait with a deadline
        /// ends.
        #[test]
        fn looks_stay_inside_the_deadline_and_never_come_early(
            // At least 100 ms, drawn in [d/2, d] or exact: under 12,000 looks in 600 s.
            initial_ms in 100u64..5_000,
            multiplier in 1.0f64..3.0,
            max_factor in 1u64..20,
            deadline_ms in proptest::option::of(10u64..600_000),
            hold_s in proptest::option::of(1u64..60),
            progress in any::<bool>(),
            half in any::<bool>(),
            seed in any::<u64>(),
            answers in proptest::collection::vec(0.0f64..1.5, 1..64),
        ) {
            let policy = PollingPolicy::builder()
                .initial_delay(Duration::from_millis(initial_ms))
                .max_delay(Duration::from_millis(initial_ms * max_factor))
                .multiplier(multiplier)
                .jitter(if half { Jitter::Half } else { Jitter::None })
                .seed(seed)
                .deadline(deadline_ms.map(Duration::from_millis))
                .server_wait(hold_s.map(Duration::from_secs))
                .build()
                .unwrap();
            let hold = Hold::of(&policy, progress);
            let t0 = Instant::now();
            let deadline = deadline_ms.map(|ms| t0 + Duration::from_millis(ms));
            let mut schedule = PollSchedule::start(&policy, t0);
            let mut now = t0;
            let mut ended = false;
            for look in 0..20_000usize {
                let plan = schedule.plan(now, hold);
                if let Some(deadline) = deadline {
                    prop_assert!(now + plan.hold <= deadline, "held past the deadline");
                }
                prop_assert!(plan.probe_hold <= plan.hold);
                // The server answers somewhere in the hold (a fraction above 1: at its end),
                // or a GetOperation a millisecond later.
                let fraction = answers[look % answers.len()].min(1.0);
                let answered = if plan.hold.is_zero() {
                    now + Duration::from_millis(1)
                } else {
                    now + plan.hold.mul_f64(fraction)
                };
                match schedule.after(&plan, answered) {
                    None => {
                        ended = true;
                        break;
                    }
                    Some(at) => {
                        prop_assert!(at >= answered, "the next look before the answer");
                        if let Some(next) = plan.next {
                            prop_assert!(at >= next, "the next look before its time");
                        }
                        if let Some(deadline) = deadline {
                            prop_assert!(at <= deadline, "a look after the deadline");
                        }
                        now = at;
                    }
                }
                if deadline.is_none() && look > 200 {
                    break;
                }
            }
            prop_assert!(ended || deadline.is_none(), "a wait with a deadline ends");
        }
    }
}
