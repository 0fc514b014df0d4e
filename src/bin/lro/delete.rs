//! `lro delete NAME`: the server forgets an operation (this does not cancel it).

use std::process::ExitCode;

use serde_json::json;

use crate::args::{ClientArgs, OutputArgs};
use crate::output::{Failure, print};

/// Delete an operation (the server forgets it; this does not cancel it).
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The operation's name.
    pub name: String,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: DeleteArgs) -> Result<ExitCode, Failure> {
    let client = args.client.client()?;
    client
        .delete_operation(&args.name)
        .await
        .map_err(|e| args.client.failure(e))?;
    let name = &args.name;
    print(
        args.out.output,
        json!({"name": name, "deleted": true}),
        format!("deleted {name}"),
    );
    Ok(ExitCode::SUCCESS)
}
