//! Sensors: code the daemon evaluates every `minimum_interval` to decide, from the
//! outside world, which runs to request.
//!
//! ```
//! use std::time::Duration;
//! use sluice_core::prelude::*;
//!
//! let new_files = SensorDefinition::builder("new_files")
//!     .job("ingest_job")
//!     .minimum_interval(Duration::from_secs(60))
//!     .evaluation_fn(|ctx| async move {
//!         let seen = ctx.cursor().unwrap_or("").to_owned();
//!         let newest = "b.csv".to_owned(); // list the directory here
//!         if newest.as_str() <= seen.as_str() {
//!             return Ok(SensorResult::skip("no new file"));
//!         }
//!         Ok(SensorResult::requests(vec![RunRequest::new().run_key(&newest)]).cursor(newest))
//!     })
//!     .build();
//! assert_eq!(new_files.name(), "new_files");
//! ```
//!
//! The kinds: a standard sensor ([`SensorDefinition::builder`]); a run status sensor
//! that reacts to runs reaching a status, each run once ([`SensorDefinition::run_status`]);
//! asset sensors that react to new materializations of one key or several
//! ([`SensorDefinition::asset`], [`SensorDefinition::multi_asset`], in [`asset`]); and the
//! [`due_crons`] helper for sensors that follow cron expressions loaded at evaluation
//! time. A sensor targets jobs, or an asset selection
//! ([`SensorBuilder::asset_selection`]) whose assets its requests materialize.

mod asset;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::asset::{AssetKey, AssetSelection};
use crate::events::EventRecord;
use crate::resource::Resources;
use crate::run::RunStatus;
use crate::run_request::{
    DefaultStatus, DynamicPartitionsRequest, EvaluationError, RunRequest, SkipReason, TickOutcome,
};
use crate::schedule::{CronError, CronSchedule};

pub use asset::{
    AssetCursor, AssetCursorError, AssetSensorContext, AssetWatch, MultiAssetSensorContext,
};
use asset::{AssetSensorFn, MultiAssetSensorFn};

/// Dagster's name for what a sensor evaluation returns.
pub type SensorResult = TickOutcome;

impl TickOutcome {
    /// Request these runs.
    pub fn requests(run_requests: Vec<RunRequest>) -> Self {
        Self {
            run_requests,
            ..Self::default()
        }
    }

    /// Request nothing, saying why.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self {
            skip_reason: Some(SkipReason::new(reason)),
            ..Self::default()
        }
    }

    /// Move the sensor's cursor to `cursor`, stored with the tick.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Also add keys to or delete keys from a dynamic partitions set, before the runs
    /// are requested.
    pub fn dynamic_partitions_request(mut self, request: DynamicPartitionsRequest) -> Self {
        self.dynamic_partitions_requests.push(request);
        self
    }
}

/// How often a sensor is evaluated when its definition does not say.
pub const DEFAULT_MINIMUM_INTERVAL: Duration = Duration::from_secs(30);

/// What a sensor's evaluation sees.
#[derive(Debug, Clone)]
pub struct SensorEvaluationContext {
    sensor_name: String,
    cursor: Option<String>,
    last_tick_time: Option<DateTime<Utc>>,
    last_run_key: Option<String>,
    evaluation_time: DateTime<Utc>,
    resources: Arc<Resources>,
}

impl SensorEvaluationContext {
    /// The context of an evaluation of `sensor_name` at `evaluation_time`, with no cursor,
    /// previous tick or resources yet.
    pub fn new(sensor_name: impl Into<String>, evaluation_time: DateTime<Utc>) -> Self {
        Self {
            sensor_name: sensor_name.into(),
            cursor: None,
            last_tick_time: None,
            last_run_key: None,
            evaluation_time,
            resources: Arc::default(),
        }
    }

    /// The resources the sensor requires, set up for this evaluation.
    pub fn with_resources(mut self, resources: Arc<Resources>) -> Self {
        self.resources = resources;
        self
    }

    /// The resource bound to `key` (declared with
    /// [`required_resource`](SensorBuilder::required_resource)), as type `R`.
    pub fn resource<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, EvaluationError> {
        self.resources.for_evaluation(key)
    }

