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

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};

mod body;
mod health;
mod send;

use health::{Health, Watched, keep_alive};
pub(super) use send::{SendFailed, send_on};

use super::failure::{TransportFailure, h2_cause};
use super::settings::Settings;
use crate::error::BoxError;

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

impl Conn {
    pub(super) fn is_closed(&self) -> bool {
        self.health.closed.load(Ordering::Acquire)
    }

    /// `e` as a status, marking the connection closed if `e` ended it.
    fn failed(&self, e: h2::Error) -> BoxError {
        if ends_connection(&e) {
            self.health.closed.store(true, Ordering::Release);
        }
        TransportFailure::h2(e).into_status()
    }
}

/// Whether `e` means the connection can take no more requests: GOAWAY, I/O, or stream ids
/// used up (h2 then refuses every new stream with a user error of its own).
fn ends_connection(e: &h2::Error) -> bool {
    e.is_go_away() || e.is_io() || e.to_string().contains("stream ID overflowed")
}

/// The HTTP/2 handshake on `io`, and the connection's task: it drives the connection and,
/// with `keepalive`, pings it every interval (only while calls are in flight unless
/// `while_idle`), ending it when a ping goes unanswered for the keepalive timeout.
pub(super) async fn http2<IO>(io: IO, settings: &Settings) -> Result<Conn, TransportFailure>
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
            let words = h2_cause(&e);
            TransportFailure::unavailable(format!("http/2 handshake: {words}")).with_source(e)
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
                Some((why, true)) => TransportFailure::unavailable(why).permanent(),
                Some((why, false)) => TransportFailure::unavailable(why),
                None => TransportFailure::unavailable(
                    "the server closed the connection before it spoke HTTP/2",
                ),
            });
        }
        spoke.await;
    }
    if let Some(not_http2) = first.get().and_then(|bytes| not_http2(bytes)) {
        health.retire();
        return Err(TransportFailure::unavailable(not_http2).permanent());
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
        .and_then(super::tls::alert_failure)
    {
        Some((words, permanent)) => (format!("tls: {words}"), permanent),
        None => (h2_cause(e), false),
    }
}
