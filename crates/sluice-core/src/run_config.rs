//! Run config: the Dagster-shaped document that configures one run of a job.
//!
//! ```yaml
//! ops:
//!   use_config: {config: {n: 3}}
//!   "*": {config: {target_date: "2024-01-01"}}   # every op that accepts it
//! resources:
//!   db: {config: {url: "postgres://..."}}
//! execution:
//!   config: {max_concurrent: 4}
//! ```
//!
//! [`resolve`] validates a document against a job and reports every error with its path,
//! as Dagster's `RunConfigValidationInvalid` does, or returns the config of each op and
//! resource ready for execution.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, ConfigErrorReason, ConfigField, ConfigPath, ConfigType};
use crate::definitions::Definitions;
use crate::job::JobDefinition;
use crate::op::ConfigCheck;
use crate::resource::ResourceDefinition;
use crate::snapshot::{JobSnapshot, LocationSnapshot, OpSnapshot};

/// The key of the entry under `ops` whose config applies to every op that accepts it.
pub const ALL_OPS: &str = "*";

/// A run config is invalid for its job; every error is listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfigError {
    /// The job whose config it is.
    pub job: String,
    /// What is wrong, each error at its path in the config.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for RunConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "run config for job \"{}\" is invalid ({n} error{}):",
            self.job,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RunConfigError {}

/// The `execution` section's config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecutionConfig {
    /// How many steps may run at once (default: the number of cores).
    max_concurrent: Option<u64>,
}

/// What validating run config needs to know about a job. Built from live definitions
/// (in the process that runs user code) or from a snapshot (in the webserver and daemon),
/// so that both validate the same way.
pub struct ConfigShape<'a> {
    job_name: &'a str,
    nodes: Vec<NodeShape<'a>>,
    /// Every resource bound in the location, by key.
    resources: BTreeMap<&'a str, ResourceShape<'a>>,
    /// The keys the job's ops need.
    required_resources: BTreeSet<&'a str>,
    default_run_config: Option<&'a Value>,
}

struct NodeShape<'a> {
    alias: &'a str,
    op_name: &'a str,
    schema: Option<&'a ConfigType>,
    /// Deserializes a value into the op's config type (live definitions only).
    check: Option<ConfigCheck>,
}

struct ResourceShape<'a> {
    schema: Option<&'a ConfigType>,
    default: Option<&'a Value>,
}

/// A run config that passed validation: each op's and each needed resource's config.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedRunConfig {
    /// Each node's config by alias (nodes whose op takes no config are absent).
    pub op_configs: HashMap<String, Value>,
    /// The config of each resource the job needs, in key order.
    pub resource_configs: Vec<(String, Value)>,
    /// The `execution.config.max_concurrent` setting, if given.
    pub max_concurrent: Option<usize>,
}

/// A validated run config, resolved for execution.
#[derive(Debug, Clone)]
pub struct ResolvedRunConfig {
    /// Each node's config by alias (nodes whose op takes no config are absent).
    pub op_configs: HashMap<String, Value>,
    /// The resources the job needs, with their config, in key order.
    pub resources: Vec<(String, ResourceDefinition, Value)>,
    /// The `execution.config.max_concurrent` setting, if given.
    pub max_concurrent: Option<usize>,
}

/// The value a config type takes when none is given: an empty object for a shape (so
/// that field defaults apply), otherwise null.
fn absent_value(ty: &ConfigType) -> Value {
    match ty {
        ConfigType::Shape { .. } | ConfigType::Map { .. } => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

fn field_error(
    path: &ConfigPath,
    field: &str,
    reason: ConfigErrorReason,
    message: String,
) -> ConfigError {
    ConfigError {
        path: path.clone(),
        field: Some(field.to_owned()),
        reason,
        message,
    }
}

/// Look up `key` in `obj`, checking that the section is a mapping.
fn section<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &ConfigPath,
    errors: &mut Vec<ConfigError>,
) -> Option<&'a Map<String, Value>> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(other) => {
            errors.push(ConfigError::mismatch(
                &path.with_field(key),
                &"a mapping",
                other,
            ));
            None
        }
    }
}

/// The `config` of an entry such as `ops.<name>` or `resources.<key>`; any other key in
/// the entry is an error.
fn entry_config<'a>(
    entry: &'a Value,
    path: &ConfigPath,
    errors: &mut Vec<ConfigError>,
) -> Option<&'a Value> {
    match entry {
        Value::Null => None,
        Value::Object(m) => {
            for key in m.keys().filter(|k| *k != "config") {
                errors.push(ConfigError::undefined_field(path, key, &["config"]));
            }
            m.get("config")
        }
        other => {
            errors.push(ConfigError::mismatch(
                path,
                &"a mapping with a \"config\" entry",
                other,
            ));
            None
        }
    }
}

