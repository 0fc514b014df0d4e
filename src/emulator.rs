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
//!     .build()
//!     .await?;
//! let outcome = client.cancel_and_wait("projects/p/locations/l/operations/build-7").await?;
//! assert!(matches!(outcome, CancelOutcome::Cancelled(_)));
//! assert_eq!(emulator.journal().len(), 2); // one cancel, one get
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message;
use prost_types::Any;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

use crate::pb::operations_server::{Operations, OperationsServer};
use crate::pb::{self, operation, rpc};
use crate::retry::later;

/// The page size when a `ListOperations` request asks for none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page returned, whatever the request asks.
pub const MAX_PAGE_SIZE: usize = 100;
/// How many calls the journal keeps; older ones are dropped.
pub const JOURNAL_LIMIT: usize = 1_000_000;

/// When a scripted operation finishes on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Never: it runs until cancelled (if its cancel behaviour allows) or deleted.
    Never,
    /// Already done when inserted.
    Immediately,
    /// This long after it was inserted.
    After(Duration),
    /// At the N-th `GetOperation` (the N-th poll sees it done).
    AfterPolls(u32),
}

/// What a scripted operation does when `CancelOperation` is called on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnCancel {
    /// Becomes done with error code 1 (`CANCELLED`); the operation is kept.
    Honour,
    /// Answers OK and keeps running (best effort means it may do nothing).
    Ignore,
    /// Answers OK and completes at once with its scripted result.
    CompleteAnyway,
    /// Answers `UNIMPLEMENTED`.
    Unsupported,
}

/// An operation and its script: metadata, when it completes, how, and how it takes a cancel.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptedOperation {
    name: String,
    metadata: Option<Any>,
    completion: Completion,
    outcome: operation::Result,
    on_cancel: OnCancel,
}

impl ScriptedOperation {
    /// A running operation that never completes on its own, honours cancel, and would
    /// complete with an empty response (`google.protobuf.Empty`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metadata: None,
            completion: Completion::Never,
            outcome: operation::Result::Response(Any {
                type_url: "type.googleapis.com/google.protobuf.Empty".into(),
                value: Vec::new(),
            }),
            on_cancel: OnCancel::Honour,
        }
    }

    /// The operation's metadata. Default: none.
    #[must_use]
    pub fn metadata(mut self, metadata: Any) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// When it completes on its own. Default: [`Completion::Never`].
    #[must_use]
    pub fn completion(mut self, completion: Completion) -> Self {
        self.completion = completion;
        self
    }

    /// Completes with this response. Default: an empty `google.protobuf.Empty`.
    #[must_use]
    pub fn response(mut self, response: Any) -> Self {
        self.outcome = operation::Result::Response(response);
        self
    }

    /// Completes with this error instead of a response.
    #[must_use]
    pub fn error(mut self, code: Code, message: impl Into<String>) -> Self {
        self.outcome = operation::Result::Error(rpc::Status {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        });
        self
    }

    /// What a cancel does. Default: [`OnCancel::Honour`].
    #[must_use]
    pub fn on_cancel(mut self, on_cancel: OnCancel) -> Self {
        self.on_cancel = on_cancel;
        self
    }

    /// The operation's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The methods of `google.longrunning.Operations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `ListOperations`.
    List,
    /// `GetOperation`.
    Get,
    /// `DeleteOperation`.
    Delete,
    /// `CancelOperation`.
    Cancel,
    /// `WaitOperation`.
    Wait,
}

impl Method {
    /// The method's name, e.g. `CancelOperation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::List => "ListOperations",
            Method::Get => "GetOperation",
            Method::Delete => "DeleteOperation",
            Method::Cancel => "CancelOperation",
            Method::Wait => "WaitOperation",
        }
    }
}

/// Fails upcoming calls with a chosen status.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    method: Option<Method>,
    name: Option<String>,
    probability: Option<(f64, u64)>,
    code: Code,
    message: String,
    remaining: usize,
    details: Vec<Any>,
}

impl Fault {
    /// Fails the next `count` calls (of any method) with `code`.
    pub fn new(code: Code, count: usize) -> Self {
        Self {
            method: None,
            name: None,
            probability: None,
            code,
            message: format!("injected {}", crate::code_name(code)),
            remaining: count,
            details: Vec::new(),
        }
    }

