//! What `lro` prints and the codes it exits with.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use longrunning_grpc::json as render;
use longrunning_grpc::{CancelOutcome, Error};
use serde_json::json;

use crate::args::Output;

pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNSUPPORTED: u8 = 3;
pub const STILL_RUNNING: u8 = 4;
pub const ENDED_OTHERWISE: u8 = 5;

/// The exit codes, in one text: `lro --help` shows it, and the README quotes it.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the call failed
  2  usage error or invalid input (nothing was sent)
  3  the server does not support the method
  4  the wait gave up while the operation was still running
  5  the operation ended other than asked (completed or failed instead of cancelled)";

/// Why a subcommand stopped: a usage error found before anything was sent (exit 2), or a
/// call that failed, with a hint for the user when there is one.
#[derive(Debug)]
pub enum Failure {
    Usage(String),
    Call(Error, Option<&'static str>),
}

impl Failure {
    pub fn usage(why: impl Into<String>) -> Self {
        Failure::Usage(why.into())
    }

    /// Prints the failure as `output` asks, and the exit code it has.
    pub fn report(self, output: Output) -> ExitCode {
        match self {
            Failure::Usage(why) => usage(output, &why),
            Failure::Call(e, hint) => fail(output, &e, hint),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Call(e, None)
    }
}

/// Clap's errors, as JSON when `--output json` was asked for (help and version stay text).
pub fn usage_error(e: clap::Error) -> ExitCode {
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
        // clap's own first line names what is wrong (`unexpected argument '--x' found`).
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
        let doc = json!({"error": {"code": "INVALID_ARGUMENT", "message": format!("usage: {message}"), "details": []}});
        line(&doc.to_string());
        let _ = e.print();
        return ExitCode::from(USAGE);
    }
    let _ = e.print();
    ExitCode::from(if informational { 0 } else { USAGE })
}

/// One line on stdout; a closed stdout (`lro list | head`) is not an error worth a panic,
/// which `println!` would make it.
fn line(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// The exit code of what a cancel came to, for `cancel --wait` and `wait
/// --cancel-on-timeout`: 0 cancelled, 3 unsupported, 5 ended otherwise.
pub fn outcome_code(outcome: &CancelOutcome) -> ExitCode {
    match outcome {
        CancelOutcome::Cancelled(_) => ExitCode::SUCCESS,
        CancelOutcome::Unsupported(_) => ExitCode::from(UNSUPPORTED),
        CancelOutcome::Completed(_) | CancelOutcome::Failed(_) => ExitCode::from(ENDED_OTHERWISE),
    }
}

pub fn print(output: Output, doc: serde_json::Value, text: String) {
    match output {
        Output::Json => line(&doc.to_string()),
        Output::Text => line(&text),
    }
}

pub fn fail(output: Output, err: &Error, hint: Option<&str>) -> ExitCode {
    match (output, hint) {
        (Output::Json, None) => line(&render::error(err).to_string()),
        (Output::Json, Some(hint)) => {
            let mut doc = render::error(err);
            doc["error"]["hint"] = json!(hint);
            line(&doc.to_string());
        }
        (Output::Text, None) => eprintln!("error: {err}"),
        (Output::Text, Some(hint)) => eprintln!("error: {err}\nhint: {hint}"),
    }
    let code = if err.is_invalid_input() || err.is_config() {
        USAGE
    } else if err.is_status() && err.is_unimplemented() {
        UNSUPPORTED
    } else {
        FAILED
    };
    ExitCode::from(code)
}

/// A spinner with elapsed time on stderr, only on a terminal and only in text mode.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    pub fn start(output: Output, message: &str) -> Self {
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

    /// A line above the spinner (nothing off a terminal).
    pub fn println(&self, line: &str) {
        if let Some(bar) = &self.0 {
            bar.println(line);
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A progress bar of `len` steps on stderr, only on a terminal and only in text mode.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn start(output: Output, len: usize, message: &str) -> Self {
        if output != Output::Text || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        Self(Some(bar))
    }

    pub fn step(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A usage error found before anything was sent: printed, and exit 2.
pub fn usage(output: Output, why: &str) -> ExitCode {
    match output {
        Output::Json => line(
            &json!({"error": {"code": "INVALID_ARGUMENT", "message": why, "details": []}})
                .to_string(),
        ),
        Output::Text => eprintln!("error: {why}"),
    }
    ExitCode::from(USAGE)
}
