//! Sending one request on a connection ([`send_on`]) and telling, when it fails, whether
//! the server never processed it ([`SendFailed::Unsent`], [`unprocessed`]) so it can go
//! again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use h2::RecvStream;
use http_body::Body as _;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tonic::body::Body;

use super::body::{BodyFailed, Incoming, send_body};
use super::health::Health;
use super::{Conn, ends_connection};
use crate::error::BoxError;
use crate::transport::failure::{TransportFailure, h2_cause};

/// One call on a connection, from its request to the end of its answer: counts it in
/// flight, and on drop before the answer ended past the call's deadline with nothing heard
/// since the request went out, has the connection checked.
pub(super) struct InFlight {
    health: Arc<Health>,
    reads_at_send: u64,
    deadline: Option<Instant>,
    pub(super) ended: bool,
    /// The call's room in the pool, given back when the answer ends or is dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

impl InFlight {
    pub(super) fn start(
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
pub(super) fn deadline_of(headers: &http::HeaderMap) -> Option<Instant> {
    let timeout = crate::headers::parse_grpc_timeout(headers.get("grpc-timeout")?.as_bytes())?;
    Instant::now().checked_add(timeout)
}

/// How sending a request failed: in a way that shows the server never processed it, so it
/// is handed back to be sent again (boxed: the rare case pays for the room); or not.
pub(crate) enum SendFailed {
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
pub(crate) fn unprocessed(e: &h2::Error) -> bool {
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
pub(crate) async fn send_on(
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
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
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

pub(super) fn incoming(
    response: http::Response<RecvStream>,
    in_flight: InFlight,
) -> http::Response<Body> {
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
    pub(super) fn not_answered(
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
                    TransportFailure::unavailable(format!(
                        "the connection closed before the request went out ({})",
                        h2_cause(&e)
                    ))
                    .with_source(e)
                    .into_status()
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
pub(super) struct Again {
    builder: http::request::Builder,
    headers: http::HeaderMap,
    extensions: http::Extensions,
}

pub(super) fn rebuild(again: Again, body: Body) -> http::Request<Body> {
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
