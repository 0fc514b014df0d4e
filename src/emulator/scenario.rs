//! Scenarios: what an emulator serves, from a JSON document.

use std::cell::RefCell;
use std::time::Duration;

use prost_types::Any;
use serde::Deserialize;
use serde_json::Value;
use tonic::Code;

use super::{
    Completion, Emulator, EmulatorBuilder, Fault, Method, OnCancel, OperationStore,
    ScriptedOperation, WaitBehaviour,
};
use crate::json::TypeRegistry;

/// Operations, faults and front-end checks from a JSON document: what
/// `lro serve --scenario FILE` loads.
///
/// ```json
/// {
///   "operations": [
///     {"name": "projects/p/locations/l/operations/a", "complete": {"after_polls": 2},
///      "response": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "ok"},
///      "on_cancel": "honour"}
///   ],
///   "faults": [{"method": "GetOperation", "code": 14, "count": 2, "retry_delay_s": 0.1,
///               "pushback_ms": 250}],
///   "require_token": "T", "latency_ms": 0, "max_concurrent_streams": 100,
///   "wait_operation": "hold"
/// }
/// ```
///
/// `complete` is `"never"` (the default), `"now"`, `{"after_polls": N}` or `{"after_s":
/// S}`; `on_cancel` is `"honour"` (the default), `"ignore"`, `"complete_anyway"` or
/// `"unsupported"`; an operation has a `response` or an `error` (`{"code", "message",
/// "details"}`, the code 1 to 16), not both; `"done": true` completes it at once. So an
/// operation `lro get --output json` printed pastes in as it is. Names are unique, and
/// `max_concurrent_streams` is at least 1. `response` and `metadata` are `Any`s as [`crate::json::TypeRegistry`] reads
/// them: the same shapes `lro get --output json` prints. An unknown field, a bad code or a
/// bad type is an error that names the field's path and the line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    /// The operations, inserted in order.
    pub operations: Vec<ScriptedOperation>,
    /// The faults, queued in order.
    pub faults: Vec<Fault>,
    /// The bearer token every call must carry, if any.
    pub require_token: Option<String>,
    /// Each answer's delay.
    pub latency: Duration,
    /// The cap on concurrent streams per connection, if any.
    pub max_concurrent_streams: Option<u32>,
    /// How `WaitOperation` is answered.
    pub wait_operation: WaitBehaviour,
}

/// A scenario that could not be read: `Display` names the field's path and the line.
#[derive(Debug)]
pub struct ScenarioError {
    message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

thread_local! {
    /// The types `Any`s are read with while a scenario is parsed on this thread.
    static REGISTRY: RefCell<Option<TypeRegistry>> = const { RefCell::new(None) };
}

impl Scenario {
    /// Reads a scenario, its `Any`s with the standard types.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        Self::from_json_with(text, &TypeRegistry::standard())
    }

    /// Reads a scenario, its `Any`s with the types of `registry`.
    pub fn from_json_with(text: &str, registry: &TypeRegistry) -> Result<Self, ScenarioError> {
        REGISTRY.with(|r| *r.borrow_mut() = Some(registry.clone()));
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let parsed: Result<File, _> = serde_path_to_error::deserialize(&mut deserializer);
        REGISTRY.with(|r| *r.borrow_mut() = None);
        let file = parsed.map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if path == "." || path.is_empty() {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            };
            ScenarioError { message }
        })?;
        deserializer.end().map_err(|e| ScenarioError {
            message: e.to_string(),
        })?;
        if file.max_concurrent_streams == Some(0) {
            return Err(ScenarioError {
                message: "max_concurrent_streams: must be at least 1 (0 would refuse every \
                          call)"
                    .into(),
            });
        }
        let mut seen = std::collections::HashMap::new();
        for (i, op) in file.operations.iter().enumerate() {
            if let Some(first) = seen.insert(op.0.name(), i) {
                return Err(ScenarioError {
                    message: format!(
                        "operations[{i}].name: {:?} is already the name of operations[{first}]",
                        op.0.name()
                    ),
                });
            }
        }
        Ok(Scenario {
            operations: file.operations.into_iter().map(|op| op.0).collect(),
            faults: file.faults.into_iter().map(|f| f.0).collect(),
            require_token: file.require_token,
            latency: Duration::from_millis(file.latency_ms),
            max_concurrent_streams: file.max_concurrent_streams,
            wait_operation: file.wait_operation.0,
        })
    }

    /// `builder` with the scenario's front-end checks (token, stream cap).
    pub fn configure(&self, mut builder: EmulatorBuilder) -> EmulatorBuilder {
        if let Some(token) = &self.require_token {
            builder = builder.require_token(token.clone());
        }
        if let Some(streams) = self.max_concurrent_streams {
            builder = builder.max_concurrent_streams(streams);
        }
        builder.wait_operation(self.wait_operation)
    }

    /// Inserts the operations, queues the faults and sets the latency on a running
    /// emulator.
    pub fn apply(&self, emulator: &Emulator) {
        self.apply_to(&emulator.operations());
    }

    /// [`Scenario::apply`] through a store.
    pub fn apply_to(&self, store: &OperationStore) {
        for op in &self.operations {
            store.insert(op.clone());
        }
        let mut state = store.shared.lock();
        for fault in &self.faults {
            state.inject(fault.clone());
        }
        state.latency = self.latency;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    operations: Vec<OperationJson>,
    #[serde(default)]
    faults: Vec<FaultJson>,
    require_token: Option<String>,
    #[serde(default)]
    latency_ms: u64,
    max_concurrent_streams: Option<u32>,
    #[serde(default)]
    wait_operation: WaitJson,
}

