//! Misbehaving servers the emulator cannot imitate: raw HTTP/2 answers and raw TCP.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tonic::body::Body;
use tonic::server::NamedService;

/// Answers every request with the same raw HTTP response.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// gRPC trailers (`grpc-status`), if any.
    pub grpc_status: Option<&'static str>,
}

impl NamedService for Canned {
    const NAME: &'static str = "google.longrunning.Operations";
}

impl tower::Service<http::Request<Body>> for Canned {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut frames: Vec<Result<Frame<Bytes>, tonic::Status>> =
                vec![Ok(Frame::data(Bytes::from(this.body)))];
            if let Some(code) = this.grpc_status {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", code.parse().unwrap());
                frames.push(Ok(Frame::trailers(trailers)));
            }
            let body = Body::new(StreamBody::new(futures_util::stream::iter(frames)));
            Ok(http::Response::builder()
                .status(this.status)
                .header("content-type", this.content_type)
                .body(body)
                .unwrap())
        })
    }
}

/// Serves `canned` over HTTP/2 on 127.0.0.1:0.
pub async fn serve_canned(canned: Canned) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(canned)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

/// Accepts TCP connections, reads what the client sends, then resets the connection.
pub async fn serve_resetting() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 4096];
                // The preface and the request's headers, then a reset (linger 0 sends RST).
                let _ = tokio::time::timeout(std::time::Duration::from_millis(50), async {
                    let _ = stream.read(&mut buf).await;
                })
                .await;
                let _ = stream.set_zero_linger();
                drop(stream);
            });
        }
    });
    addr
}
