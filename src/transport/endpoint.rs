//! [`Endpoint`]: the server's URL, checked when the client is built.

use std::net::IpAddr;

use http::Uri;

use crate::Error;

/// An endpoint URL, checked: `http://` or `https://`, with a host.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(super) url: String,
    pub(super) uri: Uri,
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
