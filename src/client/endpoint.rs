//! Where the builder's connections go: the explicit endpoint, `LRO_EMULATOR_HOST`, or the
//! universe's default (or its mTLS twin), each checked before anything is sent.

use super::builder::{CredentialsChoice, OperationsClientBuilder};
use crate::Error;
use crate::auth::DEFAULT_UNIVERSE_DOMAIN;
use crate::client::OperationsClient;
use crate::transport::Endpoint;

impl OperationsClient {
    /// The default endpoint: the Gemini for Google Cloud API.
    pub const DEFAULT_ENDPOINT: &'static str = "https://cloudaicompanion.googleapis.com";

    /// The Gemini for Google Cloud API's mTLS endpoint, used by default with a client
    /// certificate (see [`OperationsClientBuilder::client_identity`]).
    pub const DEFAULT_MTLS_ENDPOINT: &'static str = "https://cloudaicompanion.mtls.googleapis.com";
}

impl OperationsClientBuilder {
    /// With no explicit endpoint and `LRO_EMULATOR_HOST` set (`host:port`, what `lro serve`
    /// prints), goes to `http://$LRO_EMULATOR_HOST`, with anonymous credentials instead of
    /// Application Default Credentials, as Google's clients do with `PUBSUB_EMULATOR_HOST`,
    /// and logs that it did.
    pub(super) fn use_emulator_host(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), Error> {
        if self.endpoint.is_some() {
            return Ok(());
        }
        let Some(host) = env("LRO_EMULATOR_HOST")
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
        else {
            return Ok(());
        };
        if host.contains("://") || host.contains('/') {
            return Err(Error::config(format!(
                "LRO_EMULATOR_HOST must be host:port, as lro serve prints it, not {host:?}"
            )));
        }
        let endpoint = format!("http://{host}");
        if let Err(e) = Endpoint::parse(&endpoint) {
            return Err(Error::config(format!(
                "LRO_EMULATOR_HOST {host:?} is not host:port with a port from 1 to 65535"
            ))
            .with_source(e));
        }
        tracing::info!(%endpoint, "LRO_EMULATOR_HOST is set: using the emulator with anonymous credentials");
        self.endpoint = Some(endpoint);
        // Application Default Credentials are for Google, not the emulator; credentials
        // given on purpose (a token `lro serve --require-token` checks) are kept.
        if matches!(self.credentials, CredentialsChoice::Default) {
            self.credentials = CredentialsChoice::Anonymous;
        }
        Ok(())
    }

