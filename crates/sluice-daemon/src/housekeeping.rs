//! The daemon's housekeeping: chores that run on the wall clock, at set times, with
//! nothing to replay if one is missed: deleting skipped sensor ticks past their retention,
//! and forgetting the heartbeats of daemon loops that stopped long ago.
//!
//! These run on `tokio-cron-scheduler`, a wall-clock job runner, because that is all they
//! need. User schedules do not: their ticks are stored, caught up after downtime and
//! driven by an injectable clock, so they keep their own loop ([`crate::scheduler`]).
//! SQLite checkpoints are not here either: every long-lived process that writes to the
//! instance checkpoints its own connection while it holds the write lock
//! (`sluice_storage`'s checkpointer), the webserver alone included.

use std::sync::Arc;

use sluice_core::events::now_timestamp;
use sluice_storage::{Storage, TickStatus};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// When skipped ticks are purged: every hour, on the hour (seconds first, as the
/// scheduler's cron has them).
const PURGE_TICKS_CRON: &str = "0 0 * * * *";
/// When the heartbeats of loops that stopped beating are forgotten: daily at 03:30 UTC.
const PRUNE_HEARTBEATS_CRON: &str = "0 30 3 * * *";
/// A loop whose last heartbeat is older than this is gone (it is shown unhealthy long
/// before, after 5 minutes).
pub const HEARTBEAT_RETENTION_SECONDS: f64 = 7.0 * 86_400.0;

/// What housekeeping keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    /// Days a SKIPPED sensor tick is kept (`sensors.skipped_tick_retention_days`).
    pub skipped_tick_days: f64,
    /// Seconds a daemon loop's last heartbeat is kept after it stopped beating.
    pub heartbeat_seconds: f64,
}

/// The daemon's wall-clock chores over one instance.
#[derive(Clone)]
pub struct Housekeeping {
    storage: Arc<dyn Storage>,
    retention: Retention,
}

impl Housekeeping {
    /// Housekeeping of `storage`, keeping what `retention` says.
    pub fn new(storage: Arc<dyn Storage>, retention: Retention) -> Self {
        Self { storage, retention }
    }

    /// Delete SKIPPED sensor ticks older than their retention; how many.
    pub async fn purge_skipped_ticks(&self, now: f64) -> Result<u64, sluice_storage::StorageError> {
        let before = now - self.retention.skipped_tick_days * 86_400.0;
        self.storage
            .purge_ticks(before, &[TickStatus::Skipped])
            .await
    }

    /// Forget the heartbeats of loops that have not beaten within their retention; how
    /// many.
    pub async fn prune_heartbeats(&self, now: f64) -> Result<u64, sluice_storage::StorageError> {
        let before = now - self.retention.heartbeat_seconds;
        self.storage.prune_daemon_heartbeats(before).await
    }

    /// Every chore once, now (the daemon does this when it starts).
    pub async fn run_all(&self) {
        let now = now_timestamp();
        for chore in Chore::ALL {
            self.run(chore, now).await;
        }
    }

    /// Do `chore` as of `now`, logging what it deleted or why it could not.
    async fn run(&self, chore: Chore, now: f64) {
        let result = match chore {
            Chore::PurgeSkippedTicks => self.purge_skipped_ticks(now).await,
            Chore::PruneHeartbeats => self.prune_heartbeats(now).await,
        };
        let name = chore.name();
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(chore = name, deleted, "housekeeping"),
            Err(e) => tracing::warn!(
                chore = name,
                error = %e,
                "housekeeping failed; it runs again at its next time"
            ),
        }
    }

    /// A started scheduler running every chore at its time; shut it down to stop them.
    pub async fn schedule(self) -> Result<JobScheduler, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        for chore in Chore::ALL {
            let this = self.clone();
            let job = Job::new_async(chore.cron(), move |_, _| {
                let this = this.clone();
                Box::pin(async move { this.run(chore, now_timestamp()).await })
            })?;
            scheduler.add(job).await?;
        }
        scheduler.start().await?;
        Ok(scheduler)
    }
}

/// One of housekeeping's chores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chore {
    PurgeSkippedTicks,
    PruneHeartbeats,
}

impl Chore {
    const ALL: [Chore; 2] = [Chore::PurgeSkippedTicks, Chore::PruneHeartbeats];

    fn name(self) -> &'static str {
        match self {
            Self::PurgeSkippedTicks => "purge skipped ticks",
            Self::PruneHeartbeats => "prune daemon heartbeats",
        }
    }

    /// When it runs, in the scheduler's cron (seconds first).
    fn cron(self) -> &'static str {
        match self {
            Self::PurgeSkippedTicks => PURGE_TICKS_CRON,
            Self::PruneHeartbeats => PRUNE_HEARTBEATS_CRON,
        }
    }
}
