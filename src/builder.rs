//! [`OperationsClientBuilder`]: every setting of a client, checked when it is built.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use tonic::client::Grpc;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tower_layer::Layer;

use crate::Error;
use crate::auth::{AddCredentialsLayer, DEFAULT_CHECK_INTERVAL, StaticToken};
use crate::client::{Config, OperationsClient, Timeout};
use crate::headers;
use crate::retry::{PollingPolicy, RetryPolicy};
use crate::transport::{
    CheckResponses, ClientIdentity, Connector, Endpoint, GrpcTransport, Keepalive, ProxySetting,
    Settings, TlsChoices, Transport, choose_proxy,
};

/// The default endpoint: the Gemini for Google Cloud API.
pub const DEFAULT_ENDPOINT: &str = "https://cloudaicompanion.googleapis.com";

/// The Gemini for Google Cloud API's mTLS endpoint, used by default with a client
/// certificate (see [`OperationsClientBuilder::client_identity`]).
pub const DEFAULT_MTLS_ENDPOINT: &str = "https://cloudaicompanion.mtls.googleapis.com";

/// The default universe: Google Cloud's public one.
pub const DEFAULT_UNIVERSE_DOMAIN: &str = "googleapis.com";

/// The OAuth scope requested for Application Default Credentials.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

enum CredentialsChoice {
    Default,
    Anonymous,
    Token(String),
    Given(Credentials),
}

/// Builds an [`OperationsClient`]. Every setting has a default; see each method.
#[must_use]
pub struct OperationsClientBuilder {
    /// None until set: the default, or its mTLS twin.
    endpoint: Option<String>,
    client_identity: Option<ClientIdentity>,
    universe_domain: Option<String>,
    credentials: CredentialsChoice,
    quota_project: Option<String>,
    user_agent: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    allow_insecure: bool,
    ca_certificates: Vec<Vec<u8>>,
    tls_built_in_root_certs: bool,
    tls_server_name: Option<String>,
    preconfigured_tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    channel: Option<Channel>,
    retry: RetryPolicy,
    polling: PollingPolicy,
    max_response_size: usize,
    connections: usize,
    credentials_check_interval: Duration,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    keepalive_while_idle: bool,
    tcp_keepalive: Option<Duration>,
    resolve: HashMap<String, Vec<SocketAddr>>,
    proxy: ProxySetting,
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
            .field("universe_domain", &self.universe_domain)
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
            endpoint: None,
            client_identity: None,
            universe_domain: None,
            credentials: CredentialsChoice::Default,
            quota_project: None,
            user_agent: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            allow_insecure: false,
            ca_certificates: Vec::new(),
            tls_built_in_root_certs: true,
            tls_server_name: None,
            preconfigured_tls: None,
            channel: None,
            retry: RetryPolicy::default(),
            polling: PollingPolicy::default(),
            max_response_size: 4 * 1024 * 1024,
            connections: 1,
            credentials_check_interval: DEFAULT_CHECK_INTERVAL,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            keepalive_while_idle: false,
            tcp_keepalive: None,
            resolve: HashMap::new(),
            proxy: ProxySetting::FromEnv,
        }
    }
}

impl OperationsClientBuilder {
    /// The server's URL. `https://` uses TLS (rustls, port 443 unless given);
    /// `http://` is plaintext HTTP/2, for local servers such as the emulator.
    /// Default: `http://$LRO_EMULATOR_HOST` (anonymous unless credentials are given) when set
    /// (`lro serve` prints it), else `https://cloudaicompanion.googleapis.com` (see
    /// [`universe_domain`](Self::universe_domain) and
    /// [`client_identity`](Self::client_identity)).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
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
    /// credentials lookup at all; why that is safe is in
    /// [`AddCredentialsLayer::check_interval`]. Default: 1 s.
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

    /// Whether `https://` endpoints trust the roots the crate's features bring
    /// (`webpki-roots`, `native-roots`), as reqwest's setting of the same name. With
    /// `false`, only the CAs given with [`ca_certificate`](Self::ca_certificate) are
    /// trusted: a private endpoint that no public CA may vouch for. Default: `true`.
    pub fn tls_built_in_root_certs(mut self, trust: bool) -> Self {
        self.tls_built_in_root_certs = trust;
        self
    }

