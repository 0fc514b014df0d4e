//! An HTTP/2 server (h2's server side) that answers every request with a gRPC OK, slowly
//! or in pieces if asked, retiring each connection with a GOAWAY after so many streams if
//! asked, on a thread and runtime of its own. Shared by the lost-call tests and the
//! lost-call benchmark (`benches/lost_calls.rs`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// A graceful shutdown (GOAWAY, then the last stream processed) after this many
    /// streams on a connection, as nginx's `keepalive_requests` does.
    pub retire_after: Option<usize>,
    /// Each answer waits a random time up to this before its headers, and again before
    /// its message's second half.
    pub max_delay: Duration,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_streams: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            retire_after: None,
            max_delay: Duration::ZERO,
            max_streams: 1000,
        }
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub connections: AtomicUsize,
    pub requests: AtomicUsize,
    /// Requests received and not yet answered.
    pub open: AtomicUsize,
    pub peak_open: AtomicUsize,
    /// Requests from now on are held until this many have arrived (0: none are held).
    hold: AtomicUsize,
    held: AtomicUsize,
    released: tokio::sync::Notify,
}

impl Seen {
    /// From now on, no answer goes out until `n` more requests have arrived: so `n` calls
    /// made at once are all answered only if all of them went out at once.
    pub fn hold_until(&self, n: usize) {
        self.held.store(0, Ordering::SeqCst);
        self.hold.store(n, Ordering::SeqCst);
    }
}

/// Serves on 127.0.0.1:0 with `threads` runtime threads.
pub fn serve(behaviour: Behaviour, threads: usize) -> (SocketAddr, Arc<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                shared.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(socket, behaviour.clone(), shared.clone()));
            }
        });
    });
    (addr, seen)
}

async fn connection(socket: tokio::net::TcpStream, behaviour: Behaviour, seen: Arc<Seen>) {
    let Ok(mut connection) = h2::server::Builder::new()
        .max_concurrent_streams(behaviour.max_streams)
        .handshake::<_, Bytes>(socket)
        .await
    else {
        return;
    };
    let mut streams = 0;
    while let Some(Ok((request, respond))) = connection.accept().await {
        streams += 1;
        if behaviour.retire_after == Some(streams) {
            connection.graceful_shutdown();
        }
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let open = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
        seen.peak_open.fetch_max(open, Ordering::SeqCst);
        if seen.hold.load(Ordering::SeqCst) > 0 {
            seen.held.fetch_add(1, Ordering::SeqCst);
            seen.released.notify_waiters();
        }
        tokio::spawn(answer(request, respond, behaviour.clone(), seen.clone()));
    }
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    behaviour: Behaviour,
    seen: Arc<Seen>,
) {
    let _open = Open(seen.clone());
    let mut body = request.into_body();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    loop {
        let released = seen.released.notified();
        let hold = seen.hold.load(Ordering::SeqCst);
        if hold == 0 || seen.held.load(Ordering::SeqCst) >= hold {
            break;
        }
        released.await;
    }
    let delay = || {
        let max = behaviour.max_delay.as_micros() as u64;
        Duration::from_micros(if max == 0 { 0 } else { fastrand::u64(0..=max) })
    };
    pause(delay()).await;
    let response = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    // An empty message, in two pieces.
    let _ = send.send_data(Bytes::from_static(&[0, 0, 0]), false);
    pause(delay()).await;
    let _ = send.send_data(Bytes::from_static(&[0, 0]), false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}

async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Counts an answer as open until it is done or dropped.
struct Open(Arc<Seen>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}
