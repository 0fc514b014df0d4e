//! `lro`: manage Google long-running operations over gRPC from the command line.
//!
//! Shaped as clap's own `git-derive` example: one `Args` struct per subcommand, defined in
//! the subcommand's file and used as it is; the flags shared by the subcommands that call
//! a server ([`args::ClientArgs`]) and that print results ([`args::OutputArgs`]) are
//! flattened into those subcommands only, so `serve --help` lists what `serve` takes.
//! Each handler returns `Result<ExitCode, Failure>`: a failed set-up is `?`, and the one
//! place that prints a failure is here. The exit codes are [`output::EXIT_CODES`].

mod args;
mod cancel;
mod delete;
mod demo;
mod get;
mod list;
mod output;
mod serve;
mod text;
mod wait;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use longrunning_grpc::json::TypeRegistry;

use args::Output;
use output::Failure;

#[derive(Parser, Debug)]
#[command(
    name = "lro",
    version,
    about = "Manage Google long-running operations (google.longrunning.Operations) over gRPC",
    after_help = output::EXIT_CODES,
)]
struct Cli {
    /// Log more to stderr (-v info, -vv debug, -vvv trace; LRO_LOG takes a filter).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Cancel(cancel::CancelArgs),
    Get(get::GetArgs),
    List(list::ListArgs),
    Delete(delete::DeleteArgs),
    Wait(wait::WaitArgs),
    Serve(serve::ServeArgs),
    Completions(CompletionsArgs),
    Demo(demo::DemoArgs),
}

/// Print a shell completion script, e.g. `lro completions bash > /etc/bash_completion.d/lro`.
#[derive(clap::Args, Debug)]
struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

impl Command {
    /// How this subcommand prints, failures included.
    fn output(&self) -> Output {
        match self {
            Command::Cancel(a) => a.out.output,
            Command::Get(a) => a.out.output,
            Command::List(a) => a.out.output,
            Command::Delete(a) => a.out.output,
            Command::Wait(a) => a.out.output,
            Command::Demo(a) => a.output,
            Command::Serve(_) | Command::Completions(_) => Output::Text,
        }
    }

    /// The `--descriptor-set` this subcommand was given, if it takes one.
    fn descriptor_set(&self) -> Option<&std::path::Path> {
        match self {
            Command::Cancel(a) => a.out.descriptor_set.as_deref(),
            Command::Get(a) => a.out.descriptor_set.as_deref(),
            Command::List(a) => a.out.descriptor_set.as_deref(),
            Command::Delete(a) => a.out.descriptor_set.as_deref(),
            Command::Wait(a) => a.out.descriptor_set.as_deref(),
            Command::Serve(a) => a.descriptor_set.as_deref(),
            Command::Completions(_) | Command::Demo(_) => None,
        }
    }
}

/// The message types JSON and text are rendered and parsed with: the standard ones, plus
/// `--descriptor-set`'s.
static TYPES: std::sync::OnceLock<TypeRegistry> = std::sync::OnceLock::new();

pub fn types() -> &'static TypeRegistry {
    TYPES.get_or_init(TypeRegistry::standard)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(flags_after_subcommand(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => return output::usage_error(e),
    };
    init_tracing(cli.verbose);
    let output = cli.command.output();
    if let Some(path) = cli.command.descriptor_set() {
        let mut registry = TypeRegistry::standard();
        let added = args::read_file("--descriptor-set", path).and_then(|bytes| {
            registry.add_file_descriptor_set(&bytes).map_err(|why| {
                Failure::usage(format!("--descriptor-set {}: {why}", path.display()))
            })
        });
        if let Err(failure) = added {
            return failure.report(output);
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
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(failure) => failure.report(output),
    }
}

async fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Cancel(args) => cancel::run(args).await,
        Command::Get(args) => get::run(args).await,
        Command::List(args) => list::run(args).await,
        Command::Delete(args) => delete::run(args).await,
        Command::Wait(args) => wait::run(args).await,
        Command::Serve(args) => serve::run(args, types()).await,
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "lro", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => Ok(demo::demo(args.output).await),
    }
}

/// `lro --endpoint URL get NAME` as `lro get --endpoint URL NAME`: flags written before the
/// subcommand are moved after its name, so they may go on either side, as kubectl's and
/// gcloud's do, while each subcommand takes (and `--help` lists) only its own. A flag the
/// subcommand does not take is then clap's usage error, naming it.
fn flags_after_subcommand(argv: Vec<OsString>) -> Vec<OsString> {
    let command = Cli::command();
    let names: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
    // Long flags that take a value, in any subcommand: their value is not a subcommand.
    let takes_value = |flag: &str| {
        command.get_subcommands().any(|sub| {
            sub.get_arguments()
                .any(|a| a.get_long() == Some(flag) && a.get_action().takes_values())
        })
    };
    let mut at = None;
    let mut i = 1;
    while i < argv.len() {
        let Some(word) = argv[i].to_str() else { break };
        if word == "--" {
            break;
        }
        if names.contains(&word) {
            at = Some(i);
            break;
        }
        if let Some(flag) = word.strip_prefix("--")
            && !flag.contains('=')
            && takes_value(flag)
        {
            i += 1;
        } else if !word.starts_with('-') {
            break;
        }
        i += 1;
    }
    match at {
        Some(at) if at > 1 => {
            let mut out = Vec::with_capacity(argv.len());
            out.push(argv[0].clone());
            out.push(argv[at].clone());
            out.extend(argv[1..at].iter().cloned());
            out.extend(argv[at + 1..].iter().cloned());
            out
        }
        _ => argv,
    }
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
