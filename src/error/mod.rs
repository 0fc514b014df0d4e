//! The one error type every call returns.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use tonic::Code;

use crate::pb::{Operation, rpc};
use crate::transport::TransportFailure;

mod code;
mod details;

pub(crate) use code::code_name;
pub use details::ErrorDetails;

/// Any error, as tower and tonic pass them around.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error from this crate: invalid input, credentials, transport, deadline, or a status
/// returned by the server.
///
/// Ask what happened with the `is_*` methods and [`Error::code`]; the server's
/// `google.rpc` error details are in [`Error::details`]; the underlying error is reachable
/// through [`std::error::Error::source`].
///
/// Two kinds of predicate, each with one meaning. Those named after a code hold exactly
/// when [`Error::code`] is that code, whatever found the failure: `is_invalid_argument`,
/// `is_not_found`, `is_permission_denied`, `is_unimplemented`, `is_unavailable` and
/// `is_timeout` (`DEADLINE_EXCEEDED`). The others say where it came from, and exactly one
/// of them holds for every error:
///
/// | failure | origin predicate | `code()` |
/// |---|---|---|
/// | a bad name or page token, refused before sending | `is_invalid_input` | `INVALID_ARGUMENT` |
/// | a builder setting that cannot work | `is_config` | `INVALID_ARGUMENT` |
/// | credentials that produced no headers | `is_credentials` | `UNAUTHENTICATED` |
/// | a connection that failed or ended, a reset stream, a broken answer | `is_transport` (and `is_permanent` when trying again cannot help) | the code gRPC gives it, mostly `UNAVAILABLE` or `INTERNAL` |
/// | the call's deadline | `is_deadline` | `DEADLINE_EXCEEDED` |
/// | a wait's polling deadline, the operation still running (its last state in [`Error::operation`]) | `is_polling_deadline` | `DEADLINE_EXCEEDED` |
/// | a status the server sent (an HTTP error page included) | `is_status` | the server's |
/// | an answer that is not the type asked for, or not protobuf | `is_decode` | `INTERNAL` |
/// | the operation finished with an error | `is_operation_failed` | the operation's |
///
/// So `err.is_status() && err.is_not_found()` is the server saying the operation does not
/// exist, and `err.is_not_found()` alone any error whose code is `NOT_FOUND`.
///
/// ```
/// # use longrunning_grpc::validate_name;
/// let err = validate_name("").unwrap_err();
/// assert!(err.is_invalid_input() && err.is_invalid_argument());
/// assert_eq!(err.code(), tonic::Code::InvalidArgument);
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    /// The operation (or collection) the call was about.
    name: Option<String>,
    /// The gRPC method, e.g. `CancelOperation`.
    method: Option<&'static str>,
    source: Option<BoxError>,
}

enum Kind {
    /// Bad input, found before anything was sent.
    InvalidArgument(String),
    /// A builder setting that cannot work.
    Config(String),
    /// The credentials could not produce headers.
    Credentials,
    /// The connection failed (refused, reset, TLS, …), or the request could not be
    /// completed on it.
    Transport(Box<TransportFailure>),
    /// The call's deadline passed.
    Deadline(Duration),
    /// A wait's polling deadline passed with the operation still running; the operation as
    /// last seen, and what became of the cancel sent then, if one was.
    PollingDeadline(Box<GaveUp>),
    /// The server answered with a non-OK status.
    Status(Box<StatusInfo>),
    /// A response could not be decoded (e.g. an `Any` of an unexpected type).
    Decode(String),
    /// The operation itself finished with an error (its `error` field).
    Operation(Box<StatusInfo>),
}

struct StatusInfo {
    code: Code,
    message: String,
    details: ErrorDetails,
    /// The server's `grpc-retry-pushback-ms` trailer, read.
    pushback: Option<Pushback>,
}

/// What a server's `grpc-retry-pushback-ms` trailer says (gRPC A6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushback {
    /// Try again after this long, and not before.
    After(Duration),
    /// A negative or malformed value: do not try again.
    Stop,
}

