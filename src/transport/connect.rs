//! Reaching the server: the endpoint URL, TCP (hyper-util's `HttpConnector`: every address,
//! Happy Eyeballs, keepalive), TLS with ALPN `h2`, and the HTTP/2 handshake.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tonic::Code;
use tower_service::Service;

use super::connection::{Conn, http2};
use super::proxy::Proxy;
use super::status::{lowercase_first, status_retry_at};
use super::tls;
use crate::Error;
use crate::error::BoxError;

/// An endpoint URL, checked: `http://` or `https://`, with a host.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    url: String,
    uri: Uri,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::config(format!("endpoint {url:?} {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
        if uri.host().is_none() {
            return Err(bad("has no host"));
        }
        if !matches!(uri.scheme_str(), Some("https" | "http")) {
            return Err(bad("must start with https:// or http://"));
        }
        // The `http` crate keeps a port it cannot read (`:99999`, `:abc`) and then reports
        // none, which would mean the scheme's default: refuse it here instead.
        let authority = uri.authority().map_or("", |a| a.as_str());
        let host_and_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, rest)| rest);
        let after_host = host_and_port
            .rsplit_once(']')
            .map_or(host_and_port, |(_, rest)| rest);
        if let Some((_, port)) = after_host.rsplit_once(':')
            && !matches!(port.parse::<u16>(), Ok(1..))
        {
            return Err(bad(&format!("has an invalid port {port:?} (1 to 65535)")));
        }
        Ok(Self {
            url: url.to_owned(),
            uri,
        })
    }

    /// The host, without the brackets of an IPv6 literal.
    pub(crate) fn host(&self) -> &str {
        let host = self.uri.host().unwrap_or_default();
        host.trim_start_matches('[').trim_end_matches(']')
    }

    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    /// `localhost` or a loopback address.
    pub(crate) fn is_loopback(&self) -> bool {
        let host = self.host();
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The scheme and authority requests carry. A path in the endpoint is ignored, as a
    /// tonic `Channel` ignores it.
    pub(crate) fn origin(&self) -> Uri {
        let mut origin = http::uri::Parts::default();
        origin.scheme = self.uri.scheme().cloned();
        origin.authority = self.uri.authority().cloned();
        origin.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        // Parts of a URI that parsed always make a URI again.
        Uri::from_parts(origin).unwrap_or_else(|_| self.uri.clone())
    }
}

/// How each new connection is set up: everything but the address and TLS.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) user_agent: HeaderValue,
    /// Periodic HTTP/2 pings; none by default.
    pub(crate) keepalive: Option<Keepalive>,
    /// TCP keepalive probes after this much idleness; none by default.
    pub(crate) tcp_keepalive: Option<Duration>,
    /// Addresses to connect to for a host instead of asking DNS.
    pub(crate) resolve: Arc<HashMap<String, Vec<SocketAddr>>>,
    /// The HTTP CONNECT proxy connections go through, if any.
    pub(crate) proxy: Option<Proxy>,
    /// The first stream id of each connection (tests use up the ids).
    #[cfg(test)]
    pub(crate) first_stream_id: Option<u32>,
    /// The next request waits, between its headers and its body, until the connection has
    /// taken a GOAWAY (tests of that race); once.
    #[cfg(test)]
    pub(crate) pause_after_headers: Arc<std::sync::atomic::AtomicBool>,
}

/// Periodic HTTP/2 keepalive pings (see `OperationsClientBuilder::keepalive_interval`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keepalive {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) while_idle: bool,
}

/// How long Happy Eyeballs (RFC 8305) gives the preferred address family before it tries
/// the other one too: hyper-util's default, the RFC's recommendation.
const HAPPY_EYEBALLS: Duration = Duration::from_millis(300);

