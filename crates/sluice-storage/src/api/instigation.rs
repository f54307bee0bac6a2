//! What storage keeps of schedules and sensors (Dagster's "instigators"): their state
//! (status a person set, cursor, last tick), their ticks, and the run keys they used.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_core::events::{ErrorInfo, RunEvent};
use sluice_core::run::{NewRun, Run};
use sluice_core::snapshot::REPOSITORY_NAME;

use crate::error::Result;

/// A schedule or a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstigatorType {
    /// A schedule.
    Schedule,
    /// A sensor.
    Sensor,
}

impl InstigatorType {
    /// `SCHEDULE` or `SENSOR`, as stored and as Dagster names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "SCHEDULE",
            Self::Sensor => "SENSOR",
        }
    }

    /// The type named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Schedule, Self::Sensor]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// Whether a schedule or sensor is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstigatorStatus {
    /// The daemon evaluates it.
    Running,
    /// The daemon leaves it alone.
    Stopped,
}

impl InstigatorStatus {
    /// `RUNNING` or `STOPPED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Running, Self::Stopped]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

impl From<sluice_core::run_request::DefaultStatus> for InstigatorStatus {
    fn from(status: sluice_core::run_request::DefaultStatus) -> Self {
        match status {
            sluice_core::run_request::DefaultStatus::Running => Self::Running,
            sluice_core::run_request::DefaultStatus::Stopped => Self::Stopped,
        }
    }
}

/// Which schedule or sensor: its location, name and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstigatorKey {
    /// The code location that defines it.
    pub location_name: String,
    /// Its name, unique among the location's schedules and sensors.
    pub name: String,
    /// Schedule or sensor.
    pub instigator_type: InstigatorType,
}

impl InstigatorKey {
    /// The key of `name` in `location_name`.
    pub fn new(location_name: &str, name: &str, instigator_type: InstigatorType) -> Self {
        Self {
            location_name: location_name.to_owned(),
            name: name.to_owned(),
            instigator_type,
        }
    }

    /// A stable id of (location, repository, name): the same on every machine and
    /// across restarts, so that GraphQL clients may keep it.
    pub fn selector_id(&self) -> String {
        selector_id(&self.location_name, &self.name)
    }
}

/// The selector id of the schedule or sensor `name` of `location_name` (64-bit FNV-1a
/// of the location, repository and name, in hex).
pub fn selector_id(location_name: &str, name: &str) -> String {
    sluice_core::hash::fnv1a_hex(
        [location_name, REPOSITORY_NAME, name]
            .into_iter()
            .flat_map(|part| part.bytes().chain([0])),
    )
}

/// What storage knows of one schedule or sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct InstigatorState {
    /// Which one.
    pub key: InstigatorKey,
    /// What a person set; `None` follows the definition's default status.
    pub status: Option<InstigatorStatus>,
    /// A sensor's cursor.
    pub cursor: Option<String>,
    /// The timestamp of its latest finished tick: for a schedule, the latest scheduled
    /// time handled; for a sensor, the latest evaluation.
    pub last_tick_timestamp: Option<f64>,
    /// The run key of the latest run requested.
    pub last_run_key: Option<String>,
    /// When it was last started, or first seen running by default.
    pub start_timestamp: Option<f64>,
    /// When this state last changed.
    pub update_timestamp: f64,
}

/// How a tick went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TickStatus {
    /// Evaluated; its runs are being created.
    Started,
    /// Requested no run.
    Skipped,
    /// Requested runs, all created (or created by an earlier tick with the same key).
    Success,
    /// The evaluation or the run creation failed.
    Failure,
}

