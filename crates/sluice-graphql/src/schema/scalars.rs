//! Dagster's custom scalars: `RunConfigData` and `GenericScalar`, both any JSON value.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A run config: a JSON object, or a YAML/JSON document as a string (Dagster's
/// `RunConfigData`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunConfigData(pub serde_json::Value);

/// This type represents a run configuration: either the configuration object itself, or
/// a string holding the YAML (or JSON) document.
#[Scalar(name = "RunConfigData")]
impl ScalarType for RunConfigData {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(RunConfigData)
            .map_err(|e| InputValueError::custom(format!("not a run config: {e}")))
    }

    fn is_valid(_value: &Value) -> bool {
        true
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

/// Any JSON value: string, boolean, number, list or object (Dagster's `GenericScalar`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GenericScalar(pub serde_json::Value);

/// The `GenericScalar` scalar type represents a generic GraphQL scalar value that could
/// be: String, Boolean, Int, Float, List or Object.
#[Scalar(name = "GenericScalar")]
impl ScalarType for GenericScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(GenericScalar)
            .map_err(|e| InputValueError::custom(format!("not a JSON value: {e}")))
    }

    fn is_valid(_value: &Value) -> bool {
        true
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}
