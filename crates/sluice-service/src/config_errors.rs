//! Run config errors as Dagster reports them: one entry per error, with the concrete
//! kind (missing field, undefined field, type mismatch, selector), the stack of path
//! entries, and the details each kind carries (the missing field's type, the value that
//! did not fit, the fields given to a selector).

use std::collections::BTreeMap;

use serde_json::Value;
use sluice_core::config::{ConfigError, ConfigErrorReason, ConfigPath, ConfigType, PathSegment};

/// Dagster's `EvaluationErrorReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluationReason {
    /// A value of the wrong type.
    RuntimeTypeMismatch,
    /// One required field is missing.
    MissingRequiredField,
    /// Several required fields of one object are missing.
    MissingRequiredFields,
    /// One field that the type does not declare.
    FieldNotDefined,
    /// Several fields of one object that the type does not declare.
    FieldsNotDefined,
    /// A selector was given no field or more than one.
    SelectorFieldError,
}

impl EvaluationReason {
    /// Dagster's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RuntimeTypeMismatch => "RUNTIME_TYPE_MISMATCH",
            Self::MissingRequiredField => "MISSING_REQUIRED_FIELD",
            Self::MissingRequiredFields => "MISSING_REQUIRED_FIELDS",
            Self::FieldNotDefined => "FIELD_NOT_DEFINED",
            Self::FieldsNotDefined => "FIELDS_NOT_DEFINED",
            Self::SelectorFieldError => "SELECTOR_FIELD_ERROR",
        }
    }
}

/// A field of a config type, as a missing-field error describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// The field's name.
    pub name: String,
    /// Its type (`Any` when the schema does not say).
    pub ty: ConfigType,
    /// Whether a value must be given.
    pub required: bool,
    /// The default value, if any.
    pub default: Option<Value>,
    /// The field's description.
    pub description: Option<String>,
}

/// What an error carries beyond its message and path.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigErrorDetail {
    /// `MissingFieldConfigError.field`.
    MissingField(FieldInfo),
    /// `MissingFieldsConfigError.fields`.
    MissingFields(Vec<FieldInfo>),
    /// `FieldNotDefinedConfigError.fieldName`.
    FieldNotDefined(String),
    /// `FieldsNotDefinedConfigError.fieldNames`, sorted.
    FieldsNotDefined(Vec<String>),
    /// `RuntimeMismatchConfigError.valueRep`: the offending value, written as Dagster
    /// writes it (Python's `repr`).
    RuntimeMismatch(Option<String>),
    /// `SelectorTypeConfigError.incomingFields`, sorted.
    Selector(Vec<String>),
}

/// One run config error as Dagster reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrorView {
    /// The reason.
    pub reason: EvaluationReason,
    /// What is wrong, where, and what was expected.
    pub message: String,
    /// The path of the object that holds the offending field (for field errors) or of
    /// the offending value: Dagster's evaluation stack.
    pub stack: Vec<PathSegment>,
    /// The kind-specific details.
    pub detail: ConfigErrorDetail,
}

