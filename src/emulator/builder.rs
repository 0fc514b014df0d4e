//! [`EmulatorBuilder`]: the emulator's address, front-end checks and TLS, and starting it.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use super::handler::{FrontChecks, Handler};
use super::journal::RecordPath;
use super::state::Shared;
use super::{Emulator, OperationStore};
use crate::pb::admin::admin_server::AdminServer;
use crate::pb::operations_server::OperationsServer;

/// What [`EmulatorBuilder::on_received`] calls.
pub(super) type OnReceived = Arc<dyn Fn(&super::Received) + Send + Sync>;

/// Configures an [`Emulator`] before it starts.
#[derive(Clone)]
#[must_use]
pub struct EmulatorBuilder {
    listen: SocketAddr,
    require_token: Option<String>,
    check_routing_header: bool,
    wait: super::WaitBehaviour,
    max_concurrent_streams: Option<u32>,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Made with the builder, so services added beside Operations can hold it.
    store: OperationStore,
    /// Services served beside Operations.
    routes: tonic::service::Routes,
    on_received: Option<OnReceived>,
}

impl std::fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("listen", &self.listen)
            .field(
                "require_token",
                &self.require_token.as_ref().map(|_| "[redacted]"),
            )
            .field("check_routing_header", &self.check_routing_header)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            require_token: None,
            check_routing_header: false,
            wait: super::WaitBehaviour::Hold,
            max_concurrent_streams: None,
            tls: None,
            store: OperationStore {
                shared: Arc::new(Shared::new(RandomState::new().build_hasher().finish())),
            },
            routes: tonic::service::Routes::default(),
            on_received: None,
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

    /// How `WaitOperation` is answered: held as the method says, `UNIMPLEMENTED`, or at
    /// once. Default: [`WaitBehaviour::Hold`](super::WaitBehaviour::Hold).
    pub fn wait_operation(mut self, behaviour: super::WaitBehaviour) -> Self {
        self.wait = behaviour;
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

    /// Calls `hook` with each call of `google.longrunning.Operations` as it is recorded in
    /// the journal (to write a journal file, say). It runs on the server's task: keep it
    /// short. Default: none.
    pub fn on_received(mut self, hook: impl Fn(&super::Received) + Send + Sync + 'static) -> Self {
        self.on_received = Some(Arc::new(hook));
        self
    }

    /// Binds the socket and starts serving: `google.longrunning.Operations`, the
    /// emulator's admin service (`longrunning_grpc.emulator.v1.Admin`), the standard health
    /// service (`grpc.health.v1.Health`, SERVING for both from the start) and server
    /// reflection (v1 and v1alpha, for grpcurl, grpcui, Postman), beside any added
    /// services.
    pub async fn start(self) -> std::io::Result<Emulator> {
        if let Some((cert, key)) = &self.tls {
            super::check_tls(cert, key).map_err(|e| {
                let what = if e.about_key() {
                    "the TLS key"
                } else {
                    "the TLS certificate"
                };
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what} {e}"))
            })?;
        }
        let listener = TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let shared = self.store.shared.clone();
        let front = Arc::new(FrontChecks {
            require_token: self
                .require_token
                .map(|t| format!("Bearer {t}").into_bytes()),
            check_routing_header: self.check_routing_header,
            wait: self.wait,
            on_received: self.on_received.clone(),
        });
        let service = RecordPath(OperationsServer::new(Handler {
            shared: shared.clone(),
            front,
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let (memory, pipes) = tokio::sync::mpsc::unbounded_channel::<DuplexStream>();
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
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<OperationsServer<Handler>>().await;
        health
            .set_serving::<AdminServer<super::admin::AdminHandler>>()
            .await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1().map_err(std::io::Error::other)?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(std::io::Error::other)?;
        let admin = AdminServer::new(super::admin::AdminHandler {
            shared: shared.clone(),
        });
        let routes = self
            .routes
            .add_service(service)
            .add_service(admin)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        let router = server.add_routes(routes);
        let task = tokio::spawn(async move {
            // Like `Server::serve`, set TCP_NODELAY on accepted sockets: without it small
            // responses wait for the peer's delayed ACK.
            let tcp = TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .map(|accepted| accepted.map(Accepted::Tcp));
            let pipes = tokio_stream::wrappers::UnboundedReceiverStream::new(pipes)
                .map(|pipe| Ok(Accepted::Memory(pipe)));
            let incoming = futures_util::stream::select(tcp, pipes);
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
            memory,
        })
    }
}

/// A connection the emulator serves: over TCP, or an in-process pipe
/// ([`Emulator::channel`]).
enum Accepted {
    Tcp(TcpStream),
    Memory(DuplexStream),
}

impl Connected for Accepted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match self {
            Accepted::Tcp(tcp) => tcp.connect_info(),
            Accepted::Memory(_) => TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            },
        }
    }
}

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Accepted::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            Accepted::Memory(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Accepted::Tcp(io) => Pin::new(io).poll_write(cx, buf),
            Accepted::Memory(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Accepted::Tcp(io) => Pin::new(io).poll_flush(cx),
            Accepted::Memory(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Accepted::Tcp(io) => Pin::new(io).poll_shutdown(cx),
            Accepted::Memory(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}
