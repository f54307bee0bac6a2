//! What of a run may be shown: one rule for every output (GraphQL, the web UI, the CLI).
//!
//! A config value or tag whose key looks like a secret (`password`, `token`, `secret`,
//! `api_key`, `credential`, ...) is shown by name only, unless it is read from the
//! environment (`{env: NAME}`), which already shows only the variable's name. Because a
//! secret given inline can come back inside a message (a config validation error, a log
//! line, an error's text), every occurrence of such a value in the run's event messages
//! and errors is masked too.
//!
//! The service applies this to every run and event it hands out; the stored run keeps
//! its real config, which the run worker and re-execution read from storage.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;
use sluice_core::events::{ErrorInfo, EventData, EventRecord};
use sluice_core::run::Run;

/// What a hidden value is shown as.
pub const HIDDEN: &str = "•••• (secret, hidden)";
/// What a secret is replaced with inside a message.
const MASK: &str = "••••";

/// Secrets shorter than this are hidden where their key is, but not searched for inside
/// messages, where they would mask ordinary words.
const MIN_MASKED_LEN: usize = 4;

/// Whether a config field or tag named `key` holds a secret (the rule lives in core,
/// where config errors are made, so that they follow it too).
pub use sluice_core::config::is_secret_key;

/// The secrets of one run, and how to hide them.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Inline secret values, longest first (so that a secret containing another is
    /// masked whole).
    secrets: Vec<String>,
}

impl Redactor {
    /// The secrets `run` carries in its config and tags.
    pub fn of_run(run: &Run) -> Self {
        Self::of(&run.run_config, &run.tags)
    }

    /// The secrets in `config` and `tags`.
    pub fn of(config: &Value, tags: &BTreeMap<String, String>) -> Self {
        let mut secrets = Vec::new();
        collect_secrets(config, &mut secrets);
        secrets.extend(
            tags.iter()
                .filter(|(key, _)| is_secret_key(key))
                .map(|(_, value)| value.clone()),
        );
        secrets.retain(|s| s.chars().count() >= MIN_MASKED_LEN);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every secret of the run masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut shown = Cow::Borrowed(text);
        for secret in &self.secrets {
            if shown.contains(secret.as_str()) {
                shown = Cow::Owned(shown.replace(secret.as_str(), MASK));
            }
        }
        shown
    }

    /// `record` as it may be shown: its message and error texts masked.
    pub fn event(&self, mut record: EventRecord) -> EventRecord {
        if self.secrets.is_empty() {
            return record;
        }
        if let Cow::Owned(message) = self.text(&record.event.message) {
            record.event.message = message;
        }
        match &mut record.event.data {
            EventData::Failure { error } | EventData::Retry { error, .. } => self.error(error),
            EventData::Skipped { reason } => {
                if let Cow::Owned(shown) = self.text(reason) {
                    *reason = shown;
                }
            }
            _ => {}
        }
        record
    }

    /// `records` as they may be shown.
    pub fn events(&self, records: Vec<EventRecord>) -> Vec<EventRecord> {
        records.into_iter().map(|r| self.event(r)).collect()
    }

    fn error(&self, error: &mut ErrorInfo) {
        if let Cow::Owned(message) = self.text(&error.message) {
            error.message = message;
        }
        if let Some(cause) = &mut error.cause {
            self.error(cause);
        }
    }
}

/// `run` as it may be shown: secret config values and tags hidden by key (no secret
/// values need collecting for that).
pub fn redact_run(mut run: Run) -> Run {
    run.run_config = redact_config(&run.run_config);
    run.tags = redact_tags(&run.tags);
    run
}

/// Whether `value` is read from the environment (`{env: NAME}`).
fn from_env(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key("env"))
}

/// A copy of run config with the values of secret-looking keys hidden.
pub fn redact_config(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let shown = if is_secret_key(key) && !from_env(value) && !value.is_null() {
                        Value::String(HIDDEN.to_owned())
                    } else {
                        redact_config(value)
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_config).collect()),
        other => other.clone(),
    }
}

/// A copy of `tags` with the values of secret-looking keys hidden.
pub fn redact_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(key, value)| {
            let shown = if is_secret_key(key) {
                HIDDEN.to_owned()
            } else {
                value.clone()
            };
            (key.clone(), shown)
        })
        .collect()
}

/// Every inline value under a secret-looking key of `config` (all the strings and
/// numbers below it).
fn collect_secrets(config: &Value, into: &mut Vec<String>) {
    fn leaves(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::String(s) => into.push(s.clone()),
            Value::Number(n) => into.push(n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| leaves(v, into)),
            Value::Object(map) => map.values().for_each(|v| leaves(v, into)),
            Value::Bool(_) | Value::Null => {}
        }
    }
    match config {
        Value::Object(map) => {
            for (key, value) in map {
                if is_secret_key(key) && !from_env(value) {
                    leaves(value, into);
                } else {
                    collect_secrets(value, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sluice_core::events::{EventType, RunEvent};

    use super::*;

    #[test]
    fn secrets_show_by_name_only() {
        let config = json!({
            "resources": {"db": {"config": {
                "host": "db", "password": "hunter2", "api_token": {"env": "API_TOKEN"},
                "nested": [{"client_secret": "s3cr3t", "n": 1}]
            }}}
        });
        let shown = redact_config(&config);
        let db = &shown["resources"]["db"]["config"];
        assert_eq!(db["host"], "db");
        assert_eq!(db["password"], HIDDEN);
        assert_eq!(db["api_token"], json!({"env": "API_TOKEN"}));
        assert_eq!(db["nested"][0]["client_secret"], HIDDEN);
        assert_eq!(db["nested"][0]["n"], 1);
    }

    #[test]
    fn an_inline_secret_is_masked_wherever_it_comes_back() {
        let config = json!({"ops": {"load": {"config": {"password": "S3CRET", "n": 12345}}}});
        let tags: BTreeMap<String, String> = [
            ("api_token".to_owned(), "tok-123".to_owned()),
            ("team".to_owned(), "data".to_owned()),
        ]
        .into();
        let redactor = Redactor::of(&config, &tags);
        assert_eq!(
            redactor.text("got String \"S3CRET\""),
            "got String \"••••\""
        );
        assert_eq!(
            redactor.text("bearer tok-123 refused"),
            "bearer •••• refused"
        );
        // A value under an ordinary key is not a secret.
        assert_eq!(redactor.text("n is 12345"), "n is 12345");
        assert_eq!(redact_tags(&tags)["api_token"], HIDDEN);
        assert_eq!(redact_tags(&tags)["team"], "data");

        let failure =
            RunEvent::new("r", EventType::RunFailure, "bad S3CRET").data(EventData::Failure {
                error: ErrorInfo::new("X", "password S3CRET refused"),
            });
        let shown = redactor.event(EventRecord {
            storage_id: 1,
            event: failure,
        });
        assert_eq!(shown.event.message, "bad ••••");
        let EventData::Failure { error } = &shown.event.data else {
            panic!("not a failure");
        };
        assert_eq!(error.message, "password •••• refused");
    }

    #[test]
    fn short_secrets_are_hidden_by_key_but_not_searched_for() {
        let config = json!({"token": "ab"});
        let redactor = Redactor::of(&config, &BTreeMap::new());
        assert_eq!(redactor.text("a b ab"), "a b ab");
        assert_eq!(redact_config(&config)["token"], HIDDEN);
    }
}
