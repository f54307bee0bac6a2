//! Runs: the `Run` object with its status, config, tags, plan, stats and event log, and
//! the lists and errors around it.

use async_graphql::{Context, Enum, ID, Interface, Object, SimpleObject, Union};
use sluice_core::events::{EventRecord, EventType};
use sluice_core::run::{Run as CoreRun, RunStatus as CoreStatus};

use crate::schema::errors::{PythonError, RunNotFoundError};
use crate::schema::events::{EventConnection, ExpectationResult, MaterializationEvent};
use crate::schema::scalars::RunConfigData;
use crate::schema::workspace::{
    JobRef, PipelineReference, PipelineSnapshot, PipelineTag, RepositoryOrigin, UnknownPipeline,
};
use crate::schema::{py_err, service};
use sluice_service::run_stats::{RunTimes, StepStatus, step_stats};
use sluice_service::{page_limit, run_config_yaml};

/// The status of a run, with Dagster's values.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RunStatus {
    /// Waiting for the daemon to launch it.
    Queued,
    /// Created, not yet submitted.
    NotStarted,
    /// Managed outside Sluice.
    Managed,
    /// Launched, not yet executing.
    Starting,
    /// Executing.
    Started,
    /// Waiting on external work.
    Suspended,
    /// Finished successfully.
    Success,
    /// Failed.
    Failure,
    /// Being canceled.
    Canceling,
    /// Canceled.
    Canceled,
}

impl From<CoreStatus> for RunStatus {
    fn from(s: CoreStatus) -> Self {
        match s {
            CoreStatus::Queued => Self::Queued,
            CoreStatus::NotStarted => Self::NotStarted,
            CoreStatus::Starting => Self::Starting,
            CoreStatus::Started => Self::Started,
            CoreStatus::Success => Self::Success,
            CoreStatus::Failure => Self::Failure,
            CoreStatus::Canceling => Self::Canceling,
            CoreStatus::Canceled => Self::Canceled,
        }
    }
}

impl RunStatus {
    /// The storage status, if Sluice has it.
    pub fn to_core(self) -> Option<CoreStatus> {
        Some(match self {
            Self::Queued => CoreStatus::Queued,
            Self::NotStarted => CoreStatus::NotStarted,
            Self::Starting => CoreStatus::Starting,
            Self::Started => CoreStatus::Started,
            Self::Success => CoreStatus::Success,
            Self::Failure => CoreStatus::Failure,
            Self::Canceling => CoreStatus::Canceling,
            Self::Canceled => CoreStatus::Canceled,
            Self::Managed | Self::Suspended => return None,
        })
    }
}

/// A run.
#[derive(Clone, Debug)]
pub struct Run(pub CoreRun);

