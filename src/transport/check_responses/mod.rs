//! What comes back, checked before tonic reads it as gRPC, on every transport (the
//! connections the builder opens, a `Channel`, `build_with_service`).
//!
//! - A response that is not gRPC (an HTTP status other than 200, or a content type other
//!   than `application/grpc`, and no `grpc-status` header) is a status decided from the HTTP
//!   status, as gRPC specifies it (`doc/http-grpc-status-mapping.md`), with a short excerpt
//!   of the body in its message; tonic would otherwise read an HTML page as a gRPC frame
//!   (`invalid compression flag: 60`).
//! - Status headers tonic would panic on or misread are mended first: a
//!   `grpc-status-details-bin` that is not base64 is dropped (tonic 0.14 `expect`s it to
//!   be), and a `grpc-message` whose bytes are not UTF-8 once percent-decoded is re-encoded
//!   from its lossy text (tonic would replace the server's code with UNKNOWN).
//! - Two `grpc-status` values are INTERNAL (grpc-go rejects them as malformed): tonic
//!   would take the first, so `0` then `5` in duplicated trailers was a success.
//! - The body is read as gRPC frames as it passes, since this client's calls are all
//!   unary: a second message, a compressed flag (this client accepts no compression, so a
//!   server may not compress: `doc/compression.md`), a flag that is neither 0 nor 1, a
//!   length prefix over the size limit (RESOURCE_EXHAUSTED, `doc/statuscodes.md`), an
//!   answer that ends inside a message, an OK with no message, and an answer that ends
//!   without a `grpc-status` are each a status made here, in words, before tonic would
//!   take it for the server's (`server returned INTERNAL: protocol error: …`) or miss it.
//!   A `grpc-encoding` header is taken off the head so that tonic does not turn the
//!   server's own status, in a trailers-only answer, into UNIMPLEMENTED.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::Frame;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode};
use tonic::Code;
use tonic::body::Body;
use tower_service::Service;

mod frames;

use frames::Frames;

use super::GrpcTransport;
use super::failure::TransportFailure;
use crate::error::BoxError;

/// How much of a body that is not gRPC is read for the message.
const EXCERPT_BYTES: usize = 1024;
/// How much of it the message shows, in characters.
const EXCERPT_CHARS: usize = 120;

/// tonic's decoder for `grpc-status-details-bin`: standard alphabet, padding optional.
const DETAILS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What gRPC escapes in `grpc-message`: everything outside printable ASCII, and `%`.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Checks the responses of the transport it wraps; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct CheckResponses<S> {
    inner: S,
    /// The largest message accepted (`max_response_size`).
    max_message: usize,
}

impl<S> CheckResponses<S> {
    pub(crate) fn new(inner: S, max_message: usize) -> Self {
        Self { inner, max_message }
    }
}

impl<S: GrpcTransport> Service<http::Request<Body>> for CheckResponses<S> {
    type Response = http::Response<Checked<S::ResponseBody>>;
    type Error = BoxError;
    type Future = Checking<S::Future, S::ResponseBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Checking {
            inner: self.inner.call(request),
            excerpt: None,
            max_message: self.max_message,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`CheckResponses`].
    pub(crate) struct Checking<F, B> {
        #[pin]
        inner: F,
        // Set once the head has shown the response is not gRPC.
        excerpt: Option<Excerpt<B>>,
        max_message: usize,
    }
}

struct Excerpt<B> {
    status: StatusCode,
    content_type: String,
    // Boxed: only the rare answer that is not gRPC pays for it.
    body: Pin<Box<B>>,
    read: Vec<u8>,
}

