//! A tower layer that adds the credentials' headers (`authorization`, …) to every request,
//! and [`StaticToken`], credentials of one fixed bearer token.
//!
//! `Credentials::headers` is async, so this cannot be a tonic interceptor (those are sync).
//! Asking the credentials costs an `Extensions` map, a boxed future and a boxed call per
//! request, so the layer reuses the last headers it got for a check interval (see
//! [`AddCredentialsLayer::check_interval`]) and then asks again, passing back the
//! `EntityTag` so an unchanged answer costs no copy. Calls inside the interval go straight
//! to the inner service with no allocation of the layer's own.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::TryFutureExt;
use futures_util::future::{Either, ErrInto};
use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{HeaderMap, HeaderValue};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::builder::DEFAULT_UNIVERSE_DOMAIN;
use crate::error::BoxError;

/// How long headers are reused before the credentials are asked again, unless set.
pub(crate) const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Adds the headers of a [`Credentials`] to every request. See [`AddCredentials`].
///
/// ```
/// use google_cloud_auth::credentials::Credentials;
/// use longrunning_grpc::{AddCredentialsLayer, StaticToken};
/// use tower::ServiceBuilder;
///
/// let credentials = Credentials::from(StaticToken::new("ya29.token")?);
/// let service = ServiceBuilder::new()
///     .layer(AddCredentialsLayer::new(credentials))
///     .service_fn(|request: http::Request<()>| async move {
///         Ok::<_, std::convert::Infallible>(request.headers().contains_key("authorization"))
///     });
/// # let _ = service;
/// # Ok::<(), longrunning_grpc::Error>(())
/// ```
#[derive(Clone)]
pub struct AddCredentialsLayer {
    state: Option<Arc<AuthState>>,
}

impl AddCredentialsLayer {
    /// A layer that authenticates requests with `credentials`, asking them again for headers
    /// at most once a second (see [`AddCredentialsLayer::check_interval`]).
    pub fn new(credentials: Credentials) -> Self {
        Self::with_interval(credentials, DEFAULT_CHECK_INTERVAL)
    }

    pub(crate) fn with_interval(credentials: Credentials, check_interval: Duration) -> Self {
        Self {
            state: Some(Arc::new(AuthState {
                credentials,
                check_interval,
                last: RwLock::new(None),
                universe: None,
                mismatch: OnceLock::new(),
            })),
        }
    }

    /// Requires the credentials' universe domain (none counts as `googleapis.com`) to be
    /// `universe`: the first request that gets headers asks them, and every request fails
    /// if it differs. Credentials whose headers are empty (anonymous) are not checked.
    pub(crate) fn expect_universe(self, universe: Option<String>) -> Self {
        match self.state {
            Some(state) => Self {
                state: Some(Arc::new(AuthState {
                    credentials: state.credentials.clone(),
                    check_interval: state.check_interval,
                    last: RwLock::new(None),
                    universe,
                    mismatch: OnceLock::new(),
                })),
            },
            None => self,
        }
    }

    /// How long the last headers are reused before the credentials are asked again.
    /// `Duration::ZERO` asks on every request. A request that finds the headers older than
    /// this waits for the credentials' answer; the others pass straight through.
    ///
    /// Google's credentials refresh a token minutes before it expires (about 4 minutes), so
    /// headers a second old are as good as new, and any interval shorter than that sends
    /// only valid tokens. Shorten it only for a provider whose headers change faster.
    /// Failures are never reused: the next request asks again. No effect on
    /// [`AddCredentialsLayer::anonymous`]. Default: 1 s.
    #[must_use]
    pub fn check_interval(self, interval: Duration) -> Self {
        match self.state {
            Some(state) => Self::with_interval(state.credentials.clone(), interval)
                .expect_universe(state.universe.clone()),
            None => self,
        }
    }

    /// A layer that adds nothing: requests pass straight through, with no credentials
    /// lookup and no allocation.
    pub fn anonymous() -> Self {
        Self { state: None }
    }
}

impl fmt::Debug for AddCredentialsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddCredentialsLayer")
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AddCredentialsLayer {
    type Service = AddCredentials<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddCredentials {
            inner,
            state: self.state.clone(),
        }
    }
}

/// A service that adds the headers of a [`Credentials`] (usually `authorization`) to each
/// request before passing it to the inner service.
///
/// The first request waits for the first headers; later ones reuse them until the check
/// interval ([`AddCredentialsLayer::check_interval`]) passes, and the first request after
/// that asks the credentials again. If the credentials fail, the request is not sent and
/// the error (a [`CredentialsFailed`] in the error chain) is reported as a credentials error
/// by [`crate::OperationsClient`]; failures are never cached.
#[derive(Clone)]
pub struct AddCredentials<S> {
    inner: S,
    state: Option<Arc<AuthState>>,
}

impl<S> AddCredentials<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> fmt::Debug for AddCredentials<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddCredentials").finish_non_exhaustive()
    }
}