/// How to reach the server: address, TLS, and the settings of each new connection.
#[derive(Clone)]
pub(crate) struct Connector {
    /// `http://host:port`, what hyper-util's connector resolves and connects to.
    tcp_uri: Uri,
    /// `host:port`, for messages.
    target: Arc<str>,
    tcp: HttpConnector<Resolver>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    settings: Settings,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for `endpoint`; for `https://`, TLS as `choices` say (checked here).
    pub(crate) fn new(
        endpoint: &Endpoint,
        choices: &tls::TlsChoices,
        settings: Settings,
    ) -> Result<Self, Error> {
        let host = endpoint.host();
        let tls = if endpoint.is_tls() {
            let config = tls::client_config(choices, &endpoint.url)?;
            let (name_of, what) = match &choices.server_name {
                Some(name) => (name.as_str(), "tls_server_name"),
                None => (host, "the endpoint's host"),
            };
            let name = match name_of.parse::<IpAddr>() {
                Ok(ip) => ServerName::from(ip),
                Err(_) => ServerName::try_from(name_of.to_owned()).map_err(|_| {
                    Error::config(format!(
                        "{what} {name_of:?} is not a valid TLS server name (a DNS name or \
                         an IP address)"
                    ))
                })?,
            };
            Some((TlsConnector::from(config), name))
        } else {
            None
        };
        let port = endpoint
            .uri
            .port_u16()
            .unwrap_or(if tls.is_some() { 443 } else { 80 });
        let authority = match endpoint.uri.host() {
            Some(host) => format!("{host}:{port}"),
            None => return Err(Error::config("endpoint has no host")),
        };
        let tcp_uri = Uri::try_from(format!("http://{authority}")).map_err(|_| {
            Error::config(format!("endpoint {:?} is not a valid URL", endpoint.url))
        })?;
        // Every resolved address is tried, with Happy Eyeballs between the families; the
        // connect timeout is shared among the addresses of one family, so one that hangs
        // does not use it all.
        let mut tcp = HttpConnector::new_with_resolver(Resolver {
            overrides: settings.resolve.clone(),
        });
        tcp.set_nodelay(true);
        tcp.set_happy_eyeballs_timeout(Some(HAPPY_EYEBALLS));
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        tcp.set_keepalive(settings.tcp_keepalive);
        Ok(Self {
            tcp_uri,
            target: authority.into(),
            tcp,
            tls,
            settings,
        })
    }

    /// The `user-agent` every request on these connections carries.
    pub(super) fn user_agent(&self) -> &HeaderValue {
        &self.settings.user_agent
    }

    /// `host:port`.
    pub(super) fn target(&self) -> &str {
        &self.target
    }

    /// TCP (every address, Happy Eyeballs, no Nagle), then TLS with ALPN `h2` for
    /// `https://`, then the HTTP/2 handshake, all within the connect timeout; the
    /// connection's task is spawned on the runtime and ends when the last handle to it is
    /// dropped, the server closes it, or it is retired.
    pub(super) async fn connect(&self) -> Result<Conn, ConnectFailed> {
        let timeout = self.settings.connect_timeout;
        match tokio::time::timeout(timeout, self.handshake()).await {
            Ok(Ok(conn)) => {
                tracing::debug!(target = %self.target, "connected");
                Ok(conn)
            }
            Ok(Err(e)) => {
                tracing::debug!(target = %self.target, error = %e.message, "connect failed");
                Err(e)
            }
            Err(_) => Err(ConnectFailed::new(
                format!(
                    "cannot connect to {}: it took longer than the connect timeout ({timeout:?})",
                    self.target
                ),
                None,
            )),
        }
    }

