//! The default transport: one tonic `Channel`, or a pool of them with calls spread
//! round-robin.
//!
//! Google front ends allow about 100 concurrent streams per HTTP/2 connection, so a backend
//! with more calls in flight queues behind one connection. tonic's `Channel::balance_list`
//! keys endpoints by URI (N copies of one endpoint collapse into one connection), and its
//! power-of-two-choices balancer sends a burst that arrives before the other connections are
//! up to the first one that is; round-robin over N lazily connected channels has neither
//! problem.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use std::future::Future;
use std::pin::Pin;

use futures_util::TryFutureExt;
use futures_util::future::{Either, ErrInto};
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::transport::channel::ResponseFuture;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One or more tonic [`Channel`]s; each call goes to the next one in turn.
///
/// Cheap to clone. Built by [`crate::OperationsClientBuilder::build`] (see
/// [`crate::OperationsClientBuilder::connections`]) or from your own channels with
/// [`Transport::from_channels`].
pub struct Transport {
    channels: Arc<[Channel]>,
    next: Arc<AtomicUsize>,
    /// The channel chosen and polled ready for the next call.
    ready: Option<Channel>,
}

impl Clone for Transport {
    /// A clone is a fresh handle: like tower's `Buffer`, it does not share the original's
    /// reserved slot (and cloning a reserved `Channel` would cost an allocation per call).
    fn clone(&self) -> Self {
        Self {
            channels: self.channels.clone(),
            next: self.next.clone(),
            ready: None,
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("connections", &self.channels.len())
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
            channels: channels.into_iter().collect(),
            next: Arc::new(AtomicUsize::new(0)),
            ready: None,
        }
    }

    /// How many channels calls are spread over.
    pub fn connections(&self) -> usize {
        self.channels.len()
    }

    fn pick(&self) -> Option<Channel> {
        match self.channels.len() {
            0 => None,
            1 => Some(self.channels[0].clone()),
            n => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
                Some(self.channels[i].clone())
            }
        }
    }
}

/// The transport has no channel to send on.
#[derive(Debug)]
struct NoChannel;

impl fmt::Display for NoChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("transport has no channel")
    }
}

impl std::error::Error for NoChannel {}

impl Service<http::Request<Body>> for Transport {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Either<ErrInto<ResponseFuture, BoxError>, Failed>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.ready.is_none() {
            self.ready = self.pick();
        }
        match &mut self.ready {
            Some(channel) => channel.poll_ready(cx).map_err(Into::into),
            None => Poll::Ready(Err(NoChannel.into())),
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // `poll_ready` chose and reserved a channel; without it there is nothing to call
        // (tower's contract), so answer with an error rather than panic.
        match self.ready.take() {
            Some(mut channel) => Either::Left(channel.call(request).err_into()),
            None => Either::Right(Failed(Some(NoChannel.into()))),
        }
    }
}

/// A future that fails at once. Smaller than `Ready<Result<Response, _>>`, which would hold
/// a whole response inline and make every call's future larger.
#[derive(Debug)]
pub struct Failed(Option<BoxError>);

impl Future for Failed {
    type Output = Result<http::Response<Body>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Err(self.0.take().unwrap_or_else(|| NoChannel.into())))
    }
}
