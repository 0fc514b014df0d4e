//! [`AddCredentialsLayer`] and [`AddCredentials`]: a tower layer that adds the credentials'
//! headers (`authorization`, …) to every request.
//!
//! `Credentials::headers` is async, so this cannot be a tonic interceptor (those are sync).
//! Asking the credentials costs an `Extensions` map, a boxed future and a boxed call per
//! request, so the layer reuses the last headers it got for a check interval (see
//! [`AddCredentialsLayer::check_interval`]) and then asks again, passing back the
//! `EntityTag` so an unchanged answer costs no copy. Calls inside the interval go straight
//! to the inner service with no allocation of the layer's own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::TryFutureExt;
use futures_util::future::{Either, ErrInto};
use google_cloud_auth::credentials::Credentials;
use tower_layer::Layer;
use tower_service::Service;

use super::DEFAULT_CHECK_INTERVAL;
use super::cache::AuthState;
use crate::error::BoxError;

/// Adds the headers of a [`Credentials`] to every request. See [`AddCredentials`].
///
/// ```
/// use google_cloud_auth::credentials::Credentials;
/// use longrunning_grpc::auth::{AddCredentialsLayer, StaticToken};
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
            state: Some(Arc::new(AuthState::new(credentials, check_interval, None))),
        }
    }

    /// Requires the credentials' universe domain (none counts as `googleapis.com`) to be
    /// `universe`: the first request that gets headers asks them, and every request fails
    /// if it differs. Credentials whose headers are empty (anonymous) are not checked.
    pub(crate) fn expect_universe(self, universe: Option<String>) -> Self {
        match self.state {
            Some(state) => Self {
                state: Some(Arc::new(AuthState::new(
                    state.credentials.clone(),
                    state.check_interval,
                    universe,
                ))),
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
/// the error (a [`CredentialsFailed`](super::CredentialsFailed) in the error chain) is reported as a credentials error
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use google_cloud_auth::credentials::{CacheableResource, CredentialsProvider, EntityTag};
    use google_cloud_auth::errors::CredentialsError;
    use http::{HeaderMap, HeaderValue};
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::auth::{CredentialsFailed, StaticToken};

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
