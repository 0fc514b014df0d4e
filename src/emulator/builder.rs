//! [`EmulatorBuilder`]: the emulator's address, front-end checks and TLS, and starting it.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;

use super::handler::{FrontChecks, Handler};
use super::journal::RecordPath;
use super::state::Shared;
use super::{Emulator, OperationStore};
use crate::pb::operations_server::OperationsServer;

/// Configures an [`Emulator`] before it starts.
#[derive(Clone, Debug)]
#[must_use]
pub struct EmulatorBuilder {
    listen: SocketAddr,
    require_token: Option<String>,
    check_routing_header: bool,
    max_concurrent_streams: Option<u32>,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Made with the builder, so services added beside Operations can hold it.
    store: OperationStore,
    /// Services served beside Operations.
    routes: tonic::service::Routes,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            require_token: None,
            check_routing_header: false,
            max_concurrent_streams: None,
            tls: None,
            store: OperationStore {
                shared: Arc::new(Shared::new(RandomState::new().build_hasher().finish())),
            },
            routes: tonic::service::Routes::default(),
        }
    }
}

impl EmulatorBuilder {
    /// The address to listen on. Default: `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Answers `UNAUTHENTICATED` unless `authorization: Bearer <token>` is sent.
    /// Default: no check.
    pub fn require_token(mut self, token: impl Into<String>) -> Self {
        self.require_token = Some(token.into());
        self
    }

    /// Answers `INVALID_ARGUMENT` unless `x-goog-request-params` carries `name=` with the
    /// request's name (percent-encoded or not). Default: no check.
    pub fn check_routing_header(mut self, check: bool) -> Self {
        self.check_routing_header = check;
        self
    }

    /// Caps concurrent streams per HTTP/2 connection, as Google front ends do (about 100).
    /// Default: no cap.
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = Some(streams);
        self
    }

    /// Serves TLS with this certificate chain and private key (PEM) instead of plaintext;
    /// the endpoint is then `https://`. Default: plaintext.
    pub fn tls(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The operations the emulator will serve, to hand to a service added with
    /// [`add_service`](Self::add_service) (one of your API's, whose methods return
    /// operations): what it inserts is what `GetOperation` then answers. Builders cloned
    /// from this one share it.
    pub fn operations(&self) -> OperationStore {
        self.store.clone()
    }

    /// Serves another gRPC service beside `google.longrunning.Operations`, on the same
    /// port: a tonic server (`FooServer::new(..)`), as with `tonic::transport::Server`'s
    /// `add_service`. Calls of it are not in the journal, and the front-end checks do not
    /// apply to it.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower_service::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes = self.routes.add_service(service);
        self
    }

    /// Binds the socket and starts serving.
    pub async fn start(self) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let shared = self.store.shared.clone();
        let front = Arc::new(FrontChecks {
            require_token: self
                .require_token
                .map(|t| format!("Bearer {t}").into_bytes()),
            check_routing_header: self.check_routing_header,
        });
        let service = RecordPath(OperationsServer::new(Handler {
            shared: shared.clone(),
            front,
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let mut server = tonic::transport::Server::builder();
        if let Some(streams) = self.max_concurrent_streams {
            server = server.max_concurrent_streams(streams);
        }
        let scheme = if let Some((cert, key)) = &self.tls {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            server = server
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(std::io::Error::other)?;
            "https"
        } else {
            "http"
        };
        let router = server.add_routes(self.routes.add_service(service));
        let task = tokio::spawn(async move {
            // Like `Server::serve`, set TCP_NODELAY on accepted sockets: without it small
            // responses wait for the peer's delayed ACK.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                tracing::warn!(%error, "emulator stopped with an error");
            }
        });
        Ok(Emulator {
            addr,
            scheme,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}
