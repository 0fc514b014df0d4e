//! One look at an operation: a `WaitOperation` the server holds, where it serves it, else a
//! `GetOperation`; and what a client has learnt about its server's `WaitOperation`
//! ([`ServerWait`], shared by the client's clones).

use std::sync::atomic::{AtomicU8, Ordering};

use tracing::Instrument;

use super::poller::is_transient;
use super::schedule::Look;
use crate::pb::Operation;
use crate::transport::GrpcTransport;
use crate::{Call, OperationsClient};

const UNKNOWN: u8 = 0;
/// One `WaitOperation` is out to learn whether the server serves it.
const PROBING: u8 = 1;
const SERVED: u8 = 2;
/// Answered `UNIMPLEMENTED`, or failed where a `GetOperation` of the same operation did
/// not: not used again.
const UNUSABLE: u8 = 3;

/// Whether the client's server serves `WaitOperation`: unknown until one call says, and
/// while that call is out the other waits poll, so at most one `WaitOperation` per client
/// (and endpoint: a client has one) learns that it is not implemented.
#[derive(Debug, Default)]
pub(crate) struct ServerWait {
    state: AtomicU8,
}

impl ServerWait {
    /// Whether a look may wait on the server: `Some` with the probe's guard if so.
    fn enter(&self) -> Option<Probe<'_>> {
        match self.state.load(Ordering::Acquire) {
            SERVED => Some(Probe {
                wait: self,
                probing: false,
            }),
            UNKNOWN => self
                .state
                .compare_exchange(UNKNOWN, PROBING, Ordering::AcqRel, Ordering::Acquire)
                .ok()
                .map(|_| Probe {
                    wait: self,
                    probing: true,
                }),
            _ => None,
        }
    }

    /// Whether the server was found not to implement `WaitOperation`, or to fail it.
    pub(crate) fn is_unusable(&self) -> bool {
        self.state.load(Ordering::Acquire) == UNUSABLE
    }
}

/// A look that waits on the server; if it was the probe and ends without learning
/// anything (a transient error, or dropped), the next look probes again.
struct Probe<'a> {
    wait: &'a ServerWait,
    probing: bool,
}

impl Probe<'_> {
    fn learnt(mut self, state: u8) {
        self.wait.state.store(state, Ordering::Release);
        self.probing = false;
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if self.probing {
            let _ = self.wait.state.compare_exchange(
                PROBING,
                UNKNOWN,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

/// One look at `name` as planned: a `WaitOperation` held up to `plan.hold` if the hold is
/// not zero and the server serves it (or nobody knows yet: then held half the time until
/// the next scheduled look, `plan.probe_hold`), else a `GetOperation`. A `WaitOperation` that fails is taken again as a
/// `GetOperation` under the retry policy, so a wait is never less patient than polling;
/// one answered `UNIMPLEMENTED`, or whose `GetOperation` succeeds where it failed (a
/// server whose `WaitOperation` misbehaves, e.g. refusing the `timeout`), is remembered
/// and not used again.
pub(crate) fn look<T: GrpcTransport>(
    client: &OperationsClient<T>,
    name: &str,
    plan: &Look,
) -> Call<Operation> {
    // Known here, before anything is cloned or boxed: a client that polls pays nothing
    // per look for the server wait it does not use.
    if plan.hold.is_zero() || client.config.server_wait.is_unusable() {
        return client.get_operation(name);
    }
    let client = client.clone();
    let name = name.to_owned();
    let (hold, probe_hold) = (plan.hold, plan.probe_hold);
    // The calls are made inside, later: in the span this look was made in (a wait's).
    let span = tracing::Span::current();
    let look = async move {
        let Some(probe) = client.config.server_wait.enter() else {
            return client.get_operation(&name).await;
        };
        let hold = if probe.probing { probe_hold } else { hold };
        match client.wait_operation(&name, hold).await {
            Ok(op) => {
                probe.learnt(SERVED);
                Ok(op)
            }
            Err(e) if e.is_status() && e.is_unimplemented() => {
                tracing::debug!(error = %e, "WaitOperation is not implemented; polling");
                probe.learnt(UNUSABLE);
                client.get_operation(&name).await
            }
            Err(e) if is_transient(&e) => {
                tracing::debug!(error = %e, "WaitOperation failed; looking with GetOperation");
                drop(probe);
                client.get_operation(&name).await
            }
            Err(e) if e.is_status() => {
                // The operation's own trouble (gone, not allowed) or the method's: the same
                // look with GetOperation tells which.
                let get = client.get_operation(&name).await;
                if get.is_ok() {
                    tracing::debug!(error = %e, "WaitOperation failed where GetOperation did not; polling");
                    probe.learnt(UNUSABLE);
                }
                get
            }
            Err(e) => Err(e),
        }
    };
    Call::new(look.instrument(span))
}
