//! Runs: launch, re-execute, terminate, delete and list them.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use sluice_core::events::{EventType, LogLevel, RunEvent};
use sluice_core::io_manager::FsIoManager;
use sluice_core::run::{NewRun, RESUME_RETRY_TAG, Run, RunOrigin, RunStatus};
use sluice_core::snapshot::{JobSnapshot, REPOSITORY_NAME};
use sluice_storage::{RunsFilter, Wakeup, output_storage_dir};

use crate::error::{Error, Result};
use crate::locations::asset_selection_steps;
use crate::redaction;
use crate::{FoundJob, JobSelector, Service};

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The job.
    pub selector: JobSelector,
    /// The run config document (already parsed; see [`parse_run_config`]).
    pub run_config: Value,
    /// Tags given with the request; they override the job's tags.
    pub tags: Vec<(String, String)>,
    /// The run this one re-executes, if any.
    pub parent_run_id: Option<String>,
    /// The first run of this run's group, if any.
    pub root_run_id: Option<String>,
    /// Dagster's `solidSelection` (op selection); not supported yet when set.
    pub op_selection: Option<Vec<String>>,
    /// Dagster's `assetSelection`: materialize only these assets of the job.
    pub asset_selection: Option<Vec<Vec<String>>>,
    /// Step keys to execute; only the whole plan is supported.
    pub step_keys: Option<Vec<String>>,
}

impl LaunchRequest {
    /// A launch of `selector` with `run_config` and nothing else.
    pub fn new(selector: JobSelector, run_config: Value) -> Self {
        Self {
            selector,
            run_config,
            tags: Vec::new(),
            parent_run_id: None,
            root_run_id: None,
            op_selection: None,
            asset_selection: None,
            step_keys: None,
        }
    }
}

/// Which steps a re-execution runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReexecutionStrategy {
    /// Every step of the job.
    AllSteps,
    /// The steps that did not succeed (failed, skipped or never started); the others'
    /// outputs are loaded from the runs that produced them.
    FromFailure,
    /// The assets that failed (not supported yet).
    FromAssetFailure,
}

/// A re-execution of a stored run.
#[derive(Debug, Clone)]
pub struct ReexecuteRequest {
    /// The run to re-execute.
    pub parent_run_id: String,
    /// Which steps.
    pub strategy: ReexecutionStrategy,
    /// Tags added to (and overriding) the parent's.
    pub extra_tags: Vec<(String, String)>,
    /// Whether the new run starts from the parent's tags (default true).
    pub use_parent_run_tags: bool,
}

/// How to terminate a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminatePolicy {
    /// Ask the run's worker to stop; only QUEUED and STARTED runs can be terminated.
    #[default]
    SafeTerminate,
    /// Mark any unfinished run CANCELED at once (and ask its worker to stop).
    MarkAsCanceledImmediately,
}

/// The outcome of a termination request for an existing run.
#[derive(Debug, Clone)]
pub enum TerminateOutcome {
    /// The run was canceled (QUEUED) or asked to stop (STARTED). The run is as it was
    /// before, as Dagster returns it.
    Terminated(Run),
    /// The run could not be terminated; the message says why.
    Refused {
        /// The run as it is.
        run: Run,
        /// Why.
        message: String,
    },
}

/// Which runs to list: storage's filter, and where the page starts and ends.
#[derive(Debug, Clone, Default)]
pub struct RunsQuery {
    /// Run ids, job, statuses, tags and time bounds.
    pub filter: RunsFilter,
    /// A run id: the page starts after it (newest first).
    pub cursor: Option<String>,
    /// The page size.
    pub limit: Option<usize>,
}

