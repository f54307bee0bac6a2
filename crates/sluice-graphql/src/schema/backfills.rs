//! Backfills as Dagster's GraphQL shows them: `launchPartitionBackfill`,
//! `partitionBackfillOrError`, `partitionBackfillsOrError`, `cancelPartitionBackfill`,
//! `resumePartitionBackfill` and `reexecutePartitionBackfill`.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Union};
use sluice_core::run::RunStatus as CoreStatus;
use sluice_storage::{BACKFILL_ID_TAG, Backfill, BackfillStatus, BackfillsFilter, RunsFilter};

use crate::schema::assets::PartitionsByAssetSelector;
use crate::schema::config::RunConfigValidationInvalid;
use crate::schema::errors::{
    ConflictingExecutionParamsError, InvalidOutputError, InvalidStepError, NoModeProvidedError,
    PipelineNotFoundError, PresetNotFoundError, PythonError, RunConflict, UnauthorizedError,
};
use crate::schema::inputs::{
    AssetKeyInput, ExecutionTag, ReexecutionParams, ReexecutionStrategy, RepositorySelector,
};
use crate::schema::mutation::launch_result;
use crate::schema::runs::{AssetKey, Run, RunStatus};
use crate::schema::scalars::RunConfigData;
use crate::schema::service;
use crate::schema::workspace::{InvalidSubsetError, PipelineTag};
use sluice_service::Error as ServiceError;
use sluice_service::backfills::{
    BackfillPartitions, BackfillRequest, BackfillTarget, PARTITION_SET_SUFFIX,
};
use sluice_service::{Service, page_limit, parse_run_config};

/// Where a backfill is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum BulkActionStatus {
    /// Submitting its runs, or waiting for them.
    Requested,
    /// Every run submitted.
    Completed,
    /// Submission failed.
    Failed,
    /// Canceled.
    Canceled,
    /// Stopping its runs.
    Canceling,
    /// Every run succeeded.
    CompletedSuccess,
    /// Every run finished; some did not succeed.
    CompletedFailed,
    /// Winding down after an error.
    Failing,
}

impl From<BackfillStatus> for BulkActionStatus {
    fn from(s: BackfillStatus) -> Self {
        match s {
            BackfillStatus::Requested => Self::Requested,
            BackfillStatus::Completed => Self::Completed,
            BackfillStatus::Failed => Self::Failed,
            BackfillStatus::Canceled => Self::Canceled,
            BackfillStatus::Canceling => Self::Canceling,
            BackfillStatus::CompletedSuccess => Self::CompletedSuccess,
            BackfillStatus::CompletedFailed => Self::CompletedFailed,
            BackfillStatus::Failing => Self::Failing,
        }
    }
}

impl BulkActionStatus {
    fn to_core(self) -> BackfillStatus {
        BackfillStatus::ALL
            .into_iter()
            .find(|s| Self::from(*s) == self)
            .unwrap_or(BackfillStatus::Requested)
    }
}

/// A backfill.
pub struct PartitionBackfill(pub Backfill);

impl PartitionBackfill {
    async fn runs_in(
        &self,
        ctx: &Context<'_>,
        statuses: &[CoreStatus],
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<Run>> {
        let filter = RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), self.0.id().to_owned())].into(),
            statuses: statuses.to_vec(),
            ..RunsFilter::default()
        };
        crate::schema::list_runs(ctx, &filter, None, page_limit(limit)?).await
    }
}

/// Statuses of runs that can still be canceled.
const CANCELABLE: [CoreStatus; 4] = [
    CoreStatus::Queued,
    CoreStatus::NotStarted,
    CoreStatus::Starting,
    CoreStatus::Started,
];

