//! One call: the [`Call`] future every method returns, and what runs inside it — the name
//! check, the attempts under the deadline and the retry policy, each attempt's headers, and
//! how a failed attempt is classified.
//!
//! Every method goes through one generic attempt keyed by its request type ([`Rpc`]), which
//! carries the method's name and path, as google-cloud-rust's `gax-internal` does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tokio::time::Instant;
use tonic::client::Grpc;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tracing::Instrument;

use crate::auth::{AddCredentials, CredentialsFailed, UniverseMismatch};
use crate::client::OperationsClient;
use crate::client::config::Config;
use crate::error::{BoxError, Pushback, code_name};
use crate::name::{routing_header_bytes, validate_name};
use crate::policy::later;
use crate::transport::{CheckResponses, GrpcTransport, NotGrpc, Resend, TransportFailure};
use crate::{Error, headers, pb};

/// The gRPC service every method belongs to.
const SERVICE: &str = "google.longrunning.Operations";

/// One method of the service, keyed by its request message.
pub(crate) trait Rpc: prost::Message + Send + Sync + 'static {
    /// The response message.
    type Reply: prost::Message + Default + Send + Sync + 'static;
    /// The method's name, e.g. `CancelOperation`.
    const METHOD: &'static str;
    /// The HTTP/2 path, e.g. `/google.longrunning.Operations/CancelOperation`.
    const PATH: &'static str;
}

macro_rules! rpc {
    ($($request:ty => $reply:ty, $method:literal;)*) => {
        $(impl Rpc for $request {
            type Reply = $reply;
            const METHOD: &'static str = $method;
            const PATH: &'static str = concat!("/google.longrunning.Operations/", $method);
        })*
    };
}

rpc! {
    pb::CancelOperationRequest => (), "CancelOperation";
    pb::GetOperationRequest => pb::Operation, "GetOperation";
    pb::DeleteOperationRequest => (), "DeleteOperation";
    pb::WaitOperationRequest => pb::Operation, "WaitOperation";
    pb::ListOperationsRequest => pb::ListOperationsResponse, "ListOperations";
}

impl<T: GrpcTransport> OperationsClient<T> {
    /// One unary call: check the name, then attempt under the deadline and retry policy.
    /// The future owns what it needs, so it is `'static` and `Send` whatever `T`'s `Sync`.
    pub(crate) fn call<M: Rpc>(
        &self,
        name: &str,
        make: impl Fn(&str) -> M + Send + 'static,
    ) -> Call<M::Reply> {
        // Checked now, before anything can be sent.
        if let Err(e) = validate_name(name) {
            return Call::ready(Err(e.with_method(M::METHOD)));
        }
        // With OpenTelemetry's RPC fields, so `tracing-opentelemetry` exports a client span
        // named `google.longrunning.Operations/<Method>`.
        let span = tracing::debug_span!(
            "longrunning",
            method = M::METHOD,
            name,
            attempt = tracing::field::Empty,
            code = tracing::field::Empty,
            otel.name = &M::PATH[1..],
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = SERVICE,
            rpc.method = M::METHOD,
            rpc.grpc.status_code = tracing::field::Empty,
            server.address = self.config.server_address.as_deref(),
        );
        // Boxed as it is made, with the span around the box, rather than wrapped in a span,
        // an `Either` and a mapping first: one box and no layers in between.
        Call::traced(
            attempts(
                self.grpc.clone(),
                self.config.clone(),
                name.to_owned(),
                make,
            ),
            span,
        )
    }
}

