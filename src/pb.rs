//! The generated protobuf messages and gRPC stubs.
//!
//! The messages of `google.longrunning` sit at the top of this module and those of
//! `google.rpc` in [`rpc`]. The raw generated client is [`operations_client::OperationsClient`]
//! and the server trait is [`operations_server::Operations`]; most users want the wrapped
//! [`crate::OperationsClient`] instead.

#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags
)]
mod generated {
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
        pub mod longrunning {
            tonic::include_proto!("google.longrunning");
        }
    }
    #[cfg(feature = "emulator")]
    pub mod longrunning_grpc {
        pub mod emulator {
            pub mod v1 {
                tonic::include_proto!("longrunning_grpc.emulator.v1");
            }
        }
    }
}

/// The emulator's admin service, `longrunning_grpc.emulator.v1.Admin`.
#[cfg(feature = "emulator")]
pub use generated::longrunning_grpc::emulator::v1 as admin;

/// Every vendored proto file and its imports, as an encoded `FileDescriptorSet`: what the
/// emulator's server reflection serves, and the types the JSON mapping knows.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/longrunning_grpc.fds.bin"));

pub use generated::google::longrunning::*;

/// Messages of the `google.rpc` package: [`rpc::Status`], [`rpc::Code`] and the standard error
/// details ([`rpc::ErrorInfo`], [`rpc::RetryInfo`], …).
pub mod rpc {
    pub use super::generated::google::rpc::*;
}

/// The type name of an `Any`'s type URL: what follows its last `/`.
///
/// ```
/// assert_eq!(
///     longrunning_grpc::pb::type_name("type.googleapis.com/google.rpc.ErrorInfo"),
///     "google.rpc.ErrorInfo"
/// );
/// ```
pub fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}