impl Run {
    /// `RunsFeedEntry.assetSelection` (no arguments there).
    pub(crate) async fn feed_asset_selection(
        &self,
        _ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<AssetKey>>> {
        Ok(None)
    }

    /// `RunsFeedEntry.assetCheckSelection` (no arguments there).
    pub(crate) async fn feed_asset_check_selection(
        &self,
        _ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<AssetCheckhandle>>> {
        Ok(None)
    }

    pub(crate) async fn job(&self, ctx: &Context<'_>) -> Option<JobRef> {
        service(ctx)
            .job_of_run(&self.0)
            .await
            .map(|found| JobRef::from_found(&found))
    }

    pub(crate) async fn all_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<EventRecord>> {
        service(ctx)
            .run_events(&self.0.run_id)
            .await
            .map_err(py_err)
    }

    fn tag_list(&self) -> Vec<PipelineTag> {
        self.0
            .tags
            .iter()
            .map(|(k, v)| PipelineTag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    }
}

#[Object]
impl Run {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.run_id.clone())
    }
    pub(crate) async fn run_id(&self) -> &str {
        &self.0.run_id
    }
    pub(crate) async fn pipeline_snapshot_id(&self, ctx: &Context<'_>) -> Option<String> {
        self.job(ctx).await.map(|j| j.snapshot_id())
    }
    pub(crate) async fn repository_origin(&self) -> Option<RepositoryOrigin> {
        self.0.location_name.as_ref().map(|l| RepositoryOrigin {
            location: l.clone(),
            metadata: Vec::new(),
        })
    }
    pub(crate) async fn status(&self) -> RunStatus {
        self.0.status.into()
    }
    pub(crate) async fn pipeline(&self, ctx: &Context<'_>) -> PipelineReference {
        match self.job(ctx).await {
            Some(job) => PipelineReference::PipelineSnapshot(PipelineSnapshot(job)),
            None => PipelineReference::UnknownPipeline(UnknownPipeline {
                name: self.0.job_name.clone(),
                solid_selection: None,
            }),
        }
    }
    pub(crate) async fn pipeline_name(&self) -> &str {
        &self.0.job_name
    }
    pub(crate) async fn job_name(&self) -> String {
        self.0.job_name.clone()
    }
    pub(crate) async fn solid_selection(&self) -> Option<Vec<String>> {
        None
    }
    pub(crate) async fn stats(&self, ctx: &Context<'_>) -> RunStatsSnapshotOrError {
        match self.all_events(ctx).await {
            Ok(events) => RunStatsSnapshotOrError::RunStatsSnapshot(RunStatsSnapshot::of(
                &self.0.run_id,
                &events,
            )),
            Err(e) => {
                RunStatsSnapshotOrError::PythonError(PythonError::new("StorageError", e.message))
            }
        }
    }
    pub(crate) async fn step_stats(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<RunStepStats>> {
        Ok(RunStepStats::of(
            &self.0.run_id,
            &self.all_events(ctx).await?,
        ))
    }
    /// Captured stdout/stderr of the run (Sluice does not capture logs yet: empty).
    pub(crate) async fn captured_logs(&self, file_key: String) -> CapturedLogs {
        CapturedLogs {
            log_key: vec![self.0.run_id.clone(), file_key],
            stdout: None,
            stderr: None,
            cursor: None,
        }
    }
    pub(crate) async fn execution_plan(&self, ctx: &Context<'_>) -> Option<ExecutionPlan> {
        self.job(ctx).await.map(ExecutionPlan)
    }
    /// The steps a re-execution runs; null when the run executes every step.
    pub(crate) async fn step_keys_to_execute(&self) -> Option<Vec<String>> {
        self.0.step_keys_to_execute.clone()
    }
    pub(crate) async fn run_config_yaml(&self) -> String {
        run_config_yaml(&self.0.run_config)
    }
    pub(crate) async fn run_config(&self) -> RunConfigData {
        RunConfigData(self.0.run_config.clone())
    }
    pub(crate) async fn mode(&self) -> &str {
        "default"
    }
    pub(crate) async fn tags(&self) -> Vec<PipelineTag> {
        self.tag_list()
    }
    pub(crate) async fn root_run_id(&self) -> Option<String> {
        self.0.root_run_id.clone()
    }
    pub(crate) async fn parent_run_id(&self) -> Option<String> {
        self.0.parent_run_id.clone()
    }
    /// Whether the run can be terminated: it is QUEUED or STARTED.
    pub(crate) async fn can_terminate(&self) -> bool {
        matches!(self.0.status, CoreStatus::Queued | CoreStatus::Started)
    }
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    pub(crate) async fn event_connection(
        &self,
        ctx: &Context<'_>,
        after_cursor: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<EventConnection> {
        let page = service(ctx)
            .events(&self.0.run_id, after_cursor.as_deref(), page_limit(limit)?)
            .await
            .map_err(py_err)?;
        Ok(EventConnection::new(&self.0.job_name, page))
    }
    /// The same as `status`.
    pub(crate) async fn run_status(&self) -> RunStatus {
        self.0.status.into()
    }
    pub(crate) async fn creation_time(&self) -> f64 {
        self.0.create_time
    }
    pub(crate) async fn start_time(&self) -> Option<f64> {
        self.0.start_time
    }
    pub(crate) async fn end_time(&self) -> Option<f64> {
        self.0.end_time
    }
    pub(crate) async fn asset_selection(&self, limit: Option<i32>) -> Option<Vec<AssetKey>> {
        let _ = limit;
        None
    }
    pub(crate) async fn asset_check_selection(
        &self,
        limit: Option<i32>,
    ) -> Option<Vec<AssetCheckhandle>> {
        let _ = limit;
        None
    }
    pub(crate) async fn parent_pipeline_snapshot_id(&self) -> Option<String> {
        None
    }
    pub(crate) async fn asset_selection_count(&self) -> i32 {
        0
    }
    pub(crate) async fn asset_check_selection_count(&self) -> i32 {
        0
    }
    pub(crate) async fn resolved_op_selection(&self) -> Option<Vec<String>> {
        None
    }
    pub(crate) async fn asset_materializations(&self) -> Vec<MaterializationEvent> {
        Vec::new()
    }
    pub(crate) async fn asset_checks(&self) -> Option<Vec<AssetCheckhandle>> {
        None
    }
    pub(crate) async fn update_time(&self) -> Option<f64> {
        Some(self.0.update_time)
    }
    pub(crate) async fn has_re_execute_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::ReexecuteRun)
    }
    pub(crate) async fn has_terminate_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may_terminate(
            self.0
                .tags
                .get(sluice_service::access::USER_TAG)
                .map(String::as_str),
        )
    }
    pub(crate) async fn has_delete_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::DeleteRun)
    }
    pub(crate) async fn has_concurrency_key_slots(&self) -> bool {
        false
    }
    pub(crate) async fn root_concurrency_keys(&self) -> Option<Vec<String>> {
        None
    }
    pub(crate) async fn all_pools(&self) -> Option<Vec<String>> {
        None
    }
    pub(crate) async fn has_unconstrained_root_nodes(&self) -> bool {
        true
    }
    pub(crate) async fn has_run_metrics_enabled(&self) -> bool {
        false
    }
    pub(crate) async fn external_job_source(&self) -> Option<String> {
        None
    }
}

