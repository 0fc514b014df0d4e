//! Failures of the transport as the gRPC statuses they stand for, with their causes in
//! words.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;
use tonic::Code;

use crate::error::BoxError;

/// A request h2 could not complete, as the status gRPC gives it. Failures of the
/// connection (closed, broken, refused by a GOAWAY) are UNAVAILABLE; a stream the server
/// reset has the code its reason maps to (the gRPC HTTP/2 mapping, as tonic has it).
pub(crate) fn h2_status(e: h2::Error) -> BoxError {
    let code = h2_code(&e);
    let message = h2_cause(&e);
    status(code, message, false, Some(Arc::new(e)))
}

/// The code gRPC gives an h2 error (see [`h2_status`]); also for h2 errors that reach us
/// through a tonic `Channel`, which tonic maps otherwise (a GOAWAY as INTERNAL).
pub(crate) fn h2_code(e: &h2::Error) -> Code {
    // h2 itself ending the connection over what the server sent (a header block it cannot
    // decode, a frame too large) is the server breaking the protocol, not the connection
    // failing: the code of its reason, as for a reset.
    let broken_by_server =
        e.is_go_away() && e.is_library() && e.reason() != Some(h2::Reason::NO_ERROR);
    if (e.is_go_away() && !broken_by_server) || e.is_io() {
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
    }
}

/// A request the server never processed, which could not be sent again: UNAVAILABLE,
/// which the retry policy retries.
pub(crate) fn unprocessed_status(message: String, e: h2::Error) -> BoxError {
    status(Code::Unavailable, message, false, Some(Arc::new(e)))
}

/// What an h2 error means, in words.
pub(crate) fn h2_cause(e: &h2::Error) -> String {
    let who = if e.is_remote() {
        "the server"
    } else {
        "the client"
    };
    if let Some(io) = e.get_io() {
        return format!(
            "the connection failed: {}",
            lowercase_first(&io.to_string())
        );
    }
    let Some(reason) = e.reason() else {
        return format!("the request could not be sent: {e}");
    };
    let name = reason_name(reason);
    if e.is_go_away() {
        // A GOAWAY from the server reaches a stream it never processed (see
        // `connection::unprocessed`).
        if e.is_remote() {
            return format!(
                "the server closed the connection before processing the request (GOAWAY {name})"
            );
        }
        if e.is_library() && reason != h2::Reason::NO_ERROR {
            return format!(
                "the server broke the HTTP/2 protocol ({name}), so the client closed the \
                 connection"
            );
        }
        return format!("{who} closed the connection (GOAWAY {name})");
    }
    match reason {
        h2::Reason::REFUSED_STREAM => {
            format!("{who} refused the stream before processing it (REFUSED_STREAM)")
        }
        h2::Reason::CANCEL => format!("{who} cancelled the stream (CANCEL)"),
        _ => format!("{who} reset the stream ({name})"),
    }
}

/// The name of an HTTP/2 error code (RFC 9113, section 7).
fn reason_name(reason: h2::Reason) -> String {
    let name = match u32::from(reason) {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        other => return format!("error code {other:#x}"),
    };
    name.to_owned()
}

/// `Connection refused (os error 111)` → `connection refused (os error 111)`.
pub(crate) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A locally made status whose message says what happened in words; its source, a
/// [`LocalFailure`], marks it as local (see `call::classify`).
pub(crate) fn status(
    code: Code,
    message: String,
    permanent: bool,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
) -> BoxError {
    status_retry_at(code, message, permanent, None, source)
}

/// [`status`], with the moment a retry can expect things to have changed (the end of a
/// connection backoff).
pub(crate) fn status_retry_at(
    code: Code,
    message: String,
    permanent: bool,
    retry_at: Option<Instant>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
) -> BoxError {
    let mut status = tonic::Status::new(code, message);
    status.set_source(Arc::new(LocalFailure {
        permanent,
        retry_at,
        source,
    }));
    Box::new(status)
}

/// The source of a status this crate made for a failure of its own transport.
#[derive(Debug)]
pub(crate) struct LocalFailure {
    /// Trying again cannot help.
    pub(crate) permanent: bool,
    /// Trying again before then cannot help.
    pub(crate) retry_at: Option<Instant>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl fmt::Display for LocalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a failure of the connection")
    }
}

impl StdError for LocalFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A local status (from the transport, tonic or a user's tower layer) as an error's cause
/// in words: the message of one of ours, else the message followed by each underlying
/// error's own words, never their `Debug`.
pub(crate) fn cause_of(status: &tonic::Status) -> Cause {
    let mut source = StdError::source(status);
    if let Some(local) = source.and_then(|e| e.downcast_ref::<LocalFailure>()) {
        return Cause {
            words: status.message().to_owned(),
            permanent: local.permanent,
            retry_at: local.retry_at,
            code: None,
        };
    }
    let mut cause = status.message().to_owned();
    while let Some(err) = source {
        // An h2 error in the chain (a tonic `Channel`'s): its words and code, as the
        // builder's own connections give them.
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return Cause {
                words: h2_cause(h2),
                permanent: false,
                retry_at: None,
                code: Some(h2_code(h2)),
            };
        }
        let words = err.to_string();
        if !words.is_empty() && !cause.contains(&words) {
            if !cause.is_empty() {
                cause.push_str(": ");
            }
            cause.push_str(&lowercase_first(&words));
        }
        source = err.source();
    }
    if cause.is_empty() {
        cause.push_str("the transport failed");
    }
    Cause {
        words: cause,
        permanent: false,
        retry_at: None,
        code: None,
    }
}

/// What [`cause_of`] found.
pub(crate) struct Cause {
    pub(crate) words: String,
    pub(crate) permanent: bool,
    pub(crate) retry_at: Option<Instant>,
    /// The code the failure has, where it is not the status's own (an h2 error under a
    /// tonic `Channel`'s status).
    pub(crate) code: Option<Code>,
}
