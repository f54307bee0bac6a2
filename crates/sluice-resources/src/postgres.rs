//! [`PostgresResource`]: a pooled Postgres connection for ops and assets, on sea-orm (and
//! the sqlx pool beneath it, for `COPY`).
//!
//! - Config from a URL or from parts, the password best from the environment
//!   (`password: {env: PGPASSWORD}`); a statement timeout set on every connection.
//! - [`PostgresResource::execute`] / [`query_all`](PostgresResource::query_all) /
//!   [`query_one`](PostgresResource::query_one) with bound parameters;
//!   [`execute_script`](PostgresResource::execute_script) for several statements;
//!   [`transaction`](PostgresResource::transaction), a scope that commits only when told
//!   and rolls back when dropped; [`copy_in`](PostgresResource::copy_in) for bulk loads.
//! - The pool is opened when the resource is set up (an unreachable server fails the run
//!   before any step, promptly) and closed when it is torn down.

use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult,
    SqlxPostgresConnector, Statement, TransactionTrait, Value,
};
use serde::{Deserialize, Serialize};
use sluice_core::config::{EnvVarError, StringSource};
use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolCopyExt, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// How much of a failing statement an error quotes.
const SQL_EXCERPT: usize = 200;

/// The config of a [`PostgresResource`]: `url`, or `host` and `database` with the rest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`; or give the parts below.
    #[serde(default)]
    pub url: Option<StringSource>,
    /// The server's host name, instead of `url` (with `database`).
    #[serde(default)]
    pub host: Option<String>,
    /// The server's port, with `host`; 5432 when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// The user to connect as, with `host`.
    #[serde(default)]
    pub user: Option<String>,
    /// The user's password, with `host`; best given as an `EnvVar`.
    #[serde(default)]
    pub password: Option<StringSource>,
    /// The database to connect to, instead of `url` (with `host`).
    #[serde(default)]
    pub database: Option<String>,
    /// Longest a statement may run, in seconds (Postgres' `statement_timeout`); none
    /// when absent.
    #[serde(default)]
    pub statement_timeout_seconds: Option<f64>,
    /// Connections the pool may open.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Seconds to wait for a connection.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout_seconds: f64,
}

mod defaults {
    pub(super) fn max_connections() -> u32 {
        5
    }
    pub(super) fn connect_timeout() -> f64 {
        10.0
    }
}

impl PostgresConfig {
    /// The database at `url`, with the defaults.
    pub fn url(url: impl Into<StringSource>) -> Self {
        Self {
            url: Some(url.into()),
            max_connections: defaults::max_connections(),
            connect_timeout_seconds: defaults::connect_timeout(),
            ..Self::default()
        }
    }

    /// What identifies the pool this config opens (secrets included: it never leaves
    /// the process).
    pub(crate) fn key(&self) -> Result<String, PostgresError> {
        let (options, _) = self.options()?;
        Ok(format!(
            "{options:?}\n{} {}",
            self.max_connections, self.connect_timeout_seconds
        ))
    }

    /// What to connect to, and how it is shown (without the password).
    fn options(&self) -> Result<(PgConnectOptions, String), PostgresError> {
        let parts = [
            self.host.is_some(),
            self.port.is_some(),
            self.user.is_some(),
            self.password.is_some(),
            self.database.is_some(),
        ];
        let mut options = match (&self.url, parts.iter().any(|p| *p)) {
            (Some(_), true) => {
                return Err(PostgresError::Config(
                    "give either url or host/port/user/password/database, not both".to_owned(),
                ));
            }
            (Some(url), false) => {
                let url = url.resolve()?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(PostgresError::Config(format!(
                        "url {} is not a postgres:// URL",
                        without_password(&url)
                    )));
                }
                PgConnectOptions::from_str(&url).map_err(|e| {
                    PostgresError::Config(format!("url {}: {e}", without_password(&url)))
                })?
            }
            (None, _) => {
                let (Some(host), Some(database)) = (&self.host, &self.database) else {
                    return Err(PostgresError::Config(
                        "give url, or host and database (with port, user and password)".to_owned(),
                    ));
                };
                let mut options = PgConnectOptions::new_without_pgpass()
                    .host(host)
                    .database(database)
                    .port(self.port.unwrap_or(5432));
                if let Some(user) = &self.user {
                    options = options.username(user);
                }
                if let Some(password) = &self.password {
                    options = options.password(&password.resolve()?);
                }
                options
            }
        };
        if let Some(seconds) = self.statement_timeout_seconds {
            let timeout = duration(seconds, "statement_timeout_seconds")?;
            options = options.options([("statement_timeout", timeout.as_millis())]);
        }
        let shown = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Ok((options.disable_statement_logging(), shown))
    }
}