/// Dagster's interface of a run.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineRun",
    field(name = "id", ty = "ID"),
    field(name = "run_id", ty = "String"),
    field(name = "pipeline_snapshot_id", ty = "Option<String>"),
    field(name = "repository_origin", ty = "Option<RepositoryOrigin>"),
    field(name = "status", ty = "RunStatus"),
    field(name = "pipeline", ty = "PipelineReference"),
    field(name = "pipeline_name", ty = "String"),
    field(name = "job_name", ty = "String"),
    field(name = "solid_selection", ty = "Option<Vec<String>>"),
    field(name = "stats", ty = "RunStatsSnapshotOrError"),
    field(name = "step_stats", ty = "Vec<RunStepStats>"),
    field(
        name = "captured_logs",
        ty = "CapturedLogs",
        arg(name = "file_key", ty = "String")
    ),
    field(name = "execution_plan", ty = "Option<ExecutionPlan>"),
    field(name = "step_keys_to_execute", ty = "Option<Vec<String>>"),
    field(name = "run_config_yaml", ty = "String"),
    field(name = "run_config", ty = "RunConfigData"),
    field(name = "mode", ty = "String"),
    field(name = "tags", ty = "Vec<PipelineTag>"),
    field(name = "root_run_id", ty = "Option<String>"),
    field(name = "parent_run_id", ty = "Option<String>"),
    field(name = "can_terminate", ty = "bool"),
    field(
        name = "event_connection",
        ty = "EventConnection",
        arg(name = "after_cursor", ty = "Option<String>"),
        arg(name = "limit", ty = "Option<i32>")
    )
)]
pub enum PipelineRun {
    /// The only implementation.
    Run(Run),
}

/// An entry of the runs feed.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "RunsFeedEntry",
    field(name = "id", ty = "ID"),
    field(name = "run_status", ty = "Option<RunStatus>"),
    field(name = "creation_time", ty = "f64"),
    field(name = "start_time", ty = "Option<f64>"),
    field(name = "end_time", ty = "Option<f64>"),
    field(name = "tags", ty = "Vec<PipelineTag>"),
    field(name = "job_name", ty = "Option<String>"),
    field(
        name = "assetSelection",
        ty = "Option<Vec<AssetKey>>",
        method = "feed_asset_selection"
    ),
    field(
        name = "assetCheckSelection",
        ty = "Option<Vec<AssetCheckhandle>>",
        method = "feed_asset_check_selection"
    )
)]
pub enum RunsFeedEntry {
    /// A run.
    Run(Run),
}

/// Captured stdout/stderr.
#[derive(SimpleObject, Clone, Debug)]
pub struct CapturedLogs {
    /// The log key.
    pub log_key: Vec<String>,
    /// Stdout.
    pub stdout: Option<String>,
    /// Stderr.
    pub stderr: Option<String>,
    /// Where to read on.
    pub cursor: Option<String>,
}

/// An asset key.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetKey {
    /// Its path.
    pub path: Vec<String>,
}

impl From<&sluice_core::asset::AssetKey> for AssetKey {
    fn from(key: &sluice_core::asset::AssetKey) -> Self {
        Self {
            path: key.path().to_vec(),
        }
    }
}

/// An asset check.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetCheckhandle {
    /// The check.
    pub name: String,
    /// The asset.
    pub asset_key: AssetKey,
}

