//! `lro wait NAME`: polls until the operation is done or `--wait-timeout` passes; on a
//! terminal, the metadata as it changes.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use longrunning_grpc::prost_types::Any;
use longrunning_grpc::wait::PollingResult;

use crate::args::{ClientArgs, OutputArgs, seconds, with_wait_timeout};
use crate::output::{ENDED_OTHERWISE, Failure, STILL_RUNNING, Spinner, print};
use crate::text;

/// Poll an operation until it is done, or until --wait-timeout gives up (exit 4).
#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// The operation's name.
    pub name: String,
    /// How long to wait in all, in seconds, before giving up (exit 4).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, default_value = "900")]
    pub wait_timeout: Duration,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: WaitArgs) -> Result<ExitCode, Failure> {
    let client = with_wait_timeout(&args.client.client()?, args.wait_timeout);
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
