//! `lro get NAME`: one operation, as it is now.

use std::process::ExitCode;

use crate::args::{ClientArgs, OutputArgs};
use crate::output::{Failure, print};
use crate::text;

/// Show an operation.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The operation's name, e.g. projects/P/locations/L/operations/ID.
    pub name: String,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: GetArgs) -> Result<ExitCode, Failure> {
    let client = args.client.client()?;
    let op = client
        .get_operation(&args.name)
        .await
        .map_err(|e| args.client.failure(e))?;
    print(
        args.out.output,
        crate::types().operation(&op),
        text::operation_text(&op),
    );
    Ok(ExitCode::SUCCESS)
}
