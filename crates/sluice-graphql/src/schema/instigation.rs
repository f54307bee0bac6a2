//! Schedules and sensors (Dagster's "instigators"): their definitions, states, ticks,
//! and the queries and mutations over them, in Dagster's names and shapes.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Union};
use chrono::{DateTime, Utc};
use sluice_codeserver::protocol::{EvaluateSchedule, Evaluation};
use sluice_core::events::{datetime_to_timestamp, now_timestamp, timestamp_to_datetime};
use sluice_core::run::{SCHEDULE_NAME_TAG, SENSOR_NAME_TAG};
use sluice_core::run_request::DefaultStatus;
use sluice_core::schedule::CronSchedule;
use sluice_core::snapshot::REPOSITORY_NAME;
use sluice_storage::{
    DynamicPartitionsAction, InstigatorStatus, InstigatorType, RunsFilter, Tick, TickStatus,
    TicksFilter,
};

use crate::schema::errors::{
    InstigationStateNotFoundError, PythonError, RepositoryNotFoundError, ScheduleNotFoundError,
    SensorNotFoundError, UnauthorizedError,
};
use crate::schema::events::{DefinitionTag, LogLevel, MetadataEntryInterface};
use crate::schema::inputs::{
    InstigationSelector, RepositorySelector, ScheduleSelector, SensorSelector,
};
use crate::schema::runs::{AssetKey, Run};
use crate::schema::service;
use crate::schema::workspace::{DefinitionOwner, PipelineTag, RepositoryOrigin};
use sluice_service::Error as ServiceError;
use sluice_service::instigators::{Instigator, InstigatorDefinition};
use sluice_service::page_limit;

/// Whether a schedule or sensor is on.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum InstigationStatus {
    /// The daemon evaluates it.
    Running,
    /// The daemon leaves it alone.
    Stopped,
}

impl From<InstigatorStatus> for InstigationStatus {
    fn from(status: InstigatorStatus) -> Self {
        match status {
            InstigatorStatus::Running => Self::Running,
            InstigatorStatus::Stopped => Self::Stopped,
        }
    }
}

impl From<DefaultStatus> for InstigationStatus {
    fn from(status: DefaultStatus) -> Self {
        InstigatorStatus::from(status).into()
    }
}

/// What kind of instigator.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum InstigationType {
    /// A schedule.
    Schedule,
    /// A sensor.
    Sensor,
    /// Dagster's asset auto-materialization (Sluice has none).
    AutoMaterialize,
}

impl From<InstigatorType> for InstigationType {
    fn from(t: InstigatorType) -> Self {
        match t {
            InstigatorType::Schedule => Self::Schedule,
            InstigatorType::Sensor => Self::Sensor,
        }
    }
}

/// How a tick went.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum InstigationTickStatus {
    /// In progress.
    Started,
    /// Requested no run.
    Skipped,
    /// Requested runs.
    Success,
    /// Failed.
    Failure,
}

impl From<TickStatus> for InstigationTickStatus {
    fn from(s: TickStatus) -> Self {
        match s {
            TickStatus::Started => Self::Started,
            TickStatus::Skipped => Self::Skipped,
            TickStatus::Success => Self::Success,
            TickStatus::Failure => Self::Failure,
        }
    }
}

impl InstigationTickStatus {
    fn to_core(self) -> TickStatus {
        match self {
            Self::Started => TickStatus::Started,
            Self::Skipped => TickStatus::Skipped,
            Self::Success => TickStatus::Success,
            Self::Failure => TickStatus::Failure,
        }
    }
}

/// What kind of sensor.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SensorType {
    /// Code that requests runs.
    Standard,
    /// Reacts to runs reaching a status.
    RunStatus,
    /// Reacts to each new materialization of one asset.
    Asset,
    /// Reacts to new materializations of several assets at once.
    MultiAsset,
    /// Dagster's freshness policy sensor (not in Sluice).
    FreshnessPolicy,
    /// Dagster's auto-materialize sensor (not in Sluice).
    AutoMaterialize,
    /// Dagster's automation condition sensor (not in Sluice).
    Automation,
    /// Unknown.
    Unknown,
}

/// A schedule.
#[derive(Clone, Debug)]
pub struct Schedule(pub Arc<Instigator>);

impl Schedule {
    fn definition(&self) -> &sluice_core::snapshot::ScheduleSnapshot {
        match &self.0.definition {
            InstigatorDefinition::Schedule(s) => s,
            InstigatorDefinition::Sensor(_) => unreachable!("a Schedule wraps a schedule"),
        }
    }

    fn cron(&self) -> Option<CronSchedule> {
        let d = self.definition();
        CronSchedule::parse(&d.cron_schedule, d.execution_timezone.as_deref()).ok()
    }
}

