//! Operations, statuses and errors as JSON documents (the `lro --output json` shapes).
//!
//! ```
//! use longrunning_grpc::pb::Operation;
//!
//! let op = Operation { name: "operations/1".into(), ..Default::default() };
//! assert_eq!(longrunning_grpc::json::operation(&op).to_string(), r#"{"done":false,"name":"operations/1"}"#);
//! ```

use base64::Engine;

use crate::Error;
use crate::error::code_name;
use crate::pb::{self, rpc, type_name};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use prost_types::Any;
use serde_json::{Map, Value, json};

/// An operation: `{"name", "done", "error"?, "metadata"?, "response"?}`; the keys
/// after `done` appear only when the operation has them.
pub fn operation(op: &pb::Operation) -> Value {
    TypeRegistry::standard().operation(op)
}

fn operation_with(registry: &TypeRegistry, op: &pb::Operation) -> Value {
    let any = |a: &Any| registry.any(a);
    let mut out = Map::new();
    out.insert("name".into(), json!(op.name));
    out.insert("done".into(), json!(op.done));
    if let Some(meta) = &op.metadata {
        out.insert("metadata".into(), any(meta));
    }
    match &op.result {
        Some(pb::operation::Result::Error(status)) => {
            out.insert("error".into(), registry.rpc_status(status));
        }
        Some(pb::operation::Result::Response(response)) => {
            out.insert("response".into(), any(response));
        }
        None => {}
    }
    Value::Object(out)
}

/// A `google.rpc.Status` inside an operation: the code as its number.
pub fn rpc_status(status: &rpc::Status) -> Value {
    TypeRegistry::standard().rpc_status(status)
}

/// A failed call: `{"error": {"code": "<NAME>", "message", "details"}}`.
pub fn error(err: &Error) -> Value {
    json!({
        "error": {
            "code": code_name(err.code()),
            "message": err.to_string(),
            "details": err.details().to_anys().iter().map(any).collect::<Vec<_>>(),
        }
    })
}

/// An `Any` in proto3's JSON mapping, for the types this crate knows (the well-known
/// types, `google.rpc`, `google.longrunning`): `{"@type", ...fields}`, or `{"@type",
/// "value"}` for types whose JSON is not an object (Timestamp, Duration, wrappers, ...).
/// Any other type is `{"@type", "value": "<base64>"}`. See [`TypeRegistry`] to know more.
pub fn any(a: &Any) -> Value {
    TypeRegistry::standard().any(a)
}

/// The message types the JSON mapping knows, as a descriptor pool (prost-reflect).
///
/// The JSON of an `Any` is proto3's mapping for a type in the pool and `{"@type", "value":
/// "<base64>"}` for any other, both ways, so what [`TypeRegistry::any`] writes,
/// [`TypeRegistry::parse_any`] reads back. Add a service's own types (say the Gemini API's
/// `OperationMetadata`) from the `FileDescriptorSet` that `protox` or `protoc -o
/// --include_imports` writes.
///
/// The mapping is prost-reflect's, not written here: it covers every type and field
/// rule of proto3's JSON (well-known types, `Any` inside `Any`, 64-bit integers as
/// strings, enums by name), which a hand-written table did only for the types it listed.
#[derive(Clone, Debug)]
pub struct TypeRegistry {
    pool: DescriptorPool,
}

impl Default for TypeRegistry {
    fn default() -> Self {
        Self::standard()
    }
}

impl TypeRegistry {
    /// The well-known types and this crate's protos (`google.rpc`, `google.longrunning`,
    /// the emulator's admin service).
    pub fn standard() -> Self {
        static STANDARD: std::sync::OnceLock<DescriptorPool> = std::sync::OnceLock::new();
        let pool = STANDARD.get_or_init(|| {
            let mut pool = DescriptorPool::global();
            // The vendored protos are checked at build time, so they always decode.
            let _ = add_new_files(&mut pool, crate::pb::FILE_DESCRIPTOR_SET);
            pool
        });
        Self { pool: pool.clone() }
    }

    /// Adds the types of an encoded `FileDescriptorSet`; files the registry already has are
    /// skipped. Fails on bytes that are not one, or on files whose imports are missing.
    pub fn add_file_descriptor_set(&mut self, bytes: &[u8]) -> Result<(), String> {
        add_new_files(&mut self.pool, bytes)
    }

    /// Whether the registry knows the message type `full_name` (e.g. `google.rpc.ErrorInfo`).
    pub fn knows(&self, full_name: &str) -> bool {
        self.pool.get_message_by_name(full_name).is_some()
    }

    /// An operation as JSON (see [`operation`]), its `Any`s with this registry's types.
    pub fn operation(&self, op: &pb::Operation) -> Value {
        operation_with(self, op)
    }

    /// A `google.rpc.Status` as JSON (see [`rpc_status`]).
    pub fn rpc_status(&self, status: &rpc::Status) -> Value {
        json!({
            "code": status.code,
            "message": status.message,
            "details": status.details.iter().map(|d| self.any(d)).collect::<Vec<_>>(),
        })
    }