/// Validate a schema-checked value against the Rust type too (e.g. integer ranges).
fn check_deserializes(
    check: Option<ConfigCheck>,
    value: &Value,
    path: &ConfigPath,
    errors: &mut Vec<ConfigError>,
) {
    if let Some(check) = check
        && let Err(message) = check(value)
    {
        errors.push(ConfigError {
            path: path.clone(),
            field: None,
            reason: ConfigErrorReason::RuntimeTypeMismatch,
            message: format!("Invalid value at path {path}: {message}."),
        });
    }
}

fn validate_into(ty: &ConfigType, value: &Value, path: &ConfigPath) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    ty.validate(value, &mut path.clone(), &mut errors);
    errors
}

impl<'a> ConfigShape<'a> {
    /// The shape of `job` from live definitions.
    pub fn of_job(defs: &'a Definitions, job: &'a JobDefinition) -> Self {
        Self {
            job_name: job.name(),
            nodes: job
                .nodes()
                .iter()
                .map(|n| NodeShape {
                    alias: &n.alias,
                    op_name: n.op.name(),
                    schema: n.op.config_schema(),
                    check: n.op.0.config_check,
                })
                .collect(),
            resources: defs
                .resources()
                .iter()
                .map(|(k, r)| {
                    let shape = ResourceShape {
                        schema: r.config_schema(),
                        default: r.default_config(),
                    };
                    (k.as_str(), shape)
                })
                .collect(),
            required_resources: job.required_resource_keys(),
            default_run_config: job.default_run_config(),
        }
    }

    /// The shape of `job` from a location snapshot.
    pub fn of_snapshot(location: &'a LocationSnapshot, job: &'a JobSnapshot) -> Self {
        let ops: std::collections::HashMap<&str, &OpSnapshot> =
            job.ops.iter().map(|o| (o.name.as_str(), o)).collect();
        Self {
            job_name: &job.name,
            nodes: job
                .nodes
                .iter()
                .map(|n| NodeShape {
                    alias: &n.alias,
                    op_name: &n.op_name,
                    schema: ops
                        .get(n.op_name.as_str())
                        .and_then(|o| o.config_schema.as_ref()),
                    check: None,
                })
                .collect(),
            resources: location
                .resources
                .iter()
                .map(|r| {
                    let shape = ResourceShape {
                        schema: r.config_schema.as_ref(),
                        default: r.default_config.as_ref(),
                    };
                    (r.key.as_str(), shape)
                })
                .collect(),
            required_resources: job
                .ops
                .iter()
                .flat_map(|o| o.required_resource_keys.iter().map(String::as_str))
                .collect(),
            default_run_config: job.default_run_config.as_ref(),
        }
    }

    /// The whole run config document's schema, as a config type (what a launchpad shows).
    /// The `"*"` entry is not part of it: it is a shorthand that validation expands.
    pub fn schema(&self) -> ConfigType {
        fn field(ty: ConfigType) -> ConfigField {
            ConfigField {
                required: ty.requires_value(),
                ty,
                default: None,
                description: None,
            }
        }
        fn shape(fields: BTreeMap<String, ConfigField>) -> ConfigType {
            ConfigType::Shape {
                fields,
                permissive: false,
            }
        }
        let ops = self
            .nodes
            .iter()
            .map(|n| {
                let entry = match n.schema {
                    Some(schema) => shape([("config".to_owned(), field(schema.clone()))].into()),
                    None => ConfigType::empty_shape(),
                };
                (n.alias.to_owned(), field(entry))
            })
            .collect();
        let resources = self
            .required_resources
            .iter()
            .filter_map(|k| self.resources.get(k).map(|r| (*k, r)))
            .map(|(k, r)| {
                let config = match (r.schema, r.default) {
                    (Some(schema), None) => field(schema.clone()),
                    (Some(schema), Some(default)) => ConfigField {
                        default: Some(default.clone()),
                        required: false,
                        ..field(schema.clone())
                    },
                    (None, _) => field(ConfigType::Any),
                };
                (
                    k.to_owned(),
                    field(shape([("config".to_owned(), config)].into())),
                )
            })
            .collect();
        let execution = shape(
            [(
                "config".to_owned(),
                field(ConfigType::of::<ExecutionConfig>()),
            )]
            .into(),
        );
        let mut root = BTreeMap::new();
        root.insert("ops".to_owned(), field(shape(ops)));
        root.insert("resources".to_owned(), field(shape(resources)));
        root.insert(
            "execution".to_owned(),
            ConfigField {
                required: false,
                ..field(execution)
            },
        );
        shape(root)
    }