    /// The name the server's certificate must be for, and the TLS SNI, instead of the
    /// endpoint's host (tonic's `domain_name`): an endpoint given by IP address, or through
    /// a tunnel, whose certificate names the service. A DNS name or an IP address, checked
    /// by [`build`](Self::build). Default: the endpoint's host.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Uses this rustls configuration as it is for `https://` endpoints (reqwest's
    /// `use_preconfigured_tls`): its roots, its verifier, its client certificate and its
    /// crypto provider. [`ca_certificate`](Self::ca_certificate),
    /// [`tls_built_in_root_certs`](Self::tls_built_in_root_certs) and
    /// [`client_identity`](Self::client_identity) are then ignored. Its ALPN protocols must
    /// include `h2` (gRPC runs on HTTP/2); with none, `h2` is set. The type is
    /// [`crate::rustls::ClientConfig`], this crate's rustls. Default: none.
    pub fn use_preconfigured_tls(mut self, config: tokio_rustls::rustls::ClientConfig) -> Self {
        self.preconfigured_tls = Some(Arc::new(config));
        self
    }

    /// Presents this client certificate (PEM chain) and private key (PEM) to `https://`
    /// servers that ask for one (mTLS), checked by [`build`](Self::build); the key is never
    /// shown. With a client certificate and no explicit endpoint, the default endpoint
    /// becomes the service's mTLS endpoint ([`DEFAULT_MTLS_ENDPOINT`]), as Google's Go and
    /// Python clients have it: `GOOGLE_API_USE_MTLS_ENDPOINT` is `auto` (the default; this
    /// rule), `always` (the mTLS endpoint even without a certificate) or `never`.
    /// Default: none.
    pub fn client_identity(
        mut self,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.client_identity = Some(ClientIdentity {
            cert_pem: cert_pem.as_ref().to_vec(),
            key_pem: key_pem.as_ref().to_vec(),
        });
        self
    }

    /// With no explicit endpoint and `LRO_EMULATOR_HOST` set (`host:port`, what `lro serve`
    /// prints), goes to `http://$LRO_EMULATOR_HOST`, with anonymous credentials instead of
    /// Application Default Credentials, as Google's clients do with `PUBSUB_EMULATOR_HOST`,
    /// and logs that it did.
    fn use_emulator_host(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        if self.endpoint.is_some() {
            return Ok(());
        }
        let Some(host) = env("LRO_EMULATOR_HOST")
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
        else {
            return Ok(());
        };
        if host.contains("://") || host.contains('/') {
            return Err(Error::config(format!(
                "LRO_EMULATOR_HOST must be host:port, as lro serve prints it, not {host:?}"
            )));
        }
        let endpoint = format!("http://{host}");
        if let Err(e) = Endpoint::parse(&endpoint) {
            return Err(Error::config(format!(
                "LRO_EMULATOR_HOST {host:?} is not host:port with a port from 1 to 65535"
            ))
            .with_source(e));
        }
        tracing::info!(%endpoint, "LRO_EMULATOR_HOST is set: using the emulator with anonymous credentials");
        self.endpoint = Some(endpoint);
        // Application Default Credentials are for Google, not the emulator; credentials
        // given on purpose (a token `lro serve --require-token` checks) are kept.
        if matches!(self.credentials, CredentialsChoice::Default) {
            self.credentials = CredentialsChoice::Anonymous;
        }
        Ok(())
    }

    /// The universe (sovereign cloud) the client works in: its domain names the default
    /// endpoint, `https://cloudaicompanion.<universe>`, and the credentials' universe must
    /// be the same, or the first call fails with an error naming both (as google-cloud-rust
    /// checks). Credentials that carry no universe (an [`access_token`](Self::access_token),
    /// [`anonymous`](Self::anonymous)) are not checked. An explicit
    /// [`endpoint`](Self::endpoint) still wins for where connections go.
    ///
    /// Default: `GOOGLE_CLOUD_UNIVERSE_DOMAIN` if set, else [`DEFAULT_UNIVERSE_DOMAIN`].
    pub fn universe_domain(mut self, domain: impl Into<String>) -> Self {
        self.universe_domain = Some(domain.into());
        self
    }

