//! The flags the subcommands share, each group a clap `Args` struct flattened into the
//! subcommands that use it: [`ClientArgs`] into those that call a server, [`OutputArgs`]
//! into those that print results. `serve`, `completions` and `demo` take only their own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use longrunning_grpc::policy::{PollingPolicy, PollingPolicyBuilder};
use longrunning_grpc::rustls::pki_types::pem::PemObject;
use longrunning_grpc::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use longrunning_grpc::{Error, OperationsClient};

use crate::output::Failure;

/// How the client reaches the server and what it sends.
#[derive(Args, Debug)]
#[command(next_help_heading = "Connection")]
pub struct ClientArgs {
    /// The server's URL (default: `https://cloudaicompanion.<universe>`, or its mTLS
    /// endpoint with a client certificate; see GOOGLE_API_USE_MTLS_ENDPOINT).
    #[arg(long, env = "LRO_ENDPOINT")]
    pub endpoint: Option<String>,

    /// The universe (sovereign cloud) to work in; the credentials must belong to it
    /// (default: GOOGLE_CLOUD_UNIVERSE_DOMAIN, else googleapis.com).
    #[arg(long, value_name = "DOMAIN")]
    pub universe_domain: Option<String>,

    /// A bearer token to send instead of Application Default Credentials.
    #[arg(
        long,
        env = "LRO_ACCESS_TOKEN",
        hide_env_values = true,
        conflicts_with = "no_auth"
    )]
    pub token: Option<String>,

    /// Send no credentials (local servers such as `lro serve`).
    #[arg(long)]
    pub no_auth: bool,

    /// The project billed for quota (x-goog-user-project).
    #[arg(long, env = "GOOGLE_CLOUD_QUOTA_PROJECT")]
    pub quota_project: Option<String>,

    /// Each call's deadline in seconds, retries included.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub timeout: Duration,

    /// Allow credentials over plaintext http:// to a host that is not loopback.
    #[arg(long)]
    pub allow_insecure: bool,

    /// An HTTP CONNECT proxy, `http://user:password@host:port` or `http://host:port`
    /// (default: grpc_proxy, https_proxy or http_proxy from the environment).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// A CA certificate (PEM) to trust beside the system's roots.
    #[arg(long, value_name = "FILE", env = "LRO_CA_CERT")]
    pub ca_cert: Option<PathBuf>,

    /// A client certificate (PEM) to present to servers that ask for one (mTLS).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,

    /// The private key (PEM) of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// How results are printed.
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    /// A FileDescriptorSet (`protoc -o FILE --include_imports`, or protox's) whose types
    /// metadata and responses are shown and read with, field by field.
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Option<PathBuf>,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// A file a flag names, read; the error names the flag, the file and why.
pub fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::usage(format!("{flag} {}: cannot read it: {e}", path.display())))
}

impl ClientArgs {
    /// The client these flags describe. Every file is read and checked first, and every
    /// error names the flag (and file) it is about: nothing is sent on bad input.
    pub fn client(&self) -> Result<OperationsClient, Failure> {
        let mut builder = OperationsClient::builder()
            .timeout(self.timeout)
            .allow_insecure(self.allow_insecure);
        builder = if self.no_auth {
            builder.anonymous()
        } else if let Some(token) = &self.token {
            builder.access_token(token.clone())
        } else {
            builder
        };
        if let Some(project) = &self.quota_project {
            builder = builder.quota_project(project.clone());
        }
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint(endpoint.clone());
        }
        if let Some(universe) = &self.universe_domain {
            builder = builder.universe_domain(universe.clone());
        }
        if let Some(path) = &self.ca_cert {
            let pem = read_file("--ca-cert", path)?;
            if CertificateDer::pem_slice_iter(&pem).next().is_none() {
                return Err(Failure::usage(format!(
                    "--ca-cert {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            builder = builder.ca_certificate(pem);
        }
        if let (Some(cert_path), Some(key_path)) = (&self.client_cert, &self.client_key) {
            let cert = read_file("--client-cert", cert_path)?;
            if CertificateDer::pem_slice_iter(&cert).next().is_none() {
                return Err(Failure::usage(format!(
                    "--client-cert {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    cert_path.display()
                )));
            }
            let key = read_file("--client-key", key_path)?;
            if PrivateKeyDer::from_pem_slice(&key).is_err() {
                return Err(Failure::usage(format!(
                    "--client-key {}: holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
                    key_path.display()
                )));
            }
            builder = builder.client_identity(cert, key);
        }
        builder.build().map_err(|e| self.failure(e))
    }

    /// A failure of the client, in the flags' words.
    pub fn failure(&self, e: Error) -> Failure {
        if e.is_config() {
            return Failure::usage(in_flag_words(&e.to_string()));
        }
        if e.is_credentials() && !self.no_auth && self.token.is_none() && self.is_loopback() {
            return Failure::Call(
                e,
                Some("a local server such as `lro serve` takes --no-auth (or --token)"),
            );
        }
        Failure::Call(e, None)
    }

    /// Whether the endpoint is on this machine (`LRO_EMULATOR_HOST` always is).
    fn is_loopback(&self) -> bool {
        let Some(endpoint) = &self.endpoint else {
            return std::env::var_os("LRO_EMULATOR_HOST").is_some();
        };
        let Ok(uri) = endpoint.parse::<http::Uri>() else {
            return false;
        };
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// The library's words for a setting, in the flag's: `endpoint "…" has an invalid port`
/// becomes `--endpoint "…" has an invalid port`.
pub fn in_flag_words(message: &str) -> String {
    let message = message
        .strip_prefix("invalid client configuration: ")
        .unwrap_or(message);
    const FLAGS: [(&str, &str); 8] = [
        ("endpoint \"", "--endpoint \""),
        ("tls_server_name", "--endpoint's host"),
        ("universe_domain", "--universe-domain"),
        ("quota_project", "--quota-project"),
        ("access_token", "--token"),
        ("allow_insecure(true)", "--allow-insecure"),
        ("ca_certificate", "--ca-cert"),
        ("client_identity", "--client-cert/--client-key"),
    ];
    let mut out = message.to_owned();
    for (library, flag) in FLAGS {
        out = out.replace(library, flag);
    }
    out.replace("proxy \"", "--proxy \"")
        .replace("anonymous credentials", "--no-auth")
}

/// A wait's policy: `--wait-timeout` in all, and with `--no-server-wait` polling only.
pub fn wait_policy(wait_timeout: Duration, no_server_wait: bool) -> PollingPolicyBuilder {
    let policy = PollingPolicy::builder().deadline(Some(wait_timeout));
    if no_server_wait {
        return policy.server_wait(None);
    }
    policy
}

/// `client` waiting under `policy`.
pub fn waiting(client: &OperationsClient, policy: PollingPolicyBuilder) -> OperationsClient {
    match policy.build() {
        Ok(policy) => client.with_polling_policy(policy),
        // The default policy's numbers always validate; keep it if this one did not.
        Err(_) => client.clone(),
    }
}

pub fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{s:?} must be more than zero seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too many seconds"))
}