    /// Only calls of this method are failed (and counted).
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Only calls about this operation (the request's `name`) are failed (and counted).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Each matching call fails with this probability (drawn from a generator seeded with
    /// `seed`, so runs repeat); only failed calls count towards the fault's count.
    #[must_use]
    pub fn probability(mut self, probability: f64, seed: u64) -> Self {
        self.probability = Some((probability.clamp(0.0, 1.0), seed));
        self
    }

    /// The status message. Default: `injected <CODE>`.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a `google.rpc.RetryInfo` detail asking the client to wait `delay`.
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        let delay = prost_types::Duration::try_from(delay).unwrap_or_default();
        let info = rpc::RetryInfo {
            retry_delay: Some(delay),
        };
        self.details
            .push(Any::from_msg(&info).expect("encoding to a Vec cannot fail"));
        self
    }

    /// Adds any detail (e.g. a packed `google.rpc.ErrorInfo`).
    #[must_use]
    pub fn detail(mut self, detail: Any) -> Self {
        self.details.push(detail);
        self
    }

    fn status(&self) -> Status {
        if self.details.is_empty() {
            return Status::new(self.code, self.message.clone());
        }
        let body = rpc::Status {
            code: self.code as i32,
            message: self.message.clone(),
            details: self.details.clone(),
        };
        Status::with_details(self.code, self.message.clone(), body.encode_to_vec().into())
    }
}

/// One call the emulator received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The HTTP/2 `:path`, e.g. `/google.longrunning.Operations/CancelOperation`.
    pub path: String,
    /// The `name` field of the request (the parent, for `ListOperations`).
    pub name: String,
    /// The request headers (gRPC metadata) as received.
    pub metadata: MetadataMap,
    /// The code the emulator answered with.
    pub code: Code,
    /// When the call arrived (tokio's clock, so paused-time tests see paused time).
    pub at: Instant,
    /// The client's address: calls from one HTTP/2 connection share it.
    pub peer: Option<SocketAddr>,
}

impl Call {
    /// A request header as text, if present and valid ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.metadata.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Configures an [`Emulator`] before it starts.
#[derive(Clone, Debug)]
#[must_use]
pub struct EmulatorBuilder {
    listen: SocketAddr,
    require_token: Option<String>,
    check_routing_header: bool,
    max_concurrent_streams: Option<u32>,
    tls: Option<(Vec<u8>, Vec<u8>)>,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            require_token: None,
            check_routing_header: false,
            max_concurrent_streams: None,
            tls: None,
        }
    }
}

impl EmulatorBuilder {
    /// The address to listen on. Default: `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Answers `UNAUTHENTICATED` unless `authorization: Bearer <token>` is sent.
    /// Default: no check.
    pub fn require_token(mut self, token: impl Into<String>) -> Self {
        self.require_token = Some(token.into());
        self
    }

    /// Answers `INVALID_ARGUMENT` unless `x-goog-request-params` carries `name=` with the
    /// request's name (percent-encoded or not). Default: no check.
    pub fn check_routing_header(mut self, check: bool) -> Self {
        self.check_routing_header = check;
        self
    }

