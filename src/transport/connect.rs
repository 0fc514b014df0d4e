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
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tower_service::Service;

use super::connection::{Conn, http2};
use super::endpoint::Endpoint;
use super::failure::{TransportFailure, lowercase_first};
use super::settings::Settings;
use super::tls;
use crate::Error;

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
    pub(super) async fn connect(&self) -> Result<Conn, TransportFailure> {
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
            Err(_) => Err(TransportFailure::unavailable(format!(
                "cannot connect to {}: it took longer than the connect timeout ({timeout:?})",
                self.target
            ))),
        }
    }

    async fn handshake(&self) -> Result<Conn, TransportFailure> {
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
            .map_err(|e| tls::handshake_failed(e, name))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(TransportFailure::unavailable(format!(
                "the server at {} does not speak HTTP/2 (ALPN): it did not agree to h2",
                self.target
            ))
            .permanent());
        }
        http2(stream, &self.settings).await
    }

    fn tcp_failed(
        &self,
        what: &str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> TransportFailure {
        // hyper-util says "tcp connect error" and keeps the I/O error as its source.
        let cause = std::error::Error::source(&e)
            .map(|io| lowercase_first(&io.to_string()))
            .unwrap_or_else(|| e.to_string());
        TransportFailure::unavailable(format!("cannot connect to {what}: {cause}")).with_source(e)
    }
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
