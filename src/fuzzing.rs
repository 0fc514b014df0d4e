//! The checks run by the fuzz targets in `fuzz/` and by the regression tests that replay
//! their findings. Not part of the public API.

use prost::Message;

use crate::name::routing_header;
use crate::pb::{self, rpc};
use crate::{Error, ErrorDetails, OperationName, validate_name};

/// Names: validation and parsing never panic; accepted names are clean and round-trip.
pub fn name_bytes(data: &[u8]) {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    let valid = validate_name(name);
    if let Err(e) = &valid {
        assert!(e.is_invalid_input());
        let _ = e.to_string();
    }
    if let Ok(parsed) = OperationName::parse(name) {
        assert!(valid.is_ok());
        assert_eq!(parsed.to_string(), name);
        let rebuilt = format!(
            "projects/{}/locations/{}/operations/{}",
            parsed.project(),
            parsed.location(),
            parsed.operation()
        );
        assert_eq!(rebuilt, name);
    }
}

/// The routing header holds only unreserved ASCII and `%XX` escapes, and decodes back.
pub fn routing_header_bytes(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let header = routing_header("name", value);
    let encoded = header.strip_prefix("name=").expect("key first");
    // Only unreserved characters and well-formed `%XX` escapes...
    let bytes = encoded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            assert!(
                bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
                "bad escape at {i}"
            );
            i += 3;
        } else {
            let b = bytes[i];
            assert!(
                b.is_ascii_alphanumeric() || b"-._~".contains(&b),
                "raw byte {b:#x}"
            );
            i += 1;
        }
    }
    // ...that decode back to the value.
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    assert_eq!(decoded, value.as_bytes());
}

/// An `Operation` decoded from arbitrary bytes: every accessor and rendering never panics.
pub fn operation_bytes(data: &[u8]) {
    let Ok(op) = pb::Operation::decode(data) else {
        return;
    };
    let _ = (op.is_done(), op.is_cancelled(), op.error(), op.result());
    let _ = op
        .response_as::<prost_types::Timestamp>()
        .map_err(|e| e.to_string());
    let _ = op
        .metadata_as::<prost_types::Duration>()
        .map_err(|e| e.to_string());
    let _ = op
        .metadata_as::<rpc::ErrorInfo>()
        .map_err(|e| e.to_string());
    let _ = format!("{op:?}");
    #[cfg(feature = "json")]
    {
        let _ = crate::json::operation(&op).to_string();
    }
}

/// A `google.rpc.Status` (as in `grpc-status-details-bin`) from arbitrary bytes: decoding its
/// details, and rendering the resulting error, never panic.
pub fn status_bytes(data: &[u8]) {
    let details = ErrorDetails::from_status_bytes(data);
    let _ = details.retry_delay();
    let code = data.first().map_or(0, |b| i32::from(*b % 17));
    let message = String::from_utf8_lossy(data.get(1..).unwrap_or_default()).into_owned();
    let status = tonic::Status::with_details(code.into(), message, data.to_vec().into());
    let error = Error::from(status);
    let _ = (error.to_string(), format!("{error:?}"), error.code());
    if let Ok(status) = rpc::Status::decode(data) {
        #[cfg(feature = "json")]
        let _ = crate::json::rpc_status(&status).to_string();
        let _ = status;
    }
    #[cfg(feature = "json")]
    let _ = crate::json::error(&error).to_string();
}
