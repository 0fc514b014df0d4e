//! A TLS server on loopback (rustls, a certificate from rcgen) that serves HTTP/2 answering
//! every request with an empty gRPC OK, and counts the TCP connections it accepts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TlsServer {
    pub addr: SocketAddr,
    /// The certificate, PEM (self-signed: trust it with `ca_certificate`).
    pub cert_pem: String,
    accepted: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
    gate: tokio::sync::watch::Sender<bool>,
}

impl TlsServer {
    /// Lets held TLS handshakes (and all later ones) go ahead.
    pub fn open(&self) {
        let _ = self.gate.send(true);
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves TLS with a certificate for `names`, offering `alpn` (empty: no ALPN at all).
pub async fn serve(names: &[&str], alpn: &[&[u8]]) -> TlsServer {
    serve_with(names, alpn, true, None, false).await
}

/// [`serve`], with a self-signed certificate that says it is a CA (`CA:TRUE`), which
/// rustls refuses as a server's own.
pub async fn serve_with_ca_certificate(names: &[&str]) -> TlsServer {
    serve_with(names, &[b"h2"], true, None, true).await
}

/// [`serve`], starting TLS handshakes only once [`TlsServer::open`] is called.
pub async fn serve_held(names: &[&str], alpn: &[&[u8]]) -> TlsServer {
    serve_with(names, alpn, false, None, false).await
}

/// [`serve`], requiring a client certificate that `client_ca` (PEM) vouches for.
pub async fn serve_requiring_client_cert(names: &[&str], client_ca: &str) -> TlsServer {
    serve_with(names, &[b"h2"], true, Some(client_ca), false).await
}

async fn serve_with(
    names: &[&str],
    alpn: &[&[u8]],
    open: bool,
    client_ca: Option<&str>,
    is_ca: bool,
) -> TlsServer {
    let (gate, opened) = tokio::sync::watch::channel(open);
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let certified = if is_ca {
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let signing_key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&signing_key).unwrap();
        rcgen::CertifiedKey { cert, signing_key }
    } else {
        rcgen::generate_simple_self_signed(names).unwrap()
    };
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            use tokio_rustls::rustls::pki_types::pem::PemObject;
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier =
                tokio_rustls::rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(vec![cert], key).unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let shaken = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let shaken = shaken.clone();
            let mut opened = opened.clone();
            tokio::spawn(async move {
                let _ = opened.wait_for(|open| *open).await;
                let mut tcp = tcp;
                let tls = match acceptor.accept(&mut tcp).await {
                    Ok(tls) => tls,
                    Err(_) => {
                        // A lingering close, as nginx makes: read what the client sent
                        // until it closes, so the kernel does not answer its unread bytes
                        // with a reset that would discard the alert before the client
                        // reads it.
                        linger(tcp).await;
                        return;
                    }
                };
                shaken.fetch_add(1, Ordering::SeqCst);
                let Ok(mut connection) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    // An empty message, then OK.
                    let response = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .body(())
                        .unwrap();
                    let Ok(mut send) = respond.send_response(response, false) else {
                        continue;
                    };
                    let _ = send.send_data(bytes::Bytes::from_static(&[0; 5]), false);
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                    let _ = send.send_trailers(trailers);
                }
            });
        }
    });
    TlsServer {
        addr,
        cert_pem: certified.cert.pem(),
        accepted,
        handshakes,
        gate,
    }
}

/// Shuts down our side and reads until the client closes (or 10 s pass).
async fn linger(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
}
