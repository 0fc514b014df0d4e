//! Waiting on many operations at once: [`Waiter`], one scheduler for all of them.
//!
//! A task per operation (`tokio::spawn(client.poll_until_done(name))` ten thousand times)
//! costs a task, a timer and a boxed future each for the whole wait. Here an operation
//! that is not being polled is a name, its backoff and its deadline (under 200 bytes; the
//! `wait_all` benchmark measures it), the waits share one timer, and at most
//! [`Waiter::max_in_flight`] polls run at once. Each operation still polls on the
//! policy's own schedule, from the time it was added.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use super::look;
use super::poller::is_transient;
use super::schedule::{Hold, Look, PollSchedule};
use crate::transport::{GrpcTransport, Transport};
use crate::{Call, Error, OperationsClient, pb};

/// Polls in flight at once, unless set.
const DEFAULT_MAX_IN_FLIGHT: usize = 100;

/// Waits on many operations on one scheduler, yielding each as it finishes: `(name,
/// Ok(operation))` once it is done, `(name, Err(..))` if its wait ended otherwise (the
/// polling deadline, a poll error that is not UNAVAILABLE or DEADLINE_EXCEEDED, an invalid
/// name). Made by [`OperationsClient::wait_all`]; add more with [`Waiter::add`]. The
/// stream ends when nothing is left to wait on; dropping it stops all polling.
///
/// ```
/// # use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
/// # use longrunning_grpc::policy::PollingPolicy;
/// # use longrunning_grpc::OperationsClient;
/// use futures_util::StreamExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let emulator = Emulator::start().await?;
/// # let names: Vec<String> = (0..3).map(|i| format!("projects/p/locations/l/operations/op-{i}")).collect();
/// # for name in &names { emulator.insert(ScriptedOperation::new(name).completion(Completion::AfterPolls(2))); }
/// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous()
/// #     .polling_policy(PollingPolicy::builder().initial_delay(std::time::Duration::from_millis(10)).build()?)
/// #     .build()?;
/// let mut finished = client.wait_all(&names).max_in_flight(50);
/// while let Some((name, result)) = finished.next().await {
///     println!("{name}: done = {}", result?.done);
/// }
/// # Ok(()) }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Waiter<T = Transport> {
    client: OperationsClient<T>,
    /// The operations waited on; `None` marks a free slot.
    slots: Vec<Option<Waiting>>,
    free: Vec<u32>,
    /// When each operation not being polled polls next, earliest first.
    due: BinaryHeap<Reverse<(Instant, u32)>>,
    in_flight: FuturesUnordered<Tagged>,
    max_in_flight: usize,
    /// How long the server may hold a look, while every operation can have one in flight.
    hold: Hold,
    timer: Pin<Box<Sleep>>,
    waiting: usize,
}

/// One operation waited on, between its polls.
struct Waiting {
    name: Box<str>,
    schedule: PollSchedule,
}

/// A look, tagged with its operation's slot and plan; with no plan, the give-up of a
/// wait whose deadline passed (its cancel, under a policy that cancels then), whose
/// answer is the end.
struct Tagged {
    slot: u32,
    plan: Option<Look>,
    call: Call<pb::Operation>,
}

impl Future for Tagged {
    type Output = (u32, Option<Look>, Result<pb::Operation, Error>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (slot, plan) = (self.slot, self.plan);
        Pin::new(&mut self.call).poll(cx).map(|r| (slot, plan, r))
    }
}

impl<T: GrpcTransport> Waiter<T> {
    /// A waiter on `names` ([`OperationsClient::wait_all`]).
    pub(crate) fn new<I>(client: OperationsClient<T>, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let hold = Hold::of(&client.config.polling, false);
        let mut waiter = Waiter {
            client,
            slots: Vec::new(),
            free: Vec::new(),
            due: BinaryHeap::new(),
            in_flight: FuturesUnordered::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            hold,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            waiting: 0,
        };
        for name in names {
            waiter.add(name.as_ref());
        }
        waiter
    }
}

