//! The client: its builder and the calls of `google.longrunning.Operations`.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use google_cloud_auth::credentials::Credentials;
use tokio::time::Instant;
use tonic::body::Body;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::Error;
use crate::auth::{AuthLayer, AuthService, CredentialsFailed, StaticToken};
use crate::error::code_name;
use crate::headers;
use crate::name::{routing_header_bytes, validate_name};
use crate::operation::{CancelOutcome, Polled};
use crate::pb;
use crate::pb::operations_client::OperationsClient as RawClient;
use crate::retry::{PollingPolicy, RetryPolicy, later};
use crate::transport::{Connector, Transport};

/// The default endpoint: the Gemini for Google Cloud API.
pub const DEFAULT_ENDPOINT: &str = "https://cloudaicompanion.googleapis.com";

/// The OAuth scope requested for Application Default Credentials.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A client for `google.longrunning.Operations`.
///
/// Cheap to clone (reference counts only): clone it rather than wrapping it in an `Arc`.
/// Every call checks the name first, then sends the credentials' headers,
/// `x-goog-request-params`, `x-goog-api-client` and (if set) `x-goog-user-project`, with the
/// call's deadline as `grpc-timeout`. `UNAVAILABLE` is retried under the [`RetryPolicy`].
///
/// The transport `T` is a [`Transport`] (the HTTP/2 connections the builder opens, or the
/// tonic [`Channel`] you gave it) unless built with
/// [`OperationsClientBuilder::build_with_service`].
pub struct OperationsClient<T = Transport> {
    stub: RawClient<AuthService<T>>,
    config: Arc<Config>,
}

impl<T: Clone> Clone for OperationsClient<T> {
    fn clone(&self) -> Self {
        Self {
            stub: self.stub.clone(),
            config: self.config.clone(),
        }
    }
}

impl<T> fmt::Debug for OperationsClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationsClient")
            .field("endpoint", &self.config.endpoint)
            .field("quota_project", &self.config.quota_project)
            .field("timeout", &self.config.timeout)
            .field("retry", &self.config.retry)
            .field("polling", &self.config.polling)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
struct Config {
    endpoint: Option<String>,
    quota_project: Option<AsciiMetadataValue>,
    /// Set through [`Config::set_timeout`], which keeps `timeout_header` in step.
    timeout: Duration,
    /// `grpc-timeout` for `timeout`, written once: every first attempt sends it.
    timeout_header: AsciiMetadataValue,
    retry: RetryPolicy,
    polling: PollingPolicy,
    /// Headers a request ends up with (ours, the credentials', tonic's), so its map is
    /// allocated once at the right size instead of growing on the way.
    header_capacity: usize,
}

impl Config {
    fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.timeout_header = headers::grpc_timeout(timeout, true);
    }
}

enum CredentialsChoice {
    Default,
    Anonymous,
    Token(String),
    Given(Credentials),
}

/// Builds an [`OperationsClient`]. Every setting has a default; see each method.
#[must_use]
pub struct OperationsClientBuilder {
    endpoint: String,
    credentials: CredentialsChoice,
    quota_project: Option<String>,
    user_agent: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    allow_insecure: bool,
    ca_certificates: Vec<Vec<u8>>,
    channel: Option<Channel>,
    retry: RetryPolicy,
    polling: PollingPolicy,
    max_response_size: usize,
    connections: usize,
    credentials_check_interval: Duration,
}

impl fmt::Debug for OperationsClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = match &self.credentials {
            CredentialsChoice::Default => "application default",
            CredentialsChoice::Anonymous => "anonymous",
            CredentialsChoice::Token(_) => "access token [redacted]",
            CredentialsChoice::Given(_) => "given",
        };
        f.debug_struct("OperationsClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("credentials", &credentials)
            .field("quota_project", &self.quota_project)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allow_insecure", &self.allow_insecure)
            .finish_non_exhaustive()
    }
}

impl Default for OperationsClientBuilder {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            credentials: CredentialsChoice::Default,
            quota_project: None,
            user_agent: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            allow_insecure: false,
            ca_certificates: Vec::new(),
            channel: None,
            retry: RetryPolicy::default(),
            polling: PollingPolicy::default(),
            max_response_size: 4 * 1024 * 1024,
            connections: 1,
            credentials_check_interval: crate::auth::DEFAULT_CHECK_INTERVAL,
        }
    }
}

