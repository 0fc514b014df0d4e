//! The rustls client configuration for `https://` endpoints.

use std::sync::Arc;

use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

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
