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

use crate::args::read_file;
use crate::output::{FAILED, Failure};

/// Run the emulator: a local google.longrunning.Operations server
///
/// It serves until SIGTERM or Ctrl-C. Every input is checked before anything is served:
/// a bad one is one line naming the flag and the file, exit 2.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Create N running operations projects/demo/locations/global/operations/op-1..op-N.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u32,
    /// Answer UNAUTHENTICATED unless this bearer token is sent.
    #[arg(long, value_name = "TOKEN")]
    pub require_token: Option<String>,
    /// Load operations, faults and checks from this JSON file.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Write each call as a JSON line (method, name, headers with secrets masked, code,
    /// time) to this file.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Serve TLS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A FileDescriptorSet whose types the scenario's `Any`s are read with.
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<PathBuf>,
}

pub async fn run(how: ServeArgs, registry: &TypeRegistry) -> Result<ExitCode, Failure> {
    // Everything is checked before anything is served.
    let scenario = match &how.scenario {
        Some(path) => {
            let bytes = read_file("--scenario", path)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Failure::usage(format!("--scenario {}: is not UTF-8 text", path.display()))
            })?;
            let scenario = Scenario::from_json_with(&text, registry).map_err(|e| {
                let why = e.to_string().replace(
                    "give the descriptors of its type",
                    "give its descriptors with --descriptor-set FILE",
                );
                Failure::usage(format!("--scenario {}: {why}", path.display()))
            })?;
            Some(scenario)
        }
        None => None,
    };
    let tls = match (&how.tls_cert, &how.tls_key) {
        (Some(cert_path), Some(key_path)) => {
            let cert = read_file("--tls-cert", cert_path)?;
            let key = read_file("--tls-key", key_path)?;
            if let Err(e) = longrunning_grpc::emulator::check_tls(&cert, &key) {
                let file = match e.about_key() {
                    true => format!("--tls-key {}", key_path.display()),
                    false => format!("--tls-cert {}", cert_path.display()),
                };
                return Err(Failure::usage(format!("{file}: {e}")));
            }
            Some((cert, key))
        }
        _ => None,
    };
    let journal = match &how.journal {
        Some(path) => match File::create(path) {
            Ok(file) => Some(Arc::new(Mutex::new(BufWriter::new(file)))),
            Err(e) => {
                return Err(Failure::usage(format!(
                    "--journal {}: cannot write it: {e}",
                    path.display()
                )));
            }
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
    let tls_served = tls.is_some();
    if let Some((cert, key)) = tls {
        builder = builder.tls(cert, key);
    }
    if let Some(journal) = &journal {
        let journal = journal.clone();
        builder = builder.on_received(move |received| write_line(&journal, received));
    }
    let emulator = builder
        .start()
        .await
        .map_err(|e| Failure::usage(format!("--listen {}: cannot serve there: {e}", how.listen)))?;
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
    // LRO_EMULATOR_HOST means plaintext to every client, so a TLS server names its
    // endpoint instead (its clients trust its CA with --ca-cert or LRO_CA_CERT).
    let _ = if tls_served {
        write!(
            stdout,
            "listening on {endpoint}\nLRO_ENDPOINT={endpoint}\n",
            endpoint = emulator.endpoint()
        )
    } else {
        write!(
            stdout,
            "listening on {}\nLRO_EMULATOR_HOST={}\n",
            emulator.endpoint(),
            emulator.local_addr()
        )
    };
    let _ = stdout.flush();
    drop(stdout);
    stopped().await;
    emulator.shutdown().await;
    if let Some(journal) = journal {
        let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = journal.flush() {
            eprintln!("error: cannot write the journal: {e}");
            return Ok(ExitCode::from(FAILED));
        }
    }
    Ok(ExitCode::SUCCESS)
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
