//! What a built client holds ([`Config`], shared by its clones) and how the builder's
//! settings become it.

use std::sync::Arc;
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use tonic::client::Grpc;
use tonic::metadata::AsciiMetadataValue;
use tower_layer::Layer;

use super::builder::{CredentialsChoice, OperationsClientBuilder};
use crate::auth::{AddCredentialsLayer, CLOUD_PLATFORM_SCOPE, StaticToken};
use crate::client::OperationsClient;
use crate::policy::{PollingPolicy, RetryPolicy, Throttler};
use crate::transport::{CheckResponses, Endpoint, GrpcTransport, Transport};
use crate::wait::ServerWait;
use crate::{Error, headers};

/// A client's settings, shared by its clones; an override copies them once.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The URL of the connections the builder opened; none over a transport of the user's.
    pub(crate) endpoint: Option<String>,
    /// The endpoint's host, for the `server.address` of call spans.
    pub(crate) server_address: Option<String>,
    pub(crate) quota_project: Option<AsciiMetadataValue>,
    pub(crate) timeout: Timeout,
    pub(crate) retry: RetryPolicy,
    pub(crate) polling: PollingPolicy,
    /// Headers a request ends up with (ours, the credentials', tonic's), so its map is
    /// allocated once at the right size instead of growing on the way.
    pub(crate) header_capacity: usize,
    /// The transport the builder made, for its counts; none over one of the user's.
    pub(crate) transport: Option<Transport>,
    /// The retries' adaptive throttling: one window for the client and all its clones
    /// (an override of the retry policy keeps it).
    pub(crate) throttler: Arc<Throttler>,
    /// Whether the server serves `WaitOperation`, as learnt by the client and its clones.
    pub(crate) server_wait: Arc<ServerWait>,
}

/// Each call's deadline, with the `grpc-timeout` every first attempt sends for it, written
/// once here.
#[derive(Clone, Debug)]
pub(crate) struct Timeout {
    duration: Duration,
    header: AsciiMetadataValue,
}

impl Timeout {
    pub(crate) fn new(duration: Duration) -> Self {
        Self {
            duration,
            header: headers::grpc_timeout(duration, true),
        }
    }

    pub(crate) fn duration(&self) -> Duration {
        self.duration
    }

    pub(crate) fn header(&self) -> &AsciiMetadataValue {
        &self.header
    }
}

impl OperationsClientBuilder {
    /// `user-agent` for the connections the builder opens: the user's product token, then
    /// this crate's. Checked by every build, whichever transport it uses.
    pub(super) fn user_agent_header(&self) -> Result<http::HeaderValue, Error> {
        let ours = concat!("longrunning-grpc/", env!("CARGO_PKG_VERSION"));
        let value = match &self.user_agent {
            Some(ua) => http::HeaderValue::try_from(format!("{ua} {ours}")),
            None => Ok(http::HeaderValue::from_static(ours)),
        };
        value.map_err(|_| headers::not_a_header_value("user_agent"))
    }

    /// `endpoint`: the one the builder's own connections reach, whose origin requests carry
    /// (a transport of the user's adds its own). `universe`: the one the credentials'
    /// must match.
    pub(super) fn build_inner<T: GrpcTransport>(
        self,
        service: T,
        endpoint: Option<(Endpoint, String)>,
        universe: String,
    ) -> Result<OperationsClient<T>, Error> {
        let quota_project = match &self.quota_project {
            Some(p) => Some(
                AsciiMetadataValue::try_from(p.as_str())
                    .map_err(|_| headers::not_a_header_value("quota_project"))?,
            ),
            None => None,
        };
        // A bare token carries no universe, so only real credentials are checked.
        let check_universe = matches!(
            self.credentials,
            CredentialsChoice::Given(_) | CredentialsChoice::Default
        );
        let credentials = match self.credentials {
            // No credentials: skip the auth layer's work entirely.
            CredentialsChoice::Anonymous => None,
            CredentialsChoice::Token(token) => Some(Credentials::from(StaticToken::new(token)?)),
            CredentialsChoice::Given(credentials) => Some(credentials),
            CredentialsChoice::Default => Some(
                google_cloud_auth::credentials::Builder::default()
                    .with_scopes([CLOUD_PLATFORM_SCOPE])
                    .build()
                    .map_err(Error::credentials)?,
            ),
        };
        // grpc-timeout, x-goog-request-params, x-goog-api-client, and tonic's te,
        // content-type and user-agent; then x-goog-user-project and the credentials'.
        let header_capacity =
            6 + usize::from(quota_project.is_some()) + usize::from(credentials.is_some());
        let auth = match credentials {
            Some(credentials) => {
                AddCredentialsLayer::with_interval(credentials, self.credentials_check_interval)
                    .expect_universe(check_universe.then_some(universe))
            }
            None => AddCredentialsLayer::anonymous(),
        };
        let checked = CheckResponses::new(service, self.max_response_size);
        let grpc = match &endpoint {
            Some((endpoint, _)) => Grpc::with_origin(auth.layer(checked), endpoint.origin()),
            None => Grpc::new(auth.layer(checked)),
        }
        .max_decoding_message_size(self.max_response_size);
        Ok(OperationsClient {
            grpc,
            config: Arc::new(Config {
                server_address: endpoint.as_ref().map(|(e, _)| e.host().to_owned()),
                endpoint: endpoint.map(|(_, url)| url),
                quota_project,
                timeout: Timeout::new(self.timeout),
                retry: self.retry,
                polling: self.polling,
                header_capacity,
                transport: None,
                throttler: Arc::default(),
                server_wait: Arc::default(),
            }),
        })
    }
}