    async fn handshake(&self) -> Result<Conn, ConnectFailed> {
        let mut tcp = self.tcp.clone();
        let stream = match &self.settings.proxy {
            None => super::proxy::Prefixed::new(
                Vec::new(),
                tcp.call(self.tcp_uri.clone())
                    .await
                    .map_err(|e| self.tcp_failed(&self.target, e))?
                    .into_inner(),
            ),
            Some(proxy) => {
                let stream = tcp
                    .call(proxy.uri.clone())
                    .await
                    .map_err(|e| self.tcp_failed(&format!("proxy {}", proxy.authority), e))?
                    .into_inner();
                super::proxy::connect(stream, proxy, &self.target).await?
            }
        };
        let Some((tls, name)) = &self.tls else {
            return http2(stream, &self.settings).await;
        };
        let stream = tls
            .connect(name.clone(), stream)
            .await
            .map_err(|e| tls_failed(e, name))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(ConnectFailed::permanent(
                format!(
                    "the server at {} does not speak HTTP/2 (ALPN): it did not agree to h2",
                    self.target
                ),
                None,
            ));
        }
        http2(stream, &self.settings).await
    }

    fn tcp_failed(
        &self,
        what: &str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> ConnectFailed {
        // hyper-util says "tcp connect error" and keeps the I/O error as its source.
        let cause = std::error::Error::source(&e)
            .map(|io| lowercase_first(&io.to_string()))
            .unwrap_or_else(|| e.to_string());
        ConnectFailed::new(
            format!("cannot connect to {what}: {cause}"),
            Some(Box::new(e)),
        )
    }
}

/// A TLS handshake failure in words; failures that trying again cannot mend are permanent.
fn tls_failed(e: std::io::Error, name: &ServerName<'static>) -> ConnectFailed {
    use tokio_rustls::rustls::{AlertDescription, CertificateError, Error as Tls, InvalidMessage};
    let expected = name.to_str();
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>()) else {
        return ConnectFailed::new(
            format!("tls: {}", lowercase_first(&e.to_string())),
            Some(Box::new(e)),
        );
    };
    let (words, permanent) = match tls {
        Tls::InvalidCertificate(CertificateError::NotValidForNameContext { presented, .. }) => {
            let names: Vec<String> = presented.iter().map(|n| presented_name(n)).collect();
            let names = match names.as_slice() {
                [] => "no name".to_owned(),
                [one] => one.clone(),
                many => many.join(" or "),
            };
            (
                format!("the certificate is for {names}, not {expected:?}"),
                true,
            )
        }
        Tls::InvalidCertificate(CertificateError::NotValidForName) => {
            (format!("the certificate is not for {expected:?}"), true)
        }
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => (
            format!(
                "the certificate of {expected:?} is not signed by a trusted root (unknown \
                 issuer); trust its CA with ca_certificate"
            ),
            true,
        ),
        Tls::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => (format!("the certificate of {expected:?} has expired"), true),
        Tls::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => (
            format!("the certificate of {expected:?} is not valid yet"),
            true,
        ),
        Tls::InvalidCertificate(CertificateError::Revoked) => (
            format!("the certificate of {expected:?} has been revoked"),
            true,
        ),
        Tls::InvalidCertificate(CertificateError::BadEncoding) => (
            format!("the certificate of {expected:?} is not well-formed"),
            true,
        ),
        Tls::InvalidCertificate(CertificateError::BadSignature) => (
            format!("the certificate of {expected:?} has a signature that does not verify"),
            true,
        ),
        Tls::InvalidCertificate(CertificateError::UnsupportedSignatureAlgorithmContext {
            ..
        }) => (
            format!(
                "the certificate of {expected:?} is signed with an algorithm rustls does not accept"
            ),
            true,
        ),
        Tls::InvalidCertificate(CertificateError::UnhandledCriticalExtension) => (
            format!(
                "the certificate of {expected:?} has a critical extension rustls does not know"
            ),
            true,
        ),
        Tls::InvalidCertificate(
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. },
        ) => (
            format!("the certificate of {expected:?} is not for serving TLS (extended key usage)"),
            true,
        ),
        // webpki's reasons without a variant of their own, by webpki's error type.
        Tls::InvalidCertificate(CertificateError::Other(other)) => {
            let words = match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => format!(
                    "the certificate of {expected:?} is a CA certificate (CA:TRUE), which \
                     cannot be a server's own; make one with CA:FALSE, signed by that CA"
                ),
                Some(webpki::Error::EndEntityUsedAsCa) => format!(
                    "the certificate chain of {expected:?} has a server certificate as its CA"
                ),
                Some(webpki::Error::PathLenConstraintViolated) => {
                    format!("the certificate chain of {expected:?} is longer than its CA allows")
                }
                _ => format!("the certificate of {expected:?} is not valid"),
            };
            (words, true)
        }
        Tls::InvalidCertificate(_) => (
            format!("the certificate of {expected:?} is not valid"),
            true,
        ),
        // Bytes that are not TLS where the server's first TLS record should be: a plaintext
        // server (an HTTP/2 SETTINGS frame, an HTTP/1.1 status line).
        Tls::InvalidMessage(InvalidMessage::InvalidContentType) => (
            format!(
                "the server at {expected:?} does not speak TLS; for a plaintext server, use \
                 an http:// endpoint"
            ),
            true,
        ),
        Tls::NoApplicationProtocol
        | Tls::AlertReceived(AlertDescription::NoApplicationProtocol) => (
            format!("the server at {expected:?} does not speak HTTP/2 (ALPN)"),
            true,
        ),
        Tls::PeerIncompatible(why) => (
            format!("the server cannot agree on a TLS version or cipher: {why:?}"),
            true,
        ),
        Tls::AlertReceived(alert) => alert_failure(&format!("{alert:?}")).unwrap_or_else(|| {
            (
                format!("the server ended the handshake with the alert {alert:?}"),
                false,
            )
        }),
        other => (lowercase_first(&other.to_string()), false),
    };
    let message = format!("tls: {words}");
    if permanent {
        ConnectFailed::permanent(message, Some(Box::new(e)))
    } else {
        ConnectFailed::new(message, Some(Box::new(e)))
    }
}

