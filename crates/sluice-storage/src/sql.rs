//! [`SqlStorage`]: instance storage on sea-orm, for SQLite and Postgres. This module
//! opens the database, migrates it and lets writers take turns; each storage area is
//! implemented in a module of its own: [`runs`], [`events`], [`instigators`],
//! [`assets`], [`backfills`], [`partitions`] and [`daemon`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Query;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use sluice_migrations::Migrator;
use sluice_migrations::sea_orm_migration::MigratorTrait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

mod access;
mod assets;
mod backfills;
mod checkpoint;
mod daemon;
mod events;
mod instigators;
mod partitions;
mod runs;
mod write_lock;

use checkpoint::Checkpointer;
use runs::PendingRun;
use write_lock::{WriteGuard, WriteLock};

use crate::config::{StorageConfig, redact_url};
use crate::error::{Result, StorageError};

/// Rows per multi-row INSERT: well under SQLite's and Postgres's bind parameter limits.
const INSERT_CHUNK: usize = 500;
/// Values per `IN (...)` list when loading tags of many runs.
const IN_CHUNK: usize = 500;
/// How long to wait for a Postgres server to accept the first connection.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a SQLite file may be retried while other processes hold it.
const SQLITE_OPEN_BUSY_FOR: Duration = Duration::from_secs(15);

/// Whether `error` is SQLite's "database is locked" (SQLITE_BUSY or SQLITE_LOCKED, with
/// any extended code).
fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}
/// Key of the Postgres advisory lock held while migrating ("sluice" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x736c_7569_6365;

/// Instance storage on a SQL database through sea-orm: SQLite (WAL, one file) or
/// Postgres. Opening it applies pending migrations.
pub struct SqlStorage {
    db: DatabaseConnection,
    /// The database as shown in messages: a path, or a URL without its password.
    target: String,
    /// SQLite allows one writer at a time; writers take turns here (within the process
    /// and across processes) instead of polling in SQLite's busy handler. `None` on
    /// Postgres.
    write_lock: Option<Arc<WriteLock>>,
    /// A long-lived process's periodic SQLite checkpoints (see [`checkpoint`]).
    checkpointer: Option<Checkpointer>,
    /// Runs to create, gathered while writers wait for their turn: whoever gets the
    /// next turn creates all of them in one transaction (see `create_run_with_events`).
    pending_runs: std::sync::Mutex<Vec<PendingRun>>,
}

