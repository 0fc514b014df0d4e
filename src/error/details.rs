//! [`ErrorDetails`]: the standard `google.rpc` details a status carries, decoded.

use std::time::Duration;

use prost::Message;

use crate::pb::{rpc, type_name};

/// Defines [`ErrorDetails`] from one list of the standard `google.rpc` detail types: its
/// fields, how an `Any` finds its field, and how the fields are packed back.
macro_rules! error_details {
    ($($(#[$doc:meta])* $field:ident: $ty:ident,)*) => {
        /// The standard `google.rpc` error details carried by a status.
        ///
        /// Each known detail type is decoded into its field; anything else (or a known type
        /// that fails to decode) is kept as-is in [`ErrorDetails::other`].
        #[derive(Clone, Debug, Default, PartialEq)]
        #[non_exhaustive]
        pub struct ErrorDetails {
            $($(#[$doc])* pub $field: Option<rpc::$ty>,)*
            /// Details of other types, undecoded.
            pub other: Vec<prost_types::Any>,
        }

        impl ErrorDetails {
            pub(crate) const EMPTY: ErrorDetails = ErrorDetails {
                $($field: None,)*
                other: Vec::new(),
            };

            /// Stores `any` in its field if it is a known type that decodes; says whether
            /// it did.
            fn take(&mut self, any: &prost_types::Any) -> bool {
                match type_name(&any.type_url) {
                    $(concat!("google.rpc.", stringify!($ty)) => put(&mut self.$field, any),)*
                    _ => false,
                }
            }

            /// Every detail packed as an `Any`: the known ones in the order of the fields,
            /// then the others.
            pub fn to_anys(&self) -> Vec<prost_types::Any> {
                let mut out = Vec::new();
                $(if let Some(m) = &self.$field
                    && let Ok(packed) = prost_types::Any::from_msg(m)
                {
                    out.push(packed);
                })*
                out.extend(self.other.iter().cloned());
                out
            }
        }
    };
}

error_details! {
    /// `google.rpc.ErrorInfo`: the reason, domain and metadata.
    error_info: ErrorInfo,
    /// `google.rpc.RetryInfo`: how long to wait before retrying.
    retry_info: RetryInfo,
    /// `google.rpc.DebugInfo`.
    debug_info: DebugInfo,
    /// `google.rpc.QuotaFailure`.
    quota_failure: QuotaFailure,
    /// `google.rpc.PreconditionFailure`.
    precondition_failure: PreconditionFailure,
    /// `google.rpc.BadRequest`.
    bad_request: BadRequest,
    /// `google.rpc.RequestInfo`.
    request_info: RequestInfo,
    /// `google.rpc.ResourceInfo`.
    resource_info: ResourceInfo,
    /// `google.rpc.Help`.
    help: Help,
    /// `google.rpc.LocalizedMessage`.
    localized_message: LocalizedMessage,
}

fn put<M: prost::Name + Default>(slot: &mut Option<M>, any: &prost_types::Any) -> bool {
    match any.to_msg::<M>() {
        Ok(m) => {
            *slot = Some(m);
            true
        }
        Err(_) => false,
    }
}

impl ErrorDetails {
    /// Decodes the details of an encoded `google.rpc.Status` (the `grpc-status-details-bin`
    /// trailer). Bytes that are not a valid `Status` give empty details.
    pub fn from_status_bytes(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self::default();
        }
        match rpc::Status::decode(bytes) {
            Ok(status) => Self::from_anys(status.details),
            Err(_) => Self::default(),
        }
    }

    /// Decodes a list of `Any` details, as found in `google.rpc.Status.details`.
    pub fn from_anys(details: impl IntoIterator<Item = prost_types::Any>) -> Self {
        let mut out = Self::default();
        for any in details {
            if !out.take(&any) {
                out.other.push(any);
            }
        }
        out
    }

    /// The server's suggested delay before retrying, from `RetryInfo`, if it is valid.
    pub fn retry_delay(&self) -> Option<Duration> {
        let d = self.retry_info.as_ref()?.retry_delay.as_ref()?;
        let secs = u64::try_from(d.seconds).ok()?;
        let nanos = u32::try_from(d.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        Some(Duration::new(secs, nanos))
    }

    /// Whether no detail was sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::EMPTY
    }
}
