//! The default transport: HTTP/2 connections this crate opens itself (h2, rustls), or
//! tonic `Channel`s you hand over; calls are spread round-robin over them.
//!
//! Why not a tonic `Channel` for the connections the builder opens: a `Channel` puts every
//! request through a buffer task (an mpsc send, a oneshot and a task wake per call), then
//! through hyper's client, which hands the request to its connection task over another
//! channel and spawns two tasks per request (one sends the body, one waits for the
//! response); and it arms a second timer from `grpc-timeout` while the client already keeps
//! the call's deadline. Here a call's own future sends its request on the h2 connection
//! (the body of a unary call, ready at once, as one DATA frame with END_STREAM) and awaits
//! the response itself. That costs less than the raw stub over a `Channel`, on both peers
//! (see the README's Performance).
//!
//! Google front ends allow about 100 concurrent streams per HTTP/2 connection, so a backend
//! with more calls in flight wants several connections: `connections(n)` opens n, each
//! connected lazily and reconnected when it closes. (tonic's `balance_list` keys endpoints
//! by URI, so n copies of one endpoint collapse into one connection.)

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::task::{Waker, ready};

use bytes::Bytes;
use futures_util::future::{BoxFuture, Either, ErrInto, Shared};
use futures_util::{FutureExt, TryFutureExt};
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http::{HeaderValue, Uri};
use http_body::{Body as _, Frame};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::sync::PollSemaphore;
use tonic::Code;
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::transport::channel::ResponseFuture;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type Responding = BoxFuture<'static, Result<http::Response<Body>, BoxError>>;

/// Connections calls are spread over, round-robin: ones this crate opens itself, or tonic
/// [`Channel`]s you hand over (shared with your other tonic clients).
///
/// Cheap to clone. Built by [`crate::OperationsClientBuilder::build`] (see
/// [`crate::OperationsClientBuilder::connections`]) or from your own channels with
/// [`Transport::from_channels`].
pub struct Transport {
    inner: Inner,
}

enum Inner {
    Direct {
        pool: Arc<Pool>,
        /// Waits for room among the requests handed to h2 (see [`MAX_PENDING`]).
        room: PollSemaphore,
        /// Taken by `poll_ready`, held by the call until its response arrives.
        permit: Option<OwnedSemaphorePermit>,
    },
    Channels {
        channels: Arc<[Channel]>,
        next: Arc<AtomicUsize>,
        /// The channel chosen and polled ready for the next call.
        ready: Option<Channel>,
    },
}

impl Clone for Transport {
    /// A clone is a fresh handle: like tower's `Buffer`, it does not share what the original
    /// reserved in `poll_ready`, a channel or a permit (and cloning a reserved `Channel`
    /// would cost an allocation per call).
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Direct { pool, room, .. } => Inner::Direct {
                pool: pool.clone(),
                room: room.clone(),
                permit: None,
            },
            Inner::Channels { channels, next, .. } => Inner::Channels {
                channels: channels.clone(),
                next: next.clone(),
                ready: None,
            },
        };
        Self { inner }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, connections) = match &self.inner {
            Inner::Direct { pool, .. } => ("direct", pool.connections.len()),
            Inner::Channels { channels, .. } => ("tonic channels", channels.len()),
        };
        f.debug_struct("Transport")
            .field("kind", &kind)
            .field("connections", &connections)
            .finish_non_exhaustive()
    }
}

impl From<Channel> for Transport {
    fn from(channel: Channel) -> Self {
        Self::from_channels([channel])
    }
}

impl Transport {
    /// A transport over these channels (at least one; an empty list gives a transport whose
    /// calls fail).
    pub fn from_channels(channels: impl IntoIterator<Item = Channel>) -> Self {
        Self {
            inner: Inner::Channels {
                channels: channels.into_iter().collect(),
                next: Arc::new(AtomicUsize::new(0)),
                ready: None,
            },
        }
    }

    /// `connections` lazily opened connections to `connector`'s server.
    pub(crate) fn direct(connector: Connector, connections: usize) -> Self {
        let connections: Box<[_]> = (0..connections.max(1))
            .map(|_| Mutex::new(Slot::Idle))
            .collect();
        let room = Semaphore::new(MAX_PENDING * connections.len());
        Self {
            inner: Inner::Direct {
                pool: Arc::new(Pool {
                    connections,
                    next: AtomicUsize::new(0),
                    connector,
                }),
                room: PollSemaphore::new(Arc::new(room)),
                permit: None,
            },
        }
    }

