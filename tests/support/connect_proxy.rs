//! An HTTP CONNECT proxy on loopback: tunnels to any target, optionally only with Basic
//! credentials; or answers every CONNECT with a fixed refusal; or closes at once. Keeps the
//! CONNECT requests it received.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Debug)]
pub enum Mode {
    /// Tunnels every CONNECT.
    Open,
    /// Tunnels only with `Proxy-Authorization: <this>`; 407 otherwise.
    Auth(&'static str),
    /// Answers every CONNECT with this status line.
    Refuse(&'static str),
    /// Closes every connection at once.
    Close,
}

pub struct ConnectProxy {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// The CONNECT requests received (request line and headers), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

pub async fn start(mode: Mode) -> ConnectProxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let kept = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (mode, kept) = (mode.clone(), kept.clone());
            tokio::spawn(async move {
                if matches!(mode, Mode::Close) {
                    return;
                }
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                kept.lock().unwrap().push(head.clone());
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or_default()
                    .to_owned();
                let refusal = match &mode {
                    Mode::Refuse(line) => Some(*line),
                    Mode::Auth(expected) => {
                        let sent = format!("proxy-authorization: {expected}\r\n");
                        (!head
                            .to_ascii_lowercase()
                            .contains(&sent.to_ascii_lowercase()))
                        .then_some("HTTP/1.1 407 Proxy Authentication Required")
                    }
                    _ => None,
                };
                if let Some(line) = refusal {
                    let _ = client
                        .write_all(format!("{line}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                        .await;
                    return;
                }
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    ConnectProxy { addr, requests }
}