/// A run, or why there is none.
#[derive(Union, Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum RunOrError {
    /// The run.
    Run(Run),
    /// Unknown id.
    RunNotFoundError(RunNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// A page of runs and how many match in all.
#[derive(SimpleObject, Clone, Debug)]
pub struct Runs {
    /// The page, newest first.
    #[graphql(owned)]
    pub results: Vec<Run>,
    /// How many runs match the filter (ignoring cursor and limit).
    #[graphql(owned)]
    pub count: i32,
}

/// Dagster's interface of a page of runs.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineRuns",
    field(name = "results", ty = "Vec<Run>"),
    field(name = "count", ty = "Option<i32>")
)]
pub enum PipelineRuns {
    /// The only implementation.
    Runs(Runs),
}

/// Runs, or why there are none.
#[derive(Union, Clone, Debug)]
pub enum RunsOrError {
    /// The runs.
    Runs(Runs),
    /// A filter that cannot be applied.
    InvalidPipelineRunsFilterError(crate::schema::errors::InvalidPipelineRunsFilterError),
    /// Failure.
    PythonError(PythonError),
}

/// Counts and times of a run, from its event log.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunStatsSnapshot {
    /// `stats-<runId>`.
    #[graphql(owned)]
    pub id: String,
    /// The run.
    #[graphql(owned)]
    pub run_id: String,
    /// Steps that succeeded.
    #[graphql(owned)]
    pub steps_succeeded: i32,
    /// Steps that failed.
    #[graphql(owned)]
    pub steps_failed: i32,
    /// Materializations.
    #[graphql(owned)]
    pub materializations: i32,
    /// Expectations.
    #[graphql(owned)]
    pub expectations: i32,
    /// When queued.
    #[graphql(owned)]
    pub enqueued_time: Option<f64>,
    /// When launched.
    #[graphql(owned)]
    pub launch_time: Option<f64>,
    /// When started.
    #[graphql(owned)]
    pub start_time: Option<f64>,
    /// When finished.
    #[graphql(owned)]
    pub end_time: Option<f64>,
}

impl RunStatsSnapshot {
    fn of(run_id: &str, events: &[EventRecord]) -> Self {
        let count = |t: EventType| {
            i32::try_from(events.iter().filter(|e| e.event.event_type == t).count())
                .unwrap_or(i32::MAX)
        };
        let times = RunTimes::of(events);
        Self {
            id: format!("stats-{run_id}"),
            run_id: run_id.to_owned(),
            steps_succeeded: count(EventType::StepSuccess),
            steps_failed: count(EventType::StepFailure),
            materializations: 0,
            expectations: 0,
            enqueued_time: times.enqueued,
            launch_time: times.launched,
            start_time: times.started,
            end_time: times.ended,
        }
    }
}

/// Dagster's interface of run stats.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineRunStatsSnapshot",
    field(name = "id", ty = "String"),
    field(name = "run_id", ty = "String"),
    field(name = "steps_succeeded", ty = "i32"),
    field(name = "steps_failed", ty = "i32"),
    field(name = "materializations", ty = "i32"),
    field(name = "expectations", ty = "i32"),
    field(name = "enqueued_time", ty = "Option<f64>"),
    field(name = "launch_time", ty = "Option<f64>"),
    field(name = "start_time", ty = "Option<f64>"),
    field(name = "end_time", ty = "Option<f64>")
)]
pub enum PipelineRunStatsSnapshot {
    /// The only implementation.
    RunStatsSnapshot(RunStatsSnapshot),
}

/// Run stats, or why there are none.
#[derive(Union, Clone, Debug)]
pub enum RunStatsSnapshotOrError {
    /// The stats.
    RunStatsSnapshot(RunStatsSnapshot),
    /// Failure.
    PythonError(PythonError),
}

/// The status of a step.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StepEventStatus {
    /// Did not run.
    Skipped,
    /// Succeeded.
    Success,
    /// Failed.
    Failure,
    /// Running.
    InProgress,
}

/// A span of time.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunMarker {
    /// Start.
    pub start_time: Option<f64>,
    /// End.
    pub end_time: Option<f64>,
}

/// One step of a run: its status, times and attempts.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunStepStats {
    /// The run.
    #[graphql(owned)]
    pub run_id: String,
    /// The step.
    #[graphql(owned)]
    pub step_key: String,
    /// Its status.
    #[graphql(owned)]
    pub status: Option<StepEventStatus>,
    /// When it started.
    #[graphql(owned)]
    pub start_time: Option<f64>,
    /// When it finished.
    #[graphql(owned)]
    pub end_time: Option<f64>,
    /// Its materializations.
    #[graphql(owned)]
    pub materializations: Vec<MaterializationEvent>,
    /// Its expectation results.
    #[graphql(owned)]
    pub expectation_results: Vec<ExpectationResult>,
    /// Each attempt.
    #[graphql(owned)]
    pub attempts: Vec<RunMarker>,
    /// Markers.
    #[graphql(owned)]
    pub markers: Vec<RunMarker>,
}