    /// `a` as JSON (see [`any`]).
    pub fn any(&self, a: &Any) -> Value {
        self.known_any(a).unwrap_or_else(|| raw_any(a))
    }

    fn known_any(&self, a: &Any) -> Option<Value> {
        self.pool.get_message_by_name(type_name(&a.type_url))?;
        // Each `Any` inside is decoded again as the JSON is written, so an `Any` nested
        // 50,000 deep in 2 MB took over 4 GiB: past the bound, the bytes are shown as they
        // are.
        let depth = nesting_depth(&a.value, MAX_NESTING);
        if depth >= MAX_NESTING || a.value.len().saturating_mul(depth) > MAX_EXPANDED_BYTES {
            return None;
        }
        let any_type = self.pool.get_message_by_name("google.protobuf.Any")?;
        let message = DynamicMessage::decode(any_type, a.encode_to_vec().as_slice()).ok()?;
        serde_json::to_value(&message).ok()
    }

    /// An `Any` from its JSON: proto3's mapping for a type the registry knows, else
    /// `{"@type", "value": "<base64>"}`. The error names what is wrong.
    pub fn parse_any(&self, json: &Value) -> Result<Any, String> {
        let Some(object) = json.as_object() else {
            return Err("an Any must be an object with \"@type\"".into());
        };
        let Some(type_url) = object.get("@type").and_then(Value::as_str) else {
            return Err("an Any must have \"@type\", a type URL".into());
        };
        let name = type_name(type_url);
        if name.is_empty() || !type_url.contains('/') {
            return Err(format!(
                "\"@type\" {type_url:?} is not a type URL such as \
                 type.googleapis.com/google.protobuf.StringValue"
            ));
        }
        if self.knows(name) {
            let any_type = self
                .pool
                .get_message_by_name("google.protobuf.Any")
                .ok_or("the registry has no google.protobuf.Any")?;
            let message = DynamicMessage::deserialize(any_type, json)
                .map_err(|e| format!("not a valid {name}: {e}"))?;
            return message
                .transcode_to::<Any>()
                .map_err(|e| format!("not a valid {name}: {e}"));
        }
        let fields: Vec<&str> = object.keys().map(String::as_str).collect();
        let value = match (object.get("value"), fields.len()) {
            (Some(Value::String(b64)), 2) => b64,
            _ => {
                return Err(format!(
                    "{name} is not a known type, so its JSON must be {{\"@type\", \"value\": \
                     \"<base64>\"}} (or give the descriptors of its type)"
                ));
            }
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|e| format!("the value of {name} is not base64: {e}"))?;
        Ok(Any {
            type_url: type_url.to_owned(),
            value: bytes,
        })
    }
}

fn add_new_files(pool: &mut DescriptorPool, bytes: &[u8]) -> Result<(), String> {
    let mut set = prost_types::FileDescriptorSet::decode(bytes)
        .map_err(|e| format!("not a FileDescriptorSet: {e}"))?;
    set.file
        .retain(|file| pool.get_file_by_name(file.name()).is_none());
    pool.add_file_descriptor_set(set)
        .map_err(|e| format!("bad descriptors: {e}"))
}

/// How deep messages may nest in an `Any` rendered as JSON: protobuf's own parsers stop
/// at a recursion limit of 100.
const MAX_NESTING: usize = 100;

/// What rendering may decode again in all, about the value's size times its depth.
const MAX_EXPANDED_BYTES: usize = 64 << 20;

/// How deep `bytes` nest as a protobuf message, counting every length-delimited field
/// whose payload parses as a message (a string may be counted as one: the count only
/// bounds), up to `limit`. Reads each byte at most once per level, with no allocation.
fn nesting_depth(bytes: &[u8], limit: usize) -> usize {
    fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    /// The depth of the fields in `bytes` if they parse as a message, else `None`.
    fn message(bytes: &[u8], limit: usize) -> Option<usize> {
        if limit == 0 {
            return Some(0);
        }
        let mut at = 0;
        let mut deepest = 0;
        while at < bytes.len() {
            let tag = varint(bytes, &mut at)?;
            if tag >> 3 == 0 {
                return None;
            }
            match tag & 7 {
                0 => {
                    varint(bytes, &mut at)?;
                }
                1 => at = at.checked_add(8).filter(|&end| end <= bytes.len())?,
                5 => at = at.checked_add(4).filter(|&end| end <= bytes.len())?,
                2 => {
                    let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                    let end = at.checked_add(len).filter(|&end| end <= bytes.len())?;
                    let inner = message(&bytes[at..end], limit - 1).map_or(0, |d| d + 1);
                    deepest = deepest.max(inner);
                    if deepest >= limit {
                        return Some(limit);
                    }
                    at = end;
                }
                _ => return None,
            }
        }
        Some(deepest)
    }
    message(bytes, limit).unwrap_or(0)
}

fn raw_any(a: &Any) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&a.value);
    json!({"@type": a.type_url, "value": b64})
}
