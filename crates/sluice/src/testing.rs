//! Testing a code location in process: run a job or materialize assets without an
//! instance, a code server or a worker process, and read what happened, typed.
//!
//! ```
//! use sluice::prelude::*;
//! use sluice::testing;
//!
//! fn definitions() -> Result<Definitions, DefinitionError> {
//!     let numbers = OpDefinition::builder("numbers")
//!         .output::<Vec<i64>>("result")
//!         .compute(|_ctx, _inputs| async move { Ok(vec![1, 2, 3]) });
//!     let total = OpDefinition::builder("total")
//!         .input::<Vec<i64>>("numbers")
//!         .output::<i64>("result")
//!         .compute(|_ctx, inputs| async move {
//!             Ok(inputs.get::<Vec<i64>>("numbers")?.iter().sum())
//!         });
//!     let mut job = JobDefinition::builder("sum_job");
//!     let n = job.add(&numbers);
//!     job.node(&total).input("numbers", n.output("result")).add();
//!     Definitions::builder().job(job.build()).build()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let defs = definitions()?;
//! let result = testing::execute_job(&defs, "sum_job").run().await?;
//! assert!(result.success());
//! assert_eq!(result.output::<i64>("total", "result")?, 6);
//! # Ok(())
//! # }
//! ```
//!
//! Outputs are kept in memory (a [`MemoryIoManager`]) whatever IO manager the
//! definitions bind, so every output can be read back, and assets an earlier in-process
//! run materialized can be loaded by a later one that shares its IO manager
//! ([`InProcess::io_manager`]). Resources are the definitions' own unless replaced
//! ([`InProcess::resource`]), and events go to the result rather than to an instance.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sluice_core::Definitions;
use sluice_core::asset::{ASSET_JOB_NAME, AssetCheckEvaluation, AssetKey, AssetSelection};
use sluice_core::events::{AssetMaterialization, EventType, MemorySink, RunEvent};
use sluice_core::executor::{self, Reexecution, RunContext};
use sluice_core::io_manager::{MemoryIoManager, OutputKey};
use sluice_core::plan::ExecutionPlan;
use sluice_core::resource::ResourceDefinition;
use sluice_core::run::{PARTITION_TAG, RunStatus, new_run_id};
use sluice_core::run_config::{self, RunConfigError};

