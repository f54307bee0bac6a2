//! The backfill daemon: submits each REQUESTED backfill's partitions as QUEUED runs (one
//! per partition, or one per range of partitions when the assets' backfill policy
//! allows), a chunk of runs per transaction, and the run queue launches them within its limits. A backfill
//! is complete when all its runs have finished; a CANCELING one has its queued runs
//! canceled and its running ones asked to stop, then is CANCELED.
//!
//! Progress lives in storage (the count of submitted partitions, moved with each chunk
//! in the transaction that queues it), so a restarted daemon goes on where the last one
//! stopped, and never submits a partition twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::events::{EventType, LogLevel, RunEvent};
use sluice_core::run::{NewRun, RunOrigin, RunPartitions, RunStatus};
use sluice_storage::{
    BACKFILL_ID_TAG, Backfill, BackfillStatus, BackfillsFilter, RunsFilter, Storage, Wakeup,
};
use tokio_util::sync::CancellationToken;

use crate::{DaemonError, Heartbeat};

/// Runs queued per transaction.
pub const DEFAULT_CHUNK_SIZE: usize = 1_000;

/// How often the daemon looks for backfills to advance.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Statuses of runs that have not finished.
const UNFINISHED: [RunStatus; 5] = [
    RunStatus::Queued,
    RunStatus::NotStarted,
    RunStatus::Starting,
    RunStatus::Started,
    RunStatus::Canceling,
];

/// Advances backfills.
pub struct BackfillDaemon {
    storage: Arc<dyn Storage>,
    queue: Wakeup,
    chunk_size: usize,
    chunks_per_pass: usize,
}

impl BackfillDaemon {
    /// The backfill loop over `storage`; `queue` wakes the run queue when runs are added.
    pub fn new(storage: Arc<dyn Storage>, queue: Wakeup) -> Self {
        Self {
            storage,
            queue,
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunks_per_pass: usize::MAX,
        }
    }

