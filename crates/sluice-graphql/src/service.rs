//! The webserver's operations in plain Rust, over instance storage and the workspace:
//! find a job, validate run config, launch, re-execute, terminate and delete runs, read
//! runs and events, reload locations. The GraphQL schema is a thin layer over this, and
//! so is the HTML UI: both read and write through the same functions.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use sluice_codeserver::{Location, LocationState, Workspace};
use sluice_core::asset::AssetKey;
use sluice_core::config::{ConfigType, parse_document};
use sluice_core::events::{EventRecord, EventType, LogLevel, RunEvent, now_timestamp};
use sluice_core::io_manager::FsIoManager;
use sluice_core::run::{NewRun, Run, RunStatus};
use sluice_core::run_config::ConfigShape;
use sluice_core::snapshot::{JobSnapshot, LocationSnapshot, REPOSITORY_NAME};
use sluice_storage::{DaemonHeartbeat, RunsFilter, Storage, Wakeup, output_storage_dir};

use crate::config_errors;
use crate::error::{Error, Result};

pub use sluice_core::run::{
    CODE_LOCATION_TAG, PARENT_RUN_ID_TAG, RESUME_RETRY_TAG, ROOT_RUN_ID_TAG,
};

/// Tags that describe one run's place in its run group; a re-execution does not inherit them.
const RUN_GROUP_TAGS: [&str; 4] = [
    PARENT_RUN_ID_TAG,
    ROOT_RUN_ID_TAG,
    RESUME_RETRY_TAG,
    "dagster/failure_reason",
];

/// The daemon loops a Sluice deployment needs, with Dagster's names.
pub const REQUIRED_DAEMONS: [&str; 4] =
    ["SENSOR", "BACKFILL", "SCHEDULER", "QUEUED_RUN_COORDINATOR"];
/// A daemon whose last heartbeat is older than this is unhealthy (as Dagster's default).
pub const DAEMON_HEARTBEAT_TOLERANCE_SECONDS: f64 = 300.0;
/// How many past events the log subscription sends per message.
pub const EVENT_CHUNK_SIZE: usize = 1000;
/// How often a follower of a run's log looks for new events.
pub const FOLLOW_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Which job: Dagster's `(location, repository, job)` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSelector {
    /// The code location.
    pub location: String,
    /// The repository; always [`REPOSITORY_NAME`] in Sluice.
    pub repository: String,
    /// The job.
    pub job: String,
}

/// A job found in the workspace, with the snapshot of its location.
#[derive(Debug, Clone)]
pub struct FoundJob {
    /// The location (its client and state).
    pub location: Location,
    /// The location's snapshot.
    pub snapshot: Arc<LocationSnapshot>,
    index: usize,
}

impl FoundJob {
    /// The job's snapshot.
    pub fn job(&self) -> &JobSnapshot {
        &self.snapshot.jobs[self.index]
    }

    /// The job's whole run config schema.
    pub fn config_schema(&self) -> ConfigType {
        ConfigShape::of_snapshot(&self.snapshot, self.job()).schema()
    }

    /// The run config a launchpad starts from: the schema's defaults and a placeholder
    /// for every required value ([`ConfigType::scaffold`]), with the job's own default
    /// run config laid over them.
    pub fn config_scaffold(&self) -> Value {
        fn overlay(base: &mut Value, top: &Value) {
            match (base, top) {
                (Value::Object(base), Value::Object(top)) => {
                    for (key, value) in top {
                        match base.get_mut(key) {
                            Some(slot) => overlay(slot, value),
                            None => {
                                base.insert(key.clone(), value.clone());
                            }
                        }
                    }
                }
                (base, top) => *base = top.clone(),
            }
        }
        let mut document = self
            .config_schema()
            .scaffold()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(defaults) = &self.job().default_run_config {
            overlay(&mut document, defaults);
        }
        document
    }

    /// Validate `config` for this job: every error as Dagster reports it.
    pub fn validate(&self, config: &Value) -> Result<()> {
        let shape = ConfigShape::of_snapshot(&self.snapshot, self.job());
        match shape.validate(config) {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::InvalidRunConfig {
                job: self.job().name.clone(),
                errors: config_errors::describe(&e.errors, &shape.schema(), config),
            }),
        }
    }
}

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

