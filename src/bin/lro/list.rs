//! `lro list PARENT`: the operations under a parent, as a table or JSON.

use std::process::ExitCode;

use serde_json::json;

use crate::args::{ClientArgs, OutputArgs};
use crate::output::{Failure, print};
use crate::text;

/// List the operations under a parent, e.g. projects/P/locations/L.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// The parent collection.
    pub parent: String,
    /// A filter, e.g. done=true.
    #[arg(long)]
    pub filter: Option<String>,
    /// Operations per page (the server chooses if unset).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub page_size: Option<u16>,
    /// Stop after this many operations (default: all).
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: ListArgs) -> Result<ExitCode, Failure> {
    let client = args.client.client()?;
    let mut list = client.list_operations(args.parent);
    if let Some(filter) = args.filter {
        list = list.filter(filter);
    }
    if let Some(size) = args.page_size {
        list = list.page_size(i32::from(size));
    }
    let listing = list
        .collect(args.max)
        .await
        .map_err(|e| args.client.failure(e))?;
    let mut lines = Vec::new();
    if listing.operations.is_empty() {
        lines.push("no operations".into());
    } else {
        lines.push(text::table(&listing.operations));
    }
    for u in &listing.unreachable {
        lines.push(format!("unreachable: {u}"));
    }
    // Rendered with --descriptor-set's types, as get, wait and the table are.
    let types = crate::types();
    print(
        args.out.output,
        json!({
            "operations": listing.operations.iter().map(|op| types.operation(op)).collect::<Vec<_>>(),
            "unreachable": listing.unreachable,
        }),
        lines.join("\n"),
    );
    Ok(ExitCode::SUCCESS)
}
