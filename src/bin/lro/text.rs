//! Operations as short text for a terminal (the JSON shapes are the library's `json`).

use longrunning_grpc::json as render;
use longrunning_grpc::{code_name, pb};

/// One short line for an operation: `NAME  running`, `NAME  cancelled`, …
pub fn operation_line(op: &pb::Operation) -> String {
    format!("{}  {}", op.name, state(op))
}

/// The state of an operation in a word or two.
pub fn state(op: &pb::Operation) -> String {
    if !op.done {
        return "running".into();
    }
    if op.is_cancelled() {
        return "cancelled".into();
    }
    match op.result() {
        Some(Ok(response)) => format!("done ({})", pb::type_name(&response.type_url)),
        Some(Err(status)) => {
            let code = tonic::Code::from_i32(status.code);
            format!("failed ({}: {})", code_name(code), status.message)
        }
        None => "done".into(),
    }
}

/// A few lines describing an operation, for `get` and `wait`.
pub fn operation_text(op: &pb::Operation) -> String {
    let mut out = format!("{}\n  state:    {}", op.name, state(op));
    if let Some(meta) = &op.metadata {
        out.push_str(&format!("\n  metadata: {}", render::any(meta)));
    }
    if let Some(Ok(response)) = op.result() {
        out.push_str(&format!("\n  response: {}", render::any(response)));
    }
    out
}