    /// Caps concurrent streams per HTTP/2 connection, as Google front ends do (about 100).
    /// Default: no cap.
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = Some(streams);
        self
    }

    /// Serves TLS with this certificate chain and private key (PEM) instead of plaintext;
    /// the endpoint is then `https://`. Default: plaintext.
    pub fn tls(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Binds the socket and starts serving.
    pub async fn start(self) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                ops: BTreeMap::new(),
                index: HashMap::new(),
                next_seq: 0,
                faults: VecDeque::new(),
                latency: Duration::ZERO,
                journal: VecDeque::new(),
                unreachable: Vec::new(),
                rng: None,
            }),
            changed: Notify::new(),
            require_token: self
                .require_token
                .map(|t| format!("Bearer {t}").into_bytes()),
            check_routing_header: self.check_routing_header,
            salt: RandomState::new().build_hasher().finish(),
        });
        let service = RecordPath(OperationsServer::new(Service {
            shared: shared.clone(),
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let mut server = tonic::transport::Server::builder();
        if let Some(streams) = self.max_concurrent_streams {
            server = server.max_concurrent_streams(streams);
        }
        let scheme = if let Some((cert, key)) = &self.tls {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            server = server
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(std::io::Error::other)?;
            "https"
        } else {
            "http"
        };
        let router = server.add_service(service);
        let task = tokio::spawn(async move {
            // Like `Server::serve`, set TCP_NODELAY on accepted sockets: without it small
            // responses wait for the peer's delayed ACK.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                tracing::warn!(%error, "emulator stopped with an error");
            }
        });
        Ok(Emulator {
            addr,
            scheme,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running in-process `google.longrunning.Operations` server. Stops when dropped or on
/// [`Emulator::shutdown`].
pub struct Emulator {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
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

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds (or replaces) an operation. It starts running now.
    pub fn insert(&self, op: ScriptedOperation) {
        let mut inner = self.shared.lock();
        let now = Instant::now();
        let state = OpState {
            script: op,
            created: now,
            polls: 0,
            done: false,
            result: None,
        };
        let name = state.script.name.clone();
        if let Some(seq) = inner.index.get(&name).copied() {
            inner.ops.insert(seq, state);
        } else {
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.index.insert(name, seq);
            inner.ops.insert(seq, state);
        }
        drop(inner);
        self.shared.changed.notify_waiters();
    }

    /// The operation as a client would now see it (without counting as a poll).
    pub fn operation(&self, name: &str) -> Option<pb::Operation> {
        let mut inner = self.shared.lock();
        let seq = *inner.index.get(name)?;
        let op = inner.ops.get_mut(&seq)?;
        op.refresh(Instant::now());
        Some(op.snapshot())
    }

    /// Every call received so far, oldest first.
    pub fn journal(&self) -> Vec<Call> {
        self.shared.lock().journal.iter().cloned().collect()
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
        self.shared.lock().faults.push_back(fault);
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

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Shared {
    inner: Mutex<Inner>,
    /// Woken whenever an operation changes, for `WaitOperation`.
    changed: Notify,
    require_token: Option<Vec<u8>>,
    check_routing_header: bool,
    salt: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Inner {
    /// Operations in insertion order (the key is a sequence number).
    ops: BTreeMap<u64, OpState>,
    index: HashMap<String, u64>,
    next_seq: u64,
    faults: VecDeque<Fault>,
    latency: Duration,
    journal: VecDeque<Call>,
    unreachable: Vec<String>,
    /// Draws for probabilistic faults, seeded by the first such fault.
    rng: Option<fastrand::Rng>,
}

impl Inner {
    fn op_mut(&mut self, name: &str) -> Result<&mut OpState, Status> {
        let seq = self
            .index
            .get(name)
            .ok_or_else(|| Status::not_found(format!("operation {name:?} not found")))?;
        self.ops
            .get_mut(seq)
            .ok_or_else(|| Status::not_found(format!("operation {name:?} not found")))
    }
}

struct OpState {
    script: ScriptedOperation,
    created: Instant,
    polls: u32,
    done: bool,
    result: Option<operation::Result>,
}

impl OpState {
    fn refresh(&mut self, now: Instant) {
        if self.done {
            return;
        }
        let due = match self.script.completion {
            Completion::Never => false,
            Completion::Immediately => true,
            Completion::After(d) => now >= later(self.created, d),
            Completion::AfterPolls(n) => self.polls >= n,
        };
        if due {
            self.finish(self.script.outcome.clone());
        }
    }

    fn finish(&mut self, result: operation::Result) {
        self.done = true;
        self.result = Some(result);
    }

    /// When the operation completes on its own, if by time.
    fn due_at(&self) -> Option<Instant> {
        match self.script.completion {
            Completion::After(d) if !self.done => Some(later(self.created, d)),
            _ => None,
        }
    }

    fn snapshot(&self) -> pb::Operation {
        pb::Operation {
            name: self.script.name.clone(),
            metadata: self.script.metadata.clone(),
            done: self.done,
            result: self.result.clone(),
        }
    }
}

#[derive(Clone)]
struct Service {
    shared: Arc<Shared>,
}

/// The HTTP/2 path of a request, carried from the HTTP layer to the gRPC handler.
#[derive(Clone)]
struct RawPath(String);

impl Service {
    /// Latency, front-end checks and faults, in that order. `Err` is the answer to send.
    async fn front<M>(
        &self,
        request: &Request<M>,
        method: Method,
        name: &str,
    ) -> Result<(), Status> {
        let latency = self.shared.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(expected) = &self.shared.require_token {
            let sent = request
                .metadata()
                .get("authorization")
                .map(|v| v.as_bytes());
            if sent != Some(expected.as_slice()) {
                return Err(Status::unauthenticated(
                    "missing or wrong bearer token in authorization",
                ));
            }
        }
        if self.shared.check_routing_header {
            check_routing(request.metadata(), name)?;
        }
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        let rng = &mut inner.rng;
        let hit = inner.faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.method.is_none_or(|m| m == method)
                && f.name.as_deref().is_none_or(|n| n == name)
                && f.probability.is_none_or(|(p, seed)| {
                    rng.get_or_insert_with(|| fastrand::Rng::with_seed(seed))
                        .f64()
                        < p
                })
        });
        if let Some(fault) = hit {
            fault.remaining -= 1;
            let status = fault.status();
            inner.faults.retain(|f| f.remaining > 0);
            return Err(status);
        }
        Ok(())
    }

    fn record<M, R>(
        &self,
        request: &Request<M>,
        method: Method,
        name: &str,
        result: &Result<R, Status>,
    ) {
        let call = Call {
            method,
            path: request
                .extensions()
                .get::<RawPath>()
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            name: name.to_owned(),
            metadata: request.metadata().clone(),
            code: match result {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            },
            at: Instant::now(),
            peer: request.remote_addr(),
        };
        let mut inner = self.shared.lock();
        if inner.journal.len() >= JOURNAL_LIMIT {
            inner.journal.pop_front();
        }
        inner.journal.push_back(call);
    }

    async fn serve<M, R>(
        &self,
        request: Request<M>,
        method: Method,
        name: &str,
        handle: impl FnOnce(&mut Inner) -> Result<R, Status>,
    ) -> Result<Response<R>, Status> {
        let result = match self.front(&request, method, name).await {
            Ok(()) => handle(&mut self.shared.lock()),
            Err(status) => Err(status),
        };
        self.record(&request, method, name, &result);
        if method == Method::Cancel || method == Method::Delete {
            self.shared.changed.notify_waiters();
        }
        result.map(Response::new)
    }

    fn page_token(&self, parent: &str, filter: &str, seq: u64) -> String {
        format!("{seq:x}.{:016x}", self.token_mac(parent, filter, seq))
    }

    fn token_mac(&self, parent: &str, filter: &str, seq: u64) -> u64 {
        // Not cryptographic: it only makes tokens opaque and catches tampering or reuse
        // with another parent or filter.
        let mut h = std::hash::DefaultHasher::new();
        h.write_u64(self.shared.salt);
        h.write(parent.as_bytes());
        h.write_u8(0);
        h.write(filter.as_bytes());
        h.write_u64(seq);
        h.finish()
    }

    fn parse_token(&self, token: &str, parent: &str, filter: &str) -> Result<u64, Status> {
        let bad = || Status::invalid_argument(format!("invalid page_token {token:?}"));
        let (seq, mac) = token.split_once('.').ok_or_else(bad)?;
        let seq = u64::from_str_radix(seq, 16).map_err(|_| bad())?;
        let mac = u64::from_str_radix(mac, 16).map_err(|_| bad())?;
        if mac != self.token_mac(parent, filter, seq) {
            return Err(bad());
        }
        Ok(seq)
    }
}

fn check_routing(metadata: &MetadataMap, name: &str) -> Result<(), Status> {
    let header = metadata
        .get("x-goog-request-params")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Status::invalid_argument("missing x-goog-request-params"))?;
    let matches = header.split('&').any(|pair| {
        pair.strip_prefix("name=").is_some_and(|value| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .is_ok_and(|v| v == name)
        })
    });
    if matches {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "x-goog-request-params {header:?} does not match the request name {name:?}"
        )))
    }
}

