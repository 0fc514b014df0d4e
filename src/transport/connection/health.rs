//! What a connection's calls and task know of it ([`Health`]): whether it closed, what it
//! read and wrote (counted by [`Watched`], its I/O), and the pings that tell a silent
//! connection from a slow one.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use h2::{Ping, PingPong};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::STALL_PING_TIMEOUT;
use crate::policy::later;
use crate::transport::settings::Keepalive;

/// What the calls on a connection and its task know of it.
pub(super) struct Health {
    /// Set when the connection's task ends, when a call on it fails for a reason that ends
    /// the connection (GOAWAY, an I/O error), or when it is retired; the next call then
    /// connects anew.
    pub(super) closed: AtomicBool,
    /// How many reads have brought bytes: a call that sees the same count at its deadline
    /// as when it was sent has heard nothing back.
    pub(super) reads: Arc<AtomicU64>,
    /// How many bytes the connection's I/O has taken: a request whose connection failed
    /// with this count where it was when the request was handed to h2 never went out.
    pub(super) written: Arc<AtomicU64>,
    /// Woken by the first read, and when the connection's task ends.
    pub(super) spoke: Arc<tokio::sync::Notify>,
    /// Calls whose request went out and whose answer has not ended.
    pub(super) in_flight: AtomicUsize,
    /// A liveness ping is under way.
    pub(super) checking: AtomicBool,
    /// h2's handle for pings of our own (one at a time).
    pub(super) ping: tokio::sync::Mutex<Option<PingPong>>,
    /// The connection's task, aborted when the connection is retired.
    pub(super) task: Mutex<Option<AbortHandle>>,
    /// Why the connection's task ended, if it ended in an error, in words; and whether
    /// trying again cannot help.
    pub(super) ended: Mutex<Option<(String, bool)>>,
}

impl Health {
    /// Whether the connection answers a ping within `timeout`.
    pub(super) async fn answers_ping(&self, timeout: Duration) -> bool {
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
    pub(super) fn retire(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// A call's deadline passed with nothing heard since it was sent: ping once, and
    /// retire the connection if the ping is not answered.
    pub(super) fn suspect(self: &Arc<Self>) {
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

/// The connection's I/O, counting the reads that bring bytes (see [`Health::reads`]).
pub(super) struct Watched<IO> {
    pub(super) io: IO,
    /// The first bytes the server sent, to tell a server that is not HTTP/2 at all.
    pub(super) first: Arc<std::sync::OnceLock<Vec<u8>>>,
    pub(super) reads: Arc<AtomicU64>,
    pub(super) written: Arc<AtomicU64>,
    pub(super) spoke: Arc<tokio::sync::Notify>,
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
    pub(super) fn count_written(&self, polled: &Poll<std::io::Result<usize>>) {
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

/// Pings every interval until a ping goes unanswered.
pub(super) async fn keep_alive(health: &Health, keepalive: Keepalive) {
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
