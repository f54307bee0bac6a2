//! Config: schemas derived from Rust types, validation with Dagster-style paths, and the
//! loading of config documents given as JSON, YAML or a file path.

mod env_var;
mod schema;
mod secrets;

pub use env_var::{EnvVar, EnvVarError, StringSource};
pub use schema::{
    ConfigError, ConfigErrorReason, ConfigField, ConfigPath, ConfigType, PathSegment,
};
pub use secrets::is_secret_key;

use std::path::Path;

use serde_json::Value;

/// A config document could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigParseError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file's path, as given.
        path: String,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The text is neither valid JSON nor valid YAML.
    #[error("{origin}{}: {message}", location(*line, *column))]
    Syntax {
        /// Where the text came from: a file path or "inline config".
        origin: String,
        /// The line of the error, from 1, when the parser knows it.
        line: Option<usize>,
        /// The column of the error, from 1, when the parser knows it.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// The document is not a mapping at the top level.
    #[error("{origin}: run config must be a mapping at the top level, got {got}")]
    NotAMapping {
        /// Where the text came from: a file path or "inline config".
        origin: String,
        /// What it is instead, described.
        got: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(", line {l}, column {c}"),
        (Some(l), None) => format!(", line {l}"),
        _ => String::new(),
    }
}

/// Parse a config document written in JSON or YAML. `origin` names it in errors.
pub fn parse_document(text: &str, origin: &str) -> Result<Value, ConfigParseError> {
    let trimmed = text.trim_start();
    let value = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str::<Value>(text).map_err(|e| ConfigParseError::Syntax {
            origin: origin.to_owned(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: e.to_string(),
        })?
    } else {
        serde_norway::from_str::<Value>(text).map_err(|e| {
            let loc = e.location();
            let mut message = e.to_string();
            // The location is reported separately; do not repeat it in the message.
            if let Some(l) = &loc {
                message = message.replacen(
                    &format!(" at line {} column {}", l.line(), l.column()),
                    "",
                    1,
                );
            }
            ConfigParseError::Syntax {
                origin: origin.to_owned(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message,
            }
        })?
    };
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Default::default())),
        other => Err(ConfigParseError::NotAMapping {
            origin: origin.to_owned(),
            got: schema::describe_value(&other),
        }),
    }
}

/// Load a run config given on a command line: a path to a `.yaml`/`.yml`/`.json` file if
/// such a file exists, otherwise the text itself as JSON or YAML.
pub fn load_document(arg: &str) -> Result<Value, ConfigParseError> {
    let path = Path::new(arg);
    let looks_like_document = arg.contains('\n') || arg.trim_start().starts_with('{');
    // A one-line argument with neither `:` nor `{` cannot be a mapping: it is a path.
    let must_be_path = !looks_like_document && !arg.contains(':');
    if !looks_like_document && (path.is_file() || must_be_path) {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigParseError::Read {
            path: arg.to_owned(),
            source,
        })?;
        return parse_document(&text, arg);
    }
    parse_document(arg, "inline config")
}

/// Deep-merge `overlay` into `base`: mappings merge key by key, anything else replaces.
/// Several `-c` documents combine this way, later ones winning.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_json_and_yaml() {
        let j = parse_document(r#"{"ops": {"a": {"config": {"n": 1}}}}"#, "x").unwrap();
        let y = parse_document("ops:\n  a:\n    config:\n      n: 1\n", "x").unwrap();
        assert_eq!(j, y);
        assert_eq!(parse_document("", "x").unwrap(), json!({}));
    }

    #[test]
    fn syntax_errors_name_origin_and_line() {
        let err = parse_document("ops:\n  a: [1,\n", "job.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("job.yaml, line"), "{msg}");
        let err = parse_document("{\"ops\": }", "inline config").unwrap_err();
        assert!(err.to_string().contains("line 1, column 9"), "{err}");
        let err = parse_document("- 1\n- 2\n", "inline config").unwrap_err();
        assert!(matches!(err, ConfigParseError::NotAMapping { .. }));
    }

    #[test]
    fn loads_files_and_reports_missing_ones_as_inline_text() {
        let dir = std::env::temp_dir().join(format!("sluice-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("run.yaml");
        std::fs::write(&file, "ops: {a: {config: {n: 2}}}").unwrap();
        let v = load_document(file.to_str().unwrap()).unwrap();
        assert_eq!(v["ops"]["a"]["config"]["n"], json!(2));
        std::fs::remove_dir_all(&dir).unwrap();
        // A path that does not exist says so.
        let err = load_document("/no/such/file.yaml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file /no/such/file.yaml: "),
            "{err}"
        );
        // Inline YAML with a colon is still text.
        assert_eq!(
            load_document("ops: {}").unwrap(),
            serde_json::json!({"ops": {}})
        );
    }

    #[test]
    fn merge_is_deep() {
        let mut a = json!({"ops": {"a": {"config": {"n": 1, "m": 2}}}});
        merge(&mut a, json!({"ops": {"a": {"config": {"n": 5}}, "b": {}}}));
        assert_eq!(
            a,
            json!({"ops": {"a": {"config": {"n": 5, "m": 2}}, "b": {}}})
        );
    }
}
