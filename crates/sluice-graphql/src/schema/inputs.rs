//! Input objects and enums of queries and mutations.

use async_graphql::{Enum, InputObject};

use crate::schema::runs::RunStatus;
use crate::schema::scalars::RunConfigData;
use sluice_service::{JobSelector, ReexecutionStrategy as CoreStrategy, TerminatePolicy};

/// This type represents the fields necessary to identify a repository.
#[derive(InputObject, Clone, Debug)]
pub struct RepositorySelector {
    /// The repository (`__repository__`).
    pub repository_name: String,
    /// The code location.
    pub repository_location_name: String,
}

/// An asset key.
#[derive(InputObject, Clone, Debug)]
pub struct AssetKeyInput {
    /// Its path.
    pub path: Vec<String>,
}

/// An asset check.
#[derive(InputObject, Clone, Debug)]
pub struct AssetCheckHandleInput {
    /// The asset.
    pub asset_key: AssetKeyInput,
    /// The check.
    pub name: String,
}

/// This type represents the fields necessary to identify a pipeline or pipeline subset.
#[derive(InputObject, Clone, Debug)]
pub struct PipelineSelector {
    /// The job.
    pub pipeline_name: String,
    /// The repository.
    pub repository_name: String,
    /// The location.
    pub repository_location_name: String,
    /// An op selection (not supported yet).
    pub solid_selection: Option<Vec<String>>,
    /// An asset selection (not supported yet).
    pub asset_selection: Option<Vec<AssetKeyInput>>,
    /// An asset check selection (not supported yet).
    pub asset_check_selection: Option<Vec<AssetCheckHandleInput>>,
}

impl PipelineSelector {
    /// The service's selector.
    pub fn job_selector(&self) -> JobSelector {
        JobSelector {
            location: self.repository_location_name.clone(),
            repository: self.repository_name.clone(),
            job: self.pipeline_name.clone(),
        }
    }
}

/// This type represents the fields necessary to identify a job or pipeline.
#[derive(InputObject, Clone, Debug)]
pub struct JobOrPipelineSelector {
    /// The job (legacy name; wins over `jobName`).
    pub pipeline_name: Option<String>,
    /// The job.
    pub job_name: Option<String>,
    /// The repository.
    pub repository_name: String,
    /// The location.
    pub repository_location_name: String,
    /// An op selection (not supported yet).
    pub solid_selection: Option<Vec<String>>,
    /// An asset selection (not supported yet).
    pub asset_selection: Option<Vec<AssetKeyInput>>,
    /// An asset check selection (not supported yet).
    pub asset_check_selection: Option<Vec<AssetCheckHandleInput>>,
}

impl JobOrPipelineSelector {
    /// The job's name: `pipelineName`, else `jobName`.
    pub fn job(&self) -> Option<&str> {
        self.pipeline_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(self.job_name.as_deref())
    }
}

/// A tag.
#[derive(InputObject, Clone, Debug)]
pub struct ExecutionTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// Run tags and the run's place in its group.
#[derive(InputObject, Clone, Debug, Default)]
pub struct ExecutionMetadata {
    /// Tags of the run.
    pub tags: Option<Vec<ExecutionTag>>,
    /// The first run of the group.
    pub root_run_id: Option<String>,
    /// The run this one re-executes.
    pub parent_run_id: Option<String>,
}

/// What to launch.
#[derive(InputObject, Clone, Debug)]
pub struct ExecutionParams {
    /// The job.
    pub selector: JobOrPipelineSelector,
    /// The run config.
    pub run_config_data: Option<RunConfigData>,
    /// The mode (ignored: Sluice jobs have the one mode `default`).
    pub mode: Option<String>,
    /// Tags, root and parent run.
    pub execution_metadata: Option<ExecutionMetadata>,
    /// Step keys to execute (only the whole plan is supported).
    pub step_keys: Option<Vec<String>>,
    /// A preset (Sluice jobs have none).
    pub preset: Option<String>,
}

/// Which steps a re-execution runs.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReexecutionStrategy {
    /// The failed assets.
    FromAssetFailure,
    /// The failed steps and what did not run.
    FromFailure,
    /// Every step.
    AllSteps,
}