    /// The universe: the builder's, else `GOOGLE_CLOUD_UNIVERSE_DOMAIN` (read with `env`),
    /// else Google's public one; checked to be a domain name.
    fn effective_universe(&self, env: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
        let (domain, from) = match &self.universe_domain {
            Some(domain) => (domain.clone(), "universe_domain"),
            None => match env("GOOGLE_CLOUD_UNIVERSE_DOMAIN")
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
            {
                Some(domain) => (domain, "GOOGLE_CLOUD_UNIVERSE_DOMAIN"),
                None => return Ok(DEFAULT_UNIVERSE_DOMAIN.to_owned()),
            },
        };
        let is_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(is_label) {
            return Err(Error::config(format!(
                "{from} must be a domain name such as googleapis.com, not {domain:?}"
            )));
        }
        Ok(domain.to_ascii_lowercase())
    }

    /// The endpoint connections go to: the explicit one, else the universe's default or
    /// its mTLS twin by `GOOGLE_API_USE_MTLS_ENDPOINT` (read with `env`).
    fn effective_endpoint(&self, env: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
        if let Some(explicit) = &self.endpoint {
            return Ok(explicit.clone());
        }
        let universe = self.effective_universe(&env)?;
        let mtls = match env("GOOGLE_API_USE_MTLS_ENDPOINT")
            .as_deref()
            .map(str::trim)
        {
            None | Some("" | "auto") => self.client_identity.is_some(),
            Some("always") => true,
            Some("never") => false,
            Some(other) => {
                return Err(Error::config(format!(
                    "GOOGLE_API_USE_MTLS_ENDPOINT must be auto, always or never, not {other:?}"
                )));
            }
        };
        if universe == DEFAULT_UNIVERSE_DOMAIN {
            return Ok(if mtls {
                DEFAULT_MTLS_ENDPOINT
            } else {
                DEFAULT_ENDPOINT
            }
            .to_owned());
        }
        if mtls {
            // As Go's clients: mTLS endpoints exist only in Google's public universe.
            return Err(Error::config(format!(
                "the mTLS endpoint exists only in the googleapis.com universe, not {universe}; \
                 set GOOGLE_API_USE_MTLS_ENDPOINT=never or give an endpoint"
            )));
        }
        Ok(format!("https://cloudaicompanion.{universe}"))
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

    /// Sends an HTTP/2 ping on each connection this often, and closes a connection whose
    /// ping goes unanswered for [`keepalive_timeout`](Self::keepalive_timeout); only while
    /// calls are in flight unless [`keepalive_while_idle`](Self::keepalive_while_idle).
    ///
    /// Not needed to notice a dead connection: when a call's deadline passes on a
    /// connection that has received nothing since the call went out, the client pings it
    /// once and replaces it if no ack comes within 4 s. Google front ends answer pings more
    /// frequent than about once a minute with `GOAWAY ENHANCE_YOUR_CALM`, so keep this at
    /// 60 s or more for them. Default: none.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = Some(interval);
        self
    }

    /// How long a keepalive ping may go unanswered before the connection is closed.
    /// Default: 20 s.
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// Sends keepalive pings also while no call is in flight. Default: false.
    pub fn keepalive_while_idle(mut self, while_idle: bool) -> Self {
        self.keepalive_while_idle = while_idle;
        self
    }

    /// Has the system send TCP keepalive probes after a connection has been idle this
    /// long. Default: none.
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// Connects to these addresses for `host` instead of asking DNS (as curl's
    /// `--resolve`); the URL's host still names the server for TLS and `:authority`.
    /// With addresses of both families, Happy Eyeballs tries the first one's family first.
    /// Default: DNS for every host.
    pub fn resolve(
        mut self,
        host: impl Into<String>,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Self {
        self.resolve
            .insert(host.into(), addrs.into_iter().collect());
        self
    }

    /// Connects through this HTTP CONNECT proxy (`http://[user:password@]host:port`), for
    /// every endpoint, loopback included; the user info is sent as Basic
    /// `Proxy-Authorization` and never shown. TLS still runs end to end with the
    /// endpoint's name. Only `http://` proxies; another scheme is refused by
    /// [`build`](Self::build). A proxy that refuses the CONNECT with 401, 403 or 407 ends
    /// the call at once, naming the proxy and its answer.
    ///
    /// Default: the environment, read as gRPC reads it: `grpc_proxy`, else `https_proxy`,
    /// else `http_proxy` (either case); hosts in `no_grpc_proxy`, else `no_proxy`, are
    /// exempt (names on label boundaries, `*`, IP addresses, CIDR blocks), and loopback
    /// endpoints never use the environment's proxy.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Connects directly, whatever the environment's proxy variables say. Default: the
    /// environment (see [`proxy`](Self::proxy)).
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Off;
        self
    }