impl OperationsClientBuilder {
    /// The server's URL. `https://` uses TLS (rustls, port 443 unless given);
    /// `http://` is plaintext HTTP/2, for local servers such as the emulator.
    /// Default: `https://cloudaicompanion.googleapis.com`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// The credentials whose headers are sent with every call.
    /// Default: Application Default Credentials with the `cloud-platform` scope.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = CredentialsChoice::Given(credentials);
        self
    }

    /// Sends `authorization: Bearer <token>` with every call (see [`StaticToken`]).
    /// Default: Application Default Credentials.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = CredentialsChoice::Token(token.into());
        self
    }

    /// How long the credentials' last headers are reused before the credentials are asked
    /// again; `Duration::ZERO` asks on every call. Inside the interval a call costs no
    /// credentials lookup at all. Google's credentials refresh tokens minutes before they
    /// expire, so the default sends only valid tokens; shorten it only for a custom
    /// provider whose headers change faster (see [`AuthLayer::check_interval`]).
    /// Default: 1 s.
    pub fn credentials_check_interval(mut self, interval: Duration) -> Self {
        self.credentials_check_interval = interval;
        self
    }

    /// Sends no credentials, for local servers. Default: Application Default Credentials.
    pub fn anonymous(mut self) -> Self {
        self.credentials = CredentialsChoice::Anonymous;
        self
    }

    /// The project billed for quota, sent as `x-goog-user-project`. Default: none.
    pub fn quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }

    /// A product token sent at the start of `user-agent`, before `longrunning-grpc/<version>`,
    /// e.g. `my-service/1.2`. Applies to the connections the builder opens, not to
    /// [`OperationsClientBuilder::channel`] or [`OperationsClientBuilder::build_with_service`].
    /// Default: none (`user-agent: longrunning-grpc/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Each call's deadline, retries included, sent as `grpc-timeout`. Default: 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long opening a connection may take: TCP, TLS and the HTTP/2 handshake. A call
    /// that must wait for a connection also stays within its own deadline. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Allows credentials over plaintext `http://` to a host that is not loopback.
    /// Default: false (such a client is refused by [`OperationsClientBuilder::build`]).
    pub fn allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }

    /// Trusts this CA (PEM, one or more certificates) for `https://` endpoints in addition to
    /// the roots the crate's features choose, for private endpoints; checked by
    /// [`OperationsClientBuilder::build`]. Default: the features' roots only.
    pub fn ca_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// Uses an existing tonic channel (shared with your other tonic clients) instead of
    /// opening connections; the endpoint, TLS and connection settings are then ignored.
    /// Default: none (the builder opens its own connections, which skip a `Channel`'s
    /// buffer task and are cheaper per call; see [`Transport`]).
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    /// The retry policy of every call. Default: [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The polling policy of [`OperationsClient::poll_until_done`] and
    /// [`OperationsClient::cancel_and_wait`]. Default: [`PollingPolicy::default`].
    pub fn polling_policy(mut self, policy: PollingPolicy) -> Self {
        self.polling = policy;
        self
    }

    /// The largest response accepted, in bytes. Default: 4 MiB.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// How many HTTP/2 connections calls are spread over, round-robin. Google front ends
    /// allow about 100 concurrent streams per connection, so a backend with more calls in
    /// flight than that wants several. The pool takes up to 1,024 calls at a time per
    /// connection; more wait for room before their request is encoded. Ignored with
    /// [`OperationsClientBuilder::channel`]. Default: 1.
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Builds the client. Connections are opened lazily, on the first call; here only
    /// Application Default Credentials may do I/O (they start fetching a token), and the
    /// `native-roots` feature reads the system's root certificates.
    ///
    /// Fails on a malformed endpoint or header value, on credentials that would be sent over
    /// plaintext to a host that is not loopback, on a `ca_certificate` that is not PEM, or on
    /// an `https://` endpoint with no trusted root at all (no roots feature, no CA given).
    pub async fn build(mut self) -> Result<OperationsClient, Error> {
        let (transport, origin) = match self.channel.take() {
            Some(channel) => (Transport::from(channel), None),
            None => {
                let (transport, origin) = self.open_connections()?;
                (transport, Some(origin))
            }
        };
        self.build_inner(transport, origin)
    }

    /// Builds a client over any tonic transport (a [`Channel`] with your own tower layers in
    /// front, for example). Endpoint, TLS and connection settings are ignored.
    pub fn build_with_service<T, B>(self, service: T) -> Result<OperationsClient<T>, Error>
    where
        T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
        T::Future: Send,
        T::Error: Into<BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError> + Send,
    {
        self.build_inner(service, None)
    }

    /// `origin`: the scheme and authority requests carry, for a transport that does not add
    /// them itself (a `Channel` does).
    fn build_inner<T, B>(
        self,
        service: T,
        origin: Option<http::Uri>,
    ) -> Result<OperationsClient<T>, Error>
    where
        T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
        T::Future: Send,
        T::Error: Into<BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError> + Send,
    {
        if let Some(ua) = &self.user_agent
            && http::HeaderValue::try_from(ua.as_str()).is_err()
        {
            return Err(Error::config(
                "user_agent holds bytes not allowed in a header (CR, LF, controls)",
            ));
        }
        let quota_project = match &self.quota_project {
            Some(p) => Some(AsciiMetadataValue::try_from(p.as_str()).map_err(|_| {
                Error::config(
                    "quota_project holds bytes not allowed in a header (CR, LF, controls)",
                )
            })?),
            None => None,
        };
        let credentials = match self.credentials {
            // No credentials: skip the auth layer's work entirely.
            CredentialsChoice::Anonymous => None,
            CredentialsChoice::Token(token) => Some(Credentials::from(StaticToken::new(token)?)),
            CredentialsChoice::Given(credentials) => Some(credentials),
            CredentialsChoice::Default => Some(
                google_cloud_auth::credentials::Builder::default()
                    .with_scopes([CLOUD_PLATFORM_SCOPE])
                    .build()
                    .map_err(Error::credentials)?,
            ),
        };
        // grpc-timeout, x-goog-request-params, x-goog-api-client, and tonic's te,
        // content-type and user-agent; then x-goog-user-project and the credentials'.
        let header_capacity =
            6 + usize::from(quota_project.is_some()) + usize::from(credentials.is_some());
        let auth = match credentials {
            Some(credentials) => {
                AuthLayer::with_interval(credentials, self.credentials_check_interval)
            }
            None => AuthLayer::anonymous(),
        };
        let stub = match origin {
            Some(origin) => RawClient::with_origin(auth.layer(service), origin),
            None => RawClient::new(auth.layer(service)),
        }
        .max_decoding_message_size(self.max_response_size);
        Ok(OperationsClient {
            stub,
            config: Arc::new(Config {
                endpoint: self.channel.is_none().then_some(self.endpoint),
                quota_project,
                timeout: self.timeout,
                timeout_header: headers::grpc_timeout(self.timeout, true),
                retry: self.retry,
                polling: self.polling,
                header_capacity,
            }),
        })
    }

    /// The connections this builder opens (lazily), and the origin requests carry.
    fn open_connections(&self) -> Result<(Transport, http::Uri), Error> {
        let url = self.endpoint.as_str();
        let bad = |why: &str| Error::config(format!("endpoint {url:?} {why}"));
        let uri: http::Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
        let host = uri.host().ok_or_else(|| bad("has no host"))?;
        let tls = match uri.scheme_str() {
            Some("https") => Some(self.tls_config(url)?),
            Some("http") => {
                let sends_credentials = !matches!(self.credentials, CredentialsChoice::Anonymous);
                if sends_credentials && !self.allow_insecure && !is_loopback(host) {
                    return Err(Error::config(format!(
                        "refusing to send credentials over plaintext http:// to {host}, which is \
                         not a loopback address; use https://, anonymous credentials, or \
                         allow_insecure(true)"
                    )));
                }
                None
            }
            _ => return Err(bad("must start with https:// or http://")),
        };
        let user_agent = match &self.user_agent {
            Some(ua) => format!("{ua} longrunning-grpc/{}", env!("CARGO_PKG_VERSION")),
            None => concat!("longrunning-grpc/", env!("CARGO_PKG_VERSION")).to_owned(),
        };
        let user_agent = http::HeaderValue::try_from(user_agent).map_err(|_| {
            Error::config("user_agent holds bytes not allowed in a header (CR, LF, controls)")
        })?;
        let connector =
            Connector::new(&uri, tls, self.connect_timeout, user_agent).map_err(|why| bad(&why))?;
        // The origin is the scheme and authority alone; a path in the endpoint is ignored,
        // as a tonic `Channel` ignores it.
        let mut origin = http::uri::Parts::default();
        origin.scheme = uri.scheme().cloned();
        origin.authority = uri.authority().cloned();
        origin.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        let origin = http::Uri::from_parts(origin).map_err(|_| bad("is not a valid URL"))?;
        Ok((Transport::direct(connector, self.connections), origin))
    }

    /// rustls with the roots the crate's features choose plus `ca_certificate`s, and ALPN
    /// `h2`. The process's default crypto provider if one is installed, else aws-lc-rs.
    fn tls_config(&self, url: &str) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, Error> {
        use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::{ClientConfig, RootCertStore};

        let mut roots = RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[cfg(feature = "native-roots")]
        {
            let native = rustls_native_certs::load_native_certs();
            for error in &native.errors {
                tracing::debug!(%error, "reading the system's root certificates");
            }
            roots.add_parsable_certificates(native.certs);
        }
        for pem in &self.ca_certificates {
            let mut found = false;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert
                    .map_err(|e| Error::config(format!("ca_certificate is not valid PEM: {e}")))?;
                roots.add(cert).map_err(|e| {
                    Error::config(format!("ca_certificate cannot be used as a root: {e}"))
                })?;
                found = true;
            }
            if !found {
                return Err(Error::config("ca_certificate holds no PEM certificate"));
            }
        }
        if roots.is_empty() {
            return Err(Error::config(format!(
                "no trusted root certificates for {url}: enable the webpki-roots or \
                 native-roots feature, or give ca_certificate"
            )));
        }
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(aws_lc_rs::default_provider()));
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS setup for {url:?}: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl OperationsClient {
    /// A builder with every setting at its default.
    pub fn builder() -> OperationsClientBuilder {
        OperationsClientBuilder::default()
    }
}

