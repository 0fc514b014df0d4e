//! `lro wait NAME`: waits until the operation is done or `--wait-timeout` passes (with
//! `WaitOperation` where the server serves it, else polling); on a terminal, the metadata
//! as it changes. With `--cancel-on-timeout`, a wait that gives up cancels the operation
//! and says what became of it.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::prost_types::Any;
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{Error, pb};
use serde_json::json;

use crate::args::{ClientArgs, OutputArgs, seconds, with_wait_timeout};
use crate::output::{ENDED_OTHERWISE, FAILED, Failure, STILL_RUNNING, Spinner, UNSUPPORTED, print};
use crate::text;

/// How long a give-up's cancel is confirmed for (--cancel-on-timeout).
const CONFIRM: Duration = Duration::from_secs(10);

/// Wait for an operation until it is done, or until --wait-timeout gives up (exit 4).
#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// The operation's name.
    pub name: String,
    /// How long to wait in all, in seconds, before giving up (exit 4).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, default_value = "900")]
    pub wait_timeout: Duration,
    /// On giving up, cancel the operation and confirm for up to 10 s; exit as `lro cancel
    /// --wait` does (0 cancelled, 5 ended otherwise, 4 still running, 3 unsupported).
    #[arg(long)]
    pub cancel_on_timeout: bool,
    /// Poll GetOperation only, never WaitOperation (for a server whose WaitOperation
    /// misbehaves).
    #[arg(long)]
    pub no_server_wait: bool,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: WaitArgs) -> Result<ExitCode, Failure> {
    let cancel = args.cancel_on_timeout.then_some(CONFIRM);
    let client = with_wait_timeout(
        &args.client.client()?,
        args.wait_timeout,
        cancel,
        args.no_server_wait,
    );
    let (name, out) = (&args.name, args.out.output);
    let spinner = Spinner::start(out, &format!("waiting for {name}"));
    let mut states = Box::pin(client.operation::<Any, Any>(name.as_str()).into_stream());
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
    let gave_up = match end {
        Some(Ok(_)) => None,
        Some(Err(e)) if e.is_operation_failed() => None,
        Some(Err(e)) if e.is_polling_deadline() && args.cancel_on_timeout => {
            return Ok(cancelled_on_giving_up(&args, &e));
        }
        // Still running when the wait gave up: the operation as last seen, and say so.
        Some(Err(e)) if e.is_polling_deadline() => e.operation().cloned(),
        Some(Err(e)) => return Err(args.client.failure(e)),
        None => return Err(Failure::usage("the wait ended without a result")),
    };
    if let Some(op) = gave_up {
        let waited = args.wait_timeout;
        print(
            out,
            crate::types().operation(&op),
            format!(
                "gave up after {waited:?} (--wait-timeout); the operation is still running\n{}",
                text::operation_text(&op)
            ),
        );
        return Ok(ExitCode::from(STILL_RUNNING));
    }
    let op = client
        .get_operation(name)
        .await
        .map_err(|e| args.client.failure(e))?;
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
    Ok(code)
}

/// What `--cancel-on-timeout` came to, once the wait gave up: the cancel sent (or refused)
/// and the operation as it then was; exit codes as for `lro cancel --wait`.
fn cancelled_on_giving_up(args: &WaitArgs, gave_up: &Error) -> ExitCode {
    let name = args.name.as_str();
    let op = gave_up
        .operation()
        .cloned()
        .unwrap_or_else(|| pb::Operation {
            name: name.to_owned(),
            ..Default::default()
        });
    let waited = args.wait_timeout;
    let (cancel, word, code) = if let Some(refused) = gave_up.cancel_refused() {
        match refused {
            tonic::Code::Unimplemented => ("refused", "unsupported", ExitCode::from(UNSUPPORTED)),
            _ => ("refused", "running", ExitCode::from(FAILED)),
        }
    } else if op.is_cancelled() {
        ("sent", "cancelled", ExitCode::SUCCESS)
    } else if op.done {
        let word = if op.error().is_some() {
            "failed"
        } else {
            "completed"
        };
        ("sent", word, ExitCode::from(ENDED_OTHERWISE))
    } else {
        ("sent", "running", ExitCode::from(STILL_RUNNING))
    };
    print(
        args.out.output,
        json!({
            "name": name,
            "gave_up_after_s": waited.as_secs_f64(),
            "cancel": cancel,
            "outcome": word,
            "operation": crate::types().operation(&op),
        }),
        format!(
            "gave up after {waited:?} (--wait-timeout); {}\n{name}: {word}\n  state: {}",
            match (gave_up.cancel_refused(), word) {
                (Some(code), _) => {
                    format!("the cancel sent then failed with {}", text::code_name(code))
                }
                (None, "cancelled") => "the cancel sent then took effect".to_owned(),
                (None, "running") => format!("a cancel was sent; still running {CONFIRM:?} later"),
                (None, _) => "a cancel was sent, but the operation ended otherwise".to_owned(),
            },
            text::state(&op)
        ),
    );
    code
}