    /// The cursor the previous evaluations left (`None`: none yet).
    pub fn with_cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }

    /// When the previous tick was evaluated and the run key of the last run requested, if any.
    pub fn with_last_tick(
        mut self,
        last_tick_time: Option<DateTime<Utc>>,
        last_run_key: Option<String>,
    ) -> Self {
        self.last_tick_time = last_tick_time;
        self.last_run_key = last_run_key;
        self
    }

    /// The sensor's name.
    pub fn sensor_name(&self) -> &str {
        &self.sensor_name
    }

    /// The cursor the previous evaluations left, if any.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// When the previous tick was evaluated.
    pub fn last_tick_time(&self) -> Option<DateTime<Utc>> {
        self.last_tick_time
    }

    /// The run key of the last run this sensor requested.
    pub fn last_run_key(&self) -> Option<&str> {
        self.last_run_key.as_deref()
    }

    /// The time this evaluation is for (the daemon's clock).
    pub fn evaluation_time(&self) -> DateTime<Utc> {
        self.evaluation_time
    }
}

/// A run that reached a status a run status sensor watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStatusChange {
    /// The storage id of the event that recorded the change; the sensor's cursor.
    pub event_id: i64,
    /// The run id.
    pub run_id: String,
    /// The run's job.
    pub job_name: String,
    /// The status the run reached.
    pub status: RunStatus,
    /// When the run reached the status (seconds since the epoch).
    pub timestamp: f64,
}

/// What a run status sensor's function sees: one run that reached the status.
#[derive(Debug, Clone)]
pub struct RunStatusSensorContext {
    /// The sensor's name.
    pub sensor_name: String,
    /// The run that reached the status.
    pub run: RunStatusChange,
    /// The time this evaluation is for (the daemon's clock).
    pub evaluation_time: DateTime<Utc>,
    resources: Arc<Resources>,
}

impl RunStatusSensorContext {
    /// The resource bound to `key` (declared with
    /// [`required_resource`](SensorBuilder::required_resource)), as type `R`.
    pub fn resource<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, EvaluationError> {
        self.resources.for_evaluation(key)
    }
}

type SensorFn = Arc<
    dyn Fn(SensorEvaluationContext) -> BoxFuture<'static, Result<TickOutcome, EvaluationError>>
        + Send
        + Sync,
>;
type RunStatusFn = Arc<
    dyn Fn(RunStatusSensorContext) -> BoxFuture<'static, Result<Vec<RunRequest>, EvaluationError>>
        + Send
        + Sync,
>;

/// Which runs a run status sensor reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStatusWatch {
    /// The status to react to; `None` reacts to every run that ends (SUCCESS, FAILURE
    /// or CANCELED).
    pub status: Option<RunStatus>,
    /// The jobs whose runs count; empty means all jobs of every location.
    #[serde(default)]
    pub monitored_jobs: Vec<String>,
}

impl RunStatusWatch {
    /// The statuses this watch reacts to.
    pub fn statuses(&self) -> Vec<RunStatus> {
        match self.status {
            Some(status) => vec![status],
            None => vec![RunStatus::Success, RunStatus::Failure, RunStatus::Canceled],
        }
    }

    /// Whether the sensor reacts to `change`: a watched status, of a monitored job.
    pub fn matches(&self, change: &RunStatusChange) -> bool {
        self.statuses().contains(&change.status)
            && (self.monitored_jobs.is_empty() || self.monitored_jobs.contains(&change.job_name))
    }
}

#[derive(Clone)]
enum Evaluation {
    Standard(SensorFn),
    RunStatus {
        watch: RunStatusWatch,
        f: RunStatusFn,
    },
    Asset {
        watch: AssetWatch,
        f: AssetSensorFn,
    },
    MultiAsset {
        watch: AssetWatch,
        f: MultiAssetSensorFn,
    },
}

/// What the daemon read for a sensor before its evaluation: the runs that changed status
/// (for a run status sensor) or the new materializations (for an asset sensor) since its
/// cursor.
#[derive(Debug, Clone, Default)]
pub struct SensorInput {
    /// For a run status sensor: the runs that reached a watched status since the cursor,
    /// oldest first.
    pub run_status_changes: Vec<RunStatusChange>,
    /// For an asset sensor: the new materializations of the watched assets since the
    /// cursor, oldest first.
    pub asset_events: Vec<EventRecord>,
}

