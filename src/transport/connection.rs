//! One HTTP/2 connection: the handshake, sending a request on it, reading the response body
//! back, and noticing when the connection has gone silent.
//!
//! A call's own future sends its request on the h2 connection and awaits the response
//! itself: the body of a unary call, ready at once, goes as one DATA frame with END_STREAM.
//! hyper's HTTP/2 client spawns two tasks per request for the same work (one sends the body,
//! one waits for the response); measured in the README's Performance.
//!
//! A connection can stop answering without closing (a NAT or load balancer that dropped its
//! state, a frozen peer): bytes go out, nothing comes back, and the kernel may take a
//! quarter of an hour to notice. Google front ends answer pings more frequent than about
//! once a minute with `GOAWAY ENHANCE_YOUR_CALM`, so nothing pings periodically by default.
//! Instead, when a call's deadline passes on a connection that has received nothing since
//! the call went out, the connection is pinged once, and retired (with the calls still on
//! it) if no ack comes within [`STALL_PING_TIMEOUT`]; the next call opens a new one.
//!
//! A request the server never processed is handed back to the pool to be sent again
//! ([`SendFailed::Unsent`], [`unprocessed`]). h2 tells most of these apart by itself; the
//! one it does not is a connection that failed before the request's bytes went out, which
//! the count of bytes written ([`Health::written`]) tells.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Ping, PingPong, RecvStream, SendStream};
use http_body::{Body as _, Frame};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tonic::body::Body;

use super::connect::{ConnectFailed, Keepalive, Settings};
use super::status::h2_status;
use crate::error::BoxError;
use crate::retry::later;

/// How long a silent connection has to answer the ping sent when a call's deadline passes
/// on it, before it is retired: with the call's deadline, within the 5 s the crate promises.
pub(super) const STALL_PING_TIMEOUT: Duration = Duration::from_secs(4);

/// Streams a new connection may open before the server's SETTINGS say how many it allows
/// (hyper's choice; h2's default is unlimited, and a burst on a fresh connection then draws
/// REFUSED_STREAM from a server that allows 100).
const INITIAL_MAX_SEND_STREAMS: usize = 100;

/// One HTTP/2 connection: the handle requests are sent on, and its health.
#[derive(Clone)]
pub(super) struct Conn {
    send: SendRequest<Bytes>,
    health: Arc<Health>,
    #[cfg(test)]
    pause_after_headers: Arc<AtomicBool>,
}

/// What the calls on a connection and its task know of it.
struct Health {
    /// Set when the connection's task ends, when a call on it fails for a reason that ends
    /// the connection (GOAWAY, an I/O error), or when it is retired; the next call then
    /// connects anew.
    closed: AtomicBool,
    /// How many reads have brought bytes: a call that sees the same count at its deadline
    /// as when it was sent has heard nothing back.
    reads: Arc<AtomicU64>,
    /// How many bytes the connection's I/O has taken: a request whose connection failed
    /// with this count where it was when the request was handed to h2 never went out.
    written: Arc<AtomicU64>,
    /// Woken by the first read, and when the connection's task ends.
    spoke: Arc<tokio::sync::Notify>,
    /// Calls whose request went out and whose answer has not ended.
    in_flight: AtomicUsize,
    /// A liveness ping is under way.
    checking: AtomicBool,
    /// h2's handle for pings of our own (one at a time).
    ping: tokio::sync::Mutex<Option<PingPong>>,
    /// The connection's task, aborted when the connection is retired.
    task: Mutex<Option<AbortHandle>>,
    /// Why the connection's task ended, if it ended in an error, in words; and whether
    /// trying again cannot help.
    ended: Mutex<Option<(String, bool)>>,
}

impl Health {
    /// Whether the connection answers a ping within `timeout`.
    async fn answers_ping(&self, timeout: Duration) -> bool {
        let mut ping = self.ping.lock().await;
        let Some(ping) = ping.as_mut() else {
            return true;
        };
        match tokio::time::timeout_at(later(Instant::now(), timeout), ping.ping(Ping::opaque()))
            .await
        {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "ping failed");
                false
            }
            Err(_) => false,
        }
    }

    /// No more calls on this connection; those still on it fail now.
    fn retire(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// A call's deadline passed with nothing heard since it was sent: ping once, and
    /// retire the connection if the ping is not answered.
    fn suspect(self: &Arc<Self>) {
        if self.closed.load(Ordering::Acquire) || self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        // A call dropped outside any runtime cannot start a check (nor needs one).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.checking.store(false, Ordering::Release);
            return;
        };
        let health = self.clone();
        runtime.spawn(async move {
            tracing::debug!("a call's deadline passed on a silent connection; pinging it");
            if !health.answers_ping(STALL_PING_TIMEOUT).await {
                tracing::info!(
                    "the connection answered nothing, not even a ping, within {STALL_PING_TIMEOUT:?}; \
                     retiring it"
                );
                health.retire();
            }
            health.checking.store(false, Ordering::Release);
        });
    }
}