    /// Builds the client. Synchronous: connections are opened lazily, on the first call;
    /// here only Application Default Credentials may do I/O (they start fetching a token
    /// in the background, so with them `build` must run inside a tokio runtime), and the
    /// `native-roots` feature reads the system's root certificates.
    ///
    /// Fails on a malformed endpoint or header value, on credentials that would be sent over
    /// plaintext to a host that is not loopback, on a `ca_certificate` that is not PEM, or on
    /// an `https://` endpoint with no trusted root at all (no roots feature, no CA given).
    pub fn build(mut self) -> Result<OperationsClient, Error> {
        let user_agent = self.user_agent_header()?;
        if self.channel.is_none() {
            self.use_emulator_host(|name| std::env::var(name).ok())?;
        }
        let universe = self.effective_universe(|name| std::env::var(name).ok())?;
        match self.channel.take() {
            Some(channel) => self.build_inner(Transport::from(channel), None, universe),
            None => {
                let url = self.effective_endpoint(|name| std::env::var(name).ok())?;
                let endpoint = Endpoint::parse(&url)?;
                let sends_credentials = !matches!(self.credentials, CredentialsChoice::Anonymous);
                if !endpoint.is_tls()
                    && sends_credentials
                    && !self.allow_insecure
                    && !endpoint.is_loopback()
                {
                    return Err(Error::config(format!(
                        "refusing to send credentials over plaintext http:// to {}, which is \
                         not a loopback address; use https://, anonymous credentials, or \
                         allow_insecure(true)",
                        endpoint.host()
                    )));
                }
                let settings = Settings {
                    connect_timeout: self.connect_timeout,
                    user_agent,
                    keepalive: self.keepalive_interval.map(|interval| Keepalive {
                        interval,
                        timeout: self.keepalive_timeout,
                        while_idle: self.keepalive_while_idle,
                    }),
                    tcp_keepalive: self.tcp_keepalive,
                    resolve: Arc::new(std::mem::take(&mut self.resolve)),
                    proxy: choose_proxy(&self.proxy, &endpoint, |name| std::env::var(name).ok())?,
                    #[cfg(test)]
                    first_stream_id: None,
                    #[cfg(test)]
                    pause_after_headers: Default::default(),
                };
                let choices = TlsChoices {
                    ca_certificates: std::mem::take(&mut self.ca_certificates),
                    identity: self.client_identity.clone(),
                    built_in_roots: self.tls_built_in_root_certs,
                    server_name: self.tls_server_name.take(),
                    preconfigured: self.preconfigured_tls.take(),
                };
                let connector = Connector::new(&endpoint, &choices, settings)?;
                let transport = Transport::direct(connector, self.connections);
                let mut client =
                    self.build_inner(transport.clone(), Some((endpoint, url)), universe)?;
                Arc::make_mut(&mut client.config).transport = Some(transport);
                Ok(client)
            }
        }
    }

    /// Builds the client and opens its connections now, as tonic's `Endpoint::connect`
    /// does, so that a wrong endpoint, a certificate that is not trusted or a server that
    /// does not speak HTTP/2 shows at start-up rather than on the first call. Fails with
    /// the error the first call would have met (no method or name in it); over a
    /// [`channel`](Self::channel) of yours, opens nothing more than [`build`](Self::build).
    pub async fn connect(self) -> Result<OperationsClient, Error> {
        let client = self.build()?;
        if let Some(transport) = &client.config.transport {
            transport
                .connect()
                .await
                .map_err(crate::call::transport_error)?;
        }
        Ok(client)
    }

    /// Builds a client over any tonic transport (a `Channel` with your own tower layers in
    /// front, for example). Endpoint, TLS and connection settings are ignored.
    pub fn build_with_service<T: GrpcTransport>(
        self,
        service: T,
    ) -> Result<OperationsClient<T>, Error> {
        self.user_agent_header()?;
        let universe = self.effective_universe(|name| std::env::var(name).ok())?;
        self.build_inner(service, None, universe)
    }

    /// `user-agent` for the connections the builder opens: the user's product token, then
    /// this crate's. Checked by every build, whichever transport it uses.
    fn user_agent_header(&self) -> Result<http::HeaderValue, Error> {
        let ours = concat!("longrunning-grpc/", env!("CARGO_PKG_VERSION"));
        let value = match &self.user_agent {
            Some(ua) => http::HeaderValue::try_from(format!("{ua} {ours}")),
            None => Ok(http::HeaderValue::from_static(ours)),
        };
        value.map_err(|_| headers::not_a_header_value("user_agent"))
    }