    /// The universe: the builder's, else `GOOGLE_CLOUD_UNIVERSE_DOMAIN` (read with `env`),
    /// else Google's public one; checked to be a domain name.
    pub(super) fn effective_universe(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, Error> {
        let (domain, from) = match &self.universe_domain {
            Some(domain) => (domain.clone(), "universe_domain"),
            None => match env("GOOGLE_CLOUD_UNIVERSE_DOMAIN")
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
            {
                Some(domain) => (domain, "GOOGLE_CLOUD_UNIVERSE_DOMAIN"),
                None => return Ok(DEFAULT_UNIVERSE_DOMAIN.to_owned()),
            },
        };
        let is_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(is_label) {
            return Err(Error::config(format!(
                "{from} must be a domain name such as googleapis.com, not {domain:?}"
            )));
        }
        Ok(domain.to_ascii_lowercase())
    }

    /// The endpoint connections go to: the explicit one, else the universe's default or
    /// its mTLS twin by `GOOGLE_API_USE_MTLS_ENDPOINT` (read with `env`).
    pub(super) fn effective_endpoint(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, Error> {
        if let Some(explicit) = &self.endpoint {
            return Ok(explicit.clone());
        }
        let universe = self.effective_universe(&env)?;
        let mtls = match env("GOOGLE_API_USE_MTLS_ENDPOINT")
            .as_deref()
            .map(str::trim)
        {
            None | Some("" | "auto") => self.client_identity.is_some(),
            Some("always") => true,
            Some("never") => false,
            Some(other) => {
                return Err(Error::config(format!(
                    "GOOGLE_API_USE_MTLS_ENDPOINT must be auto, always or never, not {other:?}"
                )));
            }
        };
        if universe == DEFAULT_UNIVERSE_DOMAIN {
            return Ok(if mtls {
                OperationsClient::DEFAULT_MTLS_ENDPOINT
            } else {
                OperationsClient::DEFAULT_ENDPOINT
            }
            .to_owned());
        }
        if mtls {
            // As Go's clients: mTLS endpoints exist only in Google's public universe.
            return Err(Error::config(format!(
                "the mTLS endpoint exists only in the googleapis.com universe, not {universe}; \
                 set GOOGLE_API_USE_MTLS_ENDPOINT=never or give an endpoint"
            )));
        }
        Ok(format!("https://cloudaicompanion.{universe}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_with(
        builder: OperationsClientBuilder,
        mtls: Option<&str>,
    ) -> Result<String, Error> {
        builder.effective_endpoint(|name| {
            (name == "GOOGLE_API_USE_MTLS_ENDPOINT")
                .then(|| mtls.map(str::to_owned))
                .flatten()
        })
    }

    #[test]
    fn an_endpoint_with_an_invalid_port_is_refused_when_the_client_is_built() {
        for endpoint in [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:abc",
            "http://127.0.0.1:0",
            "http://127.0.0.1:",
            "https://example.test:99999",
            "http://[::1]:70000",
        ] {
            let err = OperationsClientBuilder::default()
                .endpoint(endpoint)
                .anonymous()
                .build()
                .unwrap_err();
            assert!(err.is_config(), "{endpoint}: {err}");
            assert!(
                err.to_string().contains("invalid port"),
                "{endpoint}: {err}"
            );
            assert!(err.to_string().contains(endpoint), "{endpoint}: {err}");
        }
        for endpoint in [
            "http://127.0.0.1:1",
            "http://[::1]:65535",
            "https://example.test",
        ] {
            OperationsClientBuilder::default()
                .endpoint(endpoint)
                .anonymous()
                .build()
                .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
        }
    }

    #[test]
    fn lro_emulator_host_with_an_invalid_port_is_refused() {
        for host in ["127.0.0.1:99999", "127.0.0.1:abc", "localhost:0"] {
            let mut builder = OperationsClientBuilder::default();
            let err = builder
                .use_emulator_host(|name| (name == "LRO_EMULATOR_HOST").then(|| host.to_owned()))
                .unwrap_err();
            assert!(err.is_config(), "{host}: {err}");
            assert!(
                err.to_string()
                    .contains(&format!("LRO_EMULATOR_HOST {host:?} is not host:port")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_mtls_endpoint_follows_google_api_use_mtls_endpoint() {
        let plain = OperationsClientBuilder::default;
        let with_cert = || plain().client_identity("cert", "key");
        let cases = [
            (plain(), None, OperationsClient::DEFAULT_ENDPOINT),
            (plain(), Some("auto"), OperationsClient::DEFAULT_ENDPOINT),
            (with_cert(), None, OperationsClient::DEFAULT_MTLS_ENDPOINT),
            (
                with_cert(),
                Some("auto"),
                OperationsClient::DEFAULT_MTLS_ENDPOINT,
            ),
            (
                with_cert(),
                Some("never"),
                OperationsClient::DEFAULT_ENDPOINT,
            ),
            (
                plain(),
                Some("always"),
                OperationsClient::DEFAULT_MTLS_ENDPOINT,
            ),
            (
                with_cert().endpoint("https://private.example"),
                Some("always"),
                "https://private.example",
            ),
        ];
        for (builder, mtls, want) in cases {
            assert_eq!(endpoint_with(builder, mtls).unwrap(), want, "{mtls:?}");
        }
        let err = endpoint_with(plain(), Some("sometimes")).unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("auto, always or never"),
            "{err}"
        );
    }

    #[test]
    fn the_universe_domain_names_the_default_endpoint() {
        let env = |universe: Option<&'static str>, mtls: Option<&'static str>| {
            move |name: &str| match name {
                "GOOGLE_CLOUD_UNIVERSE_DOMAIN" => universe.map(str::to_owned),
                "GOOGLE_API_USE_MTLS_ENDPOINT" => mtls.map(str::to_owned),
                _ => None,
            }
        };
        let plain = OperationsClientBuilder::default;
        let sovereign = "https://cloudaicompanion.sovereign.example";
        let cases = [
            (plain(), env(None, None), OperationsClient::DEFAULT_ENDPOINT),
            (
                plain(),
                env(Some(" "), None),
                OperationsClient::DEFAULT_ENDPOINT,
            ),
            (
                plain(),
                env(Some("googleapis.com"), None),
                OperationsClient::DEFAULT_ENDPOINT,
            ),
            (plain(), env(Some("Sovereign.Example"), None), sovereign),
            (
                plain().universe_domain("sovereign.example"),
                env(None, None),
                sovereign,
            ),
            // The builder's universe over the environment's.
            (
                plain().universe_domain("sovereign.example"),
                env(Some("other.example"), None),
                sovereign,
            ),
            (
                plain().universe_domain("sovereign.example"),
                env(None, Some("never")),
                sovereign,
            ),
            // An explicit endpoint wins.
            (
                plain()
                    .universe_domain("sovereign.example")
                    .endpoint("http://127.0.0.1:1"),
                env(None, None),
                "http://127.0.0.1:1",
            ),
        ];
        for (i, (builder, env, want)) in cases.into_iter().enumerate() {
            assert_eq!(builder.effective_endpoint(env).unwrap(), want, "case {i}");
        }

        let mtls = plain()
            .universe_domain("sovereign.example")
            .client_identity("cert", "key")
            .effective_endpoint(env(None, None))
            .unwrap_err();
        assert!(
            mtls.is_config()
                && mtls
                    .to_string()
                    .contains("only in the googleapis.com universe"),
            "{mtls}"
        );
        for bad in [
            "https://x.example",
            "example",
            "a..example",
            "-a.example",
            "a.example:443",
        ] {
            let err = plain()
                .universe_domain(bad)
                .effective_universe(env(None, None))
                .unwrap_err();
            assert!(
                err.to_string()
                    .contains("universe_domain must be a domain name"),
                "{bad}: {err}"
            );
        }
        let err = plain()
            .effective_universe(env(Some("not a domain"), None))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("GOOGLE_CLOUD_UNIVERSE_DOMAIN must be"),
            "{err}"
        );
    }

    #[test]
    fn lro_emulator_host_sets_the_endpoint_and_anonymous_credentials_unless_one_is_given() {
        let env = |value: &'static str| {
            move |name: &str| (name == "LRO_EMULATOR_HOST").then(|| value.to_owned())
        };
        let mut builder = OperationsClientBuilder::default();
        builder.use_emulator_host(env("127.0.0.1:8080")).unwrap();
        assert_eq!(builder.endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert!(matches!(builder.credentials, CredentialsChoice::Anonymous));
        let mut with_token = OperationsClientBuilder::default().access_token("t");
        with_token.use_emulator_host(env("127.0.0.1:8080")).unwrap();
        assert!(matches!(
            with_token.credentials,
            CredentialsChoice::Token(_)
        ));

        let mut explicit = OperationsClientBuilder::default().endpoint("https://x.example");
        explicit.use_emulator_host(env("127.0.0.1:8080")).unwrap();
        assert_eq!(explicit.endpoint.as_deref(), Some("https://x.example"));
        assert!(matches!(explicit.credentials, CredentialsChoice::Default));

        let err = OperationsClientBuilder::default()
            .use_emulator_host(env("http://127.0.0.1:8080"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("LRO_EMULATOR_HOST must be host:port"),
            "{err}"
        );
    }
}
