//! `lro`: manage Google long-running operations over gRPC from the command line.
//!
//! Exit codes: 0 success; 1 the call failed; 2 usage error or invalid input (nothing was
//! sent); 3 the server does not support the method; 4 the wait ended while the operation was
//! still running; 5 the operation ended other than asked.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use longrunning_grpc::emulator::{Completion, Emulator, OnCancel, ScriptedOperation};
use longrunning_grpc::json as render;
use longrunning_grpc::{
    CancelOutcome, DEFAULT_ENDPOINT, Error, OperationsClient, Polled, PollingPolicy, pb,
};
use serde_json::json;

const FAILED: u8 = 1;
const USAGE: u8 = 2;
const UNSUPPORTED: u8 = 3;
const STILL_RUNNING: u8 = 4;
const ENDED_OTHERWISE: u8 = 5;

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
    /// The server's URL.
    #[arg(long, env = "LRO_ENDPOINT", default_value = DEFAULT_ENDPOINT, global = true)]
    endpoint: String,

    /// A bearer token to send instead of Application Default Credentials.
    #[arg(long, env = "LRO_ACCESS_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,

    /// Send no credentials (local servers such as `lro serve`).
    #[arg(long, global = true)]
    no_auth: bool,

    /// The project billed for quota (x-goog-user-project).
    #[arg(long, env = "GOOGLE_CLOUD_QUOTA_PROJECT", global = true)]
    quota_project: Option<String>,

    /// Each call's deadline in seconds, retries included.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds, global = true)]
    timeout: Duration,

    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,

    /// Allow credentials over plaintext http:// to a host that is not loopback.
    #[arg(long, global = true)]
    allow_insecure: bool,

    /// Log more to stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Request cancellation of an operation (asynchronous, best effort).
    Cancel {
        /// The operation's name, e.g. projects/P/locations/L/operations/ID.
        name: String,
        /// Poll until the cancellation is confirmed (or the operation ends otherwise).
        #[arg(long)]
        wait: bool,
        /// How long --wait polls, in seconds.
        #[arg(long, value_name = "SECONDS", value_parser = seconds, requires = "wait")]
        wait_timeout: Option<Duration>,
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
        wait_timeout: Option<Duration>,
    },
    /// Run the emulator: a local google.longrunning.Operations server.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Create N running operations projects/demo/locations/global/operations/op-1..op-N.
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Answer UNAUTHENTICATED unless this bearer token is sent.
        #[arg(long)]
        require_token: Option<String>,
    },
    /// Run the whole cancel story offline against an in-process emulator.
    Demo,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{s:?} must be more than zero seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too many seconds"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(FAILED);
        }
    };
    runtime.block_on(run(cli))
}

