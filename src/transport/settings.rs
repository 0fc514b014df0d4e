//! How each new connection is set up ([`Settings`]): everything the builder says about
//! connections but the address and TLS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use super::proxy::Proxy;

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
