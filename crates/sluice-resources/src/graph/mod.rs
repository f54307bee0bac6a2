//! [`GraphResource`]: an embedded property-graph database with Cypher, one database per
//! tenant or graph id, on LadybugDB (the `lbug` crate, a fork of Kùzu).
//!
//! The engine is C++ and costly to build, so it sits behind this crate's `ladybug`
//! feature. Without the feature the types are still here, so a location's code compiles
//! the same; but a location that binds the resource fails to load, saying how to build
//! one that has it ([`ConfigurableResource::unavailable`]).
//!
//! - [`GraphResource::graph`] opens (creating it the first time) the database of one
//!   graph id, under the configured directory: `<path>/<graph id>/`. Every step of the
//!   run shares it; teardown closes it, so the next run's worker process can open it
//!   (the engine allows one process, and one open within it, per database).
//! - [`Graph::execute`] runs Cypher statements (schema, writes);
//!   [`Graph::query`] runs one statement with `$parameters` and returns its rows as
//!   JSON; [`Graph::query_as`] deserializes them into your type.
//! - [`Graph::copy_from`] bulk-loads a node or relationship table from a local CSV or
//!   Parquet file; [`Graph::copy_from_store`] first downloads the file from object
//!   storage.
//! - Queries run on tokio's blocking threads, with the configured timeout.

#[cfg(feature = "ladybug")]
mod ladybug;
#[cfg(feature = "ladybug")]
use ladybug as engine;
#[cfg(not(feature = "ladybug"))]
mod unbuilt;
#[cfg(not(feature = "ladybug"))]
use unbuilt as engine;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::time::Duration;
use tokio::sync::OnceCell;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};

use crate::s3::{S3Error, S3Resource};

/// How to get a build with the graph engine.
pub const HOW_TO_ENABLE: &str = "the graph database (LadybugDB) is compiled in only with the \
    `ladybug` feature of sluice-resources: build the code location with \
    `--features sluice-resources/ladybug`, after `tests/services/ladybug.sh` has built the C++ \
    library once (it prints the directory; export LBUG_LIBRARY_DIR and LBUG_INCLUDE_DIR as \
    tests/services/ladybug.env shows)";

/// The config of a [`GraphResource`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// The directory that holds one database per graph id.
    pub path: String,
    /// Memory for each open database's buffer pool, in MiB.
    #[serde(default = "defaults::buffer_pool_mb")]
    pub buffer_pool_mb: u64,
    /// The largest each database may grow, in MiB.
    #[serde(default = "defaults::max_size_mb")]
    pub max_size_mb: u64,
    /// Threads one query may use; all cores when 0.
    #[serde(default)]
    pub max_threads: u64,
    /// Longest a query may run, in seconds; no limit when absent.
    #[serde(default)]
    pub query_timeout_seconds: Option<f64>,
}

mod defaults {
    pub(super) fn buffer_pool_mb() -> u64 {
        256
    }
    pub(super) fn max_size_mb() -> u64 {
        16 * 1024
    }
}

impl GraphConfig {
    /// Graphs under `path`, with the defaults.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            buffer_pool_mb: defaults::buffer_pool_mb(),
            max_size_mb: defaults::max_size_mb(),
            max_threads: 0,
            query_timeout_seconds: None,
        }
    }
}

/// What went wrong with a graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The resource's config cannot be used (said why).
    #[error("invalid graph config: {0}")]
    Config(String),
    /// This build has no graph engine.
    #[error("{HOW_TO_ENABLE}")]
    NotBuilt,
    /// A graph id (given here) that cannot name a database directory.
    #[error("graph id {0:?} must be 1 to 64 letters, digits, '_' or '-', not starting with '_'")]
    InvalidGraphId(String),
    /// A graph's database could not be opened or created.
    #[error("cannot open graph {graph} at {path}: {reason}")]
    Open {
        /// The graph id.
        graph: String,
        /// Its database directory.
        path: String,
        /// The engine's or the filesystem's message.
        reason: String,
    },
    /// A statement failed; `cypher` is its beginning.
    #[error("graph {graph}: {reason} (in: {cypher})")]
    Query {
        /// The graph id.
        graph: String,
        /// The beginning of the statement.
        cypher: String,
        /// The engine's message.
        reason: String,
    },
    /// A bulk load failed.
    #[error("graph {graph}: cannot load {file}: {reason}")]
    Load {
        /// The graph id.
        graph: String,
        /// The file loaded: a local path or an object-store URL.
        file: String,
        /// The engine's or the filesystem's message.
        reason: String,
    },
    /// Downloading a file to load from object storage failed.
    #[error(transparent)]
    Store(#[from] S3Error),
}

