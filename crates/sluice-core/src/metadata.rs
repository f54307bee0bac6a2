//! Metadata: typed values attached to assets and to their materializations (row counts,
//! paths, URLs, JSON, markdown, table schemas), as Dagster's `MetadataValue`s.
//!
//! ```
//! use sluice_core::metadata::{Metadata, MetadataValue};
//!
//! let mut m = Metadata::new();
//! m.insert("row_count".into(), MetadataValue::Int(1_204));
//! m.insert("dashboard".into(), MetadataValue::Url("https://example.com/d/1".into()));
//! assert_eq!(serde_json::to_value(&m["row_count"]).unwrap()["int"], 1_204);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Metadata entries by label, in label order.
pub type Metadata = BTreeMap<String, MetadataValue>;

/// One metadata value, typed so that the UI and GraphQL can show it as what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataValue {
    /// Plain text.
    Text(String),
    /// A whole number (a row count, say).
    Int(i64),
    /// A number with a fraction (a duration in seconds, a ratio).
    Float(f64),
    /// A yes or no.
    Bool(bool),
    /// Any JSON value, shown as JSON.
    Json(Value),
    /// A link.
    Url(String),
    /// A filesystem or object-store path.
    Path(String),
    /// Markdown text, rendered.
    Markdown(String),
    /// The columns of a table.
    TableSchema(Vec<TableColumn>),
}

/// One column of a [`MetadataValue::TableSchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumn {
    /// The column's name.
    pub name: String,
    /// The column's type as the table's system names it (`bigint`, `geometry`, ...).
    #[serde(rename = "type")]
    pub column_type: String,
    /// What the column holds, if described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl TableColumn {
    /// A column `name` of type `column_type`, without a description.
    pub fn new(name: impl Into<String>, column_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            column_type: column_type.into(),
            description: None,
        }
    }
}

impl MetadataValue {
    /// Dagster's GraphQL type name for an entry of this value (`IntMetadataEntry`, ...).
    pub fn graphql_type(&self) -> &'static str {
        match self {
            Self::Text(_) => "TextMetadataEntry",
            Self::Int(_) => "IntMetadataEntry",
            Self::Float(_) => "FloatMetadataEntry",
            Self::Bool(_) => "BoolMetadataEntry",
            Self::Json(_) => "JsonMetadataEntry",
            Self::Url(_) => "UrlMetadataEntry",
            Self::Path(_) => "PathMetadataEntry",
            Self::Markdown(_) => "MarkdownMetadataEntry",
            Self::TableSchema(_) => "TableSchemaMetadataEntry",
        }
    }
}

impl From<i64> for MetadataValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for MetadataValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<bool> for MetadataValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<&str> for MetadataValue {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for MetadataValue {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