#[Object]
impl PartitionBackfill {
    async fn id(&self) -> ID {
        ID(self.0.id().to_owned())
    }
    async fn status(&self) -> BulkActionStatus {
        self.0.status.into()
    }
    /// The status as a run's: how the backfill's runs stand as a whole.
    async fn run_status(&self) -> RunStatus {
        match self.0.status {
            BackfillStatus::CompletedSuccess | BackfillStatus::Completed => RunStatus::Success,
            BackfillStatus::CompletedFailed | BackfillStatus::Failed => RunStatus::Failure,
            BackfillStatus::Canceled => RunStatus::Canceled,
            BackfillStatus::Canceling | BackfillStatus::Failing => RunStatus::Canceling,
            BackfillStatus::Requested => RunStatus::Started,
        }
    }
    async fn partition_names(&self) -> Option<&[String]> {
        Some(&self.0.spec.partition_names)
    }
    async fn num_partitions(&self) -> Option<i32> {
        Some(i32::try_from(self.0.spec.partition_names.len()).unwrap_or(i32::MAX))
    }
    /// How many of its runs can still be canceled.
    async fn num_cancelable(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let filter = RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), self.0.id().to_owned())].into(),
            statuses: CANCELABLE.to_vec(),
            ..RunsFilter::default()
        };
        let n = service(ctx)
            .count_runs(&filter)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
    async fn from_failure(&self) -> bool {
        self.0.spec.from_failure
    }
    async fn reexecution_steps(&self) -> Option<Vec<String>> {
        None
    }
    /// `<job>_partition_set`, for a job backfill.
    async fn partition_set_name(&self) -> Option<String> {
        self.0
            .spec
            .asset_selection
            .is_none()
            .then(|| format!("{}{PARTITION_SET_SUFFIX}", self.0.spec.job_name))
    }
    async fn job_name(&self) -> Option<&str> {
        Some(&self.0.spec.job_name)
    }
    /// The job's partition set, for a job backfill.
    async fn partition_set(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::schema::partition_sets::PartitionSet>> {
        if self.0.spec.asset_selection.is_some() {
            return Ok(None);
        }
        let selector = sluice_service::JobSelector {
            location: self.0.spec.location_name.clone(),
            repository: sluice_core::snapshot::REPOSITORY_NAME.to_owned(),
            job: self.0.spec.job_name.clone(),
        };
        match crate::schema::partition_sets::PartitionSet::find(ctx, &selector).await {
            Ok(set) => Ok(set),
            Err(ServiceError::JobNotFound { .. }) => Ok(None),
            Err(e) => Err(crate::schema::py_err(e)),
        }
    }
    /// The latest of its runs for each partition that has one.
    async fn partition_statuses(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::schema::partition_sets::PartitionStatuses>> {
        let filter = RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), self.0.id().to_owned())].into(),
            ..RunsFilter::default()
        };
        let runs = crate::schema::partition_sets::runs_by_partition(
            ctx,
            &filter,
            &self.0.spec.partition_names,
        )
        .await?;
        let set_name = format!("{}{PARTITION_SET_SUFFIX}", self.0.spec.job_name);
        Ok(Some(
            crate::schema::partition_sets::PartitionStatuses::latest(&set_name, runs),
        ))
    }
    async fn asset_selection(&self) -> Option<Vec<AssetKey>> {
        self.0
            .spec
            .asset_selection
            .as_ref()
            .map(|keys| keys.iter().map(AssetKey::from).collect())
    }
    async fn is_asset_backfill(&self) -> bool {
        self.0.spec.asset_selection.is_some()
    }
    async fn tags(&self) -> Vec<PipelineTag> {
        self.0
            .spec
            .tags
            .iter()
            .map(|(key, value)| PipelineTag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
    async fn timestamp(&self) -> f64 {
        self.0.create_timestamp
    }
    async fn creation_time(&self) -> f64 {
        self.0.create_timestamp
    }
    async fn start_time(&self) -> Option<f64> {
        Some(self.0.create_timestamp)
    }
    async fn end_timestamp(&self) -> Option<f64> {
        self.0.end_timestamp
    }
    async fn end_time(&self) -> Option<f64> {
        self.0.end_timestamp
    }
    async fn title(&self) -> Option<&str> {
        self.0.spec.title.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.spec.description.as_deref()
    }
    async fn user(&self) -> Option<String> {
        None
    }
    async fn error(&self) -> Option<PythonError> {
        self.0.error.as_ref().map(PythonError::from_info)
    }
    async fn is_valid_serialization(&self) -> bool {
        true
    }
    async fn has_cancel_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::CancelBackfill)
    }
    async fn has_resume_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::CancelBackfill)
    }
    /// Its runs, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn runs(&self, ctx: &Context<'_>, limit: Option<i32>) -> async_graphql::Result<Vec<Run>> {
        self.runs_in(ctx, &[], limit).await
    }
    /// Its runs that have not finished.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn unfinished_runs(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<Run>> {
        let mut unfinished = CANCELABLE.to_vec();
        unfinished.push(CoreStatus::Canceling);
        self.runs_in(ctx, &unfinished, limit).await
    }
    /// Its runs that can still be canceled.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn cancelable_runs(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<Run>> {
        self.runs_in(ctx, &CANCELABLE, limit).await
    }
    /// How many of its partitions' latest runs are in each status.
    async fn partition_status_counts(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PartitionStatusCounts>> {
        let runs = self.runs_in(ctx, &[], None).await?;
        let latest = sluice_service::backfills::latest_status_by_partition(
            runs.into_iter().map(|Run(run)| run),
            &self.0.spec.partition_names,
        );
        let mut counts: BTreeMap<&str, (CoreStatus, i32)> = BTreeMap::new();
        for status in latest.values() {
            counts.entry(status.as_str()).or_insert((*status, 0)).1 += 1;
        }
        Ok(counts
            .into_values()
            .map(|(status, count)| PartitionStatusCounts {
                run_status: status.into(),
                count,
            })
            .collect())
    }
}