/// The format of a bulk-loaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// The rows of a query: its column names, and each row's values as JSON.
///
/// Nodes are objects of their properties with `_label` and `_id`; relationships add
/// `_src` and `_dst`; dates and timestamps are ISO 8601 strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryRows {
    /// The column names, in the order the query returns them.
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl QueryRows {
    /// Each row as an object keyed by column name.
    pub fn records(&self) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect()
            })
            .collect()
    }

    /// The first column of the first row, if any.
    pub fn scalar(&self) -> Option<&Value> {
        self.rows.first().and_then(|row| row.first())
    }
}

/// Databases of graph ids under one directory (see the [module](self) docs).
pub struct GraphResource {
    config: GraphConfig,
    root: PathBuf,
    timeout: Option<Duration>,
    /// The databases this resource opened; closed when it is torn down.
    open: Mutex<HashMap<String, Arc<OnceCell<Arc<Graph>>>>>,
}

impl std::fmt::Debug for GraphResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphResource")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl ConfigurableResource for GraphResource {
    type Config = GraphConfig;

    async fn setup(config: GraphConfig, _ctx: &InitResourceContext) -> Result<Self, ResourceError> {
        Self::new(config).map_err(crate::resource_error)
    }

    /// Close the databases the run opened (each as soon as no step holds it), so that
    /// other processes (the next run's worker) can open them.
    async fn teardown(&self) -> Result<(), ResourceError> {
        self.lock().clear();
        Ok(())
    }

    async fn health_check(&self) -> Result<(), ResourceError> {
        self.health_check().await.map_err(crate::resource_error)
    }

    fn unavailable() -> Option<String> {
        if engine::AVAILABLE {
            None
        } else {
            Some(HOW_TO_ENABLE.to_owned())
        }
    }
}