impl Service {
    /// Validate a launch and store the run as QUEUED, with a RUN_ENQUEUED event, then
    /// wake the daemon, which launches it through the location's code server.
    pub async fn launch_run(&self, request: LaunchRequest) -> Result<Run> {
        let found = self.find_job(&request.selector).await?;
        let job = found.job();
        if let Some(ops) = &request.op_selection {
            return Err(Error::InvalidSubset {
                job: job.name.clone(),
                message: format!(
                    "op selection {ops:?} cannot be executed: Sluice runs whole jobs only (op selection is not supported yet)"
                ),
            });
        }
        let mut step_keys = match &request.asset_selection {
            Some(paths) => Some(asset_selection_steps(&found, paths)?),
            None => request.step_keys.clone().filter(|k| !k.is_empty()),
        };
        if let Some(keys) = &step_keys {
            if let Some(unknown) = keys
                .iter()
                .find(|k| !job.nodes.iter().any(|n| &n.alias == *k))
            {
                return Err(Error::InvalidArgument(format!(
                    "Can not build subset plan from unknown step: {unknown}"
                )));
            }
            let asset_ops: HashSet<&str> = found
                .snapshot
                .assets
                .iter()
                .flat_map(|a| {
                    let checks = a.checks.iter().map(|c| c.op_name.as_str());
                    a.op_name.as_deref().into_iter().chain(checks)
                })
                .collect();
            if keys.len() == job.nodes.len() {
                step_keys = None;
            } else if !job
                .nodes
                .iter()
                .all(|n| asset_ops.contains(n.op_name.as_str()))
            {
                // A subset of an op job would need outputs of steps it does not run.
                return Err(Error::Unsupported(
                    "executing a subset of a job's ops is not supported yet; omit stepKeys to run every step".to_owned(),
                ));
            }
        }
        found.validate(&request.run_config)?;

        let origin = match request.parent_run_id {
            None => RunOrigin::Launch,
            Some(parent_run_id) => RunOrigin::Reexecution {
                root_run_id: request.root_run_id.unwrap_or_else(|| parent_run_id.clone()),
                parent_run_id,
                from_failure: request
                    .tags
                    .iter()
                    .any(|(k, v)| k == RESUME_RETRY_TAG && v == "true"),
            },
        };
        let run = NewRun::queued(&job.name, &request.selector.location, origin)
            .base_tags(&job.tags)
            .request_tags(request.tags)?
            .run_config(request.run_config)
            .step_keys(step_keys);
        self.check_partition(&found, run.step_keys_to_execute(), &run.tags())
            .await?;
        self.enqueue(run.build()).await
    }

    /// Check the partition a run names (its `dagster/partition` tag) against the
    /// partitioning of its job or assets.
    async fn check_partition(
        &self,
        found: &FoundJob,
        steps: Option<&[String]>,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let invalid = |error| Error::Partition {
            job: found.job().name.clone(),
            error,
        };
        let partitions = found
            .snapshot
            .run_partitions(found.job(), steps)
            .map_err(invalid)?;
        let ctx = sluice_storage::partitions_context(self.storage.as_ref(), partitions.definition)
            .await?;
        partitions.check_tags(tags, &ctx).map_err(invalid)
    }

    async fn enqueue(&self, new_run: NewRun) -> Result<Run> {
        // The run and its first event are stored together, or not at all.
        let run = self
            .storage()
            .create_run_with_events(&new_run, &[new_run.enqueued_event()])
            .await?;
        Wakeup::run_queue(&self.home).notify();
        tracing::info!(run_id = %run.run_id, job = %run.job_name, "run queued");
        Ok(shown(run))
    }

