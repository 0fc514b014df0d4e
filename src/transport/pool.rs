//! The pool: `connections(n)` slots, each connected lazily, reconnected when it closes, and
//! shared by every call that arrives while it connects.
//!
//! A connect attempt runs in a task of its own, so it ends (and its connection is kept)
//! even when every call that waited on it was dropped. After a failed attempt the slot
//! waits out gRPC's connection backoff (`doc/connection-backoff.md`: 1 s, × 1.6 up to
//! 120 s, jitter ± 20 %) before the next one: calls in the meantime fail at once with the
//! last attempt's error, which tells the retry loop when the next attempt can be made, so a
//! dead endpoint is not hit with one connect per call.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tonic::body::Body;

use super::connect::Connector;
use super::connection::{Conn, SendFailed, send_on};
use super::failure::TransportFailure;
use super::{Responding, round_robin};
use crate::error::BoxError;
use crate::policy::{Backoff, connection_backoff, later};

/// Requests in h2's hands (sent, or queued for a stream) per connection of the pool: one
/// semaphore for the pool holds this many permits for each connection, and calls over it
/// wait in `poll_ready`, before their request is even encoded. Like the buffer of a tonic
/// `Channel` (also 1,024), it keeps a burst of calls from holding every encoded request at
/// once. Well above the ~100 streams a front end serves per connection, so it never limits
/// throughput.
pub(super) const MAX_PENDING: usize = 1024;

/// A call's one transparent resend, shared by its attempts (in each attempt's request
/// extensions): the first attempt the server does not process is sent again at once, later
/// ones go back to the retry policy. A request without one (sent over [`super::Transport`]
/// by a stub of the user's) may be sent again once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resend(Arc<std::sync::atomic::AtomicBool>);

impl Resend {
    /// Whether the resend is still there; it is not, afterwards.
    fn take(&self) -> bool {
        !self.0.swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}

pub(super) struct Pool {
    pub(super) connections: Box<[Mutex<Slot>]>,
    pub(super) next: AtomicUsize,
    pub(super) connector: Connector,
}

/// One connection's place in the pool.
#[derive(Default)]
pub(super) struct Slot {
    state: State,
    /// The backoff of the failures in a row; none once an attempt succeeds.
    backoff: Option<Backoff>,
}

/// A call that finds the slot idle, closed or past its backoff starts connecting; calls
/// that arrive meanwhile wait on the same attempt rather than opening connections of their
/// own.
#[derive(Default)]
enum State {
    #[default]
    Idle,
    Connecting(Attempt),
    Ready(Conn),
    /// The last attempt failed; no new one before its `retry_at`.
    Failed(TransportFailure),
}

/// A connect attempt, shared by the calls that wait on it; a failure carries the end of
/// the backoff it started as its `retry_at`.
type Attempt = Shared<BoxFuture<'static, Result<Conn, TransportFailure>>>;

impl Pool {
    pub(super) fn call(
        self: &Arc<Self>,
        mut request: http::Request<Body>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Responding {
        request.headers_mut().insert(
            http::header::USER_AGENT,
            self.connector.user_agent().clone(),
        );
        let index = round_robin(&self.next, self.connections.len());
        let pool = self.clone();
        Box::pin(async move {
            let conn = pool.connection(index).await?;
            match send_on(&conn, request, permit).await {
                Ok(response) => Ok(response),
                Err(SendFailed::Sent(e)) => Err(e),
                // The server never processed the request (see `connection::send_on`): it
                // goes at once on a fresh stream, of a new connection if this one has
                // ended, once per call, as gRPC's transparent retry has it; after that the
                // retry policy decides.
                Err(SendFailed::Unsent(mut request, e)) => {
                    let allowed = match request.extensions_mut().remove::<Resend>() {
                        Some(once) => once.take(),
                        None => true,
                    };
                    if !allowed {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "request not processed; sending it again");
                    let conn = pool.connection(index).await?;
                    // Its room went with the first send; it takes none of its own.
                    match send_on(&conn, *request, None).await {
                        Ok(response) => Ok(response),
                        Err(SendFailed::Sent(e) | SendFailed::Unsent(_, e)) => Err(e),
                    }
                }
            }
        })
    }

    /// Slot `index`'s connection: the open one, or the attempt under way to open it (begun
    /// here if there is none and the slot is not backing off).
    pub(super) async fn connection(self: &Arc<Self>, index: usize) -> Result<Conn, BoxError> {
        let connecting = {
            let mut slot = self.connections[index]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match &slot.state {
                State::Ready(conn) if !conn.is_closed() => return Ok(conn.clone()),
                State::Connecting(attempt) => attempt.clone(),
                State::Failed(failure)
                    if failure.retry_at.is_some_and(|until| Instant::now() < until) =>
                {
                    return Err(failure.clone().into_status());
                }
                State::Idle | State::Ready(_) | State::Failed(_) => {
                    let task = tokio::spawn(connect_into(Arc::downgrade(self), index));
                    let attempt = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(TransportFailure::unavailable(format!(
                                "the connect task ended: {e}"
                            )))
                        })
                    }
                    .boxed()
                    .shared();
                    slot.state = State::Connecting(attempt.clone());
                    attempt
                }
            }
        };
        connecting.await.map_err(TransportFailure::into_status)
    }
}

/// Connects slot `index` of the pool and records the outcome there: the connection, or the
/// failure and the backoff it starts. Holds the pool weakly, so a client dropped
/// mid-connect is freed.
async fn connect_into(pool: Weak<Pool>, index: usize) -> Result<Conn, TransportFailure> {
    let connector = match pool.upgrade() {
        Some(pool) => pool.connector.clone(),
        None => {
            return Err(TransportFailure::unavailable("the client was dropped"));
        }
    };
    let outcome = connector.connect().await;
    let Some(pool) = pool.upgrade() else {
        return outcome;
    };
    let mut slot = pool.connections[index]
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match outcome {
        Ok(conn) => {
            slot.state = State::Ready(conn.clone());
            slot.backoff = None;
            Ok(conn)
        }
        Err(error) => {
            let delay = slot
                .backoff
                .get_or_insert_with(connection_backoff)
                .next()
                .unwrap_or_default();
            let until = later(Instant::now(), delay);
            tracing::debug!(
                target = connector.target(),
                ?delay,
                "connect failed; backing off"
            );
            let failure = error.until(until);
            slot.state = State::Failed(failure.clone());
            Err(failure)
        }
    }
}