impl GraphResource {
    /// Graphs under `config.path` (created if missing). Databases open on first use.
    pub fn new(config: GraphConfig) -> Result<Self, GraphError> {
        if !engine::AVAILABLE {
            return Err(GraphError::NotBuilt);
        }
        let timeout = config
            .query_timeout_seconds
            .map(|s| crate::seconds(s, "query_timeout_seconds"))
            .transpose()
            .map_err(GraphError::Config)?;
        let root = PathBuf::from(&config.path);
        std::fs::create_dir_all(&root)
            .map_err(|e| GraphError::Config(format!("path {}: {e}", root.display())))?;
        Ok(Self {
            config,
            root,
            timeout,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The database of `graph_id`, created the first time.
    pub async fn graph(&self, graph_id: &str) -> Result<Arc<Graph>, GraphError> {
        let valid = (1..=64).contains(&graph_id.len())
            && !graph_id.starts_with('_')
            && graph_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(GraphError::InvalidGraphId(graph_id.to_owned()));
        }
        self.open_graph(graph_id).await
    }

    /// The database of `graph_id`, opened once however many steps ask at the same time
    /// (the engine allows one open per file and process).
    async fn open_graph(&self, graph_id: &str) -> Result<Arc<Graph>, GraphError> {
        let slot = Arc::clone(self.lock().entry(graph_id.to_owned()).or_default());
        let graph = slot
            .get_or_try_init(|| async {
                let dir = self.root.join(graph_id);
                let config = self.config.clone();
                let (id, path) = (graph_id.to_owned(), dir.clone());
                let opened = tokio::task::spawn_blocking(move || {
                    engine::Database::open(&id, &path, &config)
                });
                let db = match opened.await {
                    Ok(opened) => opened?,
                    Err(e) => {
                        return Err(GraphError::Open {
                            graph: graph_id.to_owned(),
                            path: dir.display().to_string(),
                            reason: e.to_string(),
                        });
                    }
                };
                Ok(Arc::new(Graph {
                    id: graph_id.to_owned(),
                    db: Arc::new(db),
                    timeout: self.timeout,
                }))
            })
            .await?;
        Ok(Arc::clone(graph))
    }

    /// The graph ids that have a database under the directory.
    pub fn graph_ids(&self) -> Result<Vec<String>, GraphError> {
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| GraphError::Config(format!("path {}: {e}", self.root.display())))?;
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| !id.starts_with('_'))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Delete the database of `graph_id` (a tenant leaving). Refused while a step still
    /// holds the graph.
    pub async fn drop_graph(&self, graph_id: &str) -> Result<(), GraphError> {
        let dir = self.root.join(graph_id);
        let fail = |reason: String| GraphError::Open {
            graph: graph_id.to_owned(),
            path: dir.display().to_string(),
            reason,
        };
        if graph_id.is_empty() || graph_id.starts_with('_') || graph_id.contains(['/', '.']) {
            return Err(GraphError::InvalidGraphId(graph_id.to_owned()));
        }
        {
            let mut open = self.lock();
            if let Some(graph) = open.get(graph_id).and_then(|slot| slot.get())
                && Arc::strong_count(graph) > 1
            {
                return Err(fail(
                    "it is in use by a step; drop it when no step holds it".to_owned(),
                ));
            }
            // Closing it: the last handle goes with the slot.
            open.remove(graph_id);
        }
        if !dir.is_dir() {
            return Err(fail("there is no such graph".to_owned()));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| fail(format!("cannot delete: {e}")))
    }

    /// Whether a scratch database opens and answers `RETURN 1`.
    pub async fn health_check(&self) -> Result<(), GraphError> {
        // A scratch database that graph ids cannot name, closed again after.
        let graph = self.open_graph("_health").await?;
        let answered = graph.query("RETURN 1", Value::Null).await.map(drop);
        drop(graph);
        self.lock().remove("_health");
        answered
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Arc<Graph>>>>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One graph's database.
pub struct Graph {
    id: String,
    db: Arc<engine::Database>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Graph {
    /// The graph id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Run Cypher statements (`;`-separated, without parameters): schema and writes.
    pub async fn execute(&self, cypher: &str) -> Result<(), GraphError> {
        let statements: Vec<String> = split_statements(cypher);
        self.blocking(cypher, move |db, timeout| {
            for statement in &statements {
                db.query(statement, None, timeout)
                    .map_err(|e| (statement.clone(), e))?;
            }
            Ok(QueryRows::default())
        })
        .await
        .map(drop)
    }

    /// Run one statement with `params` (a JSON object of `$name` values, or null).
    pub async fn query(&self, cypher: &str, params: Value) -> Result<QueryRows, GraphError> {
        let params = match params {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(
                    self.query_error(cypher, format!("parameters must be an object, not {other}"))
                );
            }
        };
        let statement = cypher.to_owned();
        self.blocking(cypher, move |db, timeout| {
            db.query(&statement, params, timeout)
                .map_err(|e| (statement.clone(), e))
        })
        .await
    }

    /// [`query`](Self::query), each row deserialized from its record.
    pub async fn query_as<T: DeserializeOwned>(
        &self,
        cypher: &str,
        params: Value,
    ) -> Result<Vec<T>, GraphError> {
        let rows = self.query(cypher, params).await?;
        rows.records()
            .into_iter()
            .map(|record| {
                serde_json::from_value(Value::Object(record)).map_err(|e| {
                    self.query_error(
                        cypher,
                        format!("a row does not fit {}: {e}", std::any::type_name::<T>()),
                    )
                })
            })
            .collect()
    }

    /// Bulk-load `table` (a node or relationship table that exists) from a local file.
    /// Returns the rows the table gained.
    pub async fn copy_from(
        &self,
        table: &str,
        file: &Path,
        format: FileFormat,
    ) -> Result<u64, GraphError> {
        let load_error = |reason: String| GraphError::Load {
            graph: self.id.clone(),
            file: file.display().to_string(),
            reason,
        };
        if !is_identifier(table) {
            return Err(load_error(format!(
                "table name {table:?} is not an identifier"
            )));
        }
        let path = file
            .canonicalize()
            .map_err(|e| load_error(e.to_string()))?
            .display()
            .to_string();
        if path.contains('\'') || path.contains('\\') {
            return Err(load_error(
                "the path may not hold quotes or backslashes".to_owned(),
            ));
        }
        let options = match format {
            FileFormat::Csv => " (HEADER=true)",
            FileFormat::Parquet => "",
        };
        let copy = format!("COPY `{table}` FROM '{path}'{options}");
        let count = format!("MATCH (n:`{table}`) RETURN count(n)");
        let count_rels = format!("MATCH ()-[r:`{table}`]->() RETURN count(r)");
        let statement = copy.clone();
        self.blocking(&copy, move |db, timeout| {
            let before = db.count(&count, &count_rels, timeout);
            db.query(&statement, None, timeout)
                .map_err(|e| (statement.clone(), e))?;
            let after = db.count(&count, &count_rels, timeout);
            Ok(QueryRows {
                columns: vec!["rows".to_owned()],
                rows: vec![vec![Value::from(after.saturating_sub(before))]],
            })
        })
        .await
        .map(|rows| rows.scalar().and_then(Value::as_u64).unwrap_or_default())
        .map_err(|e| match e {
            GraphError::Query { reason, .. } => load_error(reason),
            other => other,
        })
    }

    /// Download `key` from `store` and bulk-load it into `table`.
    pub async fn copy_from_store(
        &self,
        table: &str,
        store: &S3Resource,
        key: &str,
        format: FileFormat,
    ) -> Result<u64, GraphError> {
        let dir = tempfile::tempdir().map_err(|e| GraphError::Load {
            graph: self.id.clone(),
            file: store.url_of(key),
            reason: format!("cannot make a temporary directory: {e}"),
        })?;
        let extension = match format {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        };
        let file = dir.path().join(format!("load.{extension}"));
        store.download_file(key, &file).await?;
        self.copy_from(table, &file, format).await
    }

    fn query_error(&self, cypher: &str, reason: String) -> GraphError {
        GraphError::Query {
            graph: self.id.clone(),
            cypher: excerpt(cypher),
            reason,
        }
    }

    /// Run `work` on a blocking thread with the database and the timeout.
    async fn blocking(
        &self,
        cypher: &str,
        work: impl FnOnce(&engine::Database, Option<Duration>) -> Result<QueryRows, (String, String)>
        + Send
        + 'static,
    ) -> Result<QueryRows, GraphError> {
        let db = Arc::clone(&self.db);
        let timeout = self.timeout;
        match tokio::task::spawn_blocking(move || work(&db, timeout)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err((statement, reason))) => Err(self.query_error(&statement, reason)),
            Err(e) => Err(self.query_error(cypher, format!("the query thread failed: {e}"))),
        }
    }
}

/// `cypher` split into statements at `;` outside quotes and backticks.
fn split_statements(cypher: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in cypher.chars() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                if !current.trim().is_empty() {
                    statements.push(current.trim().to_owned());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_owned());
    }
    statements
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The beginning of a statement, for messages.
fn excerpt(cypher: &str) -> String {
    let flat = cypher.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut excerpt: String = flat.chars().take(200).collect();
    if excerpt.len() < flat.len() {
        excerpt.push('…');
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes() {
        assert_eq!(
            split_statements("CREATE (:A {s: 'a;b'});\n MATCH (n) RETURN n ; ;"),
            vec!["CREATE (:A {s: 'a;b'})", "MATCH (n) RETURN n"]
        );
    }

    #[test]
    fn records_pair_columns_with_values() {
        let rows = QueryRows {
            columns: vec!["name".into(), "age".into()],
            rows: vec![vec!["ada".into(), 36.into()]],
        };
        assert_eq!(
            Value::Object(rows.records()[0].clone()),
            serde_json::json!({"name": "ada", "age": 36})
        );
        assert_eq!(rows.scalar(), Some(&Value::from("ada")));
    }

    #[cfg(not(feature = "ladybug"))]
    #[test]
    fn without_the_feature_binding_the_resource_fails_the_load() {
        let err = sluice_core::Definitions::builder()
            .resource(
                "graph",
                sluice_core::resource::ResourceDefinition::new::<GraphResource>(),
            )
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("resource \"graph\""), "{err}");
        assert!(err.contains("--features sluice-resources/ladybug"), "{err}");
        let err = GraphResource::new(GraphConfig::new("/tmp/x")).unwrap_err();
        assert!(matches!(err, GraphError::NotBuilt));
    }
}
