//! The scheduler: launches each running schedule's ticks when their time comes.
//!
//! A schedule's ticks are the times its cron expression names, in its timezone, after
//! the later of its last handled tick and the moment it was started. After downtime it
//! catches up on at most `schedules.max_catchup_runs` missed ticks, the most recent.
//! Each tick is stored STARTED before the code server evaluates it; its runs are
//! queued under a run key derived from the scheduled time, claimed in the transaction
//! that creates the run. A daemon killed anywhere in between resumes the STARTED tick
//! on its next start, and the keys keep a scheduled time from launching twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_codeserver::protocol::EvaluateSchedule;
use sluice_codeserver::{Location, Workspace};
use sluice_core::events::datetime_to_timestamp;
use sluice_core::run_request::RunRequest;
use sluice_core::schedule::CronSchedule;
use sluice_core::snapshot::ScheduleSnapshot;
use sluice_storage::{
    InstigatorKey, InstigatorState, InstigatorType, Storage, StorageError, TickStatus, TicksFilter,
    Wakeup,
};
use tokio_util::sync::CancellationToken;

use crate::instigation::{Clock, TickPolicy, TickRecorder, is_running};
use crate::settings::SchedulesConfig;
use crate::{DaemonError, Heartbeat};

/// The longest the scheduler sleeps: a schedule started meanwhile is noticed this soon.
const MAX_SLEEP: Duration = Duration::from_secs(5);

/// The scheduler daemon.
pub struct Scheduler {
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    config: SchedulesConfig,
    queue: Wakeup,
}

/// What one pass of the scheduler did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SchedulerPass {
    /// The ticks handled, by schedule name and scheduled time, with their status.
    pub ticks: Vec<(String, DateTime<Utc>, TickStatus)>,
    /// The earliest time a running schedule fires next.
    pub next_tick: Option<DateTime<Utc>>,
}

impl Scheduler {
    /// A scheduler that queues runs in `storage` and wakes the run queue through `queue`.
    pub fn new(
        storage: Arc<dyn Storage>,
        workspace: Workspace,
        config: SchedulesConfig,
        queue: Wakeup,
    ) -> Self {
        Self {
            storage,
            workspace,
            config,
            queue,
        }
    }