/// Which operations a filter keeps.
fn parse_filter(filter: &str) -> Result<Option<bool>, Status> {
    let compact: String = filter.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.as_str() {
        "" => Ok(None),
        "done=true" => Ok(Some(true)),
        "done=false" => Ok(Some(false)),
        _ => Err(Status::invalid_argument(format!(
            "unsupported filter {filter:?}; the emulator knows done=true and done=false"
        ))),
    }
}

fn under(parent: &str, name: &str) -> bool {
    if parent.is_empty() {
        return true;
    }
    let rest = match name.strip_prefix(parent).and_then(|r| r.strip_prefix('/')) {
        Some(rest) => rest,
        None => return false,
    };
    // `projects/p/locations/l` holds `projects/p/locations/l/operations/x`;
    // `projects/p/locations/l/operations` holds the same.
    parent.ends_with("/operations") || parent == "operations" || rest.starts_with("operations/")
}

#[tonic::async_trait]
impl Operations for Service {
    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        let req = request.get_ref().clone();
        let start = if req.page_token.is_empty() {
            Ok(0)
        } else {
            self.parse_token(&req.page_token, &req.name, &req.filter)
        };
        let this = self.clone();
        self.serve(request, Method::List, &req.name.clone(), move |inner| {
            let start = start?;
            let wanted = parse_filter(&req.filter)?;
            let size = match req.page_size {
                n if n < 0 => {
                    return Err(Status::invalid_argument(format!(
                        "page_size must not be negative, got {n}"
                    )));
                }
                0 => DEFAULT_PAGE_SIZE,
                n => (n as usize).min(MAX_PAGE_SIZE),
            };
            let now = Instant::now();
            let mut operations = Vec::new();
            let mut next = None;
            for (seq, op) in inner.ops.range_mut(start..) {
                if !under(&req.name, &op.script.name) {
                    continue;
                }
                op.refresh(now);
                if wanted.is_some_and(|w| w != op.done) {
                    continue;
                }
                if operations.len() == size {
                    next = Some(*seq);
                    break;
                }
                operations.push(op.snapshot());
            }
            Ok(pb::ListOperationsResponse {
                operations,
                next_page_token: next
                    .map(|seq| this.page_token(&req.name, &req.filter, seq))
                    .unwrap_or_default(),
                unreachable: if req.return_partial_success && start == 0 {
                    inner.unreachable.clone()
                } else {
                    Vec::new()
                },
            })
        })
        .await
    }

    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let name = request.get_ref().name.clone();
        self.serve(request, Method::Get, &name.clone(), move |inner| {
            let op = inner.op_mut(&name)?;
            op.polls = op.polls.saturating_add(1);
            op.refresh(Instant::now());
            Ok(op.snapshot())
        })
        .await
    }

    async fn delete_operation(
        &self,
        request: Request<pb::DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.get_ref().name.clone();
        self.serve(request, Method::Delete, &name.clone(), move |inner| {
            let seq = inner
                .index
                .remove(&name)
                .ok_or_else(|| Status::not_found(format!("operation {name:?} not found")))?;
            inner.ops.remove(&seq);
            Ok(())
        })
        .await
    }

    async fn cancel_operation(
        &self,
        request: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.get_ref().name.clone();
        self.serve(request, Method::Cancel, &name.clone(), move |inner| {
            let op = inner.op_mut(&name)?;
            op.refresh(Instant::now());
            match op.script.on_cancel {
                OnCancel::Unsupported => {
                    return Err(Status::unimplemented(
                        "this operation does not support cancellation",
                    ));
                }
                _ if op.done => {}
                OnCancel::Honour => op.finish(operation::Result::Error(rpc::Status {
                    code: Code::Cancelled as i32,
                    message: "operation cancelled".into(),
                    details: Vec::new(),
                })),
                OnCancel::Ignore => {}
                OnCancel::CompleteAnyway => op.finish(op.script.outcome.clone()),
            }
            Ok(())
        })
        .await
    }

    async fn wait_operation(
        &self,
        request: Request<pb::WaitOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let name = request.get_ref().name.clone();
        let result = match self.front(&request, Method::Wait, &name).await {
            Err(status) => Err(status),
            Ok(()) => self.wait(&name, request.get_ref().timeout).await,
        };
        self.record(&request, Method::Wait, &name, &result);
        result.map(Response::new)
    }
}

