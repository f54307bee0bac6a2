//! Config schemas: the shape a piece of config must have, and validation against it.
//!
//! A [`ConfigType`] is derived from a Rust type through `schemars`, so that an op's or a
//! resource's config is declared once, as a `serde` struct. Validation walks a JSON value
//! and the schema together and reports *every* problem with its path, the way Dagster's
//! config system does (`root:ops:use_config:config:n`).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a config value, in Dagster's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigType {
    /// Any value is accepted.
    Any,
    /// `true` or `false`.
    Bool,
    /// A whole number (a JSON number without a fraction).
    Int,
    /// Any number, whole or not.
    Float,
    /// A string.
    String,
    /// One of a fixed set of strings.
    Enum {
        /// The accepted strings.
        values: Vec<String>,
    },
    /// A list whose items all have one type.
    Array {
        /// The type of each item.
        items: Box<ConfigType>,
    },
    /// The inner type, or null.
    Noneable {
        /// The type of a value that is not null.
        inner: Box<ConfigType>,
    },
    /// An object with declared fields. Unless `permissive`, undeclared fields are errors.
    Shape {
        /// The declared fields, by name.
        fields: BTreeMap<String, ConfigField>,
        /// Whether fields that are not declared are accepted (and passed through).
        permissive: bool,
    },
    /// An object with arbitrary string keys and values of one type.
    Map {
        /// The type of every value.
        values: Box<ConfigType>,
    },
    /// A value that must match exactly one of several types (e.g. a Rust enum with data).
    OneOf {
        /// The accepted types.
        alternatives: Vec<ConfigType>,
    },
}

/// A field of a [`ConfigType::Shape`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigField {
    /// The field's type.
    #[serde(rename = "type")]
    pub ty: ConfigType,
    /// A required field has no default and must be given.
    pub required: bool,
    /// The value used when the field is not given; `None` if it has no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The field's description (its doc comment), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Why a value failed validation, with Dagster's `EvaluationErrorReason` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfigErrorReason {
    /// The value has another type than the schema's.
    RuntimeTypeMismatch,
    /// A required field is not given.
    MissingRequiredField,
    /// A field the schema does not declare.
    FieldNotDefined,
    /// The value matches none of the alternatives of a one-of.
    SelectorFieldError,
}

impl ConfigErrorReason {
    /// Dagster's name for the reason, as it appears in `RunConfigValidationInvalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RuntimeTypeMismatch => "RUNTIME_TYPE_MISMATCH",
            Self::MissingRequiredField => "MISSING_REQUIRED_FIELD",
            Self::FieldNotDefined => "FIELD_NOT_DEFINED",
            Self::SelectorFieldError => "SELECTOR_FIELD_ERROR",
        }
    }
}

/// One step of a path into a config document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A field of an object, by name.
    Field(String),
    /// An item of a list, by position from 0.
    Index(usize),
}

/// A location in a run config document, rendered as Dagster renders it:
/// `root:ops:use_config:config:items[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPath(pub Vec<PathSegment>);

impl ConfigPath {
    /// The path of the whole document (`root`).
    pub fn root() -> Self {
        Self::default()
    }

    /// Go into field `name`.
    pub fn push_field(&mut self, name: impl Into<String>) {
        self.0.push(PathSegment::Field(name.into()));
    }

    /// Go into item `index` of a list.
    pub fn push_index(&mut self, index: usize) {
        self.0.push(PathSegment::Index(index));
    }

    /// Go back out one step.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// This path extended by one field.
    pub fn with_field(&self, name: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.push_field(name);
        p
    }
}