/// Turn validation errors into Dagster's error list. `schema` is the whole run config
/// schema (to describe missing fields), `value` the document as given (to show
/// mismatched values). Several undefined (or missing) fields of one object become one
/// `FieldsNotDefined` (`MissingRequiredFields`) error, as in Dagster.
pub fn describe(
    errors: &[ConfigError],
    schema: &ConfigType,
    value: &Value,
) -> Vec<ConfigErrorView> {
    // Group field errors by (path, reason) to merge several fields of one object.
    let mut groups: BTreeMap<(String, &'static str), Vec<usize>> = BTreeMap::new();
    for (i, e) in errors.iter().enumerate() {
        if e.field.is_some()
            && matches!(
                e.reason,
                ConfigErrorReason::FieldNotDefined | ConfigErrorReason::MissingRequiredField
            )
        {
            groups
                .entry((e.path.to_string(), e.reason.as_str()))
                .or_default()
                .push(i);
        }
    }
    let mut merged_into: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut skipped = vec![false; errors.len()];
    for members in groups.into_values().filter(|m| m.len() > 1) {
        for &m in &members[1..] {
            skipped[m] = true;
        }
        merged_into.insert(members[0], members);
    }

    let mut views = Vec::new();
    for (i, e) in errors.iter().enumerate() {
        if skipped[i] {
            continue;
        }
        let stack = e.path.0.clone();
        let view = match (merged_into.get(&i), e.reason) {
            (Some(members), ConfigErrorReason::FieldNotDefined) => {
                let mut names: Vec<String> = members
                    .iter()
                    .filter_map(|&m| errors[m].field.clone())
                    .collect();
                names.sort();
                let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                ConfigErrorView {
                    reason: EvaluationReason::FieldsNotDefined,
                    message: format!(
                        "Received unexpected config entries \"[{}]\" at path {}.{}",
                        quoted.join(", "),
                        e.path,
                        expected_fields(schema, &e.path)
                    ),
                    stack,
                    detail: ConfigErrorDetail::FieldsNotDefined(names),
                }
            }
            (Some(members), _) => {
                let fields: Vec<FieldInfo> = members
                    .iter()
                    .map(|&m| field_info(schema, &errors[m].path, errors[m].field.as_deref()))
                    .collect();
                let names: Vec<String> = fields.iter().map(|f| format!("'{}'", f.name)).collect();
                ConfigErrorView {
                    reason: EvaluationReason::MissingRequiredFields,
                    message: format!(
                        "Missing required config entries [{}] at path {}. You must provide \
                         these values in your run config.",
                        names.join(", "),
                        e.path
                    ),
                    stack,
                    detail: ConfigErrorDetail::MissingFields(fields),
                }
            }
            (None, ConfigErrorReason::MissingRequiredField) => ConfigErrorView {
                reason: EvaluationReason::MissingRequiredField,
                message: e.message.clone(),
                stack,
                detail: ConfigErrorDetail::MissingField(field_info(
                    schema,
                    &e.path,
                    e.field.as_deref(),
                )),
            },
            (None, ConfigErrorReason::FieldNotDefined) => ConfigErrorView {
                reason: EvaluationReason::FieldNotDefined,
                message: e.message.clone(),
                stack,
                detail: ConfigErrorDetail::FieldNotDefined(e.field.clone().unwrap_or_default()),
            },
            (None, ConfigErrorReason::RuntimeTypeMismatch) => ConfigErrorView {
                reason: EvaluationReason::RuntimeTypeMismatch,
                message: e.message.clone(),
                stack,
                detail: ConfigErrorDetail::RuntimeMismatch(
                    value_at(value, &e.full_path()).map(python_repr),
                ),
            },
            (None, ConfigErrorReason::SelectorFieldError) => {
                let mut incoming: Vec<String> = value_at(value, &e.full_path())
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                incoming.sort();
                ConfigErrorView {
                    reason: EvaluationReason::SelectorFieldError,
                    message: e.message.clone(),
                    stack,
                    detail: ConfigErrorDetail::Selector(incoming),
                }
            }
        };
        views.push(view);
    }
    views
}

fn expected_fields(schema: &ConfigType, path: &ConfigPath) -> String {
    match type_at(schema, path) {
        Some(ConfigType::Shape { fields, .. }) => {
            let names: Vec<String> = fields.keys().map(|k| format!("'{k}'")).collect();
            format!(" Expected: \"[{}].\"", names.join(", "))
        }
        _ => String::new(),
    }
}

/// The type at `path` in `schema`, following shapes, maps, arrays and noneables.
pub fn type_at<'a>(schema: &'a ConfigType, path: &ConfigPath) -> Option<&'a ConfigType> {
    let mut ty = schema;
    for segment in &path.0 {
        ty = unwrap_noneable(ty);
        ty = match (ty, segment) {
            (ConfigType::Shape { fields, .. }, PathSegment::Field(name)) => &fields.get(name)?.ty,
            (ConfigType::Map { values }, PathSegment::Field(_)) => values,
            (ConfigType::Array { items }, PathSegment::Index(_)) => items,
            _ => return None,
        };
    }
    Some(ty)
}

fn unwrap_noneable(mut ty: &ConfigType) -> &ConfigType {
    while let ConfigType::Noneable { inner } = ty {
        ty = inner;
    }
    ty
}

fn field_info(schema: &ConfigType, path: &ConfigPath, field: Option<&str>) -> FieldInfo {
    let name = field.unwrap_or_default().to_owned();
    let declared = type_at(schema, path).and_then(|holder| match unwrap_noneable(holder) {
        ConfigType::Shape { fields, .. } => fields.get(&name),
        _ => None,
    });
    match declared {
        Some(f) => FieldInfo {
            name,
            ty: f.ty.clone(),
            required: f.required,
            default: f.default.clone(),
            description: f.description.clone(),
        },
        None => FieldInfo {
            name,
            ty: ConfigType::Any,
            required: true,
            default: None,
            description: None,
        },
    }
}

/// The value at `path` in a config document.
pub fn value_at<'a>(value: &'a Value, path: &ConfigPath) -> Option<&'a Value> {
    let mut v = value;
    for segment in &path.0 {
        v = match (v, segment) {
            (Value::Object(m), PathSegment::Field(name)) => m.get(name)?,
            (Value::Array(a), PathSegment::Index(i)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// A JSON value written as Python's `repr` writes the equivalent Python value, which is
/// how Dagster shows offending values (`'abc'`, `5`, `True`, `None`, `{'a': 1}`).
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        python_repr(&Value::String(k.clone())),
                        python_repr(v)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_repr_matches_python() {
        assert_eq!(python_repr(&json!("abc")), "'abc'");
        assert_eq!(python_repr(&json!("it's")), "\"it's\"");
        assert_eq!(python_repr(&json!(5)), "5");
        assert_eq!(python_repr(&json!(null)), "None");
        assert_eq!(
            python_repr(&json!({"a": [true, 1.5]})),
            "{'a': [True, 1.5]}"
        );
    }

    #[test]
    fn several_undefined_fields_of_one_object_are_one_error() {
        let path = ConfigPath::root().with_field("ops");
        let err = |f: &str| ConfigError {
            path: path.clone(),
            field: Some(f.to_owned()),
            reason: ConfigErrorReason::FieldNotDefined,
            message: format!("unexpected {f}"),
        };
        let views = describe(&[err("zzz"), err("yyy")], &ConfigType::Any, &json!({}));
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].reason, EvaluationReason::FieldsNotDefined);
        assert_eq!(
            views[0].detail,
            ConfigErrorDetail::FieldsNotDefined(vec!["yyy".into(), "zzz".into()])
        );
        assert!(
            views[0]
                .message
                .contains("\"['yyy', 'zzz']\" at path root:ops")
        );
    }
}
