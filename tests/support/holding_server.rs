//! A tonic server whose `GetOperation` holds every call until the test opens its gate, and
//! counts the calls in its hands, so a test can ask how many it held at once.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use longrunning_grpc::pb::operations_server::{Operations, OperationsServer};
use longrunning_grpc::pb::{self};
use tonic::{Request, Response, Status};

/// What the server counted.
#[derive(Debug, Default)]
pub struct Held {
    in_hand: AtomicUsize,
    peak: AtomicUsize,
    answered: AtomicUsize,
}

impl Held {
    /// The most calls the server had in its hands at the same time.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How many calls it holds now.
    pub fn in_hand(&self) -> usize {
        self.in_hand.load(Ordering::SeqCst)
    }

    /// How many calls it answered.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

struct Holding {
    gate: tokio::sync::watch::Receiver<bool>,
    held: Arc<Held>,
}

/// Opens the server's gate: every call held, and every later one, is answered.
pub struct Gate(tokio::sync::watch::Sender<bool>);

impl Gate {
    pub fn open(&self) {
        let _ = self.0.send(true);
    }
}

#[tonic::async_trait]
impl Operations for Holding {
    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let now = self.held.in_hand.fetch_add(1, Ordering::SeqCst) + 1;
        self.held.peak.fetch_max(now, Ordering::SeqCst);
        let _ = self.gate.clone().wait_for(|open| *open).await;
        self.held.in_hand.fetch_sub(1, Ordering::SeqCst);
        self.held.answered.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(pb::Operation {
            name: request.into_inner().name,
            ..Default::default()
        }))
    }

    async fn list_operations(
        &self,
        _: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        Err(Status::unimplemented("only GetOperation"))
    }

    async fn delete_operation(
        &self,
        _: Request<pb::DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("only GetOperation"))
    }

    async fn cancel_operation(
        &self,
        _: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("only GetOperation"))
    }

    async fn wait_operation(
        &self,
        _: Request<pb::WaitOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        Err(Status::unimplemented("only GetOperation"))
    }
}

/// Serves on `127.0.0.1` with a cap of `streams` per connection, holding each
/// `GetOperation` until the gate opens.
pub async fn serve(streams: u32) -> (SocketAddr, Arc<Held>, Gate) {
    let (open, gate) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Held::default());
    let service = OperationsServer::new(Holding {
        gate,
        held: held.clone(),
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .max_concurrent_streams(streams)
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (addr, held, Gate(open))
}
