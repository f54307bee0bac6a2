//! # sluice-daemon
//!
//! The only Sluice process that acts on time. Its loops:
//!
//! - [`run_queue`]: the queued run coordinator. It launches QUEUED runs through their
//!   location's code server, within `max_concurrent_runs` and the tag concurrency limits,
//!   highest `dagster/priority` first, then oldest first. It is woken when a run is queued
//!   or a run ends, and checks storage every few seconds in case a wake-up was lost.
//! - [`monitoring`]: fails runs whose worker stopped beating, or that stayed STARTING,
//!   and ends runs stuck CANCELING.
//! - [`scheduler`]: launches the ticks of running schedules, catching up after downtime.
//! - [`sensors`]: evaluates running sensors every `minimum_interval`.
//! - [`backfills`]: submits the runs of requested backfills, chunk by chunk, and follows
//!   them to completion or cancellation.
//!
//! Schedules and sensors read the time from a [`Clock`] in their loops, and each offers
//! `pass(now)`, one iteration at a given time, so that tests cover hours and daylight
//! saving changes in milliseconds.

pub mod backfills;
pub mod housekeeping;
pub mod instigation;
pub mod launcher;
pub mod monitoring;
pub mod run_queue;
pub mod scheduler;
pub mod sensors;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use sluice_codeserver::Workspace;
use sluice_core::events::{ErrorInfo, EventData, EventType, LogLevel, RunEvent, now_timestamp};
use sluice_storage::{DaemonHeartbeat, Storage, StorageError, WakeupListener};
use tokio_util::sync::CancellationToken;

pub use backfills::BackfillDaemon;
pub use housekeeping::{Housekeeping, Retention};
pub use instigation::{Clock, SystemClock};
pub use launcher::Launcher;
pub use monitoring::RunMonitor;
pub use run_queue::RunQueue;
pub use scheduler::Scheduler;
pub use sensors::SensorDaemon;
pub use settings::{
    DaemonSettings, RunCoordinatorConfig, RunMonitoringConfig, SchedulesConfig, SensorsConfig,
    TagConcurrencyLimit,
};

/// A daemon loop failed in a way it cannot go on from.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Instance storage failed.
    #[error("instance storage: {0}")]
    Storage(#[from] StorageError),
}

/// How often each loop records its heartbeat, at most.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Records one loop's heartbeats, at most every few seconds, with its recent errors.
pub(crate) struct Heartbeat {
    storage: Arc<dyn Storage>,
    daemon_type: &'static str,
    daemon_id: String,
    last: Option<std::time::Instant>,
    errors: Vec<String>,
}

impl Heartbeat {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        daemon_type: &'static str,
        daemon_id: &str,
    ) -> Self {
        Self {
            storage,
            daemon_type,
            daemon_id: daemon_id.to_owned(),
            last: None,
            errors: Vec::new(),
        }
    }

    /// Note the outcome of one iteration, and beat if it is time (or something failed).
    pub(crate) async fn beat(&mut self, error: Option<String>) {
        let failed = error.is_some();
        if let Some(e) = error {
            tracing::error!(daemon = self.daemon_type, "{e}");
            self.errors.insert(0, e);
            self.errors.truncate(5);
        }
        if !failed && self.last.is_some_and(|t| t.elapsed() < HEARTBEAT_EVERY) {
            return;
        }
        let heartbeat = DaemonHeartbeat {
            daemon_type: self.daemon_type.to_owned(),
            daemon_id: self.daemon_id.clone(),
            timestamp: now_timestamp(),
            errors: self.errors.clone(),
        };
        match self.storage.record_daemon_heartbeat(&heartbeat).await {
            Ok(()) => self.last = Some(std::time::Instant::now()),
            Err(e) => tracing::warn!(daemon = self.daemon_type, "cannot record heartbeat: {e}"),
        }
    }
}