impl<T, B> OperationsClient<T>
where
    T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    /// A copy of this client whose calls have another deadline, for one call or a few.
    ///
    /// ```no_run
    /// # async fn run(client: longrunning_grpc::OperationsClient) -> Result<(), longrunning_grpc::Error> {
    /// use std::time::Duration;
    /// client.with_timeout(Duration::from_secs(60)).get_operation("operations/123").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.with_config(|c| c.set_timeout(timeout))
    }

    /// A copy of this client with another retry policy, for one call or a few.
    pub fn with_retry_policy(&self, policy: RetryPolicy) -> Self {
        self.with_config(|c| c.retry = policy)
    }

    /// A copy of this client with another polling policy, for one wait or a few.
    pub fn with_polling_policy(&self, policy: PollingPolicy) -> Self {
        self.with_config(|c| c.polling = policy)
    }

    /// A copy with its settings changed by `change` (one copy of the settings, however many
    /// change).
    fn with_config(&self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = (*self.config).clone();
        change(&mut config);
        Self {
            stub: self.stub.clone(),
            config: Arc::new(config),
        }
    }

    /// Asks the server to cancel an operation (`CancelOperation`).
    ///
    /// Success only means the request was accepted: cancellation is asynchronous and best
    /// effort. Confirm it with [`OperationsClient::get_operation`] (done with error code 1
    /// means cancelled) or use [`OperationsClient::cancel_and_wait`]. A server that does not
    /// support cancellation answers `UNIMPLEMENTED` ([`Error::is_unimplemented`]).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), longrunning_grpc::Error> {
    /// use longrunning_grpc::OperationsClient;
    ///
    /// let client = OperationsClient::builder().build().await?;
    /// client.cancel_operation("projects/p/locations/global/operations/op-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn cancel_operation(&self, name: impl AsRef<str>) -> Call<()> {
        self.call("CancelOperation", name.as_ref(), |name| {
            pb::CancelOperationRequest {
                name: name.to_owned(),
            }
        })
    }

    /// Fetches an operation (`GetOperation`).
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::OperationsClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1"));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build().await?;
    /// let op = client.get_operation("projects/p/locations/l/operations/op-1").await?;
    /// if op.is_done() {
    ///     println!("finished: cancelled = {}", op.is_cancelled());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_operation(&self, name: impl AsRef<str>) -> Call<pb::Operation> {
        self.call("GetOperation", name.as_ref(), |name| {
            pb::GetOperationRequest {
                name: name.to_owned(),
            }
        })
    }

    /// Deletes an operation (`DeleteOperation`): the server forgets it.
    ///
    /// This does **not** cancel the operation; cancel it first if it must stop.
    ///
    /// ```no_run
    /// # async fn run(client: longrunning_grpc::OperationsClient) -> Result<(), longrunning_grpc::Error> {
    /// client.delete_operation("projects/p/locations/global/operations/op-1").await?;
    /// # Ok(()) }
    /// ```
    pub fn delete_operation(&self, name: impl AsRef<str>) -> Call<()> {
        self.call("DeleteOperation", name.as_ref(), |name| {
            pb::DeleteOperationRequest {
                name: name.to_owned(),
            }
        })
    }

    /// Waits on the server until the operation is done or `timeout` passes (`WaitOperation`),
    /// returning the operation as it then is. Not every server implements it
    /// ([`Error::is_unimplemented`]); [`OperationsClient::poll_until_done`] works everywhere.
    ///
    /// The call's deadline is the client's timeout plus `timeout`. Never retried.
    ///
    /// ```no_run
    /// # async fn run(client: longrunning_grpc::OperationsClient) -> Result<(), longrunning_grpc::Error> {
    /// use std::time::Duration;
    /// let op = client
    ///     .wait_operation("projects/p/locations/global/operations/op-1", Duration::from_secs(30))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn wait_operation(&self, name: impl AsRef<str>, timeout: Duration) -> Call<pb::Operation> {
        let wait = prost_types::Duration::try_from(timeout).ok();
        self.with_config(|c| {
            c.retry = RetryPolicy::never();
            c.set_timeout(c.timeout.saturating_add(timeout));
        })
        .call("WaitOperation", name.as_ref(), move |name| {
            pb::WaitOperationRequest {
                name: name.to_owned(),
                timeout: wait,
            }
        })
    }

    /// Lists the operations under `parent` (`ListOperations`), e.g.
    /// `projects/p/locations/global`. Set a filter or page size on the returned
    /// [`ListOperations`], then read it as a stream of operations
    /// ([`ListOperations::stream`]), a stream of pages ([`ListOperations::pages`]), one page
    /// at a time with your own cursor ([`ListOperations::page`]), or all at once
    /// ([`ListOperations::collect`]). Resources the server could not reach are reported in
    /// each page's and the collected listing's `unreachable`.
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::OperationsClient;
    /// use futures_util::TryStreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # for i in 0..5 { emulator.insert(ScriptedOperation::new(format!("projects/p/locations/l/operations/op-{i}"))); }
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build().await?;
    /// let running: Vec<_> = client
    ///     .list_operations("projects/p/locations/l")
    ///     .filter("done=false")
    ///     .page_size(2)
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// assert_eq!(running.len(), 5);
    /// # Ok(()) }
    /// ```
    pub fn list_operations(&self, parent: impl Into<String>) -> ListOperations<T> {
        ListOperations {
            client: self.clone(),
            request: pb::ListOperationsRequest {
                name: parent.into(),
                ..Default::default()
            },
        }
    }

    /// Polls `GetOperation` until the operation is done or the polling deadline passes,
    /// sleeping between polls as the [`PollingPolicy`] says. Each poll is a full call (retried
    /// on `UNAVAILABLE`); any other error ends the wait. Dropping the future stops polling.
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Completion, Emulator, ScriptedOperation};
    /// # use longrunning_grpc::{OperationsClient, Polled, PollingPolicy};
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1").completion(Completion::AfterPolls(2)));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous()
    /// #     .polling_policy(PollingPolicy::builder().initial_delay(Duration::from_millis(10)).build()?)
    /// #     .build().await?;
    /// match client.poll_until_done("projects/p/locations/l/operations/op-1").await? {
    ///     Polled::Done(op) => println!("done: {:?}", op.result()),
    ///     Polled::StillRunning(op) => println!("gave up; {} still running", op.name),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn poll_until_done(&self, name: impl AsRef<str>) -> Call<Polled> {
        let this = self.clone();
        let name = name.as_ref().to_owned();
        Call::new(async move { this.poll(name).await })
    }

    async fn poll(self, name: String) -> Result<Polled, Error> {
        // No check of the name here: the first GetOperation checks it before sending.
        let policy = &self.config.polling;
        let deadline = policy.deadline().map(|d| later(Instant::now(), d));
        let mut delays = policy.delays();
        loop {
            let op = self.get_operation(&name).await?;
            if op.done {
                return Ok(Polled::Done(op));
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(1));
            let wake = later(Instant::now(), delay);
            match deadline {
                Some(deadline) if wake >= deadline => {
                    // One last look at the deadline itself, so a wait of N seconds sees the
                    // state at N seconds rather than a little before.
                    tokio::time::sleep_until(deadline).await;
                    let op = self.get_operation(&name).await?;
                    return Ok(if op.done {
                        Polled::Done(op)
                    } else {
                        Polled::StillRunning(op)
                    });
                }
                _ => tokio::time::sleep_until(wake).await,
            }
        }
    }

    /// Cancels an operation and confirms the outcome by polling, in one call.
    ///
    /// Returns [`CancelOutcome::Unsupported`] if the server answers the cancel with
    /// `UNIMPLEMENTED`; other errors of the cancel or of a poll are returned as errors.
    ///
    /// ```
    /// # use longrunning_grpc::emulator::{Emulator, ScriptedOperation};
    /// # use longrunning_grpc::{CancelOutcome, OperationsClient};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emulator = Emulator::start().await?;
    /// # emulator.insert(ScriptedOperation::new("projects/p/locations/l/operations/op-1"));
    /// # let client = OperationsClient::builder().endpoint(emulator.endpoint()).anonymous().build().await?;
    /// match client.cancel_and_wait("projects/p/locations/l/operations/op-1").await? {
    ///     CancelOutcome::Cancelled(op) => println!("{} cancelled", op.name),
    ///     CancelOutcome::Completed(_) => println!("finished before the cancel took effect"),
    ///     CancelOutcome::Failed(op) => println!("failed: {:?}", op.error()),
    ///     CancelOutcome::StillRunning(_) => println!("still running at the polling deadline"),
    ///     CancelOutcome::Unsupported(_) => println!("this server cannot cancel"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn cancel_and_wait(&self, name: impl AsRef<str>) -> Call<CancelOutcome> {
        let this = self.clone();
        let name = name.as_ref().to_owned();
        Call::new(async move {
            match this.cancel_operation(&name).await {
                Ok(()) => {}
                Err(e) if e.is_unimplemented() => return Ok(CancelOutcome::Unsupported(e)),
                Err(e) => return Err(e),
            }
            let polled = this.poll(name).await?;
            Ok(CancelOutcome::from_polled(polled))
        })
    }

    /// One unary call: check the name, then attempt under the deadline and retry policy.
    /// The future owns what it needs, so it is `'static` and `Send` whatever `T`'s `Sync`.
    fn call<M, Make>(&self, method: &'static str, name: &str, make: Make) -> Call<M::Reply>
    where
        M: Rpc,
        Make: Fn(&str) -> M + Send + 'static,
    {
        // Checked now, before anything can be sent.
        if let Err(e) = validate_name(name) {
            return Call::new(futures_util::future::ready(Err(e.with_method(method))));
        }
        let span = tracing::debug_span!(
            "longrunning",
            method,
            name,
            attempt = tracing::field::Empty,
            code = tracing::field::Empty
        );
        // Boxed as it is made, with the span around the box, rather than wrapped in a span,
        // an `Either` and a mapping first: one box and no layers in between.
        Call::traced(
            attempts(
                self.stub.clone(),
                self.config.clone(),
                method,
                name.to_owned(),
                make,
            ),
            span,
        )
    }
}

