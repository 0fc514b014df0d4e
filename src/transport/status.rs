//! Failures of the transport as the gRPC statuses they stand for.

use std::fmt;
use std::sync::Arc;

use tonic::Code;

use crate::error::BoxError;

/// A request h2 could not complete, as the status gRPC gives it. Failures of the
/// connection (closed, broken, refused by a GOAWAY) are UNAVAILABLE; a stream the server
/// reset has the code its reason maps to (the gRPC HTTP/2 mapping, as tonic has it).
pub(crate) fn h2_status(e: h2::Error) -> BoxError {
    let code = if e.is_go_away() || e.is_io() {
        Code::Unavailable
    } else {
        match e.reason() {
            Some(h2::Reason::REFUSED_STREAM) => Code::Unavailable,
            Some(h2::Reason::CANCEL) => Code::Cancelled,
            Some(h2::Reason::ENHANCE_YOUR_CALM) => Code::ResourceExhausted,
            Some(h2::Reason::INADEQUATE_SECURITY) => Code::PermissionDenied,
            Some(_) => Code::Internal,
            // Neither a reason nor I/O: h2 refused what it was asked to send (a malformed
            // header, say), which is this crate's fault, not the connection's.
            None => Code::Internal,
        }
    };
    let message = format!("http/2 request failed: {e}");
    status(code, message, Some(Arc::new(e)))
}

/// A locally made status; its `source` marks it as local (see `call::classify`).
pub(crate) fn status(
    code: Code,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
) -> BoxError {
    let mut status = tonic::Status::new(code, message);
    status.set_source(source.unwrap_or_else(|| Arc::new(NoSource)));
    Box::new(status)
}

/// The source of a local status that has no underlying error.
#[derive(Debug)]
struct NoSource;

impl fmt::Display for NoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("local failure")
    }
}

impl std::error::Error for NoSource {}