    /// Validate `raw` as run config for the job: every error with its path, or each op's
    /// and resource's config.
    pub fn validate(&self, raw: &Value) -> Result<ValidatedRunConfig, RunConfigError> {
        let is_empty = matches!(raw, Value::Null) || raw.as_object().is_some_and(Map::is_empty);
        let raw = match (is_empty, self.default_run_config) {
            (true, Some(default)) => default,
            _ => raw,
        };
        let mut errors = Vec::new();
        let root = ConfigPath::root();
        let empty = Map::new();
        let obj = match raw {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => {
                errors.push(ConfigError::mismatch(&root, &"a mapping", other));
                &empty
            }
        };
        for key in obj.keys() {
            if !matches!(key.as_str(), "ops" | "resources" | "execution") {
                errors.push(ConfigError::undefined_field(
                    &root,
                    key,
                    &["execution", "ops", "resources"],
                ));
            }
        }
        let op_configs = self.validate_ops(section(obj, "ops", &root, &mut errors), &mut errors);
        let resource_configs =
            self.validate_resources(section(obj, "resources", &root, &mut errors), &mut errors);
        let max_concurrent =
            validate_execution(section(obj, "execution", &root, &mut errors), &mut errors);
        if errors.is_empty() {
            Ok(ValidatedRunConfig {
                op_configs,
                resource_configs,
                max_concurrent,
            })
        } else {
            Err(RunConfigError {
                job: self.job_name.to_owned(),
                errors,
            })
        }
    }

    fn validate_ops(
        &self,
        ops: Option<&Map<String, Value>>,
        errors: &mut Vec<ConfigError>,
    ) -> HashMap<String, Value> {
        let ops_path = ConfigPath::root().with_field("ops");
        let empty = Map::new();
        let ops = ops.unwrap_or(&empty);
        let mut explicit: HashMap<&str, &Value> = HashMap::new();
        let mut star: Option<&Value> = None;
        for (key, entry) in ops {
            let path = ops_path.with_field(key.clone());
            if key == ALL_OPS {
                star = entry_config(entry, &path, errors);
                continue;
            }
            let Some(node) = self.nodes.iter().find(|n| n.alias == key) else {
                let mut expected: Vec<&str> = self.nodes.iter().map(|n| n.alias).collect();
                expected.push(ALL_OPS);
                errors.push(ConfigError::undefined_field(&ops_path, key, &expected));
                continue;
            };
            match (entry_config(entry, &path, errors), node.schema) {
                (Some(config), Some(_)) => {
                    explicit.insert(key.as_str(), config);
                }
                (Some(config), None) if !is_blank(config) => {
                    errors.push(field_error(
                        &path,
                        "config",
                        ConfigErrorReason::FieldNotDefined,
                        format!(
                            "Received unexpected config entry \"config\" at path {path}: op \"{}\" takes no config.",
                            node.op_name
                        ),
                    ));
                }
                _ => {}
            }
        }

        let mut resolved = HashMap::new();
        let mut star_accepted = false;
        let mut star_rejections: Vec<(&str, Vec<ConfigError>)> = Vec::new();
        for node in &self.nodes {
            let Some(schema) = node.schema else {
                continue;
            };
            let path = ops_path.with_field(node.alias).with_field("config");
            let value = if let Some(config) = explicit.get(node.alias) {
                let errs = validate_into(schema, config, &path);
                let ok = errs.is_empty();
                errors.extend(errs);
                ok.then(|| (*config).clone())
            } else if let Some(config) = star {
                let star_path = ops_path.with_field(ALL_OPS).with_field("config");
                let errs = validate_into(schema, config, &star_path);
                if errs.is_empty() {
                    star_accepted = true;
                    Some(config.clone())
                } else {
                    if schema.requires_value() {
                        star_rejections.push((node.alias, errs));
                    }
                    Some(absent_value(schema)).filter(|_| !schema.requires_value())
                }
            } else if schema.requires_value() {
                errors.push(ConfigError::missing_field(
                    &ops_path.with_field(node.alias),
                    "config",
                    schema,
                ));
                None
            } else {
                Some(absent_value(schema))
            };
            if let Some(value) = value {
                let before = errors.len();
                check_deserializes(node.check, &value, &path, errors);
                if errors.len() == before {
                    resolved.insert(node.alias.to_owned(), value);
                }
            }
        }

        // An op that needs config and got neither its own nor an acceptable "*" config is
        // reported with the reasons "*" did not fit it.
        for (alias, errs) in star_rejections {
            for mut e in errs {
                e.message = format!("op \"{alias}\" cannot take the \"*\" config: {}", e.message);
                errors.push(e);
            }
        }
        if let Some(config) = star
            && !star_accepted
            && !is_blank(config)
            && errors.is_empty()
        {
            errors.push(ConfigError {
                path: ops_path.with_field(ALL_OPS).with_field("config"),
                field: None,
                reason: ConfigErrorReason::FieldNotDefined,
                message: format!(
                    "No op of job \"{}\" accepts the config given under \"*\".",
                    self.job_name
                ),
            });
        }
        resolved
    }