impl fmt::Display for ConfigPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("root")?;
        for seg in &self.0 {
            match seg {
                PathSegment::Field(name) => write!(f, ":{name}")?,
                PathSegment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// One config validation error: where, why, and a message a person can act on.
///
/// As in Dagster, an error about a field (missing or not defined) has the path of the
/// object that holds it and names the field separately; [`ConfigError::full_path`] joins
/// the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigError {
    /// Where the error is: the value itself, or the object that holds the field.
    pub path: ConfigPath,
    /// The missing or undeclared field; `None` for an error about the value at `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why the value failed.
    pub reason: ConfigErrorReason,
    /// A message a person can act on, Dagster's wording.
    pub message: String,
}

impl ConfigError {
    /// The path to the offending value itself (the field included, if any).
    pub fn full_path(&self) -> ConfigPath {
        match &self.field {
            Some(field) => self.path.with_field(field.clone()),
            None => self.path.clone(),
        }
    }

    pub(crate) fn missing_field(path: &ConfigPath, field: &str, ty: &ConfigType) -> Self {
        Self {
            path: path.clone(),
            field: Some(field.to_owned()),
            reason: ConfigErrorReason::MissingRequiredField,
            message: format!(
                "Missing required config entry \"{field}\" at path {path}. Expected: {ty}."
            ),
        }
    }

    pub(crate) fn undefined_field(path: &ConfigPath, field: &str, expected: &[&str]) -> Self {
        let expected = if expected.is_empty() {
            "no fields".to_owned()
        } else {
            expected.join(", ")
        };
        Self {
            path: path.clone(),
            field: Some(field.to_owned()),
            reason: ConfigErrorReason::FieldNotDefined,
            message: format!(
                "Received unexpected config entry \"{field}\" at path {path}. Expected one of: {expected}."
            ),
        }
    }

    pub(crate) fn mismatch(path: &ConfigPath, expected: &dyn fmt::Display, got: &Value) -> Self {
        // A value under a field named like a secret is described by its type only.
        let secret = path.0.iter().any(|segment| match segment {
            PathSegment::Field(name) => super::is_secret_key(name),
            _ => false,
        });
        let got = if secret {
            describe_type(got)
        } else {
            describe_value(got)
        };
        Self {
            path: path.clone(),
            field: None,
            reason: ConfigErrorReason::RuntimeTypeMismatch,
            message: format!("Invalid value at path {path}: expected {expected}, got {got}."),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.full_path(),
            self.reason.as_str(),
            self.message
        )
    }
}

/// A JSON value's type, as error messages name it, without the value.
fn describe_type(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a Bool",
        Value::Number(n) if n.is_f64() => "a Float",
        Value::Number(_) => "an Int",
        Value::String(_) => "a String",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
    .to_owned()
}

/// A short description of a JSON value for error messages: its type and, when small, itself.
pub(crate) fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("Bool {b}"),
        Value::Number(n) if n.is_f64() => format!("Float {n}"),
        Value::Number(n) => format!("Int {n}"),
        Value::String(s) if s.len() <= 40 => format!("String {s:?}"),
        Value::String(_) => "a String".to_owned(),
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("Any"),
            Self::Bool => f.write_str("Bool"),
            Self::Int => f.write_str("Int"),
            Self::Float => f.write_str("Float"),
            Self::String => f.write_str("String"),
            Self::Enum { values } => write!(f, "one of [{}]", values.join(", ")),
            Self::Array { items } => write!(f, "[{items}]"),
            Self::Noneable { inner } => write!(f, "{inner}?"),
            Self::Map { values } => write!(f, "{{[String]: {values}}}"),
            Self::OneOf { alternatives } => {
                let alts: Vec<String> = alternatives.iter().map(ToString::to_string).collect();
                write!(f, "one of ({})", alts.join(" | "))
            }
            Self::Shape { fields, .. } => {
                f.write_str("{ ")?;
                for (name, field) in fields {
                    let opt = if field.required { "" } else { "?" };
                    write!(f, "{name}{opt}: {} ", field.ty)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl ConfigType {
    /// The config schema of a Rust type, from its `schemars` description.
    pub fn of<T: JsonSchema>() -> Self {
        let schema = schemars::schema_for!(T);
        let root = schema.as_value();
        from_json_schema(root, root, 0)
    }

    /// An empty shape: an object that accepts no fields.
    pub fn empty_shape() -> Self {
        Self::Shape {
            fields: BTreeMap::new(),
            permissive: false,
        }
    }

    /// Whether a value must be given for this type (a shape with a required field, or a
    /// scalar), as opposed to one that may be left out entirely.
    pub fn requires_value(&self) -> bool {
        match self {
            Self::Any | Self::Noneable { .. } | Self::Map { .. } => false,
            Self::Shape { fields, .. } => fields.values().any(|f| f.required),
            _ => true,
        }
    }

    /// A starting document for this type, as a launchpad offers it: every default the
    /// schema declares, and a placeholder of the right type (`0`, `""`, `false`, the first
    /// enum value, ...) for every required value that has none. Optional fields without a
    /// default are left out (but the defaults inside them are kept); `None` when there is
    /// nothing to write.
    pub fn scaffold(&self) -> Option<Value> {
        self.scaffold_with(true)
    }

    /// [`Self::scaffold`]; without `placeholders`, only the declared defaults.
    fn scaffold_with(&self, placeholders: bool) -> Option<Value> {
        let placeholder = match self {
            Self::Any | Self::Noneable { .. } | Self::Map { .. } => return None,
            Self::Shape { fields, .. } => {
                let object: serde_json::Map<String, Value> = fields
                    .iter()
                    .filter_map(|(name, field)| {
                        let value = match &field.default {
                            Some(default) => Some(default.clone()),
                            None => field.ty.scaffold_with(placeholders && field.required),
                        };
                        value.map(|v| (name.clone(), v))
                    })
                    .collect();
                return (!object.is_empty()).then_some(Value::Object(object));
            }
            Self::OneOf { alternatives } => {
                return alternatives.first()?.scaffold_with(placeholders);
            }
            Self::Bool => Value::Bool(false),
            Self::Int => Value::from(0),
            Self::Float => Value::from(0.0),
            Self::String => Value::String(String::new()),
            Self::Enum { values } => Value::String(values.first()?.clone()),
            Self::Array { .. } => Value::Array(Vec::new()),
        };
        placeholders.then_some(placeholder)
    }

    /// Validate `value` at `path`, appending every problem to `errors`.
    pub fn validate(&self, value: &Value, path: &mut ConfigPath, errors: &mut Vec<ConfigError>) {
        match (self, value) {
            (Self::Any, _) => {}
            (Self::Noneable { .. }, Value::Null) => {}
            (Self::Noneable { inner }, v) => inner.validate(v, path, errors),
            (Self::Bool, Value::Bool(_)) => {}
            (Self::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            (Self::Float, Value::Number(_)) => {}
            (Self::String, Value::String(_)) => {}
            (Self::Enum { values }, Value::String(s)) if values.iter().any(|v| v == s) => {}
            (Self::Array { items }, Value::Array(list)) => {
                for (i, item) in list.iter().enumerate() {
                    path.push_index(i);
                    items.validate(item, path, errors);
                    path.pop();
                }
            }
            (Self::Map { values }, Value::Object(map)) => {
                for (k, v) in map {
                    path.push_field(k.clone());
                    values.validate(v, path, errors);
                    path.pop();
                }
            }
            (Self::Shape { fields, permissive }, Value::Object(map)) => {
                if !permissive {
                    let expected: Vec<&str> = fields.keys().map(String::as_str).collect();
                    for key in map.keys().filter(|k| !fields.contains_key(*k)) {
                        errors.push(ConfigError::undefined_field(path, key, &expected));
                    }
                }
                for (name, field) in fields {
                    match map.get(name) {
                        Some(v) => {
                            path.push_field(name.clone());
                            field.ty.validate(v, path, errors);
                            path.pop();
                        }
                        None if field.required => {
                            errors.push(ConfigError::missing_field(path, name, &field.ty));
                        }
                        None => {}
                    }
                }
            }
            (Self::OneOf { alternatives }, v) => validate_one_of(alternatives, v, path, errors),
            (ty, v) => errors.push(ConfigError::mismatch(path, ty, v)),
        }
    }
}

fn validate_one_of(
    alternatives: &[ConfigType],
    value: &Value,
    path: &mut ConfigPath,
    errors: &mut Vec<ConfigError>,
) {
    let mut best: Option<Vec<ConfigError>> = None;
    for alt in alternatives {
        let mut errs = Vec::new();
        alt.validate(value, path, &mut errs);
        if errs.is_empty() {
            return;
        }
        // An object with one key is most likely meant for the alternative that declares
        // that key (an externally tagged enum variant): report that alternative's errors.
        if let (Value::Object(map), ConfigType::Shape { fields, .. }) = (value, alt)
            && map.len() == 1
            && map.keys().all(|k| fields.contains_key(k))
        {
            best = Some(errs);
        }
    }
    match best {
        Some(errs) => errors.extend(errs),
        None => errors.push(ConfigError {
            path: path.clone(),
            field: None,
            reason: ConfigErrorReason::SelectorFieldError,
            message: format!(
                "Value at path {path} matches none of the accepted forms: {}. Got {}.",
                ConfigType::OneOf {
                    alternatives: alternatives.to_vec()
                },
                describe_value(value)
            ),
        }),
    }
}

/// Recursion guard for self-referential types: past this depth a type becomes `Any`.
const MAX_DEPTH: usize = 32;

fn from_json_schema(schema: &Value, root: &Value, depth: usize) -> ConfigType {
    if depth > MAX_DEPTH {
        return ConfigType::Any;
    }
    let obj = match schema {
        Value::Object(obj) => obj,
        // `true` (or anything else) accepts every value.
        _ => return ConfigType::Any,
    };
    if let Some(Value::String(reference)) = obj.get("$ref") {
        return match resolve_ref(reference, root) {
            Some(target) => from_json_schema(target, root, depth + 1),
            None => ConfigType::Any,
        };
    }
    if let Some(Value::Array(all)) = obj.get("allOf")
        && all.len() == 1
    {
        return from_json_schema(&all[0], root, depth + 1);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = obj.get(key) {
            return from_alternatives(alts, root, depth);
        }
    }
    if let Some(c) = obj.get("const") {
        return match c {
            Value::String(s) => ConfigType::Enum {
                values: vec![s.clone()],
            },
            _ => ConfigType::Any,
        };
    }
    if let Some(Value::Array(values)) = obj.get("enum") {
        let nullable = values.iter().any(Value::is_null);
        let strings: Vec<String> = values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let ty = ConfigType::Enum { values: strings };
        return if nullable { noneable(ty) } else { ty };
    }
    match obj.get("type") {
        Some(Value::String(t)) => from_type_name(t, obj, root, depth),
        Some(Value::Array(types)) => {
            let nullable = types.iter().any(|t| t == "null");
            let others: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            let ty = match others.as_slice() {
                [one] => from_type_name(one, obj, root, depth),
                [] => ConfigType::Any,
                many => ConfigType::OneOf {
                    alternatives: many
                        .iter()
                        .map(|t| from_type_name(t, obj, root, depth))
                        .collect(),
                },
            };
            if nullable { noneable(ty) } else { ty }
        }
        _ => ConfigType::Any,
    }
}

fn noneable(ty: ConfigType) -> ConfigType {
    match ty {
        ConfigType::Noneable { .. } | ConfigType::Any => ty,
        other => ConfigType::Noneable {
            inner: Box::new(other),
        },
    }
}

fn from_alternatives(alts: &[Value], root: &Value, depth: usize) -> ConfigType {
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    let nullable = alts.iter().any(is_null);
    let mut types: Vec<ConfigType> = alts
        .iter()
        .filter(|v| !is_null(v))
        .map(|v| from_json_schema(v, root, depth + 1))
        .collect();
    let ty = if types.len() == 1 {
        types.remove(0)
    } else if !types.is_empty() && types.iter().all(|t| matches!(t, ConfigType::Enum { .. })) {
        let values = types
            .into_iter()
            .flat_map(|t| match t {
                ConfigType::Enum { values } => values,
                _ => Vec::new(),
            })
            .collect();
        ConfigType::Enum { values }
    } else if types.is_empty() {
        ConfigType::Any
    } else {
        ConfigType::OneOf {
            alternatives: types,
        }
    };
    if nullable { noneable(ty) } else { ty }
}

fn from_type_name(
    t: &str,
    obj: &serde_json::Map<String, Value>,
    root: &Value,
    depth: usize,
) -> ConfigType {
    match t {
        "boolean" => ConfigType::Bool,
        "integer" => ConfigType::Int,
        "number" => ConfigType::Float,
        "string" => ConfigType::String,
        "null" => noneable(ConfigType::Any),
        "array" => ConfigType::Array {
            items: Box::new(
                obj.get("items")
                    .map(|items| from_json_schema(items, root, depth + 1))
                    .unwrap_or(ConfigType::Any),
            ),
        },
        "object" => object_type(obj, root, depth),
        _ => ConfigType::Any,
    }
}

fn object_type(obj: &serde_json::Map<String, Value>, root: &Value, depth: usize) -> ConfigType {
    let properties = obj.get("properties").and_then(Value::as_object);
    let additional = obj.get("additionalProperties");
    if properties.is_none_or(|p| p.is_empty())
        && let Some(values @ Value::Object(_)) = additional
    {
        return ConfigType::Map {
            values: Box::new(from_json_schema(values, root, depth + 1)),
        };
    }
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = properties
        .into_iter()
        .flatten()
        .map(|(name, prop)| {
            let default = prop.get("default").cloned();
            let field = ConfigField {
                ty: from_json_schema(prop, root, depth + 1),
                required: required.contains(&name.as_str()) && default.is_none(),
                default,
                description: prop
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            };
            (name.clone(), field)
        })
        .collect();
    // Sluice's convention: unknown fields are errors unless a type explicitly allows them.
    let permissive = matches!(additional, Some(Value::Bool(true)) | Some(Value::Object(_)));
    ConfigType::Shape { fields, permissive }
}

fn resolve_ref<'a>(reference: &str, root: &'a Value) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scaffold_has_defaults_and_placeholders_for_required_values() {
        let field = |ty: ConfigType, required: bool, default: Option<Value>| ConfigField {
            ty,
            required,
            default,
            description: None,
        };
        let shape = |fields: Vec<(&str, ConfigField)>| ConfigType::Shape {
            fields: fields.into_iter().map(|(k, f)| (k.to_owned(), f)).collect(),
            permissive: false,
        };
        let schema = shape(vec![
            ("count", field(ConfigType::Int, true, None)),
            ("label", field(ConfigType::String, false, Some(json!("x")))),
            ("verbose", field(ConfigType::Bool, false, None)),
            (
                "mode",
                field(
                    ConfigType::Enum {
                        values: vec!["fast".into(), "slow".into()],
                    },
                    true,
                    None,
                ),
            ),
            (
                "optional_block",
                field(
                    shape(vec![
                        ("retries", field(ConfigType::Int, false, Some(json!(3)))),
                        ("name", field(ConfigType::String, true, None)),
                    ]),
                    false,
                    None,
                ),
            ),
            ("anything", field(ConfigType::Any, true, None)),
        ]);
        assert_eq!(
            schema.scaffold(),
            Some(
                json!({"count": 0, "label": "x", "mode": "fast", "optional_block": {"retries": 3}})
            )
        );
        assert_eq!(ConfigType::empty_shape().scaffold(), None);
    }

    #[test]
    fn a_mismatch_under_a_secret_field_names_the_type_not_the_value() {
        let mut path = ConfigPath::root();
        path.push_field("resources");
        path.push_field("warehouse");
        path.push_field("db_password");
        let error = ConfigError::mismatch(&path, &ConfigType::Int, &json!("S3CRET-value"));
        assert!(!error.message.contains("S3CRET"), "{}", error.message);
        assert!(
            error.message.ends_with("expected Int, got a String."),
            "{}",
            error.message
        );
        let mut plain = ConfigPath::root();
        plain.push_field("n");
        let error = ConfigError::mismatch(&plain, &ConfigType::Int, &json!("abc"));
        assert!(
            error.message.contains("String \"abc\""),
            "{}",
            error.message
        );
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        depth: u32,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        n: i64,
        label: Option<String>,
        #[serde(default = "default_ratio")]
        ratio: f64,
        tags: Vec<String>,
        inner: Option<Inner>,
        mode: Mode,
        extra: std::collections::HashMap<String, i64>,
    }

    fn default_ratio() -> f64 {
        0.5
    }

    fn errors(ty: &ConfigType, v: Value) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        ty.validate(&v, &mut ConfigPath::root(), &mut errs);
        errs
    }

    #[test]
    fn derives_shape_from_rust_type() {
        let ty = ConfigType::of::<Cfg>();
        let ConfigType::Shape { fields, permissive } = &ty else {
            panic!("expected a shape, got {ty:?}");
        };
        assert!(!permissive);
        assert_eq!(fields["n"].ty, ConfigType::Int);
        assert!(fields["n"].required);
        assert!(!fields["label"].required);
        assert_eq!(
            fields["label"].ty,
            ConfigType::Noneable {
                inner: Box::new(ConfigType::String)
            }
        );
        assert!(
            !fields["ratio"].required,
            "a field with a default is optional"
        );
        assert_eq!(fields["ratio"].default, Some(json!(0.5)));
        assert_eq!(
            fields["mode"].ty,
            ConfigType::Enum {
                values: vec!["fast".into(), "slow".into()]
            }
        );
        assert!(matches!(fields["extra"].ty, ConfigType::Map { .. }));
        assert!(matches!(
            &fields["inner"].ty,
            ConfigType::Noneable { inner } if matches!(**inner, ConfigType::Shape { .. })
        ));
    }

    #[test]
    fn valid_value_passes() {
        let ty = ConfigType::of::<Cfg>();
        let errs = errors(
            &ty,
            json!({"n": 1, "tags": ["a"], "mode": "fast", "extra": {"x": 1}, "inner": {"depth": 2}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn reports_every_error_with_path_and_reason() {
        let ty = ConfigType::of::<Cfg>();
        let errs = errors(
            &ty,
            json!({"label": 3, "tags": ["a", 7], "mode": "medium", "bogus": true,
                   "extra": {"x": "y"}, "inner": {"depth": 1, "width": 2}}),
        );
        let rendered: Vec<(String, &str)> = errs
            .iter()
            .map(|e| (e.full_path().to_string(), e.reason.as_str()))
            .collect();
        let expected = [
            ("root:bogus", "FIELD_NOT_DEFINED"),
            ("root:extra:x", "RUNTIME_TYPE_MISMATCH"),
            ("root:inner:width", "FIELD_NOT_DEFINED"),
            ("root:label", "RUNTIME_TYPE_MISMATCH"),
            ("root:mode", "RUNTIME_TYPE_MISMATCH"),
            ("root:n", "MISSING_REQUIRED_FIELD"),
            ("root:tags[1]", "RUNTIME_TYPE_MISMATCH"),
        ];
        for (path, reason) in expected {
            assert!(
                rendered.iter().any(|(p, r)| p == path && *r == reason),
                "missing {path} {reason} in {rendered:?}"
            );
        }
        assert_eq!(errs.len(), expected.len(), "{rendered:?}");
    }

    #[test]
    fn int_rejects_float_and_float_accepts_int() {
        assert_eq!(errors(&ConfigType::Int, json!(1.5)).len(), 1);
        assert!(errors(&ConfigType::Float, json!(2)).is_empty());
        assert_eq!(errors(&ConfigType::String, Value::Null).len(), 1);
    }
}
