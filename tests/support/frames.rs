//! A frame-level HTTP/2 server: it writes the bytes a test scripts, frame by frame, so it
//! can do what no HTTP/2 library's server would — a GOAWAY whose last-stream-id is below a
//! stream it just received, a close in the middle of a frame, duplicated status headers,
//! 1xx answers, SETTINGS with `max_concurrent_streams` 0.
//!
//! It runs on a thread and runtime of its own, so it goes on while the client's runtime is
//! blocked or its time is paused. Header blocks are HPACK literals without indexing and
//! without Huffman coding (RFC 7541, 6.2.2), which every decoder accepts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// HTTP/2 error codes (RFC 9113, 7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const REFUSED_STREAM: u32 = 0x7;

/// One frame as read from the client.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// A frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// SETTINGS with these (id, value) pairs.
pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in pairs {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

pub fn settings_ack() -> Vec<u8> {
    frame(SETTINGS, ACK, 0, &[])
}

pub fn goaway(last_stream: u32, code: u32) -> Vec<u8> {
    let mut payload = last_stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&code.to_be_bytes());
    frame(GOAWAY, 0, 0, &payload)
}

pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn ping(opaque: [u8; 8]) -> Vec<u8> {
    frame(PING, 0, 0, &opaque)
}

pub fn data(stream: u32, bytes: &[u8], end_stream: bool) -> Vec<u8> {
    frame(DATA, if end_stream { END_STREAM } else { 0 }, stream, bytes)
}

/// A HEADERS frame (END_HEADERS set) carrying these fields.
pub fn headers(stream: u32, fields: &[(&[u8], &[u8])], end_stream: bool) -> Vec<u8> {
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, &hpack(fields))
}

/// A header block of literals without indexing, new names, no Huffman coding.
pub fn hpack(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        integer(&mut out, name.len(), 7);
        out.extend_from_slice(name);
        integer(&mut out, value.len(), 7);
        out.extend_from_slice(value);
    }
    out
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541, 5.1), the prefix's other bits 0.
fn integer(out: &mut Vec<u8>, mut value: usize, n: u32) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(value as u8);
        return;
    }
    out.push(max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// A gRPC message frame: the compressed flag, the length, the bytes.
pub fn grpc_message(compressed: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![compressed];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// The answer to one request, as the bytes of a gRPC OK with an empty message.
pub fn ok_answer(stream: u32) -> Vec<u8> {
    let mut out = headers(
        stream,
        &[(b":status", b"200"), (b"content-type", b"application/grpc")],
        false,
    );
    out.extend(data(stream, &grpc_message(0, &[]), false));
    out.extend(headers(stream, &[(b"grpc-status", b"0")], true));
    out
}

/// One connection, server side: the client's frames in, scripted bytes out.
pub struct Conn {
    socket: TcpStream,
    buf: Vec<u8>,
    /// The connection's number, from 1.
    pub number: usize,
}

impl Conn {
    /// Reads a frame; `None` once the client has closed the connection or sent garbage.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let head: Vec<u8> = self.buf.drain(..9 + len).collect();
                    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
                    return Some(Frame {
                        kind: head[3],
                        flags: head[4],
                        stream: stream & 0x7fff_ffff,
                        payload: head[9..].to_vec(),
                    });
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until the next request's HEADERS, acking SETTINGS and PINGs on the way;
    /// its stream id and whether END_STREAM came with it. `None` once the client is gone.
    pub async fn next_request(&mut self) -> Option<(u32, bool)> {
        loop {
            let frame = self.read_frame().await?;
            match frame.kind {
                HEADERS => return Some((frame.stream, frame.flags & END_STREAM != 0)),
                SETTINGS if frame.flags & ACK == 0 => self.write(&settings_ack()).await,
                PING if frame.flags & ACK == 0 => {
                    self.write(&frame_of(PING, ACK, 0, &frame.payload)).await
                }
                _ => {}
            }
        }
    }

    /// Writes `bytes`; a client that has gone is not an error here.
    pub async fn write(&mut self, bytes: &[u8]) {
        let _ = self.socket.write_all(bytes).await;
    }

    /// Closes the connection with a TCP reset (linger 0), not a FIN.
    pub fn reset(self) {
        let _ = self.socket.set_zero_linger();
        drop(self.socket);
    }

    /// Closes the connection with a FIN.
    pub async fn close(mut self) {
        let _ = self.socket.shutdown().await;
    }

    /// Reads until the client goes, answering nothing.
    pub async fn drain(mut self) {
        while self.read_frame().await.is_some() {}
    }

    /// The client's port: its end of this connection is `127.0.0.1:<port>`.
    pub fn peer_port(&self) -> u16 {
        self.socket.peer_addr().map_or(0, |a| a.port())
    }
}

fn frame_of(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    frame(kind, flags, stream, payload)
}

/// Serves on 127.0.0.1:0 from a thread of its own. For each connection it reads the
/// client's preface, sends `server_settings` (then whatever else the script writes), and
/// hands the connection to `script`. The counter counts the connections accepted.
pub fn serve<S, F>(server_settings: Vec<(u16, u32)>, script: S) -> (SocketAddr, Arc<AtomicUsize>)
where
    S: Fn(Conn) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let number = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let (script, settings) = (script.clone(), server_settings.clone());
                tokio::spawn(async move {
                    let mut preface = [0u8; 24];
                    if socket.read_exact(&mut preface).await.is_err() {
                        return;
                    }
                    let mut conn = Conn {
                        socket,
                        buf: Vec::new(),
                        number,
                    };
                    conn.write(&self::settings(&settings)).await;
                    script(conn).await;
                });
            }
        });
    });
    (addr, accepted)
}

/// What [`serve_first_then_answers`] serves and counts.
pub struct Served {
    pub addr: SocketAddr,
    /// Requests read, on every connection.
    pub requests: Arc<AtomicUsize>,
    pub connections: Arc<AtomicUsize>,
}

/// Serves with `settings`: the first request on connection 1 goes to `first` with its
/// stream id (to do the wrong thing at the wrong moment); every later connection answers
/// every request with a gRPC OK.
pub fn serve_first_then_answers<F, Fut>(settings: Vec<(u16, u32)>, first: F) -> Served
where
    F: Fn(Conn, u32) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let first = Arc::new(first);
    let (addr, connections) = serve(settings, move |mut conn| {
        let (requests, first) = (counted.clone(), first.clone());
        async move {
            if conn.number > 1 {
                return answer_all(conn, requests).await;
            }
            if let Some((stream, _)) = conn.next_request().await {
                requests.fetch_add(1, Ordering::SeqCst);
                first(conn, stream).await;
            }
        }
    });
    Served {
        addr,
        requests,
        connections,
    }
}

/// Answers every request on the connection with a gRPC OK, counting them in `requests`.
pub async fn answer_all(mut conn: Conn, requests: Arc<AtomicUsize>) {
    while let Some((stream, _)) = conn.next_request().await {
        requests.fetch_add(1, Ordering::SeqCst);
        conn.write(&ok_answer(stream)).await;
    }
}