impl<F, B, E> Future for Checking<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes>,
{
    type Output = Result<http::Response<Checked<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.excerpt.is_none() {
            let response = ready!(this.inner.as_mut().poll(cx)).map_err(Into::into)?;
            if is_grpc(&response) {
                let (mut head, body) = response.into_parts();
                let encoding = head.headers.remove("grpc-encoding");
                let status_in_head = head.headers.contains_key("grpc-status");
                if status_in_head {
                    check_status_headers(&mut head.headers)?;
                }
                // Trailers-only: the status came with the end of the stream. (A status in
                // headers that go on is tonic's to read: a non-OK one ends the call.)
                let trailers_only = status_in_head && body.is_end_stream();
                let head_status = head.headers.get("grpc-status").cloned();
                let body = Checked {
                    body,
                    frames: Frames::new(*this.max_message, encoding, head_status, trailers_only),
                };
                return Poll::Ready(Ok(http::Response::from_parts(head, body)));
            }
            let (head, body) = response.into_parts();
            let content_type = head
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type")
                .to_owned();
            *this.excerpt = Some(Excerpt {
                status: head.status,
                content_type,
                body: Box::pin(body),
                read: Vec::new(),
            });
        }
        let Some(excerpt) = this.excerpt.as_mut() else {
            unreachable!("set above");
        };
        while excerpt.read.len() < EXCERPT_BYTES {
            match ready!(excerpt.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        excerpt.read.extend_from_slice(&data);
                    }
                }
                // What was read is what can be shown.
                Some(Err(_)) | None => break,
            }
        }
        Poll::Ready(Err(not_grpc(excerpt)))
    }
}

/// Whether the head says the body is gRPC (or the head is a trailers-only gRPC answer).
fn is_grpc<B>(response: &http::Response<B>) -> bool {
    let headers = response.headers();
    if headers.contains_key("grpc-status") {
        return true;
    }
    let grpc_type = headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    response.status() == StatusCode::OK && grpc_type
}

/// The code gRPC gives an HTTP status (`doc/http-grpc-status-mapping.md`).
fn code_for(status: StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The status for an answer that is not gRPC: `HTTP 503 from the server (text/html): …`.
fn not_grpc<B>(excerpt: &Excerpt<B>) -> BoxError {
    let text = text_of(&excerpt.read);
    let mut message = format!(
        "HTTP {} from the server ({})",
        excerpt.status.as_u16(),
        excerpt.content_type
    );
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(&text);
    }
    let mut status = tonic::Status::new(code_for(excerpt.status), message);
    status.set_source(std::sync::Arc::new(NotGrpc {
        status: excerpt.status,
    }));
    Box::new(status)
}

/// The readable text of a body: tags dropped, whitespace collapsed, cut short.
pub(super) fn text_of(bytes: &[u8]) -> String {
    let raw = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if in_tag => {}
            c if c.is_whitespace() || c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let text = words.join(" ");
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{cut}…")
}

/// The source of a status made from an answer that was not gRPC: it is the server's
/// answer, not a local failure (see `call::classify`).
#[derive(Debug)]
pub(crate) struct NotGrpc {
    status: StatusCode,
}

impl fmt::Display for NotGrpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server answered HTTP {}, not gRPC",
            self.status.as_u16()
        )
    }
}

impl std::error::Error for NotGrpc {}

/// Checks the status headers of a trailers-only head or of trailers, and mends what tonic
/// would misread; see the module docs.
fn check_status_headers(headers: &mut HeaderMap) -> Result<(), BoxError> {
    let mut statuses = headers.get_all("grpc-status").iter();
    match (statuses.next(), statuses.next()) {
        (None, _) => return Err(malformed("the answer ended without a grpc-status")),
        (Some(_), Some(_)) => return Err(malformed("the server sent grpc-status twice")),
        // One that is not a number is UNKNOWN, as tonic, grpc-java and C-core read it.
        (Some(_), None) => {}
    }
    mend_status_headers(headers);
    Ok(())
}

/// A status for an answer that breaks the gRPC protocol, found here: INTERNAL.
pub(super) fn malformed(what: &str) -> BoxError {
    TransportFailure::new(Code::Internal, what).into_status()
}

