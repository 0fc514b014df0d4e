//! The gRPC handlers: latency, front-end checks and faults before each call, the answer
//! from the state, and the journal after.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

use super::journal::{Method, RawPath, Received};
use super::state::{Shared, State, parse_filter, under};
use super::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, OnCancel};
use crate::pb::operations_server::Operations;
use crate::pb::{self, operation, rpc};
use crate::policy::later;

/// The gRPC handlers of `google.longrunning.Operations` over the shared state.
#[derive(Clone)]
pub(super) struct Handler {
    pub(super) shared: Arc<Shared>,
    pub(super) front: Arc<FrontChecks>,
}

/// What the emulator checks of each request, as a front end would.
pub(super) struct FrontChecks {
    /// `Bearer <token>`, if the emulator checks it.
    pub(super) require_token: Option<Vec<u8>>,
    pub(super) check_routing_header: bool,
    /// How `WaitOperation` is answered.
    pub(super) wait: super::WaitBehaviour,
    /// Told of each call as it is recorded.
    pub(super) on_received: Option<super::builder::OnReceived>,
}

impl Handler {
    /// Latency, front-end checks and faults, in that order. `Err` is the answer to send.
    async fn front<M>(
        &self,
        request: &Request<M>,
        method: Method,
        name: &str,
    ) -> Result<(), Status> {
        let latency = self.shared.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(expected) = &self.front.require_token {
            let sent = request
                .metadata()
                .get("authorization")
                .map(|v| v.as_bytes());
            if sent != Some(expected.as_slice()) {
                return Err(Status::unauthenticated(
                    "missing or wrong bearer token in authorization",
                ));
            }
        }
        if self.front.check_routing_header {
            check_routing(request.metadata(), name)?;
        }
        match self.shared.lock().fault_for(method, name) {
            Some(status) => Err(status),
            None => Ok(()),
        }
    }

    fn record<M, R>(
        &self,
        request: &Request<M>,
        method: Method,
        name: &str,
        result: &Result<R, Status>,
    ) {
        let received = Received {
            method,
            path: request
                .extensions()
                .get::<RawPath>()
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            name: name.to_owned(),
            metadata: request.metadata().clone(),
            code: match result {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            },
            at: Instant::now(),
            time: std::time::SystemTime::now(),
            peer: request.remote_addr(),
        };
        if let Some(hook) = &self.front.on_received {
            hook(&received);
        }
        self.shared.lock().journal.push(received);
    }

    async fn serve<M, R>(
        &self,
        request: Request<M>,
        method: Method,
        name: &str,
        handle: impl FnOnce(&mut State) -> Result<R, Status>,
    ) -> Result<Response<R>, Status> {
        let result = match self.front(&request, method, name).await {
            Ok(()) => handle(&mut self.shared.lock()),
            Err(status) => Err(status),
        };
        self.record(&request, method, name, &result);
        if method == Method::Cancel || method == Method::Delete {
            self.shared.changed.notify_waiters();
        }
        result.map(Response::new)
    }
}

fn check_routing(metadata: &MetadataMap, name: &str) -> Result<(), Status> {
    let header = metadata
        .get("x-goog-request-params")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Status::invalid_argument("missing x-goog-request-params"))?;
    let matches = header.split('&').any(|pair| {
        pair.strip_prefix("name=").is_some_and(|value| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .is_ok_and(|v| v == name)
        })
    });
    if matches {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "x-goog-request-params {header:?} does not match the request name {name:?}"
        )))
    }
}