#[derive(Default)]
struct WaitJson(WaitBehaviour);

impl<'de> Deserialize<'de> for WaitJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(WaitJson(match word.as_str() {
            "hold" => WaitBehaviour::Hold,
            "unimplemented" => WaitBehaviour::Unimplemented,
            "at_once" => WaitBehaviour::AtOnce,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "{word:?} is not \"hold\", \"unimplemented\" or \"at_once\""
                )));
            }
        }))
    }
}

/// One operation, checked as a whole once its fields are read.
#[derive(Deserialize)]
#[serde(try_from = "OperationFields")]
struct OperationJson(ScriptedOperation);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationFields {
    name: String,
    complete: Option<CompleteJson>,
    response: Option<Value>,
    metadata: Option<Value>,
    error: Option<StatusJson>,
    #[serde(default)]
    on_cancel: OnCancelJson,
    /// As `lro get --output json` prints it: `true` completes it at once (unless
    /// `complete` says otherwise), `false` leaves it running.
    done: Option<bool>,
}

impl TryFrom<OperationFields> for OperationJson {
    type Error = String;

    fn try_from(f: OperationFields) -> Result<Self, String> {
        crate::name::validate_name(&f.name).map_err(|e| format!("name: {e}"))?;
        let completion = match (f.done, f.complete) {
            (Some(true), None) => Completion::Immediately,
            (Some(true), Some(CompleteJson(c))) if c != Completion::Immediately => {
                return Err(format!(
                    "operation {:?} is done but complete is not \"now\"; give one",
                    f.name
                ));
            }
            (Some(false), Some(CompleteJson(Completion::Immediately))) => {
                return Err(format!(
                    "operation {:?} is not done but complete is \"now\"; give one",
                    f.name
                ));
            }
            (_, Some(CompleteJson(c))) => c,
            (_, None) => Completion::Never,
        };
        let mut op = ScriptedOperation::new(&f.name)
            .completion(completion)
            .on_cancel(f.on_cancel.0);
        if let Some(metadata) = &f.metadata {
            op = op.metadata(parse_any(metadata).map_err(|e| format!("metadata: {e}"))?);
        }
        match (&f.response, f.error) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "operation {:?} has both a response and an error; give one",
                    f.name
                ));
            }
            (Some(response), None) => {
                op = op.response(parse_any(response).map_err(|e| format!("response: {e}"))?);
            }
            (None, Some(error)) => {
                if error.code.0 == Code::Ok {
                    return Err(
                        "error.code: 0 is OK, not an error; give a code from 1 to 16 \
                                (e.g. 13 for INTERNAL)"
                            .into(),
                    );
                }
                let details = error
                    .details
                    .iter()
                    .enumerate()
                    .map(|(i, d)| parse_any(d).map_err(|e| format!("error.details[{i}]: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                op = op.error_with_details(error.code.0, error.message, details);
            }
            (None, None) => {}
        }
        Ok(Self(op))
    }
}

