//! Settings read from the environment of the process that uses them: secrets stay out of
//! run config, storage, events and GraphQL, which only ever see the variable's name.
//!
//! ```
//! use sluice_core::config::{EnvVar, StringSource};
//!
//! // In run config or YAML: `token: {env: BILLING_API_TOKEN}`, or a plain string.
//! let token: StringSource = serde_json::from_value(serde_json::json!({"env": "BILLING_API_TOKEN"})).unwrap();
//! assert_eq!(token, StringSource::Env(EnvVar::new("BILLING_API_TOKEN")));
//! let plain: StringSource = serde_json::from_value(serde_json::json!("https://api.example.com")).unwrap();
//! assert_eq!(plain.resolve().unwrap(), "https://api.example.com");
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An environment variable (Dagster's `EnvVar`), written `{"env": "NAME"}` in config. It
/// is read when a resource is set up, in the process that runs the step or evaluates the
/// sensor, never earlier.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// The variable's name.
    pub env: String,
}

impl EnvVar {
    /// The variable named `name`; it is not read yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self { env: name.into() }
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.env
    }

    /// The variable's value now.
    pub fn value(&self) -> Result<String, EnvVarError> {
        std::env::var(&self.env).map_err(|e| match e {
            std::env::VarError::NotPresent => EnvVarError::Missing(self.env.clone()),
            std::env::VarError::NotUnicode(_) => EnvVarError::NotUnicode(self.env.clone()),
        })
    }
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvVar({:?})", self.env)
    }
}

/// A string given in config either as itself or as an [`EnvVar`] (Dagster's
/// `StringSource`): a URL can be written inline, a token should come from the
/// environment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StringSource {
    /// The string itself, written inline.
    Value(String),
    /// The value of an environment variable, written `{"env": "NAME"}`.
    Env(EnvVar),
}

impl StringSource {
    /// The string: the value itself, or the variable's value now.
    pub fn resolve(&self) -> Result<String, EnvVarError> {
        match self {
            Self::Value(value) => Ok(value.clone()),
            Self::Env(var) => var.value(),
        }
    }
}

impl From<&str> for StringSource {
    fn from(value: &str) -> Self {
        Self::Value(value.to_owned())
    }
}

impl From<EnvVar> for StringSource {
    fn from(var: EnvVar) -> Self {
        Self::Env(var)
    }
}

/// Shows an inline value's length, not the value: a `StringSource` may hold a secret
/// written inline, and debug output ends up in logs.
impl fmt::Debug for StringSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(value) => write!(f, "StringSource(<{} chars>)", value.chars().count()),
            Self::Env(var) => var.fmt(f),
        }
    }
}

/// An environment variable could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvVarError {
    /// The variable (named here) is not set.
    #[error("environment variable \"{0}\" is not set")]
    Missing(String),
    /// The variable (named here) has a value that is not valid UTF-8.
    #[error("environment variable \"{0}\" is not valid UTF-8")]
    NotUnicode(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigPath, ConfigType};
    use serde_json::json;

    #[test]
    fn a_string_source_is_a_string_or_an_env_var_and_config_validates_both() {
        let ty = ConfigType::of::<StringSource>();
        let problems = |value: serde_json::Value| {
            let mut errors = Vec::new();
            ty.validate(&value, &mut ConfigPath::root(), &mut errors);
            errors.len()
        };
        assert_eq!(problems(json!("inline")), 0);
        assert_eq!(problems(json!({"env": "TOKEN"})), 0);
        assert_ne!(problems(json!({"env": "TOKEN", "extra": 1})), 0);
        assert_ne!(problems(json!(3)), 0);
        let missing = StringSource::Env(EnvVar::new("SLUICE_TEST_SURELY_UNSET_2B7F"));
        assert_eq!(
            missing.resolve().unwrap_err().to_string(),
            "environment variable \"SLUICE_TEST_SURELY_UNSET_2B7F\" is not set"
        );
        assert_eq!(
            format!("{:?}", StringSource::from("s3cr3t")),
            "StringSource(<6 chars>)"
        );
    }
}
