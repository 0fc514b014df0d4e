//! HTTP CONNECT proxies: which proxy a target goes through, and the CONNECT exchange.
//!
//! The rules for the environment are hyper-util's `proxy::Matcher` (NO_PROXY names matched
//! on label boundaries, `*`, IP addresses and CIDR blocks), fed the variables as gRPC's C
//! core reads them rather than as `Matcher::from_env` does: `grpc_proxy` first, then
//! `https_proxy`, then `http_proxy` (either case), for every target whatever its scheme;
//! `no_grpc_proxy`, else `no_proxy`; and never for a loopback target. What was added by
//! hand is the CONNECT exchange itself: hyper-util's `Tunnel` reports a refusal other than
//! 407 only as "unsuccessful", and a refusal here names the proxy and its answer
//! (`proxy 127.0.0.1:8888 refused CONNECT: 403 Forbidden`) and is not retried when
//! retrying cannot help.

use std::fmt;

use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::endpoint::Endpoint;
use super::failure::{TransportFailure, lowercase_first};
use crate::Error;

/// Where the builder's proxy comes from.
#[derive(Clone, Debug, Default)]
pub(crate) enum ProxySetting {
    /// The environment's variables, as gRPC reads them.
    #[default]
    FromEnv,
    /// This proxy for every target, loopback included.
    Url(String),
    /// No proxy, whatever the environment says.
    Off,
}

/// The proxy a target goes through.
#[derive(Clone)]
pub(crate) struct Proxy {
    /// `http://host:port` of the proxy, for the TCP connector.
    pub(crate) uri: Uri,
    /// `host:port`, for messages.
    pub(crate) authority: String,
    /// `Basic …` from the URL's user info; sensitive.
    auth: Option<HeaderValue>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("authority", &self.authority)
            .field("auth", &self.auth.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The variables gRPC reads, in the order it reads them.
const PROXY_VARS: [&str; 6] = [
    "grpc_proxy",
    "GRPC_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
];
const NO_PROXY_VARS: [&str; 2] = ["no_grpc_proxy", "NO_GRPC_PROXY"];
const NO_PROXY_FALLBACK: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// The proxy `target` goes through under `setting`, reading the environment with `env`.
pub(crate) fn choose(
    setting: &ProxySetting,
    target: &Endpoint,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    let first = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
    };
    let (url, no, from) = match setting {
        ProxySetting::Off => return Ok(None),
        ProxySetting::Url(url) => (url.clone(), String::new(), "proxy"),
        ProxySetting::FromEnv => {
            if target.is_loopback() {
                return Ok(None);
            }
            let Some(url) = first(&PROXY_VARS) else {
                return Ok(None);
            };
            let no = first(&NO_PROXY_VARS)
                .or_else(|| first(&NO_PROXY_FALLBACK))
                .unwrap_or_default();
            (url, no, "the proxy in the environment")
        }
    };
    let shown = without_user_info(&url);
    if url.contains("://") && !url.starts_with("http://") {
        return Err(Error::config(format!(
            "{from} {shown:?} is not supported: only http:// proxies are"
        )));
    }
    let matcher = Matcher::builder().all(url.clone()).no(no).build();
    // The matcher decides by the target's scheme and host; both proxies are the same one.
    let Some(intercept) = matcher.intercept(target.uri()) else {
        return Ok(None);
    };
    let uri = intercept.uri().clone();
    let Some(host) = uri.host() else {
        return Err(Error::config(format!("{from} {shown:?} has no host")));
    };
    let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let tcp_uri = Uri::try_from(format!("http://{authority}"))
        .map_err(|_| Error::config(format!("{from} {shown:?} is not a valid URL")))?;
    let auth = intercept.basic_auth().cloned().map(|mut value| {
        value.set_sensitive(true);
        value
    });
    Ok(Some(Proxy {
        uri: tcp_uri,
        authority,
        auth,
    }))
}

/// `http://user:secret@host:3128` as `http://host:3128`, for messages.
fn without_user_info(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        (None, Some(at)) => url[at + 1..].to_owned(),
        _ => url.to_owned(),
    }
}

/// The largest CONNECT answer read.
const MAX_ANSWER: usize = 8 * 1024;

