//! The subcommands that call a server: `cancel`, `get`, `list`, `delete`, `wait`; each one a
//! function of the global flags and its own arguments.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use longrunning_grpc::json as render;
use longrunning_grpc::prost_types::Any;
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{CancelOutcome, OperationsClient};

use crate::text::code_name;
use serde_json::json;

use crate::global::{Global, Output, with_wait_timeout};
use crate::output::{
    ENDED_OTHERWISE, FAILED, Progress, STILL_RUNNING, Spinner, UNSUPPORTED, fail, print, usage,
};
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
    let (word, op, code) = match result {
        Ok(CancelOutcome::Unsupported(e)) => return fail(out, &e),
        Ok(outcome) => {
            let code = match outcome {
                CancelOutcome::Cancelled(_) => ExitCode::SUCCESS,
                _ => ExitCode::from(ENDED_OTHERWISE),
            };
            let op = outcome.operation().cloned().unwrap_or_default();
            (outcome.as_str(), op, code)
        }
        // Still running when the wait gave up: the operation as last seen.
        Err(e) if e.is_polling_deadline() => {
            let op = e.operation().cloned().unwrap_or_default();
            ("running", op, ExitCode::from(STILL_RUNNING))
        }
        Err(e) => return fail(out, &e),
    };
    print(
        out,
        json!({"name": name, "outcome": word, "operation": crate::types().operation(&op)}),
        format!("{name}: {word}\n  state: {}", text::state(&op)),
    );
    code
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
                crate::types().operation(&op),
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
    let mut lines = Vec::new();
    if listing.operations.is_empty() {
        lines.push("no operations".into());
    } else {
        lines.push(text::table(&listing.operations));
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

/// `lro wait NAME [--wait-timeout S]`: on a terminal, the metadata as it changes.
pub async fn wait(global: &Global, name: &str, wait_timeout: Option<Duration>) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => with_wait_timeout(&client, wait_timeout),
        Err(code) => return code,
    };
    let out: Output = global.output;
    let spinner = Spinner::start(out, &format!("waiting for {name}"));
    let mut states = Box::pin(client.operation::<Any, Any>(name).into_stream());
    let mut end = None;
    while let Some(state) = states.next().await {
        match state {
            PollingResult::InProgress(Some(metadata)) => {
                spinner.println(&format!("progress: {}", crate::types().any(&metadata)));
            }
            PollingResult::InProgress(None) => {}
            PollingResult::PollingError(e) => spinner.println(&format!("poll failed: {e}")),
            PollingResult::Completed(result) => end = Some(result),
        }
    }
    spinner.finish();
    match end {
        // Done, or still running at the wait's deadline: the operation as it now is.
        Some(Ok(_)) => {}
        Some(Err(e)) if e.is_operation_failed() || e.is_polling_deadline() => {}
        Some(Err(e)) => return fail(out, &e),
        None => return ExitCode::from(FAILED),
    }
    match client.get_operation(name).await {
        Ok(op) => {
            let code = if !op.done {
                ExitCode::from(STILL_RUNNING)
            } else if op.error().is_some() {
                ExitCode::from(ENDED_OTHERWISE)
            } else {
                ExitCode::SUCCESS
            };
            print(
                out,
                crate::types().operation(&op),
                text::operation_text(&op),
            );
            code
        }
        Err(e) => fail(out, &e),
    }
}

/// How `lro cancel --all` runs.
pub struct CancelAll {
    pub filter: String,
    pub concurrency: usize,
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
}

/// `lro cancel --all PARENT [--filter F] [--concurrency N] [--wait [--wait-timeout S]]`:
/// lists, cancels each (N at a time), and with --wait confirms them all on one scheduler.
pub async fn cancel_all(global: &Global, parent: &str, how: CancelAll) -> ExitCode {
    let client = match client(global).await {
        Ok(client) => with_wait_timeout(&client, how.wait_timeout),
        Err(code) => return code,
    };
    let out = global.output;
    let names: Vec<String> = match client
        .list_operations(parent)
        .filter(how.filter.clone())
        .stream()
        .map_ok(|op| op.name)
        .try_collect()
        .await
    {
        Ok(names) => names,
        Err(e) => return fail(out, &e),
    };
    let progress = Progress::start(out, names.len(), "cancelling");
    let mut errors = Vec::new();
    let mut accepted = Vec::new();
    let mut unsupported = 0usize;
    let mut cancels = futures_util::stream::iter(names.iter().map(|name| {
        let call = client.cancel_operation(name);
        async move { (name, call.await) }
    }))
    .buffer_unordered(how.concurrency);
    while let Some((name, result)) = cancels.next().await {
        progress.step();
        match result {
            Ok(()) => accepted.push(name.clone()),
            Err(e) => {
                unsupported += usize::from(e.is_status() && e.is_unimplemented());
                errors.push((name.clone(), e));
            }
        }
    }
    drop(cancels);
    progress.finish();
    let requested = accepted.len();
    let mut outcomes = None;
    if how.wait {
        let progress = Progress::start(out, accepted.len(), "confirming");
        let mut counts = Outcomes {
            unsupported,
            ..Outcomes::default()
        };
        let mut confirmed = client.wait_all(&accepted);
        while let Some((name, result)) = confirmed.next().await {
            progress.step();
            match result {
                Ok(op) if op.is_cancelled() => counts.cancelled += 1,
                Ok(op) if op.error().is_some() => counts.failed += 1,
                Ok(_) => counts.completed += 1,
                Err(e) if e.is_polling_deadline() => counts.running += 1,
                Err(e) => errors.push((name, e)),
            }
        }
        progress.finish();
        outcomes = Some(counts);
    }
    let code = if errors
        .iter()
        .any(|(_, e)| !(e.is_status() && e.is_unimplemented()))
    {
        ExitCode::from(FAILED)
    } else if unsupported > 0 {
        ExitCode::from(UNSUPPORTED)
    } else {
        match &outcomes {
            Some(o) if o.running > 0 => ExitCode::from(STILL_RUNNING),
            Some(o) if o.completed + o.failed > 0 => ExitCode::from(ENDED_OTHERWISE),
            _ => ExitCode::SUCCESS,
        }
    };
    let mut doc = json!({
        "parent": parent,
        "requested": requested,
        "errors": errors.iter().map(|(name, e)| json!({
            "name": name,
            "error": {"code": code_name(e.code()), "message": e.to_string()},
        })).collect::<Vec<_>>(),
    });
    let mut text = format!("{parent}: {requested} of {} cancels requested", names.len());
    if let Some(o) = &outcomes {
        doc["outcomes"] = json!({
            "cancelled": o.cancelled,
            "completed": o.completed,
            "failed": o.failed,
            "running": o.running,
            "unsupported": o.unsupported,
        });
        text.push_str(&format!(
            "\n  cancelled {}, completed anyway {}, failed {}, still running {}, cannot cancel {}",
            o.cancelled, o.completed, o.failed, o.running, o.unsupported
        ));
    }
    for (name, e) in &errors {
        text.push_str(&format!("\n  {name}: {e}"));
    }
    print(out, doc, text);
    code
}

/// What `cancel --all --wait` confirmed.
#[derive(Default)]
struct Outcomes {
    cancelled: usize,
    completed: usize,
    failed: usize,
    running: usize,
    unsupported: usize,
}