#[Object]
impl Schedule {
    async fn id(&self) -> ID {
        ID(self.0.selector_id())
    }
    async fn name(&self) -> &str {
        self.0.name()
    }
    async fn cron_schedule(&self) -> &str {
        &self.definition().cron_schedule
    }
    async fn pipeline_name(&self) -> &str {
        &self.definition().job_name
    }
    async fn solid_selection(&self) -> Option<Vec<Option<String>>> {
        None
    }
    async fn mode(&self) -> &str {
        "default"
    }
    async fn execution_timezone(&self) -> Option<&str> {
        Some(
            self.definition()
                .execution_timezone
                .as_deref()
                .unwrap_or("UTC"),
        )
    }
    async fn description(&self) -> Option<&str> {
        self.definition().description.as_deref()
    }
    async fn default_status(&self) -> InstigationStatus {
        self.definition().default_status.into()
    }
    async fn can_reset(&self) -> bool {
        self.0.can_reset()
    }
    async fn schedule_state(&self) -> InstigationState {
        InstigationState(Arc::clone(&self.0))
    }
    /// The schedule's next ticks after `cursor` (now, by default), at most `limit`
    /// (10), none after `until`.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn future_ticks(
        &self,
        cursor: Option<f64>,
        limit: Option<i32>,
        until: Option<f64>,
    ) -> DryRunInstigationTicks {
        let start = cursor.map_or_else(Utc::now, timestamp_to_datetime);
        let limit = limit.unwrap_or(10).clamp(0, 1000) as usize;
        let until = until.map(timestamp_to_datetime);
        let times: Vec<DateTime<Utc>> = self.cron().map_or_else(Vec::new, |cron| {
            cron.ticks_after(start)
                .take(limit)
                .take_while(|t| until.is_none_or(|u| *t <= u))
                .collect()
        });
        let cursor = times
            .last()
            .map_or(datetime_to_timestamp(start), |t| datetime_to_timestamp(*t));
        DryRunInstigationTicks {
            results: times
                .into_iter()
                .map(|t| DryRunInstigationTick::schedule(&self.0, t))
                .collect(),
            cursor,
        }
    }
    /// The tick at `tick_timestamp`, to evaluate as a dry run.
    async fn future_tick(&self, tick_timestamp: i32) -> DryRunInstigationTick {
        DryRunInstigationTick::schedule(&self.0, timestamp_to_datetime(f64::from(tick_timestamp)))
    }
    /// Tick times around `start_timestamp` (now): `lower_limit` before, `upper_limit` after.
    async fn potential_tick_timestamps(
        &self,
        start_timestamp: Option<f64>,
        upper_limit: Option<i32>,
        lower_limit: Option<i32>,
    ) -> Vec<f64> {
        let Some(cron) = self.cron() else {
            return Vec::new();
        };
        let start = start_timestamp.map_or_else(Utc::now, timestamp_to_datetime);
        let before = lower_limit.unwrap_or(10).clamp(0, 1000) as usize;
        let after = upper_limit.unwrap_or(10).clamp(0, 1000) as usize;
        let mut times = cron.due_between(DateTime::UNIX_EPOCH, start, before);
        times.extend(cron.ticks_after(start).take(after));
        times.into_iter().map(datetime_to_timestamp).collect()
    }
    async fn owners(&self) -> Vec<DefinitionOwner> {
        Vec::new()
    }
    async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
        Vec::new()
    }
    async fn tags(&self) -> Vec<DefinitionTag> {
        self.definition()
            .tags
            .iter()
            .map(|(key, value)| DefinitionTag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
}

/// A sensor.
#[derive(Clone, Debug)]
pub struct Sensor(pub Arc<Instigator>);

impl Sensor {
    fn definition(&self) -> &sluice_core::snapshot::SensorSnapshot {
        match &self.0.definition {
            InstigatorDefinition::Sensor(s) => s,
            InstigatorDefinition::Schedule(_) => unreachable!("a Sensor wraps a sensor"),
        }
    }
}

#[Object]
impl Sensor {
    async fn id(&self) -> ID {
        ID(self.0.selector_id())
    }
    async fn job_origin_id(&self) -> String {
        self.0.selector_id()
    }
    async fn name(&self) -> &str {
        self.0.name()
    }
    /// The jobs it requests runs of: the asset job, for a sensor that targets assets.
    async fn targets(&self) -> Option<Vec<Target>> {
        let definition = self.definition();
        let asset_job = definition
            .target_assets
            .as_ref()
            .map(|_| sluice_core::asset::ASSET_JOB_NAME.to_owned());
        Some(
            definition
                .job_names
                .iter()
                .chain(asset_job.as_ref())
                .map(|job| Target {
                    pipeline_name: job.clone(),
                    mode: "default".to_owned(),
                    solid_selection: None,
                })
                .collect(),
        )
    }
    async fn default_status(&self) -> InstigationStatus {
        self.definition().default_status.into()
    }
    async fn can_reset(&self) -> bool {
        self.0.can_reset()
    }
    async fn has_cursor_update_permissions(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::UpdateSensorCursor)
    }
    async fn sensor_state(&self) -> InstigationState {
        InstigationState(Arc::clone(&self.0))
    }
    async fn min_interval_seconds(&self) -> i32 {
        i32::try_from(self.definition().minimum_interval_seconds).unwrap_or(i32::MAX)
    }
    async fn description(&self) -> Option<&str> {
        self.definition().description.as_deref()
    }
    /// When the daemon evaluates the sensor next, if it is running.
    async fn next_tick(&self) -> Option<DryRunInstigationTick> {
        next_tick(&self.0)
    }
    /// For a sensor that targets assets, the assets it may materialize.
    async fn asset_selection(&self) -> Option<crate::schema::assets::AssetSelectionTarget> {
        let keys = self.definition().target_assets.clone()?;
        let checks = self
            .0
            .snapshot
            .assets
            .iter()
            .filter(|a| keys.contains(&a.key))
            .flat_map(|a| a.checks.iter().map(|c| (c.name.clone(), a.key.clone())))
            .collect();
        Some(crate::schema::assets::AssetSelectionTarget { keys, checks })
    }
    /// For an asset sensor, the assets it watches.
    async fn metadata(&self) -> SensorMetadata {
        let watch = self.definition().asset_watch.as_ref();
        SensorMetadata {
            asset_keys: watch.map(|w| w.asset_keys.iter().map(AssetKey::from).collect()),
        }
    }
    async fn sensor_type(&self) -> SensorType {
        SensorType::of(self.definition())
    }
    async fn owners(&self) -> Vec<DefinitionOwner> {
        Vec::new()
    }
    async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
        Vec::new()
    }
    async fn tags(&self) -> Vec<DefinitionTag> {
        Vec::new()
    }
}

