//! Partition sets as Dagster's GraphQL shows them: a partitioned job's partitions
//! (`<job>_partition_set`), with the runs and the latest status of each
//! (`partitionSetsOrError`, `partitionSetOrError`).

use std::collections::BTreeMap;

use async_graphql::{Context, ID, Object, SimpleObject, Union};
use sluice_core::partition::PartitionsDefinition;
use sluice_core::run::{PARTITION_TAG, Run as CoreRun};
use sluice_storage::{BackfillsFilter, RunsFilter};

use crate::schema::backfills::{PartitionBackfill, PartitionSetNotFoundError};
use crate::schema::errors::{PipelineNotFoundError, PythonError};
use crate::schema::inputs::{RepositorySelector, RunsFilterInput};
use crate::schema::runs::{Run, RunStatus};
use crate::schema::workspace::{PipelineTag, RepositoryOrigin};
use crate::schema::{partitions, service};
use sluice_service::Error as ServiceError;
use sluice_service::backfills::PARTITION_SET_SUFFIX;
use sluice_service::{FoundJob, JobSelector, page_limit};

/// The tag Dagster puts on a partitioned run with its partition set's name.
const PARTITION_SET_TAG: &str = "dagster/partition_set";

/// The partition set queries.
#[derive(Default)]
pub struct PartitionSetQuery;

#[Object]
impl PartitionSetQuery {
    /// The partition sets of a job: one if it is partitioned, none otherwise.
    async fn partition_sets_or_error(
        &self,
        ctx: &Context<'_>,
        repository_selector: RepositorySelector,
        pipeline_name: String,
    ) -> PartitionSetsOrError {
        let selector = job_selector(&repository_selector, pipeline_name);
        match PartitionSet::find(ctx, &selector).await {
            Ok(set) => PartitionSetsOrError::PartitionSets(PartitionSets {
                results: set.into_iter().collect(),
            }),
            Err(ServiceError::JobNotFound {
                location,
                repository,
                job,
            }) => PartitionSetsOrError::PipelineNotFoundError(PipelineNotFoundError::new(
                &location,
                &repository,
                &job,
            )),
            Err(e) => PartitionSetsOrError::PythonError(e.into()),
        }
    }

    /// The partition set named `<job>_partition_set`.
    async fn partition_set_or_error(
        &self,
        ctx: &Context<'_>,
        repository_selector: RepositorySelector,
        partition_set_name: Option<String>,
    ) -> PartitionSetOrError {
        let name = partition_set_name.unwrap_or_default();
        let not_found = || {
            PartitionSetOrError::PartitionSetNotFoundError(PartitionSetNotFoundError {
                message: ServiceError::PartitionSetNotFound(name.clone()).to_string(),
                partition_set_name: name.clone(),
            })
        };
        let Some(job) = name.strip_suffix(PARTITION_SET_SUFFIX) else {
            return not_found();
        };
        let selector = job_selector(&repository_selector, job.to_owned());
        match PartitionSet::find(ctx, &selector).await {
            Ok(Some(set)) => PartitionSetOrError::PartitionSet(set),
            Ok(None) | Err(ServiceError::JobNotFound { .. }) => not_found(),
            Err(e) => PartitionSetOrError::PythonError(e.into()),
        }
    }
}

fn job_selector(repository: &RepositorySelector, job: String) -> JobSelector {
    JobSelector {
        location: repository.repository_location_name.clone(),
        repository: repository.repository_name.clone(),
        job,
    }
}

/// A job's partition sets.
#[derive(SimpleObject)]
pub struct PartitionSets {
    /// One, or none for a job that is not partitioned.
    pub results: Vec<PartitionSet>,
}

/// What `partitionSetsOrError` returns.
#[derive(Union)]
pub enum PartitionSetsOrError {
    /// The sets.
    PartitionSets(PartitionSets),
    /// No such job.
    PipelineNotFoundError(PipelineNotFoundError),
    /// Anything else.
    PythonError(PythonError),
}