fn parse_any(json: &Value) -> Result<Any, String> {
    REGISTRY.with(|r| match &*r.borrow() {
        Some(registry) => registry.parse_any(json),
        None => TypeRegistry::standard().parse_any(json),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusJson {
    code: CodeJson,
    #[serde(default)]
    message: String,
    /// `Any`s, as `lro get --output json` prints them.
    #[serde(default)]
    details: Vec<Value>,
}

/// A gRPC code by number, 0 to 16.
struct CodeJson(Code);

impl<'de> Deserialize<'de> for CodeJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match i32::try_from(n) {
            Ok(n @ 0..=16) => Ok(CodeJson(Code::from_i32(n))),
            _ => Err(serde::de::Error::custom(format!(
                "{n} is not a gRPC code (0 to 16, e.g. 14 for UNAVAILABLE)"
            ))),
        }
    }
}

#[derive(Default)]
struct CompleteJson(Completion);

impl<'de> Deserialize<'de> for CompleteJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(d)?;
        let expected = "expected \"never\", \"now\", {\"after_polls\": N} or {\"after_s\": S}";
        let completion = match &value {
            Value::String(s) if s == "never" => Completion::Never,
            Value::String(s) if s == "now" => Completion::Immediately,
            Value::Object(o) if o.len() == 1 => match o.iter().next() {
                Some((key, n)) if key == "after_polls" => {
                    let polls =
                        n.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                D::Error::custom(format!("after_polls must be a count, not {n}"))
                            })?;
                    Completion::AfterPolls(polls)
                }
                Some((key, s)) if key == "after_s" => {
                    let secs = s
                        .as_f64()
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .ok_or_else(|| {
                            D::Error::custom(format!("after_s must be seconds, not {s}"))
                        })?;
                    Completion::After(secs)
                }
                _ => {
                    return Err(D::Error::custom(format!(
                        "{value} is not a completion; {expected}"
                    )));
                }
            },
            _ => {
                return Err(D::Error::custom(format!(
                    "{value} is not a completion; {expected}"
                )));
            }
        };
        Ok(CompleteJson(completion))
    }
}

#[derive(Default)]
struct OnCancelJson(OnCancel);

impl<'de> Deserialize<'de> for OnCancelJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(OnCancelJson(match word.as_str() {
            "honour" => OnCancel::Honour,
            "ignore" => OnCancel::Ignore,
            "complete_anyway" => OnCancel::CompleteAnyway,
            "unsupported" => OnCancel::Unsupported,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "{word:?} is not \"honour\", \"ignore\", \"complete_anyway\" or \"unsupported\""
                )));
            }
        }))
    }
}

#[derive(Deserialize)]
#[serde(try_from = "FaultFields")]
struct FaultJson(Fault);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFields {
    method: Option<MethodJson>,
    name: Option<String>,
    code: CodeJson,
    message: Option<String>,
    #[serde(default = "one")]
    count: usize,
    retry_delay_s: Option<f64>,
    /// The `grpc-retry-pushback-ms` trailer: a number, or any text (malformed on purpose).
    pushback_ms: Option<Value>,
}

fn one() -> usize {
    1
}

impl TryFrom<FaultFields> for FaultJson {
    type Error = String;

    fn try_from(f: FaultFields) -> Result<Self, String> {
        if f.code.0 == Code::Ok {
            return Err("a fault's code cannot be 0 (OK)".into());
        }
        let mut fault = Fault::new(f.code.0, f.count);
        if let Some(method) = f.method {
            fault = fault.method(method.0);
        }
        if let Some(name) = f.name {
            fault = fault.name(name);
        }
        if let Some(message) = f.message {
            fault = fault.message(message);
        }
        if let Some(delay) = f.retry_delay_s {
            let delay = Duration::try_from_secs_f64(delay)
                .map_err(|_| format!("retry_delay_s must be seconds, not {delay}"))?;
            fault = fault.retry_delay(delay);
        }
        match f.pushback_ms {
            Some(Value::String(text)) => fault = fault.pushback(text),
            Some(Value::Number(n)) => fault = fault.pushback(n.to_string()),
            Some(other) => {
                return Err(format!("pushback_ms must be a number or text, not {other}"));
            }
            None => {}
        }
        Ok(Self(fault))
    }
}

struct MethodJson(Method);

impl<'de> Deserialize<'de> for MethodJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Method::from_name(&word).map(MethodJson).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{word:?} is not GetOperation, ListOperations, DeleteOperation, \
                     CancelOperation or WaitOperation"
            ))
        })
    }
}
