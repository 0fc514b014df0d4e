//! `lro serve`: the emulator as a local server.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use longrunning_grpc::emulator::{Emulator, ScriptedOperation};

use crate::output::FAILED;

pub async fn serve(listen: SocketAddr, seed: u32, require_token: Option<String>) -> ExitCode {
    let mut builder = Emulator::builder().listen(listen);
    if let Some(token) = require_token {
        builder = builder.require_token(token);
    }
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(FAILED);
        }
    };
    for i in 1..=seed {
        emulator.insert(ScriptedOperation::new(format!(
            "projects/demo/locations/global/operations/op-{i}"
        )));
    }
    println!("listening on {}", emulator.endpoint());
    let _ = std::io::stdout().flush();
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
