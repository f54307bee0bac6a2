//! The sensor daemon: evaluates each running sensor through its code server once every
//! `minimum_interval`, and records each evaluation as a tick.
//!
//! Evaluations run concurrently, at most `sensors.max_concurrent_evaluations` at once,
//! each on its own task: a slow sensor delays nobody else, and one that outlives its
//! time limit fails its own tick. A run request's run key is claimed in the transaction
//! that creates its run, so a key launches one run per sensor, ever; the cursor moves
//! only with a tick that did not fail.
//!
//! A run status sensor's cursor is the event log position it has read up to: the daemon
//! reads the runs that reached a watched status since then and hands them to the
//! sensor, so each run is seen once. It starts from the end of the log when the sensor
//! is first evaluated.
//!
//! An asset sensor's cursor holds, per watched key, the last materialization it
//! consumed: the daemon reads each key's materializations after it from the asset index
//! (only the latest, for a key the cursor does not name yet) and skips the tick without
//! calling user code when nothing is new.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_codeserver::protocol::{EvaluateSensor, Evaluation};
use sluice_codeserver::{Location, Workspace};
use sluice_core::events::EventRecord;
use sluice_core::events::datetime_to_timestamp;
use sluice_core::run_request::{RunRequest, TickOutcome};
use sluice_core::sensor::{AssetCursor, AssetCursorError, AssetWatch, RunStatusWatch};
use sluice_core::snapshot::{LocationSnapshot, SensorSnapshot};
use sluice_storage::{
    InstigatorKey, InstigatorState, InstigatorType, MaterializationsFilter, Storage, StorageError,
    Tick, TickStatus, TicksFilter, Wakeup,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::instigation::{Clock, TickPolicy, TickRecorder, is_running};
use crate::settings::SensorsConfig;
use crate::{DaemonError, Heartbeat};

/// How often the daemon re-reads sensor states and the workspace, at most.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// The most run status changes handed to one evaluation.
const RUN_STATUS_PAGE: usize = 200;
/// The most materializations of one key handed to one evaluation.
const ASSET_EVENTS_PAGE: usize = 200;

/// The sensor daemon.
#[derive(Clone)]
pub struct SensorDaemon {
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    config: SensorsConfig,
    queue: Wakeup,
}

/// A running sensor with what it takes to evaluate it.
#[derive(Clone)]
struct DueSensor {
    location: Location,
    snapshot: Arc<LocationSnapshot>,
    sensor: SensorSnapshot,
    key: InstigatorKey,
    state: Option<InstigatorState>,
}

impl DueSensor {
    fn interval(&self) -> f64 {
        self.sensor.minimum_interval_seconds.max(1) as f64
    }
}

impl SensorDaemon {
    /// A sensor daemon that queues runs in `storage` and wakes the run queue through
    /// `queue`.
    pub fn new(
        storage: Arc<dyn Storage>,
        workspace: Workspace,
        config: SensorsConfig,
        queue: Wakeup,
    ) -> Self {
        Self {
            storage,
            workspace,
            config,
            queue,
        }
    }

    /// The running sensors of every loaded location, with their stored states.
    async fn running(&self) -> Result<Vec<DueSensor>, DaemonError> {
        let states = self.storage.instigator_states().await?;
        let mut running = Vec::new();
        for location in self.workspace.locations().await {
            let Some(snapshot) = location.snapshot().cloned() else {
                continue;
            };
            for sensor in &snapshot.sensors {
                let key = InstigatorKey::new(&location.name, &sensor.name, InstigatorType::Sensor);
                let state = states.get(&key.selector_id()).cloned();
                if is_running(state.as_ref(), sensor.default_status) {
                    running.push(DueSensor {
                        location: location.clone(),
                        snapshot: Arc::clone(&snapshot),
                        sensor: sensor.clone(),
                        key,
                        state,
                    });
                }
            }
        }
        Ok(running)
    }

    /// Evaluate, one after another, every running sensor whose interval has passed at
    /// `now`, and return their ticks. What the loop does, in one call, for tests.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Vec<(String, Tick)>, DaemonError> {
        let mut ticks = Vec::new();
        for due in self.running().await? {
            let last = due.state.as_ref().and_then(|s| s.last_tick_timestamp);
            if last.is_some_and(|t| datetime_to_timestamp(now) - t < due.interval()) {
                continue;
            }
            let tick = self.evaluate(&due, now).await?;
            ticks.push((due.sensor.name.clone(), tick));
        }
        Ok(ticks)
    }

    /// Evaluate one sensor at `now` and record its tick.
    async fn evaluate(&self, due: &DueSensor, now: DateTime<Utc>) -> Result<Tick, StorageError> {
        let timestamp = datetime_to_timestamp(now);
        let recorder = TickRecorder {
            storage: self.storage.as_ref(),
            snapshot: &due.snapshot,
            instigator: &due.key,
            queue: &self.queue,
            timestamp,
        };
        let state = due.state.as_ref();
        let mut request = EvaluateSensor {
            sensor_name: due.sensor.name.clone(),
            evaluation_time: timestamp,
            cursor: state.and_then(|s| s.cursor.clone()),
            last_tick_time: state.and_then(|s| s.last_tick_timestamp),
            last_run_key: state.and_then(|s| s.last_run_key.clone()),
            run_status_changes: Vec::new(),
            asset_events: Vec::new(),
            timeout_seconds: self.config.evaluation_timeout_seconds,
        };
        let mut cursor = None;
        // Nothing to show the sensor: the daemon skips without asking user code.
        let skip = |reason: String, cursor: Option<String>| {
            let evaluation = Ok(Evaluation::Evaluated(TickOutcome::skip(reason)));
            recorder.record(None, evaluation, sensor_policy(cursor))
        };
        let bad_cursor = |message: String| {
            let error = sluice_core::events::ErrorInfo::new("InvalidCursor", message);
            recorder.record(None, Ok(Evaluation::Failed(error)), sensor_policy(None))
        };
        if let Some(watch) = &due.sensor.asset_watch {
            match self.asset_events(watch, request.cursor.as_deref()).await? {
                Err(e) => {
                    return bad_cursor(format!(
                        "asset sensor \"{}\": {e}; fix it or clear the cursor",
                        due.sensor.name
                    ))
                    .await;
                }
                Ok(events) if events.is_empty() => {
                    let keys: Vec<String> =
                        watch.asset_keys.iter().map(ToString::to_string).collect();
                    let reason = format!("no new materialization of {}", keys.join(", "));
                    return skip(reason, request.cursor.clone()).await;
                }
                Ok(events) => request.asset_events = events,
            }
        }
        if let Some(watch) = &due.sensor.run_status {
            match self
                .run_status_changes(watch, request.cursor.as_deref())
                .await?
            {
                RunStatusRead::BadCursor(cursor) => {
                    return bad_cursor(format!(
                        "the cursor \"{cursor}\" of run status sensor \"{}\" is not an event id; \
                         set a number or clear the cursor to watch from now on",
                        due.sensor.name
                    ))
                    .await;
                }
                RunStatusRead::Start(at) => {
                    let reason = format!("watching runs from event {at} of the event log on");
                    return skip(reason, Some(at.to_string())).await;
                }
                RunStatusRead::Changes { changes, read_to } if changes.is_empty() => {
                    let reason = "no run reached the watched status".to_owned();
                    return skip(reason, Some(read_to.to_string())).await;
                }
                RunStatusRead::Changes { changes, read_to } => {
                    cursor = Some(read_to.to_string());
                    request.run_status_changes = changes;
                }
            }
        }
        let evaluation = due.location.client.evaluate_sensor(&request).await;
        let tick = recorder
            .record(None, evaluation, sensor_policy(cursor))
            .await?;
        if tick.result.status == TickStatus::Failure {
            let message = tick
                .result
                .error
                .as_ref()
                .map_or("", |e| e.message.as_str());
            tracing::warn!(sensor = %due.sensor.name, "tick failed: {message}");
        }
        Ok(tick)
    }

    /// What an asset sensor should see since `cursor`: for each watched key, the
    /// materializations after the cursor's id, oldest first (the latest only, for a key
    /// the cursor does not name).
    async fn asset_events(
        &self,
        watch: &AssetWatch,
        cursor: Option<&str>,
    ) -> Result<Result<Vec<EventRecord>, AssetCursorError>, StorageError> {
        let cursor = match AssetCursor::parse(cursor) {
            Ok(cursor) => cursor,
            Err(e) => return Ok(Err(e)),
        };
        let mut events = Vec::new();
        for key in &watch.asset_keys {
            match cursor.get(key) {
                None => events.extend(self.storage.latest_materialization(key).await?),
                Some(after) => {
                    let filter = MaterializationsFilter {
                        after_id: Some(after),
                        oldest_first: true,
                        limit: Some(ASSET_EVENTS_PAGE),
                        ..MaterializationsFilter::default()
                    };
                    events.extend(self.storage.asset_materializations(key, &filter).await?);
                }
            }
        }
        Ok(Ok(events))
    }

    /// What a run status sensor should see since `cursor`.
    async fn run_status_changes(
        &self,
        watch: &RunStatusWatch,
        cursor: Option<&str>,
    ) -> Result<RunStatusRead, StorageError> {
        let after = match cursor {
            None => {
                let at = self.storage.latest_event_id().await?.unwrap_or(0);
                return Ok(RunStatusRead::Start(at));
            }
            Some(c) => match c.trim().parse::<i64>() {
                Ok(after) => after,
                Err(_) => return Ok(RunStatusRead::BadCursor(c.to_owned())),
            },
        };
        let changes = self
            .storage
            .run_status_changes(after, &watch.statuses(), RUN_STATUS_PAGE)
            .await?;
        let read_to = changes.last().map_or(after, |c| c.event_id);
        Ok(RunStatusRead::Changes {
            changes: changes.into_iter().filter(|c| watch.matches(c)).collect(),
            read_to,
        })
    }

    /// End ticks that an earlier daemon left STARTED: their sensor's next tick asks for
    /// the same runs again, and run keys keep those from being created twice.
    async fn end_interrupted_ticks(&self) -> Result<(), StorageError> {
        let filter = TicksFilter {
            statuses: vec![TickStatus::Started],
            ..TicksFilter::default()
        };
        for tick in self.storage.ticks(None, &filter).await? {
            let Some(state) = self.storage.instigator_state(&tick.selector_id).await? else {
                continue;
            };
            if state.key.instigator_type != InstigatorType::Sensor {
                continue;
            }
            let mut result = tick.result.clone();
            result.status = TickStatus::Failure;
            result.cursor = None;
            result.error = Some(sluice_core::events::ErrorInfo::new(
                "Interrupted",
                "the daemon stopped during this tick; the next tick requests its runs again, \
                 and their run keys keep them from being created twice",
            ));
            self.storage.end_tick(&state.key, tick.id, &result).await?;
        }
        Ok(())
    }

    /// Evaluate sensors until `shutdown`: each as soon as its interval has passed, on a
    /// task of its own, at most `max_concurrent_evaluations` at once.
    pub async fn run(&self, clock: Arc<dyn Clock>, daemon_id: &str, shutdown: CancellationToken) {
        let mut heartbeat = Heartbeat::new(Arc::clone(&self.storage), "SENSOR", daemon_id);
        if let Err(e) = self.end_interrupted_ticks().await {
            heartbeat.beat(Some(e.to_string())).await;
        }
        let slots = Arc::new(Semaphore::new(
            self.config.max_concurrent_evaluations.max(1),
        ));
        // Sensors being evaluated, and when each was last evaluated here (storage learns
        // it when the tick is stored; this keeps the loop from asking twice meanwhile).
        let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
        let evaluated: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
        let this = Arc::new(self.clone());
        let mut running = Vec::new();
        let mut refreshed: Option<std::time::Instant> = None;
        loop {
            if refreshed.is_none_or(|t| t.elapsed() >= REFRESH_EVERY) {
                let error = match self.running().await {
                    Ok(list) => {
                        running = list;
                        None
                    }
                    Err(e) => Some(e.to_string()),
                };
                refreshed = Some(std::time::Instant::now());
                heartbeat.beat(error).await;
            }
            let now = datetime_to_timestamp(clock.now());
            let mut next_due = now + REFRESH_EVERY.as_secs_f64();
            for due in &running {
                let id = due.key.selector_id();
                let stored = due.state.as_ref().and_then(|s| s.last_tick_timestamp);
                let local = lock(&evaluated).get(&id).copied();
                let last = stored.into_iter().chain(local).fold(f64::MIN, f64::max);
                let due_at = last + due.interval();
                if due_at > now {
                    next_due = next_due.min(due_at);
                    continue;
                }
                if !lock(&in_flight).insert(id.clone()) {
                    continue;
                }
                let (this, due, slots, clock) = (
                    Arc::clone(&this),
                    due.clone(),
                    Arc::clone(&slots),
                    Arc::clone(&clock),
                );
                let (in_flight, evaluated) = (Arc::clone(&in_flight), Arc::clone(&evaluated));
                tokio::spawn(async move {
                    let Ok(_slot) = slots.acquire().await else {
                        return;
                    };
                    let now = clock.now();
                    lock(&evaluated).insert(id.clone(), datetime_to_timestamp(now));
                    if let Err(e) = this.evaluate(&due, now).await {
                        tracing::error!(sensor = %due.sensor.name, "cannot record the tick: {e}");
                    }
                    lock(&in_flight).remove(&id);
                });
            }
            let wait = Duration::try_from_secs_f64(next_due - datetime_to_timestamp(clock.now()))
                .unwrap_or_default()
                .clamp(Duration::from_millis(10), REFRESH_EVERY);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a run status sensor reads from the event log.
enum RunStatusRead {
    /// Its cursor is not an event id.
    BadCursor(String),
    /// First evaluation: start watching at this event id.
    Start(i64),
    /// The matching changes since the cursor, and the event id read up to.
    Changes {
        changes: Vec<sluice_core::sensor::RunStatusChange>,
        read_to: i64,
    },
}

/// A sensor's run key is the request's own; a request without one is not deduplicated.
fn sensor_policy(cursor: Option<String>) -> TickPolicy {
    fn own_key(_: &TickRecorder<'_>, request: &RunRequest) -> Option<String> {
        request.run_key.clone()
    }
    TickPolicy {
        cursor,
        run_key: own_key,
    }
}