impl fmt::Debug for SqlStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStorage")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl SqlStorage {
    /// Open the database `config` describes and apply pending migrations.
    pub async fn open(config: &StorageConfig) -> Result<Self> {
        match config {
            StorageConfig::Sqlite { path } => Self::open_sqlite(path).await,
            StorageConfig::Postgres { url } => Self::open_postgres(url).await,
        }
    }

    /// Open the database `config` describes for a run worker: a process that executes
    /// one run, started by a code server that has opened the same instance, so that its
    /// schema is known to be current. It skips the migration check, keeps one
    /// connection (its writes take turns anyway) and leaves checkpoints to the long-lived
    /// processes: a short run costs less.
    pub async fn open_for_run_worker(config: &StorageConfig) -> Result<Self> {
        match config {
            StorageConfig::Sqlite { path } => Self::connect_sqlite(path, 1).await,
            StorageConfig::Postgres { url } => Self::connect_postgres(url, 2).await,
        }
    }

    /// Open (creating it and its directory if missing) the SQLite database file at
    /// `path` and apply pending migrations. Several processes may open the same file
    /// at once.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let mut storage = Self::connect_sqlite(path, 4).await?;
        storage.migrate().await?;
        storage.checkpointer = storage
            .write_lock
            .clone()
            .map(|lock| Checkpointer::spawn(storage.db.clone(), lock));
        Ok(storage)
    }

    /// Open the SQLite database at `path` with a pool of at most `max_connections`,
    /// without migrating it.
    async fn connect_sqlite(path: &Path, max_connections: u32) -> Result<Self> {
        let target = format!("sqlite:{}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
                action: "create database directory".into(),
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // SQLite's OS-level cache serves reads well; a small page cache per
            // connection keeps every process's memory flat.
            .pragma("cache_size", "-1024")
            // Checkpoints are not left to whichever commit grows the log (see
            // `checkpoint`).
            .pragma("wal_autocheckpoint", "0");
        // Opening a fresh file switches it to WAL, which needs the file to itself: a
        // process that opens it at the same moment as others may be told it is busy
        // before any busy handler runs. Such an open is tried again, for a while.
        let started = std::time::Instant::now();
        let mut attempt: u64 = 0;
        let pool = loop {
            attempt += 1;
            let opened = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .min_connections(0)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await;
            match opened {
                Ok(pool) => break pool,
                Err(e) if is_sqlite_busy(&e) && started.elapsed() < SQLITE_OPEN_BUSY_FOR => {
                    tokio::time::sleep(Duration::from_millis(Ord::min(attempt * 25, 250))).await;
                }
                Err(e) => {
                    return Err(StorageError::Connect {
                        target: target.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        };
        Ok(Self {
            db: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
            target,
            write_lock: Some(Arc::new(WriteLock::new(path))),
            checkpointer: None,
            pending_runs: Default::default(),
        })
    }

    /// Connect to Postgres at `url` (`postgres://user:password@host:port/db`) and
    /// apply pending migrations (under an advisory lock, so that several processes
    /// may start at once).
    pub async fn open_postgres(url: &str) -> Result<Self> {
        let storage = Self::connect_postgres(url, 10).await?;
        storage.migrate().await?;
        Ok(storage)
    }

    /// Connect to Postgres at `url` with a pool of at most `max_connections`, without
    /// migrating it.
    async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self> {
        let target = redact_url(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StorageError::InvalidUrl {
                url: target,
                reason: "expected postgres://USER:PASSWORD@HOST:PORT/DATABASE".into(),
            });
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| StorageError::InvalidUrl {
            url: target.clone(),
            reason: e.to_string(),
        })?;
        // One direct attempt first: the pool would retry a refused connection until its
        // acquire timeout, and an unreachable server should be reported promptly.
        let probe = tokio::time::timeout(PG_CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| StorageError::Connect {
                target: target.clone(),
                reason: format!("no answer within {} s", PG_CONNECT_TIMEOUT.as_secs()),
            })?
            .map_err(|e| StorageError::Connect {
                target: target.clone(),
                reason: e.to_string(),
            })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(Self {
            db: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
            target,
            write_lock: None,
            checkpointer: None,
            pending_runs: Default::default(),
        })
    }

    /// The sea-orm connection (a pool), for storage features built on the same schema.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Which database this is: a SQLite path or a Postgres URL without its password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Close all connections. Later calls fail.
    pub async fn close(&self) -> Result<()> {
        self.db
            .close_by_ref()
            .await
            .map_err(StorageError::db("close the connection pool"))
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Apply pending migrations; refuse a database migrated by a newer Sluice.
    ///
    /// The usual case, an up-to-date database, costs one query. Otherwise the check is
    /// repeated and the migrations applied in one transaction that excludes other
    /// migrating processes: `BEGIN IMMEDIATE` on SQLite, an advisory lock on Postgres.
    async fn migrate(&self) -> Result<()> {
        let known = sluice_migrations::known_migrations();
        if let Ok(applied) = applied_migrations(&self.db).await {
            self.refuse_unknown(&applied, &known)?;
            if known.iter().all(|k| applied.contains(k)) {
                return Ok(());
            }
        }
        let err = |source| StorageError::Migration {
            target: self.target.clone(),
            source,
        };
        let txn = match self.backend() {
            DbBackend::Sqlite => self
                .db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await
                .map_err(err)?,
            _ => {
                let txn = self.db.begin().await.map_err(err)?;
                txn.execute_unprepared(&format!(
                    "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                ))
                .await
                .map_err(err)?;
                txn
            }
        };
        Migrator::install(&txn).await.map_err(err)?;
        let applied = applied_migrations(&txn).await.map_err(err)?;
        self.refuse_unknown(&applied, &known)?;
        let pending: Vec<&String> = known.iter().filter(|k| !applied.contains(k)).collect();
        if !pending.is_empty() {
            tracing::info!(target = %self.target, ?pending, "applying instance storage migrations");
            Migrator::up(&txn, None).await.map_err(err)?;
        }
        txn.commit().await.map_err(err)
    }

    fn refuse_unknown(&self, applied: &[String], known: &[String]) -> Result<()> {
        let unknown: Vec<String> = applied
            .iter()
            .filter(|a| !known.contains(a))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(StorageError::DatabaseTooNew {
                target: self.target.clone(),
                unknown,
            })
        }
    }

    /// Begin a write transaction. On SQLite the caller must hold the write lock
    /// ([`lock_writes`](Self::lock_writes)); the transaction takes the database's write
    /// lock at once (`BEGIN IMMEDIATE`, waiting through the busy handler), so it never
    /// fails half-way for lack of it.
    async fn begin_write(&self, action: &str) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend() == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.db
            .begin_with_options(options)
            .await
            .map_err(StorageError::db(format!("begin a transaction to {action}")))
    }

    async fn lock_writes(&self) -> Option<WriteGuard<'_>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

/// Versions recorded in `seaql_migrations` (an error if the table does not exist).
async fn applied_migrations<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, sea_orm::DbErr> {
    let stmt = Query::select()
        .column("version")
        .from(Migrator::migration_table_name())
        .to_owned();
    db.query_all(&stmt)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect()
}

/// `serde_json::to_string` as an object-safe trait, so that one closure serializes
/// values of several types.
mod erased_json {
    pub(super) trait Json {
        fn to_json(&self) -> serde_json::Result<String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}
