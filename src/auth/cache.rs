//! The credentials' last headers, reused for a check interval, and the universe check.

use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use google_cloud_auth::credentials::{CacheableResource, Credentials, EntityTag};
use google_cloud_auth::errors::CredentialsError;
use http::HeaderMap;
use tokio::time::Instant;

use super::{CredentialsFailed, DEFAULT_UNIVERSE_DOMAIN, UniverseMismatch};
use crate::error::BoxError;

pub(super) struct AuthState {
    pub(super) credentials: Credentials,
    pub(super) check_interval: Duration,
    last: RwLock<Option<Last>>,
    /// The universe the credentials must belong to, if checked.
    pub(super) universe: Option<String>,
    /// Set once the credentials' universe is known: `Some(theirs)` if it is not `universe`.
    mismatch: OnceLock<Option<String>>,
}

/// The credentials' last answer and when they gave it.
struct Last {
    tag: EntityTag,
    headers: HeaderMap,
    checked: Instant,
}

impl AuthState {
    pub(super) fn new(
        credentials: Credentials,
        check_interval: Duration,
        universe: Option<String>,
    ) -> Self {
        Self {
            credentials,
            check_interval,
            last: RwLock::new(None),
            universe,
            mismatch: OnceLock::new(),
        }
    }

    /// Copies the last headers into `target` if they were checked within the interval.
    pub(super) fn add_fresh(&self, target: &mut HeaderMap) -> bool {
        let last = self.last.read().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some(last) if last.checked.elapsed() < self.check_interval => {
                copy_headers(&last.headers, target);
                true
            }
            _ => false,
        }
    }

    /// Fails if the credentials belong to another universe than the client's; asks them
    /// once, and remembers.
    async fn check_universe(&self) -> Result<(), UniverseMismatch> {
        let Some(ours) = &self.universe else {
            return Ok(());
        };
        let mismatch = match self.mismatch.get() {
            Some(known) => known,
            None => {
                let theirs = self.credentials.universe_domain().await;
                let theirs = theirs.as_deref().unwrap_or(DEFAULT_UNIVERSE_DOMAIN);
                let known = (!theirs.eq_ignore_ascii_case(ours)).then(|| theirs.to_owned());
                self.mismatch.get_or_init(|| known)
            }
        };
        match mismatch {
            None => Ok(()),
            Some(theirs) => Err(UniverseMismatch {
                client: ours.clone(),
                credentials: theirs.clone(),
            }),
        }
    }

    /// Asks the credentials (passing the last tag) and copies their headers into `target`.
    pub(super) async fn add_asked(&self, target: &mut HeaderMap) -> Result<(), BoxError> {
        let tag = self
            .last
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|last| last.tag.clone());
        let mut extensions = http::Extensions::new();
        if let Some(tag) = tag {
            extensions.insert(tag);
        }
        let answer = (self.credentials.headers(extensions).await).map_err(CredentialsFailed)?;
        // Credentials that add nothing (anonymous ones) send nothing to the wrong universe.
        if !matches!(&answer, CacheableResource::New { data, .. } if data.is_empty()) {
            self.check_universe().await?;
        }
        let mut guard = self.last.write().unwrap_or_else(|e| e.into_inner());
        let last = match answer {
            CacheableResource::New { entity_tag, data } => guard.insert(Last {
                tag: entity_tag,
                headers: mark_sensitive(data),
                checked: Instant::now(),
            }),
            CacheableResource::NotModified => match guard.as_mut() {
                Some(last) => {
                    last.checked = Instant::now();
                    last
                }
                // Only possible if a provider answers NotModified to a request without a tag.
                None => {
                    return Err(CredentialsFailed(CredentialsError::from_msg(
                        false,
                        "credentials returned no headers",
                    ))
                    .into());
                }
            },
        };
        copy_headers(&last.headers, target);
        Ok(())
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        to.insert(name.clone(), value.clone());
    }
}

fn mark_sensitive(mut headers: HeaderMap) -> HeaderMap {
    for value in headers.values_mut() {
        value.set_sensitive(true);
    }
    headers
}
