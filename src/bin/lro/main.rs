//! `lro`: manage Google long-running operations over gRPC from the command line.
//!
//! Exit codes: 0 success; 1 the call failed; 2 usage error or invalid input (nothing was
//! sent); 3 the server does not support the method; 4 the wait ended while the operation was
//! still running; 5 the operation ended other than asked.

mod commands;
mod demo;
mod global;
mod output;
mod serve;
mod text;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use global::{Global, seconds};
use longrunning_grpc::json::TypeRegistry;

#[derive(Parser, Debug)]
#[command(
    name = "lro",
    version,
    about = "Manage Google long-running operations (google.longrunning.Operations) over gRPC",
    after_help = "Exit codes: 0 success; 1 the call failed; 2 usage error or invalid input \
                  (nothing was sent); 3 the server does not support the method; 4 the wait \
                  ended while the operation was still running; 5 the operation ended other \
                  than asked."
)]
struct Cli {
    #[command(flatten)]
    global: Global,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Request cancellation of an operation (asynchronous, best effort), or with --all of
    /// every operation listed under a parent.
    Cancel {
        /// The operation's name, e.g. projects/P/locations/L/operations/ID; with --all, the
        /// parent, e.g. projects/P/locations/L.
        name: String,
        /// Cancel every operation listed under the parent NAME (with --filter).
        #[arg(long)]
        all: bool,
        /// With --all: which operations to cancel.
        #[arg(long, default_value = "done=false", requires = "all")]
        filter: String,
        /// With --all: how many cancels run at once.
        #[arg(long, value_name = "N", default_value_t = 16, requires = "all",
              value_parser = clap::value_parser!(u16).range(1..))]
        concurrency: u16,
        /// Poll until the cancellation is confirmed (or the operation ends otherwise).
        #[arg(long)]
        wait: bool,
        /// How long --wait polls, in seconds.
        #[arg(long, value_name = "SECONDS", value_parser = seconds, requires = "wait")]
        wait_timeout: Option<std::time::Duration>,
    },
    /// Show an operation.
    Get {
        /// The operation's name.
        name: String,
    },
    /// List the operations under a parent, e.g. projects/P/locations/L.
    List {
        /// The parent collection.
        parent: String,
        /// A filter, e.g. done=true.
        #[arg(long)]
        filter: Option<String>,
        /// Operations per page (the server chooses if unset).
        #[arg(long)]
        page_size: Option<u16>,
        /// Stop after this many operations.
        #[arg(long)]
        max: Option<usize>,
    },
    /// Delete an operation (the server forgets it; this does not cancel it).
    Delete {
        /// The operation's name.
        name: String,
    },
    /// Poll an operation until it is done.
    Wait {
        /// The operation's name.
        name: String,
        /// How long to poll, in seconds.
        #[arg(long, value_name = "SECONDS", value_parser = seconds)]
        wait_timeout: Option<std::time::Duration>,
    },
    /// Run the emulator: a local google.longrunning.Operations server.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// Create N running operations projects/demo/locations/global/operations/op-1..op-N.
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Answer UNAUTHENTICATED unless this bearer token is sent.
        #[arg(long)]
        require_token: Option<String>,
        /// Load operations, faults and checks from this JSON file (refused, exit 2, if bad).
        #[arg(long, value_name = "FILE")]
        scenario: Option<std::path::PathBuf>,
        /// Write each call as a JSON line (method, name, headers with secrets masked, code,
        /// time) to this file.
        #[arg(long, value_name = "FILE")]
        journal: Option<std::path::PathBuf>,
        /// Serve TLS with this certificate chain (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
    },
    /// Print a shell completion script, e.g. `lro completions bash > /etc/bash_completion.d/lro`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the whole cancel story offline against an in-process emulator.
    Demo,
}

/// The message types JSON and text are rendered and parsed with: the standard ones, plus
/// `--descriptor-set`'s.
static TYPES: std::sync::OnceLock<TypeRegistry> = std::sync::OnceLock::new();

pub fn types() -> &'static TypeRegistry {
    TYPES.get_or_init(TypeRegistry::standard)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage_error(e),
    };
    init_tracing(cli.global.verbose);
    if let Some(path) = &cli.global.descriptor_set {
        let mut registry = TypeRegistry::standard();
        let added = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| registry.add_file_descriptor_set(&bytes));
        if let Err(why) = added {
            let why = format!("--descriptor-set {}: {why}", path.display());
            return output::usage(cli.global.output, &why);
        }
        let _ = TYPES.set(registry);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(output::FAILED);
        }
    };
    runtime.block_on(run(cli))
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LRO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> ExitCode {
    let global = &cli.global;
    match cli.command {
        Command::Cancel {
            name,
            all: true,
            filter,
            concurrency,
            wait,
            wait_timeout,
        } => {
            let how = commands::CancelAll {
                filter,
                concurrency: usize::from(concurrency),
                wait,
                wait_timeout,
            };
            commands::cancel_all(global, &name, how).await
        }
        Command::Cancel {
            name,
            wait,
            wait_timeout,
            ..
        } => commands::cancel(global, &name, wait, wait_timeout).await,
        Command::Get { name } => commands::get(global, &name).await,
        Command::List {
            parent,
            filter,
            page_size,
            max,
        } => commands::list(global, parent, filter, page_size, max).await,
        Command::Delete { name } => commands::delete(global, &name).await,
        Command::Wait { name, wait_timeout } => commands::wait(global, &name, wait_timeout).await,
        Command::Serve {
            listen,
            seed,
            require_token,
            scenario,
            journal,
            tls_cert,
            tls_key,
        } => {
            let how = serve::Serve {
                listen,
                seed,
                require_token,
                scenario,
                journal,
                tls: tls_cert.zip(tls_key),
            };
            serve::serve(how, types()).await
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "lro", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Demo => demo::demo(global.output).await,
    }
}
