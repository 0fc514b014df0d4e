//! The subcommands that call a server: `cancel`, `get`, `list`, `delete`, `wait`; each one a
//! function of the global flags and its own arguments.

use std::process::ExitCode;
use std::time::Duration;

use longrunning_grpc::json as render;
use longrunning_grpc::{CancelOutcome, OperationsClient, Polled};
use serde_json::json;

use crate::global::{Global, Output, with_wait_timeout};
use crate::output::{ENDED_OTHERWISE, STILL_RUNNING, Spinner, fail, print, usage};
use crate::text;

/// The client of `global`, or the exit code of its error (already printed).
async fn client(global: &Global) -> Result<OperationsClient, ExitCode> {
    let files = global.files().map_err(|why| usage(global.output, &why))?;
    global
        .client(files)
        .await
        .map_err(|e| fail(global.output, &e))
}

/// `lro cancel NAME [--wait [--wait-timeout S]]`.
pub async fn cancel(
    global: &Global,
    name: &str,
    wait: bool,
    wait_timeout: Option<Duration>,
) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => client,
        Err(code) => return code,
    };
    let out = global.output;
    if !wait {
        return match client.cancel_operation(name).await {
            Ok(()) => {
                print(
                    out,
                    json!({"name": name, "outcome": "requested"}),
                    format!(
                        "cancel requested for {name}\n(cancellation is asynchronous and best \
                         effort: confirm with `lro get`, or use --wait)"
                    ),
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(out, &e),
        };
    }
    let client = with_wait_timeout(&client, wait_timeout);
    let spinner = Spinner::start(out, &format!("cancelling {name}"));
    let result = client.cancel_and_wait(name).await;
    spinner.finish();
    match result {
        Ok(CancelOutcome::Unsupported(e)) => fail(out, &e),
        Ok(outcome) => {
            let code = match outcome {
                CancelOutcome::Cancelled(_) => ExitCode::SUCCESS,
                CancelOutcome::StillRunning(_) => ExitCode::from(STILL_RUNNING),
                _ => ExitCode::from(ENDED_OTHERWISE),
            };
            let op = outcome.operation().cloned().unwrap_or_default();
            print(
                out,
                json!({"name": name, "outcome": outcome.as_str(), "operation": render::operation(&op)}),
                format!(
                    "{name}: {}\n  state: {}",
                    outcome.as_str(),
                    text::state(&op)
                ),
            );
            code
        }
        Err(e) => fail(out, &e),
    }
}

/// `lro get NAME`.
pub async fn get(global: &Global, name: &str) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => client,
        Err(code) => return code,
    };
    match client.get_operation(name).await {
        Ok(op) => {
            print(
                global.output,
                render::operation(&op),
                text::operation_text(&op),
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(global.output, &e),
    }
}

/// `lro list PARENT [--filter F] [--page-size N] [--max N]`.
pub async fn list(
    global: &Global,
    parent: String,
    filter: Option<String>,
    page_size: Option<u16>,
    max: Option<usize>,
) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => client,
        Err(code) => return code,
    };
    let mut list = client.list_operations(parent);
    if let Some(filter) = filter {
        list = list.filter(filter);
    }
    if let Some(size) = page_size {
        list = list.page_size(i32::from(size));
    }
    let listing = match list.collect(max).await {
        Ok(listing) => listing,
        Err(e) => return fail(global.output, &e),
    };
    let mut lines: Vec<String> = listing
        .operations
        .iter()
        .map(text::operation_line)
        .collect();
    if listing.operations.is_empty() {
        lines.push("no operations".into());
    }
    for u in &listing.unreachable {
        lines.push(format!("unreachable: {u}"));
    }
    print(
        global.output,
        json!({
            "operations": listing.operations.iter().map(render::operation).collect::<Vec<_>>(),
            "unreachable": listing.unreachable,
        }),
        lines.join("\n"),
    );
    ExitCode::SUCCESS
}

/// `lro delete NAME`.
pub async fn delete(global: &Global, name: &str) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => client,
        Err(code) => return code,
    };
    match client.delete_operation(name).await {
        Ok(()) => {
            print(
                global.output,
                json!({"name": name, "deleted": true}),
                format!("deleted {name}"),
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(global.output, &e),
    }
}

/// `lro wait NAME [--wait-timeout S]`.
pub async fn wait(global: &Global, name: &str, wait_timeout: Option<Duration>) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => with_wait_timeout(&client, wait_timeout),
        Err(code) => return code,
    };
    let out: Output = global.output;
    let spinner = Spinner::start(out, &format!("waiting for {name}"));
    let result = client.poll_until_done(name).await;
    spinner.finish();
    match result {
        Ok(polled) => {
            let code = match &polled {
                Polled::StillRunning(_) => ExitCode::from(STILL_RUNNING),
                Polled::Done(op) if op.error().is_some() => ExitCode::from(ENDED_OTHERWISE),
                Polled::Done(_) => ExitCode::SUCCESS,
            };
            let op = polled.into_operation();
            print(out, render::operation(&op), text::operation_text(&op));
            code
        }
        Err(e) => fail(out, &e),
    }
}