struct AuthState {
    credentials: Credentials,
    check_interval: Duration,
    last: RwLock<Option<Last>>,
    /// The universe the credentials must belong to, if checked.
    universe: Option<String>,
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
    /// Copies the last headers into `target` if they were checked within the interval.
    fn add_fresh(&self, target: &mut HeaderMap) -> bool {
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
    async fn add_asked(&self, target: &mut HeaderMap) -> Result<(), BoxError> {
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

impl<S, B> Service<http::Request<B>> for AddCredentials<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Either<
        ErrInto<S::Future, BoxError>,
        Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(state) = &self.state else {
            return Either::Left(self.inner.call(request).err_into());
        };
        if state.add_fresh(request.headers_mut()) {
            return Either::Left(self.inner.call(request).err_into());
        }
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = state.clone();
        Either::Right(Box::pin(async move {
            state.add_asked(request.headers_mut()).await?;
            inner.call(request).await.map_err(Into::into)
        }))
    }
}

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

/// Credentials that send one fixed bearer token, e.g. one printed by
/// `gcloud auth print-access-token`.
///
/// The token is never shown by `Debug`, and the header value is marked sensitive.
///
/// ```
/// use google_cloud_auth::credentials::Credentials;
/// use longrunning_grpc::StaticToken;
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::{ServiceExt, service_fn};

    use super::*;

    /// The inner service: answers with the request's `authorization` header, if any, and
    /// whether it was marked sensitive.
    fn echo() -> impl Service<
        http::Request<()>,
        Response = Option<(String, bool)>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        service_fn(|request: http::Request<()>| async move {
            let auth = request.headers().get(http::header::AUTHORIZATION);
            Ok(auth.map(|v| (v.to_str().unwrap().to_owned(), v.is_sensitive())))
        })
    }

    /// Answers `Bearer token-N` on its N-th ask (a new tag each time), or fails if told to.
    #[derive(Debug, Default)]
    struct Counting {
        asked: AtomicUsize,
        fail: bool,
    }

    impl CredentialsProvider for Counting {
        async fn headers(
            &self,
            _: http::Extensions,
        ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
            let n = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail {
                return Err(CredentialsError::from_msg(true, "no token today"));
            }
            let mut headers = HeaderMap::new();
            let value = HeaderValue::try_from(format!("Bearer token-{n}")).unwrap();
            headers.insert(http::header::AUTHORIZATION, value);
            Ok(CacheableResource::New {
                entity_tag: EntityTag::new(),
                data: headers,
            })
        }

        async fn universe_domain(&self) -> Option<String> {
            None
        }
    }

    fn layer_over(provider: &Arc<Counting>, interval: Duration) -> AddCredentialsLayer {
        #[derive(Debug)]
        struct Lent(Arc<Counting>);
        impl CredentialsProvider for Lent {
            async fn headers(
                &self,
                e: http::Extensions,
            ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
                self.0.headers(e).await
            }
            async fn universe_domain(&self) -> Option<String> {
                None
            }
        }
        AddCredentialsLayer::new(Credentials::from(Lent(provider.clone()))).check_interval(interval)
    }

    async fn send<S>(service: &S) -> Result<Option<(String, bool)>, BoxError>
    where
        S: Service<http::Request<()>, Response = Option<(String, bool)>, Error = BoxError> + Clone,
    {
        service.clone().oneshot(http::Request::new(())).await
    }

    #[tokio::test]
    async fn adds_the_credentials_headers_marked_sensitive() {
        let credentials = Credentials::from(StaticToken::new("secret").unwrap());
        let service = AddCredentialsLayer::new(credentials).layer(echo());

        let seen = send(&service).await.unwrap();

        assert_eq!(seen, Some(("Bearer secret".to_owned(), true)));
    }

    #[tokio::test]
    async fn anonymous_adds_nothing() {
        let service = AddCredentialsLayer::anonymous().layer(echo());

        assert_eq!(send(&service).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn reuses_headers_within_the_interval_and_asks_again_after_it() {
        let provider = Arc::new(Counting::default());
        let service = layer_over(&provider, Duration::from_secs(1)).layer(echo());

        let first = send(&service).await.unwrap().unwrap().0;
        tokio::time::sleep(Duration::from_millis(999)).await;
        let reused = send(&service).await.unwrap().unwrap().0;
        tokio::time::sleep(Duration::from_millis(1)).await;
        let asked_again = send(&service).await.unwrap().unwrap().0;

        assert_eq!(first, "Bearer token-1");
        assert_eq!(reused, "Bearer token-1");
        assert_eq!(asked_again, "Bearer token-2");
        assert_eq!(provider.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failure_stops_the_request_and_is_not_reused() {
        let provider = Arc::new(Counting {
            fail: true,
            ..Default::default()
        });
        let reached = Arc::new(AtomicUsize::new(0));
        let inner = {
            let reached = reached.clone();
            service_fn(move |_: http::Request<()>| {
                reached.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(None) }
            })
        };
        let service = layer_over(&provider, Duration::from_secs(60)).layer(inner);

        for _ in 0..2 {
            let err = send(&service).await.unwrap_err();
            assert!(err.downcast_ref::<CredentialsFailed>().is_some(), "{err}");
        }
        assert_eq!(reached.load(Ordering::SeqCst), 0, "nothing was sent");
        assert_eq!(provider.asked.load(Ordering::SeqCst), 2, "asked each time");
    }

    #[test]
    fn the_inner_service_is_reachable() {
        let mut service = AddCredentialsLayer::anonymous().layer(7_u8);
        assert_eq!(*service.get_ref(), 7);
        *service.get_mut() = 8;
        assert_eq!(service.into_inner(), 8);
    }
}