    /// Handle every tick due at `now` of every running schedule of every loaded location.
    /// A schedule whose tick fails does not stop the others; storage errors do.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<SchedulerPass, DaemonError> {
        let states = self.storage.instigator_states().await?;
        let mut pass = SchedulerPass::default();
        for location in self.workspace.locations().await {
            let Some(snapshot) = location.snapshot().cloned() else {
                continue;
            };
            for schedule in &snapshot.schedules {
                let key =
                    InstigatorKey::new(&location.name, &schedule.name, InstigatorType::Schedule);
                let state = states.get(&key.selector_id());
                if !is_running(state, schedule.default_status) {
                    continue;
                }
                let cron = match CronSchedule::parse(
                    &schedule.cron_schedule,
                    schedule.execution_timezone.as_deref(),
                ) {
                    Ok(cron) => cron,
                    Err(e) => {
                        tracing::error!(schedule = %schedule.name, "cannot schedule: {e}");
                        continue;
                    }
                };
                let state = match state {
                    Some(state) => state.clone(),
                    // First seen running (by default): it starts now.
                    None => {
                        self.storage
                            .ensure_instigator(&key, datetime_to_timestamp(now))
                            .await?
                    }
                };
                for time in due_ticks(&cron, &state, now, self.config.max_catchup_runs) {
                    let status = self
                        .run_tick(&location, &snapshot, schedule, &key, time)
                        .await?;
                    pass.ticks.push((schedule.name.clone(), time, status));
                }
                if let Some(next) = cron.next_after(now) {
                    pass.next_tick = Some(pass.next_tick.map_or(next, |t| t.min(next)));
                }
            }
        }
        Ok(pass)
    }

    /// Evaluate and record the tick of `schedule` at `time`, resuming a tick left
    /// STARTED at that time by an earlier attempt.
    async fn run_tick(
        &self,
        location: &Location,
        snapshot: &sluice_core::snapshot::LocationSnapshot,
        schedule: &ScheduleSnapshot,
        key: &InstigatorKey,
        time: DateTime<Utc>,
    ) -> Result<TickStatus, StorageError> {
        let timestamp = datetime_to_timestamp(time);
        let started = self.started_tick(key, timestamp).await?;
        let recorder = TickRecorder {
            storage: self.storage.as_ref(),
            snapshot,
            instigator: key,
            queue: &self.queue,
            timestamp,
        };
        let started = match started {
            Some(id) => id,
            None => {
                self.storage
                    .add_tick(&sluice_storage::NewTick {
                        instigator: key.clone(),
                        timestamp,
                        result: sluice_storage::TickResult::new(TickStatus::Started),
                    })
                    .await?
                    .id
            }
        };
        let evaluation = location
            .client
            .evaluate_schedule(&EvaluateSchedule {
                schedule_name: schedule.name.clone(),
                scheduled_time: timestamp,
                timeout_seconds: self.config.evaluation_timeout_seconds,
            })
            .await;
        let tick = recorder
            .record(
                Some(started),
                evaluation,
                TickPolicy {
                    cursor: None,
                    run_key: scheduled_run_key,
                },
            )
            .await?;
        if tick.result.status == TickStatus::Failure {
            let message = tick
                .result
                .error
                .as_ref()
                .map_or("", |e| e.message.as_str());
            tracing::warn!(schedule = %schedule.name, %time, "tick failed: {message}");
        }
        Ok(tick.result.status)
    }

    /// A tick of `key` at `timestamp` left STARTED, if any.
    async fn started_tick(
        &self,
        key: &InstigatorKey,
        timestamp: f64,
    ) -> Result<Option<i64>, StorageError> {
        let filter = TicksFilter {
            limit: Some(1),
            statuses: vec![TickStatus::Started],
            after_timestamp: Some(timestamp - 0.5),
            before_timestamp: Some(timestamp + 0.5),
            ..TicksFilter::default()
        };
        let ticks = self
            .storage
            .ticks(Some(&key.selector_id()), &filter)
            .await?;
        Ok(ticks.first().map(|t| t.id))
    }

    /// Run passes until `shutdown`, each at the next tick of a running schedule (and at
    /// least every few seconds, to notice schedules started meanwhile).
    pub async fn run(&self, clock: Arc<dyn Clock>, daemon_id: &str, shutdown: CancellationToken) {
        let mut heartbeat = Heartbeat::new(Arc::clone(&self.storage), "SCHEDULER", daemon_id);
        loop {
            let now = clock.now();
            let (error, next) = match self.pass(now).await {
                Ok(pass) => (None, pass.next_tick),
                Err(e) => (Some(e.to_string()), None),
            };
            heartbeat.beat(error).await;
            // Until the next tick (now, if it is already due), or the longest sleep when
            // no schedule runs or the pass failed.
            let wait = next
                .map_or(MAX_SLEEP, |t| {
                    (t - clock.now()).to_std().unwrap_or(Duration::ZERO)
                })
                .clamp(Duration::from_millis(10), MAX_SLEEP);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The ticks of `cron` due at `now`: after the last one handled, or after the schedule
/// was started, the most recent `max_catchup` of them.
fn due_ticks(
    cron: &CronSchedule,
    state: &InstigatorState,
    now: DateTime<Utc>,
    max_catchup: usize,
) -> Vec<DateTime<Utc>> {
    let after = [state.last_tick_timestamp, state.start_timestamp]
        .into_iter()
        .flatten()
        .fold(f64::MIN, f64::max);
    let after = sluice_core::events::timestamp_to_datetime(after.max(0.0));
    cron.due_between(after, now, max_catchup.max(1))
}

/// A schedule's run key: the scheduled time, and the request's own key when it has one
/// (so that an execution function may request several runs per tick).
fn scheduled_run_key(recorder: &TickRecorder<'_>, request: &RunRequest) -> Option<String> {
    let time = sluice_core::events::timestamp_to_datetime(recorder.timestamp)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(match &request.run_key {
        Some(key) => format!("{time}:{key}"),
        None => time,
    })
}