/// A job a sensor targets.
#[derive(SimpleObject, Clone, Debug)]
pub struct Target {
    /// The job.
    pub pipeline_name: String,
    /// Always `default`.
    pub mode: String,
    /// Always null: sensors request whole jobs.
    pub solid_selection: Option<Vec<String>>,
}

/// What a sensor watches.
#[derive(SimpleObject, Clone, Debug)]
pub struct SensorMetadata {
    /// The assets an asset sensor watches; null for other sensors.
    pub asset_keys: Option<Vec<AssetKey>>,
}

impl SensorType {
    /// The kind of `sensor`.
    pub fn of(sensor: &sluice_core::snapshot::SensorSnapshot) -> Self {
        match (&sensor.run_status, &sensor.asset_watch) {
            (Some(_), _) => Self::RunStatus,
            (None, Some(watch)) if watch.multi => Self::MultiAsset,
            (None, Some(_)) => Self::Asset,
            (None, None) => Self::Standard,
        }
    }
}

/// When a running instigator ticks next: a schedule's next cron time, a sensor's last
/// evaluation plus its interval.
fn next_tick(instigator: &Arc<Instigator>) -> Option<DryRunInstigationTick> {
    let next = instigator.next_tick_time(now_timestamp())?;
    match &instigator.definition {
        InstigatorDefinition::Schedule(_) => Some(DryRunInstigationTick::schedule(
            instigator,
            timestamp_to_datetime(next),
        )),
        InstigatorDefinition::Sensor(_) => Some(DryRunInstigationTick {
            timestamp: Some(next),
            schedule: None,
        }),
    }
}

/// The stored state of a schedule or sensor (with its definition's default applied).
#[derive(Clone, Debug)]
pub struct InstigationState(pub Arc<Instigator>);

impl InstigationState {
    fn name_tag(&self) -> &'static str {
        match self.0.key.instigator_type {
            InstigatorType::Schedule => SCHEDULE_NAME_TAG,
            InstigatorType::Sensor => SENSOR_NAME_TAG,
        }
    }

    fn runs_filter(&self) -> RunsFilter {
        let mut filter = RunsFilter::default();
        filter
            .tags
            .insert(self.name_tag().to_owned(), self.0.name().to_owned());
        filter.tags.insert(
            sluice_core::run::CODE_LOCATION_TAG.to_owned(),
            self.0.key.location_name.clone(),
        );
        filter
    }
}