fn duration(seconds: f64, field: &str) -> Result<Duration, PostgresError> {
    crate::seconds(seconds, field).map_err(PostgresError::Config)
}

/// `url` with its password replaced by `***`.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// What went wrong with Postgres. Messages name the database without its password.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The resource's config cannot be used (said why).
    #[error("invalid Postgres config: {0}")]
    Config(String),
    /// An environment variable the config names could not be read.
    #[error(transparent)]
    EnvVar(#[from] EnvVarError),
    /// The database could not be reached.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The database, as `postgres://USER@HOST:PORT/DATABASE` (no password).
        target: String,
        /// The driver's message.
        reason: String,
    },
    /// A statement failed; `sql` is its beginning.
    #[error("{reason} (in: {sql})")]
    Query {
        /// The beginning of the statement.
        sql: String,
        /// The database's message.
        reason: String,
    },
}

impl PostgresError {
    pub(crate) fn query(sql: &str, reason: impl std::fmt::Display) -> Self {
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut excerpt: String = sql.chars().take(SQL_EXCERPT).collect();
        if excerpt.len() < sql.len() {
            excerpt.push('…');
        }
        Self::Query {
            sql: excerpt,
            reason: reason.to_string(),
        }
    }
}

/// A pool of connections to one Postgres database (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct PostgresResource {
    db: DatabaseConnection,
    target: String,
    /// Kept for the process ([`crate::shared`]): teardown leaves the pool open.
    shared: bool,
}

impl ConfigurableResource for PostgresResource {
    type Config = PostgresConfig;

    /// The process's pool for this config, opened (and probed) by the first setup.
    async fn setup(
        config: PostgresConfig,
        _ctx: &InitResourceContext,
    ) -> Result<Self, ResourceError> {
        let key = config.key().map_err(crate::resource_error)?;
        let shared = crate::shared::get_or_open(key, Self::is_open, || async {
            Self::connect(&config).await.map(Self::into_shared)
        });
        shared.await.map_err(crate::resource_error)
    }

    async fn teardown(&self) -> Result<(), ResourceError> {
        if self.shared {
            return Ok(());
        }
        self.db.close_by_ref().await.map_err(|e| {
            ResourceError::msg(format!("cannot close the pool of {}: {e}", self.target))
        })
    }

    async fn health_check(&self) -> Result<(), ResourceError> {
        self.health_check().await.map_err(crate::resource_error)
    }
}

impl PostgresResource {
    /// Open a pool of its own, after one connection has been made to prove the database
    /// is there; teardown closes it. (Set up as a resource, the pool is the process's.)
    pub async fn connect(config: &PostgresConfig) -> Result<Self, PostgresError> {
        Self::open(config, true).await
    }

    /// [`connect`](Self::connect), its connections keeping no prepared statements: for a
    /// pool whose `search_path` changes between uses (PostGIS's per-run schemas), where a
    /// statement prepared for one schema's table would not fit another's.
    pub(crate) async fn connect_without_statement_cache(
        config: &PostgresConfig,
    ) -> Result<Self, PostgresError> {
        Self::open(config, false).await
    }

    async fn open(config: &PostgresConfig, statement_cache: bool) -> Result<Self, PostgresError> {
        let (mut options, target) = config.options()?;
        if !statement_cache {
            options = options.statement_cache_capacity(0);
        }
        let timeout = duration(config.connect_timeout_seconds, "connect_timeout_seconds")?;
        let connect_error = |reason: String| PostgresError::Connect {
            target: target.clone(),
            reason,
        };
        // One direct attempt first: a pool retries a refused connection until its acquire
        // timeout, and a server that is not there should be reported at once.
        let probe = tokio::time::timeout(timeout, options.connect())
            .await
            .map_err(|_| connect_error(format!("no answer within {:.1} s", timeout.as_secs_f64())))?
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(timeout)
            .connect_lazy_with(options);
        Ok(Self {
            db: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
            target,
            shared: false,
        })
    }

