//! [`StaticToken`]: credentials of one fixed bearer token.

use std::fmt;

use google_cloud_auth::credentials::{CacheableResource, CredentialsProvider, EntityTag};
use google_cloud_auth::errors::CredentialsError;
use http::{HeaderMap, HeaderValue};

/// Credentials that send one fixed bearer token, e.g. one printed by
/// `gcloud auth print-access-token`.
///
/// The token is never shown by `Debug`, and the header value is marked sensitive.
///
/// ```
/// use google_cloud_auth::credentials::Credentials;
/// use longrunning_grpc::auth::StaticToken;
///
/// let token = StaticToken::new("ya29.secret")?;
/// assert!(!format!("{token:?}").contains("ya29"));
/// let credentials = Credentials::from(token);
/// # Ok::<(), longrunning_grpc::Error>(())
/// ```
pub struct StaticToken {
    headers: HeaderMap,
    tag: EntityTag,
}

impl StaticToken {
    /// Credentials sending `authorization: Bearer <token>`. Fails if the token is empty or
    /// holds bytes that cannot be sent in a header (CR, LF, other control characters).
    pub fn new(token: impl AsRef<str>) -> Result<Self, crate::Error> {
        let token = token.as_ref();
        if token.is_empty() {
            return Err(crate::Error::config("access_token is empty"));
        }
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| crate::headers::not_a_header_value("access_token"))?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(http::header::AUTHORIZATION, value);
        Ok(Self {
            headers,
            tag: EntityTag::new(),
        })
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &"[redacted]")
            .finish()
    }
}

impl CredentialsProvider for StaticToken {
    async fn headers(
        &self,
        extensions: http::Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        if extensions.get::<EntityTag>() == Some(&self.tag) {
            return Ok(CacheableResource::NotModified);
        }
        Ok(CacheableResource::New {
            entity_tag: self.tag.clone(),
            data: self.headers.clone(),
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}