#[Object]
impl InstigationState {
    async fn id(&self) -> ID {
        ID(self.0.selector_id())
    }
    async fn selector_id(&self) -> String {
        self.0.selector_id()
    }
    async fn name(&self) -> &str {
        self.0.name()
    }
    async fn instigation_type(&self) -> InstigationType {
        self.0.key.instigator_type.into()
    }
    async fn status(&self) -> InstigationStatus {
        self.0.status().into()
    }
    async fn repository_name(&self) -> &str {
        REPOSITORY_NAME
    }
    async fn repository_location_name(&self) -> &str {
        &self.0.key.location_name
    }
    async fn repository_origin(&self) -> RepositoryOrigin {
        RepositoryOrigin {
            location: self.0.location.name.clone(),
            metadata: Vec::new(),
        }
    }
    async fn type_specific_data(&self) -> Option<InstigationTypeSpecificData> {
        let state = self.0.state.as_ref();
        Some(match &self.0.definition {
            InstigatorDefinition::Schedule(s) => {
                InstigationTypeSpecificData::ScheduleData(ScheduleData {
                    cron_schedule: s.cron_schedule.clone(),
                    start_timestamp: state.and_then(|s| s.start_timestamp),
                })
            }
            InstigatorDefinition::Sensor(_) => {
                InstigationTypeSpecificData::SensorData(SensorData {
                    last_tick_timestamp: state.and_then(|s| s.last_tick_timestamp),
                    last_run_key: state.and_then(|s| s.last_run_key.clone()),
                    last_cursor: state.and_then(|s| s.cursor.clone()),
                })
            }
        })
    }
    /// Its runs, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn runs(&self, ctx: &Context<'_>, limit: Option<i32>) -> async_graphql::Result<Vec<Run>> {
        crate::schema::list_runs(ctx, &self.runs_filter(), None, page_limit(limit)?).await
    }
    async fn runs_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let n = service(ctx)
            .count_runs(&self.runs_filter())
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
    async fn tick(&self, ctx: &Context<'_>, tick_id: ID) -> async_graphql::Result<InstigationTick> {
        let id: i64 = tick_id.parse().map_err(|_| {
            async_graphql::Error::new(format!("\"{}\" is not a tick id", tick_id.0))
        })?;
        let filter = TicksFilter {
            limit: Some(1),
            before_id: Some(id + 1),
            ..TicksFilter::default()
        };
        let tick = service(ctx)
            .ticks(&self.0.selector_id(), &filter)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| {
                async_graphql::Error::new(format!("{} has no tick {id}", self.0.name()))
            })?;
        Ok(InstigationTick::new(tick, self.0.key.instigator_type))
    }
    /// Its ticks, newest first. `dayRange` days back from `dayOffset` days ago;
    /// `cursor` is the id of the last tick of the previous page.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn ticks(
        &self,
        ctx: &Context<'_>,
        day_range: Option<i32>,
        day_offset: Option<i32>,
        limit: Option<i32>,
        cursor: Option<String>,
        statuses: Option<Vec<InstigationTickStatus>>,
        before_timestamp: Option<f64>,
        after_timestamp: Option<f64>,
    ) -> async_graphql::Result<Vec<InstigationTick>> {
        const DAY: f64 = 86_400.0;
        let mut filter = TicksFilter {
            limit: page_limit(limit)?,
            statuses: statuses
                .unwrap_or_default()
                .into_iter()
                .map(InstigationTickStatus::to_core)
                .collect(),
            before_timestamp,
            after_timestamp,
            ..TicksFilter::default()
        };
        if let Some(cursor) = cursor {
            let id = cursor.parse::<i64>().map_err(|_| {
                async_graphql::Error::new(format!("\"{cursor}\" is not a tick cursor"))
            })?;
            filter.before_id = Some(id);
        }
        if let Some(range) = day_range {
            let end = now_timestamp() - f64::from(day_offset.unwrap_or(0)) * DAY;
            filter.before_timestamp = Some(filter.before_timestamp.map_or(end, |b| b.min(end)));
            let start = end - f64::from(range) * DAY;
            filter.after_timestamp = Some(filter.after_timestamp.map_or(start, |a| a.max(start)));
        }
        let ticks = service(ctx)
            .ticks(&self.0.selector_id(), &filter)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        let kind = self.0.key.instigator_type;
        Ok(ticks
            .into_iter()
            .map(|t| InstigationTick::new(t, kind))
            .collect())
    }
    async fn next_tick(&self) -> Option<DryRunInstigationTick> {
        next_tick(&self.0)
    }
    /// Ticks in progress.
    async fn running_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let filter = TicksFilter {
            statuses: vec![TickStatus::Started],
            ..TicksFilter::default()
        };
        let ticks = service(ctx)
            .ticks(&self.0.selector_id(), &filter)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(i32::try_from(ticks.len()).unwrap_or(i32::MAX))
    }
    async fn has_start_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::StartSchedule)
    }
    async fn has_stop_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::StopSchedule)
    }
}

/// What is particular to a schedule's or a sensor's state.
#[derive(Union, Clone, Debug)]
pub enum InstigationTypeSpecificData {
    /// A sensor's.
    SensorData(SensorData),
    /// A schedule's.
    ScheduleData(ScheduleData),
}

/// A sensor's state.
#[derive(SimpleObject, Clone, Debug)]
pub struct SensorData {
    /// When it was last evaluated.
    pub last_tick_timestamp: Option<f64>,
    /// The run key of the last run it requested.
    pub last_run_key: Option<String>,
    /// Its cursor.
    pub last_cursor: Option<String>,
}

/// A schedule's state.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScheduleData {
    /// Its cron expression.
    pub cron_schedule: String,
    /// When it was started.
    pub start_timestamp: Option<f64>,
}

/// One evaluation of a schedule or sensor.
#[derive(Clone, Debug)]
pub struct InstigationTick {
    tick: Tick,
    kind: InstigatorType,
}

impl InstigationTick {
    fn new(tick: Tick, kind: InstigatorType) -> Self {
        Self { tick, kind }
    }
}

