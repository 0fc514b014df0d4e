//! The rustls client configuration for `https://` endpoints.

use std::sync::Arc;

use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::failure::{TransportFailure, lowercase_first};
use crate::Error;

/// A client certificate chain and its private key, PEM; the key is never shown.
#[derive(Clone)]
pub(crate) struct ClientIdentity {
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// What the builder was told about TLS.
#[derive(Clone, Debug)]
pub(crate) struct TlsChoices {
    /// Extra roots, PEM (`ca_certificate`).
    pub(crate) ca_certificates: Vec<Vec<u8>>,
    pub(crate) identity: Option<ClientIdentity>,
    /// Trust the roots the crate's features bring (`tls_built_in_root_certs`).
    pub(crate) built_in_roots: bool,
    /// The name the certificate must be for, instead of the URL's host (`tls_server_name`).
    pub(crate) server_name: Option<String>,
    /// A rustls configuration to use as it is (`use_preconfigured_tls`).
    pub(crate) preconfigured: Option<Arc<ClientConfig>>,
}

impl Default for TlsChoices {
    fn default() -> Self {
        Self {
            ca_certificates: Vec::new(),
            identity: None,
            built_in_roots: true,
            server_name: None,
            preconfigured: None,
        }
    }
}

/// The rustls configuration for `choices`: a preconfigured one as it is (with ALPN `h2`
/// when it names none), else rustls with the roots the crate's features choose (unless
/// turned off) plus `ca_certificates` (PEM), and ALPN `h2`. The process's default crypto
/// provider if one is installed, else aws-lc-rs.
pub(super) fn client_config(choices: &TlsChoices, url: &str) -> Result<Arc<ClientConfig>, Error> {
    if let Some(preconfigured) = &choices.preconfigured {
        if preconfigured.alpn_protocols.is_empty() {
            let mut config = (**preconfigured).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            return Ok(Arc::new(config));
        }
        if !preconfigured.alpn_protocols.iter().any(|p| p == b"h2") {
            return Err(Error::config(
                "use_preconfigured_tls: its ALPN protocols lack \"h2\", which gRPC needs",
            ));
        }
        return Ok(preconfigured.clone());
    }
    let ca_certificates = &choices.ca_certificates;
    let identity = choices.identity.as_ref();
    let mut roots = RootCertStore::empty();
    if choices.built_in_roots {
        add_built_in_roots(&mut roots);
    }
    for pem in ca_certificates {
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| Error::config(format!("ca_certificate is not valid PEM: {e}")))?;
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
            "no trusted root certificates for {url}: give ca_certificate, or trust the \
             built-in roots (the webpki-roots or native-roots feature, \
             tls_built_in_root_certs(true))"
        )));
    }
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(aws_lc_rs::default_provider()));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS setup for {url:?}: {e}")))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => config.with_no_client_auth(),
        Some(identity) => {
            let bad = |why: String| Error::config(format!("client_identity {why}"));
            let chain = CertificateDer::pem_slice_iter(&identity.cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("certificate is not valid PEM: {e}")))?;
            if chain.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            // The error never quotes the key.
            let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
                .map_err(|_| bad("key is not a PEM private key".into()))?;
            config
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(format!("cannot be used: {e}")))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The roots the crate's features bring: Mozilla's (`webpki-roots`), the system's
/// (`native-roots`), or none.
fn add_built_in_roots(roots: &mut RootCertStore) {
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
    let _ = roots;
}

/// A TLS handshake failure in words; failures that trying again cannot mend are permanent.
pub(super) fn handshake_failed(e: std::io::Error, name: &ServerName<'static>) -> TransportFailure {
    use tokio_rustls::rustls::{AlertDescription, CertificateError, Error as Tls, InvalidMessage};
    let expected = name.to_str();
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>()) else {
        return TransportFailure::unavailable(format!("tls: {}", lowercase_first(&e.to_string())))
            .with_source(e);
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
        TransportFailure::unavailable(message)
            .permanent()
            .with_source(e)
    } else {
        TransportFailure::unavailable(message).with_source(e)
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
