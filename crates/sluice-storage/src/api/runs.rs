//! Runs: creating, reading, listing and deleting them with their tags, the run queue's
//! order, the heartbeats of their workers, and the status changes the event log records.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sluice_core::events::RunEvent;
use sluice_core::run::{NewRun, Run, RunStatus};
use sluice_core::sensor::RunStatusChange;

use crate::error::Result;

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

/// The instance's runs and their tags.
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait RunStorage: Send + Sync {
    /// Store a new run with its tags. Fails with
    /// [`StorageError::DuplicateRun`](crate::StorageError::DuplicateRun), writing
    /// nothing, if a run with this id exists.
    async fn create_run(&self, run: &NewRun) -> Result<Run>;

    /// The run with this id, if any.
    async fn get_run(&self, run_id: &str) -> Result<Option<Run>>;

    /// Create `run` and store its first `events` in one transaction: either both are
    /// stored or neither is. The returned run's status follows the events.
    async fn create_run_with_events(&self, run: &NewRun, events: &[RunEvent]) -> Result<Run>;

    /// Runs matching `filter`, newest first. With a `cursor` (a run id), the page holds
    /// the runs created before that run; an unknown cursor is
    /// [`StorageError::UnknownCursor`](crate::StorageError::UnknownCursor). `limit`
    /// caps the page size.
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

    /// Record that the worker of run `run_id` is alive at `timestamp`.
    async fn record_run_heartbeat(&self, run_id: &str, timestamp: f64) -> Result<()>;

    /// Runs that reached one of `statuses`, from the event log after event id
    /// `after_event_id`, oldest first, at most `limit`.
    async fn run_status_changes(
        &self,
        after_event_id: i64,
        statuses: &[RunStatus],
        limit: usize,
    ) -> Result<Vec<RunStatusChange>>;
}
