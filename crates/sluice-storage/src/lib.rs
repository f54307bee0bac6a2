//! # sluice-storage
//!
//! Instance storage for Sluice: runs, their tags and the event log, on an embedded
//! SQLite database (the default, under `$SLUICE_HOME`) or on Postgres.
//!
//! - [`Storage`] is what the rest of Sluice talks to; [`SqlStorage`] implements it on
//!   sea-orm for both backends and applies the schema migrations of
//!   `sluice-migrations` when it opens a database.
//! - [`EventWriter`] is the [`EventSink`](sluice_core::events::EventSink) that a run
//!   worker hands to the executor: emitting never blocks, and events are written in
//!   batches by a background task.
//! - [`StorageConfig`] says which database an instance uses (`$SLUICE_HOME`,
//!   `sluice.yaml`, `$SLUICE_POSTGRES_URL`); [`open`] opens it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_storage::StorageError> {
//! use std::sync::Arc;
//! use sluice_core::events::{EventSink, EventType, RunEvent};
//! use sluice_core::run::NewRun;
//! use sluice_storage::{EventWriter, Storage, StorageConfig};
//!
//! let storage = sluice_storage::open(&StorageConfig::from_env()?).await?;
//! let run = storage.create_run(&NewRun::new("my_job")).await?;
//! let writer = EventWriter::spawn(storage.clone());
//! writer.emit(RunEvent::new(&run.run_id, EventType::RunStart, "started"));
//! writer.close().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::asset::AssetKey;
use sluice_core::events::{ErrorInfo, EventRecord, RunEvent};
use sluice_core::partition::{PartitionsContext, PartitionsDefinition};
use sluice_core::run::{NewRun, Run, RunStatus};
use sluice_core::sensor::RunStatusChange;

pub mod backfill;
mod config;
pub mod entity;
mod error;
pub mod instigation;
mod sql;
mod wakeup;
mod writer;

pub use backfill::{
    BACKFILL_ID_TAG, Backfill, BackfillRuns, BackfillStatus, BackfillsFilter, NewBackfill,
    new_backfill_id,
};
pub use config::{
    DEFAULT_HOME, DaemonSettings, HOME_ENV, INSTANCE_FILE, POSTGRES_URL_ENV, RunCoordinatorConfig,
    RunMonitoringConfig, SQLITE_FILE, SchedulesConfig, SensorsConfig, StorageConfig,
    TagConcurrencyLimit, redact_url,
};
pub use error::{Result, StorageError};
pub use instigation::{
    DynamicPartitionsAction, DynamicPartitionsResult, InstigatedRun, InstigatorKey,
    InstigatorState, InstigatorStatus, InstigatorType, NewTick, Tick, TickResult, TickStatus,
    TicksFilter,
};
pub use sql::SqlStorage;
pub use wakeup::{Wakeup, WakeupListener, instance_home, output_storage_dir};
pub use writer::EventWriter;

/// The latest sign of life of one daemon loop.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonHeartbeat {
    /// The loop, with Dagster's names: `QUEUED_RUN_COORDINATOR`, `MONITORING`, `SCHEDULER`,
    /// `SENSOR`, `BACKFILL`.
    pub daemon_type: String,
    /// The daemon process.
    pub daemon_id: String,
    /// Unix seconds.
    pub timestamp: f64,
    /// The loop's recent errors, newest first.
    pub errors: Vec<String>,
}

/// Which runs to list or count. Every field that is set must match; an empty list or
/// map does not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunsFilter {
    /// Only these runs.
    pub run_ids: Vec<String>,
    /// Only runs of this job.
    pub job_name: Option<String>,
    /// Only runs in one of these statuses.
    pub statuses: Vec<RunStatus>,
    /// Only runs that have all of these tags with exactly these values.
    pub tags: BTreeMap<String, String>,
    /// Only runs created after this time (Unix seconds, exclusive).
    pub created_after: Option<f64>,
    /// Only runs created before this time (exclusive).
    pub created_before: Option<f64>,
    /// Only runs last updated after this time (exclusive).
    pub updated_after: Option<f64>,
    /// Only runs last updated before this time (exclusive).
    pub updated_before: Option<f64>,
}

/// An asset of the catalog: one that was materialized (or reported) at least once and
/// not wiped since.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetEntry {
    /// The asset.
    pub key: AssetKey,
    /// The event of its latest materialization.
    pub last_materialization_event_id: Option<i64>,
    /// The run of its latest materialization (empty for a runless report).
    pub last_run_id: Option<String>,
    /// When it was last materialized (Unix seconds).
    pub last_materialization_timestamp: Option<f64>,
}