    /// `endpoint`: the one the builder's own connections reach, whose origin requests carry
    /// (a transport of the user's adds its own). `universe`: the one the credentials'
    /// must match.
    fn build_inner<T: GrpcTransport>(
        self,
        service: T,
        endpoint: Option<(Endpoint, String)>,
        universe: String,
    ) -> Result<OperationsClient<T>, Error> {
        let quota_project = match &self.quota_project {
            Some(p) => Some(
                AsciiMetadataValue::try_from(p.as_str())
                    .map_err(|_| headers::not_a_header_value("quota_project"))?,
            ),
            None => None,
        };
        // A bare token carries no universe, so only real credentials are checked.
        let check_universe = matches!(
            self.credentials,
            CredentialsChoice::Given(_) | CredentialsChoice::Default
        );
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
                AddCredentialsLayer::with_interval(credentials, self.credentials_check_interval)
                    .expect_universe(check_universe.then_some(universe))
            }
            None => AddCredentialsLayer::anonymous(),
        };
        let checked = CheckResponses::new(service, self.max_response_size);
        let grpc = match &endpoint {
            Some((endpoint, _)) => Grpc::with_origin(auth.layer(checked), endpoint.origin()),
            None => Grpc::new(auth.layer(checked)),
        }
        .max_decoding_message_size(self.max_response_size);
        Ok(OperationsClient {
            grpc,
            config: Arc::new(Config {
                server_address: endpoint.as_ref().map(|(e, _)| e.host().to_owned()),
                endpoint: endpoint.map(|(_, url)| url),
                quota_project,
                timeout: Timeout::new(self.timeout),
                retry: self.retry,
                polling: self.polling,
                header_capacity,
                transport: None,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_with(
        builder: OperationsClientBuilder,
        mtls: Option<&str>,
    ) -> Result<String, Error> {
        builder.effective_endpoint(|name| {
            (name == "GOOGLE_API_USE_MTLS_ENDPOINT")
                .then(|| mtls.map(str::to_owned))
                .flatten()
        })
    }

    #[test]
    fn an_endpoint_with_an_invalid_port_is_refused_when_the_client_is_built() {
        for endpoint in [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:abc",
            "http://127.0.0.1:0",
            "http://127.0.0.1:",
            "https://example.test:99999",
            "http://[::1]:70000",
        ] {
            let err = OperationsClientBuilder::default()
                .endpoint(endpoint)
                .anonymous()
                .build()
                .unwrap_err();
            assert!(err.is_config(), "{endpoint}: {err}");
            assert!(
                err.to_string().contains("invalid port"),
                "{endpoint}: {err}"
            );
            assert!(err.to_string().contains(endpoint), "{endpoint}: {err}");
        }
        for endpoint in [
            "http://127.0.0.1:1",
            "http://[::1]:65535",
            "https://example.test",
        ] {
            OperationsClientBuilder::default()
                .endpoint(endpoint)
                .anonymous()
                .build()
                .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        }
    }

    #[test]
    fn lro_emulator_host_with_an_invalid_port_is_refused() {
        for host in ["127.0.0.1:99999", "127.0.0.1:abc", "localhost:0"] {
            let mut builder = OperationsClientBuilder::default();
            let err = builder
                .use_emulator_host(|name| (name == "LRO_EMULATOR_HOST").then(|| host.to_owned()))
                .unwrap_err();
            assert!(err.is_config(), "{host}: {err}");
            assert!(
                err.to_string()
                    .contains(&format!("LRO_EMULATOR_HOST {host:?} is not host:port")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_mtls_endpoint_follows_google_api_use_mtls_endpoint() {
        let plain = OperationsClientBuilder::default;
        let with_cert = || plain().client_identity("cert", "key");
        let cases = [
            (plain(), None, DEFAULT_ENDPOINT),
            (plain(), Some("auto"), DEFAULT_ENDPOINT),
            (with_cert(), None, DEFAULT_MTLS_ENDPOINT),
            (with_cert(), Some("auto"), DEFAULT_MTLS_ENDPOINT),
            (with_cert(), Some("never"), DEFAULT_ENDPOINT),
            (plain(), Some("always"), DEFAULT_MTLS_ENDPOINT),
            (
                with_cert().endpoint("https://private.example"),
                Some("always"),
                "https://private.example",
            ),
        ];
        for (builder, mtls, want) in cases {
            assert_eq!(endpoint_with(builder, mtls).unwrap(), want, "{mtls:?}");
        }
        let err = endpoint_with(plain(), Some("sometimes")).unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("auto, always or never"),
            "{err}"
        );
    }

    #[test]
    fn the_universe_domain_names_the_default_endpoint() {
        let env = |universe: Option<&'static str>, mtls: Option<&'static str>| {
            move |name: &str| match name {
                "GOOGLE_CLOUD_UNIVERSE_DOMAIN" => universe.map(str::to_owned),
                "GOOGLE_API_USE_MTLS_ENDPOINT" => mtls.map(str::to_owned),
                _ => None,
            }
        };
        let plain = OperationsClientBuilder::default;
        let sovereign = "https://cloudaicompanion.sovereign.example";
        let cases = [
            (plain(), env(None, None), DEFAULT_ENDPOINT),
            (plain(), env(Some(" "), None), DEFAULT_ENDPOINT),
            (plain(), env(Some("googleapis.com"), None), DEFAULT_ENDPOINT),
            (plain(), env(Some("Sovereign.Example"), None), sovereign),
            (
                plain().universe_domain("sovereign.example"),
                env(None, None),
                sovereign,
            ),
            // The builder's universe over the environment's.
            (
                plain().universe_domain("sovereign.example"),
                env(Some("other.example"), None),
                sovereign,
            ),
            (
                plain().universe_domain("sovereign.example"),
                env(None, Some("never")),
                sovereign,
            ),
            // An explicit endpoint wins.
            (
                plain()
                    .universe_domain("sovereign.example")
                    .endpoint("http://127.0.0.1:1"),
                env(None, None),
                "http://127.0.0.1:1",
            ),
        ];
        for (i, (builder, env, want)) in cases.into_iter().enumerate() {
            assert_eq!(builder.effective_endpoint(env).unwrap(), want, "case {i}");
        }

        let mtls = plain()
            .universe_domain("sovereign.example")
            .client_identity("cert", "key")
            .effective_endpoint(env(None, None))
            .unwrap_err();
        assert!(
            mtls.is_config()
                && mtls
                    .to_string()
                    .contains("only in the googleapis.com universe"),
            "{mtls}"
        );
        for bad in [
            "https://x.example",
            "example",
            "a..example",
            "-a.example",
            "a.example:443",
        ] {
            let err = plain()
                .universe_domain(bad)
                .effective_universe(env(None, None))
                .unwrap_err();
            assert!(
                err.to_string()
                    .contains("universe_domain must be a domain name"),
                "{bad}: {err}"
            );
        }
        let err = plain()
            .effective_universe(env(Some("not a domain"), None))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("GOOGLE_CLOUD_UNIVERSE_DOMAIN must be"),
            "{err}"
        );
    }

    #[test]
    fn lro_emulator_host_sets_the_endpoint_and_anonymous_credentials_unless_one_is_given() {
        let env = |value: &'static str| {
            move |name: &str| (name == "LRO_EMULATOR_HOST").then(|| value.to_owned())
        };
        let mut builder = OperationsClientBuilder::default();
        builder.use_emulator_host(env("127.0.0.1:8080")).unwrap();
        assert_eq!(builder.endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert!(matches!(builder.credentials, CredentialsChoice::Anonymous));
        let mut with_token = OperationsClientBuilder::default().access_token("t");
        with_token.use_emulator_host(env("127.0.0.1:8080")).unwrap();
        assert!(matches!(
            with_token.credentials,
            CredentialsChoice::Token(_)
        ));

        let mut explicit = OperationsClientBuilder::default().endpoint("https://x.example");
        explicit.use_emulator_host(env("127.0.0.1:8080")).unwrap();
        assert_eq!(explicit.endpoint.as_deref(), Some("https://x.example"));
        assert!(matches!(explicit.credentials, CredentialsChoice::Default));

        let err = OperationsClientBuilder::default()
            .use_emulator_host(env("http://127.0.0.1:8080"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("LRO_EMULATOR_HOST must be host:port"),
            "{err}"
        );
    }

    #[test]
    fn the_client_key_is_never_shown() {
        let builder =
            OperationsClientBuilder::default().client_identity("cert", "PRIVATE KEY BYTES");
        assert!(!format!("{builder:?}").contains("PRIVATE KEY BYTES"));
    }
}
