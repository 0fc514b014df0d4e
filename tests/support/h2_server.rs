//! A raw HTTP/2 server (h2 itself, no gRPC library) answering every request with one
//! scripted answer, so tests can send what a gRPC server never would.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

/// What the server answers.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub status: u16,
    /// Response headers (`content-type` included, when wanted).
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: Vec<u8>,
    /// Trailers after the body, if any.
    pub trailers: Option<Vec<(&'static str, &'static str)>>,
}

impl Answer {
    /// A gRPC answer with no message and these trailers.
    pub fn grpc_trailers(trailers: Vec<(&'static str, &'static str)>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/grpc")],
            body: Vec::new(),
            trailers: Some(trailers),
        }
    }

    /// A trailers-only gRPC answer: the status in the headers, no body.
    pub fn trailers_only(headers: Vec<(&'static str, &'static str)>) -> Self {
        let mut all = vec![("content-type", "application/grpc")];
        all.extend(headers);
        Self {
            status: 200,
            headers: all,
            body: Vec::new(),
            trailers: None,
        }
    }

    /// An HTTP error page.
    pub fn http(status: u16, content_type: &'static str, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type)],
            body: body.as_bytes().to_vec(),
            trailers: None,
        }
    }
}

fn header_map(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            )
        })
        .collect()
}

/// Serves on 127.0.0.1:0, handing each request's responder to `handle` with the number of
/// requests received before it; the counter counts the requests received.
async fn serve_with<H>(handle: H) -> (SocketAddr, Arc<AtomicUsize>)
where
    H: Fn(usize, h2::server::SendResponse<Bytes>) + Clone + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (handle, counted) = (handle.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((_, respond))) = connection.accept().await {
                    handle(counted.fetch_add(1, Ordering::SeqCst), respond);
                }
            });
        }
    });
    (addr, requests)
}

/// Serves `answer` on 127.0.0.1:0; the counter counts the requests received.
pub async fn serve(answer: Answer) -> (SocketAddr, Arc<AtomicUsize>) {
    serve_with(move |_, mut respond| {
        let mut response = http::Response::builder().status(answer.status);
        *response.headers_mut().unwrap() = header_map(&answer.headers);
        let response = response.body(()).unwrap();
        let ends_here = answer.body.is_empty() && answer.trailers.is_none();
        let Ok(mut send) = respond.send_response(response, ends_here) else {
            return;
        };
        if !answer.body.is_empty() {
            let last = answer.trailers.is_none();
            let _ = send.send_data(Bytes::from(answer.body.clone()), last);
        }
        if let Some(trailers) = &answer.trailers {
            let _ = send.send_trailers(header_map(trailers));
        }
    })
    .await
}

/// Serves on 127.0.0.1:0, refusing the first `refuse` streams with REFUSED_STREAM (all of
/// them with `usize::MAX`) and answering the rest with an empty gRPC OK; the counter
/// counts the requests received.
pub async fn serve_refusing(refuse: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    serve_with(move |n, mut respond| {
        if n < refuse {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
        } else {
            answer_ok(respond);
        }
    })
    .await
}

/// Answers with an empty message and `grpc-status: 0`.
pub fn answer_ok(mut respond: h2::server::SendResponse<Bytes>) {
    let response = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    let _ = send.send_data(Bytes::from_static(&[0; 5]), false);
    let _ = send.send_trailers(header_map(&[("grpc-status", "0")]));
}