/// Asks `proxy`, on `stream`, for a tunnel to `target` (`host:port`).
pub(crate) async fn connect(
    mut stream: TcpStream,
    proxy: &Proxy,
    target: &str,
) -> Result<Prefixed<TcpStream>, TransportFailure> {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(auth) = &proxy.auth {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let io = |e: std::io::Error| {
        TransportFailure::unavailable(format!(
            "proxy {} failed during CONNECT: {}",
            proxy.authority,
            lowercase_first(&e.to_string())
        ))
        .with_source(e)
    };
    stream.write_all(&request).await.map_err(io)?;
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            return Err(TransportFailure::unavailable(format!(
                "proxy {} closed the connection during CONNECT",
                proxy.authority
            )));
        }
        answer.extend_from_slice(&buf[..n]);
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if answer.len() > MAX_ANSWER {
            return Err(TransportFailure::unavailable(format!(
                "proxy {} sent an answer to CONNECT longer than 8 KiB",
                proxy.authority
            )));
        }
    };
    // What came after the answer is the server's already: an HTTP/2 server sends its
    // SETTINGS without waiting for the client's preface, and the proxy may pass them on
    // with its answer. They are the tunnel's first bytes.
    let after = answer[end + 4..].to_vec();
    let status_line = String::from_utf8_lossy(&answer[..end]);
    let status_line = status_line.lines().next().unwrap_or_default().trim();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code, reason) = (parts.next(), parts.next(), parts.next());
    let code: Option<u16> = code.and_then(|c| c.parse().ok());
    match (version, code) {
        (Some(v), Some(200..=299)) if v.starts_with("HTTP/1.") => Ok(Prefixed::new(after, stream)),
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => {
            let message = format!(
                "proxy {} refused CONNECT: {code} {}",
                proxy.authority,
                reason.unwrap_or_default()
            );
            let message = message.trim_end().to_owned();
            // Credentials or a policy will not change on their own; a proxy's 5xx might.
            if matches!(code, 401 | 403 | 407) {
                Err(TransportFailure::unavailable(message).permanent())
            } else {
                Err(TransportFailure::unavailable(message))
            }
        }
        _ => Err(TransportFailure::unavailable(format!(
            "proxy {} answered CONNECT with something other than HTTP/1.x",
            proxy.authority
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_the_server_sent_with_the_proxys_answer_are_the_tunnels_first() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A proxy that answers CONNECT and, in the same write, passes on the server's
        // first frame (an HTTP/2 server sends its SETTINGS without waiting).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n\0\0\0\x04\0\0\0\0\0")
                .await
                .unwrap();
            socket.write_all(b"then more").await.unwrap();
        });
        let proxy = Proxy {
            uri: format!("http://{addr}").parse().unwrap(),
            authority: addr.to_string(),
            auth: None,
        };
        let stream = TcpStream::connect(addr).await.unwrap();

        let mut tunnel = connect(stream, &proxy, "example.test:443").await.unwrap();
        let mut got = vec![0u8; 9 + 9];
        tunnel.read_exact(&mut got).await.unwrap();

        assert_eq!(
            &got[..9],
            b"\0\0\0\x04\0\0\0\0\0",
            "the server's SETTINGS, not lost"
        );
        assert_eq!(&got[9..], b"then more");
    }

    fn target(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    /// The proxy chosen for `url` from the environment `vars`.
    fn from_env(vars: &[(&str, &str)], url: &str) -> Option<String> {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        choose(&ProxySetting::FromEnv, &target(url), env)
            .unwrap()
            .map(|p| p.authority)
    }

    #[test]
    fn the_environment_is_read_as_grpc_reads_it() {
        let g = "https://api.example.com";
        /// The environment, the target, and the proxy it should go through.
        type Case = (
            &'static [(&'static str, &'static str)],
            &'static str,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (&[], g, None),
            (&[("https_proxy", "http://p:3128")], g, Some("p:3128")),
            (&[("HTTPS_PROXY", "http://p:3128")], g, Some("p:3128")),
            (&[("http_proxy", "http://p:3128")], g, Some("p:3128")),
            (
                &[("grpc_proxy", "http://g:1"), ("https_proxy", "http://h:2")],
                g,
                Some("g:1"),
            ),
            (
                &[("https_proxy", "http://h:2"), ("http_proxy", "http://p:3")],
                g,
                Some("h:2"),
            ),
            (&[("https_proxy", "p:3128")], g, Some("p:3128")),
            (&[("https_proxy", "http://p")], g, Some("p:80")),
            // Exemptions: label boundaries, a leading dot, `*`, IPs and CIDR blocks.
            (
                &[("https_proxy", "http://p:1"), ("no_proxy", "example.com")],
                g,
                None,
            ),
            (
                &[("https_proxy", "http://p:1"), ("no_proxy", ".example.com")],
                g,
                None,
            ),
            (
                &[("https_proxy", "http://p:1"), ("no_proxy", "ample.com")],
                g,
                Some("p:1"),
            ),
            (
                &[
                    ("https_proxy", "http://p:1"),
                    ("no_proxy", "other.com, example.com"),
                ],
                g,
                None,
            ),
            (&[("https_proxy", "http://p:1"), ("no_proxy", "*")], g, None),
            (
                &[("https_proxy", "http://p:1"), ("no_proxy", "10.0.0.0/8")],
                "https://10.2.3.4",
                None,
            ),
            (
                &[("https_proxy", "http://p:1"), ("no_proxy", "10.0.0.0/8")],
                "https://11.2.3.4",
                Some("p:1"),
            ),
            (
                &[("https_proxy", "http://p:1"), ("no_proxy", "192.168.1.7")],
                "https://192.168.1.7",
                None,
            ),
            // no_grpc_proxy wins over no_proxy.
            (
                &[
                    ("https_proxy", "http://p:1"),
                    ("no_grpc_proxy", "other.com"),
                    ("no_proxy", "example.com"),
                ],
                g,
                Some("p:1"),
            ),
            (
                &[
                    ("https_proxy", "http://p:1"),
                    ("no_grpc_proxy", "example.com"),
                ],
                g,
                None,
            ),
            // Loopback targets are never proxied from the environment.
            (
                &[("https_proxy", "http://p:1")],
                "http://127.0.0.1:50051",
                None,
            ),
            (
                &[("https_proxy", "http://p:1")],
                "http://localhost:50051",
                None,
            ),
            (&[("https_proxy", "http://p:1")], "http://[::1]:50051", None),
        ];
        for (vars, url, want) in cases {
            assert_eq!(from_env(vars, url).as_deref(), *want, "{vars:?} for {url}");
        }
    }

    #[test]
    fn an_explicit_proxy_serves_every_target_loopback_included() {
        let setting = ProxySetting::Url("http://127.0.0.1:8888".into());
        let proxy = choose(&setting, &target("http://127.0.0.1:1"), |_| None).unwrap();
        assert_eq!(proxy.unwrap().authority, "127.0.0.1:8888");
        let off = choose(&ProxySetting::Off, &target("https://a.example"), |_| {
            Some("http://p:1".into())
        });
        assert!(off.unwrap().is_none());
    }

    #[test]
    fn only_http_proxies_are_accepted_and_credentials_are_not_shown() {
        for url in ["https://user:secret@p:3128", "socks5://p:1080"] {
            let setting = ProxySetting::Url(url.into());
            let err = choose(&setting, &target("https://a.example"), |_| None).unwrap_err();
            assert!(err.is_config(), "{err}");
            assert!(err.to_string().contains("only http:// proxies"), "{err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn basic_auth_comes_from_the_user_info_and_is_redacted() {
        let setting = ProxySetting::Url("http://user:pass@127.0.0.1:8888".into());
        let proxy = choose(&setting, &target("https://a.example"), |_| None)
            .unwrap()
            .unwrap();
        assert_eq!(proxy.auth.as_ref().unwrap(), "Basic dXNlcjpwYXNz");
        assert!(proxy.auth.as_ref().unwrap().is_sensitive());
        assert!(!format!("{proxy:?}").contains("dXNlcjpwYXNz"));
    }
}

/// A stream whose first bytes read are `prefix`, then the stream's own: a tunnel whose
/// server spoke before the proxy's answer was read whole.
#[derive(Debug)]
pub(crate) struct Prefixed<IO> {
    prefix: Vec<u8>,
    read: usize,
    io: IO,
}

impl<IO> Prefixed<IO> {
    pub(crate) fn new(prefix: Vec<u8>, io: IO) -> Self {
        Self {
            prefix,
            read: 0,
            io,
        }
    }
}

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Prefixed<IO> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let rest = &this.prefix[this.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Prefixed<IO> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