impl Pushback {
    /// The trailer's value, as A6 reads it: a non-negative count of milliseconds, or
    /// anything else meaning "do not retry".
    fn parse(value: &[u8]) -> Self {
        std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Pushback::Stop, |ms| {
                Pushback::After(Duration::from_millis(ms))
            })
    }
}

impl Error {
    pub(crate) fn invalid_argument(name: &str, why: impl Into<String>) -> Self {
        // Bad names may be huge or hold control characters: keep a short, escaped excerpt.
        let shown: String = name.chars().take(64).collect();
        let shown = if shown.len() < name.len() {
            format!("{shown}…")
        } else {
            shown
        };
        Self::new(Kind::InvalidArgument(why.into())).with_name(shown)
    }

    pub(crate) fn config(why: impl Into<String>) -> Self {
        Self::new(Kind::Config(why.into()))
    }

    pub(crate) fn credentials(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Credentials).with_source(source)
    }

    /// A failure of the transport; `source` keeps the underlying errors.
    pub(crate) fn transport(failure: TransportFailure, source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Transport(Box::new(failure))).with_source(source)
    }

    pub(crate) fn deadline(after: Duration) -> Self {
        Self::new(Kind::Deadline(after))
    }

    pub(crate) fn polling_deadline(after: Duration, last: Option<Operation>) -> Self {
        Self::new(Kind::PollingDeadline(Box::new(GaveUp {
            after,
            last,
            cancel: None,
        })))
    }

    /// A wait's give-up ([`Error::polling_deadline`]) after which a cancel was sent
    /// (`Ok`: accepted, then looked at for `confirm`; `Err`: refused with this code), and
    /// `last` is what became of the operation.
    pub(crate) fn with_cancel(mut self, cancel: Result<Duration, Code>, last: Operation) -> Self {
        if let Kind::PollingDeadline(gave_up) = &mut self.inner.kind {
            gave_up.cancel = Some(cancel);
            gave_up.last = Some(last);
        }
        self
    }

    pub(crate) fn decode(why: impl Into<String>) -> Self {
        Self::new(Kind::Decode(why.into()))
    }

    /// An error for a non-OK gRPC status, with its details decoded.
    pub(crate) fn status(status: tonic::Status) -> Self {
        let details = ErrorDetails::from_status_bytes(status.details());
        let pushback = status
            .metadata()
            .get("grpc-retry-pushback-ms")
            .map(|v| Pushback::parse(v.as_bytes()));
        let info = StatusInfo {
            code: status.code(),
            message: one_line(status.message()),
            details,
            pushback,
        };
        Self::new(Kind::Status(Box::new(info))).with_source(status)
    }

    /// The error an operation finished with, its details decoded.
    pub(crate) fn operation_failed(status: &rpc::Status, name: &str) -> Self {
        let info = StatusInfo {
            code: Code::from_i32(status.code),
            message: status.message.clone(),
            details: ErrorDetails::from_anys(status.details.iter().cloned()),
            pushback: None,
        };
        Self::new(Kind::Operation(Box::new(info))).with_name(name)
    }

    fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                name: None,
                method: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_name(mut self, name: impl Into<String>) -> Self {
        self.inner.name = Some(name.into());
        self
    }

    pub(crate) fn with_method(mut self, method: &'static str) -> Self {
        self.inner.method = Some(method);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The gRPC code that best describes the error.
    ///
    /// A server status gives its own code; invalid input gives `InvalidArgument`, transport
    /// failures the code gRPC gives them (`Unavailable` for a connection that failed or
    /// ended), deadlines `DeadlineExceeded`, credentials failures
    /// `Unauthenticated`, undecodable responses `Internal`.
    pub fn code(&self) -> Code {
        match &self.inner.kind {
            Kind::InvalidArgument(_) | Kind::Config(_) => Code::InvalidArgument,
            Kind::Credentials => Code::Unauthenticated,
            Kind::Transport(t) => t.code,
            Kind::Deadline(_) | Kind::PollingDeadline(_) => Code::DeadlineExceeded,
            Kind::Status(s) | Kind::Operation(s) => s.code,
            Kind::Decode(_) => Code::Internal,
        }
    }

    /// The server's message, for a server status or an operation's error.
    pub fn message(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Status(s) | Kind::Operation(s) => Some(&s.message),
            _ => None,
        }
    }

    /// The `google.rpc` error details the server sent in `grpc-status-details-bin`, or
    /// that an operation's error carries. Empty for other errors.
    pub fn details(&self) -> &ErrorDetails {
        static EMPTY: ErrorDetails = ErrorDetails::EMPTY;
        match &self.inner.kind {
            Kind::Status(s) | Kind::Operation(s) => &s.details,
            _ => &EMPTY,
        }
    }

    /// The name the call was about, when there was one.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The gRPC method the call was for, e.g. `CancelOperation`.
    pub fn method(&self) -> Option<&'static str> {
        self.inner.method
    }

    /// The code is `INVALID_ARGUMENT`: input refused here before anything was sent
    /// ([`is_invalid_input`](Self::is_invalid_input)), a builder setting that cannot work
    /// ([`is_config`](Self::is_config)), or the server's status.
    pub fn is_invalid_argument(&self) -> bool {
        self.code() == Code::InvalidArgument
    }

    /// The input was invalid (a bad name, a bad page token, …) and refused before anything
    /// was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self.inner.kind, Kind::InvalidArgument(_))
    }

    /// A builder setting could not work (a bad endpoint, a header value with invalid
    /// bytes, credentials over plaintext, …).
    pub fn is_config(&self) -> bool {
        matches!(self.inner.kind, Kind::Config(_))
    }

    /// The credentials could not produce the request headers.
    pub fn is_credentials(&self) -> bool {
        matches!(self.inner.kind, Kind::Credentials)
    }

    /// The connection failed before a gRPC status was received.
    pub fn is_transport(&self) -> bool {
        matches!(self.inner.kind, Kind::Transport(_))
    }

    /// The server's pushback (`grpc-retry-pushback-ms`), if it sent one.
    pub(crate) fn pushback(&self) -> Option<Pushback> {
        match &self.inner.kind {
            Kind::Status(s) => s.pushback,
            _ => None,
        }
    }

    /// When a retry can next hope to connect (the end of a connection backoff).
    pub(crate) fn retry_at(&self) -> Option<tokio::time::Instant> {
        match &self.inner.kind {
            Kind::Transport(t) => t.retry_at,
            _ => None,
        }
    }

    /// Trying again cannot help: the server's certificate is not valid for its name or not
    /// trusted, or the server does not speak HTTP/2. Such errors are never retried, whatever
    /// their code.
    pub fn is_permanent(&self) -> bool {
        matches!(&self.inner.kind, Kind::Transport(t) if t.permanent)
    }

    /// The code is `DEADLINE_EXCEEDED`: the call's deadline passed here
    /// ([`is_deadline`](Self::is_deadline)), a wait's ([`is_polling_deadline`](Self::is_polling_deadline)),
    /// or the server said so.
    pub fn is_timeout(&self) -> bool {
        self.code() == Code::DeadlineExceeded
    }

    /// The call's own deadline passed here, before an answer came.
    pub fn is_deadline(&self) -> bool {
        matches!(self.inner.kind, Kind::Deadline(_))
    }

    /// A wait gave up at its polling policy's deadline with the operation still running;
    /// [`operation`](Self::operation) has it as last seen. Also
    /// [`is_timeout`](Self::is_timeout).
    pub fn is_polling_deadline(&self) -> bool {
        matches!(self.inner.kind, Kind::PollingDeadline(_))
    }

    /// The operation as last seen, for a wait that ended at its polling deadline with the
    /// operation still running ([`is_polling_deadline`](Self::is_polling_deadline)): what
    /// every wait (`poll_until_done`, `cancel_and_wait`, [`Poller`](crate::Poller),
    /// [`Waiter`](crate::wait::Waiter)) returns then. `None` for other errors.
    pub fn operation(&self) -> Option<&Operation> {
        match &self.inner.kind {
            Kind::PollingDeadline(gave_up) => gave_up.last.as_ref(),
            _ => None,
        }
    }

    /// For a wait that gave up at its polling deadline under a policy that cancels then
    /// ([`PollingPolicyBuilder::cancel_on_deadline`](crate::policy::PollingPolicyBuilder::cancel_on_deadline)):
    /// whether the server accepted the `CancelOperation` it sent. What became of the
    /// operation is [`Error::operation`]: done and [`is_cancelled`](crate::pb::Operation::is_cancelled)
    /// if the cancel took effect within the confirmation time. `false` for other errors
    /// and when no cancel was sent or it was refused.
    pub fn cancel_requested(&self) -> bool {
        matches!(&self.inner.kind, Kind::PollingDeadline(g) if matches!(g.cancel, Some(Ok(_))))
    }

    /// For a wait that gave up and sent a cancel (as for [`Error::cancel_requested`]): the
    /// code the cancel failed with, `UNIMPLEMENTED` from a server that does not support
    /// it. `None` when no cancel was sent or it was accepted.
    pub fn cancel_refused(&self) -> Option<Code> {
        match &self.inner.kind {
            Kind::PollingDeadline(g) => g.cancel.and_then(Result::err),
            _ => None,
        }
    }

    /// The server answered with a non-OK status.
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(_))
    }

    /// A response could not be decoded as expected.
    pub fn is_decode(&self) -> bool {
        matches!(self.inner.kind, Kind::Decode(_))
    }

    /// The operation finished with an error (its `error` field, cancellation included);
    /// the calls themselves succeeded. [`Error::code`] is the operation's code.
    pub fn is_operation_failed(&self) -> bool {
        matches!(self.inner.kind, Kind::Operation(_))
    }

    /// The code is `UNIMPLEMENTED`: from a server, that it does not implement the method
    /// (an HTTP 404 from a front end maps to it too).
    pub fn is_unimplemented(&self) -> bool {
        self.code() == Code::Unimplemented
    }

    /// The code is `NOT_FOUND`: from a server, that the operation does not exist; for
    /// [an operation that failed](Self::is_operation_failed), its own error's code.
    pub fn is_not_found(&self) -> bool {
        self.code() == Code::NotFound
    }

    /// The code is `PERMISSION_DENIED`: from a server, that the caller may not do this.
    pub fn is_permission_denied(&self) -> bool {
        self.code() == Code::PermissionDenied
    }

    /// The code is `UNAVAILABLE` (connection failures included), which the default retry
    /// policy retries unless the error [is permanent](Error::is_permanent).
    pub fn is_unavailable(&self) -> bool {
        self.code() == Code::Unavailable
    }
}