    /// How many connections calls are spread over.
    pub fn connections(&self) -> usize {
        match &self.inner {
            Inner::Direct { pool, .. } => pool.connections.len(),
            Inner::Channels { channels, .. } => channels.len(),
        }
    }
}

impl Service<http::Request<Body>> for Transport {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Either<ErrInto<ResponseFuture, BoxError>, Responding>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.inner {
            Inner::Direct { room, permit, .. } => {
                if permit.is_none() {
                    match room.poll_acquire(cx) {
                        Poll::Ready(Some(taken)) => *permit = Some(taken),
                        // The semaphore is never closed.
                        Poll::Ready(None) => {}
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Poll::Ready(Ok(()))
            }
            Inner::Channels {
                channels,
                next,
                ready,
            } => {
                if ready.is_none() && !channels.is_empty() {
                    *ready = Some(channels[round_robin(next, channels.len())].clone());
                }
                match ready {
                    Some(channel) => channel.poll_ready(cx).map_err(Into::into),
                    None => Poll::Ready(Err(no_channel())),
                }
            }
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match &mut self.inner {
            Inner::Direct { pool, permit, .. } => Either::Right(pool.call(request, permit.take())),
            // `poll_ready` chose and reserved a channel; without it there is nothing to call
            // (tower's contract), so answer with an error rather than panic.
            Inner::Channels { ready, .. } => match ready.take() {
                Some(mut channel) => Either::Left(channel.call(request).err_into()),
                None => Either::Right(Box::pin(std::future::ready(Err(no_channel())))),
            },
        }
    }
}

/// The next of `len` (at least one) connections in turn; one needs no counter.
fn round_robin(next: &AtomicUsize, len: usize) -> usize {
    match len {
        1 => 0,
        n => next.fetch_add(1, Ordering::Relaxed) % n,
    }
}

fn no_channel() -> BoxError {
    status(Code::Unavailable, "transport has no channel".into(), None)
}

// ---------------------------------------------------------------------------------------
// Connections this crate opens.

/// Requests in h2's hands (sent, or queued for a stream) per connection of the pool: one
/// semaphore for the pool holds this many permits for each connection, and calls over it
/// wait in `poll_ready`, before their request is even encoded. Like the buffer of a tonic
/// `Channel` (also 1,024), it keeps a burst of calls from holding every encoded request at
/// once. Well above the ~100 streams a front end serves per connection, so it never limits
/// throughput.
const MAX_PENDING: usize = 1024;

struct Pool {
    connections: Box<[Mutex<Slot>]>,
    next: AtomicUsize,
    connector: Connector,
}

/// One connection's state. A call that finds it idle or closed starts connecting; calls
/// that arrive meanwhile wait on the same attempt rather than opening connections of their
/// own.
enum Slot {
    Idle,
    Connecting(Shared<BoxFuture<'static, Result<Conn, ConnectFailed>>>),
    Ready(Conn),
}

impl Pool {
    fn call(
        self: &Arc<Self>,
        mut request: http::Request<Body>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Responding {
        request
            .headers_mut()
            .insert(http::header::USER_AGENT, self.connector.user_agent.clone());
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

/// One HTTP/2 connection: the handle requests are sent on, and whether it has ended.
#[derive(Clone)]
struct Conn {
    send: SendRequest<Bytes>,
    /// Set when the connection's task ends, or when a call on it fails for a reason that
    /// ends the connection (GOAWAY, an I/O error); the next call then connects anew.
    closed: Arc<AtomicBool>,
}

impl Conn {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `e` as a status, marking the connection closed if `e` ended it.
    fn failed(&self, e: h2::Error) -> BoxError {
        if e.is_go_away() || e.is_io() {
            self.closed.store(true, Ordering::Release);
        }
        h2_status(e)
    }
}

/// How sending a request failed: before anything of it went out (it is handed back, boxed:
/// the rare case pays for the room), or after.
enum SendFailed {
    Unsent(Box<http::Request<Body>>, BoxError),
    Sent(BoxError),
}

/// Sends `request` on `conn` and awaits the response's head.
///
/// Straight onto h2: the request body a unary call has ready is handed over from here, and
/// the response is awaited here. (hyper's HTTP/2 client, which this replaced, spawned two
/// tasks per request to do the same.)
async fn send_on(
    conn: &Conn,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, SendFailed> {
    let mut send = conn.send.clone();
    // Fails only if the connection has ended (h2 then refuses every new stream).
    if let Err(e) = std::future::poll_fn(|cx| send.poll_ready(cx)).await {
        return Err(SendFailed::Unsent(Box::new(request), conn.failed(e)));
    }
    let sent = |e: h2::Error| SendFailed::Sent(conn.failed(e));
    let (head, body) = request.into_parts();
    let end = body.is_end_stream();
    let (response, stream) = send
        .send_request(http::Request::from_parts(head, ()), end)
        .map_err(sent)?;
    if !end {
        send_body(body, stream).map_err(SendFailed::Sent)?;
    }
    let response = response.await.map_err(sent)?;
    Ok(response.map(|recv| {
        Body::new(Incoming {
            recv,
            data_done: false,
        })
    }))
}

/// Hands a request body to h2. The frames it has ready now go from here, the last with
/// END_STREAM: a unary request is one message, encoded at once, so it travels as one DATA
/// frame. A body with more to come later is piped by a task of its own.
fn send_body(mut body: Body, mut stream: SendStream<Bytes>) -> Result<(), BoxError> {
    let mut cx = Context::from_waker(Waker::noop());
    // The last data frame, held back until we know whether the body ends after it.
    let mut held: Option<Bytes> = None;
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    if let Some(previous) = held.replace(data) {
                        stream.send_data(previous, false).map_err(h2_status)?;
                    }
                }
                Err(frame) => {
                    if let Some(previous) = held.take() {
                        stream.send_data(previous, false).map_err(h2_status)?;
                    }
                    if let Ok(trailers) = frame.into_trailers() {
                        stream.send_trailers(trailers).map_err(h2_status)?;
                    }
                    return Ok(());
                }
            },
            Poll::Ready(None) => {
                return stream
                    .send_data(held.unwrap_or_default(), true)
                    .map_err(h2_status);
            }
            // The body could not be encoded (tonic's status says why): nothing more is sent.
            Poll::Ready(Some(Err(e))) => {
                stream.send_reset(h2::Reason::CANCEL);
                return Err(e.into());
            }
            Poll::Pending => {
                if let Some(previous) = held.take() {
                    stream.send_data(previous, false).map_err(h2_status)?;
                }
                tokio::spawn(pipe(body, stream));
                return Ok(());
            }
        }
    }
}

/// Sends the rest of a request body as it comes, each chunk once h2 has room.
async fn pipe(mut body: Body, mut stream: SendStream<Bytes>) {
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let sent = match frame {
            None => stream.send_data(Bytes::new(), true),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    // As hyper does: wait until h2 has some room, then hand over the whole
                    // chunk (h2 holds what does not fit yet), so the body runs at most one
                    // chunk ahead of the window. Waiting for room for the whole chunk could
                    // wait forever for one larger than h2 ever assigns.
                    stream.reserve_capacity(1);
                    while stream.capacity() == 0 {
                        match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                            Some(Ok(_)) => {}
                            // The stream was reset or the connection ended.
                            _ => return,
                        }
                    }
                    stream.send_data(data, body.is_end_stream())
                }
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) => stream.send_trailers(trailers),
                    Err(_) => Ok(()),
                },
            },
            Some(Err(_)) => {
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        if sent.is_err() || body.is_end_stream() {
            return;
        }
    }
}

