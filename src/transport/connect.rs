//! Reaching the server: the endpoint URL, TCP, TLS, and the HTTP/2 handshake.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Uri};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tonic::Code;

use super::connection::{Conn, http2};
use super::status::status;
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

/// How to reach the server: address, TLS, and the settings of each new connection.
#[derive(Clone)]
pub(crate) struct Connector {
    host: Arc<str>,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    user_agent: HeaderValue,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for `endpoint`; for `https://`, TLS trusting the features' roots plus
    /// `ca_certificates` (PEM, checked here).
    pub(crate) fn new(
        endpoint: &Endpoint,
        ca_certificates: &[Vec<u8>],
        connect_timeout: Duration,
        user_agent: HeaderValue,
    ) -> Result<Self, Error> {
        let host = endpoint.host();
        let tls = if endpoint.is_tls() {
            let config = tls::client_config(ca_certificates, &endpoint.url)?;
            let name = match host.parse::<IpAddr>() {
                Ok(ip) => ServerName::from(ip),
                Err(_) => ServerName::try_from(host.to_owned()).map_err(|_| {
                    Error::config(format!(
                        "endpoint {:?} has a host that is not a valid TLS server name",
                        endpoint.url
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
        Ok(Self {
            host: host.into(),
            port,
            tls,
            connect_timeout,
            user_agent,
        })
    }

    /// The `user-agent` every request on these connections carries.
    pub(super) fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// TCP (no Nagle), then TLS with ALPN `h2` for `https://`, then the HTTP/2 handshake,
    /// all within the connect timeout; the connection's task is spawned on the runtime and
    /// ends when the last handle to it is dropped or the server closes it.
    pub(super) async fn connect(&self) -> Result<Conn, ConnectFailed> {
        let target = format!("{}:{}", self.host, self.port);
        match tokio::time::timeout(self.connect_timeout, self.handshake()).await {
            Ok(Ok(conn)) => {
                tracing::debug!(%target, "connected");
                Ok(conn)
            }
            Ok(Err(e)) => {
                tracing::debug!(%target, error = %e.message, "connect failed");
                Err(e.context(&target))
            }
            Err(_) => Err(ConnectFailed::new(
                format!(
                    "connecting to {target} took longer than the connect timeout ({:?})",
                    self.connect_timeout
                ),
                None,
            )),
        }
    }

    async fn handshake(&self) -> Result<Conn, ConnectFailed> {
        let fail = |what: &str, e: BoxError| ConnectFailed::new(format!("{what}: {e}"), Some(e));
        let tcp = TcpStream::connect((&*self.host, self.port))
            .await
            .map_err(|e| fail("tcp", e.into()))?;
        tcp.set_nodelay(true).map_err(|e| fail("tcp", e.into()))?;
        match &self.tls {
            None => http2(tcp).await,
            Some((tls, name)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| fail("tls", e.into()))?;
                http2(stream).await
            }
        }
    }
}

/// A failed connection attempt, shared by every call that waited on it.
#[derive(Clone, Debug)]
pub(super) struct ConnectFailed {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ConnectFailed {
    pub(super) fn new(message: String, source: Option<BoxError>) -> Self {
        Self {
            message,
            source: source.map(Arc::from),
        }
    }

    fn context(mut self, target: &str) -> Self {
        self.message = format!("cannot connect to {target}: {}", self.message);
        self
    }

    /// UNAVAILABLE, the code gRPC gives a server that cannot be reached (so it is retried).
    pub(super) fn into_status(self) -> BoxError {
        status(Code::Unavailable, self.message, self.source)
    }
}