async fn attempts<T, B, M>(
    mut stub: RawClient<AuthService<T>>,
    config: Arc<Config>,
    method: &'static str,
    name: String,
    make: impl Fn(&str) -> M,
) -> Result<M::Reply, Error>
where
    T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
    M: Rpc,
{
    let fail = |e: Error| Err(e.with_method(method).with_name(name.as_str()));
    let Ok(routing) = AsciiMetadataValue::try_from(routing_header_bytes("name", &name)) else {
        return fail(Error::invalid_argument(
            &name,
            "name cannot be sent in a header",
        ));
    };
    let start = Instant::now();
    let deadline = later(start, config.timeout);
    let mut backoff = None;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        // The first attempt sends the client's timeout itself, written once per client (the
        // deadline is `start` plus it, and only this function's bookkeeping has run since),
        // so the header's value repeats from call to call and HPACK sends it as one byte.
        // A retry sends the time left, as a literal that is never indexed.
        let remaining = if attempt == 1 {
            config.timeout
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if remaining.is_zero() {
            return fail(Error::deadline(config.timeout));
        }
        let timeout = if attempt == 1 {
            config.timeout_header.clone()
        } else {
            headers::grpc_timeout(remaining, false)
        };
        // The in-flight future borrows the one stub (no second copy per call), and the
        // request is built inside the expression so the state machine keeps no slot for it.
        let sent = tokio::time::timeout_at(
            deadline,
            M::send(&mut stub, request(make(&name), timeout, &routing, &config)),
        )
        .await;
        let error = match sent {
            Ok(Ok(response)) => {
                // The span gets the final attempt and code once, when the call ends.
                let span = tracing::Span::current();
                span.record("attempt", attempt);
                span.record("code", "OK");
                tracing::debug!(latency = ?start.elapsed(), "call succeeded");
                return Ok(response.into_inner());
            }
            Ok(Err(status)) => classify(status, deadline, config.timeout),
            Err(_elapsed) => Error::deadline(config.timeout),
        };
        let code = error.code();
        let give_up = |error: Error| {
            let span = tracing::Span::current();
            span.record("attempt", attempt);
            span.record("code", code_name(code));
            tracing::debug!(latency = ?start.elapsed(), "call failed");
            fail(error)
        };
        let retryable = config.retry.retries(code) && !error.is_credentials();
        if !retryable || attempt >= config.retry.max_attempts() {
            return give_up(error);
        }
        let delay = match error.details().retry_delay() {
            Some(delay) => delay,
            None => backoff
                // Boxed: only calls that retry pay for the schedule's space.
                .get_or_insert_with(|| Box::new(config.retry.backoff()))
                .next()
                .unwrap_or_default(),
        };
        if later(Instant::now(), delay) >= deadline {
            tracing::debug!(?delay, "no time left to retry");
            return give_up(error);
        }
        tracing::info!(
            attempt,
            code = code_name(code),
            ?delay,
            "retrying {method} for {name}"
        );
        // Boxed: only the retry path pays for the timer's space.
        Box::pin(tokio::time::sleep(delay)).await;
    }
}

