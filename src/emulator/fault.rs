//! Faults: upcoming calls failed with a chosen status.

use std::time::Duration;

use prost::Message;
use prost_types::Any;
use tonic::{Code, Status};

use super::Method;
use crate::pb::rpc;

/// Fails upcoming calls with a chosen status.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub(super) method: Option<Method>,
    pub(super) name: Option<String>,
    pub(super) probability: Option<(f64, u64)>,
    code: Code,
    message: String,
    pub(super) remaining: usize,
    details: Vec<Any>,
    pushback: Option<String>,
}

impl Fault {
    /// Fails the next `count` calls (of any method) with `code`.
    pub fn new(code: Code, count: usize) -> Self {
        Self {
            method: None,
            name: None,
            probability: None,
            code,
            message: format!("injected {}", crate::error::code_name(code)),
            remaining: count,
            details: Vec::new(),
            pushback: None,
        }
    }

    /// Only calls of this method are failed (and counted).
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Only calls about this operation (the request's `name`) are failed (and counted).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Each matching call fails with this probability (drawn from a generator seeded with
    /// `seed`, so runs repeat); only failed calls count towards the fault's count.
    #[must_use]
    pub fn probability(mut self, probability: f64, seed: u64) -> Self {
        self.probability = Some((probability.clamp(0.0, 1.0), seed));
        self
    }

    /// The status message. Default: `injected <CODE>`.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a `google.rpc.RetryInfo` detail asking the client to wait `delay`.
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        let delay = prost_types::Duration::try_from(delay).unwrap_or_default();
        let info = rpc::RetryInfo {
            retry_delay: Some(delay),
        };
        self.details
            .push(Any::from_msg(&info).expect("encoding to a Vec cannot fail"));
        self
    }

    /// Adds any detail (e.g. a packed `google.rpc.ErrorInfo`).
    #[must_use]
    pub fn detail(mut self, detail: Any) -> Self {
        self.details.push(detail);
        self
    }

    /// Sends a `grpc-retry-pushback-ms` trailer with this value (gRPC A6): a count of
    /// milliseconds sets the client's next attempt, a negative or malformed one tells it
    /// not to retry. Any text is sent as it is, so tests can send malformed ones.
    #[must_use]
    pub fn pushback(mut self, value: impl Into<String>) -> Self {
        self.pushback = Some(value.into());
        self
    }

    pub(super) fn status(&self) -> Status {
        let mut status = if self.details.is_empty() {
            Status::new(self.code, self.message.clone())
        } else {
            let body = rpc::Status {
                code: self.code as i32,
                message: self.message.clone(),
                details: self.details.clone(),
            };
            Status::with_details(self.code, self.message.clone(), body.encode_to_vec().into())
        };
        if let Some(value) = &self.pushback
            && let Ok(value) = value.parse()
        {
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", value);
        }
        status
    }
}
