//! [`TransportFailure`]: the one type for a failure of the transport (a connection that
//! failed or ended, a stream reset, a broken answer), with the gRPC code it stands for, its
//! cause in words, and whether and when trying again can help. It crosses tonic as the
//! source of a `tonic::Status` and becomes an [`Error`](crate::Error) in the call.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;
use tonic::Code;

use crate::error::BoxError;

/// A failure of the transport.
#[derive(Clone, Debug)]
pub(crate) struct TransportFailure {
    /// The code gRPC gives it: UNAVAILABLE for a connection that failed or ended, or the
    /// code of the reason a stream was reset.
    pub(crate) code: Code,
    /// What happened, in words.
    pub(crate) message: String,
    /// Trying again cannot help (a certificate for another name, a server without
    /// HTTP/2): never retried.
    pub(crate) permanent: bool,
    /// Trying again before then cannot help (a connection backoff is under way).
    pub(crate) retry_at: Option<Instant>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl TransportFailure {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            permanent: false,
            retry_at: None,
            source: None,
        }
    }

    /// UNAVAILABLE, the code gRPC gives a server that cannot be reached or a connection
    /// that ended (so it is retried, unless permanent).
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message)
    }

    /// A request h2 could not complete, as gRPC codes it. Failures of the connection
    /// (closed, broken, refused by a GOAWAY) are UNAVAILABLE; a stream the server reset
    /// has the code its reason maps to (the gRPC HTTP/2 mapping, as tonic has it).
    pub(crate) fn h2(e: h2::Error) -> Self {
        Self::new(h2_code(&e), h2_cause(&e)).with_source(e)
    }

    /// A failure that trying again cannot mend.
    pub(crate) fn permanent(mut self) -> Self {
        self.permanent = true;
        self
    }

    /// Trying again before `at` cannot help.
    pub(crate) fn until(mut self, at: Instant) -> Self {
        self.retry_at = Some(at);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// The status tonic carries it in: its code and words, with the failure as its source
    /// (so the call can tell it from a server's status).
    pub(crate) fn into_status(self) -> BoxError {
        let mut status = tonic::Status::new(self.code, self.message.clone());
        status.set_source(Arc::new(self));
        Box::new(status)
    }

    /// The failure a local status stands for (from this transport, tonic or a user's tower
    /// layer): one of ours as it was made, else the message followed by each underlying
    /// error's own words (never their `Debug`), with an h2 error's code where one is in the
    /// chain (a tonic `Channel`'s), and UNAVAILABLE for a failure with no code of its own.
    pub(crate) fn of_status(status: &tonic::Status) -> Self {
        let mut source = StdError::source(status);
        if let Some(ours) = source.and_then(|e| e.downcast_ref::<TransportFailure>()) {
            return ours.clone();
        }
        let code = match status.code() {
            Code::Unknown => Code::Unavailable,
            code => code,
        };
        let mut cause = status.message().to_owned();
        while let Some(err) = source {
            if let Some(h2) = err.downcast_ref::<h2::Error>() {
                return Self::new(h2_code(h2), h2_cause(h2));
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
        Self::new(code, cause)
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for TransportFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The code gRPC gives an h2 error (see [`TransportFailure::h2`]); also for h2 errors that reach us
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