/// What `partitionSetOrError` returns.
#[derive(Union)]
pub enum PartitionSetOrError {
    /// The set.
    PartitionSet(PartitionSet),
    /// No partitioned job of that name.
    PartitionSetNotFoundError(PartitionSetNotFoundError),
    /// Anything else.
    PythonError(PythonError),
}

/// The partitions of a partitioned job.
pub struct PartitionSet {
    found: FoundJob,
    definition: PartitionsDefinition,
}

impl PartitionSet {
    /// The partition set of the job `selector` names; `None` when it is not partitioned.
    pub(crate) async fn find(
        ctx: &Context<'_>,
        selector: &JobSelector,
    ) -> Result<Option<Self>, ServiceError> {
        let found = service(ctx).find_job(selector).await?;
        let definition = found
            .snapshot
            .run_partitions(found.job(), None)
            .ok()
            .and_then(|p| p.definition.cloned());
        Ok(definition.map(|definition| Self { found, definition }))
    }

    fn job_name(&self) -> &str {
        &self.found.job().name
    }

    fn set_name(&self) -> String {
        format!("{}{PARTITION_SET_SUFFIX}", self.job_name())
    }

    fn partition_named(&self, name: String) -> Partition {
        Partition {
            name,
            partition_set_name: self.set_name(),
            job_name: self.job_name().to_owned(),
            default_run_config: self.found.job().default_run_config.clone(),
        }
    }

    /// The job's runs of a partition, newest first, by partition.
    async fn runs_by_partition(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<BTreeMap<String, Vec<CoreRun>>> {
        let filter = RunsFilter {
            job_name: Some(self.job_name().to_owned()),
            ..RunsFilter::default()
        };
        let keys = partitions::partition_keys(ctx, &self.definition).await?;
        runs_by_partition(ctx, &filter, &keys).await
    }
}

#[Object]
impl PartitionSet {
    async fn id(&self) -> ID {
        ID(format!("{}:{}", self.found.location.name, self.set_name()))
    }
    /// `<job>_partition_set`.
    async fn name(&self) -> String {
        self.set_name()
    }
    async fn pipeline_name(&self) -> &str {
        self.job_name()
    }
    /// Always null: partitions run whole jobs.
    async fn solid_selection(&self) -> Option<Vec<String>> {
        None
    }
    /// Always `default`.
    async fn mode(&self) -> &str {
        "default"
    }
    /// The partitions, in order (reversed with `reverse`), after the partition named by
    /// `cursor`, at most `limit`.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn partitions_or_error(
        &self,
        ctx: &Context<'_>,
        cursor: Option<String>,
        limit: Option<i32>,
        reverse: Option<bool>,
    ) -> PartitionsOrError {
        let mut keys = match partitions::partition_keys(ctx, &self.definition).await {
            Ok(keys) => keys,
            Err(e) => {
                return PartitionsOrError::PythonError(PythonError::new(
                    "PartitionError",
                    e.message,
                ));
            }
        };
        if reverse.unwrap_or(false) {
            keys.reverse();
        }
        let start = cursor
            .and_then(|c| keys.iter().position(|k| *k == c).map(|i| i + 1))
            .unwrap_or(0);
        let limit = match page_limit(limit) {
            Ok(limit) => limit.unwrap_or(usize::MAX),
            Err(e) => return PartitionsOrError::PythonError(e.into()),
        };
        PartitionsOrError::Partitions(Partitions {
            results: keys
                .into_iter()
                .skip(start)
                .take(limit)
                .map(|k| self.partition_named(k))
                .collect(),
        })
    }
    /// One partition, if the set has it.
    async fn partition(
        &self,
        ctx: &Context<'_>,
        partition_name: String,
    ) -> async_graphql::Result<Option<Partition>> {
        let now = partitions::partitions_context(ctx, &self.definition).await?;
        Ok(self
            .definition
            .check_key(&partition_name, &now)
            .ok()
            .map(|()| self.partition_named(partition_name)))
    }
    /// The latest run of each partition that has one.
    async fn partition_statuses_or_error(&self, ctx: &Context<'_>) -> PartitionStatusesOrError {
        match self.runs_by_partition(ctx).await {
            Ok(runs) => PartitionStatusesOrError::PartitionStatuses(PartitionStatuses::latest(
                &self.set_name(),
                runs,
            )),
            Err(e) => {
                PartitionStatusesOrError::PythonError(PythonError::new("StorageError", e.message))
            }
        }
    }
    /// The latest run of each partition that has one.
    async fn partition_runs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PartitionRun>> {
        Ok(self
            .runs_by_partition(ctx)
            .await?
            .into_iter()
            .filter_map(|(partition, runs)| {
                let latest = runs.into_iter().next()?;
                Some(PartitionRun {
                    id: format!("{}:{partition}", self.set_name()),
                    partition_name: partition,
                    run: Some(Run(latest)),
                })
            })
            .collect())
    }
    async fn repository_origin(&self) -> RepositoryOrigin {
        RepositoryOrigin {
            location: self.found.location.name.clone(),
            metadata: Vec::new(),
        }
    }
    async fn has_launch_backfill_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::LaunchBackfill)
    }
    async fn has_cancel_backfill_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::CancelBackfill)
    }
    /// The job's backfills, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn backfills(
        &self,
        ctx: &Context<'_>,
        cursor: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<PartitionBackfill>> {
        let filter = BackfillsFilter {
            cursor,
            ..BackfillsFilter::default()
        };
        let limit = page_limit(limit)?.unwrap_or(usize::MAX);
        let location = &self.found.location.name;
        Ok(service(ctx)
            .backfills(&filter)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?
            .into_iter()
            .filter(|b| {
                b.spec.job_name == self.job_name()
                    && b.spec.location_name == *location
                    && b.spec.asset_selection.is_none()
            })
            .take(limit)
            .map(PartitionBackfill)
            .collect())
    }
}

