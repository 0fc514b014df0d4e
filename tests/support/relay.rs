//! A TCP relay in front of a server whose connections can be frozen: bytes are still
//! accepted, nothing is forwarded either way, nothing is closed, as when a NAT or load
//! balancer drops its state or the peer hangs. Connections made after a freeze work.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Relay {
    pub addr: SocketAddr,
    /// Connections numbered below this are frozen.
    frozen_below: Arc<AtomicU64>,
    next: Arc<AtomicU64>,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    /// Freezes every connection open now.
    pub fn freeze(&self) {
        self.frozen_below
            .store(self.next.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Relays 127.0.0.1:0 to `backend`.
pub async fn start(backend: SocketAddr) -> Relay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen_below = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let relay = Relay {
        addr,
        frozen_below: frozen_below.clone(),
        next: next.clone(),
        accepted: accepted.clone(),
    };
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let number = next.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = tokio::net::TcpStream::connect(backend).await else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let frozen = {
                let frozen_below = frozen_below.clone();
                move || number < frozen_below.load(Ordering::SeqCst)
            };
            tokio::spawn(pipe(client_read, server_write, frozen.clone()));
            tokio::spawn(pipe(server_read, client_write, frozen));
        }
    });
    relay
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: impl Fn() -> bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen() {
            // Accepted and dropped; the connection stays open.
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