/// A sensor (Dagster's `SensorDefinition`, or `run_status_sensor`).
#[derive(Clone)]
pub struct SensorDefinition {
    name: String,
    jobs: Vec<String>,
    minimum_interval: Duration,
    description: Option<String>,
    default_status: DefaultStatus,
    evaluation: Option<Evaluation>,
    asset_selection: Option<AssetSelection>,
    /// The keys `asset_selection` picks, once the definitions are built.
    target_assets: Option<Vec<AssetKey>>,
    /// Resources each evaluation sets up (with their standalone config).
    required_resources: Vec<String>,
}

impl fmt::Debug for SensorDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SensorDefinition")
            .field("name", &self.name)
            .field("jobs", &self.jobs)
            .field("minimum_interval", &self.minimum_interval)
            .finish_non_exhaustive()
    }
}

impl SensorDefinition {
    /// A standard sensor: give it a job and an evaluation function.
    pub fn builder(name: impl Into<String>) -> SensorBuilder {
        SensorBuilder(SensorDefinition {
            name: name.into(),
            jobs: Vec::new(),
            minimum_interval: DEFAULT_MINIMUM_INTERVAL,
            description: None,
            default_status: DefaultStatus::Stopped,
            evaluation: None,
            asset_selection: None,
            target_assets: None,
            required_resources: Vec::new(),
        })
    }