impl RunStepStats {
    /// Step stats from a run's events, in the order steps first appear.
    pub fn of(run_id: &str, events: &[EventRecord]) -> Vec<Self> {
        step_stats(events)
            .into_iter()
            .map(|s| Self {
                run_id: run_id.to_owned(),
                step_key: s.step_key,
                status: s.status.map(StepEventStatus::from),
                start_time: s.start_time,
                end_time: s.end_time,
                materializations: Vec::new(),
                expectation_results: Vec::new(),
                attempts: s
                    .attempts
                    .iter()
                    .map(|a| RunMarker {
                        start_time: Some(a.start),
                        end_time: a.end,
                    })
                    .collect(),
                markers: Vec::new(),
            })
            .collect()
    }
}

impl From<StepStatus> for StepEventStatus {
    fn from(status: StepStatus) -> Self {
        match status {
            StepStatus::InProgress => Self::InProgress,
            StepStatus::Success => Self::Success,
            StepStatus::Failure => Self::Failure,
            StepStatus::Skipped => Self::Skipped,
        }
    }
}

/// Dagster's interface of step stats.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineRunStepStats",
    field(name = "run_id", ty = "String"),
    field(name = "step_key", ty = "String"),
    field(name = "status", ty = "Option<StepEventStatus>"),
    field(name = "start_time", ty = "Option<f64>"),
    field(name = "end_time", ty = "Option<f64>"),
    field(name = "materializations", ty = "Vec<MaterializationEvent>"),
    field(name = "expectation_results", ty = "Vec<ExpectationResult>")
)]
pub enum PipelineRunStepStats {
    /// The only implementation.
    RunStepStats(RunStepStats),
}

/// The kind of a step.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StepKind {
    /// A user-defined computation.
    Compute,
    /// A mapped step not yet resolved.
    UnresolvedMapped,
    /// A collect step not yet resolved.
    UnresolvedCollect,
}

/// A job's execution plan: one step per node.
#[derive(Clone, Debug)]
pub struct ExecutionPlan(JobRef);

#[Object]
impl ExecutionPlan {
    pub(crate) async fn steps(&self) -> Vec<ExecutionStep> {
        let n = self.0.node_count();
        (0..n).map(|i| ExecutionStep(self.0.clone(), i)).collect()
    }
    pub(crate) async fn artifacts_persisted(&self) -> bool {
        false
    }
    pub(crate) async fn asset_selection(&self) -> Vec<String> {
        Vec::new()
    }
    pub(crate) async fn asset_keys(&self) -> Vec<AssetKey> {
        Vec::new()
    }
    pub(crate) async fn asset_check_keys(&self) -> Vec<AssetCheckhandle> {
        Vec::new()
    }
}

/// A step of an execution plan.
#[derive(Clone, Debug)]
pub struct ExecutionStep(JobRef, usize);

#[Object]
impl ExecutionStep {
    pub(crate) async fn key(&self) -> String {
        self.0.node_alias(self.1)
    }
    pub(crate) async fn inputs(&self) -> Vec<ExecutionStepInput> {
        self.0
            .node_input_sources(self.1)
            .into_iter()
            .map(|(name, upstream)| ExecutionStepInput {
                name,
                depends_on: upstream
                    .into_iter()
                    .map(|i| ExecutionStep(self.0.clone(), i))
                    .collect(),
            })
            .collect()
    }
    pub(crate) async fn outputs(&self) -> Vec<ExecutionStepOutput> {
        self.0
            .node_output_names(self.1)
            .into_iter()
            .map(|name| ExecutionStepOutput { name })
            .collect()
    }
    #[graphql(name = "solidHandleID")]
    pub(crate) async fn solid_handle_id(&self) -> String {
        self.0.node_alias(self.1)
    }
    pub(crate) async fn kind(&self) -> StepKind {
        StepKind::Compute
    }
    pub(crate) async fn metadata(&self) -> Vec<crate::schema::workspace::MetadataItemDefinition> {
        Vec::new()
    }
}

/// An input of a step and the steps it depends on.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutionStepInput {
    /// The input.
    pub name: String,
    /// The steps whose outputs it reads.
    pub depends_on: Vec<ExecutionStep>,
}

/// An output of a step.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutionStepOutput {
    /// The output.
    pub name: String,
}