/// A response body read from h2: its data frames (each returned to the flow-control
/// window as it is read), then its trailers.
struct Incoming {
    recv: RecvStream,
    data_done: bool,
}

impl http_body::Body for Incoming {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Only fails for a stream already gone, whose window no longer matters.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                // A reset without an error after the data: the body ends (as hyper has it);
                // tonic reports the trailers missing if they are.
                Some(Err(e)) if e.reason() == Some(h2::Reason::NO_ERROR) => {
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(h2_status(e)))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(trailers) => Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t)))),
            Err(e) => Poll::Ready(Some(Err(h2_status(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

/// How to reach the server: address, TLS, and the settings of each new connection.
#[derive(Clone)]
pub(crate) struct Connector {
    host: Arc<str>,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    user_agent: HeaderValue,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for `uri` (`http://` or `https://` with a host; checked by the caller).
    /// `tls` is the rustls configuration for `https://`.
    pub(crate) fn new(
        uri: &Uri,
        tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
        connect_timeout: Duration,
        user_agent: HeaderValue,
    ) -> Result<Self, String> {
        let host = uri.host().ok_or("has no host")?;
        // An IPv6 literal comes bracketed in a URL.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri
            .port_u16()
            .unwrap_or(if tls.is_some() { 443 } else { 80 });
        let tls = match tls {
            Some(config) => {
                let name = match host.parse::<IpAddr>() {
                    Ok(ip) => ServerName::from(ip),
                    Err(_) => ServerName::try_from(host.to_owned())
                        .map_err(|_| "has a host that is not a valid TLS server name")?,
                };
                Some((TlsConnector::from(config), name))
            }
            None => None,
        };
        Ok(Self {
            host: host.into(),
            port,
            tls,
            connect_timeout,
            user_agent,
        })
    }

    /// TCP (no Nagle), then TLS with ALPN `h2` for `https://`, then the HTTP/2 handshake,
    /// all within the connect timeout; the connection's task is spawned on the runtime and
    /// ends when the last handle to it is dropped or the server closes it.
    async fn connect(&self) -> Result<Conn, ConnectFailed> {
        let target = format!("{}:{}", self.host, self.port);
        match tokio::time::timeout(self.connect_timeout, self.handshake()).await {
            Ok(Ok(conn)) => {
                tracing::debug!(%target, "connected");
                Ok(conn)
            }
            Ok(Err(e)) => {
                tracing::debug!(%target, error = %e.message, "connect failed");
                Err(e.context(&target))
            }
            Err(_) => Err(ConnectFailed::new(
                format!(
                    "connecting to {target} took longer than the connect timeout ({:?})",
                    self.connect_timeout
                ),
                None,
            )),
        }
    }

    async fn handshake(&self) -> Result<Conn, ConnectFailed> {
        let fail = |what: &str, e: BoxError| ConnectFailed::new(format!("{what}: {e}"), Some(e));
        let tcp = TcpStream::connect((&*self.host, self.port))
            .await
            .map_err(|e| fail("tcp", e.into()))?;
        tcp.set_nodelay(true).map_err(|e| fail("tcp", e.into()))?;
        match &self.tls {
            None => http2(tcp).await,
            Some((tls, name)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| fail("tls", e.into()))?;
                http2(stream).await
            }
        }
    }
}

async fn http2<IO>(io: IO) -> Result<Conn, ConnectFailed>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The settings hyper gives a tonic `Channel`: windows of 2 MiB per stream and 5 MiB per
    // connection, and no keepalive pings (gRPC leaves them off, and servers answer pings
    // more frequent than they allow with GOAWAY).
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .max_frame_size(16 << 10)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .max_local_error_reset_streams(Some(1024))
        .enable_push(false)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| ConnectFailed::new(format!("http/2 handshake: {e}"), Some(e.into())))?;
    let closed = Arc::new(AtomicBool::new(false));
    let ended = closed.clone();
    // Ends when the server closes the connection, or once every handle to it is dropped
    // and its streams are done (h2 then sends GOAWAY and closes).
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection ended");
        }
        ended.store(true, Ordering::Release);
    });
    Ok(Conn { send, closed })
}

