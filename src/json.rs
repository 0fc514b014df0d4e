//! Operations, statuses and errors as JSON documents (the `lro --output json` shapes).
//!
//! ```
//! use longrunning_grpc::pb::Operation;
//!
//! let op = Operation { name: "operations/1".into(), ..Default::default() };
//! assert_eq!(longrunning_grpc::json::operation(&op).to_string(), r#"{"done":false,"name":"operations/1"}"#);
//! ```

use base64::Engine;

use crate::pb::{self, rpc, type_name};
use crate::{Error, code_name};
use prost::Message;
use prost_types::{Any, value::Kind};
use serde_json::{Map, Value, json};

/// An operation: `{"name", "done", "error"?, "metadata"?, "response"?}`; the keys
/// after `done` appear only when the operation has them.
pub fn operation(op: &pb::Operation) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(op.name));
    out.insert("done".into(), json!(op.done));
    if let Some(meta) = &op.metadata {
        out.insert("metadata".into(), any(meta));
    }
    match &op.result {
        Some(pb::operation::Result::Error(status)) => {
            out.insert("error".into(), rpc_status(status));
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
    json!({
        "code": status.code,
        "message": status.message,
        "details": status.details.iter().map(any).collect::<Vec<_>>(),
    })
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

/// An `Any`: well-known and `google.rpc` types decoded with their fields, anything else as
/// `{"@type", "value": "<base64>"}`. Bytes that do not decode as their type are shown raw.
pub fn any(a: &Any) -> Value {
    let decoded = decode_known(a);
    let mut out = Map::new();
    out.insert("@type".into(), json!(a.type_url));
    match decoded {
        Some(Value::Object(fields)) => out.extend(fields),
        Some(value) => {
            out.insert("value".into(), value);
        }
        None => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&a.value);
            out.insert("value".into(), json!(b64));
        }
    }
    Value::Object(out)
}

fn decode_known(a: &Any) -> Option<Value> {
    Some(match type_name(&a.type_url) {
        "google.protobuf.Empty" => json!({}),
        "google.protobuf.Duration" => json!(a.to_msg::<prost_types::Duration>().ok()?.to_string()),
        "google.protobuf.Timestamp" => {
            json!(a.to_msg::<prost_types::Timestamp>().ok()?.to_string())
        }
        // prost-types gives these two no `Name`; the type URL is already checked here.
        "google.protobuf.Struct" => {
            struct_json(&prost_types::Struct::decode(a.value.as_slice()).ok()?)
        }
        "google.protobuf.Value" => {
            value_json(&prost_types::Value::decode(a.value.as_slice()).ok()?)
        }
        "google.protobuf.StringValue" => json!(a.to_msg::<String>().ok()?),
        "google.protobuf.BoolValue" => json!(a.to_msg::<bool>().ok()?),
        "google.protobuf.Int64Value" => json!(a.to_msg::<i64>().ok()?.to_string()),
        "google.protobuf.Int32Value" => json!(a.to_msg::<i32>().ok()?),
        "google.protobuf.DoubleValue" => json!(a.to_msg::<f64>().ok()?),
        "google.rpc.ErrorInfo" => {
            let m = a.to_msg::<rpc::ErrorInfo>().ok()?;
            json!({"reason": m.reason, "domain": m.domain, "metadata": m.metadata})
        }
        "google.rpc.RetryInfo" => {
            let m = a.to_msg::<rpc::RetryInfo>().ok()?;
            json!({"retryDelay": m.retry_delay.map(|d| d.to_string())})
        }
        "google.rpc.LocalizedMessage" => {
            let m = a.to_msg::<rpc::LocalizedMessage>().ok()?;
            json!({"locale": m.locale, "message": m.message})
        }
        "google.rpc.ResourceInfo" => {
            let m = a.to_msg::<rpc::ResourceInfo>().ok()?;
            json!({"resourceType": m.resource_type, "resourceName": m.resource_name,
                   "owner": m.owner, "description": m.description})
        }
        "google.rpc.RequestInfo" => {
            let m = a.to_msg::<rpc::RequestInfo>().ok()?;
            json!({"requestId": m.request_id, "servingData": m.serving_data})
        }
        "google.rpc.DebugInfo" => {
            let m = a.to_msg::<rpc::DebugInfo>().ok()?;
            json!({"stackEntries": m.stack_entries, "detail": m.detail})
        }
        "google.rpc.Help" => {
            let m = a.to_msg::<rpc::Help>().ok()?;
            let links: Vec<_> = m
                .links
                .iter()
                .map(|l| json!({"description": l.description, "url": l.url}))
                .collect();
            json!({ "links": links })
        }
        _ => return None,
    })
}

fn struct_json(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

fn value_json(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::StructValue(s)) => struct_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_json).collect()),
    }
}