/// One partition of a partition set.
pub struct Partition {
    name: String,
    partition_set_name: String,
    job_name: String,
    default_run_config: Option<serde_json::Value>,
}

#[Object]
impl Partition {
    async fn name(&self) -> &str {
        &self.name
    }
    async fn partition_set_name(&self) -> &str {
        &self.partition_set_name
    }
    /// Always null.
    async fn solid_selection(&self) -> Option<Vec<String>> {
        None
    }
    /// Always `default`.
    async fn mode(&self) -> &str {
        "default"
    }
    /// The run config of the partition's runs: the job's default.
    async fn run_config_or_error(&self) -> PartitionRunConfigOrError {
        let config = self
            .default_run_config
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        match serde_norway::to_string(&config) {
            Ok(yaml) => PartitionRunConfigOrError::PartitionRunConfig(PartitionRunConfig { yaml }),
            Err(e) => PartitionRunConfigOrError::PythonError(PythonError::new(
                "SerializationError",
                e.to_string(),
            )),
        }
    }
    /// The tags of the partition's runs.
    async fn tags_or_error(&self) -> PartitionTagsOrError {
        PartitionTagsOrError::PartitionTags(PartitionTags {
            results: vec![
                PipelineTag {
                    key: PARTITION_TAG.to_owned(),
                    value: self.name.clone(),
                },
                PipelineTag {
                    key: PARTITION_SET_TAG.to_owned(),
                    value: self.partition_set_name.clone(),
                },
            ],
        })
    }
    /// The job's runs of this partition, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        filter: Option<RunsFilterInput>,
        cursor: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<Run>> {
        let mut filter = match filter.unwrap_or_default().into_filter() {
            Ok(Some(filter)) => filter,
            Ok(None) => return Ok(Vec::new()),
            Err(message) => return Err(async_graphql::Error::new(message)),
        };
        filter.job_name = Some(self.job_name.clone());
        filter
            .tags
            .insert(PARTITION_TAG.to_owned(), self.name.clone());
        crate::schema::list_runs(ctx, &filter, cursor.as_deref(), page_limit(limit)?).await
    }
    /// The status of its latest run, if it has one.
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<RunStatus>> {
        let filter = RunsFilter {
            job_name: Some(self.job_name.clone()),
            tags: BTreeMap::from([(PARTITION_TAG.to_owned(), self.name.clone())]),
            ..RunsFilter::default()
        };
        let latest = crate::schema::list_runs(ctx, &filter, None, Some(1)).await?;
        Ok(latest.into_iter().next().map(|Run(r)| r.status.into()))
    }
}

