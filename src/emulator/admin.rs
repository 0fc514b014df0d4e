//! The emulator's admin service (`longrunning_grpc.emulator.v1.Admin`, in
//! `proto/longrunning_grpc/emulator/v1/admin.proto`): insert operations, reset, inject
//! faults and read the journal at run time, from any language.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Code, Request, Response, Status};

use super::state::{Shared, State};
use super::{Completion, Fault, Method, OnCancel, ScriptedOperation};
use crate::pb::admin::{self, admin_server::Admin, insert_operation_request as insert};
use crate::pb::{self, operation};

pub(super) struct AdminHandler {
    pub(super) shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Admin for AdminHandler {
    async fn insert_operation(
        &self,
        request: Request<admin::InsertOperationRequest>,
    ) -> Result<Response<pb::Operation>, Status> {
        let r = request.into_inner();
        crate::name::validate_name(&r.name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let completion = match r.complete {
            None => Completion::Never,
            Some(insert::Complete::Now(true)) => Completion::Immediately,
            Some(insert::Complete::Now(false)) => Completion::Never,
            Some(insert::Complete::AfterPolls(n)) => Completion::AfterPolls(n),
            Some(insert::Complete::AfterS(s)) => Completion::After(
                Duration::try_from_secs_f64(s)
                    .map_err(|_| Status::invalid_argument(format!("after_s {s} is not seconds")))?,
            ),
        };
        let on_cancel = match admin::OnCancel::try_from(r.on_cancel) {
            Ok(admin::OnCancel::Honour) => OnCancel::Honour,
            Ok(admin::OnCancel::Ignore) => OnCancel::Ignore,
            Ok(admin::OnCancel::CompleteAnyway) => OnCancel::CompleteAnyway,
            Ok(admin::OnCancel::Unsupported) => OnCancel::Unsupported,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "on_cancel {} is not an OnCancel",
                    r.on_cancel
                )));
            }
        };
        let mut op = ScriptedOperation::new(&r.name)
            .completion(completion)
            .on_cancel(on_cancel);
        if let Some(metadata) = r.metadata {
            op = op.metadata(metadata);
        }
        match r.outcome {
            Some(insert::Outcome::Response(response)) => op = op.response(response),
            Some(insert::Outcome::Error(status)) => {
                if status.code == 0 {
                    return Err(Status::invalid_argument("an error's code cannot be 0 (OK)"));
                }
                op.outcome = operation::Result::Error(status);
            }
            None => {}
        }
        let store = super::OperationStore {
            shared: self.shared.clone(),
        };
        Ok(Response::new(store.insert(op)))
    }

    async fn reset(
        &self,
        _: Request<admin::ResetRequest>,
    ) -> Result<Response<admin::ResetResponse>, Status> {
        *self.shared.lock() = State::default();
        self.shared.changed.notify_waiters();
        Ok(Response::new(admin::ResetResponse {}))
    }

    async fn inject_fault(
        &self,
        request: Request<admin::InjectFaultRequest>,
    ) -> Result<Response<admin::InjectFaultResponse>, Status> {
        let r = request.into_inner();
        if !(1..=16).contains(&r.code) {
            return Err(Status::invalid_argument(format!(
                "code {} is not a gRPC error code (1 to 16)",
                r.code
            )));
        }
        if r.count == 0 {
            return Err(Status::invalid_argument("count must be at least 1"));
        }
        let count = usize::try_from(r.count).unwrap_or(usize::MAX);
        let mut fault = Fault::new(Code::from_i32(r.code), count);
        if !r.method.is_empty() {
            let method = Method::from_name(&r.method).ok_or_else(|| {
                Status::invalid_argument(format!("method {:?} is not one of Operations'", r.method))
            })?;
            fault = fault.method(method);
        }
        if !r.name.is_empty() {
            fault = fault.name(r.name);
        }
        if !r.message.is_empty() {
            fault = fault.message(r.message);
        }
        if r.retry_delay_s > 0.0 {
            let delay = Duration::try_from_secs_f64(r.retry_delay_s).map_err(|_| {
                Status::invalid_argument(format!(
                    "retry_delay_s {} is not seconds",
                    r.retry_delay_s
                ))
            })?;
            fault = fault.retry_delay(delay);
        }
        self.shared.lock().inject(fault);
        Ok(Response::new(admin::InjectFaultResponse {}))
    }

    async fn read_journal(
        &self,
        _: Request<admin::ReadJournalRequest>,
    ) -> Result<Response<admin::ReadJournalResponse>, Status> {
        let entries = self
            .shared
            .lock()
            .journal
            .iter()
            .map(|received| admin::JournalEntry {
                method: received.method.as_str().to_owned(),
                name: received.name.clone(),
                headers: received.masked_headers().into_iter().collect(),
                code: crate::error::code_name(received.code).to_owned(),
                unix_ms: received
                    .time
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            })
            .collect();
        Ok(Response::new(admin::ReadJournalResponse { entries }))
    }
}
