//! An in-process `google.longrunning.Operations` server for tests: scripted operations,
//! faithful semantics, front-end checks, fault injection and a journal of every call.
//!
//! It is a real tonic server on a real socket, so the code under test talks gRPC to it
//! exactly as it would to Google.
//!
//! ```
//! use longrunning_grpc::emulator::{Emulator, OnCancel, ScriptedOperation};
//! use longrunning_grpc::{CancelOutcome, OperationsClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start().await?;
//! emulator.insert(
//!     ScriptedOperation::new("projects/p/locations/l/operations/build-7").on_cancel(OnCancel::Honour),
//! );
//!
//! let client = OperationsClient::builder()
//!     .endpoint(emulator.endpoint())
//!     .anonymous()
//!     .build()?;
//! let outcome = client.cancel_and_wait("projects/p/locations/l/operations/build-7").await?;
//! assert!(matches!(outcome, CancelOutcome::Cancelled(_)));
//! assert_eq!(emulator.journal().len(), 2); // one cancel, one get
//! # Ok(())
//! # }
//! ```
//!
//! The pieces: [`ScriptedOperation`] (what an operation does), [`Fault`] (failures to
//! inject), the journal ([`Received`]), and the server itself ([`EmulatorBuilder`],
//! [`Emulator`]); its state is kept apart from its gRPC handlers.

mod admin;
mod builder;
mod fault;
mod handler;
mod journal;
#[cfg(feature = "json")]
mod scenario;
mod script;
mod state;
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use builder::EmulatorBuilder;
pub use fault::Fault;
pub use journal::{Method, Received};
#[cfg(feature = "json")]
pub use scenario::{Scenario, ScenarioError};
pub use script::{Completion, OnCancel, ScriptedOperation, WaitBehaviour};
use state::Shared;
pub use tls::{TlsFilesError, check_tls};

use crate::pb;

/// The page size when a `ListOperations` request asks for none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page returned, whatever the request asks.
pub const MAX_PAGE_SIZE: usize = 100;
/// How many calls the journal keeps; older ones are dropped.
pub const JOURNAL_LIMIT: usize = 1_000_000;

/// A running in-process `google.longrunning.Operations` server. Stops when dropped or on
/// [`Emulator::shutdown`].
pub struct Emulator {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Where [`Emulator::channel`]'s in-process pipes go to be served.
    memory: tokio::sync::mpsc::UnboundedSender<tokio::io::DuplexStream>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` with a free port and no front-end checks.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for an emulator with front-end checks or another address.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The URL to hand to [`crate::OperationsClientBuilder::endpoint`],
    /// e.g. `http://127.0.0.1:40123` (`https://` with [`EmulatorBuilder::tls`]).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// A tonic `Channel` to this emulator over an in-process pipe instead of a socket
    /// (plaintext emulators only), for `OperationsClientBuilder::channel`. On paused tokio
    /// time this is what keeps a test exact: no byte waits in the kernel, so the clock
    /// advances only when every task is idle, never while an answer is on its way.
    pub fn channel(&self) -> tonic::transport::Channel {
        let memory = self.memory.clone();
        let connect = tower::service_fn(move |_: http::Uri| {
            let memory = memory.clone();
            async move {
                let (client, server) = tokio::io::duplex(1 << 20);
                memory
                    .send(server)
                    .map_err(|_| std::io::Error::other("the emulator has stopped"))?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(client))
            }
        });
        tonic::transport::Endpoint::from_static("http://emulator.in-process")
            .connect_with_connector_lazy(connect)
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds (or replaces) an operation. It starts running now.
    pub fn insert(&self, op: ScriptedOperation) {
        self.operations().insert(op);
    }

    /// Changes a running operation's metadata (its progress, say), as the service would
    /// while it runs. False if there is no such operation.
    pub fn set_metadata(&self, name: &str, metadata: prost_types::Any) -> bool {
        self.operations().set_metadata(name, metadata)
    }

    /// The operation as a client would now see it (without counting as a poll).
    pub fn operation(&self, name: &str) -> Option<pb::Operation> {
        self.operations().get(name)
    }

    /// A handle on the operations it serves, for code that runs beside it (see
    /// [`EmulatorBuilder::operations`]).
    pub fn operations(&self) -> OperationStore {
        OperationStore {
            shared: self.shared.clone(),
        }
    }

    /// Every call received so far, oldest first.
    pub fn journal(&self) -> Vec<Received> {
        self.shared.lock().journal.iter().cloned().collect()
    }

    /// How many looks at operations it has answered: `GetOperation` and `WaitOperation`
    /// calls, which a client's waits make (a held `WaitOperation` counts when it ends).
    pub fn looks(&self) -> usize {
        self.count(Method::Get) + self.count(Method::Wait)
    }

    /// How many calls of `method` were received.
    pub fn count(&self, method: Method) -> usize {
        self.shared
            .lock()
            .journal
            .iter()
            .filter(|c| c.method == method)
            .count()
    }

    /// Forgets the calls received so far.
    pub fn clear_journal(&self) {
        self.shared.lock().journal.clear();
    }

    /// Queues a fault: the next matching calls fail with its status. Faults apply in the
    /// order queued.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().inject(fault);
    }

    /// Resources reported in `unreachable` on the first page of a `ListOperations` that asks
    /// for `return_partial_success`. Default: none.
    pub fn set_unreachable(&self, unreachable: Vec<String>) {
        self.shared.lock().unreachable = unreachable;
    }

    /// Delays every answer by `latency`. Default: none.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Stops accepting calls, lets calls in progress finish, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The operations an emulator serves: a cheap handle (clone it) for the services added
/// beside it ([`EmulatorBuilder::add_service`]), which insert the operations their
/// methods return, and for tests. From [`EmulatorBuilder::operations`] or
/// [`Emulator::operations`].
#[derive(Clone)]
pub struct OperationStore {
    shared: Arc<Shared>,
}

impl fmt::Debug for OperationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationStore").finish_non_exhaustive()
    }
}

impl OperationStore {
    /// Adds (or replaces) an operation, which starts running now, and returns it as a
    /// client would now see it: what a method that starts it returns.
    pub fn insert(&self, op: ScriptedOperation) -> pb::Operation {
        let name = op.name.clone();
        let snapshot = {
            let mut state = self.shared.lock();
            state.insert(op);
            state.op_mut(&name).map(|op| {
                op.refresh(Instant::now());
                op.snapshot()
            })
        };
        self.shared.changed.notify_waiters();
        snapshot.unwrap_or_default()
    }

    /// Changes a running operation's metadata. False if there is no such operation.
    pub fn set_metadata(&self, name: &str, metadata: prost_types::Any) -> bool {
        let changed = match self.shared.lock().op_mut(name) {
            Ok(op) => {
                op.script.metadata = Some(metadata);
                true
            }
            Err(_) => false,
        };
        if changed {
            self.shared.changed.notify_waiters();
        }
        changed
    }

    /// The operation as a client would now see it (without counting as a poll).
    pub fn get(&self, name: &str) -> Option<pb::Operation> {
        let mut state = self.shared.lock();
        let op = state.op_mut(name).ok()?;
        op.refresh(Instant::now());
        Some(op.snapshot())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
