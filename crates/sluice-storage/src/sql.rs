//! [`SqlStorage`]: the [`Storage`] implementation on sea-orm, for SQLite and Postgres.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, SqlErr,
    SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions,
    TransactionTrait,
};
use sluice_core::events::{ErrorInfo, EventRecord, EventType, RunEvent, now_timestamp};
use sluice_core::run::{NewRun, Run, RunStatus, priority_of};
use sluice_migrations::Migrator;
use sluice_migrations::sea_orm_migration::MigratorTrait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

mod assets;
mod backfills;
mod checkpoint;
mod instigators;
mod partitions;
mod write_lock;

use checkpoint::Checkpointer;
use write_lock::{WriteGuard, WriteLock};

use crate::backfill::{Backfill, BackfillStatus, BackfillsFilter, NewBackfill};
use crate::config::{StorageConfig, redact_url};
use crate::entity::{daemon_heartbeats, event_logs, run_tags, runs};
use crate::error::{Result, StorageError};
use crate::instigation::{
    InstigatedRun, InstigatorKey, InstigatorState, InstigatorStatus, NewTick, Tick, TickResult,
    TickStatus, TicksFilter,
};
use crate::{AssetEntry, DaemonHeartbeat, MaterializationsFilter, RunsFilter, Storage};
use sluice_core::asset::AssetKey;
use sluice_core::sensor::RunStatusChange;

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
const FINISHED: [RunStatus; 3] = [RunStatus::Success, RunStatus::Failure, RunStatus::Canceled];

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

/// A run waiting to be created, and who waits for it.
struct PendingRun {
    run: NewRun,
    events: Vec<RunEvent>,
    created: tokio::sync::oneshot::Sender<Result<Run>>,
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

    /// `models` as runs, with their tags.
    async fn with_tags(&self, models: Vec<runs::Model>) -> Result<Vec<Run>> {
        let ids: Vec<String> = models.iter().map(|m| m.run_id.clone()).collect();
        let mut tags = self.tags_of(&ids).await?;
        models
            .into_iter()
            .map(|m| {
                let t = tags.remove(&m.run_id).unwrap_or_default();
                to_run(m, t)
            })
            .collect()
    }

