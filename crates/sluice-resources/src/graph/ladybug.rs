//! The graph engine: LadybugDB through the `lbug` crate. Everything here blocks; the
//! resource calls it on tokio's blocking threads.

use std::path::Path;
use std::time::Duration;

use lbug::{Connection, LogicalType, SystemConfig, Value as LbugValue};
use serde_json::{Map, Value, json};

use super::{GraphConfig, GraphError, QueryRows};

pub(super) const AVAILABLE: bool = true;

/// The file of a graph's database inside its directory.
const DATABASE_FILE: &str = "graph.lbdb";

/// One open database.
pub(super) struct Database {
    db: lbug::Database,
}

impl Database {
    pub(super) fn open(id: &str, dir: &Path, config: &GraphConfig) -> Result<Self, GraphError> {
        let fail = |reason: String| GraphError::Open {
            graph: id.to_owned(),
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let system = SystemConfig::default()
            .buffer_pool_size(config.buffer_pool_mb << 20)
            .max_db_size(config.max_size_mb << 20)
            .max_num_threads(config.max_threads);
        let db = lbug::Database::new(dir.join(DATABASE_FILE), system).map_err(|e| {
            let reason = e.to_string();
            if reason.contains("lock") {
                fail(format!("{reason} (another process has this graph open)"))
            } else {
                fail(reason)
            }
        })?;
        Ok(Self { db })
    }

    /// Run one statement, with `params` if given.
    pub(super) fn query(
        &self,
        cypher: &str,
        params: Option<Map<String, Value>>,
        timeout: Option<Duration>,
    ) -> Result<QueryRows, String> {
        let conn = Connection::new(&self.db).map_err(|e| e.to_string())?;
        if let Some(timeout) = timeout {
            conn.set_query_timeout(timeout.as_millis().max(1) as u64);
        }
        let result = match params {
            None => conn.query(cypher),
            Some(params) => {
                let mut statement = conn.prepare(cypher).map_err(|e| e.to_string())?;
                let values = params
                    .iter()
                    .map(|(name, value)| {
                        Ok((
                            name.as_str(),
                            to_lbug(value).map_err(|e| format!("parameter ${name}: {e}"))?,
                        ))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                conn.execute(&mut statement, values)
            }
        }
        .map_err(|e| error_message(&e))?;
        let columns = result.get_column_names();
        let rows = result
            .map(|row| row.iter().map(to_json).collect())
            .collect();
        Ok(QueryRows { columns, rows })
    }

    /// The rows of a node table (`nodes`) or, if it is none, a relationship table.
    pub(super) fn count(&self, nodes: &str, rels: &str, timeout: Option<Duration>) -> u64 {
        [nodes, rels]
            .iter()
            .find_map(|query| self.query(query, None, timeout).ok())
            .and_then(|rows| rows.scalar().and_then(Value::as_u64))
            .unwrap_or_default()
    }
}

/// The engine's message without the crate's generic prefix.
fn error_message(error: &lbug::Error) -> String {
    let message = error.to_string();
    message
        .strip_prefix("Query execution failed: ")
        .unwrap_or(&message)
        .to_owned()
}

/// A JSON parameter as an engine value.
fn to_lbug(value: &Value) -> Result<LbugValue, String> {
    Ok(match value {
        Value::Null => LbugValue::Null(LogicalType::Any),
        Value::Bool(b) => LbugValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => LbugValue::Int64(i),
            (None, Some(u), _) => LbugValue::UInt64(u),
            (_, _, Some(f)) => LbugValue::Double(f),
            _ => return Err(format!("{n} is not a number the graph can hold")),
        },
        Value::String(s) => LbugValue::String(s.clone()),
        Value::Array(items) => {
            let items = items.iter().map(to_lbug).collect::<Result<Vec<_>, _>>()?;
            let kind = items
                .iter()
                .map(LogicalType::from)
                .find(|t| *t != LogicalType::Any)
                .unwrap_or(LogicalType::Any);
            if items.iter().any(|item| {
                let t = LogicalType::from(item);
                t != kind && t != LogicalType::Any
            }) {
                return Err("a list must hold values of one type".to_owned());
            }
            LbugValue::List(kind, items)
        }
        Value::Object(fields) => LbugValue::Struct(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), to_lbug(v)?)))
                .collect::<Result<Vec<_>, String>>()?,
        ),
    })
}

