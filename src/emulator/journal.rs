//! The journal: every call the emulator received, in order, with its headers and answer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tonic::Code;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;

use super::JOURNAL_LIMIT;

/// The methods of `google.longrunning.Operations`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `ListOperations`.
    List,
    /// `GetOperation`.
    Get,
    /// `DeleteOperation`.
    Delete,
    /// `CancelOperation`.
    Cancel,
    /// `WaitOperation`.
    Wait,
}

impl Method {
    /// Every method of the service.
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::List,
        Method::Delete,
        Method::Cancel,
        Method::Wait,
    ];

    /// The method named `name` (e.g. `GetOperation`), if the service has one.
    pub fn from_name(name: &str) -> Option<Method> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The method's name, e.g. `CancelOperation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::List => "ListOperations",
            Method::Get => "GetOperation",
            Method::Delete => "DeleteOperation",
            Method::Cancel => "CancelOperation",
            Method::Wait => "WaitOperation",
        }
    }
}

/// One call the emulator received, as its journal keeps it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The method.
    pub method: Method,
    /// The HTTP/2 `:path`, e.g. `/google.longrunning.Operations/CancelOperation`.
    pub path: String,
    /// The `name` field of the request (the parent, for `ListOperations`).
    pub name: String,
    /// The request headers (gRPC metadata) as received.
    pub metadata: MetadataMap,
    /// The code the emulator answered with.
    pub code: Code,
    /// When the call arrived (tokio's clock, so paused-time tests see paused time).
    pub at: Instant,
    /// When the call arrived, by the system's clock (for journal files).
    pub time: std::time::SystemTime,
    /// The client's address: calls from one HTTP/2 connection share it.
    pub peer: Option<SocketAddr>,
}

impl Received {
    /// A request header as text, if present and valid ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.metadata.get(name).and_then(|v| v.to_str().ok())
    }

    /// The request headers with secrets masked: credentials (`authorization`, cookies, API
    /// keys, IAM tokens) keep only their scheme (`Bearer [masked]`); binary (`-bin`)
    /// headers are base64. In the order received.
    pub fn masked_headers(&self) -> Vec<(String, String)> {
        use base64::Engine;
        use tonic::metadata::KeyAndValueRef;
        self.metadata
            .iter()
            .map(|entry| match entry {
                KeyAndValueRef::Ascii(key, value) => {
                    let text = value.to_str().unwrap_or("[not text]");
                    let shown = if is_secret(key.as_str()) {
                        match text.split_once(' ') {
                            Some((scheme, _)) => format!("{scheme} [masked]"),
                            None => "[masked]".to_owned(),
                        }
                    } else {
                        text.to_owned()
                    };
                    (key.as_str().to_owned(), shown)
                }
                KeyAndValueRef::Binary(key, value) => {
                    let bytes = value.to_bytes().unwrap_or_default();
                    let shown = if is_secret(key.as_str()) {
                        "[masked]".to_owned()
                    } else {
                        base64::engine::general_purpose::STANDARD.encode(bytes)
                    };
                    (key.as_str().to_owned(), shown)
                }
            })
            .collect()
    }
}

/// Headers that carry credentials.
fn is_secret(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "proxy-authorization" | "cookie" | "x-goog-api-key"
    ) || name.contains("token")
        || name.contains("secret")
}

/// The calls received, oldest first, at most [`JOURNAL_LIMIT`].
#[derive(Default)]
pub(super) struct Journal(VecDeque<Received>);

impl Journal {
    pub(super) fn push(&mut self, received: Received) {
        if self.0.len() >= JOURNAL_LIMIT {
            self.0.pop_front();
        }
        self.0.push_back(received);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Received> {
        self.0.iter()
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

/// The HTTP/2 path of a request, carried from the HTTP layer to the gRPC handler.
#[derive(Clone)]
pub(super) struct RawPath(pub(super) String);

/// Records the HTTP/2 `:path` of each request for the journal, then hands it on.
#[derive(Clone)]
pub(super) struct RecordPath<S>(pub(super) S);

impl<S: NamedService> NamedService for RecordPath<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower_service::Service<http::Request<B>> for RecordPath<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = RawPath(request.uri().path().to_owned());
        request.extensions_mut().insert(path);
        self.0.call(request)
    }
}