/// A failed connection attempt, shared by every call that waited on it.
#[derive(Clone, Debug)]
struct ConnectFailed {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ConnectFailed {
    fn new(message: String, source: Option<BoxError>) -> Self {
        Self {
            message,
            source: source.map(Arc::from),
        }
    }

    fn context(mut self, target: &str) -> Self {
        self.message = format!("cannot connect to {target}: {}", self.message);
        self
    }

    /// UNAVAILABLE, the code gRPC gives a server that cannot be reached (so it is retried).
    fn into_status(self) -> BoxError {
        status(Code::Unavailable, self.message, self.source)
    }
}

/// A request h2 could not complete, as the status gRPC gives it. Failures of the
/// connection (closed, broken, refused by a GOAWAY) are UNAVAILABLE; a stream the server
/// reset has the code its reason maps to (the gRPC HTTP/2 mapping, as tonic has it).
fn h2_status(e: h2::Error) -> BoxError {
    let code = if e.is_go_away() || e.is_io() {
        Code::Unavailable
    } else {
        match e.reason() {
            Some(h2::Reason::REFUSED_STREAM) => Code::Unavailable,
            Some(h2::Reason::CANCEL) => Code::Cancelled,
            Some(h2::Reason::ENHANCE_YOUR_CALM) => Code::ResourceExhausted,
            Some(h2::Reason::INADEQUATE_SECURITY) => Code::PermissionDenied,
            Some(_) => Code::Internal,
            // Neither a reason nor I/O: h2 refused what it was asked to send (a malformed
            // header, say), which is this crate's fault, not the connection's.
            None => Code::Internal,
        }
    };
    let message = format!("http/2 request failed: {e}");
    status(code, message, Some(Arc::new(e)))
}

/// A locally made status; its `source` marks it as local (see `client::classify`).
fn status(
    code: Code,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
) -> BoxError {
    let mut status = tonic::Status::new(code, message);
    status.set_source(source.unwrap_or_else(|| Arc::new(NoSource)));
    Box::new(status)
}

/// The source of a local status that has no underlying error.
#[derive(Debug)]
struct NoSource;

impl fmt::Display for NoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("local failure")
    }
}