#[tonic::async_trait]
impl Operations for Handler {
    async fn list_operations(
        &self,
        request: Request<pb::ListOperationsRequest>,
    ) -> Result<Response<pb::ListOperationsResponse>, Status> {
        let req = request.get_ref().clone();
        let start = if req.page_token.is_empty() {
            Ok(0)
        } else {
            self.shared
                .parse_token(&req.page_token, &req.name, &req.filter)
        };
        let this = self.clone();
        self.serve(request, Method::List, &req.name.clone(), move |state| {
            let start = start?;
            let wanted = parse_filter(&req.filter)?;
            let size = match req.page_size {
                n if n < 0 => {
                    return Err(Status::invalid_argument(format!(
                        "page_size must not be negative, got {n}"
                    )));
                }
                0 => DEFAULT_PAGE_SIZE,
                n => (n as usize).min(MAX_PAGE_SIZE),
            };
            let now = Instant::now();
            let mut operations = Vec::new();
            let mut next = None;
            for (seq, op) in state.ops.range_mut(start..) {
                if !under(&req.name, &op.script.name) {
                    continue;
                }
                op.refresh(now);
                if wanted.is_some_and(|w| w != op.is_done()) {
                    continue;
                }
                if operations.len() == size {
                    next = Some(*seq);
                    break;
                }
                operations.push(op.snapshot());
            }
            Ok(pb::ListOperationsResponse {
                operations,
                next_page_token: next
                    .map(|seq| this.shared.page_token(&req.name, &req.filter, seq))
                    .unwrap_or_default(),
                unreachable: if req.return_partial_success && start == 0 {
                    state.unreachable.clone()
                } else {
                    Vec::new()
                },
            })
        })
        .await
    }

    async fn get_operation(
        &self,
        request: Request<pb::GetOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let name = request.get_ref().name.clone();
        self.serve(request, Method::Get, &name.clone(), move |state| {
            let op = state.op_mut(&name)?;
            op.polls = op.polls.saturating_add(1);
            op.refresh(Instant::now());
            Ok(op.snapshot())
        })
        .await
    }

    async fn delete_operation(
        &self,
        request: Request<pb::DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.get_ref().name.clone();
        self.serve(request, Method::Delete, &name.clone(), move |state| {
            state.remove(&name)
        })
        .await
    }

    async fn cancel_operation(
        &self,
        request: Request<pb::CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.get_ref().name.clone();
        self.serve(request, Method::Cancel, &name.clone(), move |state| {
            let op = state.op_mut(&name)?;
            op.refresh(Instant::now());
            match op.script.on_cancel {
                OnCancel::Unsupported => {
                    return Err(Status::unimplemented(
                        "this operation does not support cancellation",
                    ));
                }
                _ if op.is_done() => {}
                OnCancel::Honour => op.finish(operation::Result::Error(rpc::Status {
                    code: Code::Cancelled as i32,
                    message: "operation cancelled".into(),
                    details: Vec::new(),
                })),
                OnCancel::Ignore => {}
                OnCancel::CompleteAnyway => op.finish(op.script.outcome.clone()),
            }
            Ok(())
        })
        .await
    }

    async fn wait_operation(
        &self,
        request: Request<pb::WaitOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let name = request.get_ref().name.clone();
        let result = match self.front(&request, Method::Wait, &name).await {
            Err(status) => Err(status),
            Ok(()) => match self.front.wait {
                super::WaitBehaviour::Hold => self.wait(&name, request.get_ref().timeout).await,
                super::WaitBehaviour::AtOnce => {
                    self.wait(&name, Some(prost_types::Duration::default()))
                        .await
                }
                super::WaitBehaviour::Unimplemented => Err(Status::unimplemented(
                    "WaitOperation is not implemented by this server",
                )),
            },
        };
        self.record(&request, Method::Wait, &name, &result);
        result.map(Response::new)
    }
}

impl Handler {
    async fn wait(
        &self,
        name: &str,
        timeout: Option<prost_types::Duration>,
    ) -> Result<pb::Operation, Status> {
        let timeout = match timeout {
            Some(t) => Some(
                Duration::try_from(t)
                    .map_err(|_| Status::invalid_argument("timeout must not be negative"))?,
            ),
            None => None,
        };
        let deadline = timeout.map(|t| later(Instant::now(), t));
        loop {
            // Register interest before looking, so a change between the look and the sleep
            // is not missed.
            let changed = self.shared.changed.notified();
            let due = {
                let mut state = self.shared.lock();
                let op = state.op_mut(name)?;
                op.refresh(Instant::now());
                // An operation scripted to finish at its N-th look finishes by looks, not
                // time: the answer is the look, at once.
                if op.is_done() || op.by_looks() || deadline.is_some_and(|d| Instant::now() >= d) {
                    op.polls = op.polls.saturating_add(1);
                    op.refresh(Instant::now());
                    return Ok(op.snapshot());
                }
                op.due_at()
            };
            let wake = match (deadline, due) {
                (Some(d), Some(u)) => Some(d.min(u)),
                (d, u) => d.or(u),
            };
            match wake {
                Some(wake) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(wake) => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}
