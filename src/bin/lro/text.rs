//! Operations as short text for a terminal (the JSON shapes are the library's `json`).

use longrunning_grpc::pb;

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
        out.push_str(&format!(
            "\n  metadata: {}",
            short(&crate::types().any(meta))
        ));
    }
    if let Some(Ok(response)) = op.result() {
        out.push_str(&format!("\n  response: {}", crate::types().any(response)));
    }
    out
}

/// Operations as an aligned table: name, state, and the metadata's create time when it has
/// one (`createTime`, as most Google APIs' `OperationMetadata` do).
pub fn table(ops: &[pb::Operation]) -> String {
    let rows: Vec<[String; 3]> = ops
        .iter()
        .map(|op| {
            [
                op.name.clone(),
                state(op),
                create_time(op).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NAME".to_owned(), "STATE".to_owned(), "CREATED".to_owned()];
    let with_created = rows.iter().any(|row| !row[2].is_empty());
    let columns = if with_created { 3 } else { 2 };
    let mut widths = [0usize; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row[..columns]
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn create_time(op: &pb::Operation) -> Option<String> {
    let metadata = crate::types().any(op.metadata.as_ref()?);
    let fields = metadata.as_object()?;
    let time = fields
        .get("createTime")
        .or_else(|| fields.get("startTime"))?;
    time.as_str().map(str::to_owned)
}

/// The longest JSON the text output shows in a line, in characters.
const MAX_SHOWN: usize = 400;

/// `json` for a line of text: cut short past [`MAX_SHOWN`] characters (the JSON output
/// has all of it).
fn short(json: &serde_json::Value) -> String {
    let text = json.to_string();
    let count = text.chars().count();
    if count <= MAX_SHOWN {
        return text;
    }
    let cut: String = text.chars().take(MAX_SHOWN).collect();
    format!("{cut}… ({count} characters; --output json shows all)")
}

/// A gRPC code's canonical name, e.g. `PERMISSION_DENIED`, as `google/rpc/code.proto`
/// spells it.
pub fn code_name(code: tonic::Code) -> &'static str {
    pb::rpc::Code::try_from(code as i32).map_or("UNKNOWN", |c| c.as_str_name())
}
