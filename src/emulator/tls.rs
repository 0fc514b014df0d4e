//! The emulator's TLS files, checked before it serves: tonic would say only `transport
//! error` for a certificate or key it cannot use.

use std::fmt;
use std::sync::Arc;

use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{Error as Tls, ServerConfig};

/// A certificate chain or private key the emulator cannot serve TLS with, in words.
#[derive(Debug)]
pub struct TlsFilesError {
    message: String,
    key: bool,
}

impl TlsFilesError {
    /// Whether it is the private key that is wrong (else the certificate chain).
    pub fn about_key(&self) -> bool {
        self.key
    }
}

impl fmt::Display for TlsFilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsFilesError {}

/// Checks that `cert_pem` holds a certificate chain and `key_pem` its private key, as
/// [`EmulatorBuilder::tls`](super::EmulatorBuilder::tls) takes them.
pub fn check_tls(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsFilesError> {
    let bad = |key: bool, message: String| TlsFilesError { message, key };
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad(false, "is not a well-formed PEM file".into()))?;
    if certs.is_empty() {
        return Err(bad(
            false,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
        bad(
            true,
            "holds no PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
        )
    })?;
    let built = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(false, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key);
    match built {
        Ok(_) => Ok(()),
        Err(Tls::InconsistentKeys(_)) => Err(bad(
            true,
            "is not the private key of the certificate given with it".into(),
        )),
        Err(e) => Err(bad(
            true,
            format!("cannot be used with the certificate: {e}"),
        )),
    }
}
