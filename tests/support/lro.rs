//! Running the `lro` binary in tests: a command with no inherited configuration, and
//! what a run printed.
#![allow(dead_code)]

use serde_json::Value;
use tokio::process::Command;

pub const LRO: &str = env!("CARGO_BIN_EXE_lro");

/// A command with no inherited configuration: the tests never use Application Default
/// Credentials (they would fall back to the metadata server, which is not loopback).
pub fn lro() -> Command {
    let mut cmd = Command::new(LRO);
    for var in [
        "LRO_ENDPOINT",
        "LRO_ACCESS_TOKEN",
        "LRO_EMULATOR_HOST",
        "GOOGLE_CLOUD_QUOTA_PROJECT",
        "LRO_LOG",
        "LRO_CA_CERT",
        "GOOGLE_CLOUD_UNIVERSE_DOMAIN",
        "GOOGLE_API_USE_MTLS_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json");
    cmd.kill_on_drop(true);
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout as the one JSON document it must be.
    pub fn json(&self) -> Value {
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "exactly one document: {:?}",
            self.stdout
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", self.stdout))
    }
}

/// Runs `cmd` to its end, with nothing on its stdin.
pub async fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("lro runs");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