/// What a TLS alert the server sent (by rustls's name for it, e.g. `CertificateRequired`)
/// says about the client's certificate, and whether trying again cannot help; `None` for
/// an alert that is not about it. One source for the handshake's errors and for the
/// alerts a TLS 1.3 server sends after it.
pub(super) fn alert_failure(alert: &str) -> Option<(String, bool)> {
    match alert {
        "CertificateRequired" => Some((
            "the server requires a client certificate, and none was given".into(),
            true,
        )),
        "BadCertificate" | "UnknownCA" | "CertificateUnknown" | "AccessDenied" => Some((
            format!("the server refused the client certificate (alert {alert})"),
            true,
        )),
        _ => None,
    }
}

/// A name webpki says a certificate presents (`DnsName("localhost")`,
/// `IpAddress(127.0.0.1)`), as a quoted name.
fn presented_name(presented: &str) -> String {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    format!("{:?}", inner.trim_matches('"'))
}

/// DNS through the system's resolver (hyper-util's `GaiResolver`), except for hosts given
/// addresses with `OperationsClientBuilder::resolve`.
#[derive(Clone)]
struct Resolver {
    overrides: Arc<HashMap<String, Vec<SocketAddr>>>,
}

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<Self::Response, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(addrs) = self.overrides.get(name.as_str()) {
            return Box::pin(std::future::ready(Ok(addrs.clone().into_iter())));
        }
        let mut gai = GaiResolver::new();
        Box::pin(async move {
            let addrs = gai.call(name).await?;
            Ok(addrs.collect::<Vec<_>>().into_iter())
        })
    }
}

/// A failed connection attempt, shared by every call that waited on it.
#[derive(Clone, Debug)]
pub(super) struct ConnectFailed {
    message: String,
    permanent: bool,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ConnectFailed {
    pub(super) fn new(message: String, source: Option<BoxError>) -> Self {
        Self {
            message,
            permanent: false,
            source: source.map(Arc::from),
        }
    }

    /// A failure that trying again cannot mend: never retried.
    pub(super) fn permanent(message: String, source: Option<BoxError>) -> Self {
        Self {
            permanent: true,
            ..Self::new(message, source)
        }
    }

    /// UNAVAILABLE, the code gRPC gives a server that cannot be reached (so it is retried,
    /// unless permanent).
    pub(super) fn into_status(self, retry_at: Option<Instant>) -> BoxError {
        status_retry_at(
            Code::Unavailable,
            self.message,
            self.permanent,
            retry_at,
            self.source,
        )
    }
}
