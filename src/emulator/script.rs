//! What a scripted operation does: when it completes, how, and how it takes a cancel.

use std::time::Duration;

use prost_types::Any;
use tonic::Code;

use crate::pb::{operation, rpc};

/// When a scripted operation finishes on its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Completion {
    /// Never: it runs until cancelled (if its cancel behaviour allows) or deleted.
    #[default]
    Never,
    /// Already done when inserted.
    Immediately,
    /// This long after it was inserted.
    After(Duration),
    /// At the N-th look: the N-th `GetOperation` or `WaitOperation` answer sees it done.
    /// `WaitOperation` answers such an operation at once (it finishes by looks, not by
    /// time), so a client's waits on it keep their polling schedule.
    AfterPolls(u32),
}

/// How the emulator answers `WaitOperation`, so a client's waits can be tested on each
/// path a real server takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitBehaviour {
    /// Holds the call until the operation is done or the request's `timeout` passes, as
    /// the method specifies (the default).
    #[default]
    Hold,
    /// Answers `UNIMPLEMENTED`, as most Google APIs' servers do.
    Unimplemented,
    /// Answers at once with the operation as it is, ignoring the `timeout`.
    AtOnce,
}

/// What a scripted operation does when `CancelOperation` is called on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnCancel {
    /// Becomes done with error code 1 (`CANCELLED`); the operation is kept.
    #[default]
    Honour,
    /// Answers OK and keeps running (best effort means it may do nothing).
    Ignore,
    /// Answers OK and completes at once with its scripted result.
    CompleteAnyway,
    /// Answers `UNIMPLEMENTED`.
    Unsupported,
}

/// An operation and its script: metadata, when it completes, how, and how it takes a cancel.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptedOperation {
    pub(super) name: String,
    pub(super) metadata: Option<Any>,
    pub(super) completion: Completion,
    pub(super) outcome: operation::Result,
    pub(super) on_cancel: OnCancel,
}

impl ScriptedOperation {
    /// A running operation that never completes on its own, honours cancel, and would
    /// complete with an empty response (`google.protobuf.Empty`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metadata: None,
            completion: Completion::Never,
            outcome: operation::Result::Response(Any {
                type_url: "type.googleapis.com/google.protobuf.Empty".into(),
                value: Vec::new(),
            }),
            on_cancel: OnCancel::Honour,
        }
    }

    /// The operation's metadata. Default: none.
    #[must_use]
    pub fn metadata(mut self, metadata: Any) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// When it completes on its own. Default: [`Completion::Never`].
    #[must_use]
    pub fn completion(mut self, completion: Completion) -> Self {
        self.completion = completion;
        self
    }

    /// Completes with this response. Default: an empty `google.protobuf.Empty`.
    #[must_use]
    pub fn response(mut self, response: Any) -> Self {
        self.outcome = operation::Result::Response(response);
        self
    }

    /// Completes with this error instead of a response.
    #[must_use]
    pub fn error(mut self, code: Code, message: impl Into<String>) -> Self {
        self.outcome = operation::Result::Error(rpc::Status {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        });
        self
    }

    /// Completes with this error, its `google.rpc` details included (as `lro get --output
    /// json` prints them).
    #[must_use]
    pub fn error_with_details(
        mut self,
        code: Code,
        message: impl Into<String>,
        details: Vec<Any>,
    ) -> Self {
        self.outcome = operation::Result::Error(rpc::Status {
            code: code as i32,
            message: message.into(),
            details,
        });
        self
    }

    /// What a cancel does. Default: [`OnCancel::Honour`].
    #[must_use]
    pub fn on_cancel(mut self, on_cancel: OnCancel) -> Self {
        self.on_cancel = on_cancel;
        self
    }

    /// The operation's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