/// How many partitions' runs are in one status.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartitionStatusCounts {
    /// The status.
    pub run_status: RunStatus,
    /// How many.
    pub count: i32,
}

/// No backfill has this id.
#[derive(SimpleObject, Clone, Debug)]
pub struct BackfillNotFoundError {
    /// `Backfill {id} could not be found.`
    pub message: String,
    /// The id asked for.
    pub backfill_id: String,
}

/// What `partitionBackfillOrError` returns.
#[derive(Union)]
#[allow(clippy::large_enum_variant)]
pub enum PartitionBackfillOrError {
    /// The backfill.
    PartitionBackfill(PartitionBackfill),
    /// Unknown id.
    BackfillNotFoundError(BackfillNotFoundError),
    /// Storage failed.
    PythonError(PythonError),
}

/// Backfills.
#[derive(SimpleObject)]
pub struct PartitionBackfills {
    /// Newest first.
    pub results: Vec<PartitionBackfill>,
}

/// What `partitionBackfillsOrError` returns.
#[derive(Union)]
pub enum PartitionBackfillsOrError {
    /// The backfills.
    PartitionBackfills(PartitionBackfills),
    /// Storage failed.
    PythonError(PythonError),
}

/// Which backfills to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct BulkActionsFilter {
    /// Only these statuses.
    pub statuses: Option<Vec<BulkActionStatus>>,
    /// Only backfills created before this time (Unix seconds).
    pub created_before: Option<f64>,
    /// Only backfills created after this time.
    pub created_after: Option<f64>,
    /// Not supported (schedules and sensors do not launch backfills in Sluice).
    pub selector_id: Option<String>,
}

/// A job's partition set.
#[derive(InputObject, Clone, Debug)]
pub struct PartitionSetSelector {
    /// `<job>_partition_set`.
    pub partition_set_name: String,
    /// The location.
    pub repository_selector: RepositorySelector,
}

/// What to backfill.
#[derive(InputObject, Clone, Debug)]
pub struct LaunchBackfillParams {
    /// A job's partition set.
    pub selector: Option<PartitionSetSelector>,
    /// The partitions.
    pub partition_names: Option<Vec<String>>,
    /// Per-asset partitions (the same partitions for every asset).
    pub partitions_by_assets: Option<Vec<Option<PartitionsByAssetSelector>>>,
    /// Not supported.
    pub reexecution_steps: Option<Vec<String>>,
    /// The assets, for an asset backfill.
    pub asset_selection: Option<Vec<AssetKeyInput>>,
    /// Not supported here; use `reexecutePartitionBackfill`.
    pub from_failure: Option<bool>,
    /// Every partition.
    pub all_partitions: Option<bool>,
    /// Tags of every run.
    pub tags: Option<Vec<ExecutionTag>>,
    /// Ignored: submission is always by the daemon.
    pub force_synchronous_submission: Option<bool>,
    /// A title.
    pub title: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// Run config of every run.
    pub run_config_data: Option<RunConfigData>,
}

/// Launched.
#[derive(SimpleObject, Clone, Debug)]
pub struct LaunchBackfillSuccess {
    /// The backfill.
    pub backfill_id: String,
    /// Runs launched now (none: the daemon submits them).
    pub launched_run_ids: Option<Vec<Option<String>>>,
}

/// No partitioned job has this partition set.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartitionSetNotFoundError {
    /// `Partition set {name} could not be found.`
    pub message: String,
    /// The name asked for.
    pub partition_set_name: String,
}

/// Partitions that do not exist.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartitionKeysNotFoundError {
    /// Which, and in what.
    pub message: String,
    /// The unknown keys.
    pub partition_keys: Vec<String>,
}

