//! `lro wait NAME`: waits until the operation is done or `--wait-timeout` passes (with
//! `WaitOperation` where the server serves it, else polling); on a terminal, the metadata
//! as it changes. With `--cancel-on-timeout`, a wait that gives up cancels the operation
//! and says what became of it.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::prost_types::Any;
use longrunning_grpc::wait::PollingResult;
use longrunning_grpc::{CancelOutcome, Error, pb};
use serde_json::json;

use crate::args::{ClientArgs, OutputArgs, seconds, wait_policy, waiting};
use crate::output::{
    ENDED_OTHERWISE, FAILED, Failure, STILL_RUNNING, Spinner, UNSUPPORTED, outcome_code, print,
};
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
    let policy = wait_policy(args.wait_timeout, args.no_server_wait)
        .cancel_on_deadline(args.cancel_on_timeout.then_some(CONFIRM));
    let client = waiting(&args.client.client()?, policy);
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
    // What the cancel came to: in the JSON's words, in a sentence, and as the exit code.
    let (cancel, word, said, code) = match (
        gave_up.cancel_refused(),
        CancelOutcome::of_operation(op.clone()),
    ) {
        (Some(refused), _) => {
            let (word, code) = match refused {
                tonic::Code::Unimplemented => ("unsupported", ExitCode::from(UNSUPPORTED)),
                _ => ("running", ExitCode::from(FAILED)),
            };
            let said = format!(
                "the cancel sent then failed with {}",
                text::code_name(refused)
            );
            ("refused", word, said, code)
        }
        (None, None) => {
            let said = format!("a cancel was sent; still running {CONFIRM:?} later");
            ("sent", "running", said, ExitCode::from(STILL_RUNNING))
        }
        (None, Some(outcome)) => {
            let said = match outcome {
                CancelOutcome::Cancelled(_) => "the cancel sent then took effect",
                _ => "a cancel was sent, but the operation ended otherwise",
            };
            (
                "sent",
                outcome.as_str(),
                said.to_owned(),
                outcome_code(&outcome),
            )
        }
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
            "gave up after {waited:?} (--wait-timeout); {said}\n{name}: {word}\n  state: {}",
            text::state(&op)
        ),
    );
    code
}