#[Object]
impl InstigationTick {
    async fn id(&self) -> ID {
        ID(self.tick.id.to_string())
    }
    async fn tick_id(&self) -> ID {
        ID(self.tick.id.to_string())
    }
    async fn status(&self) -> InstigationTickStatus {
        self.tick.result.status.into()
    }
    async fn timestamp(&self) -> f64 {
        self.tick.timestamp
    }
    async fn end_timestamp(&self) -> Option<f64> {
        self.tick.end_timestamp
    }
    async fn run_ids(&self) -> &[String] {
        &self.tick.result.run_ids
    }
    async fn run_keys(&self) -> &[String] {
        &self.tick.result.run_keys
    }
    async fn error(&self) -> Option<PythonError> {
        self.tick.result.error.as_ref().map(PythonError::from_info)
    }
    async fn skip_reason(&self) -> Option<&str> {
        self.tick.result.skip_reason.as_deref()
    }
    async fn cursor(&self) -> Option<&str> {
        self.tick.result.cursor.as_deref()
    }
    /// The runs it created (or found created for its run keys).
    async fn runs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Run>> {
        if self.tick.result.run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = RunsFilter {
            run_ids: self.tick.result.run_ids.clone(),
            ..RunsFilter::default()
        };
        crate::schema::list_runs(ctx, &filter, None, None).await
    }
    async fn origin_run_ids(&self) -> Vec<String> {
        Vec::new()
    }
    async fn log_key(&self) -> Option<Vec<String>> {
        None
    }
    async fn log_events(&self) -> InstigationEventConnection {
        InstigationEventConnection {
            events: Vec::new(),
            cursor: String::new(),
            has_more: false,
        }
    }
    async fn requested_asset_keys(&self) -> Vec<AssetKey> {
        Vec::new()
    }
    async fn requested_asset_materialization_count(&self) -> i32 {
        0
    }
    async fn requested_job_run_count(&self) -> i32 {
        i32::try_from(self.tick.result.run_ids.len()).unwrap_or(i32::MAX)
    }
    async fn instigation_type(&self) -> InstigationType {
        self.kind.into()
    }
    /// What the tick added to and deleted from dynamic partition sets.
    async fn dynamic_partitions_request_results(&self) -> Vec<DynamicPartitionsRequestResult> {
        self.tick
            .result
            .dynamic_partitions
            .iter()
            .map(|r| DynamicPartitionsRequestResult {
                partitions_def_name: r.partitions_def_name.clone(),
                partition_keys: Some(r.partition_keys.clone()),
                skipped_partition_keys: r.skipped_partition_keys.clone(),
                kind: match r.action {
                    DynamicPartitionsAction::Add => DynamicPartitionsRequestType::AddPartitions,
                    DynamicPartitionsAction::Delete => {
                        DynamicPartitionsRequestType::DeletePartitions
                    }
                },
            })
            .collect()
    }
}

/// What one dynamic partitions request of a tick did.
#[derive(SimpleObject, Clone, Debug)]
pub struct DynamicPartitionsRequestResult {
    /// The keys added (or deleted).
    pub partition_keys: Option<Vec<String>>,
    /// The set.
    pub partitions_def_name: String,
    /// Adding or deleting.
    #[graphql(name = "type")]
    pub kind: DynamicPartitionsRequestType,
    /// Keys that needed nothing: already there, or already gone.
    pub skipped_partition_keys: Vec<String>,
}

/// Adding or deleting dynamic partition keys.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum DynamicPartitionsRequestType {
    /// Keys were added.
    AddPartitions,
    /// Keys were deleted.
    DeletePartitions,
}

/// A tick's log (Sluice keeps none: what a tick did is on the tick).
#[derive(SimpleObject, Clone, Debug)]
pub struct InstigationEventConnection {
    /// Always empty.
    pub events: Vec<InstigationEvent>,
    /// Always empty.
    pub cursor: String,
    /// Always false.
    pub has_more: bool,
}

/// A line of a tick's log.
#[derive(SimpleObject, Clone, Debug)]
pub struct InstigationEvent {
    /// The line.
    pub message: String,
    /// When.
    pub timestamp: String,
    /// Its level.
    pub level: LogLevel,
}

/// A tick that has not happened: its time, and for a schedule what it would request.
#[derive(Clone, Debug)]
pub struct DryRunInstigationTick {
    timestamp: Option<f64>,
    /// The schedule to evaluate for `evaluationResult`.
    schedule: Option<Arc<Instigator>>,
}

impl DryRunInstigationTick {
    fn schedule(instigator: &Arc<Instigator>, time: DateTime<Utc>) -> Self {
        Self {
            timestamp: Some(datetime_to_timestamp(time)),
            schedule: Some(Arc::clone(instigator)),
        }
    }
}

#[Object]
impl DryRunInstigationTick {
    async fn timestamp(&self) -> Option<f64> {
        self.timestamp
    }
    /// What the schedule would request at this time, asked of its code server now
    /// (nothing is launched or stored). Null for sensors.
    async fn evaluation_result(&self) -> Option<TickEvaluation> {
        let (instigator, timestamp) = (self.schedule.as_ref()?, self.timestamp?);
        let request = EvaluateSchedule {
            schedule_name: instigator.name().to_owned(),
            scheduled_time: timestamp,
            timeout_seconds: 60.0,
        };
        Some(
            match instigator.location.client.evaluate_schedule(&request).await {
                Ok(Evaluation::Evaluated(outcome)) => TickEvaluation {
                    run_requests: Some(outcome.run_requests.iter().map(RunRequest::from).collect()),
                    skip_reason: outcome.skip_reason.map(|r| r.0),
                    error: None,
                    cursor: outcome.cursor,
                },
                Ok(Evaluation::Failed(error)) => {
                    TickEvaluation::failed(PythonError::from_info(&error))
                }
                Err(e) => TickEvaluation::failed(PythonError::from(&ServiceError::from(e))),
            },
        )
    }
}

/// Future ticks of a schedule.
#[derive(SimpleObject, Clone, Debug)]
pub struct DryRunInstigationTicks {
    /// The ticks.
    pub results: Vec<DryRunInstigationTick>,
    /// The time of the last one, to page on.
    pub cursor: f64,
}