    /// Re-execute a stored run: queue a new run of the parent's job with its config and
    /// tags. ALL_STEPS runs every step; FROM_FAILURE (for a failed or canceled parent)
    /// runs only the steps that did not succeed, and the worker loads the outputs of the
    /// others from the runs that stored them.
    pub async fn reexecute(&self, request: ReexecuteRequest) -> Result<Run> {
        let parent = self
            .storage
            .get_run(&request.parent_run_id)
            .await?
            .ok_or_else(|| Error::ParentRunNotFound(request.parent_run_id.clone()))?;
        if request.strategy == ReexecutionStrategy::FromAssetFailure {
            return Err(Error::Unsupported(format!(
                "re-executing run {} from asset failure is not supported yet; re-execute \
                 with FROM_FAILURE (the steps, asset steps included, that did not succeed) \
                 or ALL_STEPS instead",
                parent.run_id
            )));
        }
        if request.strategy == ReexecutionStrategy::FromFailure
            && !matches!(parent.status, RunStatus::Failure | RunStatus::Canceled)
        {
            return Err(Error::InvalidArgument(
                "Cannot reexecute from failure a run that is not failed or canceled".to_owned(),
            ));
        }
        let found = self
            .job_of_run(&parent)
            .await
            .ok_or_else(|| Error::JobNotFound {
                location: parent.location_name.clone().unwrap_or_default(),
                repository: REPOSITORY_NAME.to_owned(),
                job: parent.job_name.clone(),
            })?;
        found.validate(&parent.run_config)?;
        let root = parent
            .root_run_id
            .clone()
            .unwrap_or_else(|| parent.run_id.clone());
        let from_failure = request.strategy == ReexecutionStrategy::FromFailure;
        let step_keys = if from_failure {
            Some(self.steps_from_failure(&parent, found.job()).await?)
        } else {
            None
        };
        let origin = RunOrigin::Reexecution {
            parent_run_id: parent.run_id.clone(),
            root_run_id: root,
            from_failure,
        };
        let run = NewRun::queued(&parent.job_name, &found.location.name, origin);
        let run = if request.use_parent_run_tags {
            run.inherited_tags(&parent.tags)
        } else {
            run.base_tags(&found.job().tags)
        };
        let run = run
            .request_tags(request.extra_tags)?
            .run_config(parent.run_config.clone())
            .step_keys(step_keys)
            .build();
        self.enqueue(run).await
    }