    /// Tags of these runs, by run id.
    async fn tags_of(
        &self,
        run_ids: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        for chunk in run_ids.chunks(IN_CHUNK) {
            let rows: Vec<(String, String, String)> = run_tags::Entity::find()
                .select_only()
                .columns([
                    run_tags::Column::RunId,
                    run_tags::Column::Key,
                    run_tags::Column::Value,
                ])
                .filter(run_tags::Column::RunId.is_in(chunk.iter().map(String::as_str)))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(StorageError::db("load run tags"))?;
            for (run_id, key, value) in rows {
                tags.entry(run_id).or_default().insert(key, value);
            }
        }
        Ok(tags)
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

fn filter_condition(filter: &RunsFilter) -> Condition {
    let mut cond = Condition::all();
    if !filter.run_ids.is_empty() {
        cond = cond.add(runs::Column::RunId.is_in(filter.run_ids.iter().map(String::as_str)));
    }
    if let Some(job) = &filter.job_name {
        cond = cond.add(runs::Column::JobName.eq(job.as_str()));
    }
    if !filter.statuses.is_empty() {
        cond = cond.add(runs::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    let bounds = [
        (runs::Column::CreateTime, filter.created_after, true),
        (runs::Column::CreateTime, filter.created_before, false),
        (runs::Column::UpdateTime, filter.updated_after, true),
        (runs::Column::UpdateTime, filter.updated_before, false),
    ];
    for (column, bound, after) in bounds {
        if let Some(t) = bound {
            cond = cond.add(if after { column.gt(t) } else { column.lt(t) });
        }
    }
    for (key, value) in &filter.tags {
        let tagged = Query::select()
            .expr(Expr::val(1))
            .from(run_tags::Entity)
            .and_where(
                Expr::col((run_tags::Entity, run_tags::Column::RunId))
                    .equals((runs::Entity, runs::Column::RunId)),
            )
            .and_where(Expr::col((run_tags::Entity, run_tags::Column::Key)).eq(key.as_str()))
            .and_where(Expr::col((run_tags::Entity, run_tags::Column::Value)).eq(value.as_str()))
            .to_owned();
        cond = cond.add(Expr::exists(tagged));
    }
    cond
}

fn to_run(model: runs::Model, tags: BTreeMap<String, String>) -> Result<Run> {
    let corrupt = |reason: String| StorageError::Corrupt {
        what: format!("run {}", model.run_id),
        reason,
    };
    let status = RunStatus::parse(&model.status)
        .ok_or_else(|| corrupt(format!("unknown status `{}`", model.status)))?;
    let run_config = serde_json::from_str(&model.run_config)
        .map_err(|e| corrupt(format!("run_config is not JSON: {e}")))?;
    let step_keys_to_execute = model
        .step_keys_to_execute
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt(format!("step_keys_to_execute is not a JSON list: {e}")))?;
    Ok(Run {
        run_id: model.run_id,
        job_name: model.job_name,
        location_name: model.location_name,
        status,
        run_config,
        tags,
        parent_run_id: model.parent_run_id,
        root_run_id: model.root_run_id,
        step_keys_to_execute,
        create_time: model.create_time,
        update_time: model.update_time,
        start_time: model.start_time,
        end_time: model.end_time,
        heartbeat_time: model.heartbeat_time,
    })
}

/// Postgres text cannot hold NUL; the indexed copy of a field replaces it (the JSON
/// body keeps the exact value, escaped).
/// A query of the event log's (id, timestamp, body) columns, read by [`decode_event`].
fn select_events() -> sea_orm::Select<event_logs::Entity> {
    event_logs::Entity::find().select_only().columns([
        event_logs::Column::Id,
        event_logs::Column::Timestamp,
        event_logs::Column::Body,
    ])
}

/// An event from its (id, timestamp, body) columns.
fn decode_event((storage_id, timestamp, body): (i64, f64, String)) -> Result<EventRecord> {
    let mut event: RunEvent = serde_json::from_str(&body).map_err(|e| StorageError::Corrupt {
        what: format!("event {storage_id}"),
        reason: format!("body is not a run event: {e}"),
    })?;
    // serde_json (without `float_roundtrip`) may parse a float one ulp off; the column
    // holds the exact value.
    event.timestamp = timestamp;
    Ok(EventRecord { storage_id, event })
}

fn column_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

fn event_row(event: &RunEvent) -> Result<event_logs::ActiveModel> {
    let serialize = |e: &RunEvent| {
        serde_json::to_string(e).map_err(|source| StorageError::Serialize {
            what: format!("{} event of run {}", e.event_type, e.run_id),
            source,
        })
    };
    // A NaN or infinite timestamp cannot be stored (SQLite turns NaN into NULL) nor
    // read back from JSON; such an event is stored with the time it was stored.
    let (timestamp, body) = if event.timestamp.is_finite() {
        (event.timestamp, serialize(event)?)
    } else {
        let mut fixed = event.clone();
        fixed.timestamp = now_timestamp();
        (fixed.timestamp, serialize(&fixed)?)
    };
    Ok(event_logs::ActiveModel {
        id: NotSet,
        run_id: Set(column_text(&event.run_id)),
        event_type: Set(event.event_type.as_str().to_owned()),
        step_key: Set(event.step_key.as_deref().map(column_text)),
        level: Set(event.level.as_str().to_owned()),
        timestamp: Set(timestamp),
        message: Set(column_text(&event.message)),
        asset_key: Set(event.asset_key().map(ToString::to_string)),
        partition: Set(event.partition().map(column_text)),
        body: Set(body),
    })
}

#[async_trait]
impl Storage for SqlStorage {
    async fn create_run(&self, run: &NewRun) -> Result<Run> {
        self.create_run_with_events(run, &[]).await
    }

    /// Runs created at the same time by one process (a burst of launches) share a
    /// transaction: each caller queues its run, and whoever gets the writers' next turn
    /// creates every queued run, each in a savepoint of its own, so that one refused run
    /// (a duplicate id) leaves the others created.
    async fn create_run_with_events(&self, run: &NewRun, events: &[RunEvent]) -> Result<Run> {
        let (created, mut done) = tokio::sync::oneshot::channel();
        lock_pending(&self.pending_runs).push(PendingRun {
            run: run.clone(),
            events: events.to_vec(),
            created,
        });
        let stopped = || {
            Err(StorageError::RunNotCreated {
                run_id: run.run_id.clone(),
                reason: "the task creating it with other runs stopped first".to_owned(),
            })
        };
        tokio::select! {
            biased;
            // Created by the writer whose turn came first.
            result = &mut done => return result.unwrap_or_else(|_| stopped()),
            guard = self.lock_writes() => {
                let batch = std::mem::take(&mut *lock_pending(&self.pending_runs));
                if !batch.is_empty() {
                    self.create_runs(batch).await;
                }
                drop(guard);
            }
        }
        done.await.unwrap_or_else(|_| stopped())
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
        let model = runs::Entity::find()
            .filter(runs::Column::RunId.eq(run_id))
            .one(&self.db)
            .await
            .map_err(StorageError::db(format!("load run {run_id}")))?;
        let Some(model) = model else {
            return Ok(None);
        };
        let mut tags = self.tags_of(std::slice::from_ref(&model.run_id)).await?;
        let tags = tags.remove(&model.run_id).unwrap_or_default();
        to_run(model, tags).map(Some)
    }

    async fn list_runs(
        &self,
        filter: &RunsFilter,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>> {
        let mut select = runs::Entity::find().filter(filter_condition(filter));
        if let Some(cursor) = cursor {
            let cursor_id: Option<i64> = runs::Entity::find()
                .select_only()
                .column(runs::Column::Id)
                .filter(runs::Column::RunId.eq(cursor))
                .into_tuple()
                .one(&self.db)
                .await
                .map_err(StorageError::db(format!("look up cursor run {cursor}")))?;
            let cursor_id = cursor_id.ok_or_else(|| StorageError::UnknownCursor {
                run_id: cursor.to_owned(),
            })?;
            select = select.filter(runs::Column::Id.lt(cursor_id));
        }
        select = select.order_by_desc(runs::Column::Id);
        if let Some(limit) = limit {
            select = select.limit(u64::try_from(limit).unwrap_or(u64::MAX));
        }
        let models = select
            .all(&self.db)
            .await
            .map_err(StorageError::db("list runs"))?;
        self.with_tags(models).await
    }

    async fn queued_runs(&self, offset: usize, limit: usize) -> Result<Vec<Run>> {
        let models = runs::Entity::find()
            .filter(runs::Column::Status.eq(RunStatus::Queued.as_str()))
            .order_by_desc(runs::Column::Priority)
            .order_by_asc(runs::Column::Id)
            .offset(u64::try_from(offset).unwrap_or(u64::MAX))
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .all(&self.db)
            .await
            .map_err(StorageError::db("list queued runs"))?;
        self.with_tags(models).await
    }

    async fn count_runs(&self, filter: &RunsFilter) -> Result<u64> {
        runs::Entity::find()
            .filter(filter_condition(filter))
            .count(&self.db)
            .await
            .map_err(StorageError::db("count runs"))
    }

    async fn delete_run(&self, run_id: &str) -> Result<bool> {
        let action = format!("delete run {run_id}");
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        event_logs::Entity::delete_many()
            .filter(event_logs::Column::RunId.eq(run_id))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        run_tags::Entity::delete_many()
            .filter(run_tags::Column::RunId.eq(run_id))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        let deleted = runs::Entity::delete_many()
            .filter(runs::Column::RunId.eq(run_id))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        txn.commit().await.map_err(StorageError::db(action))?;
        Ok(deleted.rows_affected > 0)
    }

    async fn store_events(&self, events: &[RunEvent]) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows = events.iter().map(event_row).collect::<Result<Vec<_>>>()?;
        let action = format!("store {} events", events.len());
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let ids = insert_events(&txn, rows, events, &action).await?;
        txn.commit().await.map_err(StorageError::db(action))?;
        Ok(ids)
    }

    async fn events_for_run(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<EventRecord>> {
        let mut select = select_events().filter(event_logs::Column::RunId.eq(run_id));
        if let Some(after) = after {
            select = select.filter(event_logs::Column::Id.gt(after));
        }
        select = select.order_by_asc(event_logs::Column::Id);
        if let Some(limit) = limit {
            select = select.limit(u64::try_from(limit).unwrap_or(u64::MAX));
        }
        let rows: Vec<(i64, f64, String)> = select
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StorageError::db(format!("load events of run {run_id}")))?;
        rows.into_iter().map(decode_event).collect()
    }

    async fn record_run_heartbeat(&self, run_id: &str, timestamp: f64) -> Result<()> {
        let action = format!("record a heartbeat of run {run_id}");
        let _guard = self.lock_writes().await;
        runs::Entity::update_many()
            .col_expr(runs::Column::HeartbeatTime, Expr::val(timestamp))
            .filter(runs::Column::RunId.eq(run_id))
            .exec(&self.db)
            .await
            .map_err(StorageError::db(action))?;
        Ok(())
    }

    async fn record_daemon_heartbeat(&self, heartbeat: &DaemonHeartbeat) -> Result<()> {
        let action = format!("record a heartbeat of {}", heartbeat.daemon_type);
        let errors =
            serde_json::to_string(&heartbeat.errors).map_err(|source| StorageError::Serialize {
                what: format!("errors of {}", heartbeat.daemon_type),
                source,
            })?;
        let row = daemon_heartbeats::ActiveModel {
            daemon_type: Set(heartbeat.daemon_type.clone()),
            daemon_id: Set(heartbeat.daemon_id.clone()),
            timestamp: Set(heartbeat.timestamp),
            errors: Set(errors),
        };
        let _guard = self.lock_writes().await;
        daemon_heartbeats::Entity::insert(row)
            .on_conflict(
                OnConflict::column(daemon_heartbeats::Column::DaemonType)
                    .update_columns([
                        daemon_heartbeats::Column::DaemonId,
                        daemon_heartbeats::Column::Timestamp,
                        daemon_heartbeats::Column::Errors,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(StorageError::db(action))?;
        Ok(())
    }

    async fn daemon_heartbeats(&self) -> Result<Vec<DaemonHeartbeat>> {
        let rows = daemon_heartbeats::Entity::find()
            .order_by_asc(daemon_heartbeats::Column::DaemonType)
            .all(&self.db)
            .await
            .map_err(StorageError::db("read daemon heartbeats"))?;
        rows.into_iter()
            .map(|row| {
                let errors =
                    serde_json::from_str(&row.errors).map_err(|e| StorageError::Corrupt {
                        what: format!("heartbeat of {}", row.daemon_type),
                        reason: e.to_string(),
                    })?;
                Ok(DaemonHeartbeat {
                    daemon_type: row.daemon_type,
                    daemon_id: row.daemon_id,
                    timestamp: row.timestamp,
                    errors,
                })
            })
            .collect()
    }

    async fn latest_event_id(&self) -> Result<Option<i64>> {
        let stmt = Query::select()
            .expr_as(Func::max(Expr::col(event_logs::Column::Id)), "max_id")
            .from(event_logs::Entity)
            .to_owned();
        let row = self
            .db
            .query_one(&stmt)
            .await
            .map_err(StorageError::db("read the latest event id"))?;
        match row {
            Some(row) => row
                .try_get::<Option<i64>>("", "max_id")
                .map_err(StorageError::db("read the latest event id")),
            None => Ok(None),
        }
    }

    async fn instigator_states(&self) -> Result<HashMap<String, InstigatorState>> {
        let states = instigators::states(self, None).await?;
        Ok(states
            .into_iter()
            .map(|s| (s.key.selector_id(), s))
            .collect())
    }

    async fn instigator_state(&self, selector_id: &str) -> Result<Option<InstigatorState>> {
        Ok(instigators::states(self, Some(selector_id)).await?.pop())
    }

    async fn ensure_instigator(&self, key: &InstigatorKey, now: f64) -> Result<InstigatorState> {
        instigators::ensure(self, key, now).await
    }

    async fn set_instigator_status(
        &self,
        key: &InstigatorKey,
        status: Option<InstigatorStatus>,
        now: f64,
    ) -> Result<InstigatorState> {
        instigators::set_status(self, key, status, now).await
    }

    async fn set_instigator_cursor(
        &self,
        key: &InstigatorKey,
        cursor: Option<&str>,
        now: f64,
    ) -> Result<InstigatorState> {
        instigators::set_cursor(self, key, cursor, now).await
    }

    async fn add_tick(&self, tick: &NewTick) -> Result<Tick> {
        instigators::add_tick(self, tick).await
    }

    async fn end_tick(
        &self,
        instigator: &InstigatorKey,
        tick_id: i64,
        result: &TickResult,
    ) -> Result<Tick> {
        instigators::end_tick(self, instigator, tick_id, result).await
    }

    async fn ticks(&self, selector_id: Option<&str>, filter: &TicksFilter) -> Result<Vec<Tick>> {
        instigators::ticks(self, selector_id, filter).await
    }

    async fn create_instigated_run(
        &self,
        run: &NewRun,
        events: &[RunEvent],
        selector_id: &str,
        run_key: &str,
    ) -> Result<InstigatedRun> {
        instigators::create_instigated_run(self, run, events, selector_id, run_key).await
    }

    async fn run_status_changes(
        &self,
        after_event_id: i64,
        statuses: &[RunStatus],
        limit: usize,
    ) -> Result<Vec<RunStatusChange>> {
        instigators::run_status_changes(self, after_event_id, statuses, limit).await
    }

    async fn purge_ticks(&self, before: f64, statuses: &[TickStatus]) -> Result<u64> {
        instigators::purge_ticks(self, before, statuses).await
    }

    async fn asset_entries(&self, keys: Option<&[AssetKey]>) -> Result<Vec<AssetEntry>> {
        assets::entries(self, keys).await
    }

    async fn events_by_id(&self, ids: &[i64]) -> Result<Vec<EventRecord>> {
        assets::events_by_id(self, ids).await
    }

    async fn latest_materialization(&self, key: &AssetKey) -> Result<Option<EventRecord>> {
        assets::latest(self, key).await
    }

    async fn latest_materializations_by_partition(
        &self,
        key: &AssetKey,
    ) -> Result<BTreeMap<String, EventRecord>> {
        assets::latest_by_partition(self, key).await
    }

    async fn asset_materializations(
        &self,
        key: &AssetKey,
        filter: &MaterializationsFilter,
    ) -> Result<Vec<EventRecord>> {
        assets::materializations(self, key, filter).await
    }

    async fn wipe_assets(&self, keys: &[AssetKey]) -> Result<()> {
        assets::wipe(self, keys).await
    }

    async fn wipe_asset_partitions(&self, key: &AssetKey, partitions: &[String]) -> Result<()> {
        assets::wipe_partitions(self, key, partitions).await
    }

    async fn add_backfill(&self, backfill: &NewBackfill) -> Result<Backfill> {
        backfills::add(self, backfill).await
    }

    async fn backfill(&self, id: &str) -> Result<Option<Backfill>> {
        backfills::get(self, id).await
    }

    async fn backfills(&self, filter: &BackfillsFilter) -> Result<Vec<Backfill>> {
        backfills::list(self, filter).await
    }

    async fn set_backfill_status(
        &self,
        id: &str,
        status: BackfillStatus,
        error: Option<&ErrorInfo>,
    ) -> Result<Option<Backfill>> {
        backfills::set_status(self, id, status, error).await
    }

    async fn submit_backfill_runs(
        &self,
        id: &str,
        partitions: std::ops::Range<usize>,
        runs: &[NewRun],
    ) -> Result<bool> {
        backfills::submit_runs(self, id, partitions, runs).await
    }

    async fn dynamic_partition_keys(&self, name: &str) -> Result<Vec<String>> {
        partitions::keys(self, name).await
    }

    async fn add_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>> {
        partitions::add(self, name, keys).await
    }

    async fn delete_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>> {
        partitions::delete(self, name, keys).await
    }

    async fn asset_check_evaluations(
        &self,
        key: &AssetKey,
        check_name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>> {
        assets::check_evaluations(self, key, check_name, limit).await
    }
}

fn lock_pending(
    pending: &std::sync::Mutex<Vec<PendingRun>>,
) -> std::sync::MutexGuard<'_, Vec<PendingRun>> {
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SqlStorage {
    /// Create `batch` in one transaction (the caller holds the writers' turn) and tell
    /// each waiter how its run fared.
    async fn create_runs(&self, batch: Vec<PendingRun>) {
        let action = match batch.as_slice() {
            [one] => format!("create run {}", one.run.run_id),
            many => format!("create {} runs", many.len()),
        };
        let txn = match self.begin_write(&action).await {
            Ok(txn) => txn,
            Err(e) => return fail_all(batch, e),
        };
        let outcomes = if let [one] = batch.as_slice() {
            // Alone, a refused run needs no savepoint: the transaction is rolled back.
            match insert_run(&txn, &one.run, &one.events).await {
                Ok(created) => vec![Ok(created)],
                Err(e) => return fail_all(batch, e),
            }
        } else {
            let mut outcomes = Vec::with_capacity(batch.len());
            for pending in &batch {
                outcomes.push(insert_run_in_savepoint(&txn, &pending.run, &pending.events).await);
            }
            outcomes
        };
        if let Err(e) = txn.commit().await.map_err(StorageError::db(action)) {
            return fail_all(batch, e);
        }
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let _ = pending.created.send(outcome);
        }
    }
}

/// `insert_run` in a savepoint of `txn`: a refused run leaves the rest of `txn` intact.
async fn insert_run_in_savepoint(
    txn: &DatabaseTransaction,
    run: &NewRun,
    events: &[RunEvent],
) -> Result<Run> {
    let action = || format!("create run {}", run.run_id);
    let savepoint = txn.begin().await.map_err(StorageError::db(action()))?;
    match insert_run(&savepoint, run, events).await {
        Ok(created) => {
            savepoint
                .commit()
                .await
                .map_err(StorageError::db(action()))?;
            Ok(created)
        }
        Err(e) => {
            savepoint
                .rollback()
                .await
                .map_err(StorageError::db(action()))?;
            Err(e)
        }
    }
}

/// Tell every waiter of `batch` that its run was not created, and why.
fn fail_all(mut batch: Vec<PendingRun>, error: StorageError) {
    if batch.len() == 1 {
        let pending = batch.remove(0);
        let _ = pending.created.send(Err(error));
        return;
    }
    let reason = error.to_string();
    for pending in batch {
        let _ = pending.created.send(Err(StorageError::RunNotCreated {
            run_id: pending.run.run_id,
            reason: reason.clone(),
        }));
    }
}

/// Insert `run`, its tags and its first `events` in `txn` (which the caller commits).
/// The returned run's status follows the events.
async fn insert_run(txn: &DatabaseTransaction, run: &NewRun, events: &[RunEvent]) -> Result<Run> {
    let event_rows = events.iter().map(event_row).collect::<Result<Vec<_>>>()?;
    let now = now_timestamp();
    let row = run_row(run, now)?;
    let action = || format!("create run {}", run.run_id);
    if let Err(e) = runs::Entity::insert(row).exec_without_returning(txn).await {
        return Err(match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StorageError::DuplicateRun {
                run_id: run.run_id.clone(),
            },
            _ => StorageError::db(action())(e),
        });
    }
    let tags = tag_rows(run);
    for chunk in tags.chunks(INSERT_CHUNK) {
        run_tags::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await
            .map_err(StorageError::db(action()))?;
    }
    insert_events(txn, event_rows, events, &action()).await?;
    let status = events
        .iter()
        .filter_map(|e| e.event_type.run_status())
        .next_back()
        .unwrap_or(run.status);
    Ok(Run {
        run_id: run.run_id.clone(),
        job_name: run.job_name.clone(),
        location_name: run.location_name.clone(),
        status,
        run_config: run.run_config.clone(),
        tags: run.tags.clone(),
        parent_run_id: run.parent_run_id.clone(),
        root_run_id: run.root_run_id.clone(),
        step_keys_to_execute: run.step_keys_to_execute.clone(),
        create_time: now,
        update_time: now,
        start_time: None,
        end_time: None,
        heartbeat_time: None,
    })
}

/// The `runs` row of `run`, created at `now`.
fn run_row(run: &NewRun, now: f64) -> Result<runs::ActiveModel> {
    let serialize = |value: &dyn erased_json::Json, what: &str| {
        value.to_json().map_err(|source| StorageError::Serialize {
            what: format!("{what} of run {}", run.run_id),
            source,
        })
    };
    let step_keys_to_execute = run
        .step_keys_to_execute
        .as_ref()
        .map(|k| serialize(k, "step keys"))
        .transpose()?;
    Ok(runs::ActiveModel {
        id: NotSet,
        run_id: Set(run.run_id.clone()),
        job_name: Set(run.job_name.clone()),
        location_name: Set(run.location_name.clone()),
        status: Set(run.status.as_str().to_owned()),
        run_config: Set(serialize(&run.run_config, "run config")?),
        parent_run_id: Set(run.parent_run_id.clone()),
        root_run_id: Set(run.root_run_id.clone()),
        create_time: Set(now),
        update_time: Set(now),
        start_time: Set(None),
        end_time: Set(None),
        heartbeat_time: Set(None),
        priority: Set(priority_of(&run.tags)),
        step_keys_to_execute: Set(step_keys_to_execute),
    })
}

/// The `run_tags` rows of `run`.
fn tag_rows(run: &NewRun) -> Vec<run_tags::ActiveModel> {
    run.tags
        .iter()
        .map(|(key, value)| run_tags::ActiveModel {
            id: NotSet,
            run_id: Set(run.run_id.clone()),
            key: Set(key.clone()),
            value: Set(value.clone()),
        })
        .collect()
}

/// Insert many QUEUED runs in `txn`, each with its tags and RUN_ENQUEUED event, a few
/// statements per chunk of runs rather than per run.
async fn insert_queued_runs(
    txn: &DatabaseTransaction,
    new_runs: &[NewRun],
    action: &str,
) -> Result<()> {
    let now = now_timestamp();
    for chunk in new_runs.chunks(INSERT_CHUNK / 2) {
        let rows = chunk
            .iter()
            .map(|run| run_row(run, now))
            .collect::<Result<Vec<_>>>()?;
        runs::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await
            .map_err(StorageError::db(action))?;
        let tags: Vec<run_tags::ActiveModel> = chunk.iter().flat_map(tag_rows).collect();
        for tags in tags.chunks(INSERT_CHUNK) {
            run_tags::Entity::insert_many(tags.to_vec())
                .exec_without_returning(txn)
                .await
                .map_err(StorageError::db(action))?;
        }
        let events = chunk
            .iter()
            .map(|run| {
                let mut event = run.enqueued_event();
                event.timestamp = now;
                event_row(&event)
            })
            .collect::<Result<Vec<_>>>()?;
        event_logs::Entity::insert_many(events)
            .exec_without_returning(txn)
            .await
            .map_err(StorageError::db(action))?;
    }
    Ok(())
}

/// `serde_json::to_string` as an object-safe trait, so that one closure serializes
/// values of several types.
mod erased_json {
    pub trait Json {
        fn to_json(&self) -> serde_json::Result<String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}

/// Move the event's run to `status`, unless the run has finished.
/// Insert `rows` (the rows of `events`) in `txn`, moving each run as its lifecycle
/// events say; returns the new event ids in order. Inserts come first, so that SQLite
/// takes the write lock before anything is read.
async fn insert_events(
    txn: &DatabaseTransaction,
    rows: Vec<event_logs::ActiveModel>,
    events: &[RunEvent],
    action: &str,
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let mut insert = event_logs::Entity::insert_many(chunk).into_query();
        insert.returning_col(event_logs::Column::Id);
        let returned = txn
            .query_all(&insert)
            .await
            .map_err(StorageError::db(action.to_owned()))?;
        let mut chunk_ids = returned
            .iter()
            .map(|row| row.try_get::<i64>("", "id"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StorageError::db(action.to_owned()))?;
        // RETURNING does not promise row order; ids of one statement are assigned
        // in VALUES order.
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    assets::index_materializations(txn, events, &ids)
        .await
        .map_err(StorageError::db(format!(
            "{action}: index materializations"
        )))?;
    for event in events {
        if let Some(status) = event.event_type.run_status() {
            update_run_status(txn, event, status)
                .await
                .map_err(StorageError::db(format!(
                    "move run {} to {status}",
                    event.run_id
                )))?;
        }
    }
    Ok(ids)
}

async fn update_run_status(
    txn: &DatabaseTransaction,
    event: &RunEvent,
    status: RunStatus,
) -> Result<(), sea_orm::DbErr> {
    let mut update = runs::Entity::update_many()
        .col_expr(runs::Column::Status, Expr::val(status.as_str()))
        .col_expr(runs::Column::UpdateTime, Expr::val(event.timestamp));
    if event.event_type == EventType::RunStart {
        update = update.col_expr(runs::Column::StartTime, Expr::val(event.timestamp));
    }
    if status.is_finished() {
        update = update.col_expr(runs::Column::EndTime, Expr::val(event.timestamp));
    }
    update
        .filter(runs::Column::RunId.eq(event.run_id.as_str()))
        .filter(runs::Column::Status.is_not_in(FINISHED.iter().map(|s| s.as_str())))
        .exec(txn)
        .await?;
    Ok(())
}