impl Service {
    async fn wait(
        &self,
        name: &str,
        timeout: Option<prost_types::Duration>,
    ) -> Result<pb::Operation, Status> {
        let timeout = match timeout {
            Some(t) => Some(
                Duration::try_from(t)
                    .map_err(|_| Status::invalid_argument("timeout must not be negative"))?,
            ),
            None => None,
        };
        let deadline = timeout.map(|t| later(Instant::now(), t));
        loop {
            // Register interest before looking, so a change between the look and the sleep
            // is not missed.
            let changed = self.shared.changed.notified();
            let (op, due) = {
                let mut inner = self.shared.lock();
                let op = inner.op_mut(name)?;
                op.refresh(Instant::now());
                (op.snapshot(), op.due_at())
            };
            if op.done || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(op);
            }
            let wake = match (deadline, due) {
                (Some(d), Some(u)) => Some(d.min(u)),
                (d, u) => d.or(u),
            };
            match wake {
                Some(wake) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(wake) => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// Records the HTTP/2 `:path` of each request for the journal, then hands it on.
#[derive(Clone)]
struct RecordPath<S>(S);

impl<S: NamedService> NamedService for RecordPath<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower_service::Service<http::Request<B>> for RecordPath<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = RawPath(request.uri().path().to_owned());
        request.extensions_mut().insert(path);
        self.0.call(request)
    }
}