launch_result!(
    /// What `launchPartitionBackfill` and `reexecutePartitionBackfill` return.
    LaunchBackfillResult {
        /// Launched.
        LaunchBackfillSuccess(LaunchBackfillSuccess),
        /// Unknown partition set.
        PartitionSetNotFoundError(PartitionSetNotFoundError),
        /// Unknown partitions.
        PartitionKeysNotFoundError(PartitionKeysNotFoundError),
    }
);

impl LaunchBackfillResult {
    async fn of(service: &Service, result: Result<Backfill, ServiceError>) -> Self {
        match result {
            Ok(b) => Self::LaunchBackfillSuccess(LaunchBackfillSuccess {
                backfill_id: b.id().to_owned(),
                launched_run_ids: Some(Vec::new()),
            }),
            Err(e @ ServiceError::PartitionSetNotFound(_)) => {
                let message = e.to_string();
                let ServiceError::PartitionSetNotFound(name) = e else {
                    unreachable!("matched above");
                };
                Self::PartitionSetNotFoundError(PartitionSetNotFoundError {
                    message,
                    partition_set_name: name,
                })
            }
            Err(e @ ServiceError::PartitionKeysNotFound { .. }) => {
                let message = e.to_string();
                let ServiceError::PartitionKeysNotFound { keys, .. } = e else {
                    unreachable!("matched above");
                };
                Self::PartitionKeysNotFoundError(PartitionKeysNotFoundError {
                    message,
                    partition_keys: keys,
                })
            }
            Err(e) => Self::from_error(service, None, e).await,
        }
    }
}

/// Canceling.
#[derive(SimpleObject, Clone, Debug)]
pub struct CancelBackfillSuccess {
    /// The backfill.
    pub backfill_id: String,
}

/// What `cancelPartitionBackfill` returns.
#[derive(Union, Clone, Debug)]
pub enum CancelBackfillResult {
    /// Canceling.
    CancelBackfillSuccess(CancelBackfillSuccess),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Unknown, or not cancelable.
    PythonError(PythonError),
}

/// Resumed.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResumeBackfillSuccess {
    /// The backfill.
    pub backfill_id: String,
}

/// What `resumePartitionBackfill` returns.
#[derive(Union, Clone, Debug)]
pub enum ResumeBackfillResult {
    /// Resumed.
    ResumeBackfillSuccess(ResumeBackfillSuccess),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Unknown, or not resumable.
    PythonError(PythonError),
}

/// The backfill queries, merged into the `Query` root.
#[derive(Default)]
pub struct BackfillQuery;

#[Object]
impl BackfillQuery {
    /// One backfill.
    async fn partition_backfill_or_error(
        &self,
        ctx: &Context<'_>,
        backfill_id: String,
    ) -> PartitionBackfillOrError {
        match service(ctx).backfill(&backfill_id).await {
            Ok(b) => PartitionBackfillOrError::PartitionBackfill(PartitionBackfill(b)),
            Err(e @ ServiceError::BackfillNotFound(_)) => {
                PartitionBackfillOrError::BackfillNotFoundError(BackfillNotFoundError {
                    message: e.to_string(),
                    backfill_id,
                })
            }
            Err(e) => PartitionBackfillOrError::PythonError(e.into()),
        }
    }

    /// Backfills, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn partition_backfills_or_error(
        &self,
        ctx: &Context<'_>,
        status: Option<BulkActionStatus>,
        cursor: Option<String>,
        limit: Option<i32>,
        filters: Option<BulkActionsFilter>,
    ) -> PartitionBackfillsOrError {
        let filters = filters.unwrap_or_default();
        let statuses: Vec<BackfillStatus> = status
            .into_iter()
            .chain(filters.statuses.into_iter().flatten())
            .map(BulkActionStatus::to_core)
            .collect();
        let timed = filters.created_before.is_some() || filters.created_after.is_some();
        let filter = BackfillsFilter {
            statuses,
            cursor,
            // Time bounds are applied here, so the limit is too.
            limit: if timed {
                None
            } else {
                limit.and_then(|l| usize::try_from(l).ok())
            },
        };
        match service(ctx).backfills(&filter).await {
            Ok(found) => {
                let within = |b: &Backfill| {
                    filters
                        .created_before
                        .is_none_or(|t| b.create_timestamp < t)
                        && filters.created_after.is_none_or(|t| b.create_timestamp > t)
                };
                let limit = match page_limit(limit) {
                    Ok(limit) => limit.unwrap_or(usize::MAX),
                    Err(e) => return PartitionBackfillsOrError::PythonError(e.into()),
                };
                PartitionBackfillsOrError::PartitionBackfills(PartitionBackfills {
                    results: found
                        .into_iter()
                        .filter(within)
                        .take(limit)
                        .map(PartitionBackfill)
                        .collect(),
                })
            }
            Err(e) => PartitionBackfillsOrError::PythonError(e.into()),
        }
    }
}