/// One method of the service, keyed by its request message: how to send it on the stub.
pub(crate) trait Rpc: Sized + Send + 'static {
    /// The response message.
    type Reply: Send + 'static;

    fn send<T, B>(
        stub: &mut RawClient<AuthService<T>>,
        request: tonic::Request<Self>,
    ) -> impl Future<Output = Result<tonic::Response<Self::Reply>, tonic::Status>> + Send + '_
    where
        T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
        T::Future: Send,
        T::Error: Into<BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError> + Send;
}

macro_rules! rpc {
    ($request:ty => $reply:ty, $method:ident) => {
        impl Rpc for $request {
            type Reply = $reply;

            fn send<T, B>(
                stub: &mut RawClient<AuthService<T>>,
                request: tonic::Request<Self>,
            ) -> impl Future<Output = Result<tonic::Response<Self::Reply>, tonic::Status>> + Send + '_
            where
                T: Service<http::Request<Body>, Response = http::Response<B>>
                    + Clone
                    + Send
                    + 'static,
                T::Future: Send,
                T::Error: Into<BoxError>,
                B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
                B::Error: Into<BoxError> + Send,
            {
                stub.$method(request)
            }
        }
    };
}

rpc!(pb::CancelOperationRequest => (), cancel_operation);
rpc!(pb::GetOperationRequest => pb::Operation, get_operation);
rpc!(pb::DeleteOperationRequest => (), delete_operation);
rpc!(pb::WaitOperationRequest => pb::Operation, wait_operation);
rpc!(pb::ListOperationsRequest => pb::ListOperationsResponse, list_operations);