/// An engine value as JSON (see [`QueryRows`]).
fn to_json(value: &LbugValue) -> Value {
    let properties = |label: &str, id: &lbug::InternalID, props: &[(String, LbugValue)]| {
        let mut object = Map::new();
        object.insert("_label".into(), json!(label));
        object.insert("_id".into(), internal_id(id));
        for (name, value) in props {
            object.insert(name.clone(), to_json(value));
        }
        object
    };
    match value {
        LbugValue::Null(_) => Value::Null,
        LbugValue::Bool(b) => json!(b),
        LbugValue::Int64(i) => json!(i),
        LbugValue::Int32(i) => json!(i),
        LbugValue::Int16(i) => json!(i),
        LbugValue::Int8(i) => json!(i),
        LbugValue::UInt64(u) => json!(u),
        LbugValue::UInt32(u) => json!(u),
        LbugValue::UInt16(u) => json!(u),
        LbugValue::UInt8(u) => json!(u),
        LbugValue::Int128(i) => {
            i64::try_from(*i).map_or_else(|_| json!(i.to_string()), |i| json!(i))
        }
        LbugValue::Double(f) => json!(f),
        LbugValue::Float(f) => json!(f),
        LbugValue::String(s) => json!(s),
        LbugValue::Json(v) => v.clone(),
        LbugValue::InternalID(id) => internal_id(id),
        LbugValue::List(_, items) | LbugValue::Array(_, items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        LbugValue::Struct(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), to_json(value)))
                .collect(),
        ),
        LbugValue::Node(node) => Value::Object(properties(
            node.get_label_name(),
            node.get_node_id(),
            node.get_properties(),
        )),
        LbugValue::Rel(rel) => {
            let mut object = Map::new();
            object.insert("_label".into(), json!(rel.get_label_name()));
            object.insert("_src".into(), internal_id(rel.get_src_node()));
            object.insert("_dst".into(), internal_id(rel.get_dst_node()));
            for (name, value) in rel.get_properties() {
                object.insert(name.clone(), to_json(value));
            }
            Value::Object(object)
        }
        LbugValue::RecursiveRel { nodes, rels } => json!({
            "nodes": nodes.iter().map(|n| to_json(&LbugValue::Node(n.clone()))).collect::<Vec<_>>(),
            "rels": rels.iter().map(|r| to_json(&LbugValue::Rel(r.clone()))).collect::<Vec<_>>(),
        }),
        LbugValue::Map(_, entries) => {
            if entries
                .iter()
                .all(|(k, _)| matches!(k, LbugValue::String(_)))
            {
                Value::Object(
                    entries
                        .iter()
                        .map(|(k, v)| match k {
                            LbugValue::String(k) => (k.clone(), to_json(v)),
                            _ => unreachable!("checked above"),
                        })
                        .collect(),
                )
            } else {
                Value::Array(
                    entries
                        .iter()
                        .map(|(k, v)| json!([to_json(k), to_json(v)]))
                        .collect(),
                )
            }
        }
        LbugValue::Union { value, .. } => to_json(value),
        LbugValue::Date(date) => json!(date.to_string()),
        LbugValue::Timestamp(t)
        | LbugValue::TimestampTz(t)
        | LbugValue::TimestampNs(t)
        | LbugValue::TimestampMs(t)
        | LbugValue::TimestampSec(t) => t
            .format(&time::format_description::well_known::Rfc3339)
            .map_or_else(|_| json!(value.to_string()), |s| json!(s)),
        // Intervals, UUIDs, decimals (exact, so not as a float), blobs: as the engine shows them.
        other => json!(other.to_string()),
    }
}

fn internal_id(id: &lbug::InternalID) -> Value {
    json!(format!("{}:{}", id.table_id, id.offset))
}
