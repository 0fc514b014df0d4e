//! One wait's schedule of looks under a polling policy.

use std::time::Duration;

use crate::policy::{Backoff, PollingPolicy, later};

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