    /// Whether the pool is still open (user code may close the process's pool).
    pub(crate) fn is_open(&self) -> bool {
        !self.pool().is_closed()
    }

    /// This pool, marked as the process's: teardown will leave it open.
    pub(crate) fn into_shared(self) -> Self {
        Self {
            shared: true,
            ..self
        }
    }

    /// The database, as `postgres://USER@HOST:PORT/DATABASE`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The sea-orm connection, for entities and the query builder.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The sqlx pool beneath, for what sea-orm does not offer.
    pub fn pool(&self) -> &PgPool {
        self.db.get_postgres_connection_pool()
    }

    /// Run `sql` with `values` bound to `$1`, `$2`, …; the rows it affected.
    pub async fn execute(
        &self,
        sql: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<u64, PostgresError> {
        self.db
            .execute_raw(statement(sql, values))
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| PostgresError::query(sql, e))
    }

    /// The rows `sql` returns, with `values` bound.
    pub async fn query_all(
        &self,
        sql: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<QueryResult>, PostgresError> {
        self.db
            .query_all_raw(statement(sql, values))
            .await
            .map_err(|e| PostgresError::query(sql, e))
    }

    /// The first row `sql` returns, if any.
    pub async fn query_one(
        &self,
        sql: &str,
        values: impl IntoIterator<Item = Value>,
    ) -> Result<Option<QueryResult>, PostgresError> {
        self.db
            .query_one_raw(statement(sql, values))
            .await
            .map_err(|e| PostgresError::query(sql, e))
    }

    /// Run several statements separated by `;`, without parameters (DDL, transforms).
    pub async fn execute_script(&self, sql: &str) -> Result<(), PostgresError> {
        self.db
            .execute_unprepared(sql)
            .await
            .map(drop)
            .map_err(|e| PostgresError::query(sql, e))
    }

    /// A transaction on one connection of the pool: what runs on it is committed by
    /// `commit()`, and rolled back if it is dropped without (a failed step's work
    /// leaves nothing behind).
    pub async fn transaction(&self) -> Result<DatabaseTransaction, PostgresError> {
        self.db
            .begin()
            .await
            .map_err(|e| PostgresError::query("BEGIN", e))
    }

    /// Bulk-load `data` into `table` (`schema.table` allowed) with `COPY … FROM STDIN`,
    /// in `format` (`csv`, `text` or `binary`; CSV has no header row). Returns the rows
    /// loaded; on error nothing is loaded.
    pub async fn copy_in(
        &self,
        table: &str,
        columns: &[&str],
        format: CopyFormat,
        data: &[u8],
    ) -> Result<u64, PostgresError> {
        let target = quote_qualified(table);
        let columns: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "COPY {target} ({}) FROM STDIN (FORMAT {})",
            columns.join(", "),
            format.as_sql()
        );
        let fail = |e: sqlx::Error| PostgresError::query(&sql, e);
        let mut copy = self.pool().copy_in_raw(&sql).await.map_err(fail)?;
        for chunk in data.chunks(1 << 20) {
            if let Err(e) = copy.send(chunk).await {
                let _ = copy.abort(e.to_string()).await;
                return Err(fail(e));
            }
        }
        copy.finish().await.map_err(fail)
    }

    /// Whether the database answers `SELECT 1`.
    pub async fn health_check(&self) -> Result<(), PostgresError> {
        self.query_one("SELECT 1", []).await.map(drop)
    }
}

/// The data format of [`PostgresResource::copy_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// Postgres' `csv` format.
    Csv,
    /// Postgres' `text` format: tab-separated, `\N` for null.
    Text,
    /// Postgres' `binary` format.
    Binary,
}

impl CopyFormat {
    fn as_sql(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Text => "text",
            Self::Binary => "binary",
        }
    }
}

fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `name` as a quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` (or `table`) with each part quoted.
pub fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}