async fn attempts<T: GrpcTransport, M: Rpc>(
    mut grpc: Grpc<AddCredentials<CheckResponses<T>>>,
    config: Arc<Config>,
    name: String,
    make: impl Fn(&str) -> M,
) -> Result<M::Reply, Error> {
    let fail = |e: Error| Err(e.with_method(M::METHOD).with_name(name.as_str()));
    let Ok(routing) = AsciiMetadataValue::try_from(routing_header_bytes("name", &name)) else {
        return fail(Error::invalid_argument(
            &name,
            "name cannot be sent in a header",
        ));
    };
    let timeout = config.timeout.duration();
    let start = Instant::now();
    let deadline = later(start, timeout);
    let mut backoff = None;
    // Drawn only when a retry is weighed, so calls that succeed pay nothing for it.
    let mut rng: Option<fastrand::Rng> = None;
    let mut attempt = 0u32;
    // The call's one transparent resend of a request the server did not process.
    let resend = Resend::default();
    loop {
        attempt += 1;
        // The first attempt sends the client's timeout itself, written once per client (the
        // deadline is `start` plus it, and only this function's bookkeeping has run since),
        // so the header's value repeats from call to call and HPACK sends it as one byte.
        // A retry sends the time left, as a literal that is never indexed.
        let remaining = if attempt == 1 {
            timeout
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if remaining.is_zero() {
            return fail(Error::deadline(timeout));
        }
        let header = if attempt == 1 {
            config.timeout.header().clone()
        } else {
            headers::grpc_timeout(remaining, false)
        };
        // The in-flight future borrows the one client (no second copy per call), and the
        // request is built inside the expression so the state machine keeps no slot for it.
        let sent = tokio::time::timeout_at(
            deadline,
            send::<T, M>(
                &mut grpc,
                request(make(&name), header, &routing, &config, &resend),
            ),
        )
        .await;
        let error = match sent {
            Ok(Ok(response)) => {
                config.throttler.record(true);
                // The span gets the final attempt and code once, when the call ends.
                let span = tracing::Span::current();
                span.record("attempt", attempt);
                span.record("code", "OK");
                span.record("rpc.grpc.status_code", 0);
                tracing::debug!(latency = ?start.elapsed(), "call succeeded");
                return Ok(response.into_inner());
            }
            Ok(Err(status)) => classify(status, deadline, timeout),
            Err(_elapsed) => Error::deadline(timeout),
        };
        let code = error.code();
        let give_up = |error: Error| {
            let span = tracing::Span::current();
            span.record("attempt", attempt);
            span.record("code", code_name(code));
            span.record("rpc.grpc.status_code", code as i32);
            tracing::debug!(latency = ?start.elapsed(), "call failed");
            fail(error)
        };
        let retryable =
            config.retry.retries(code) && !error.is_credentials() && !error.is_permanent();
        // The service accepted the attempt unless it refused it as one this policy would
        // retry, or did not answer within the call's deadline (a service too slow to
        // answer is not coping either: google-cloud-rust's throttler counts a loop ended
        // by its deadline as not accepted too); credentials that failed never reached it.
        if !error.is_credentials() {
            config.throttler.record(!retryable && !error.is_deadline());
        }
        if !retryable || attempt >= config.retry.max_attempts() {
            return give_up(error);
        }
        if let Some(k) = config.retry.throttle_factor()
            && !config
                .throttler
                .allows_retry(k, rng.get_or_insert_with(fastrand::Rng::new))
        {
            tracing::debug!("retry refused by the client's adaptive throttling");
            return give_up(error);
        }
        // gRPC A6: the server's pushback sets the next delay, and the backoff starts over
        // after it; a negative or malformed one means not to retry at all.
        let pushback = error.pushback();
        if pushback == Some(Pushback::Stop) {
            tracing::debug!("the server's pushback says not to retry");
            return give_up(error);
        }
        let mut delay = match (pushback, error.details().retry_delay()) {
            (Some(Pushback::After(delay)), _) => {
                backoff = None;
                delay
            }
            (_, Some(delay)) => delay,
            (_, None) => backoff
                // Boxed: only calls that retry pay for the schedule's space.
                .get_or_insert_with(|| Box::new(config.retry.delays()))
                .next()
                .unwrap_or_default(),
        };
        // A connection backing off cannot be reached before it tries again.
        if let Some(retry_at) = error.retry_at() {
            delay = delay.max(retry_at.saturating_duration_since(Instant::now()));
        }
        if later(Instant::now(), delay) >= deadline {
            tracing::debug!(?delay, "no time left to retry");
            return give_up(error);
        }
        tracing::info!(
            attempt,
            code = code_name(code),
            ?delay,
            "retrying {} for {name}",
            M::METHOD
        );
        // Boxed: only the retry path pays for the timer's space.
        Box::pin(tokio::time::sleep(delay)).await;
    }
}

/// Sends one attempt's request on `grpc` (what the generated stub's method does, for any
/// method).
async fn send<T: GrpcTransport, M: Rpc>(
    grpc: &mut Grpc<AddCredentials<CheckResponses<T>>>,
    mut request: tonic::Request<M>,
) -> Result<tonic::Response<M::Reply>, tonic::Status> {
    grpc.ready().await.map_err(tonic::Status::from_error)?;
    request
        .extensions_mut()
        .insert(tonic::GrpcMethod::new(SERVICE, M::METHOD));
    let codec = MarkedCodec(tonic_prost::ProstCodec::<M, M::Reply>::default());
    grpc.unary(request, PathAndQuery::from_static(M::PATH), codec)
        .await
}

/// tonic-prost's codec, with the statuses its decoder makes marked as found here
/// ([`UndecodableAnswer`]): tonic gives them no source, so they would read as the
/// server's (`server returned INTERNAL: failed to decode Protobuf message …`).
struct MarkedCodec<C>(C);

impl<C: tonic::codec::Codec> tonic::codec::Codec for MarkedCodec<C> {
    type Encode = C::Encode;
    type Decode = C::Decode;
    type Encoder = C::Encoder;
    type Decoder = MarkedDecoder<C::Decoder>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        MarkedDecoder(self.0.decoder())
    }
}