/// Which materializations (or observations) of an asset to list, and in which order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaterializationsFilter {
    /// Only these partitions (none: every partition, and unpartitioned ones).
    pub partitions: Vec<String>,
    /// Only events stored before this event id (a cursor).
    pub before_id: Option<i64>,
    /// Only events stored after this event id (an asset sensor's cursor).
    pub after_id: Option<i64>,
    /// Oldest first, instead of newest first.
    pub oldest_first: bool,
    /// Observations (of a source asset) instead of materializations.
    pub observations: bool,
    /// Only events after this time (Unix seconds, exclusive).
    pub after_timestamp: Option<f64>,
    /// Only events before this time (Unix seconds, exclusive).
    pub before_timestamp: Option<f64>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// The instance's runs and event log.
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Store a new run with its tags. Fails with [`StorageError::DuplicateRun`], writing
    /// nothing, if a run with this id exists.
    async fn create_run(&self, run: &NewRun) -> Result<Run>;

    /// The run with this id, if any.
    async fn get_run(&self, run_id: &str) -> Result<Option<Run>>;

    /// Create `run` and store its first `events` in one transaction: either both are
    /// stored or neither is. The returned run's status follows the events.
    async fn create_run_with_events(&self, run: &NewRun, events: &[RunEvent]) -> Result<Run>;

    /// Runs matching `filter`, newest first. With a `cursor` (a run id), the page holds
    /// the runs created before that run; an unknown cursor is
    /// [`StorageError::UnknownCursor`]. `limit` caps the page size.
    async fn list_runs(
        &self,
        filter: &RunsFilter,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>>;

    /// QUEUED runs in the order the run queue launches them: highest `dagster/priority`
    /// first, then oldest first. `offset` and `limit` page through that order.
    async fn queued_runs(&self, offset: usize, limit: usize) -> Result<Vec<Run>>;

    /// How many runs match `filter`.
    async fn count_runs(&self, filter: &RunsFilter) -> Result<u64>;

    /// Delete a run with its tags and events. Returns whether the run existed.
    async fn delete_run(&self, run_id: &str) -> Result<bool>;

    /// Append events to the event log and return their storage ids (in the order given,
    /// strictly increasing). Run lifecycle events (see
    /// [`EventType::run_status`](sluice_core::events::EventType::run_status)) move their
    /// run's status and set its update time, its start time (`RUN_START`) and end time
    /// (`RUN_SUCCESS`, `RUN_FAILURE`, `RUN_CANCELED`); a finished run keeps its status.
    /// Events of runs that are not stored are kept too.
    async fn store_events(&self, events: &[RunEvent]) -> Result<Vec<i64>>;

    /// Events of a run in log order, after storage id `after` (exclusive), at most `limit`.
    async fn events_for_run(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<EventRecord>>;

    /// The storage id of the newest event of the whole log, if any.
    async fn latest_event_id(&self) -> Result<Option<i64>>;

    /// Record that the worker of run `run_id` is alive at `timestamp`.
    async fn record_run_heartbeat(&self, run_id: &str, timestamp: f64) -> Result<()>;

    /// Record a daemon loop's heartbeat, replacing its previous one.
    async fn record_daemon_heartbeat(&self, heartbeat: &DaemonHeartbeat) -> Result<()>;

    /// The latest heartbeat of each daemon loop, by type.
    async fn daemon_heartbeats(&self) -> Result<Vec<DaemonHeartbeat>>;

    /// The stored state of every schedule and sensor that has one, by selector id.
    async fn instigator_states(&self) -> Result<HashMap<String, InstigatorState>>;

    /// The stored state of one schedule or sensor, by selector id.
    async fn instigator_state(&self, selector_id: &str) -> Result<Option<InstigatorState>>;

    /// The state of `key`, created (started at `now`, following its default status) if
    /// it has none.
    async fn ensure_instigator(&self, key: &InstigatorKey, now: f64) -> Result<InstigatorState>;

    /// Set the status a person chose (`None`: back to the definition's default).
    /// Starting and resetting set the start time to `now`, so that ticks from while it
    /// was stopped are not caught up.
    async fn set_instigator_status(
        &self,
        key: &InstigatorKey,
        status: Option<InstigatorStatus>,
        now: f64,
    ) -> Result<InstigatorState>;

    /// Replace a sensor's cursor.
    async fn set_instigator_cursor(
        &self,
        key: &InstigatorKey,
        cursor: Option<&str>,
        now: f64,
    ) -> Result<InstigatorState>;

    /// Store a tick. A tick stored already ended moves its instigator's state as
    /// [`end_tick`](Self::end_tick) does.
    async fn add_tick(&self, tick: &NewTick) -> Result<Tick>;

    /// Store how tick `tick_id` of `instigator` went. When the result is final, the
    /// instigator's last tick time and last run key move with it, and so does its
    /// cursor unless the tick failed; all in one transaction.
    async fn end_tick(
        &self,
        instigator: &InstigatorKey,
        tick_id: i64,
        result: &TickResult,
    ) -> Result<Tick>;

    /// Ticks of one schedule or sensor (of all, with `None`), newest first.
    async fn ticks(&self, selector_id: Option<&str>, filter: &TicksFilter) -> Result<Vec<Tick>>;

    /// Create `run` (with its first `events`) for `run_key` of the instigator
    /// `selector_id`, unless that key was used before: the key is claimed in the
    /// transaction that creates the run, so a key creates one run, ever.
    async fn create_instigated_run(
        &self,
        run: &NewRun,
        events: &[RunEvent],
        selector_id: &str,
        run_key: &str,
    ) -> Result<InstigatedRun>;

    /// Runs that reached one of `statuses`, from the event log after event id
    /// `after_event_id`, oldest first, at most `limit`.
    async fn run_status_changes(
        &self,
        after_event_id: i64,
        statuses: &[RunStatus],
        limit: usize,
    ) -> Result<Vec<RunStatusChange>>;

    /// Delete ticks in `statuses` with a timestamp before `before`; returns how many.
    async fn purge_ticks(&self, before: f64, statuses: &[TickStatus]) -> Result<u64>;

    /// The asset catalog: every asset with a materialization, or only `keys` of them.
    async fn asset_entries(&self, keys: Option<&[AssetKey]>) -> Result<Vec<AssetEntry>>;

    /// The stored events with these ids, in id order (unknown ids are left out).
    async fn events_by_id(&self, ids: &[i64]) -> Result<Vec<EventRecord>>;

    /// The latest materialization of `key`: one indexed read, whatever its history.
    async fn latest_materialization(&self, key: &AssetKey) -> Result<Option<EventRecord>>;

    /// The latest materialization of each materialized partition of `key`.
    async fn latest_materializations_by_partition(
        &self,
        key: &AssetKey,
    ) -> Result<BTreeMap<String, EventRecord>>;

    /// Materializations of `key`, newest first.
    async fn asset_materializations(
        &self,
        key: &AssetKey,
        filter: &MaterializationsFilter,
    ) -> Result<Vec<EventRecord>>;

    /// Forget `keys`: they leave the catalog and their past materializations stop
    /// counting (the events stay in their runs' logs). Unknown keys are ignored.
    async fn wipe_assets(&self, keys: &[AssetKey]) -> Result<()>;

    /// Forget `partitions` of `key`: they leave the asset's partitions, their past
    /// materializations stop counting, and the asset's latest materialization becomes
    /// the latest one left (none left: the asset leaves the catalog). Unknown
    /// partitions are ignored.
    async fn wipe_asset_partitions(&self, key: &AssetKey, partitions: &[String]) -> Result<()>;

    /// Store a new backfill, REQUESTED, with none of its runs submitted.
    async fn add_backfill(&self, backfill: &NewBackfill) -> Result<Backfill>;

    /// Backfill `id`, if it exists.
    async fn backfill(&self, id: &str) -> Result<Option<Backfill>>;

    /// Backfills, newest first.
    async fn backfills(&self, filter: &BackfillsFilter) -> Result<Vec<Backfill>>;

    /// Move backfill `id` to `status`, with the error that stopped it, if any; returns
    /// it, or `None` when there is no such backfill.
    async fn set_backfill_status(
        &self,
        id: &str,
        status: BackfillStatus,
        error: Option<&ErrorInfo>,
    ) -> Result<Option<Backfill>>;

    /// Queue `runs` as the runs of `partitions` (positions in the backfill's list) of
    /// backfill `id`, and count those as submitted, in one transaction; false (nothing
    /// written) when the backfill's submitted count is no longer `partitions.start` or
    /// it is no longer REQUESTED.
    async fn submit_backfill_runs(
        &self,
        id: &str,
        partitions: std::ops::Range<usize>,
        runs: &[NewRun],
    ) -> Result<bool>;

    /// The keys of dynamic partitions set `name`, in the order they were added.
    async fn dynamic_partition_keys(&self, name: &str) -> Result<Vec<String>>;

    /// Add the `keys` that set `name` does not have yet, in order, and return them: a
    /// key added twice is added once. A key that is not a valid partition key is refused
    /// and nothing is added.
    async fn add_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>>;

    /// Delete `keys` from set `name`; returns those it had, in the order given.
    async fn delete_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>>;

    /// Evaluations of the checks of `key` (only `check_name`'s, if given), newest first,
    /// at most `limit`.
    async fn asset_check_evaluations(
        &self,
        key: &AssetKey,
        check_name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>>;
}

/// What the keys of `definitions` depend on now: the time, and the keys of the dynamic
/// sets they name, read from `storage`.
pub async fn partitions_context<'a>(
    storage: &dyn Storage,
    definitions: impl IntoIterator<Item = &'a PartitionsDefinition>,
) -> Result<PartitionsContext> {
    let mut ctx = PartitionsContext::at(sluice_core::chrono::Utc::now());
    let mut names: Vec<&str> = definitions
        .into_iter()
        .flat_map(PartitionsDefinition::dynamic_names)
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let keys = storage.dynamic_partition_keys(name).await?;
        ctx = ctx.with_dynamic(name, keys);
    }
    Ok(ctx)
}

/// Open the instance storage `config` describes, applying pending migrations.
pub async fn open(config: &StorageConfig) -> Result<Arc<SqlStorage>> {
    Ok(Arc::new(SqlStorage::open(config).await?))
}