impl TickStatus {
    /// Dagster's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Skipped => "SKIPPED",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Started, Self::Skipped, Self::Success, Self::Failure]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// What a tick did, as stored when it ends (or when it is stored already ended).
#[derive(Debug, Clone, PartialEq)]
pub struct TickResult {
    /// How it went.
    pub status: TickStatus,
    /// The runs it created, or that earlier ticks created for the same run keys.
    pub run_ids: Vec<String>,
    /// The run keys it requested.
    pub run_keys: Vec<String>,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
    /// Why it requested nothing.
    pub skip_reason: Option<String>,
    /// The cursor after the tick. When the tick ends other than FAILURE, it becomes the
    /// instigator's cursor.
    pub cursor: Option<String>,
    /// What the tick changed in dynamic partition sets.
    pub dynamic_partitions: Vec<DynamicPartitionsResult>,
}

/// What one dynamic partitions request of a tick did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicPartitionsResult {
    /// The set.
    pub partitions_def_name: String,
    /// Whether keys were added or deleted.
    pub action: DynamicPartitionsAction,
    /// The keys added (or deleted).
    pub partition_keys: Vec<String>,
    /// The keys asked for that needed nothing: already there, or already gone.
    pub skipped_partition_keys: Vec<String>,
}

/// Adding or deleting dynamic partition keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DynamicPartitionsAction {
    /// Keys were added.
    Add,
    /// Keys were deleted.
    Delete,
}

impl TickResult {
    /// A result with `status` and nothing else.
    pub fn new(status: TickStatus) -> Self {
        Self {
            status,
            run_ids: Vec::new(),
            run_keys: Vec::new(),
            error: None,
            skip_reason: None,
            cursor: None,
            dynamic_partitions: Vec::new(),
        }
    }
}

/// A tick to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTick {
    /// Whose tick.
    pub instigator: InstigatorKey,
    /// A schedule's scheduled time; a sensor's evaluation time.
    pub timestamp: f64,
    /// How it went so far (STARTED) or in the end.
    pub result: TickResult,
}

/// A stored tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Its id, in creation order.
    pub id: i64,
    /// The instigator's selector id.
    pub selector_id: String,
    /// A schedule's scheduled time; a sensor's evaluation time.
    pub timestamp: f64,
    /// When it ended.
    pub end_timestamp: Option<f64>,
    /// How it went.
    pub result: TickResult,
}

/// Which ticks to list: newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicksFilter {
    /// At most this many.
    pub limit: Option<usize>,
    /// Only ticks older than this tick id (a page cursor).
    pub before_id: Option<i64>,
    /// Only ticks in one of these statuses (all when empty).
    pub statuses: Vec<TickStatus>,
    /// Only ticks with a timestamp after this (exclusive).
    pub after_timestamp: Option<f64>,
    /// Only ticks with a timestamp before this (exclusive).
    pub before_timestamp: Option<f64>,
}

/// What asking for a run with a run key did.
#[derive(Debug, Clone, PartialEq)]
pub enum InstigatedRun {
    /// The key was new: this run was created with it.
    Created(Box<Run>),
    /// The key was used before, by this run; nothing was created.
    AlreadyRequested {
        /// The run created the first time.
        run_id: String,
    },
}

impl InstigatedRun {
    /// The run's id, new or old.
    pub fn run_id(&self) -> &str {
        match self {
            Self::Created(run) => &run.run_id,
            Self::AlreadyRequested { run_id } => run_id,
        }
    }
}

/// The state of the instance's schedules and sensors, their ticks, and the run keys that
/// created runs.
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait InstigationStorage: Send + Sync {
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

    /// Delete ticks in `statuses` with a timestamp before `before`; returns how many.
    async fn purge_ticks(&self, before: f64, statuses: &[TickStatus]) -> Result<u64>;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_ids_are_stable_and_distinct() {
        let a = selector_id("demo", "every_minute");
        assert_eq!(a, selector_id("demo", "every_minute"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, selector_id("demo", "every_minutes"));
        assert_ne!(selector_id("ab", "c"), selector_id("a", "bc"));
        // Pinned: clients may have stored it.
        assert_eq!(a, "27246a0bc91a541e");
    }
}
