//! Run monitoring: runs whose worker is gone do not stay in progress forever.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::events::{EventType, now_timestamp};
use sluice_core::run::RunStatus;
use sluice_storage::{RunsFilter, Storage};
use tokio_util::sync::CancellationToken;

use crate::launcher::Launcher;
use crate::settings::RunMonitoringConfig;
use crate::{DaemonError, Heartbeat, end_run};

/// Watches STARTING, STARTED and CANCELING runs.
pub struct RunMonitor {
    storage: Arc<dyn Storage>,
    config: RunMonitoringConfig,
}

impl RunMonitor {
    /// Run monitoring over `storage`, with `config`'s timeouts.
    pub fn new(storage: Arc<dyn Storage>, config: RunMonitoringConfig) -> Self {
        Self { storage, config }
    }

    /// Resolve every run that is past its limit; returns how many were resolved.
    pub async fn check(&self) -> Result<usize, DaemonError> {
        let filter = RunsFilter {
            statuses: vec![
                RunStatus::Starting,
                RunStatus::Started,
                RunStatus::Canceling,
            ],
            ..RunsFilter::default()
        };
        let now = now_timestamp();
        let mut resolved = 0;
        for run in self.storage.list_runs(&filter, None, None).await? {
            let since_change = now - run.update_time;
            let (end, message) = match run.status {
                RunStatus::Started => {
                    let last_sign = run
                        .heartbeat_time
                        .or(run.start_time)
                        .unwrap_or(run.update_time);
                    let silent = now - last_sign;
                    if silent <= self.config.heartbeat_timeout_seconds {
                        continue;
                    }
                    (
                        EventType::RunFailure,
                        format!(
                            "Run worker stopped heartbeating: nothing for {silent:.0}s (limit {}s). The run is marked failed.",
                            self.config.heartbeat_timeout_seconds
                        ),
                    )
                }
                RunStatus::Starting if since_change > self.config.start_timeout_seconds => (
                    EventType::RunFailure,
                    format!(
                        "Run stayed STARTING for {since_change:.0}s (limit {}s): its worker never started.",
                        self.config.start_timeout_seconds
                    ),
                ),
                RunStatus::Canceling if since_change > self.config.cancel_timeout_seconds => (
                    EventType::RunCanceled,
                    format!(
                        "Run stayed CANCELING for {since_change:.0}s (limit {}s): marked canceled.",
                        self.config.cancel_timeout_seconds
                    ),
                ),
                _ => continue,
            };
            tracing::warn!(run_id = %run.run_id, "{message}");
            end_run(self.storage.as_ref(), &run.run_id, end, message).await?;
            resolved += 1;
        }
        Ok(resolved)
    }

    /// Fail, at once, every STARTING run whose launcher is certainly gone: a daemon of
    /// this machine's boot that no longer runs (killed with its runs mid-launch). Those
    /// runs would otherwise hold their run queue slots until `start_timeout_seconds`.
    /// Runs launched elsewhere, or by a live process, are left to the timeout. Returns
    /// how many were failed.
    pub async fn fail_orphaned_starts(&self, here: &Launcher) -> Result<usize, DaemonError> {
        let filter = RunsFilter {
            statuses: vec![RunStatus::Starting],
            ..RunsFilter::default()
        };
        let mut failed = 0;
        for run in self.storage.list_runs(&filter, None, None).await? {
            let events = self.storage.events_for_run(&run.run_id, None, None).await?;
            let launcher = events
                .iter()
                .rev()
                .find(|record| record.event.event_type == EventType::RunStarting)
                .and_then(|record| Launcher::of_event(&record.event));
            let Some(launcher) = launcher.filter(|l| l.is_gone(here)) else {
                continue;
            };
            let message = format!(
                "Run was STARTING when its launcher (process {} on this machine) ended; it was never started, and is marked failed.",
                launcher.pid()
            );
            tracing::warn!(run_id = %run.run_id, "{message}");
            end_run(
                self.storage.as_ref(),
                &run.run_id,
                EventType::RunFailure,
                message,
            )
            .await?;
            failed += 1;
        }
        Ok(failed)
    }

    /// Check every `poll_interval_seconds` until `shutdown`.
    pub async fn run(&self, daemon_id: &str, shutdown: CancellationToken) {
        let mut heartbeat = Heartbeat::new(Arc::clone(&self.storage), "MONITORING", daemon_id);
        let interval = Duration::from_secs_f64(self.config.poll_interval_seconds.max(0.05));
        loop {
            let error = self.check().await.err().map(|e| e.to_string());
            heartbeat.beat(error).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