/// The future of one call: `Send`, `'static` (it owns what it needs, so it can be spawned)
/// and nameable, so it can be stored in a struct.
#[must_use = "futures do nothing unless awaited"]
pub struct Call<R> {
    inner: tracing::instrument::Instrumented<BoxedCall<R>>,
}

type BoxedCall<R> = Pin<Box<dyn Future<Output = Result<R, Error>> + Send + 'static>>;

impl<R> Call<R> {
    fn new(future: impl Future<Output = Result<R, Error>> + Send + 'static) -> Self {
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

/// One attempt's request: the message with its `grpc-timeout` and Google's headers.
fn request<M>(
    message: M,
    timeout: AsciiMetadataValue,
    routing: &AsciiMetadataValue,
    config: &Config,
) -> tonic::Request<M> {
    let mut request = tonic::Request::from_parts(
        MetadataMap::with_capacity(config.header_capacity),
        tonic::Extensions::new(),
        message,
    );
    let metadata = request.metadata_mut();
    metadata.insert(headers::GRPC_TIMEOUT.clone(), timeout);
    add_headers(metadata, routing, config);
    request
}

fn add_headers(metadata: &mut MetadataMap, routing: &AsciiMetadataValue, config: &Config) {
    metadata.insert(headers::REQUEST_PARAMS.clone(), routing.clone());
    metadata.insert(
        headers::API_CLIENT.clone(),
        headers::API_CLIENT_HEADER.clone(),
    );
    if let Some(project) = &config.quota_project {
        metadata.insert(headers::USER_PROJECT.clone(), project.clone());
    }
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
        source = err.source();
    }
    if local {
        // tonic's own deadline (from `grpc-timeout`) fires as CANCELLED.
        if Instant::now() >= deadline {
            return Error::deadline(timeout);
        }
        return Error::transport(status);
    }
    Error::status(status)
}

/// A pending `ListOperations` call; see [`OperationsClient::list_operations`].
#[must_use]
pub struct ListOperations<T = Transport> {
    client: OperationsClient<T>,
    request: pb::ListOperationsRequest,
}

/// One page of `ListOperations`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The operations on this page.
    pub operations: Vec<pb::Operation>,
    /// The token of the next page; empty on the last page.
    pub next_page_token: String,
    /// Resources the server could not reach (with `return_partial_success`).
    pub unreachable: Vec<String>,
}