/// What an evaluation decided.
#[derive(SimpleObject, Clone, Debug)]
pub struct TickEvaluation {
    /// The runs it requested.
    pub run_requests: Option<Vec<RunRequest>>,
    /// Why it requested none.
    pub skip_reason: Option<String>,
    /// Why it failed.
    pub error: Option<PythonError>,
    /// The cursor it returned.
    pub cursor: Option<String>,
}

impl TickEvaluation {
    fn failed(error: PythonError) -> Self {
        Self {
            run_requests: None,
            skip_reason: None,
            error: Some(error),
            cursor: None,
        }
    }
}

/// A run a schedule or sensor requests.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunRequest {
    /// Its run key.
    pub run_key: Option<String>,
    /// Its tags.
    pub tags: Vec<PipelineTag>,
    /// Its run config, as YAML.
    pub run_config_yaml: String,
    /// Its job.
    pub job_name: Option<String>,
}

impl From<&sluice_core::run_request::RunRequest> for RunRequest {
    fn from(r: &sluice_core::run_request::RunRequest) -> Self {
        Self {
            run_key: r.run_key.clone(),
            tags: r
                .tags
                .iter()
                .map(|(key, value)| PipelineTag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            run_config_yaml: serde_norway::to_string(&r.run_config).unwrap_or_default(),
            job_name: r.job_name.clone(),
        }
    }
}

/// The schedules of a repository.
#[derive(SimpleObject, Clone, Debug)]
pub struct Schedules {
    /// The schedules.
    pub results: Vec<Schedule>,
}

/// The sensors of a repository.
#[derive(SimpleObject, Clone, Debug)]
pub struct Sensors {
    /// The sensors.
    pub results: Vec<Sensor>,
}

/// Several instigation states.
#[derive(SimpleObject, Clone, Debug)]
pub struct InstigationStates {
    /// The states.
    pub results: Vec<InstigationState>,
}

/// A schedule's state after a mutation.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScheduleStateResult {
    /// The state.
    pub schedule_state: InstigationState,
}

/// A sensor's state after it was stopped.
#[derive(SimpleObject, Clone, Debug)]
pub struct StopSensorMutationResult {
    /// The state.
    pub instigation_state: Option<InstigationState>,
}