/// A page of partitions.
#[derive(SimpleObject)]
pub struct Partitions {
    /// The partitions.
    pub results: Vec<Partition>,
}

/// What `partitionsOrError` returns.
#[derive(Union)]
pub enum PartitionsOrError {
    /// The partitions.
    Partitions(Partitions),
    /// The keys could not be listed.
    PythonError(PythonError),
}

/// The run config of a partition, as YAML.
#[derive(SimpleObject)]
pub struct PartitionRunConfig {
    /// The config.
    pub yaml: String,
}

/// What `runConfigOrError` returns.
#[derive(Union)]
pub enum PartitionRunConfigOrError {
    /// The config.
    PartitionRunConfig(PartitionRunConfig),
    /// It could not be written.
    PythonError(PythonError),
}

/// The tags of a partition's runs.
#[derive(SimpleObject)]
pub struct PartitionTags {
    /// The tags.
    pub results: Vec<PipelineTag>,
}

/// What `tagsOrError` returns.
#[derive(Union)]
pub enum PartitionTagsOrError {
    /// The tags.
    PartitionTags(PartitionTags),
    /// Never in Sluice.
    PythonError(PythonError),
}

/// The latest run of a partition.
#[derive(SimpleObject)]
pub struct PartitionStatus {
    /// `<partition set>:<partition>`.
    pub id: String,
    /// The partition.
    pub partition_name: String,
    /// Its latest run.
    pub run_id: Option<String>,
    /// That run's status.
    pub run_status: Option<RunStatus>,
    /// That run's duration in seconds, once it ended.
    pub run_duration: Option<f64>,
}

/// The latest run of each partition.
#[derive(SimpleObject)]
pub struct PartitionStatuses {
    /// One per partition that has a run.
    pub results: Vec<PartitionStatus>,
}

impl PartitionStatuses {
    /// The latest of each partition's `runs` (newest first), ids prefixed by `set_name`.
    pub(crate) fn latest(set_name: &str, runs: BTreeMap<String, Vec<CoreRun>>) -> Self {
        let results = runs
            .into_iter()
            .filter_map(|(partition, runs)| {
                let latest = runs.into_iter().next()?;
                Some(PartitionStatus {
                    id: format!("{set_name}:{partition}"),
                    partition_name: partition,
                    run_id: Some(latest.run_id.clone()),
                    run_status: Some(latest.status.into()),
                    run_duration: latest.start_time.zip(latest.end_time).map(|(s, e)| e - s),
                })
            })
            .collect();
        Self { results }
    }
}

/// The runs `filter` selects that have partitions, newest first, by partition; a run
/// over a range counts for each of its partitions among `keys` (the partitioning's keys,
/// in order).
pub(crate) async fn runs_by_partition(
    ctx: &Context<'_>,
    filter: &RunsFilter,
    keys: &[String],
) -> async_graphql::Result<BTreeMap<String, Vec<CoreRun>>> {
    let runs = crate::schema::list_runs(ctx, filter, None, None).await?;
    Ok(sluice_service::backfills::runs_by_partition(
        runs.into_iter().map(|Run(run)| run),
        keys,
    ))
}

/// What `partitionStatusesOrError` returns.
#[derive(Union)]
pub enum PartitionStatusesOrError {
    /// The statuses.
    PartitionStatuses(PartitionStatuses),
    /// The runs could not be read.
    PythonError(PythonError),
}

/// A partition and its latest run.
#[derive(SimpleObject)]
pub struct PartitionRun {
    /// `<partition set>:<partition>`.
    pub id: String,
    /// The partition.
    pub partition_name: String,
    /// Its latest run.
    pub run: Option<Run>,
}