/// The steps of `found`'s job that materialize the assets at `paths`: each must be an
/// asset the location defines and the job materializes.
pub(crate) fn asset_selection_steps(
    found: &FoundJob,
    paths: &[Vec<String>],
) -> Result<Vec<String>> {
    let job = found.job();
    let invalid = |message: String| Error::InvalidSubset {
        job: job.name.clone(),
        message,
    };
    let keys = paths
        .iter()
        .map(|path| {
            AssetKey::new(path.iter().cloned())
                .map_err(|e| invalid(format!("{path:?} is not an asset key: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    found
        .snapshot
        .job_asset_steps(&found.location.name, job, &keys)
        .map_err(invalid)
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

/// A page of a run's event log.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events, in log order.
    pub events: Vec<EventRecord>,
    /// The cursor after the last event of the page (or the one given, if none).
    pub cursor: String,
    /// Whether more events follow.
    pub has_more: bool,
}

/// Events of a run's log as [`Service::follow_events`] delivers them.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// The events, in log order (empty only for the first batch of an empty log).
    pub events: Vec<EventRecord>,
    /// Whether more stored events follow at once.
    pub more: bool,
    /// The storage id of the last event delivered so far, if any.
    pub after: Option<i64>,
}

/// A daemon loop's health, as the instance reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonStatus {
    /// The loop, e.g. `QUEUED_RUN_COORDINATOR`.
    pub daemon_type: String,
    /// Whether a deployment needs it.
    pub required: bool,
    /// Whether it sent a heartbeat recently.
    pub healthy: bool,
    /// Its last heartbeat (Unix seconds).
    pub last_heartbeat_time: Option<f64>,
    /// Its recent errors, newest first.
    pub errors: Vec<String>,
}

/// Encode an event storage id as Dagster's log cursor: base64 of
/// `{"type": "STORAGE_ID", "value": N}`.
pub fn encode_event_cursor(storage_id: i64) -> String {
    let json = format!("{{\"type\": \"STORAGE_ID\", \"value\": {storage_id}}}");
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Decode a log cursor made by [`encode_event_cursor`] (a plain storage id is accepted too).
pub fn decode_event_cursor(cursor: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid event cursor {cursor:?}: pass back a cursor this API returned"
        ))
    };
    if let Ok(id) = cursor.trim().parse::<i64>() {
        return Ok(id);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    value
        .get("value")
        .and_then(Value::as_i64)
        .filter(|_| value.get("type").and_then(Value::as_str) == Some("STORAGE_ID"))
        .ok_or_else(bad)
}

/// Turn Dagster's `RunConfigData` into a config document: an object as it is, a string
/// parsed as YAML or JSON, null as `{}`.
pub fn parse_run_config(raw: Option<Value>) -> Result<Value> {
    match raw {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(Value::String(text)) => Ok(parse_document(&text, "runConfigData")?),
        Some(other) => Ok(other),
    }
}

/// A run config rendered as YAML, as Dagster's `runConfigYaml` (`{}\n` when empty).
pub fn run_config_yaml(config: &Value) -> String {
    if config.as_object().is_some_and(|m| m.is_empty()) || config.is_null() {
        return "{}\n".to_owned();
    }
    serde_norway::to_string(config).unwrap_or_else(|_| format!("{config}\n"))
}

/// The operations of the webserver over one instance and one workspace. Cheap to share
/// behind an `Arc`.
pub struct Service {
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    home: PathBuf,
}

impl Service {
    /// Operations over `storage` and `workspace`; `home` is the instance directory,
    /// where the daemon listens for "a run was queued".
    pub fn new(storage: Arc<dyn Storage>, workspace: Workspace, home: PathBuf) -> Self {
        Self {
            storage,
            workspace,
            home,
        }
    }

    /// The instance storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The instance directory.
    pub fn home(&self) -> &std::path::Path {
        &self.home
    }

    /// Find a job. An unknown location, repository or job is [`Error::JobNotFound`]; a
    /// location whose code server could not be loaded is [`Error::LocationUnavailable`].
    pub async fn find_job(&self, selector: &JobSelector) -> Result<FoundJob> {
        let not_found = || Error::JobNotFound {
            location: selector.location.clone(),
            repository: selector.repository.clone(),
            job: selector.job.clone(),
        };
        if selector.repository != REPOSITORY_NAME {
            return Err(not_found());
        }
        let (location, snapshot) = self
            .loaded_location(&selector.location)
            .await?
            .ok_or_else(not_found)?;
        let index = snapshot
            .jobs
            .iter()
            .position(|j| j.name == selector.job)
            .ok_or_else(not_found)?;
        Ok(FoundJob {
            location,
            snapshot,
            index,
        })
    }

    /// Location `name` and its snapshot; `None` when the workspace has no such location,
    /// an error when it is not loaded.
    async fn loaded_location(
        &self,
        name: &str,
    ) -> Result<Option<(Location, Arc<LocationSnapshot>)>> {
        let Some(location) = self.workspace.location(name).await else {
            return Ok(None);
        };
        match &location.state {
            LocationState::Loaded(s) => {
                let snapshot = s.clone();
                Ok(Some((location, snapshot)))
            }
            LocationState::Failed(message) => Err(Error::LocationUnavailable {
                location: name.to_owned(),
                message: message.clone(),
            }),
        }
    }

    /// Check that `location` uses the dynamic partitions set `name`.
    async fn dynamic_set(&self, location: &str, name: &str) -> Result<()> {
        let (_, snapshot) = self
            .loaded_location(location)
            .await?
            .ok_or_else(|| Error::LocationNotFound(location.to_owned()))?;
        let sets = snapshot.dynamic_partition_sets();
        if sets.contains(name) {
            Ok(())
        } else {
            Err(Error::DynamicPartitionsNotFound {
                location: location.to_owned(),
                name: name.to_owned(),
                known: sets.into_iter().map(str::to_owned).collect(),
            })
        }
    }

    /// The keys of dynamic partitions set `name` of `location`, in the order added.
    pub async fn dynamic_partition_keys(&self, location: &str, name: &str) -> Result<Vec<String>> {
        self.dynamic_set(location, name).await?;
        Ok(self.storage.dynamic_partition_keys(name).await?)
    }

    /// Add `keys` to dynamic set `name` of `location`, all or none: a key the set has
    /// already (or that is given twice, or is not a valid key) is refused, and nothing is
    /// added.
    pub async fn add_dynamic_partitions(
        &self,
        location: &str,
        name: &str,
        keys: &[String],
    ) -> Result<()> {
        self.dynamic_set(location, name).await?;
        let duplicate = |key: &String| Error::DuplicateDynamicPartition {
            name: name.to_owned(),
            key: key.clone(),
        };
        let existing: HashSet<String> = self
            .storage
            .dynamic_partition_keys(name)
            .await?
            .into_iter()
            .collect();
        let mut given = HashSet::new();
        if let Some(dup) = keys
            .iter()
            .find(|k| existing.contains(*k) || !given.insert(*k))
        {
            return Err(duplicate(dup));
        }
        let added = self.storage.add_dynamic_partitions(name, keys).await?;
        // Another writer may have added one of them since they were read.
        if let Some(raced) = keys.iter().find(|k| !added.contains(k)) {
            return Err(duplicate(raced));
        }
        tracing::info!(set = name, count = keys.len(), "dynamic partitions added");
        Ok(())
    }

    /// Delete `keys` from dynamic set `name` of `location`; returns those it had.
    pub async fn delete_dynamic_partitions(
        &self,
        location: &str,
        name: &str,
        keys: &[String],
    ) -> Result<Vec<String>> {
        self.dynamic_set(location, name).await?;
        Ok(self.storage.delete_dynamic_partitions(name, keys).await?)
    }

    /// The job a stored run belongs to, if its location still defines it.
    pub async fn job_of_run(&self, run: &Run) -> Option<FoundJob> {
        match &run.location_name {
            Some(location) => self
                .find_job(&JobSelector {
                    location: location.clone(),
                    repository: REPOSITORY_NAME.to_owned(),
                    job: run.job_name.clone(),
                })
                .await
                .ok(),
            None => {
                for location in self.workspace.locations().await {
                    let selector = JobSelector {
                        location: location.name.clone(),
                        repository: REPOSITORY_NAME.to_owned(),
                        job: run.job_name.clone(),
                    };
                    if let Ok(found) = self.find_job(&selector).await {
                        return Some(found);
                    }
                }
                None
            }
        }
    }

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

        let mut tags: BTreeMap<String, String> = job.tags.clone();
        tags.insert(
            CODE_LOCATION_TAG.to_owned(),
            request.selector.location.clone(),
        );
        tags.extend(request.tags);
        self.check_partition(&found, step_keys.as_deref(), &tags)
            .await?;
        let run = NewRun {
            location_name: Some(request.selector.location.clone()),
            status: RunStatus::Queued,
            run_config: request.run_config,
            tags,
            parent_run_id: request.parent_run_id,
            root_run_id: request.root_run_id,
            step_keys_to_execute: step_keys,
            ..NewRun::new(job.name.clone())
        };
        self.enqueue(run).await
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
        let event =
            RunEvent::new(&new_run.run_id, EventType::RunEnqueued, "").level(LogLevel::Info);
        // The run and its first event are stored together, or not at all.
        let run = self
            .storage
            .create_run_with_events(&new_run, &[event])
            .await?;
        Wakeup::run_queue(&self.home).notify();
        tracing::info!(run_id = %run.run_id, job = %run.job_name, "run queued");
        Ok(run)
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
                "re-executing run {} from asset failure needs assets, which Sluice does not \
                 have yet; re-execute with FROM_FAILURE or ALL_STEPS instead",
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
        let mut tags = if request.use_parent_run_tags {
            parent.tags.clone()
        } else {
            found.job().tags.clone()
        };
        tags.retain(|k, _| !RUN_GROUP_TAGS.contains(&k.as_str()));
        tags.insert(CODE_LOCATION_TAG.to_owned(), found.location.name.clone());
        tags.insert(PARENT_RUN_ID_TAG.to_owned(), parent.run_id.clone());
        tags.insert(ROOT_RUN_ID_TAG.to_owned(), root.clone());
        let step_keys_to_execute = match request.strategy {
            ReexecutionStrategy::FromFailure => {
                tags.insert(RESUME_RETRY_TAG.to_owned(), "true".to_owned());
                Some(self.steps_from_failure(&parent, found.job()).await?)
            }
            _ => None,
        };
        tags.extend(request.extra_tags);
        let run = NewRun {
            location_name: Some(found.location.name.clone()),
            status: RunStatus::Queued,
            run_config: parent.run_config.clone(),
            tags,
            parent_run_id: Some(parent.run_id.clone()),
            root_run_id: Some(root),
            step_keys_to_execute,
            ..NewRun::new(parent.job_name.clone())
        };
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

    /// A stored run, or [`Error::RunNotFound`].
    pub async fn run(&self, run_id: &str) -> Result<Run> {
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
        let run = self.run(run_id).await?;
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
                Ok(TerminateOutcome::Terminated(run))
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
                Ok(TerminateOutcome::Terminated(run))
            }
            (status, TerminatePolicy::MarkAsCanceledImmediately) if !status.is_finished() => {
                if status != RunStatus::Queued {
                    // Best effort: the run is marked canceled whatever the worker does.
                    if let Err(reason) = self.signal_worker(&run).await {
                        tracing::warn!(run_id, %reason, "could not signal the run's worker");
                    }
                }
                self.storage.store_events(&[canceled(&run)]).await?;
                Ok(TerminateOutcome::Terminated(run))
            }
            (status, _) => Ok(TerminateOutcome::Refused {
                message: format!(
                    "Run {} could not be terminated due to having status {status}.",
                    run.run_id
                ),
                run,
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
        Ok(self
            .storage
            .list_runs(&query.filter, query.cursor.as_deref(), query.limit)
            .await?)
    }

    /// How many runs match `filter`.
    pub async fn count_runs(&self, filter: &RunsFilter) -> Result<u64> {
        Ok(self.storage.count_runs(filter).await?)
    }

    /// A page of a run's events after `cursor`, at most `limit`.
    pub async fn events(
        &self,
        run_id: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        let after = cursor.map(decode_event_cursor).transpose()?;
        let mut events = self
            .storage
            .events_for_run(run_id, after, limit.map(|l| l.saturating_add(1)))
            .await?;
        let has_more = limit.is_some_and(|l| events.len() > l);
        if let Some(l) = limit {
            events.truncate(l);
        }
        let last = events.last().map(|e| e.storage_id).or(after).unwrap_or(-1);
        Ok(EventPage {
            events,
            cursor: encode_event_cursor(last),
            has_more,
        })
    }

    /// Follow a run's log after the event `after` (from the start when `None`): the
    /// stored events first, [`EVENT_CHUNK_SIZE`] at a time, then new events as they are
    /// written, every [`FOLLOW_POLL_INTERVAL`] at most. The stream ends with the first
    /// error while catching up; once live, a failed read is logged and tried again.
    pub fn follow_events(
        self: Arc<Self>,
        run_id: String,
        after: Option<i64>,
    ) -> impl futures::Stream<Item = Result<EventBatch>> + Send + 'static {
        let start = (self, run_id, after, false);
        futures::stream::unfold(Some(start), |state| async move {
            let (service, run_id, mut after, mut live) = state?;
            loop {
                if live {
                    tokio::time::sleep(FOLLOW_POLL_INTERVAL).await;
                }
                let read = service
                    .storage
                    .events_for_run(&run_id, after, Some(EVENT_CHUNK_SIZE + 1))
                    .await;
                let mut events = match read {
                    Ok(events) => events,
                    Err(e) if live => {
                        tracing::warn!(%run_id, error = %e, "cannot read the run's events");
                        continue;
                    }
                    Err(e) => return Some((Err(e.into()), None)),
                };
                let more = events.len() > EVENT_CHUNK_SIZE;
                events.truncate(EVENT_CHUNK_SIZE);
                after = events.last().map(|e| e.storage_id).or(after);
                let catching_up = !live;
                live = !more;
                if events.is_empty() && !catching_up {
                    continue;
                }
                let batch = EventBatch {
                    events,
                    more,
                    after,
                };
                return Some((Ok(batch), Some((service, run_id, after, live))));
            }
        })
    }

    /// Fetch a location's snapshot again.
    pub async fn reload_location(&self, name: &str) -> Result<Location> {
        self.workspace
            .reload(name)
            .await
            .ok_or_else(|| Error::LocationNotFound(name.to_owned()))
    }

    /// Fetch every location's snapshot again.
    pub async fn reload_workspace(&self) -> Vec<Location> {
        self.workspace.reload_all().await;
        self.workspace.locations().await
    }

    /// Daemon health: every required loop, and any other loop that sent a heartbeat.
    pub async fn daemon_statuses(&self) -> Result<Vec<DaemonStatus>> {
        let heartbeats = self.storage.daemon_heartbeats().await?;
        let now = now_timestamp();
        let status = |daemon_type: &str, beat: Option<&DaemonHeartbeat>| DaemonStatus {
            daemon_type: daemon_type.to_owned(),
            required: REQUIRED_DAEMONS.contains(&daemon_type),
            healthy: beat.is_some_and(|b| now - b.timestamp <= DAEMON_HEARTBEAT_TOLERANCE_SECONDS),
            last_heartbeat_time: beat.map(|b| b.timestamp),
            errors: beat.map(|b| b.errors.clone()).unwrap_or_default(),
        };
        let mut statuses: Vec<DaemonStatus> = REQUIRED_DAEMONS
            .iter()
            .map(|t| status(t, heartbeats.iter().find(|b| b.daemon_type == *t)))
            .collect();
        for beat in heartbeats
            .iter()
            .filter(|b| !REQUIRED_DAEMONS.contains(&b.daemon_type.as_str()))
        {
            statuses.push(status(&beat.daemon_type, Some(beat)));
        }
        Ok(statuses)
    }

    /// One daemon loop's health (unknown loops are reported as not required and unhealthy).
    pub async fn daemon_status(&self, daemon_type: &str) -> Result<DaemonStatus> {
        let statuses = self.daemon_statuses().await?;
        Ok(statuses
            .into_iter()
            .find(|s| s.daemon_type == daemon_type)
            .unwrap_or_else(|| DaemonStatus {
                daemon_type: daemon_type.to_owned(),
                required: false,
                healthy: false,
                last_heartbeat_time: None,
                errors: Vec::new(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_cursors_are_dagsters() {
        assert_eq!(
            encode_event_cursor(16),
            "eyJ0eXBlIjogIlNUT1JBR0VfSUQiLCAidmFsdWUiOiAxNn0="
        );
        assert_eq!(
            decode_event_cursor("eyJ0eXBlIjogIlNUT1JBR0VfSUQiLCAidmFsdWUiOiAzfQ==").unwrap(),
            3
        );
        assert_eq!(decode_event_cursor("42").unwrap(), 42);
        assert!(decode_event_cursor("bogus!").is_err());
    }

    #[test]
    fn run_config_data_is_an_object_or_a_document() {
        assert_eq!(parse_run_config(None).unwrap(), serde_json::json!({}));
        let v = parse_run_config(Some(Value::String(
            "ops:\n  use_config:\n    config:\n      n: 4\n".into(),
        )))
        .unwrap();
        assert_eq!(v["ops"]["use_config"]["config"]["n"], 4);
        assert!(parse_run_config(Some(Value::String("a: [".into()))).is_err());
        assert_eq!(run_config_yaml(&serde_json::json!({})), "{}\n");
        assert_eq!(run_config_yaml(&serde_json::json!({"a": 1})), "a: 1\n");
    }
}