impl From<ReexecutionStrategy> for CoreStrategy {
    fn from(s: ReexecutionStrategy) -> Self {
        match s {
            ReexecutionStrategy::FromAssetFailure => Self::FromAssetFailure,
            ReexecutionStrategy::FromFailure => Self::FromFailure,
            ReexecutionStrategy::AllSteps => Self::AllSteps,
        }
    }
}

/// A re-execution of a run.
#[derive(InputObject, Clone, Debug)]
pub struct ReexecutionParams {
    /// The run to re-execute.
    pub parent_run_id: String,
    /// Which steps.
    pub strategy: ReexecutionStrategy,
    /// Tags that override the parent's.
    pub extra_tags: Option<Vec<ExecutionTag>>,
    /// Whether to start from the parent's tags (default true).
    pub use_parent_run_tags: Option<bool>,
}

/// The type of termination policy to use for a run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TerminateRunPolicy {
    /// Ask the run's worker to stop.
    SafeTerminate,
    /// Mark the run canceled at once.
    MarkAsCanceledImmediately,
}

impl From<TerminateRunPolicy> for TerminatePolicy {
    fn from(p: TerminateRunPolicy) -> Self {
        match p {
            TerminateRunPolicy::SafeTerminate => Self::SafeTerminate,
            TerminateRunPolicy::MarkAsCanceledImmediately => Self::MarkAsCanceledImmediately,
        }
    }
}

/// This type represents a filter on Dagster runs.
#[derive(InputObject, Clone, Debug, Default)]
#[graphql(name = "RunsFilter")]
pub struct RunsFilterInput {
    /// Only these runs.
    pub run_ids: Option<Vec<Option<String>>>,
    /// Only runs of this job.
    pub pipeline_name: Option<String>,
    /// Only runs with all of these tags.
    pub tags: Option<Vec<ExecutionTag>>,
    /// Only runs in one of these statuses.
    pub statuses: Option<Vec<RunStatus>>,
    /// Only runs of this job snapshot (not supported: answered with an error).
    pub snapshot_id: Option<String>,
    /// Only runs updated after this time.
    pub updated_after: Option<f64>,
    /// Only runs updated before this time.
    pub updated_before: Option<f64>,
    /// Only runs created before this time.
    pub created_before: Option<f64>,
    /// Only runs created after this time.
    pub created_after: Option<f64>,
    /// Only runs of this mode (every run is `default`).
    pub mode: Option<String>,
}

impl RunsFilterInput {
    /// The storage filter; `Ok(None)` when no run can match (a status or mode no Sluice
    /// run has), `Err` with the message of a filter Sluice does not support.
    pub fn into_filter(self) -> Result<Option<sluice_storage::RunsFilter>, String> {
        if self.snapshot_id.is_some() {
            return Err("filtering runs by snapshotId is not supported".to_owned());
        }
        let mut statuses = Vec::new();
        for status in self.statuses.iter().flatten() {
            match status.to_core() {
                Some(s) => statuses.push(s),
                // No run is ever MANAGED or SUSPENDED in Sluice.
                None if self.statuses.as_ref().is_some_and(|s| s.len() == 1) => return Ok(None),
                None => {}
            }
        }
        if self.mode.as_deref().is_some_and(|m| m != "default") {
            return Ok(None);
        }
        Ok(Some(sluice_storage::RunsFilter {
            run_ids: self
                .run_ids
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect(),
            job_name: self.pipeline_name,
            statuses,
            tags: self
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect(),
            created_after: self.created_after,
            created_before: self.created_before,
            updated_after: self.updated_after,
            updated_before: self.updated_before,
        }))
    }
}

/// Which schedule: location, repository and name.
#[derive(InputObject, Clone, Debug)]
pub struct ScheduleSelector {
    /// The repository (`__repository__`).
    pub repository_name: String,
    /// The code location.
    pub repository_location_name: String,
    /// The schedule.
    pub schedule_name: String,
}

/// Which sensor: location, repository and name.
#[derive(InputObject, Clone, Debug)]
pub struct SensorSelector {
    /// The repository (`__repository__`).
    pub repository_name: String,
    /// The code location.
    pub repository_location_name: String,
    /// The sensor.
    pub sensor_name: String,
}

/// Which schedule or sensor: location, repository and name.
#[derive(InputObject, Clone, Debug)]
pub struct InstigationSelector {
    /// The repository (`__repository__`).
    pub repository_name: String,
    /// The code location.
    pub repository_location_name: String,
    /// The schedule or sensor.
    pub name: String,
}