/// The decoder of [`MarkedCodec`].
struct MarkedDecoder<D>(D);

impl<D: tonic::codec::Decoder<Error = tonic::Status>> tonic::codec::Decoder for MarkedDecoder<D> {
    type Item = D::Item;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<D::Item>, tonic::Status> {
        self.0.decode(src).map_err(|mut status| {
            status.set_source(Arc::new(UndecodableAnswer));
            status
        })
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        self.0.buffer_settings()
    }
}

/// The source of a status for an answer whose message is not the reply's type.
#[derive(Debug)]
struct UndecodableAnswer;

impl fmt::Display for UndecodableAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the answer's message could not be decoded")
    }
}

impl std::error::Error for UndecodableAnswer {}

/// One attempt's request: the message with its `grpc-timeout` and Google's headers.
fn request<M>(
    message: M,
    timeout: AsciiMetadataValue,
    routing: &AsciiMetadataValue,
    config: &Config,
    resend: &Resend,
) -> tonic::Request<M> {
    let mut metadata = MetadataMap::with_capacity(config.header_capacity);
    metadata.insert(headers::GRPC_TIMEOUT.clone(), timeout);
    metadata.insert(headers::X_GOOG_REQUEST_PARAMS.clone(), routing.clone());
    metadata.insert(
        headers::X_GOOG_API_CLIENT.clone(),
        headers::API_CLIENT_METADATA_VALUE.clone(),
    );
    if let Some(project) = &config.quota_project {
        metadata.insert(headers::X_GOOG_USER_PROJECT.clone(), project.clone());
    }
    let mut extensions = tonic::Extensions::new();
    extensions.insert(resend.clone());
    tonic::Request::from_parts(metadata, extensions, message)
}

/// Turns a status from the tonic stack into an [`Error`].
///
/// Statuses the server sent have no `source`; those tonic made from a local failure do.
fn classify(status: tonic::Status, deadline: Instant, timeout: Duration) -> Error {
    use std::error::Error as _;
    let mut source = status.source();
    let local = source.is_some();
    while let Some(err) = source {
        if let Some(failed) = err.downcast_ref::<CredentialsFailed>() {
            return Error::credentials(failed.0.clone());
        }
        if let Some(mismatch) = err.downcast_ref::<UniverseMismatch>() {
            return Error::credentials(mismatch.clone());
        }
        // The server's answer, in HTTP rather than gRPC: a status like any other.
        if err.is::<NotGrpc>() {
            return Error::status(status);
        }
        if err.is::<UndecodableAnswer>() {
            return Error::decode(format!(
                "the answer's message is not valid protobuf ({})",
                status.message()
            ));
        }
        source = err.source();
    }
    if local {
        // tonic's own deadline (from `grpc-timeout`) fires as CANCELLED.
        if Instant::now() >= deadline {
            return Error::deadline(timeout);
        }
        return local_failure(status);
    }
    Error::status(status)
}

/// A status made here for a failure of the transport, as an [`Error`].
fn local_failure(status: tonic::Status) -> Error {
    Error::transport(TransportFailure::of_status(&status), status)
}

/// A failure of the transport outside any call (an eager connect) as an [`Error`].
pub(crate) fn transport_error(e: BoxError) -> Error {
    match e.downcast::<tonic::Status>() {
        Ok(status) => local_failure(*status),
        Err(other) => Error::transport(TransportFailure::unavailable(other.to_string()), other),
    }
}

/// The future of one call: `Send`, `'static` (it owns what it needs, so it can be spawned)
/// and nameable, so it can be stored in a struct.
#[must_use = "futures do nothing unless awaited"]
pub struct Call<R> {
    inner: tracing::instrument::Instrumented<BoxedCall<R>>,
}

type BoxedCall<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send + 'static>>;

impl<R: Send + 'static> Call<R> {
    /// A call whose outcome is already known (invalid input, say).
    pub(crate) fn ready(outcome: Result<R, Error>) -> Self {
        Self::new(std::future::ready(outcome))
    }
}

impl<R> Call<R> {
    pub(crate) fn new(future: impl Future<Output = Result<R, Error>> + Send + 'static) -> Self {
        Self::traced(future, tracing::Span::none())
    }

    /// `future`, polled inside `span`.
    fn traced(
        future: impl Future<Output = Result<R, Error>> + Send + 'static,
        span: tracing::Span,
    ) -> Self {
        let boxed: BoxedCall<R> = Box::pin(future);
        Self {
            inner: boxed.instrument(span),
        }
    }
}

impl<R> Future for Call<R> {
    type Output = Result<R, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<R> fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}
