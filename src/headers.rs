//! The request headers Google front ends expect, besides the credentials'.

use std::sync::LazyLock;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};

use crate::Error;

// Parsed once: header names and the constant value are cloned per call (a reference count)
// rather than validated again.

/// The header name `x-goog-request-params`: routes the request to the right backend
/// (`name=<percent-encoded name>`).
pub(crate) static X_GOOG_REQUEST_PARAMS: LazyLock<AsciiMetadataKey> =
    LazyLock::new(|| AsciiMetadataKey::from_static("x-goog-request-params"));
/// The header name `x-goog-api-client`: identifies the client library and its runtime.
pub(crate) static X_GOOG_API_CLIENT: LazyLock<AsciiMetadataKey> =
    LazyLock::new(|| AsciiMetadataKey::from_static("x-goog-api-client"));
/// The header name `x-goog-user-project`: the project billed for quota.
pub(crate) static X_GOOG_USER_PROJECT: LazyLock<AsciiMetadataKey> =
    LazyLock::new(|| AsciiMetadataKey::from_static("x-goog-user-project"));

/// The value of `x-goog-api-client`: `gl-rust/<rustc> grpc/<tonic> longrunning-grpc/<crate>`.
///
/// `<tonic>` is the major.minor of tonic this crate is built against (Cargo resolves a
/// semver-compatible release; tonic's own `user-agent` header names the exact one).
pub(crate) const API_CLIENT_VALUE: &str = concat!(
    "gl-rust/",
    env!("LRO_RUSTC_VERSION"),
    " grpc/0.14 longrunning-grpc/",
    env!("CARGO_PKG_VERSION")
);

/// [`API_CLIENT_VALUE`] as a header value.
pub(crate) static API_CLIENT_METADATA_VALUE: LazyLock<AsciiMetadataValue> =
    LazyLock::new(|| AsciiMetadataValue::from_static(API_CLIENT_VALUE));

/// The `grpc-timeout` header for `timeout`: at most 8 digits in the finest unit that fits
/// (the gRPC spec). Written by hand rather than with tonic's `Request::set_timeout`, which
/// formats through `format!` and costs a measurable share of a call.
///
/// A value that repeats (the first attempt of every call sends the client's timeout) is
/// indexed by HPACK once and sent as one byte after that. One that does not (the time left
/// for a retry) is marked `indexed: false` and sent as a literal: indexing it would add an
/// entry to both peers' dynamic tables that is never used again and evicts those that are.
pub(crate) fn grpc_timeout(timeout: Duration, indexed: bool) -> AsciiMetadataValue {
    const MAX: u128 = 99_999_999;
    let secs = u128::from(timeout.as_secs());
    let (mut value, unit) = [
        (timeout.as_nanos(), b'n'),
        (timeout.as_micros(), b'u'),
        (timeout.as_millis(), b'm'),
        (secs, b'S'),
        (secs / 60, b'M'),
        (secs / 3600, b'H'),
    ]
    .into_iter()
    .find(|(v, _)| *v <= MAX)
    .unwrap_or((MAX, b'H'));
    let mut buf = [0u8; 9];
    let mut at = buf.len() - 1;
    buf[at] = unit;
    loop {
        at -= 1;
        buf[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Digits and a unit letter are always a valid header value.
    let mut value = AsciiMetadataValue::try_from(&buf[at..])
        .unwrap_or_else(|_| AsciiMetadataValue::from_static("99999999H"));
    // h2's only way to ask for a literal that is never indexed is the sensitive flag.
    value.set_sensitive(!indexed);
    value
}

/// The duration a `grpc-timeout` value stands for (the reverse of [`grpc_timeout`]);
/// `None` for a value that is not one.
pub(crate) fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (unit, digits) = value.split_last()?;
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n.saturating_mul(3600)),
        b'M' => Duration::from_secs(n.saturating_mul(60)),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The header name `grpc-timeout`.
pub(crate) static GRPC_TIMEOUT: LazyLock<AsciiMetadataKey> =
    LazyLock::new(|| AsciiMetadataKey::from_static("grpc-timeout"));

/// The error for a setting that cannot be sent in a header.
pub(crate) fn not_a_header_value(setting: &str) -> Error {
    Error::config(format!(
        "{setting} holds bytes not allowed in a header (CR, LF, controls)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_uses_the_finest_unit_with_at_most_eight_digits() {
        let cases = [
            (Duration::from_nanos(0), "0n"),
            (Duration::from_nanos(99_999_999), "99999999n"),
            (Duration::from_millis(100), "100000u"),
            (Duration::from_secs(10), "10000000u"),
            (Duration::from_secs(1000), "1000000m"),
            (Duration::from_secs(200_000), "200000S"),
            (Duration::from_secs(100_000_000), "1666666M"),
            (Duration::from_secs(6_000_000_000), "1666666H"),
            (Duration::MAX, "99999999H"),
        ];
        for (d, want) in cases {
            assert_eq!(grpc_timeout(d, true).to_str().unwrap(), want, "{d:?}");
        }
    }

    #[test]
    fn parse_grpc_timeout_reverses_it_to_the_units_precision() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_secs(10),
            Duration::from_secs(200_000),
        ] {
            let written = grpc_timeout(d, true);
            assert_eq!(parse_grpc_timeout(written.as_bytes()), Some(d), "{d:?}");
        }
        for bad in [&b""[..], b"10", b"10x", b"-1S", b"S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