/// Every operation of a listing, and every unreachable resource reported on any page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// The operations, in the server's order.
    pub operations: Vec<pb::Operation>,
    /// Resources the server could not reach.
    pub unreachable: Vec<String>,
}

impl<T, B> ListOperations<T>
where
    T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    /// A filter in the server's syntax, e.g. `done=true`. Default: none.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.request.filter = filter.into();
        self
    }

    /// The most operations per page; 0 lets the server choose. Default: 0.
    pub fn page_size(mut self, size: i32) -> Self {
        self.request.page_size = size;
        self
    }

    /// Asks the server to return what it can reach and list the rest in `unreachable`.
    /// Default: false (not sent).
    pub fn return_partial_success(mut self, partial: bool) -> Self {
        self.request.return_partial_success = partial;
        self
    }

    /// Fetches one page; pass `""` for the first, then each page's `next_page_token`.
    pub fn page(&self, page_token: impl Into<String>) -> Call<Page> {
        let mut request = self.request.clone();
        request.page_token = page_token.into();
        let negative = request.page_size < 0;
        let name = request.name.clone();
        let call = self
            .client
            .call("ListOperations", &name, move |_| request.clone());
        Call::new(async move {
            if negative {
                return Err(Error::invalid_argument(&name, "page_size is negative")
                    .with_method("ListOperations"));
            }
            let response = call.await?;
            Ok(Page {
                operations: response.operations,
                next_page_token: response.next_page_token,
                unreachable: response.unreachable,
            })
        })
    }

    /// Every page in order, following `next_page_token` until it is empty.
    pub fn pages(self) -> impl Stream<Item = Result<Page, Error>> + Send + 'static {
        futures_util::stream::try_unfold(Some((self, String::new())), |state| async move {
            let Some((list, token)) = state else {
                return Ok(None);
            };
            let page = list.page(token).await?;
            let next =
                (!page.next_page_token.is_empty()).then(|| (list, page.next_page_token.clone()));
            Ok(Some((page, next)))
        })
    }

    /// Every operation in order, across pages.
    pub fn stream(self) -> impl Stream<Item = Result<pb::Operation, Error>> + Send + 'static {
        use futures_util::{StreamExt, TryStreamExt};
        self.pages()
            .map_ok(|page| futures_util::stream::iter(page.operations.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Reads pages until the end or until `max` operations are collected, keeping every
    /// unreachable resource reported on the way.
    pub async fn collect(self, max: Option<usize>) -> Result<Listing, Error> {
        use futures_util::TryStreamExt;
        let mut listing = Listing::default();
        let mut pages = std::pin::pin!(self.pages());
        while let Some(page) = pages.try_next().await? {
            listing.unreachable.extend(page.unreachable);
            listing.operations.extend(page.operations);
            if let Some(max) = max
                && listing.operations.len() >= max
            {
                listing.operations.truncate(max);
                break;
            }
        }
        Ok(listing)
    }
}