    /// Queue at most `n` runs per transaction.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n.max(1);
        self
    }

    /// Submit at most `n` chunks of one backfill per pass, leaving the rest for later
    /// passes.
    pub fn chunks_per_pass(mut self, n: usize) -> Self {
        self.chunks_per_pass = n.max(1);
        self
    }

    /// One look at every active backfill, oldest first: what each became.
    pub async fn pass(&self) -> Result<Vec<(String, BackfillStatus)>, DaemonError> {
        let filter = BackfillsFilter {
            statuses: vec![BackfillStatus::Requested, BackfillStatus::Canceling],
            ..BackfillsFilter::default()
        };
        let mut active = self.storage.backfills(&filter).await?;
        active.reverse();
        let mut moved = Vec::with_capacity(active.len());
        for backfill in active {
            let id = backfill.id().to_owned();
            let status = match backfill.status {
                BackfillStatus::Requested => self.advance(backfill).await?,
                _ => self.cancel(&backfill).await?,
            };
            moved.push((id, status));
        }
        Ok(moved)
    }

    /// Submit what is pending; once nothing is, complete the backfill when its runs
    /// have all finished.
    async fn advance(&self, mut backfill: Backfill) -> Result<BackfillStatus, DaemonError> {
        let id = backfill.id().to_owned();
        let mut chunks = 0;
        loop {
            let pending = backfill.pending_runs();
            if pending.is_empty() {
                break;
            }
            if chunks == self.chunks_per_pass {
                return Ok(BackfillStatus::Requested);
            }
            let chunk = &pending[..pending.len().min(self.chunk_size)];
            let runs: Vec<NewRun> = chunk.iter().map(|keys| run_of(&backfill, keys)).collect();
            let from = backfill.submitted;
            let to = from + chunk.iter().map(|keys| keys.len()).sum::<usize>();
            if !self
                .storage
                .submit_backfill_runs(&id, from..to, &runs)
                .await?
            {
                // Canceled meanwhile, or moved on by another daemon: look again later.
                let now = self.storage.backfill(&id).await?;
                return Ok(now.map_or(backfill.status, |b| b.status));
            }
            tracing::info!(backfill = %id, from, runs = runs.len(), "backfill runs queued");
            backfill.submitted = to;
            chunks += 1;
            self.queue.notify();
        }
        let runs = |statuses: &[RunStatus]| RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), id.clone())].into(),
            statuses: statuses.to_vec(),
            ..RunsFilter::default()
        };
        if self.storage.count_runs(&runs(&UNFINISHED)).await? > 0 {
            return Ok(BackfillStatus::Requested);
        }
        let failed = self
            .storage
            .count_runs(&runs(&[RunStatus::Failure, RunStatus::Canceled]))
            .await?;
        let status = if failed == 0 {
            BackfillStatus::CompletedSuccess
        } else {
            BackfillStatus::CompletedFailed
        };
        self.storage.set_backfill_status(&id, status, None).await?;
        tracing::info!(backfill = %id, status = status.as_str(), "backfill finished");
        Ok(status)
    }

    /// Cancel the backfill's queued runs and ask its running ones to stop; CANCELED once
    /// none is left running.
    async fn cancel(&self, backfill: &Backfill) -> Result<BackfillStatus, DaemonError> {
        let filter = RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), backfill.id().to_owned())].into(),
            statuses: UNFINISHED.to_vec(),
            ..RunsFilter::default()
        };
        let unfinished = self.storage.list_runs(&filter, None, None).await?;
        let events: Vec<RunEvent> = unfinished
            .iter()
            .filter_map(|run| match run.status {
                RunStatus::Queued | RunStatus::NotStarted => Some(
                    RunEvent::new(
                        &run.run_id,
                        EventType::RunCanceled,
                        format!(
                            "Run canceled before it started: its backfill {} was canceled.",
                            backfill.id()
                        ),
                    )
                    .level(LogLevel::Info),
                ),
                // The worker stops when it sees its run CANCELING.
                RunStatus::Starting | RunStatus::Started => Some(
                    RunEvent::new(
                        &run.run_id,
                        EventType::RunCanceling,
                        format!(
                            "Stopping the run: its backfill {} was canceled.",
                            backfill.id()
                        ),
                    )
                    .level(LogLevel::Info),
                ),
                _ => None,
            })
            .collect();
        if !events.is_empty() {
            self.storage.store_events(&events).await?;
        }
        let running = unfinished.iter().any(|run| {
            matches!(
                run.status,
                RunStatus::Starting | RunStatus::Started | RunStatus::Canceling
            )
        });
        if running {
            return Ok(BackfillStatus::Canceling);
        }
        self.storage
            .set_backfill_status(backfill.id(), BackfillStatus::Canceled, None)
            .await?;
        tracing::info!(backfill = %backfill.id(), "backfill canceled");
        Ok(BackfillStatus::Canceled)
    }

    /// Advance backfills every second until `shutdown`.
    pub async fn run(&self, daemon_id: &str, shutdown: CancellationToken) {
        let mut heartbeat = Heartbeat::new(Arc::clone(&self.storage), "BACKFILL", daemon_id);
        loop {
            let error = self.pass().await.err().map(|e| e.to_string());
            heartbeat.beat(error).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }
}

/// The run of `keys` (one partition, or a range of consecutive ones) of `backfill`.
fn run_of(backfill: &Backfill, keys: &[String]) -> NewRun {
    let spec = &backfill.spec;
    let origin = RunOrigin::Backfill {
        backfill_id: spec.backfill_id.clone(),
    };
    // The backfill's tags were checked when it was requested (no system tag among
    // them); the run's partition tags are the user-settable kind.
    let mut partitions = RunPartitions::of_keys(keys)
        .iter()
        .flat_map(RunPartitions::tags)
        .collect::<BTreeMap<_, _>>();
    let mut tags = spec.tags.clone();
    tags.append(&mut partitions);
    NewRun::queued(&spec.job_name, &spec.location_name, origin)
        .base_tags(&tags)
        .run_config(spec.run_config.clone())
        .step_keys(spec.step_keys.clone())
        .build()
}
