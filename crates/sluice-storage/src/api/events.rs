//! The event log: appending the events of runs and reading them back.

use async_trait::async_trait;
use sluice_core::events::{EventRecord, RunEvent};

use crate::error::Result;

/// The instance's event log, append-only; an event's storage id is its place in it.
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait EventStorage: Send + Sync {
    /// Append events to the event log and return their storage ids (in the order given,
    /// strictly increasing). Run lifecycle events (see
    /// [`EventType::run_status`](sluice_core::events::EventType::run_status)) move their
    /// run's status and set its update time, its start time (`RUN_START`) and end time
    /// (`RUN_SUCCESS`, `RUN_FAILURE`, `RUN_CANCELED`); a finished run keeps its status.
    /// Events of runs that are not stored are kept too.
    async fn store_events(&self, events: &[RunEvent]) -> Result<Vec<i64>>;

    /// Store events of one attempt at running `run_id` (its worker's), like
    /// [`store_events`](Self::store_events), behind a fence: once the run has finished
    /// (the monitor failed it, termination canceled it), or when the batch holds a
    /// `RUN_START` and another attempt has started the run already, nothing is stored
    /// and the answer is [`StorageError::RunFenced`](crate::StorageError::RunFenced).
    /// Every event must be of `run_id`.
    async fn store_run_events(&self, run_id: &str, events: &[RunEvent]) -> Result<Vec<i64>>;

    /// Events of a run in log order, after storage id `after` (exclusive), at most `limit`.
    async fn events_for_run(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<EventRecord>>;

    /// The storage id of the newest event of the whole log, if any.
    async fn latest_event_id(&self) -> Result<Option<i64>>;

    /// The stored events with these ids, in id order (unknown ids are left out).
    async fn events_by_id(&self, ids: &[i64]) -> Result<Vec<EventRecord>>;
}
