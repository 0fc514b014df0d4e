//! Request bodies handed to h2 ([`send_body`], [`pipe`]) and response bodies read from it
//! ([`Incoming`]).

use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use http_body::{Body as _, Frame};
use tonic::body::Body;

use super::send::InFlight;
use crate::error::BoxError;
use crate::transport::failure::TransportFailure;

/// How handing a body to h2 failed: the body itself could not be made (tonic's encoding
/// failed), or h2 refused a frame of it; with the body when it was one frame, so that it
/// can be sent again.
pub(super) enum BodyFailed {
    Encode(BoxError),
    H2(h2::Error, Option<Bytes>),
}

/// Hands a request body to h2. The frames it has ready now go from here, the last with
/// END_STREAM: a unary request is one message, encoded at once, so it travels as one DATA
/// frame. A body with more to come later is piped by a task of its own.
///
/// Returns the body when it went out whole as one frame, so it can be sent again.
pub(super) fn send_body(
    mut body: Body,
    mut stream: SendStream<Bytes>,
) -> Result<Option<Bytes>, BodyFailed> {
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
pub(super) async fn pipe(mut body: Body, mut stream: SendStream<Bytes>) {
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
pub(super) struct Incoming {
    pub(super) recv: RecvStream,
    pub(super) data_done: bool,
    pub(super) in_flight: InFlight,
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
                    return Poll::Ready(Some(Err(TransportFailure::h2(e).into_status())));
                }
                None => this.data_done = true,
            }
        }
        let trailers = ready!(this.recv.poll_trailers(cx));
        this.in_flight.ended = true;
        match trailers {
            Ok(trailers) => Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t)))),
            Err(e) => Poll::Ready(Some(Err(TransportFailure::h2(e).into_status()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}
