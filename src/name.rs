//! What a valid operation name is ([`validate_name`], [`OperationName`]), and how it travels
//! in the routing header ([`routing_header`]).

use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_encode_byte;

use crate::Error;

/// The longest name accepted, in bytes.
pub const MAX_LEN: usize = 2048;

/// Checks a resource name (an operation name, or a collection for `ListOperations`) before
/// anything is sent.
///
/// A name must not be empty, must be at most 2048 bytes, must hold no whitespace or control
/// characters, and must have no empty `/`-separated segment. Other Google APIs use other name
/// patterns, so no pattern is imposed here; [`OperationName`] checks the Gemini for Google
/// Cloud one.
///
/// ```
/// use longrunning_grpc::validate_name;
///
/// assert!(validate_name("projects/p/locations/l/operations/o").is_ok());
/// let err = validate_name("projects//operations/o").unwrap_err();
/// assert!(err.is_invalid_argument());
/// assert!(err.to_string().contains("empty segment"));
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    check(name).map_err(|why| Error::invalid_argument(name, why))
}

fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name is empty".into());
    }
    if name.len() > MAX_LEN {
        return Err(format!(
            "name is {} bytes long; the limit is {MAX_LEN}",
            name.len()
        ));
    }
    // One pass for the common case: printable ASCII holds no whitespace or control
    // character, and a doubled '/' is an empty segment. (`contains("//")` would set up a
    // substring searcher on every call.)
    let (mut printable, mut doubled, mut previous) = (true, false, 0u8);
    for &b in name.as_bytes() {
        printable &= b.is_ascii_graphic();
        doubled |= previous == b'/' && b == b'/';
        previous = b;
    }
    if !printable
        && let Some((at, c)) = name
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        let what = if c.is_whitespace() {
            "whitespace"
        } else {
            "a control character"
        };
        return Err(format!("name contains {what} ({c:?}) at byte {at}"));
    }
    if name.starts_with('/') || name.ends_with('/') || doubled {
        return Err("name has an empty segment (leading, trailing or doubled '/')".into());
    }
    Ok(())
}

/// The value of the `x-goog-request-params` header for a request keyed by `name`:
/// `name=` followed by the name percent-encoded, `/` as `%2F`.
///
/// ```
/// # use longrunning_grpc::name::routing_header;
/// assert_eq!(
///     routing_header("name", "projects/p/operations/o"),
///     "name=projects%2Fp%2Foperations%2Fo"
/// );
/// ```
pub fn routing_header(key: &str, value: &str) -> String {
    let bytes = routing_header_bytes(key, value);
    // Only ASCII was written.
    String::from_utf8(bytes).unwrap_or_default()
}

/// [`routing_header`] as bytes, ready to become a header value without another copy.
///
/// The buffer is sized exactly, so turning it into `Bytes` needs no second allocation.
pub(crate) fn routing_header_bytes(key: &str, value: &str) -> Vec<u8> {
    // RFC 3986 unreserved characters stay as they are; every other byte, `/` included, is
    // percent-encoded (AIP-4222, as the Go and Java clients do). A table and runs copied
    // whole rather than `utf8_percent_encode`: this runs on every call, and the iterator
    // costs several times more.
    let value = value.as_bytes();
    let escaped = value
        .iter()
        .filter(|&&b| !UNRESERVED[usize::from(b)])
        .count();
    let mut out = Vec::with_capacity(key.len() + 1 + value.len() + 2 * escaped);
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    // Runs of unreserved bytes are copied whole: a name is mostly such runs between `/`s.
    for run in value.split_inclusive(|&b| !UNRESERVED[usize::from(b)]) {
        match run.split_last() {
            Some((&last, head)) if !UNRESERVED[usize::from(last)] => {
                out.extend_from_slice(head);
                out.extend_from_slice(percent_encode_byte(last).as_bytes());
            }
            _ => out.extend_from_slice(run),
        }
    }
    out
}

/// RFC 3986 unreserved characters: ASCII letters and digits, `-`, `.`, `_` and `~`.
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

/// A Gemini for Google Cloud operation name:
/// `projects/{project}/locations/{location}/operations/{operation}`.
///
/// Calls accept this type or any string (other Google APIs use other patterns); either way the
/// name is checked before anything is sent.
///
/// ```
/// use longrunning_grpc::OperationName;
///
/// let name: OperationName = "projects/p/locations/us-central1/operations/op-1".parse()?;
/// assert_eq!(name.project(), "p");
/// assert_eq!(name.location(), "us-central1");
/// assert_eq!(name.operation(), "op-1");
/// assert_eq!(OperationName::new("p", "us-central1", "op-1")?, name);
/// assert_eq!(name.to_string(), "projects/p/locations/us-central1/operations/op-1");
/// # Ok::<(), longrunning_grpc::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationName {
    full: String,
    // Byte ranges of the three variable segments inside `full`.
    project: (usize, usize),
    location: (usize, usize),
    operation: (usize, usize),
}

impl OperationName {
    /// Builds a name from its three parts, checking each.
    pub fn new(project: &str, location: &str, operation: &str) -> Result<Self, Error> {
        format!("projects/{project}/locations/{location}/operations/{operation}").parse()
    }

    /// Parses `projects/{project}/locations/{location}/operations/{operation}`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        validate_name(name)?;
        let bad = || {
            Error::invalid_argument(
                name,
                "name does not match projects/{project}/locations/{location}/operations/{operation}",
            )
        };
        let mut parts = [(0usize, 0usize); 6];
        let mut count = 0;
        let mut start = 0;
        for segment in name.split('/') {
            if count == parts.len() {
                return Err(bad());
            }
            parts[count] = (start, start + segment.len());
            count += 1;
            start += segment.len() + 1;
        }
        let literal = |i: usize| &name[parts[i].0..parts[i].1];
        if count != 6
            || literal(0) != "projects"
            || literal(2) != "locations"
            || literal(4) != "operations"
        {
            return Err(bad());
        }
        Ok(Self {
            full: name.to_owned(),
            project: parts[1],
            location: parts[3],
            operation: parts[5],
        })
    }

    /// The project ID or number.
    pub fn project(&self) -> &str {
        &self.full[self.project.0..self.project.1]
    }

    /// The location, e.g. `global` or `us-central1`.
    pub fn location(&self) -> &str {
        &self.full[self.location.0..self.location.1]
    }

    /// The operation ID.
    pub fn operation(&self) -> &str {
        &self.full[self.operation.0..self.operation.1]
    }

    /// The parent collection, `projects/{project}/locations/{location}`, as used by
    /// `ListOperations`.
    pub fn parent(&self) -> &str {
        &self.full[..self.location.1]
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl FromStr for OperationName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for OperationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for OperationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OperationName").field(&self.full).finish()
    }
}

impl AsRef<str> for OperationName {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl From<OperationName> for String {
    fn from(name: OperationName) -> Self {
        name.full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_header_encodes_reserved_characters() {
        assert_eq!(
            routing_header("name", "a/b c&d=e"),
            "name=a%2Fb%20c%26d%3De"
        );
        assert_eq!(routing_header("name", "A-z_0.9~"), "name=A-z_0.9~");
    }

    #[test]
    fn parse_rejects_wrong_literals_and_counts() {
        for bad in [
            "projects/p/locations/l/operation/o",
            "projects/p/locations/l/operations",
            "projects/p/locations/l/operations/o/x",
            "operations/o",
        ] {
            assert!(OperationName::parse(bad).is_err(), "{bad}");
        }
    }
}