/// The schedules of a repository, or why not.
#[derive(Union, Clone, Debug)]
pub enum SchedulesOrError {
    /// Found.
    Schedules(Schedules),
    /// No such repository.
    RepositoryNotFoundError(RepositoryNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// A schedule, or why not.
#[derive(Union, Clone, Debug)]
pub enum ScheduleOrError {
    /// Found.
    Schedule(Schedule),
    /// No such schedule.
    ScheduleNotFoundError(ScheduleNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// The sensors of a repository, or why not.
#[derive(Union, Clone, Debug)]
pub enum SensorsOrError {
    /// Found.
    Sensors(Sensors),
    /// No such repository.
    RepositoryNotFoundError(RepositoryNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// A sensor, or why not.
#[derive(Union, Clone, Debug)]
pub enum SensorOrError {
    /// Found.
    Sensor(Sensor),
    /// No such sensor.
    SensorNotFoundError(SensorNotFoundError),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
}

/// A schedule's or sensor's state, or why not.
#[derive(Union, Clone, Debug)]
pub enum InstigationStateOrError {
    /// Found.
    InstigationState(InstigationState),
    /// No such schedule or sensor.
    InstigationStateNotFoundError(InstigationStateNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// Several states, or why not.
#[derive(Union, Clone, Debug)]
pub enum InstigationStatesOrError {
    /// Found.
    InstigationStates(InstigationStates),
    /// Failure.
    PythonError(PythonError),
}

/// What a schedule mutation did.
#[derive(Union, Clone, Debug)]
pub enum ScheduleMutationResult {
    /// Failure.
    PythonError(PythonError),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// The new state.
    ScheduleStateResult(ScheduleStateResult),
    /// No such schedule.
    ScheduleNotFoundError(ScheduleNotFoundError),
}

/// What stopping a sensor did.
#[derive(Union, Clone, Debug)]
pub enum StopSensorMutationResultOrError {
    /// The new state.
    StopSensorMutationResult(StopSensorMutationResult),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
}

fn python_error(e: &ServiceError) -> PythonError {
    PythonError::from(e)
}

fn schedule_not_found(location: &str, name: &str) -> ScheduleNotFoundError {
    ScheduleNotFoundError {
        message: format!("Could not find schedule {name} in location {location}."),
        schedule_name: name.to_owned(),
    }
}

fn sensor_not_found(location: &str, name: &str) -> SensorNotFoundError {
    SensorNotFoundError {
        message: format!("Could not find sensor {name} in location {location}."),
        sensor_name: name.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Query and mutation fields (the roots call these)
// ---------------------------------------------------------------------------------------

pub(crate) async fn schedules_or_error(
    ctx: &Context<'_>,
    selector: &RepositorySelector,
    status: Option<InstigationStatus>,
) -> SchedulesOrError {
    match list(ctx, selector, InstigatorType::Schedule, status).await {
        Ok(found) => SchedulesOrError::Schedules(Schedules {
            results: found.into_iter().map(|i| Schedule(Arc::new(i))).collect(),
        }),
        Err(ServiceError::RepositoryNotFound {
            location,
            repository,
        }) => SchedulesOrError::RepositoryNotFoundError(RepositoryNotFoundError::new(
            &location,
            &repository,
        )),
        Err(e) => SchedulesOrError::PythonError(python_error(&e)),
    }
}

pub(crate) async fn sensors_or_error(
    ctx: &Context<'_>,
    selector: &RepositorySelector,
    status: Option<InstigationStatus>,
) -> SensorsOrError {
    match list(ctx, selector, InstigatorType::Sensor, status).await {
        Ok(found) => SensorsOrError::Sensors(Sensors {
            results: found.into_iter().map(|i| Sensor(Arc::new(i))).collect(),
        }),
        Err(ServiceError::RepositoryNotFound {
            location,
            repository,
        }) => SensorsOrError::RepositoryNotFoundError(RepositoryNotFoundError::new(
            &location,
            &repository,
        )),
        Err(e) => SensorsOrError::PythonError(python_error(&e)),
    }
}

async fn list(
    ctx: &Context<'_>,
    selector: &RepositorySelector,
    kind: InstigatorType,
    status: Option<InstigationStatus>,
) -> Result<Vec<Instigator>, ServiceError> {
    let found = service(ctx)
        .instigators(
            &selector.repository_location_name,
            &selector.repository_name,
            kind,
        )
        .await?;
    Ok(found
        .into_iter()
        .filter(|i| status.is_none_or(|s| InstigationStatus::from(i.status()) == s))
        .collect())
}

/// The schedule a selector names: `Ok(None)` if the repository has none of that name.
async fn find_schedule(
    ctx: &Context<'_>,
    selector: &ScheduleSelector,
) -> Result<Option<Instigator>, ServiceError> {
    service(ctx)
        .instigator(
            &selector.repository_location_name,
            &selector.repository_name,
            &selector.schedule_name,
            InstigatorType::Schedule,
        )
        .await
}

async fn find_sensor(
    ctx: &Context<'_>,
    selector: &SensorSelector,
) -> Result<Option<Instigator>, ServiceError> {
    service(ctx)
        .instigator(
            &selector.repository_location_name,
            &selector.repository_name,
            &selector.sensor_name,
            InstigatorType::Sensor,
        )
        .await
}

pub(crate) async fn schedule_or_error(
    ctx: &Context<'_>,
    selector: &ScheduleSelector,
) -> ScheduleOrError {
    match find_schedule(ctx, selector).await {
        Ok(Some(found)) => ScheduleOrError::Schedule(Schedule(Arc::new(found))),
        Ok(None) | Err(ServiceError::RepositoryNotFound { .. }) => {
            ScheduleOrError::ScheduleNotFoundError(schedule_not_found(
                &selector.repository_location_name,
                &selector.schedule_name,
            ))
        }
        Err(e) => ScheduleOrError::PythonError(python_error(&e)),
    }
}

pub(crate) async fn sensor_or_error(ctx: &Context<'_>, selector: &SensorSelector) -> SensorOrError {
    match find_sensor(ctx, selector).await {
        Ok(Some(found)) => SensorOrError::Sensor(Sensor(Arc::new(found))),
        Ok(None) | Err(ServiceError::RepositoryNotFound { .. }) => {
            SensorOrError::SensorNotFoundError(sensor_not_found(
                &selector.repository_location_name,
                &selector.sensor_name,
            ))
        }
        Err(e) => SensorOrError::PythonError(python_error(&e)),
    }
}

pub(crate) async fn instigation_state_or_error(
    ctx: &Context<'_>,
    selector: &InstigationSelector,
    id: Option<&str>,
) -> InstigationStateOrError {
    let service = service(ctx);
    let found = match id {
        Some(id) => service.instigator_by_id(id).await,
        None => {
            let (location, repository) = (
                &selector.repository_location_name,
                &selector.repository_name,
            );
            let mut found = Ok(None);
            for kind in [InstigatorType::Schedule, InstigatorType::Sensor] {
                found = service
                    .instigator(location, repository, &selector.name, kind)
                    .await;
                if !matches!(found, Ok(None)) {
                    break;
                }
            }
            found
        }
    };
    match found {
        Ok(Some(instigator)) => {
            InstigationStateOrError::InstigationState(InstigationState(Arc::new(instigator)))
        }
        Ok(None) | Err(ServiceError::RepositoryNotFound { .. }) => {
            InstigationStateOrError::InstigationStateNotFoundError(InstigationStateNotFoundError {
                message: format!(
                    "Could not find schedule or sensor {} in location {}.",
                    selector.name, selector.repository_location_name
                ),
                name: selector.name.clone(),
            })
        }
        Err(e) => InstigationStateOrError::PythonError(python_error(&e)),
    }
}

pub(crate) async fn instigation_states_or_error(
    ctx: &Context<'_>,
    repository_id: &str,
) -> InstigationStatesOrError {
    // A repository id is `{location}.__repository__`.
    let location = repository_id
        .strip_suffix(&format!(".{REPOSITORY_NAME}"))
        .unwrap_or(repository_id);
    let mut results = Vec::new();
    for kind in [InstigatorType::Schedule, InstigatorType::Sensor] {
        match service(ctx)
            .instigators(location, REPOSITORY_NAME, kind)
            .await
        {
            Ok(found) => results.extend(found.into_iter().map(|i| InstigationState(Arc::new(i)))),
            Err(e) => return InstigationStatesOrError::PythonError(python_error(&e)),
        }
    }
    InstigationStatesOrError::InstigationStates(InstigationStates { results })
}

/// Start, stop or reset a schedule found by selector.
pub(crate) async fn set_schedule_status(
    ctx: &Context<'_>,
    selector: &ScheduleSelector,
    status: Option<InstigatorStatus>,
) -> ScheduleMutationResult {
    match find_schedule(ctx, selector).await {
        Ok(Some(found)) => schedule_mutation(ctx, &found, status).await,
        Ok(None) | Err(ServiceError::RepositoryNotFound { .. }) => {
            ScheduleMutationResult::ScheduleNotFoundError(schedule_not_found(
                &selector.repository_location_name,
                &selector.schedule_name,
            ))
        }
        Err(e) => ScheduleMutationResult::PythonError(python_error(&e)),
    }
}

async fn schedule_mutation(
    ctx: &Context<'_>,
    found: &Instigator,
    status: Option<InstigatorStatus>,
) -> ScheduleMutationResult {
    match service(ctx).set_instigator_status(found, status).await {
        Ok(changed) => ScheduleMutationResult::ScheduleStateResult(ScheduleStateResult {
            schedule_state: InstigationState(Arc::new(changed)),
        }),
        Err(e) => ScheduleMutationResult::PythonError(python_error(&e)),
    }
}

/// Stop the schedule with this id (any of Dagster's three ids: they are the same here).
pub(crate) async fn stop_schedule_by_id(
    ctx: &Context<'_>,
    id: Option<&str>,
) -> ScheduleMutationResult {
    let Some(id) = id else {
        return ScheduleMutationResult::PythonError(PythonError::new(
            "InvalidArgumentError",
            "give the schedule's id, scheduleOriginId or scheduleSelectorId",
        ));
    };
    match service(ctx).instigator_by_id(id).await {
        Ok(Some(found)) if found.key.instigator_type == InstigatorType::Schedule => {
            schedule_mutation(ctx, &found, Some(InstigatorStatus::Stopped)).await
        }
        Ok(_) => ScheduleMutationResult::ScheduleNotFoundError(ScheduleNotFoundError {
            message: format!("Could not find a schedule with id {id}."),
            schedule_name: id.to_owned(),
        }),
        Err(e) => ScheduleMutationResult::PythonError(python_error(&e)),
    }
}

/// Start or reset a sensor found by selector, or move its cursor.
pub(crate) async fn sensor_mutation(
    ctx: &Context<'_>,
    selector: &SensorSelector,
    change: SensorChange,
) -> SensorOrError {
    let found = match find_sensor(ctx, selector).await {
        Ok(Some(found)) => found,
        Ok(None) | Err(ServiceError::RepositoryNotFound { .. }) => {
            return SensorOrError::SensorNotFoundError(sensor_not_found(
                &selector.repository_location_name,
                &selector.sensor_name,
            ));
        }
        Err(e) => return SensorOrError::PythonError(python_error(&e)),
    };
    let service = service(ctx);
    let changed = match change {
        SensorChange::Status(status) => service.set_instigator_status(&found, status).await,
        SensorChange::Cursor(cursor) => service.set_sensor_cursor(&found, cursor.as_deref()).await,
    };
    match changed {
        Ok(changed) => SensorOrError::Sensor(Sensor(Arc::new(changed))),
        Err(e) => SensorOrError::PythonError(python_error(&e)),
    }
}

/// What a sensor mutation changes.
pub(crate) enum SensorChange {
    /// Start (`Some(Running)`) or reset (`None`).
    Status(Option<InstigatorStatus>),
    /// Replace the cursor.
    Cursor(Option<String>),
}

/// Stop the sensor with this id (any of Dagster's three ids).
pub(crate) async fn stop_sensor_by_id(
    ctx: &Context<'_>,
    id: Option<&str>,
) -> StopSensorMutationResultOrError {
    let Some(id) = id else {
        return StopSensorMutationResultOrError::PythonError(PythonError::new(
            "InvalidArgumentError",
            "give the sensor's id, jobOriginId or jobSelectorId",
        ));
    };
    let service = service(ctx);
    match service.instigator_by_id(id).await {
        Ok(Some(found)) if found.key.instigator_type == InstigatorType::Sensor => {
            match service
                .set_instigator_status(&found, Some(InstigatorStatus::Stopped))
                .await
            {
                Ok(changed) => StopSensorMutationResultOrError::StopSensorMutationResult(
                    StopSensorMutationResult {
                        instigation_state: Some(InstigationState(Arc::new(changed))),
                    },
                ),
                Err(e) => StopSensorMutationResultOrError::PythonError(python_error(&e)),
            }
        }
        Ok(_) => StopSensorMutationResultOrError::PythonError(PythonError::new(
            "SensorNotFoundError",
            format!("Could not find a sensor with id {id}."),
        )),
        Err(e) => StopSensorMutationResultOrError::PythonError(python_error(&e)),
    }
}
