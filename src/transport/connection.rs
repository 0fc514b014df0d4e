//! One HTTP/2 connection: the handshake, sending a request on it, and reading the response
//! body back.
//!
//! A call's own future sends its request on the h2 connection and awaits the response
//! itself: the body of a unary call, ready at once, goes as one DATA frame with END_STREAM.
//! hyper's HTTP/2 client spawns two tasks per request for the same work (one sends the body,
//! one waits for the response); measured in the README's Performance.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http_body::{Body as _, Frame};
use tonic::body::Body;

use super::connect::ConnectFailed;
use super::status::h2_status;
use crate::error::BoxError;

/// One HTTP/2 connection: the handle requests are sent on, and whether it has ended.
#[derive(Clone)]
pub(super) struct Conn {
    send: SendRequest<Bytes>,
    /// Set when the connection's task ends, or when a call on it fails for a reason that
    /// ends the connection (GOAWAY, an I/O error); the next call then connects anew.
    closed: Arc<AtomicBool>,
}

impl Conn {
    pub(super) fn is_closed(&self) -> bool {
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
pub(super) enum SendFailed {
    Unsent(Box<http::Request<Body>>, BoxError),
    Sent(BoxError),
}

/// Sends `request` on `conn` and awaits the response's head.
///
/// Straight onto h2: the request body a unary call has ready is handed over from here, and
/// the response is awaited here.
pub(super) async fn send_on(
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

pub(super) async fn http2<IO>(io: IO) -> Result<Conn, ConnectFailed>
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