impl<T: GrpcTransport> Waiter<T> {
    /// At most this many calls at once (at least 1). Default: 100. The server holds looks
    /// (`WaitOperation`) only while [`len`](Self::len) is at most this: a held call keeps
    /// its place for its hold, and no operation should wait its turn behind one. To hold a
    /// call for each of 10,000 operations, set 10,000 (and see the README for its cost).
    pub fn max_in_flight(mut self, polls: usize) -> Self {
        self.max_in_flight = polls.max(1);
        self
    }

    /// Waits on one more operation; its first poll is due now.
    pub fn add(&mut self, name: impl Into<String>) {
        let now = Instant::now();
        let waiting = Waiting {
            name: name.into().into_boxed_str(),
            schedule: PollSchedule::start(&self.client.config.polling, now),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(waiting);
                slot
            }
            None => {
                self.slots.push(Some(waiting));
                // More than u32::MAX operations at once would not fit in memory anyway.
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.due.push(Reverse((now, slot)));
        self.waiting += 1;
    }

    /// How many operations are still waited on.
    pub fn len(&self) -> usize {
        self.waiting
    }

    /// Whether nothing is left to wait on.
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Starts the polls that are due, as far as the bound allows.
    fn start_due(&mut self, now: Instant) {
        while self.in_flight.len() < self.max_in_flight {
            match self.due.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, slot))) = self.due.pop() else {
                break;
            };
            // A held look takes its place in flight for the hold: only while every
            // operation can have one does the server hold them, so none waits its turn
            // behind another's hold.
            let hold = if self.waiting <= self.max_in_flight {
                self.hold
            } else {
                Hold::Never
            };
            let Some(waiting) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
                continue;
            };
            let plan = waiting.schedule.plan(now, hold);
            let call = look(&self.client, &waiting.name, &plan);
            self.in_flight.push(Tagged {
                slot,
                plan: Some(plan),
                call,
            });
        }
    }

    /// What one poll's answer means for its operation: finished (its item), or polled
    /// again later.
    fn answered(
        &mut self,
        slot: u32,
        plan: Option<Look>,
        result: Result<pb::Operation, Error>,
    ) -> Option<(String, Result<pb::Operation, Error>)> {
        let waiting = self.slots.get_mut(slot as usize)?.as_mut()?;
        let next = match (&result, &plan) {
            (_, None) | (Ok(pb::Operation { done: true, .. }), _) => None,
            (Err(error), _) if !is_transient(error) => None,
            (_, Some(plan)) => waiting.schedule.after(plan, Instant::now()),
        };
        if let Some(at) = next {
            self.due.push(Reverse((at, slot)));
            return None;
        }
        let result = match result {
            // Still running after the last look, at the deadline: the give-up (which under
            // a policy that cancels then makes calls) goes in flight like a look, and its
            // answer is the end.
            Ok(op) if !op.done && plan.is_some() => {
                let give_up = super::give_up(self.client.clone(), op);
                self.in_flight.push(Tagged {
                    slot,
                    plan: None,
                    call: Call::new(async move { Err(give_up.await) }),
                });
                return None;
            }
            other => other,
        };
        let waiting = self.slots[slot as usize].take()?;
        self.free.push(slot);
        self.waiting -= 1;
        Some((waiting.name.into_string(), result))
    }
}

// No field is pinned structurally: the timer is boxed and the client is only cloned from.
impl<T> Unpin for Waiter<T> {}

impl<T: GrpcTransport> Stream for Waiter<T> {
    type Item = (String, Result<pb::Operation, Error>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            this.start_due(Instant::now());
            while let Poll::Ready(Some((slot, plan, result))) = this.in_flight.poll_next_unpin(cx) {
                if let Some(item) = this.answered(slot, plan, result) {
                    return Poll::Ready(Some(item));
                }
                this.start_due(Instant::now());
            }
            if this.waiting == 0 {
                return Poll::Ready(None);
            }
            // Sleep until the next poll is due, if there is room to start it.
            let next = match this.due.peek() {
                Some(Reverse((at, _))) if this.in_flight.len() < this.max_in_flight => *at,
                _ => return Poll::Pending,
            };
            if this.timer.deadline() != next {
                this.timer.as_mut().reset(next);
            }
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<T> std::fmt::Debug for Waiter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("waiting", &self.waiting)
            .field("in_flight", &self.in_flight.len())
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}
