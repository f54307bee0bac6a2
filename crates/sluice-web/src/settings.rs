//! The webserver's settings: the `webserver:` section of the instance file,
//! `$SLUICE_HOME/sluice.yaml`.
//!
//! ```yaml
//! webserver:
//!   # Host names the webserver answers to (the `Host` header, port ignored). Default:
//!   # the loopback names when it listens on a loopback address, any otherwise.
//!   allowed_hosts: [dagster.example.com]
//!   # Other sites' pages that may act on the instance from a browser (a websocket, a
//!   # POST). The webserver's own pages always may.
//!   allowed_origins: [https://status.example.com]
//!   # tokens: every request needs an API token (sluice token create); off: anyone who
//!   # reaches the port may do anything. Default: tokens, except `sluice dev` on a
//!   # loopback address.
//!   authentication: tokens
//!   # What one GraphQL request may cost (see sluice_graphql::limits).
//!   graphql:
//!     max_aliases: 100
//! ```
//!
//! Every key is optional and unknown keys are errors.

use std::path::Path;

use serde::Deserialize;
use sluice_graphql::QueryLimits;

use crate::auth::Authentication;
use sluice_storage::StorageError;

/// The instance file as the webserver reads it: only its own section. Storage checks the
/// file's other sections and refuses keys no process knows.
#[derive(Debug, Default, Deserialize)]
struct InstanceFile {
    #[serde(default)]
    webserver: Option<WebSettings>,
}

/// The `webserver:` section of `sluice.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Host names (or addresses) requests may be sent to; `*` for any. `None`: the
    /// default for the address the webserver listens on.
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
    /// Origins (`https://host[:port]`) besides the webserver's own whose pages may open
    /// a websocket or send a `POST`; `*` for any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// What one GraphQL request may cost.
    #[serde(default)]
    pub graphql: QueryLimits,
    /// Whether callers must sign in with an API token. `None`: the binary's default
    /// (on, except for `sluice dev` on a loopback address).
    #[serde(default)]
    pub authentication: Option<Authentication>,
}

impl WebSettings {
    /// The settings of the instance at `home`; defaults without a file or section.
    pub fn load(home: &Path) -> Result<Self, StorageError> {
        let file: InstanceFile = sluice_storage::read_instance_file(home)?;
        Ok(file.webserver.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebSettings, StorageError> {
        let home = tempfile::tempdir().expect("temp dir");
        std::fs::write(home.path().join("sluice.yaml"), text).expect("write sluice.yaml");
        WebSettings::load(home.path())
    }

    #[test]
    fn reads_its_section_and_ignores_the_others() {
        let settings = load(
            "run_coordinator:\n  max_concurrent_runs: 2\nwebserver:\n  allowed_hosts: [a.test]\n  allowed_origins: ['https://b.test']\n",
        )
        .expect("settings");
        assert_eq!(settings.allowed_hosts, Some(vec!["a.test".to_owned()]));
        assert_eq!(settings.allowed_origins, vec!["https://b.test".to_owned()]);
        assert_eq!(
            load("schedules: {}\n").expect("settings"),
            WebSettings::default()
        );
    }

    #[test]
    fn authentication_is_off_or_tokens() {
        use crate::auth::Authentication;
        let off = load("webserver:\n  authentication: off\n").expect("settings");
        assert_eq!(off.authentication, Some(Authentication::Off));
        let tokens = load("webserver:\n  authentication: tokens\n").expect("settings");
        assert_eq!(tokens.authentication, Some(Authentication::Tokens));
        assert_eq!(
            load("webserver: {}\n").expect("settings").authentication,
            None
        );
        let error = load("webserver:\n  authentication: maybe\n")
            .expect_err("unknown mode")
            .to_string();
        assert!(error.contains("off") && error.contains("tokens"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let error = load("webserver:\n  allowed_host: [a.test]\n")
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("allowed_host"), "{error}");
        assert!(error.contains("sluice.yaml:2:3"), "{error}");
    }
}