/// The backfill mutations, merged into the `Mutation` root.
#[derive(Default)]
pub struct BackfillMutation;

#[Object]
impl BackfillMutation {
    /// Backfills partitions of a job (by its partition set) or of assets.
    async fn launch_partition_backfill(
        &self,
        ctx: &Context<'_>,
        backfill_params: LaunchBackfillParams,
    ) -> LaunchBackfillResult {
        LaunchBackfillResult::of(service(ctx), launch(ctx, backfill_params).await).await
    }

    /// Stops a backfill: its queued runs are canceled, its running ones stopped.
    async fn cancel_partition_backfill(
        &self,
        ctx: &Context<'_>,
        backfill_id: String,
    ) -> CancelBackfillResult {
        match service(ctx).cancel_backfill(&backfill_id).await {
            Ok(_) => {
                CancelBackfillResult::CancelBackfillSuccess(CancelBackfillSuccess { backfill_id })
            }
            Err(e) => CancelBackfillResult::PythonError(e.into()),
        }
    }

    /// Goes on with a canceled or failed backfill.
    async fn resume_partition_backfill(
        &self,
        ctx: &Context<'_>,
        backfill_id: String,
    ) -> ResumeBackfillResult {
        match service(ctx).resume_backfill(&backfill_id).await {
            Ok(_) => {
                ResumeBackfillResult::ResumeBackfillSuccess(ResumeBackfillSuccess { backfill_id })
            }
            Err(e) => ResumeBackfillResult::PythonError(e.into()),
        }
    }

    /// A new backfill of a finished one's partitions: all (ALL_STEPS) or those whose
    /// run failed (FROM_FAILURE). `parentRunId` is the backfill's id.
    async fn reexecute_partition_backfill(
        &self,
        ctx: &Context<'_>,
        reexecution_params: Option<ReexecutionParams>,
    ) -> LaunchBackfillResult {
        let Some(params) = reexecution_params else {
            return LaunchBackfillResult::PythonError(PythonError::new(
                "ParameterCheckError",
                "reexecutionParams are required",
            ));
        };
        let from_failure = match params.strategy {
            ReexecutionStrategy::AllSteps => false,
            ReexecutionStrategy::FromFailure | ReexecutionStrategy::FromAssetFailure => true,
        };
        let service = service(ctx);
        LaunchBackfillResult::of(
            service,
            service
                .reexecute_backfill(&params.parent_run_id, from_failure)
                .await,
        )
        .await
    }
}

async fn launch(ctx: &Context<'_>, params: LaunchBackfillParams) -> Result<Backfill, ServiceError> {
    if params.reexecution_steps.is_some() || params.from_failure == Some(true) {
        return Err(ServiceError::Unsupported(
            "reexecutionSteps and fromFailure are not supported here; use reexecutePartitionBackfill".to_owned(),
        ));
    }
    let mut assets: Option<Vec<Vec<String>>> = params
        .asset_selection
        .map(|keys| keys.into_iter().map(|k| k.path).collect());
    if let Some(by_asset) = &params.partitions_by_assets {
        let selected = by_asset.iter().flatten().map(|s| s.asset_key.path.clone());
        assets.get_or_insert_with(Vec::new).extend(selected);
    }
    let target = match (params.selector, assets) {
        (Some(selector), None) => BackfillTarget::PartitionSet {
            location: selector.repository_selector.repository_location_name,
            partition_set_name: selector.partition_set_name,
        },
        (None, Some(assets)) => BackfillTarget::Assets(assets),
        _ => {
            return Err(ServiceError::InvalidArgument(
                "give either a partition set selector or an asset selection".to_owned(),
            ));
        }
    };
    let partitions = match (params.all_partitions, params.partition_names) {
        (Some(true), _) => BackfillPartitions::All,
        (_, Some(keys)) => BackfillPartitions::Keys(keys),
        _ => {
            return Err(ServiceError::InvalidArgument(
                "give partitionNames or allPartitions".to_owned(),
            ));
        }
    };
    let request = BackfillRequest {
        target,
        partitions,
        tags: params
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        run_config: parse_run_config(params.run_config_data.map(|d| d.0))?,
        title: params.title,
        description: params.description,
    };
    service(ctx).launch_backfill(request).await
}