/// End a run that will not finish by itself: an engine event saying why, then
/// RUN_FAILURE (or RUN_CANCELED).
pub(crate) async fn end_run(
    storage: &dyn Storage,
    run_id: &str,
    end: EventType,
    message: String,
) -> Result<(), StorageError> {
    let error = ErrorInfo::new("RunMonitoring", message.clone());
    let engine = RunEvent::new(run_id, EventType::EngineEvent, message.clone())
        .level(LogLevel::Error)
        .data(EventData::Failure {
            error: error.clone(),
        });
    let last = RunEvent::new(run_id, end, message).data(EventData::Failure { error });
    storage.store_events(&[engine, last]).await.map(|_| ())
}

/// The daemon: its loops over one instance and workspace.
pub struct Daemon {
    /// The instance's storage, which every loop reads and writes.
    pub storage: Arc<dyn Storage>,
    /// The code locations, whose code servers evaluate schedules and sensors and launch runs.
    pub workspace: Workspace,
    /// The `sluice.yaml` settings of the loops.
    pub settings: DaemonSettings,
    /// Identifies this daemon process in heartbeats.
    pub daemon_id: String,
}

impl Daemon {
    /// A daemon over `storage` and `workspace`, with a fresh id for its heartbeats.
    pub fn new(storage: Arc<dyn Storage>, workspace: Workspace, settings: DaemonSettings) -> Self {
        Self {
            storage,
            workspace,
            settings,
            daemon_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Run every loop until `shutdown`; each finishes what it holds before returning.
    pub async fn run(self, queue_wakeups: WakeupListener, shutdown: CancellationToken) {
        let queue = RunQueue::new(
            Arc::clone(&self.storage),
            self.workspace.clone(),
            self.settings.run_coordinator.clone(),
        );
        let monitor = RunMonitor::new(
            Arc::clone(&self.storage),
            self.settings.run_monitoring.clone(),
        );
        let queue_channel = queue_wakeups.notifier();
        let scheduler = Scheduler::new(
            Arc::clone(&self.storage),
            self.workspace.clone(),
            self.settings.schedules.clone(),
            queue_channel.clone(),
        );
        let sensors = SensorDaemon::new(
            Arc::clone(&self.storage),
            self.workspace.clone(),
            self.settings.sensors.clone(),
            queue_channel.clone(),
        );
        let backfills = BackfillDaemon::new(Arc::clone(&self.storage), queue_channel);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let id = self.daemon_id.clone();
        let housekeeping = Housekeeping::new(
            Arc::clone(&self.storage),
            Retention {
                skipped_tick_days: self.settings.sensors.skipped_tick_retention_days,
                heartbeat_seconds: housekeeping::HEARTBEAT_RETENTION_SECONDS,
            },
        );
        housekeeping.run_all().await;
        if let Some(here) = Launcher::this_process() {
            match monitor.fail_orphaned_starts(&here).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!("failed {n} run(s) left STARTING by a launcher that ended"),
                Err(e) => tracing::error!("cannot check runs left STARTING: {e}"),
            }
        }
        // Housekeeping runs on the wall clock beside the loops; a scheduler that cannot
        // start is logged, and the loops run without it.
        let mut chores = match housekeeping.schedule().await {
            Ok(scheduler) => Some(scheduler),
            Err(e) => {
                tracing::error!("cannot start the daemon's housekeeping: {e}");
                None
            }
        };
        tokio::join!(
            queue.run(queue_wakeups, &id, shutdown.clone()),
            monitor.run(&id, shutdown.clone()),
            scheduler.run(Arc::clone(&clock), &id, shutdown.clone()),
            sensors.run(clock, &id, shutdown.clone()),
            backfills.run(&id, shutdown.clone()),
        );
        if let Some(scheduler) = chores.as_mut()
            && let Err(e) = scheduler.shutdown().await
        {
            tracing::warn!("cannot stop the daemon's housekeeping: {e}");
        }
    }
}