    /// An asset sensor: its function is called once for each new materialization of
    /// `asset_key`, oldest first, and may request runs (Dagster's `asset_sensor`).
    pub fn asset<F, Fut>(name: impl Into<String>, asset_key: AssetKey, f: F) -> SensorBuilder
    where
        F: Fn(AssetSensorContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<RunRequest>, EvaluationError>> + Send + 'static,
    {
        let watch = AssetWatch {
            asset_keys: vec![asset_key],
            multi: false,
        };
        let f: AssetSensorFn = Arc::new(move |ctx| Box::pin(f(ctx)));
        Self::with_evaluation(name, Evaluation::Asset { watch, f })
    }

    /// A multi-asset sensor: its function sees what is new for each of `asset_keys` in
    /// one call, and consumes it with [`MultiAssetSensorContext::advance`] (Dagster's
    /// `multi_asset_sensor`).
    pub fn multi_asset<F, Fut>(
        name: impl Into<String>,
        asset_keys: impl IntoIterator<Item = AssetKey>,
        f: F,
    ) -> SensorBuilder
    where
        F: Fn(MultiAssetSensorContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TickOutcome, EvaluationError>> + Send + 'static,
    {
        let watch = AssetWatch {
            asset_keys: asset_keys.into_iter().collect(),
            multi: true,
        };
        let f: MultiAssetSensorFn = Arc::new(move |ctx| Box::pin(f(ctx)));
        Self::with_evaluation(name, Evaluation::MultiAsset { watch, f })
    }

    fn with_evaluation(name: impl Into<String>, evaluation: Evaluation) -> SensorBuilder {
        let mut builder = Self::builder(name);
        builder.0.evaluation = Some(evaluation);
        builder
    }

    /// A run status sensor: its function is called once for each run of the monitored
    /// jobs that reaches `status` (`None`: that ends in any way), and may request runs.
    pub fn run_status<F, Fut>(
        name: impl Into<String>,
        status: Option<RunStatus>,
        f: F,
    ) -> SensorBuilder
    where
        F: Fn(RunStatusSensorContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<RunRequest>, EvaluationError>> + Send + 'static,
    {
        let watch = RunStatusWatch {
            status,
            monitored_jobs: Vec::new(),
        };
        let f: RunStatusFn = Arc::new(move |ctx| Box::pin(f(ctx)));
        Self::with_evaluation(name, Evaluation::RunStatus { watch, f })
    }

    /// The sensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The jobs it may request runs of; a request that names no job runs the first.
    pub fn jobs(&self) -> &[String] {
        &self.jobs
    }

    /// The least time between two evaluations.
    pub fn minimum_interval(&self) -> Duration {
        self.minimum_interval
    }

    /// The sensor's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The resource keys each evaluation sets up.
    pub fn required_resources(&self) -> &[String] {
        &self.required_resources
    }

    /// Whether the sensor runs before anyone starts or stops it.
    pub fn default_status(&self) -> DefaultStatus {
        self.default_status
    }

    /// For a run status sensor, the runs it watches.
    pub fn run_status_watch(&self) -> Option<&RunStatusWatch> {
        match &self.evaluation {
            Some(Evaluation::RunStatus { watch, .. }) => Some(watch),
            _ => None,
        }
    }

    /// For an asset sensor, the assets it watches.
    pub fn asset_watch(&self) -> Option<&AssetWatch> {
        match &self.evaluation {
            Some(Evaluation::Asset { watch, .. } | Evaluation::MultiAsset { watch, .. }) => {
                Some(watch)
            }
            _ => None,
        }
    }

    /// The asset selection the sensor targets instead of jobs, as written.
    pub fn asset_selection(&self) -> Option<&AssetSelection> {
        self.asset_selection.as_ref()
    }

    /// The assets the sensor's requests may materialize: its asset selection, resolved
    /// when the definitions were built.
    pub fn target_assets(&self) -> Option<&[AssetKey]> {
        self.target_assets.as_deref()
    }

    pub(crate) fn set_target_assets(&mut self, keys: Vec<AssetKey>) {
        self.target_assets = Some(keys);
    }

    pub(crate) fn has_evaluation(&self) -> bool {
        self.evaluation.is_some()
    }

    /// Evaluate the sensor once, on what the daemon read for it.
    pub async fn evaluate(
        &self,
        ctx: SensorEvaluationContext,
        input: SensorInput,
    ) -> Result<TickOutcome, EvaluationError> {
        match &self.evaluation {
            None => Err(EvaluationError::msg(format!(
                "sensor \"{}\" has no evaluation function",
                self.name
            ))),
            Some(Evaluation::Standard(f)) => f(ctx).await,
            Some(Evaluation::Asset { watch, f }) => {
                asset::evaluate_asset(&ctx, watch, f, input.asset_events).await
            }
            Some(Evaluation::MultiAsset { watch, f }) => {
                asset::evaluate_multi_asset(&ctx, watch, f, input.asset_events).await
            }
            Some(Evaluation::RunStatus { watch, f }) => {
                let mut outcome = TickOutcome::default();
                let mut seen = 0;
                let changes = input.run_status_changes;
                for change in changes.into_iter().filter(|c| watch.matches(c)) {
                    seen += 1;
                    let reaction = RunStatusSensorContext {
                        sensor_name: self.name.clone(),
                        run: change,
                        evaluation_time: ctx.evaluation_time,
                        resources: Arc::clone(&ctx.resources),
                    };
                    outcome.run_requests.extend(f(reaction).await?);
                }
                if outcome.run_requests.is_empty() {
                    outcome.skip_reason = Some(SkipReason::new(match seen {
                        0 => "no run reached the watched status".to_owned(),
                        n => format!("{n} run(s) seen; none requested a run"),
                    }));
                }
                Ok(outcome)
            }
        }
    }
}

/// Builds a [`SensorDefinition`].
#[must_use]
pub struct SensorBuilder(SensorDefinition);

impl SensorBuilder {
    /// A job the sensor requests runs of (repeat for several).
    pub fn job(mut self, job_name: impl Into<String>) -> Self {
        self.0.jobs.push(job_name.into());
        self
    }

    /// The least time between two evaluations (30 s when not set).
    pub fn minimum_interval(mut self, interval: Duration) -> Self {
        self.0.minimum_interval = interval;
        self
    }

    /// A description, shown in the UI.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.0.description = Some(description.into());
        self
    }

    /// Whether the sensor runs before anyone starts it (stopped by default).
    pub fn default_status(mut self, status: DefaultStatus) -> Self {
        self.0.default_status = status;
        self
    }

    /// For a run status sensor: only runs of these jobs count (all jobs when not set).
    pub fn monitored_jobs(mut self, jobs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        if let Some(Evaluation::RunStatus { watch, .. }) = &mut self.0.evaluation {
            watch.monitored_jobs = jobs.into_iter().map(Into::into).collect();
        }
        self
    }

    /// Target the assets `selection` picks instead of a job: a request that names no job
    /// materializes them (or the part of them its `asset_selection` names) in a run of
    /// the location's asset job (Dagster's `@sensor(asset_selection=...)`).
    pub fn asset_selection(mut self, selection: AssetSelection) -> Self {
        self.0.asset_selection = Some(selection);
        self
    }

    /// The function that decides each tick's run requests, skip reason and cursor.
    pub fn evaluation_fn<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(SensorEvaluationContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TickOutcome, EvaluationError>> + Send + 'static,
    {
        self.0.evaluation = Some(Evaluation::Standard(Arc::new(move |ctx| Box::pin(f(ctx)))));
        self
    }

    /// A resource the evaluation uses ([`SensorEvaluationContext::resource`]); it is set
    /// up before each evaluation with the config it is bound with, and torn down after.
    pub fn required_resource(mut self, key: impl Into<String>) -> Self {
        self.0.required_resources.push(key.into());
        self
    }

    /// The sensor; it is validated with the other definitions.
    pub fn build(self) -> SensorDefinition {
        self.0
    }
}

/// One cron expression a dynamic-cron sensor follows, e.g. a report's schedule loaded
/// from an admin API at evaluation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronEntry {
    /// What the expression belongs to (a report id, say); part of each run key.
    pub key: String,
    /// The cron expression (`0 9 * * 1-5`).
    pub cron: String,
    /// IANA name; UTC when `None`.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// An entry whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCron {
    /// The [`CronEntry::key`] of the entry that is due.
    pub key: String,
    /// The tick that is due.
    pub scheduled_time: DateTime<Utc>,
}

impl DueCron {
    /// `KEY@RFC3339-TIME`: unique per entry and tick, so that a tick is launched once.
    pub fn run_key(&self) -> String {
        format!(
            "{}@{}",
            self.key,
            self.scheduled_time
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// Which dynamic cron entries are due.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCrons {
    /// At most one per entry: its most recent time since the cursor.
    pub due: Vec<DueCron>,
    /// Entries whose expression or timezone cannot be used, with why.
    pub invalid: Vec<(String, CronError)>,
    /// The cursor to store: the evaluation time.
    pub cursor: String,
}

/// Decide which of `entries` fired in `(cursor, now]`. The cursor is the previous
/// evaluation time (RFC 3339) that this function returned; without one nothing is due
/// yet, so a new sensor does not replay the past. Entries that changed since the last
/// evaluation apply at once: nothing is remembered but the time.
pub fn due_crons(
    entries: &[CronEntry],
    cursor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DueCrons, EvaluationError> {
    let since = match cursor {
        None | Some("") => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|e| {
                    EvaluationError::msg(format!(
                        "the cursor \"{text}\" is not an RFC 3339 time ({e}); reset the sensor's cursor"
                    ))
                })?
                .with_timezone(&Utc),
        ),
    };
    let mut result = DueCrons {
        due: Vec::new(),
        invalid: Vec::new(),
        cursor: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    for entry in entries {
        let schedule = match CronSchedule::parse(&entry.cron, entry.timezone.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                result.invalid.push((entry.key.clone(), e));
                continue;
            }
        };
        if let Some(since) = since
            && let Some(&scheduled_time) = schedule.due_between(since, now, 1).last()
        {
            result.due.push(DueCron {
                key: entry.key.clone(),
                scheduled_time,
            });
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn change(event_id: i64, job: &str, status: RunStatus) -> RunStatusChange {
        RunStatusChange {
            event_id,
            run_id: format!("run-{event_id}"),
            job_name: job.into(),
            status,
            timestamp: 0.0,
        }
    }

    use crate::events::{EventData, EventType, RunEvent};

    fn materialized(storage_id: i64, key: &str, partition: Option<&str>) -> EventRecord {
        let mut materialization =
            crate::events::AssetMaterialization::new(AssetKey::parse(key).unwrap());
        materialization.partition = partition.map(str::to_owned);
        EventRecord {
            storage_id,
            event: RunEvent::new("run", EventType::AssetMaterialization, "")
                .data(EventData::Materialization(Box::new(materialization))),
        }
    }

    fn events(asset_events: Vec<EventRecord>) -> SensorInput {
        SensorInput {
            asset_events,
            ..SensorInput::default()
        }
    }

    #[tokio::test]
    async fn an_asset_sensor_is_called_once_per_new_materialization_oldest_first() {
        let key = AssetKey::parse("raw/orders").unwrap();
        let sensor = SensorDefinition::asset("on_orders", key.clone(), |ctx| async move {
            let partition = ctx.materialization().unwrap().partition.clone().unwrap();
            Ok(vec![RunRequest::new().partition_key(partition)])
        })
        .job("refresh")
        .build();
        let ctx = SensorEvaluationContext::new("on_orders", utc("2026-01-01T00:00:00Z"))
            .with_cursor(Some(r#"{"raw/orders": 2}"#.into()));
        let outcome = sensor
            .evaluate(
                ctx.clone(),
                events(vec![
                    materialized(9, "raw/orders", Some("b")),
                    materialized(5, "raw/orders", Some("a")),
                    materialized(7, "other", Some("x")),
                ]),
            )
            .await
            .unwrap();
        let partitions: Vec<_> = outcome
            .run_requests
            .iter()
            .map(|r| r.partition_key.as_deref().unwrap())
            .collect();
        assert_eq!(partitions, ["a", "b"]);
        assert_eq!(outcome.cursor.as_deref(), Some(r#"{"raw/orders":9}"#));

        let skipped = sensor.evaluate(ctx, events(vec![])).await.unwrap();
        assert!(skipped.run_requests.is_empty());
        assert_eq!(skipped.cursor.as_deref(), Some(r#"{"raw/orders":2}"#));
        let bad = SensorEvaluationContext::new("on_orders", utc("2026-01-01T00:00:00Z"))
            .with_cursor(Some("12".into()));
        let error = sensor.evaluate(bad, events(vec![])).await.unwrap_err();
        assert!(error.to_string().contains("\"12\""), "{error}");
    }

    #[tokio::test]
    async fn every_kind_of_sensor_sees_the_resources_of_its_evaluation() {
        use crate::resource::{ResourceDefinition, Resources};
        let resources = Resources::setup(
            vec![(
                "folder".to_owned(),
                ResourceDefinition::value("manifests".to_owned()),
                serde_json::Value::Null,
            )],
            None,
        )
        .await
        .unwrap();
        let ctx = SensorEvaluationContext::new("s", utc("2026-01-01T00:00:00Z"))
            .with_resources(Arc::new(resources));
        let tagged = |folder: Arc<String>| RunRequest::new().tag("folder", folder.as_str());
        let asset =
            SensorDefinition::asset("a", AssetKey::parse("a").unwrap(), move |ctx| async move {
                Ok(vec![tagged(ctx.resource::<String>("folder")?)])
            })
            .job("j")
            .build();
        let multi = SensorDefinition::multi_asset(
            "m",
            [AssetKey::parse("a").unwrap()],
            move |ctx| async move {
                ctx.advance_all();
                Ok(SensorResult::requests(vec![tagged(
                    ctx.resource::<String>("folder")?,
                )]))
            },
        )
        .job("j")
        .build();
        let on_failure =
            SensorDefinition::run_status("r", Some(RunStatus::Failure), move |ctx| async move {
                Ok(vec![tagged(ctx.resource::<String>("folder")?)])
            })
            .job("j")
            .build();
        let failed = SensorInput {
            run_status_changes: vec![change(1, "j", RunStatus::Failure)],
            ..SensorInput::default()
        };
        for (sensor, input) in [
            (&asset, events(vec![materialized(1, "a", None)])),
            (&multi, events(vec![materialized(1, "a", None)])),
            (&on_failure, failed),
        ] {
            let outcome = sensor.evaluate(ctx.clone(), input).await.unwrap();
            assert_eq!(
                outcome.run_requests[0]
                    .tags
                    .get("folder")
                    .map(String::as_str),
                Some("manifests"),
                "{}",
                sensor.name()
            );
        }
        let missing = sensor_missing_resource(&asset).await;
        assert!(
            missing.contains("\"folder\"") && missing.contains("declare it"),
            "{missing}"
        );
    }

    /// The error of `sensor` evaluated without the resources it uses.
    async fn sensor_missing_resource(sensor: &SensorDefinition) -> String {
        let bare = SensorEvaluationContext::new("s", utc("2026-01-01T00:00:00Z"));
        sensor
            .evaluate(bare, events(vec![materialized(1, "a", None)]))
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn a_multi_asset_sensor_consumes_only_what_it_advances() {
        let (a, b) = (AssetKey::parse("a").unwrap(), AssetKey::parse("b").unwrap());
        let sensor =
            SensorDefinition::multi_asset("both", [a.clone(), b.clone()], |ctx| async move {
                if !ctx.all_updated() {
                    let waiting: Vec<_> = ctx.updated_keys().map(ToString::to_string).collect();
                    return Ok(SensorResult::skip(format!(
                        "only {} updated",
                        waiting.join(",")
                    )));
                }
                ctx.advance_all();
                Ok(SensorResult::requests(vec![RunRequest::new()]))
            })
            .job("join")
            .build();
        let ctx = SensorEvaluationContext::new("both", utc("2026-01-01T00:00:00Z"));
        let waiting = sensor
            .evaluate(ctx.clone(), events(vec![materialized(3, "a", None)]))
            .await
            .unwrap();
        assert_eq!(waiting.skip_reason.unwrap().0, "only a updated");
        assert_eq!(waiting.cursor.as_deref(), Some("{}"));
        let fired = sensor
            .evaluate(
                ctx,
                events(vec![materialized(3, "a", None), materialized(4, "b", None)]),
            )
            .await
            .unwrap();
        assert_eq!(fired.run_requests.len(), 1);
        assert_eq!(fired.cursor.as_deref(), Some(r#"{"a":3,"b":4}"#));
    }

    #[tokio::test]
    async fn a_run_status_sensor_reacts_to_matching_runs_only() {
        let sensor = SensorDefinition::run_status(
            "on_failure",
            Some(RunStatus::Failure),
            |ctx| async move {
                Ok(vec![
                    RunRequest::new()
                        .run_key(ctx.run.run_id.clone())
                        .job("alert_job"),
                ])
            },
        )
        .monitored_jobs(["billing"])
        .build();
        let changes = vec![
            change(1, "billing", RunStatus::Failure),
            change(2, "billing", RunStatus::Success),
            change(3, "other", RunStatus::Failure),
        ];
        let ctx = SensorEvaluationContext::new("on_failure", utc("2026-01-01T00:00:00Z"));
        let input = |run_status_changes| SensorInput {
            run_status_changes,
            ..SensorInput::default()
        };
        let outcome = sensor.evaluate(ctx.clone(), input(changes)).await.unwrap();
        assert_eq!(outcome.run_requests.len(), 1);
        assert_eq!(outcome.run_requests[0].run_key.as_deref(), Some("run-1"));
        let outcome = sensor
            .evaluate(ctx, input(vec![change(4, "billing", RunStatus::Success)]))
            .await
            .unwrap();
        assert!(outcome.run_requests.is_empty());
        assert!(outcome.skip_reason.is_some());
    }

    #[test]
    fn any_end_watches_the_three_final_statuses() {
        let watch = RunStatusWatch {
            status: None,
            monitored_jobs: vec![],
        };
        assert!(watch.matches(&change(1, "j", RunStatus::Canceled)));
        assert!(!watch.matches(&change(1, "j", RunStatus::Started)));
    }

    #[test]
    fn due_crons_fire_each_entry_once_since_the_cursor() {
        let entries = vec![
            CronEntry {
                key: "hourly_report".into(),
                cron: "5 * * * *".into(),
                timezone: None,
            },
            CronEntry {
                key: "monday_report".into(),
                cron: "0 3 * * MON".into(),
                timezone: Some("Europe/Berlin".into()),
            },
            CronEntry {
                key: "broken".into(),
                cron: "every day".into(),
                timezone: None,
            },
        ];
        // First evaluation: nothing is due, the cursor starts now.
        let first = due_crons(&entries, None, utc("2026-01-05T01:00:00Z")).unwrap();
        assert!(first.due.is_empty());
        assert_eq!(first.invalid.len(), 1);
        assert_eq!(first.invalid[0].0, "broken");
        // Three hours later: the hourly entry is due once (its latest time), and Monday
        // 03:00 in Berlin (02:00 UTC) is due.
        let later = due_crons(&entries, Some(&first.cursor), utc("2026-01-05T04:00:00Z")).unwrap();
        let keys: Vec<String> = later.due.iter().map(DueCron::run_key).collect();
        assert_eq!(
            keys,
            [
                "hourly_report@2026-01-05T03:05:00Z",
                "monday_report@2026-01-05T02:00:00Z"
            ]
        );
        // Nothing new a minute later.
        let again = due_crons(&entries, Some(&later.cursor), utc("2026-01-05T04:01:00Z")).unwrap();
        assert!(again.due.is_empty());
        let bad = due_crons(&entries, Some("yesterday"), utc("2026-01-05T04:01:00Z"));
        assert!(bad.unwrap_err().to_string().contains("\"yesterday\""));
    }
}
