//! Credentials: the tower layer that adds their headers to every request
//! ([`AddCredentialsLayer`]), credentials of one fixed token ([`StaticToken`]), the errors a
//! request meets before it is sent, and the constants that name Google's defaults.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use google_cloud_auth::errors::CredentialsError;

mod cache;
mod layer;
mod static_token;

pub use layer::{AddCredentials, AddCredentialsLayer};
pub use static_token::StaticToken;

/// The OAuth scope the client asks Application Default Credentials for.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The universe domain of Google's public cloud; credentials that name none belong to it.
pub const DEFAULT_UNIVERSE_DOMAIN: &str = "googleapis.com";

/// How long headers are reused before the credentials are asked again, unless set.
pub(crate) const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The credentials could not produce request headers; the request was not sent.
#[derive(Debug)]
pub struct CredentialsFailed(pub CredentialsError);

impl fmt::Display for CredentialsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "credentials failed: {}", self.0)
    }
}

impl StdError for CredentialsFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// The credentials belong to another universe (sovereign cloud) than the client; the
/// request was not sent. See `OperationsClientBuilder::universe_domain`.
#[derive(Clone, Debug)]
pub struct UniverseMismatch {
    /// The client's universe domain.
    pub client: String,
    /// The credentials' universe domain (`googleapis.com` when they name none).
    pub credentials: String,
}

impl fmt::Display for UniverseMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the client's universe domain is {} but the credentials' is {}; set \
             universe_domain or GOOGLE_CLOUD_UNIVERSE_DOMAIN to the credentials' universe",
            self.client, self.credentials
        )
    }
}

impl StdError for UniverseMismatch {}
