//! The pool: `connections(n)` slots, each connected lazily, reconnected when it closes, and
//! shared by every call that arrives while it connects.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, Weak};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::OwnedSemaphorePermit;
use tonic::body::Body;

use super::connect::{ConnectFailed, Connector};
use super::connection::{Conn, SendFailed, send_on};
use super::{Responding, round_robin};
use crate::error::BoxError;

/// Requests in h2's hands (sent, or queued for a stream) per connection of the pool: one
/// semaphore for the pool holds this many permits for each connection, and calls over it
/// wait in `poll_ready`, before their request is even encoded. Like the buffer of a tonic
/// `Channel` (also 1,024), it keeps a burst of calls from holding every encoded request at
/// once. Well above the ~100 streams a front end serves per connection, so it never limits
/// throughput.
pub(super) const MAX_PENDING: usize = 1024;

pub(super) struct Pool {
    pub(super) connections: Box<[Mutex<Slot>]>,
    pub(super) next: AtomicUsize,
    pub(super) connector: Connector,
}

/// One connection's state. A call that finds it idle or closed starts connecting; calls
/// that arrive meanwhile wait on the same attempt rather than opening connections of their
/// own.
pub(super) enum Slot {
    Idle,
    Connecting(Shared<BoxFuture<'static, Result<Conn, ConnectFailed>>>),
    Ready(Conn),
}

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
            let response = match send_on(&conn, request).await {
                Ok(response) => response,
                Err(SendFailed::Sent(e)) => return Err(e),
                // The connection had ended before the request went out (a GOAWAY this call
                // could not have known of, say): nothing was sent, so the request goes at
                // once on a new connection, once, as gRPC's transparent retry has it.
                Err(SendFailed::Unsent(request, e)) => {
                    tracing::debug!(error = %e, "connection ended; sending on a new one");
                    let conn = pool.connection(index).await?;
                    match send_on(&conn, *request).await {
                        Ok(response) => response,
                        Err(SendFailed::Sent(e) | SendFailed::Unsent(_, e)) => return Err(e),
                    }
                }
            };
            // Room for another request once this one has its answer's head.
            drop(permit);
            Ok(response)
        })
    }

    /// Slot `index`'s connection: the open one, or the attempt under way to open it (begun
    /// here if there is none).
    async fn connection(self: &Arc<Self>, index: usize) -> Result<Conn, BoxError> {
        let connecting = {
            let mut slot = self.connections[index]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Slot::Ready(conn) if !conn.is_closed() => return Ok(conn.clone()),
                Slot::Connecting(attempt) => attempt.clone(),
                Slot::Idle | Slot::Ready(_) => {
                    let attempt = connect_into(Arc::downgrade(self), index).boxed().shared();
                    *slot = Slot::Connecting(attempt.clone());
                    attempt
                }
            }
        };
        connecting.await.map_err(ConnectFailed::into_status)
    }
}

/// Connects slot `index` of the pool and records the outcome there: the connection, or
/// idle again so that the next call tries anew. Holds the pool weakly, so a client dropped
/// mid-connect is freed.
async fn connect_into(pool: Weak<Pool>, index: usize) -> Result<Conn, ConnectFailed> {
    let connector = match pool.upgrade() {
        Some(pool) => pool.connector.clone(),
        None => return Err(ConnectFailed::new("the client was dropped".into(), None)),
    };
    let outcome = connector.connect().await;
    if let Some(pool) = pool.upgrade() {
        let mut slot = pool.connections[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *slot = match &outcome {
            Ok(conn) => Slot::Ready(conn.clone()),
            Err(_) => Slot::Idle,
        };
    }
    outcome
}