/// An in-process run could not start, or a value asked of its result is not there.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// The job named is not in the definitions.
    #[error("job \"{job}\" is not defined; the definitions have: {available}")]
    JobNotFound {
        /// The job name given.
        job: String,
        /// The jobs defined, comma-separated.
        available: String,
    },
    /// The asset selection does not parse or names nothing.
    #[error("asset selection \"{selection}\": {reason}")]
    Selection {
        /// The selection given.
        selection: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The run config does not fit the job.
    #[error("{0}")]
    RunConfig(#[from] RunConfigError),
    /// The step did not produce that output (it failed, was skipped, or has none).
    #[error("step \"{step}\" has no output \"{output}\" in this run")]
    NoOutput {
        /// The step key.
        step: String,
        /// The output name.
        output: String,
    },
    /// The output is of another type than the one asked for.
    #[error("output \"{output}\" of step \"{step}\" is not a {asked}")]
    WrongType {
        /// The step key.
        step: String,
        /// The output name.
        output: String,
        /// The type asked for.
        asked: &'static str,
    },
}

/// A run to execute in process; [`run`](Self::run) executes it.
#[must_use = "an in-process run does nothing until it is `run()`"]
pub struct InProcess {
    defs: Definitions,
    job: String,
    selection: Option<String>,
    run_config: Value,
    tags: BTreeMap<String, String>,
    io: Arc<MemoryIoManager>,
}

/// Execute job `job` of `defs` (Dagster's `job.execute_in_process()`).
pub fn execute_job(defs: &Definitions, job: &str) -> InProcess {
    InProcess {
        defs: defs.clone(),
        job: job.to_owned(),
        selection: None,
        run_config: Value::Object(Default::default()),
        tags: BTreeMap::new(),
        io: Arc::new(MemoryIoManager::new()),
    }
}

/// Materialize the assets `selection` names, in Dagster's selection syntax (`raw/orders`,
/// `*warehouse/revenue`, `group:staging`, ...), as Dagster's `materialize()` does.
/// Upstream assets outside the selection are loaded from the run's IO manager.
pub fn materialize(defs: &Definitions, selection: &str) -> InProcess {
    InProcess {
        selection: Some(selection.to_owned()),
        ..execute_job(defs, ASSET_JOB_NAME)
    }
}

impl InProcess {
    /// The run config (`{ops: {NAME: {config: ...}}, resources: ...}`), as JSON.
    pub fn run_config(mut self, config: Value) -> Self {
        self.run_config = config;
        self
    }

    /// A tag on the run.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Run for one partition (the `dagster/partition` tag).
    pub fn partition(self, key: impl Into<String>) -> Self {
        self.tag(PARTITION_TAG, key)
    }

    /// Bind `resource` to `key` for this run, in place of the definitions' own (a
    /// stand-in for a database or an API, say; [`ResourceDefinition::value`] wraps a
    /// plain value).
    pub fn resource(mut self, key: impl Into<String>, resource: ResourceDefinition) -> Self {
        self.defs = self.defs.with_resource(key, resource);
        self
    }

    /// Keep outputs in `io`: runs that share one see each other's assets, as runs of
    /// an instance see each other's materializations.
    pub fn io_manager(mut self, io: Arc<MemoryIoManager>) -> Self {
        self.io = io;
        self
    }

    /// Execute the run to its end.
    pub async fn run(self) -> Result<InProcessResult, TestingError> {
        let job = self
            .defs
            .job(&self.job)
            .ok_or_else(|| TestingError::JobNotFound {
                job: self.job.clone(),
                available: self
                    .defs
                    .jobs()
                    .map(|j| j.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let reexecution = match &self.selection {
            Some(selection) => Some(Reexecution {
                step_keys: asset_steps(&self.defs, selection)?.into_iter().collect(),
                source_runs: Vec::new(),
            }),
            None => None,
        };
        let config = run_config::resolve(&self.defs, job, &self.run_config)?;
        let plan = ExecutionPlan::for_job(job);
        let mut tags = job.tags().clone();
        tags.extend(self.tags);
        let run_id = new_run_id();
        let events = Arc::new(MemorySink::default());
        let context = RunContext {
            tags,
            io_manager: Some(Arc::clone(&self.io) as _),
            reexecution,
            keep_every_output: true,
            ..RunContext::new(&run_id, Arc::clone(&events) as _)
        };
        let status = executor::execute(&plan, config, context).await;
        Ok(InProcessResult {
            run_id,
            status,
            events: events.events(),
            io: self.io,
        })
    }
}

/// The steps that materialize `selection`.
fn asset_steps(defs: &Definitions, selection: &str) -> Result<Vec<String>, TestingError> {
    let error = |reason: String| TestingError::Selection {
        selection: selection.to_owned(),
        reason,
    };
    let parsed = AssetSelection::parse(selection).map_err(|e| error(e.to_string()))?;
    let steps = defs
        .asset_steps(&parsed)
        .map_err(|e| error(e.to_string()))?;
    if steps.is_empty() {
        return Err(error("it selects no asset".to_owned()));
    }
    Ok(steps)
}

/// What an in-process run did.
pub struct InProcessResult {
    run_id: String,
    status: RunStatus,
    events: Vec<RunEvent>,
    io: Arc<MemoryIoManager>,
}

impl InProcessResult {
    /// Whether the run succeeded.
    pub fn success(&self) -> bool {
        self.status == RunStatus::Success
    }

    /// How the run ended: SUCCESS, FAILURE or CANCELED.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The run's id (every event carries it).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Every event of the run, oldest first.
    pub fn events(&self) -> &[RunEvent] {
        &self.events
    }

    /// The events of one type, oldest first.
    pub fn events_of(&self, event_type: EventType) -> impl Iterator<Item = &RunEvent> {
        self.events
            .iter()
            .filter(move |e| e.event_type == event_type)
    }

    /// The messages the ops logged (`ctx.info(...)` and the rest), oldest first.
    pub fn logs(&self) -> Vec<&str> {
        self.events_of(EventType::Log)
            .map(|e| e.message.as_str())
            .collect()
    }

    /// The steps that failed, with their error messages.
    pub fn step_failures(&self) -> Vec<(&str, &str)> {
        self.events_of(EventType::StepFailure)
            .map(|e| (e.step_key.as_deref().unwrap_or(""), e.message.as_str()))
            .collect()
    }

    /// Output `output` of step `step` (a node's name, or an asset's step), as a `T`.
    pub fn output<T: Any + Clone>(&self, step: &str, output: &str) -> Result<T, TestingError> {
        let key = OutputKey::Step {
            run_id: &self.run_id,
            step_key: step,
            output_name: output,
        };
        let value = self.io.get(key).ok_or_else(|| TestingError::NoOutput {
            step: step.to_owned(),
            output: output.to_owned(),
        })?;
        value
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| TestingError::WrongType {
                step: step.to_owned(),
                output: output.to_owned(),
                asked: std::any::type_name::<T>(),
            })
    }

    /// The value of asset `key` (`raw/orders`) as it was materialized, as a `T`.
    pub fn asset_value<T: Any + Clone>(&self, key: &str) -> Result<T, TestingError> {
        let missing = || TestingError::NoOutput {
            step: key.to_owned(),
            output: "result".to_owned(),
        };
        let asset_key = AssetKey::parse(key).map_err(|_| missing())?;
        let partition = self
            .events_of(EventType::AssetMaterialization)
            .filter_map(RunEvent::materialization)
            .find(|m| m.asset_key == asset_key)
            .and_then(|m| m.partition.clone());
        let value = self
            .io
            .get(OutputKey::Asset {
                key: &asset_key,
                partition: partition.as_deref(),
            })
            .ok_or_else(missing)?;
        value
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| TestingError::WrongType {
                step: key.to_owned(),
                output: "result".to_owned(),
                asked: std::any::type_name::<T>(),
            })
    }

    /// The asset materializations of the run, oldest first.
    pub fn materializations(&self) -> Vec<&AssetMaterialization> {
        self.events
            .iter()
            .filter_map(RunEvent::materialization)
            .collect()
    }

    /// The asset check results of the run, oldest first.
    pub fn check_results(&self) -> Vec<&AssetCheckEvaluation> {
        self.events
            .iter()
            .filter_map(RunEvent::check_evaluation)
            .collect()
    }
}

impl std::fmt::Debug for InProcessResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessResult")
            .field("run_id", &self.run_id)
            .field("status", &self.status)
            .field("events", &self.events.len())
            .finish()
    }
}