/// A status from tonic (e.g. from the raw generated client), with its details decoded.
impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Error::status(status)
    }
}

/// What a wait that reached its polling deadline knows.
#[derive(Debug)]
pub(crate) struct GaveUp {
    after: Duration,
    last: Option<Operation>,
    /// The cancel sent then: accepted and looked at for this long, or refused.
    cancel: Option<Result<Duration, Code>>,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let after = self.after;
        let Some(cancel) = self.cancel else {
            return write!(f, "still running at the polling deadline of {after:?}");
        };
        let confirm = match cancel {
            Err(code) => {
                return write!(
                    f,
                    "still running at the polling deadline of {after:?}; the cancel sent then \
                     failed with {}",
                    code_name(code)
                );
            }
            Ok(confirm) => confirm,
        };
        match &self.last {
            Some(op) if op.is_cancelled() => {
                write!(
                    f,
                    "gave up at the polling deadline of {after:?} and cancelled it"
                )
            }
            Some(op) if op.done => write!(
                f,
                "gave up at the polling deadline of {after:?} and sent a cancel, but it \
                 ended otherwise"
            ),
            _ => write!(
                f,
                "still running at the polling deadline of {after:?}, and {confirm:?} after \
                 the cancel sent then"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::InvalidArgument(why) => write!(f, "invalid argument: {why}")?,
            Kind::Config(why) => write!(f, "invalid client configuration: {why}")?,
            Kind::Credentials => f.write_str("credentials error")?,
            Kind::Transport(t) => write!(f, "{}: {}", code_words(t.code), t.message)?,
            Kind::Deadline(after) => write!(f, "deadline of {after:?} exceeded")?,
            Kind::PollingDeadline(gave_up) => gave_up.fmt(f)?,
            Kind::Status(s) => {
                write!(f, "server returned {}", code_name(s.code))?;
                if !s.message.is_empty() {
                    write!(f, ": {}", s.message)?;
                }
            }
            Kind::Decode(why) => write!(f, "decode error: {why}")?,
            Kind::Operation(s) => {
                write!(f, "operation failed with {}", code_name(s.code))?;
                if !s.message.is_empty() {
                    write!(f, ": {}", s.message)?;
                }
            }
        }
        if let Some(method) = self.inner.method {
            write!(f, " in {method}")?;
        }
        // The name once per message: a server's message that names it already says it.
        if let Some(name) = &self.inner.name
            && !self.message().is_some_and(|m| m.contains(name.as_str()))
        {
            write!(f, " for {name:?}")?;
        }
        if matches!(self.inner.kind, Kind::Credentials)
            && let Some(source) = &self.inner.source
        {
            write!(f, ": {}", credentials_words(&source.to_string()))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code());
        d.field("message", &self.to_string());
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The longest server message an error shows, in characters.
const MAX_MESSAGE_CHARS: usize = 1024;

/// A server's message as part of one line: control characters (a `%0A` in `grpc-message`)
/// become spaces, and a long one is cut short. The status itself, in `source()`, keeps it
/// as sent.
fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 3));
    for (i, c) in message.chars().enumerate() {
        if i == MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// What credentials said, as part of one line: google-cloud-auth's errors end with
/// `but future attempts may succeed` (or `and future attempts will not succeed`) after a
/// message that is itself sentences (`Fetching the token resulted in transient errors.
/// Subsequent calls with this credential might succeed.`), which reads garbled after a
/// colon. The suffix goes (the message says as much), the sentences become clauses.
fn credentials_words(said: &str) -> String {
    let said = said
        .strip_suffix(" but future attempts may succeed")
        .or_else(|| said.strip_suffix(" and future attempts will not succeed"))
        .unwrap_or(said)
        .trim_end_matches('.');
    let mut out = String::with_capacity(said.len());
    let mut sentence_start = true;
    let mut chars = said.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '.' && chars.peek() == Some(&' ') {
            out.push(';');
            sentence_start = true;
            continue;
        }
        if sentence_start && c.is_alphabetic() {
            // `Fetching` → `fetching`, but an acronym (`ADC`, `JSON`) stays as it is.
            let acronym = chars.peek().is_some_and(|n| n.is_uppercase());
            if acronym {
                out.push(c);
            } else {
                out.extend(c.to_lowercase());
            }
            sentence_start = false;
            continue;
        }
        if !c.is_whitespace() {
            sentence_start = false;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A code as words for a sentence: `unavailable`, `deadline exceeded`.
fn code_words(code: Code) -> String {
    code_name(code).to_ascii_lowercase().replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_said_once_when_the_servers_message_names_it() {
        let name = "projects/p/locations/l/operations/nope";
        let said = tonic::Status::not_found(format!("operation {name:?} not found"));
        let err = Error::status(said)
            .with_method("GetOperation")
            .with_name(name);
        assert_eq!(err.to_string().matches(name).count(), 1, "{err}");
        let silent = Error::status(tonic::Status::not_found("gone"))
            .with_method("GetOperation")
            .with_name(name);
        assert_eq!(
            silent.to_string(),
            format!("server returned NOT_FOUND: gone in GetOperation for {name:?}")
        );
    }

    #[test]
    fn credentials_errors_read_as_one_line_without_the_retry_suffix() {
        let transient = google_cloud_auth::errors::CredentialsError::from_msg(
            true,
            "Fetching the token resulted in transient errors. Subsequent calls with this \
             credential might succeed.",
        );
        let err = Error::credentials(transient)
            .with_method("GetOperation")
            .with_name("operations/x");
        assert_eq!(
            err.to_string(),
            "credentials error in GetOperation for \"operations/x\": fetching the token \
             resulted in transient errors; subsequent calls with this credential might succeed"
        );
        let permanent =
            google_cloud_auth::errors::CredentialsError::from_msg(false, "ADC file is bad");
        assert_eq!(
            Error::credentials(permanent).to_string(),
            "credentials error: ADC file is bad"
        );
    }

    #[test]
    fn every_code_predicate_agrees_with_code_and_one_origin_predicate_holds() {
        let operation_error = rpc::Status {
            code: Code::NotFound as i32,
            message: "its input is gone".into(),
            details: vec![],
        };
        let errors = [
            Error::invalid_argument("x y", "a name holds no whitespace"),
            Error::config("the endpoint is not a URL"),
            Error::credentials("no token"),
            Error::transport(TransportFailure::unavailable("refused"), "io"),
            Error::transport(
                TransportFailure::new(Code::PermissionDenied, "reset").permanent(),
                "tls",
            ),
            Error::deadline(Duration::from_secs(1)),
            Error::polling_deadline(Duration::from_secs(60), None),
            Error::status(tonic::Status::not_found("gone")),
            Error::status(tonic::Status::invalid_argument("bad page token")),
            Error::status(tonic::Status::unimplemented("")),
            Error::status(tonic::Status::permission_denied("")),
            Error::status(tonic::Status::deadline_exceeded("")),
            Error::decode("not an Operation"),
            Error::operation_failed(&operation_error, "operations/1"),
        ];
        for e in &errors {
            let code = e.code();
            assert_eq!(
                e.is_invalid_argument(),
                code == Code::InvalidArgument,
                "{e}"
            );
            assert_eq!(e.is_not_found(), code == Code::NotFound, "{e}");
            assert_eq!(
                e.is_permission_denied(),
                code == Code::PermissionDenied,
                "{e}"
            );
            assert_eq!(e.is_unimplemented(), code == Code::Unimplemented, "{e}");
            assert_eq!(e.is_unavailable(), code == Code::Unavailable, "{e}");
            assert_eq!(e.is_timeout(), code == Code::DeadlineExceeded, "{e}");
            let origins = [
                e.is_invalid_input(),
                e.is_config(),
                e.is_credentials(),
                e.is_transport(),
                e.is_deadline(),
                e.is_polling_deadline(),
                e.is_status(),
                e.is_decode(),
                e.is_operation_failed(),
            ];
            assert_eq!(
                origins.iter().filter(|o| **o).count(),
                1,
                "{e}: {origins:?}"
            );
        }
        // The ones the issue named: a configuration error is INVALID_ARGUMENT in both.
        assert!(errors[1].is_invalid_argument() && !errors[1].is_invalid_input());
        assert!(errors[13].is_not_found() && !errors[13].is_status());
    }

    #[test]
    fn error_is_one_pointer_and_send_and_sync() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn details_pack_back_to_what_they_decoded_from() {
        let info = rpc::ErrorInfo {
            reason: "QUOTA".into(),
            ..Default::default()
        };
        let unknown = prost_types::Any {
            type_url: "type.googleapis.com/example.Unknown".into(),
            value: vec![1, 2],
        };
        let anys = vec![prost_types::Any::from_msg(&info).unwrap(), unknown.clone()];
        let details = ErrorDetails::from_anys(anys.clone());
        assert_eq!(details.error_info, Some(info));
        assert_eq!(details.other, vec![unknown]);
        assert_eq!(details.to_anys(), anys);
    }
}