/// Clap's errors, as JSON when `--output json` was asked for (help and version stay text).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json_wanted = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || std::env::args().any(|a| a == "--output=json");
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if json_wanted && !informational {
        let message = e.kind().to_string();
        let doc = json!({"error": {"code": "INVALID_ARGUMENT", "message": format!("usage: {message}"), "details": []}});
        println!("{doc}");
        let _ = e.print();
        return ExitCode::from(USAGE);
    }
    let _ = e.print();
    ExitCode::from(if informational { 0 } else { USAGE })
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
    match &cli.command {
        Command::Serve {
            listen,
            seed,
            require_token,
        } => return serve(*listen, *seed, require_token.clone()).await,
        Command::Demo => return demo(cli.output).await,
        _ => {}
    }
    let client = match build_client(&cli).await {
        Ok(client) => client,
        Err(e) => return fail(cli.output, &e),
    };
    let out = cli.output;
    match cli.command {
        Command::Cancel {
            name, wait: false, ..
        } => match client.cancel_operation(&name).await {
            Ok(()) => {
                print(
                    out,
                    json!({"name": name, "outcome": "requested"}),
                    format!(
                        "cancel requested for {name}\n(cancellation is asynchronous and best \
                         effort: confirm with `lro get`, or use --wait)"
                    ),
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(out, &e),
        },
        Command::Cancel {
            name,
            wait: true,
            wait_timeout,
        } => {
            let client = with_wait_timeout(&client, wait_timeout);
            let spinner = Spinner::start(out, &format!("cancelling {name}"));
            let result = client.cancel_and_wait(&name).await;
            spinner.finish();
            match result {
                Ok(CancelOutcome::Unsupported(e)) => fail(out, &e),
                Ok(outcome) => {
                    let code = match outcome {
                        CancelOutcome::Cancelled(_) => ExitCode::SUCCESS,
                        CancelOutcome::StillRunning(_) => ExitCode::from(STILL_RUNNING),
                        _ => ExitCode::from(ENDED_OTHERWISE),
                    };
                    let op = outcome.operation().cloned().unwrap_or_default();
                    print(
                        out,
                        json!({"name": name, "outcome": outcome.as_str(), "operation": render::operation(&op)}),
                        format!(
                            "{name}: {}\n  state: {}",
                            outcome.as_str(),
                            render::state(&op)
                        ),
                    );
                    code
                }
                Err(e) => fail(out, &e),
            }
        }
        Command::Get { name } => match client.get_operation(&name).await {
            Ok(op) => {
                print(out, render::operation(&op), render::operation_text(&op));
                ExitCode::SUCCESS
            }
            Err(e) => fail(out, &e),
        },
        Command::List {
            parent,
            filter,
            page_size,
            max,
        } => {
            let mut list = client.list_operations(parent);
            if let Some(filter) = filter {
                list = list.filter(filter);
            }
            if let Some(size) = page_size {
                list = list.page_size(i32::from(size));
            }
            match list.collect(max).await {
                Ok(listing) => {
                    let mut text: Vec<String> = listing
                        .operations
                        .iter()
                        .map(render::operation_line)
                        .collect();
                    if listing.operations.is_empty() {
                        text.push("no operations".into());
                    }
                    for u in &listing.unreachable {
                        text.push(format!("unreachable: {u}"));
                    }
                    print(
                        out,
                        json!({
                            "operations": listing.operations.iter().map(render::operation).collect::<Vec<_>>(),
                            "unreachable": listing.unreachable,
                        }),
                        text.join("\n"),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(out, &e),
            }
        }
        Command::Delete { name } => match client.delete_operation(&name).await {
            Ok(()) => {
                print(
                    out,
                    json!({"name": name, "deleted": true}),
                    format!("deleted {name}"),
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(out, &e),
        },
        Command::Wait { name, wait_timeout } => {
            let client = with_wait_timeout(&client, wait_timeout);
            let spinner = Spinner::start(out, &format!("waiting for {name}"));
            let result = client.poll_until_done(&name).await;
            spinner.finish();
            match result {
                Ok(polled) => {
                    let code = match &polled {
                        Polled::StillRunning(_) => ExitCode::from(STILL_RUNNING),
                        Polled::Done(op) if op.error().is_some() => ExitCode::from(ENDED_OTHERWISE),
                        Polled::Done(_) => ExitCode::SUCCESS,
                    };
                    let op = polled.into_operation();
                    print(out, render::operation(&op), render::operation_text(&op));
                    code
                }
                Err(e) => fail(out, &e),
            }
        }
        Command::Serve { .. } | Command::Demo => unreachable!("handled above"),
    }
}

async fn build_client(cli: &Cli) -> Result<OperationsClient, Error> {
    let mut builder = OperationsClient::builder()
        .endpoint(cli.endpoint.clone())
        .timeout(cli.timeout)
        .allow_insecure(cli.allow_insecure);
    builder = if cli.no_auth {
        builder.anonymous()
    } else if let Some(token) = &cli.token {
        builder.access_token(token.clone())
    } else {
        builder
    };
    if let Some(project) = &cli.quota_project {
        builder = builder.quota_project(project.clone());
    }
    builder.build().await
}

fn with_wait_timeout(client: &OperationsClient, wait: Option<Duration>) -> OperationsClient {
    match wait {
        Some(deadline) => {
            let policy = PollingPolicy::builder().deadline(Some(deadline)).build();
            // The default policy's numbers always validate; keep it if this one did not.
            policy.map_or_else(|_| client.clone(), |p| client.with_polling_policy(p))
        }
        None => client.clone(),
    }
}

fn print(output: Output, doc: serde_json::Value, text: String) {
    match output {
        Output::Json => println!("{doc}"),
        Output::Text => println!("{text}"),
    }
}

fn fail(output: Output, err: &Error) -> ExitCode {
    match output {
        Output::Json => println!("{}", render::error(err)),
        Output::Text => eprintln!("error: {err}"),
    }
    let code = if err.is_invalid_argument() || err.is_config() {
        USAGE
    } else if err.is_unimplemented() {
        UNSUPPORTED
    } else {
        FAILED
    };
    ExitCode::from(code)
}

/// A spinner with elapsed time on stderr, only on a terminal and only in text mode.
struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    fn start(output: Output, message: &str) -> Self {
        if output != Output::Text || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(Some(bar))
    }

    fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

async fn serve(listen: SocketAddr, seed: u32, require_token: Option<String>) -> ExitCode {
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

/// Starts an emulator, scripts one operation per cancel behaviour, cancels each and shows
/// what GetOperation confirms.
async fn demo(output: Output) -> ExitCode {
    const TOKEN: &str = "demo-token";
    let emulator = match Emulator::builder()
        .require_token(TOKEN)
        .check_routing_header(true)
        .start()
        .await
    {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot start the emulator: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let name = |id: &str| format!("projects/demo/locations/global/operations/{id}");
    let scenarios = [
        (
            "honours cancel",
            ScriptedOperation::new(name("honours")).on_cancel(OnCancel::Honour),
        ),
        (
            "completes anyway",
            ScriptedOperation::new(name("completes")).on_cancel(OnCancel::CompleteAnyway),
        ),
        (
            "fails while cancelling",
            ScriptedOperation::new(name("fails"))
                .on_cancel(OnCancel::Ignore)
                .error(tonic::Code::Internal, "worker crashed")
                .completion(Completion::AfterPolls(2)),
        ),
        (
            "ignores cancel",
            ScriptedOperation::new(name("ignores")).on_cancel(OnCancel::Ignore),
        ),
        (
            "cannot be cancelled",
            ScriptedOperation::new(name("unsupported")).on_cancel(OnCancel::Unsupported),
        ),
    ];
    for (_, script) in &scenarios {
        emulator.insert(script.clone());
    }
    let polling = PollingPolicy::builder()
        .initial_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(500))
        .deadline(Some(Duration::from_secs(2)))
        .build();
    let client = match polling {
        Ok(polling) => {
            OperationsClient::builder()
                .endpoint(emulator.endpoint())
                .access_token(TOKEN)
                .polling_policy(polling)
                .build()
                .await
        }
        Err(e) => Err(e),
    };
    let client = match client {
        Ok(client) => client,
        Err(e) => return fail(output, &e),
    };

    if output == Output::Text {
        println!("emulator listening on {}\n", emulator.endpoint());
        println!("cancelling five operations and confirming each with GetOperation:\n");
    }
    let runs = scenarios.iter().map(|(behaviour, script)| {
        let client = client.clone();
        let name = script.name().to_owned();
        async move {
            (
                *behaviour,
                name.clone(),
                client.cancel_and_wait(&name).await,
            )
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut docs = Vec::new();
    for (behaviour, name, result) in results {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => return fail(output, &e),
        };
        let op: Option<&pb::Operation> = outcome.operation();
        let confirmed = match (&outcome, op.and_then(|op| op.result())) {
            (CancelOutcome::Unsupported(e), _) => format!(
                "CancelOperation answered {}",
                longrunning_grpc::code_name(e.code())
            ),
            (_, Some(Ok(response))) => format!("done, response {}", response.type_url),
            (_, Some(Err(status))) => format!(
                "done, error.code = {} ({}: {})",
                status.code,
                longrunning_grpc::code_name(tonic::Code::from_i32(status.code)),
                status.message
            ),
            (_, None) => "done = false when polling stopped".to_owned(),
        };
        if output == Output::Text {
            println!(
                "  {behaviour:<24} -> {:<11} ({confirmed})",
                outcome.as_str()
            );
        }
        docs.push(json!({
            "name": name,
            "behaviour": behaviour,
            "outcome": outcome.as_str(),
            "operation": op.map(render::operation),
        }));
    }
    let journal = emulator.journal();
    if output == Output::Text {
        println!(
            "\nthe emulator checked the bearer token and x-goog-request-params on all {} calls.",
            journal.len()
        );
        println!(
            "a successful cancel only means \"requested\": the outcome comes from GetOperation."
        );
    } else {
        println!(
            "{}",
            json!({"endpoint": emulator.endpoint(), "results": docs, "calls": journal.len()})
        );
    }
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
