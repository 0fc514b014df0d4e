//! The flags every subcommand takes, and the client they describe.

use std::time::Duration;

use clap::{Args, ValueEnum};
use longrunning_grpc::policy::PollingPolicy;
use longrunning_grpc::{Error, OperationsClient};

/// Flags that go before or after the subcommand.
#[derive(Args, Debug)]
pub struct Global {
    /// The server's URL (default: `https://cloudaicompanion.<universe>`, or its mTLS
    /// endpoint with a client certificate; see GOOGLE_API_USE_MTLS_ENDPOINT).
    #[arg(long, env = "LRO_ENDPOINT", global = true)]
    pub endpoint: Option<String>,

    /// The universe (sovereign cloud) to work in; the credentials must belong to it
    /// (default: GOOGLE_CLOUD_UNIVERSE_DOMAIN, else googleapis.com).
    #[arg(long, value_name = "DOMAIN", global = true)]
    pub universe_domain: Option<String>,

    /// A bearer token to send instead of Application Default Credentials.
    #[arg(long, env = "LRO_ACCESS_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,

    /// Send no credentials (local servers such as `lro serve`).
    #[arg(long, global = true)]
    pub no_auth: bool,

    /// The project billed for quota (x-goog-user-project).
    #[arg(long, env = "GOOGLE_CLOUD_QUOTA_PROJECT", global = true)]
    pub quota_project: Option<String>,

    /// Each call's deadline in seconds, retries included.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds, global = true)]
    pub timeout: Duration,

    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,

    /// Allow credentials over plaintext http:// to a host that is not loopback.
    #[arg(long, global = true)]
    pub allow_insecure: bool,

    /// An HTTP CONNECT proxy, `http://user:password@host:port` or `http://host:port`
    /// (default: grpc_proxy, https_proxy or http_proxy from the environment).
    #[arg(long, value_name = "URL", global = true)]
    pub proxy: Option<String>,

    /// A CA certificate (PEM) to trust beside the system's roots.
    #[arg(long, value_name = "FILE", env = "LRO_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,

    /// A client certificate (PEM) to present to servers that ask for one (mTLS).
    #[arg(long, value_name = "FILE", requires = "client_key", global = true)]
    pub client_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert", global = true)]
    pub client_key: Option<std::path::PathBuf>,

    /// A FileDescriptorSet (`protoc -o FILE --include_imports`, or protox's) whose types
    /// metadata and responses are shown and read with, field by field.
    #[arg(long, value_name = "FILE", global = true)]
    pub descriptor_set: Option<std::path::PathBuf>,

    /// Log more to stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// What the flags' files hold.
pub struct Files {
    ca: Option<Vec<u8>>,
    client_cert: Option<Vec<u8>>,
    client_key: Option<Vec<u8>>,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

impl Global {
    /// The files the flags name, read; the error says which flag, which file and why.
    pub fn files(&self) -> Result<Files, String> {
        let read = |flag: &str, path: &Option<std::path::PathBuf>| match path {
            Some(path) => std::fs::read(path)
                .map(Some)
                .map_err(|e| format!("cannot read {flag} {}: {e}", path.display())),
            None => Ok(None),
        };
        Ok(Files {
            ca: read("--ca-cert", &self.ca_cert)?,
            client_cert: read("--client-cert", &self.client_cert)?,
            client_key: read("--client-key", &self.client_key)?,
        })
    }

    /// The client these flags describe, with the contents of the files they name.
    pub async fn client(&self, files: Files) -> Result<OperationsClient, Error> {
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
        if let Some(pem) = files.ca {
            builder = builder.ca_certificate(pem);
        }
        if let (Some(cert), Some(key)) = (files.client_cert, files.client_key) {
            builder = builder.client_identity(cert, key);
        }
        builder.build()
    }
}

/// `client` with its polling limited to `wait`, if given.
pub fn with_wait_timeout(client: &OperationsClient, wait: Option<Duration>) -> OperationsClient {
    match wait {
        Some(deadline) => {
            let policy = PollingPolicy::builder().deadline(Some(deadline)).build();
            // The default policy's numbers always validate; keep it if this one did not.
            policy.map_or_else(|_| client.clone(), |p| client.with_polling_policy(p))
        }
        None => client.clone(),
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
