//! Run config documents as Dagster's API passes them in and shows them.

use serde_json::Value;
use sluice_core::config::parse_document;

use crate::error::Result;

/// Turn Dagster's `RunConfigData` into a config document: an object as it is, a string
/// parsed as YAML or JSON, null as `{}`.
pub fn parse_run_config(raw: Option<Value>) -> Result<Value> {
    match raw {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(Value::String(text)) => Ok(parse_document(&text, "runConfigData")?),
        Some(other) => Ok(other),
    }
}

/// A run config rendered as YAML, as Dagster's `runConfigYaml` (`{}\n` when empty).
pub fn run_config_yaml(config: &Value) -> String {
    if config.as_object().is_some_and(|m| m.is_empty()) || config.is_null() {
        return "{}\n".to_owned();
    }
    serde_norway::to_string(config).unwrap_or_else(|_| format!("{config}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_config_data_is_an_object_or_a_document() {
        assert_eq!(parse_run_config(None).unwrap(), serde_json::json!({}));
        let v = parse_run_config(Some(Value::String(
            "ops:\n  use_config:\n    config:\n      n: 4\n".into(),
        )))
        .unwrap();
        assert_eq!(v["ops"]["use_config"]["config"]["n"], 4);
        assert!(parse_run_config(Some(Value::String("a: [".into()))).is_err());
        assert_eq!(run_config_yaml(&serde_json::json!({})), "{}\n");
        assert_eq!(run_config_yaml(&serde_json::json!({"a": 1})), "a: 1\n");
    }
}
