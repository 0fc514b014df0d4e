//! `lro cancel NAME` (request, or with --wait request and confirm) and `lro cancel --all
//! PARENT` (every operation listed under a parent, N at a time, confirmed on one
//! scheduler with --wait).

use std::process::ExitCode;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use longrunning_grpc::CancelOutcome;
use serde_json::json;

use crate::args::{ClientArgs, OutputArgs, seconds, wait_policy, waiting};
use crate::output::{
    ENDED_OTHERWISE, FAILED, Failure, Progress, STILL_RUNNING, Spinner, UNSUPPORTED, outcome_code,
    print,
};
use crate::text::{self, code_name};

/// Request cancellation of an operation (asynchronous, best effort), or with --all of
/// every operation listed under a parent.
#[derive(clap::Args, Debug)]
pub struct CancelArgs {
    /// The operation's name, e.g. projects/P/locations/L/operations/ID; with --all, the
    /// parent, e.g. projects/P/locations/L.
    pub name: String,
    /// Cancel every operation listed under the parent NAME (with --filter).
    #[arg(long)]
    pub all: bool,
    /// With --all: which operations to cancel.
    #[arg(long, default_value = "done=false", requires = "all")]
    pub filter: String,
    /// With --all: how many cancels run at once.
    #[arg(long, value_name = "N", default_value_t = 16, requires = "all",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Poll until the cancellation is confirmed (or the operation ends otherwise).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait polls in all, in seconds, before giving up (exit 4).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, default_value = "900")]
    pub wait_timeout: Duration,
    /// With --wait: poll GetOperation only, never WaitOperation (for a server whose
    /// WaitOperation misbehaves).
    #[arg(long, requires = "wait")]
    pub no_server_wait: bool,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: CancelArgs) -> Result<ExitCode, Failure> {
    if args.all {
        return cancel_all(args).await;
    }
    let client = args.client.client()?;
    let (out, name) = (args.out.output, args.name.as_str());
    if !args.wait {
        client
            .cancel_operation(name)
            .await
            .map_err(|e| args.client.failure(e))?;
        print(
            out,
            json!({"name": name, "outcome": "requested"}),
            format!(
                "cancel requested for {name}\n(cancellation is asynchronous and best \
                 effort: confirm with `lro get`, or use --wait)"
            ),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let client = waiting(&client, wait_policy(args.wait_timeout, args.no_server_wait));
    let spinner = Spinner::start(out, &format!("cancelling {name}"));
    let result = client.cancel_and_wait(name).await;
    spinner.finish();
    let (word, op, code, note) = match result {
        Ok(CancelOutcome::Unsupported(e)) => return Err(args.client.failure(e)),
        Ok(outcome) => {
            let op = outcome.operation().cloned().unwrap_or_default();
            (outcome.as_str(), op, outcome_code(&outcome), String::new())
        }
        // Still running when the wait gave up: the operation as last seen, and say so.
        Err(e) if e.is_polling_deadline() => {
            let op = e.operation().cloned().unwrap_or_default();
            let note = format!(
                "\n  gave up after {:?} (--wait-timeout); the cancel was requested",
                args.wait_timeout
            );
            ("running", op, ExitCode::from(STILL_RUNNING), note)
        }
        Err(e) => return Err(args.client.failure(e)),
    };
    print(
        out,
        json!({"name": name, "outcome": word, "operation": crate::types().operation(&op)}),
        format!("{name}: {word}\n  state: {}{note}", text::state(&op)),
    );
    Ok(code)
}

/// `lro cancel --all PARENT [--filter F] [--concurrency N] [--wait [--wait-timeout S]]`:
/// lists, cancels each (N at a time), and with --wait confirms them all on one scheduler.
async fn cancel_all(args: CancelArgs) -> Result<ExitCode, Failure> {
    let client = waiting(
        &args.client.client()?,
        wait_policy(args.wait_timeout, args.no_server_wait),
    );
    let (out, parent) = (args.out.output, args.name.as_str());
    let names: Vec<String> = client
        .list_operations(parent)
        .filter(args.filter.clone())
        .stream()
        .map_ok(|op| op.name)
        .try_collect()
        .await
        .map_err(|e| args.client.failure(e))?;
    let progress = Progress::start(out, names.len(), "cancelling");
    let mut errors = Vec::new();
    let mut accepted = Vec::new();
    let mut unsupported = 0usize;
    let mut cancels = futures_util::stream::iter(names.iter().map(|name| {
        let call = client.cancel_operation(name);
        async move { (name, call.await) }
    }))
    .buffer_unordered(usize::from(args.concurrency));
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
    if args.wait {
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
    Ok(code)
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