impl std::error::Error for NoSource {}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use tower::ServiceExt;

    /// An h2 server that answers each request with the bytes of its body, once the body
    /// has ended, and the trailer `got-end: true`.
    async fn echo_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut connection = h2::server::handshake(socket).await.unwrap();
            while let Some(Ok((request, mut respond))) = connection.accept().await {
                tokio::spawn(async move {
                    let mut body = request.into_body();
                    let mut got = Vec::new();
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        got.extend_from_slice(&chunk);
                    }
                    let mut send = respond
                        .send_response(http::Response::new(()), false)
                        .unwrap();
                    send.send_data(Bytes::from(got), false).unwrap();
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("got-end", HeaderValue::from_static("true"));
                    send.send_trailers(trailers).unwrap();
                });
            }
        });
        addr
    }

    /// An h2 server that answers each request with `200` and the number of the connection
    /// it came on (1, 2, ...). On its first connection, once the first request arrives, it
    /// starts a graceful shutdown (GOAWAY) and answers that request only after `hold`.
    async fn going_away_server(hold: Duration) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for number in 1.. {
                let (socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut connection = h2::server::handshake(socket).await.unwrap();
                    let mut first = true;
                    while let Some(Ok((_, mut respond))) = connection.accept().await {
                        let wait = if number == 1 && first {
                            connection.graceful_shutdown();
                            hold
                        } else {
                            Duration::ZERO
                        };
                        first = false;
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            let mut send = respond
                                .send_response(http::Response::new(()), false)
                                .unwrap();
                            let _ = send.send_data(Bytes::from(number.to_string()), true);
                        });
                    }
                });
            }
        });
        addr
    }

    fn transport_to(addr: std::net::SocketAddr) -> Transport {
        let uri: Uri = format!("http://{addr}").parse().unwrap();
        let connector = Connector::new(
            &uri,
            None,
            Duration::from_secs(5),
            HeaderValue::from_static("test"),
        )
        .unwrap();
        Transport::direct(connector, 1)
    }

    async fn answer(transport: &Transport) -> Result<String, BoxError> {
        let request = http::Request::post("http://example.test/m")
            .body(Body::empty())
            .unwrap();
        let response = transport.clone().oneshot(request).await?;
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_request_after_a_goaway_goes_at_once_on_a_new_connection() {
        let addr = going_away_server(Duration::from_millis(400)).await;
        let transport = transport_to(addr);

        // The first call is still in flight on connection 1 when its GOAWAY arrives, so
        // the connection stays up and its handle looks open to the next call.
        let first = tokio::spawn({
            let transport = transport.clone();
            async move { answer(&transport).await }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let second = answer(&transport).await;

        assert_eq!(
            second.unwrap(),
            "2",
            "sent on a new connection, with no error"
        );
        assert_eq!(
            first.await.unwrap().unwrap(),
            "1",
            "the call in flight finishes"
        );
    }

    #[tokio::test]
    async fn a_body_not_ready_at_once_is_piped_to_its_end() {
        let addr = echo_server().await;
        let transport = transport_to(addr);

        // The body's first poll finds nothing: the request goes out, and its body follows
        // from the pipe task as the chunks come.
        let (chunks, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let frames = tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|chunk| Ok::<_, tonic::Status>(Frame::data(chunk)));
        let request = http::Request::post(format!("http://{addr}/echo"))
            .body(Body::new(StreamBody::new(frames)))
            .unwrap();
        // A clone calls: the pool lives as long as the original (as a client's stub keeps it).
        let responding = tokio::spawn(transport.clone().oneshot(request));
        for chunk in ["piped ", "in ", "three chunks"] {
            tokio::time::sleep(Duration::from_millis(20)).await;
            chunks.send(Bytes::from(chunk)).await.unwrap();
        }
        drop(chunks);

        let response = tokio::time::timeout(Duration::from_secs(5), responding)
            .await
            .expect("answered")
            .unwrap()
            .unwrap();
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap_or_default();
        assert_eq!(collected.to_bytes(), "piped in three chunks");
        assert_eq!(trailers.get("got-end").unwrap(), "true");
    }
}
