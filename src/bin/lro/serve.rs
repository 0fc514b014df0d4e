//! `lro serve`: the emulator as a local server, shaped by a scenario file, with a journal
//! file, until SIGTERM or Ctrl-C.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use longrunning_grpc::emulator::{Emulator, Received, Scenario, ScriptedOperation};
use longrunning_grpc::json::TypeRegistry;
use serde_json::json;

use crate::output::{FAILED, USAGE};

/// What `lro serve` was asked for.
pub struct Serve {
    pub listen: SocketAddr,
    pub seed: u32,
    pub require_token: Option<String>,
    pub scenario: Option<PathBuf>,
    pub journal: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub async fn serve(how: Serve, registry: &TypeRegistry) -> ExitCode {
    // Everything is checked before anything is served.
    let scenario = match &how.scenario {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match Scenario::from_json_with(&text, registry) {
                Ok(scenario) => Some(scenario),
                Err(e) => return refuse(&format!("scenario {}: {e}", path.display())),
            },
            Err(e) => return refuse(&format!("cannot read scenario {}: {e}", path.display())),
        },
        None => None,
    };
    let tls = match &how.tls {
        Some((cert, key)) => match (std::fs::read(cert), std::fs::read(key)) {
            (Ok(cert), Ok(key)) => Some((cert, key)),
            (Err(e), _) => return refuse(&format!("cannot read {}: {e}", cert.display())),
            (_, Err(e)) => return refuse(&format!("cannot read {}: {e}", key.display())),
        },
        None => None,
    };
    let journal = match &how.journal {
        Some(path) => match File::create(path) {
            Ok(file) => Some(Arc::new(Mutex::new(BufWriter::new(file)))),
            Err(e) => return refuse(&format!("cannot write journal {}: {e}", path.display())),
        },
        None => None,
    };

    let mut builder = Emulator::builder().listen(how.listen);
    if let Some(scenario) = &scenario {
        builder = scenario.configure(builder);
    }
    if let Some(token) = how.require_token {
        builder = builder.require_token(token);
    }
    if let Some((cert, key)) = tls {
        builder = builder.tls(cert, key);
    }
    if let Some(journal) = &journal {
        let journal = journal.clone();
        builder = builder.on_received(move |received| write_line(&journal, received));
    }
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot serve on {}: {e}", how.listen);
            return ExitCode::from(FAILED);
        }
    };
    if let Some(scenario) = &scenario {
        scenario.apply(&emulator);
    }
    for i in 1..=how.seed {
        emulator.insert(ScriptedOperation::new(format!(
            "projects/demo/locations/global/operations/op-{i}"
        )));
    }
    // One write, so a reader that takes the first line and closes the pipe still gets both,
    // and a closed stdout never stops the server (println! would panic).
    let mut stdout = std::io::stdout().lock();
    let _ = write!(
        stdout,
        "listening on {}\nLRO_EMULATOR_HOST={}\n",
        emulator.endpoint(),
        emulator.local_addr()
    );
    let _ = stdout.flush();
    drop(stdout);
    stopped().await;
    emulator.shutdown().await;
    if let Some(journal) = journal {
        let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = journal.flush() {
            eprintln!("error: cannot write the journal: {e}");
            return ExitCode::from(FAILED);
        }
    }
    ExitCode::SUCCESS
}

fn refuse(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(USAGE)
}

/// One call as a JSON line, flushed at once so a reader sees it while the server runs.
fn write_line(journal: &Mutex<BufWriter<File>>, received: &Received) {
    let headers: serde_json::Map<String, serde_json::Value> = received
        .masked_headers()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let line = json!({
        "method": received.method.as_str(),
        "name": received.name,
        "headers": headers,
        "code": crate::text::code_name(received.code),
        "time": prost_types::Timestamp::from(received.time).to_string(),
    });
    let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
    let written = writeln!(journal, "{line}").and_then(|()| journal.flush());
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write the journal");
    }
}

/// Until SIGTERM or Ctrl-C.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