    /// The steps of `job` that did not succeed in `parent`, in job order. A step that
    /// `parent` did not execute (it re-executed part of the job) succeeded earlier.
    async fn steps_from_failure(&self, parent: &Run, job: &JobSnapshot) -> Result<Vec<String>> {
        let events = self
            .storage
            .events_for_run(&parent.run_id, None, None)
            .await?;
        let succeeded: HashSet<&str> = events
            .iter()
            .filter(|e| e.event.event_type == EventType::StepSuccess)
            .filter_map(|e| e.event.step_key.as_deref())
            .collect();
        let executed_in_parent = |step: &str| {
            parent
                .step_keys_to_execute
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k == step))
        };
        let steps: Vec<String> = job
            .nodes
            .iter()
            .map(|n| n.alias.as_str())
            .filter(|step| executed_in_parent(step) && !succeeded.contains(step))
            .map(str::to_owned)
            .collect();
        if steps.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "run {} has no failed or unexecuted steps to re-execute",
                parent.run_id
            )));
        }
        Ok(steps)
    }

    /// A stored run as it may be shown (its secrets hidden, see [`crate::redaction`]), or
    /// [`Error::RunNotFound`].
    pub async fn run(&self, run_id: &str) -> Result<Run> {
        self.stored_run(run_id).await.map(shown)
    }

    /// A stored run as it is, secrets included: for this crate's own use, never shown.
    pub(crate) async fn stored_run(&self, run_id: &str) -> Result<Run> {
        self.storage
            .get_run(run_id)
            .await?
            .ok_or_else(|| Error::RunNotFound(run_id.to_owned()))
    }

    /// Terminate a run, by Dagster's rules: a QUEUED run is canceled at once; a STARTED
    /// run is marked CANCELING (its worker stops when it sees that) and its code server
    /// asked to stop the worker now; any other status is refused (unless the policy
    /// marks the run canceled immediately).
    pub async fn terminate_run(
        &self,
        run_id: &str,
        policy: TerminatePolicy,
    ) -> Result<TerminateOutcome> {
        let run = self.stored_run(run_id).await?;
        let canceled = |run: &Run| {
            RunEvent::new(
                &run.run_id,
                EventType::RunCanceled,
                format!("Execution of run for \"{}\" canceled.", run.job_name),
            )
            .level(LogLevel::Error)
        };
        match (run.status, policy) {
            (RunStatus::Queued, _) => {
                self.storage.store_events(&[canceled(&run)]).await?;
                Ok(TerminateOutcome::Terminated(shown(run)))
            }
            (RunStatus::Started, TerminatePolicy::SafeTerminate) => {
                let canceling = RunEvent::new(
                    &run.run_id,
                    EventType::RunCanceling,
                    "Sending run termination request.",
                )
                .level(LogLevel::Info);
                self.storage.store_events(&[canceling]).await?;
                // The worker stops when it sees its run CANCELING (it checks every
                // second); the signal through its code server only makes that immediate.
                if let Err(reason) = self.signal_worker(&run).await {
                    let event = RunEvent::new(
                        &run.run_id,
                        EventType::EngineEvent,
                        format!(
                            "Could not signal the run's worker ({reason}); it stops when it next sees the run CANCELING."
                        ),
                    )
                    .level(LogLevel::Warning);
                    self.storage.store_events(&[event]).await?;
                }
                Ok(TerminateOutcome::Terminated(shown(run)))
            }
            (status, TerminatePolicy::MarkAsCanceledImmediately) if !status.is_finished() => {
                if status != RunStatus::Queued {
                    // Best effort: the run is marked canceled whatever the worker does.
                    if let Err(reason) = self.signal_worker(&run).await {
                        tracing::warn!(run_id, %reason, "could not signal the run's worker");
                    }
                }
                self.storage.store_events(&[canceled(&run)]).await?;
                Ok(TerminateOutcome::Terminated(shown(run)))
            }
            (status, _) => Ok(TerminateOutcome::Refused {
                message: format!(
                    "Run {} could not be terminated due to having status {status}.",
                    run.run_id
                ),
                run: shown(run),
            }),
        }
    }

    /// Ask the code server of the run's location to stop the run's worker.
    async fn signal_worker(&self, run: &Run) -> std::result::Result<(), String> {
        let name = run
            .location_name
            .as_deref()
            .ok_or_else(|| "the run has no code location".to_owned())?;
        let location = self
            .workspace
            .location(name)
            .await
            .ok_or_else(|| format!("code location \"{name}\" is not in the workspace"))?;
        match location.client.terminate_run(&run.run_id).await {
            Ok(result) if result.signalled => Ok(()),
            Ok(result) => Err(result.message.unwrap_or_else(|| {
                format!("the code server of \"{name}\" is not running this run")
            })),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Delete a run with its tags, events and stored outputs.
    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        if !self.storage.delete_run(run_id).await? {
            return Err(Error::RunNotFound(run_id.to_owned()));
        }
        let outputs = FsIoManager::new(output_storage_dir(&self.home));
        if let Err(e) = outputs.delete_run(run_id) {
            tracing::warn!(run_id, "the run is deleted, but its outputs are not: {e}");
        }
        Ok(())
    }

    /// The page of runs `query` asks for, newest first.
    pub async fn runs(&self, query: &RunsQuery) -> Result<Vec<Run>> {
        let runs = self
            .storage
            .list_runs(&query.filter, query.cursor.as_deref(), query.limit)
            .await?;
        Ok(runs.into_iter().map(shown).collect())
    }

    /// How many runs match `filter`.
    pub async fn count_runs(&self, filter: &RunsFilter) -> Result<u64> {
        Ok(self.storage.count_runs(filter).await?)
    }
}

/// `run` as the service hands it out: its secrets hidden.
fn shown(run: Run) -> Run {
    redaction::redact_run(run)
}