impl Conn {
    pub(super) fn is_closed(&self) -> bool {
        self.health.closed.load(Ordering::Acquire)
    }

    /// `e` as a status, marking the connection closed if `e` ended it.
    fn failed(&self, e: h2::Error) -> BoxError {
        if ends_connection(&e) {
            self.health.closed.store(true, Ordering::Release);
        }
        h2_status(e)
    }
}

/// Whether `e` means the connection can take no more requests: GOAWAY, I/O, or stream ids
/// used up (h2 then refuses every new stream with a user error of its own).
fn ends_connection(e: &h2::Error) -> bool {
    e.is_go_away() || e.is_io() || e.to_string().contains("stream ID overflowed")
}

/// One call on a connection, from its request to the end of its answer: counts it in
/// flight, and on drop before the answer ended past the call's deadline with nothing heard
/// since the request went out, has the connection checked.
struct InFlight {
    health: Arc<Health>,
    reads_at_send: u64,
    deadline: Option<Instant>,
    ended: bool,
    /// The call's room in the pool, given back when the answer ends or is dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

impl InFlight {
    fn start(
        health: &Arc<Health>,
        deadline: Option<Instant>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        health.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            health: health.clone(),
            reads_at_send: health.reads.load(Ordering::Acquire),
            deadline,
            ended: false,
            _permit: permit,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.health.in_flight.fetch_sub(1, Ordering::Relaxed);
        let silent = self.health.reads.load(Ordering::Acquire) == self.reads_at_send;
        let overdue = self.deadline.is_some_and(|d| Instant::now() >= d);
        if !self.ended && silent && overdue {
            self.health.suspect();
        }
    }
}

/// The deadline a request's `grpc-timeout` gives, from now.
fn deadline_of(headers: &http::HeaderMap) -> Option<Instant> {
    let timeout = crate::headers::parse_grpc_timeout(headers.get("grpc-timeout")?.as_bytes())?;
    Instant::now().checked_add(timeout)
}

/// How sending a request failed: in a way that shows the server never processed it, so it
/// is handed back to be sent again (boxed: the rare case pays for the room); or not.
pub(super) enum SendFailed {
    Unsent(Box<http::Request<Body>>, BoxError),
    Sent(BoxError),
}

/// Whether h2's error for a stream shows that the server never processed the request, so
/// sending it again is safe (gRPC A6's transparent retry), whatever the method:
///
/// - a GOAWAY from the server: h2 (0.4) hands the server's GOAWAY to a stream only when the
///   stream's id is above the frame's last-stream-id (it closes those streams on receipt;
///   the ones at or below it go on and end by what happens to them), and to a stream it
///   is asked to open after one;
/// - REFUSED_STREAM from the server (RFC 9113, 8.7: "no application processing").
///
/// Stream ids used up and a connection that already ended are h2 refusing to open the
/// stream at all; [`send_on`] knows those from where they happen.
pub(super) fn unprocessed(e: &h2::Error) -> bool {
    e.is_remote()
        && (e.is_go_away() || (e.is_reset() && e.reason() == Some(h2::Reason::REFUSED_STREAM)))
}

/// Sends `request` on `conn` and awaits the response's head. `permit` (the request's room
/// in the pool) is held until the answer has ended or is dropped.
///
/// Straight onto h2: the request body a unary call has ready is handed over from here, and
/// the response is awaited here. Every way the request can fail without the server having
/// processed it hands the request back ([`SendFailed::Unsent`]): the connection ended
/// before the stream opened, the stream ids ran out, the connection closed before any of
/// the request was written, a GOAWAY whose last-stream-id is below the stream, or
/// REFUSED_STREAM — including when one of those closed the stream between its headers and
/// its body (h2 then refuses the body as an "inactive stream", and the response says why).
pub(super) async fn send_on(
    conn: &Conn,
    request: http::Request<Body>,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<http::Response<Body>, SendFailed> {
    let mut send = conn.send.clone();
    // Fails only if the connection has ended (h2 then refuses every new stream).
    if let Err(e) = std::future::poll_fn(|cx| send.poll_ready(cx)).await {
        return Err(SendFailed::Unsent(Box::new(request), conn.failed(e)));
    }
    let (mut head, body) = request.into_parts();
    let end = body.is_end_stream();
    // What it takes to send the request again, should the server not process it (h2 sends
    // no extensions; they hold the call's one resend).
    let again = http::Request::builder()
        .method(head.method.clone())
        .uri(head.uri.clone())
        .version(head.version);
    let extensions = std::mem::take(&mut head.extensions);
    let again = Again {
        builder: again,
        headers: head.headers.clone(),
        extensions,
    };
    let deadline = deadline_of(&head.headers);
    let written = conn.health.written.load(Ordering::Acquire);
    let (mut response, stream) = match send.send_request(http::Request::from_parts(head, ()), end) {
        Ok(sent) => sent,
        Err(e) if ends_connection(&e) => {
            let request = rebuild(again, body);
            return Err(SendFailed::Unsent(Box::new(request), conn.failed(e)));
        }
        Err(e) => return Err(SendFailed::Sent(conn.failed(e))),
    };
    #[cfg(test)]
    if conn.pause_after_headers.swap(false, Ordering::AcqRel) {
        // Until the connection has taken the server's GOAWAY (h2 then refuses new streams).
        for _ in 0..10_000 {
            let mut probe = send.clone();
            let polled = std::future::poll_fn(|cx| Poll::Ready(probe.poll_ready(cx))).await;
            if matches!(polled, Poll::Ready(Err(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let in_flight = InFlight::start(&conn.health, deadline, permit);
    let whole_body = if end {
        Some(Bytes::new())
    } else {
        match send_body(body, stream) {
            Ok(whole) => whole,
            Err(BodyFailed::Encode(e)) => return Err(SendFailed::Sent(e)),
            // The stream closed under the body: its response says why (a GOAWAY or a
            // refusal that came between the headers and the body, a reset, an answer
            // already). A stream still open failed for a reason of h2's own.
            Err(BodyFailed::H2(e, whole)) => {
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(&mut response).poll(&mut cx) {
                    Poll::Ready(Ok(answer)) => return Ok(incoming(answer, in_flight)),
                    Poll::Ready(Err(why)) => {
                        return Err(conn.not_answered(why, written, whole, again));
                    }
                    Poll::Pending => {
                        tracing::debug!(error = %e, "the request body could not be sent");
                        return Err(SendFailed::Sent(conn.failed(e)));
                    }
                }
            }
        }
    };
    match response.await {
        Ok(answer) => Ok(incoming(answer, in_flight)),
        Err(e) => Err(conn.not_answered(e, written, whole_body, again)),
    }
}

fn incoming(response: http::Response<RecvStream>, in_flight: InFlight) -> http::Response<Body> {
    response.map(|recv| {
        Body::new(Incoming {
            recv,
            data_done: false,
            in_flight,
        })
    })
}

impl Conn {
    /// A request whose stream ended in `e` before its answer came: handed back if the
    /// server never processed it and its body is at hand, else failed. `written` is the
    /// connection's count of bytes written before the request was handed to h2.
    fn not_answered(
        &self,
        e: h2::Error,
        written: u64,
        whole_body: Option<Bytes>,
        again: Again,
    ) -> SendFailed {
        // The connection failed before it wrote a byte more: none of this request went out.
        let never_written = e.is_io() && self.health.written.load(Ordering::Acquire) == written;
        let not_processed = unprocessed(&e) || never_written;
        match whole_body {
            Some(data) if not_processed => {
                let body = Body::new(http_body_util::Full::new(data));
                let request = rebuild(again, body);
                let status = if never_written {
                    self.health.closed.store(true, Ordering::Release);
                    super::status::unprocessed_status(
                        format!(
                            "the connection closed before the request went out ({})",
                            super::status::h2_cause(&e)
                        ),
                        e,
                    )
                } else {
                    self.failed(e)
                };
                SendFailed::Unsent(Box::new(request), status)
            }
            _ => SendFailed::Sent(self.failed(e)),
        }
    }
}

/// What it takes to send a request again: its method, URI and version, its headers and
/// extensions.
struct Again {
    builder: http::request::Builder,
    headers: http::HeaderMap,
    extensions: http::Extensions,
}

fn rebuild(again: Again, body: Body) -> http::Request<Body> {
    let Again {
        builder: again,
        headers,
        extensions,
    } = again;
    let mut request = match again.body(body) {
        Ok(request) => request,
        // The parts came from a request that was valid.
        Err(_) => http::Request::new(Body::empty()),
    };
    *request.headers_mut() = headers;
    *request.extensions_mut() = extensions;
    request
}

/// How handing a body to h2 failed: the body itself could not be made (tonic's encoding
/// failed), or h2 refused a frame of it; with the body when it was one frame, so that it
/// can be sent again.
enum BodyFailed {
    Encode(BoxError),
    H2(h2::Error, Option<Bytes>),
}

/// Hands a request body to h2. The frames it has ready now go from here, the last with
/// END_STREAM: a unary request is one message, encoded at once, so it travels as one DATA
/// frame. A body with more to come later is piped by a task of its own.
///
/// Returns the body when it went out whole as one frame, so it can be sent again.
fn send_body(mut body: Body, mut stream: SendStream<Bytes>) -> Result<Option<Bytes>, BodyFailed> {
    let mut cx = Context::from_waker(Waker::noop());
    // The last data frame, held back until we know whether the body ends after it.
    let mut held: Option<Bytes> = None;
    let mut frames = 0;
    let partly = |e| BodyFailed::H2(e, None);
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    frames += 1;
                    if let Some(previous) = held.replace(data) {
                        stream.send_data(previous, false).map_err(partly)?;
                    }
                }
                Err(frame) => {
                    if let Some(previous) = held.take() {
                        stream.send_data(previous, false).map_err(partly)?;
                    }
                    if let Ok(trailers) = frame.into_trailers() {
                        stream.send_trailers(trailers).map_err(partly)?;
                    }
                    return Ok(None);
                }
            },
            Poll::Ready(None) => {
                let last = held.unwrap_or_default();
                let whole = (frames <= 1).then(|| last.clone());
                return match stream.send_data(last, true) {
                    Ok(()) => Ok(whole),
                    Err(e) => Err(BodyFailed::H2(e, whole)),
                };
            }
            // The body could not be encoded (tonic's status says why): nothing more is sent.
            Poll::Ready(Some(Err(e))) => {
                stream.send_reset(h2::Reason::CANCEL);
                return Err(BodyFailed::Encode(e.into()));
            }
            Poll::Pending => {
                if let Some(previous) = held.take() {
                    stream.send_data(previous, false).map_err(partly)?;
                }
                tokio::spawn(pipe(body, stream));
                return Ok(None);
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
    in_flight: InFlight,
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
                    this.in_flight.ended = true;
                    return Poll::Ready(None);
                }
                Some(Err(e)) => {
                    this.in_flight.ended = true;
                    return Poll::Ready(Some(Err(h2_status(e))));
                }
                None => this.data_done = true,
            }
        }
        let trailers = ready!(this.recv.poll_trailers(cx));
        this.in_flight.ended = true;
        match trailers {
            Ok(trailers) => Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t)))),
            Err(e) => Poll::Ready(Some(Err(h2_status(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

/// The connection's I/O, counting the reads that bring bytes (see [`Health::reads`]).
struct Watched<IO> {
    io: IO,
    /// The first bytes the server sent, to tell a server that is not HTTP/2 at all.
    first: Arc<std::sync::OnceLock<Vec<u8>>>,
    reads: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    spoke: Arc<tokio::sync::Notify>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && self.reads.fetch_add(1, Ordering::Release) == 0
        {
            let read = &buf.filled()[before..];
            let _ = self.first.set(read[..read.len().min(8)].to_vec());
            self.spoke.notify_waiters();
        }
        polled
    }
}

impl<IO> Watched<IO> {
    fn count_written(&self, polled: &Poll<std::io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = polled
            && *n > 0
        {
            self.written.fetch_add(*n as u64, Ordering::Release);
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.count_written(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count_written(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The HTTP/2 handshake on `io`, and the connection's task: it drives the connection and,
/// with `keepalive`, pings it every interval (only while calls are in flight unless
/// `while_idle`), ending it when a ping goes unanswered for the keepalive timeout.
pub(super) async fn http2<IO>(io: IO, settings: &Settings) -> Result<Conn, ConnectFailed>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let reads = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let spoke = Arc::new(tokio::sync::Notify::new());
    let first = Arc::new(std::sync::OnceLock::new());
    let io = Watched {
        io,
        first: first.clone(),
        reads: reads.clone(),
        written: written.clone(),
        spoke: spoke.clone(),
    };
    // The settings hyper gives a tonic `Channel`: windows of 2 MiB per stream and 5 MiB per
    // connection; and no periodic pings unless asked (see the module docs).
    let mut builder = h2::client::Builder::new();
    #[cfg(test)]
    if let Some(id) = settings.first_stream_id {
        builder.initial_stream_id(id);
    }
    let keepalive = settings.keepalive;
    let (send, mut connection) = builder
        .initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .initial_max_send_streams(INITIAL_MAX_SEND_STREAMS)
        .max_frame_size(16 << 10)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .max_local_error_reset_streams(Some(1024))
        .enable_push(false)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| {
            let words = super::status::h2_cause(&e);
            ConnectFailed::new(format!("http/2 handshake: {words}"), Some(e.into()))
        })?;
    let health = Arc::new(Health {
        closed: AtomicBool::new(false),
        reads,
        written,
        spoke,
        in_flight: AtomicUsize::new(0),
        checking: AtomicBool::new(false),
        ping: tokio::sync::Mutex::new(connection.ping_pong()),
        task: Mutex::new(None),
        ended: Mutex::new(None),
    });
    let watched = health.clone();
    // Ends when the server closes the connection, once every handle to it is dropped and
    // its streams are done (h2 then sends GOAWAY and closes), or when it is retired.
    let task = tokio::spawn(async move {
        let ended = match keepalive {
            None => connection.await,
            Some(keepalive) => tokio::select! {
                ended = &mut connection => ended,
                () = keep_alive(&watched, keepalive) => Ok(()),
            },
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended");
            *watched.ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(why_ended(&e));
        }
        watched.closed.store(true, Ordering::Release);
        watched.spoke.notify_waiters();
    });
    *health.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    // h2's handshake returns once the client's preface is written. The connection is up
    // only once the server has spoken (as gRPC counts it: its SETTINGS come first). A
    // server that accepts TCP and closes is then a failed attempt, which the pool backs
    // off from, not a connection every call finds broken. (The connect timeout bounds the
    // wait.)
    loop {
        let spoke = health.spoke.notified();
        if health.reads.load(Ordering::Acquire) > 0 {
            break;
        }
        if health.closed.load(Ordering::Acquire) {
            let ended = health
                .ended
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            return Err(match ended {
                Some((why, true)) => ConnectFailed::permanent(why, None),
                Some((why, false)) => ConnectFailed::new(why, None),
                None => ConnectFailed::new(
                    "the server closed the connection before it spoke HTTP/2".into(),
                    None,
                ),
            });
        }
        spoke.await;
    }
    if let Some(not_http2) = first.get().and_then(|bytes| not_http2(bytes)) {
        health.retire();
        return Err(ConnectFailed::permanent(not_http2, None));
    }
    Ok(Conn {
        send,
        health,
        #[cfg(test)]
        pause_after_headers: settings.pause_after_headers.clone(),
    })
}

/// What a server whose first bytes are `first` speaks, if it is plainly not HTTP/2: an
/// HTTP/2 server's first frame is SETTINGS (RFC 9113, 3.4), whose length is far below
/// 2^16, so its first byte is 0 and its fourth 0x4.
fn not_http2(first: &[u8]) -> Option<String> {
    match first {
        [0x15 | 0x16, 0x03, ..] => Some(
            "the server speaks TLS, not plaintext HTTP/2; for a TLS server, use an https:// \
             endpoint"
                .into(),
        ),
        [b'H', b'T', b'T', b'P', b'/', ..] => {
            Some("the server answered in HTTP/1, not HTTP/2".into())
        }
        [0, _, _, 0x4, ..] | [0] | [0, _] | [0, _, _] => None,
        _ => {
            let hex: Vec<String> = first.iter().map(|b| format!("{b:02x}")).collect();
            Some(format!(
                "the server's first bytes are not HTTP/2 ({})",
                hex.join(" ")
            ))
        }
    }
}

/// Why a connection's task ended, in words, and whether trying again cannot help. A TLS
/// 1.3 server that wants a client certificate says so only after the client's side of the
/// handshake is done, so its alert arrives here.
fn why_ended(e: &h2::Error) -> (String, bool) {
    // h2 keeps only an I/O error's kind and message, not rustls's error itself, so the
    // alert is recognised by rustls's words for it ("received fatal alert: …").
    let said = e.get_io().map(|io| io.to_string()).unwrap_or_default();
    match said
        .strip_prefix("received fatal alert: ")
        .and_then(super::connect::alert_failure)
    {
        Some((words, permanent)) => (format!("tls: {words}"), permanent),
        None => (super::status::h2_cause(e), false),
    }
}

/// Pings every interval until a ping goes unanswered.
async fn keep_alive(health: &Health, keepalive: Keepalive) {
    loop {
        tokio::time::sleep(keepalive.interval).await;
        if !keepalive.while_idle && health.in_flight.load(Ordering::Relaxed) == 0 {
            continue;
        }
        if !health.answers_ping(keepalive.timeout).await {
            tracing::info!(
                timeout = ?keepalive.timeout,
                "keepalive ping not answered; closing the connection"
            );
            return;
        }
    }
}