/// Mends the status headers of a response head or trailers; see the module docs.
fn mend_status_headers(headers: &mut HeaderMap) {
    if let Some(details) = headers.get("grpc-status-details-bin")
        && DETAILS_BASE64.decode(details.as_bytes()).is_err()
    {
        tracing::debug!("dropping a grpc-status-details-bin that is not base64");
        headers.remove("grpc-status-details-bin");
    }
    if let Some(message) = headers.get("grpc-message") {
        let decoded: Vec<u8> = percent_decode(message.as_bytes()).collect();
        if std::str::from_utf8(&decoded).is_err() {
            let lossy = String::from_utf8_lossy(&decoded);
            let encoded = percent_encoding::utf8_percent_encode(&lossy, GRPC_MESSAGE).to_string();
            match HeaderValue::try_from(encoded) {
                Ok(value) => {
                    headers.insert("grpc-message", value);
                }
                Err(_) => {
                    headers.remove("grpc-message");
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A gRPC response body read as frames as it passes, its trailers checked and mended.
    pub(crate) struct Checked<B> {
        #[pin]
        body: B,
        frames: Frames,
    }
}

impl<B> http_body::Body for Checked<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frames = this.frames;
        if frames.failed {
            return Poll::Ready(None);
        }
        let polled = ready!(this.body.poll_frame(cx));
        let checked = match polled {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => frames.data(&data).map(|()| Some(Frame::data(data))),
                Err(frame) => match frame.into_trailers() {
                    Ok(mut trailers) => {
                        frames.trailers = true;
                        check_status_headers(&mut trailers)
                            .and_then(|()| frames.ended(trailers.get("grpc-status")))
                            .map(|()| Some(Frame::trailers(trailers)))
                    }
                    Err(frame) => Ok(Some(frame)),
                },
            },
            Some(Err(e)) => Err(e.into()),
            None if frames.trailers => Ok(None),
            None => frames.ended(frames.head_status.as_ref()).map(|()| None),
        };
        Poll::Ready(match checked {
            Ok(frame) => frame.map(Ok),
            Err(e) => {
                frames.failed = true;
                Some(Err(e))
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.frames.failed || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_as_grpc_specifies() {
        let cases = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (500, Code::Unknown),
            (301, Code::Unknown),
            (200, Code::Unknown),
        ];
        for (status, code) in cases {
            assert_eq!(
                code_for(StatusCode::from_u16(status).unwrap()),
                code,
                "{status}"
            );
        }
    }

    #[test]
    fn an_html_page_becomes_its_words() {
        let page = b"<html><head><title>502 Bad Gateway</title></head>\r\n<body>\
            <center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.22.1</center></body></html>";
        assert_eq!(
            text_of(page),
            "502 Bad Gateway 502 Bad Gateway nginx/1.22.1"
        );
        let long = "word ".repeat(100);
        assert_eq!(text_of(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn bad_status_headers_are_mended() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("5"));
        headers.insert(
            "grpc-status-details-bin",
            HeaderValue::from_static("not base64!"),
        );
        headers.insert("grpc-message", HeaderValue::from_static("bad %FF byte"));
        mend_status_headers(&mut headers);
        assert!(!headers.contains_key("grpc-status-details-bin"));
        let message = headers.get("grpc-message").unwrap().to_str().unwrap();
        let decoded = percent_decode(message.as_bytes()).decode_utf8().unwrap();
        assert_eq!(decoded, "bad \u{fffd} byte");
        assert_eq!(headers.get("grpc-status").unwrap(), "5");

        let mut good = HeaderMap::new();
        good.insert("grpc-status-details-bin", HeaderValue::from_static("CAU"));
        good.insert("grpc-message", HeaderValue::from_static("caf%C3%A9"));
        let before = good.clone();
        mend_status_headers(&mut good);
        assert_eq!(good, before);
    }
}