    fn validate_resources(
        &self,
        given: Option<&Map<String, Value>>,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<(String, Value)> {
        let res_path = ConfigPath::root().with_field("resources");
        let empty = Map::new();
        let given = given.unwrap_or(&empty);
        let known: Vec<&str> = self.resources.keys().copied().collect();
        let mut explicit = HashMap::new();
        for (key, entry) in given {
            let path = res_path.with_field(key.clone());
            if !self.resources.contains_key(key.as_str()) {
                errors.push(ConfigError::undefined_field(&res_path, key, &known));
                continue;
            }
            if let Some(config) = entry_config(entry, &path, errors) {
                explicit.insert(key.as_str(), config);
            }
        }
        let mut resolved = Vec::new();
        for key in &self.required_resources {
            let Some(resource) = self.resources.get(key) else {
                continue; // reported when the definitions were built
            };
            let path = res_path.with_field(*key).with_field("config");
            let value = explicit.get(key).copied().or(resource.default).cloned();
            let value = match (resource.schema, value) {
                (Some(schema), Some(v)) => {
                    let errs = validate_into(schema, &v, &path);
                    if !errs.is_empty() {
                        errors.extend(errs);
                        continue;
                    }
                    v
                }
                (Some(schema), None) if schema.requires_value() => {
                    errors.push(ConfigError::missing_field(
                        &res_path.with_field(*key),
                        "config",
                        schema,
                    ));
                    continue;
                }
                (Some(schema), None) => absent_value(schema),
                (None, _) => Value::Null,
            };
            resolved.push(((*key).to_owned(), value));
        }
        resolved
    }
}

/// Validate `raw` as run config for `job` and resolve what each op and resource gets.
pub fn resolve(
    defs: &Definitions,
    job: &JobDefinition,
    raw: &Value,
) -> Result<ResolvedRunConfig, RunConfigError> {
    let validated = ConfigShape::of_job(defs, job).validate(raw)?;
    Ok(ResolvedRunConfig {
        op_configs: validated.op_configs,
        resources: validated
            .resource_configs
            .into_iter()
            .filter_map(|(key, config)| {
                defs.resource(&key)
                    .map(|def| (key.clone(), def.clone(), config))
            })
            .collect(),
        max_concurrent: validated.max_concurrent,
    })
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(Map::is_empty)
}

fn validate_execution(
    exec: Option<&Map<String, Value>>,
    errors: &mut Vec<ConfigError>,
) -> Option<usize> {
    let exec_path = ConfigPath::root().with_field("execution");
    let exec = exec?;
    let mut config = None;
    for (key, value) in exec {
        if key == "config" {
            config = Some(value);
        } else {
            errors.push(ConfigError::undefined_field(&exec_path, key, &["config"]));
        }
    }
    let config = config?;
    let path = exec_path.with_field("config");
    let errs = validate_into(&ConfigType::of::<ExecutionConfig>(), config, &path);
    if !errs.is_empty() {
        errors.extend(errs);
        return None;
    }
    let parsed = ExecutionConfig::deserialize(config).ok()?;
    match parsed.max_concurrent {
        Some(0) => {
            errors.push(ConfigError {
                path: path.with_field("max_concurrent"),
                field: None,
                reason: ConfigErrorReason::RuntimeTypeMismatch,
                message: "max_concurrent must be at least 1.".to_owned(),
            });
            None
        }
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        None => None,
    }
}
