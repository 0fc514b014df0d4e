//! [`OperationsClientBuilder`]: every setting of a client, checked when it is built.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use tonic::transport::Channel;

use crate::Error;
use crate::auth::DEFAULT_CHECK_INTERVAL;
use crate::client::OperationsClient;
use crate::policy::{PollingPolicy, RetryPolicy};
use crate::transport::{
    ClientIdentity, Connector, Endpoint, GrpcTransport, Keepalive, ProxySetting, Settings,
    TlsChoices, Transport, choose_proxy,
};

pub(super) enum CredentialsChoice {
    Default,
    Anonymous,
    Token(String),
    Given(Credentials),
}

/// Builds an [`OperationsClient`]. Every setting has a default; see each method.
#[must_use]
pub struct OperationsClientBuilder {
    /// None until set: the default, or its mTLS twin.
    pub(super) endpoint: Option<String>,
    pub(super) client_identity: Option<ClientIdentity>,
    pub(super) universe_domain: Option<String>,
    pub(super) credentials: CredentialsChoice,
    pub(super) quota_project: Option<String>,
    pub(super) user_agent: Option<String>,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) allow_insecure: bool,
    pub(super) ca_certificates: Vec<Vec<u8>>,
    pub(super) tls_built_in_root_certs: bool,
    pub(super) tls_server_name: Option<String>,
    pub(super) preconfigured_tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    pub(super) channel: Option<Channel>,
    pub(super) retry: RetryPolicy,
    pub(super) polling: PollingPolicy,
    pub(super) max_response_size: usize,
    pub(super) connections: usize,
    pub(super) credentials_check_interval: Duration,
    pub(super) keepalive_interval: Option<Duration>,
    pub(super) keepalive_timeout: Duration,
    pub(super) keepalive_while_idle: bool,
    pub(super) tcp_keepalive: Option<Duration>,
    pub(super) resolve: HashMap<String, Vec<SocketAddr>>,
    pub(super) proxy: ProxySetting,
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

    /// Sends `authorization: Bearer <token>` with every call (see [`StaticToken`](crate::auth::StaticToken)).
    /// Default: Application Default Credentials.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = CredentialsChoice::Token(token.into());
        self
    }

    /// How long the credentials' last headers are reused before the credentials are asked
    /// again; `Duration::ZERO` asks on every call. Inside the interval a call costs no
    /// credentials lookup at all; why that is safe is in
    /// [`AddCredentialsLayer::check_interval`](crate::auth::AddCredentialsLayer::check_interval). Default: 1 s.
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
    /// becomes the service's mTLS endpoint ([`OperationsClient::DEFAULT_MTLS_ENDPOINT`]), as Google's Go and
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

    /// The universe (sovereign cloud) the client works in: its domain names the default
    /// endpoint, `https://cloudaicompanion.<universe>`, and the credentials' universe must
    /// be the same, or the first call fails with an error naming both (as google-cloud-rust
    /// checks). Credentials that carry no universe (an [`access_token`](Self::access_token),
    /// [`anonymous`](Self::anonymous)) are not checked. An explicit
    /// [`endpoint`](Self::endpoint) still wins for where connections go.
    ///
    /// Default: `GOOGLE_CLOUD_UNIVERSE_DOMAIN` if set, else [`DEFAULT_UNIVERSE_DOMAIN`](crate::auth::DEFAULT_UNIVERSE_DOMAIN).
    pub fn universe_domain(mut self, domain: impl Into<String>) -> Self {
        self.universe_domain = Some(domain.into());
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
    pub fn tcp_keepalive(mut self, idle: Duration) -> Self {
        self.tcp_keepalive = Some(idle);
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
            transport.connect().await.map_err(super::transport_error)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_key_is_never_shown() {
        let builder =
            OperationsClientBuilder::default().client_identity("cert", "PRIVATE KEY BYTES");
        assert!(!format!("{builder:?}").contains("PRIVATE KEY BYTES"));
    }
}
