//! The in-process executor: runs a plan's steps on tokio, every ready step at once up to
//! `max_concurrent`, passing outputs to downstream inputs, retrying per policy, enforcing
//! timeouts, skipping what depends on a failure, and stopping on cancellation. Every
//! transition is an event.
//!
//! This module holds what callers use: [`execute`], its [`RunContext`] and
//! [`Reexecution`], and the public helpers. The work is done in private modules: the
//! step scheduler (`scheduler`), the loads and checks that follow partition mappings
//! (`partitions`), and the run of a single step with its attempts and output handling
//! (`step`).

#![warn(missing_docs)]

mod partitions;
mod scheduler;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use self::partitions::run_partition_keys;
use self::scheduler::Executor;
use crate::events::{ErrorInfo, EventData, EventSink, EventType, LogLevel, RunEvent};
use crate::io_manager::IoManager;
use crate::partition::{PartitionError, PartitionsContext};
use crate::plan::ExecutionPlan;
use crate::resource::{ResourceError, Resources};
use crate::run::RunStatus;
use crate::run_config::ResolvedRunConfig;

/// What a run needs besides its plan and config.
#[derive(Clone)]
pub struct RunContext {
    /// The run's ID, which every event carries.
    pub run_id: String,
    /// The run's tags, seen by ops (and naming the partitions the run materializes).
    pub tags: BTreeMap<String, String>,
    /// Where every event of the run goes.
    pub events: Arc<dyn EventSink>,
    /// Cancel it to terminate the run: running steps stop at their next await.
    pub cancel: CancellationToken,
    /// Keeps every step output (and loads those a re-execution reuses). Without one,
    /// outputs live in memory for this run only.
    pub io_manager: Option<Arc<dyn IoManager>>,
    /// Set when the run executes only some steps of an earlier run's job.
    pub reexecution: Option<Reexecution>,
    /// The time and the dynamic partition keys that partition mappings are resolved
    /// with; `None`: now, and no dynamic partitions.
    pub partitions: Option<PartitionsContext>,
    /// Give every output to the IO manager, not only those a later step or run could
    /// load (assets' and consumed ones): what an in-process test reads its outputs from.
    pub keep_every_output: bool,
}

impl RunContext {
    /// The context of run `run_id`, its events going to `events`: no tags, not
    /// cancelled, outputs in memory, every step executed, partitions resolved now.
    pub fn new(run_id: impl Into<String>, events: Arc<dyn EventSink>) -> Self {
        Self {
            run_id: run_id.into(),
            tags: BTreeMap::new(),
            events,
            cancel: CancellationToken::new(),
            io_manager: None,
            reexecution: None,
            partitions: None,
            keep_every_output: false,
        }
    }
}

/// The key under which IO manager events name the instance's IO manager, as in Dagster.
pub const IO_MANAGER_KEY: &str = "io_manager";

/// Which steps a re-execution runs, and where the outputs of the others come from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reexecution {
    /// The steps to execute. Every other step counts as done: its outputs are loaded
    /// through the IO manager when an executed step needs them.
    pub step_keys: BTreeSet<String>,
    /// The runs to load those outputs from, nearest first (the parent run, then its
    /// parent, and so on): a step reused by the parent ran in an earlier run.
    pub source_runs: Vec<String>,
}

/// The default step concurrency: the number of cores.
pub fn default_max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Execute `plan` with `config`, emitting every event to `run.events`, and return the
/// run's final status (SUCCESS, FAILURE or CANCELED).
pub async fn execute(
    plan: &ExecutionPlan,
    config: ResolvedRunConfig,
    run: RunContext,
) -> RunStatus {
    let job_name = plan.job().name().to_owned();
    let emit = |e: RunEvent| run.events.emit(e);
    emit(RunEvent::new(
        &run.run_id,
        EventType::RunStart,
        format!("Started execution of run for \"{job_name}\"."),
    ));

    let partitions = run
        .partitions
        .clone()
        .unwrap_or_else(|| PartitionsContext::at(chrono::Utc::now()));
    let partition_keys = match run_partition_keys(plan, &run, &partitions) {
        Ok(keys) => keys,
        Err(err) => return RunFailure::Partitions(err).emit(&run, &job_name),
    };

    let unknown = unknown_steps(plan, &run);
    if !unknown.is_empty() {
        return RunFailure::UnknownSteps(unknown).emit(&run, &job_name);
    }

    let resources = match Resources::setup(config.resources, Some(&run.run_id)).await {
        Ok(r) => Arc::new(r),
        Err((key, err)) => {
            let error = resource_failed(&run, &key, "set up", &err);
            return RunFailure::ResourceSetup { key, error }.emit(&run, &job_name);
        }
    };

    let max_concurrent = config
        .max_concurrent
        .unwrap_or_else(default_max_concurrent)
        .max(1);
    let mut executor = Executor::new(
        plan,
        &run,
        config.op_configs,
        Arc::clone(&resources),
        partition_keys,
        partitions,
    );
    let summary = executor.run(max_concurrent).await;

    tear_down(&resources, &run).await;

    if summary.interrupted {
        emit(RunEvent::new(
            &run.run_id,
            EventType::RunCanceled,
            format!("Execution of run for \"{job_name}\" canceled."),
        ));
        RunStatus::Canceled
    } else if summary.failed.is_empty() {
        emit(RunEvent::new(
            &run.run_id,
            EventType::RunSuccess,
            format!("Finished execution of run for \"{job_name}\"."),
        ));
        RunStatus::Success
    } else {
        RunFailure::Steps(summary.failed).emit(&run, &job_name)
    }
}

/// The steps a re-execution of `run` names that are not in `plan`.
fn unknown_steps<'a>(plan: &ExecutionPlan, run: &'a RunContext) -> Vec<&'a str> {
    let Some(r) = &run.reexecution else {
        return Vec::new();
    };
    let steps = plan.steps();
    r.step_keys
        .iter()
        .filter(|k| !steps.iter().any(|s| &s.key == *k))
        .map(String::as_str)
        .collect()
}

/// Tear down the run's `resources`, each failure an ENGINE_EVENT.
async fn tear_down(resources: &Resources, run: &RunContext) {
    for (key, err) in resources.teardown().await {
        resource_failed(run, &key, "tear down", &err);
    }
}

/// Why a run failed: what its RUN_FAILURE event says, and the error it carries.
enum RunFailure<'a> {
    /// The partitions the run names could not be resolved.
    Partitions(PartitionError),
    /// Resource `key` failed to set up, with `error`.
    ResourceSetup { key: String, error: ErrorInfo },
    /// A re-execution names steps that are not in the plan.
    UnknownSteps(Vec<&'a str>),
    /// These steps failed.
    Steps(Vec<String>),
}

impl RunFailure<'_> {
    /// Emit the run's RUN_FAILURE, "Execution of run for \"{job}\" failed" and why, with
    /// the failure's error, and return the run's status: FAILURE.
    fn emit(self, run: &RunContext, job_name: &str) -> RunStatus {
        let why = match &self {
            Self::Partitions(err) => format!(": {err}."),
            Self::ResourceSetup { key, .. } => format!(": resource \"{key}\" failed to set up."),
            Self::UnknownSteps(steps) => {
                format!(": steps [\"{}\"] are not in the job.", steps.join("\", \""))
            }
            Self::Steps(steps) => format!(". Steps failed: [\"{}\"].", steps.join("\", \"")),
        };
        let message = format!("Execution of run for \"{job_name}\" failed{why}");
        let error = match self {
            Self::Partitions(err) => ErrorInfo::from_error("PartitionError", &err),
            Self::ResourceSetup { error, .. } => error,
            Self::UnknownSteps(_) => ErrorInfo::new("UnknownSteps", message.clone()),
            Self::Steps(_) => ErrorInfo::new("StepFailures", message.clone()),
        };
        run.events.emit(
            RunEvent::new(&run.run_id, EventType::RunFailure, message)
                .data(EventData::Failure { error }),
        );
        RunStatus::Failure
    }
}

/// Emit the ENGINE_EVENT of resource `key` failing to `action` ("set up", "tear
/// down") with `err`, and return the event's error.
fn resource_failed(run: &RunContext, key: &str, action: &str, err: &ResourceError) -> ErrorInfo {
    let error = ErrorInfo::from_error("ResourceError", err);
    run.events.emit(
        RunEvent::new(
            &run.run_id,
            EventType::EngineEvent,
            format!("Resource \"{key}\" failed to {action}: {err}"),
        )
        .level(LogLevel::Error)
        .data(EventData::Failure {
            error: error.clone(),
        }),
    );
    error
}

/// A duration in milliseconds as a person reads it: `850µs`, `12ms`, `3.2s`.
pub fn human_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MemorySink;

    fn run_with(sink: Arc<MemorySink>) -> RunContext {
        RunContext::new("r", sink)
    }

    #[test]
    fn each_run_failure_has_its_message_and_error_class() {
        let sink = Arc::new(MemorySink::default());
        let run = run_with(sink.clone());
        let failures = [
            RunFailure::Partitions(PartitionError::NotPartitioned("2024-01-01".into())),
            RunFailure::ResourceSetup {
                key: "db".into(),
                error: ErrorInfo::new("ResourceError", "no route"),
            },
            RunFailure::UnknownSteps(vec!["a", "b"]),
            RunFailure::Steps(vec!["c".into()]),
        ];
        for failure in failures {
            assert_eq!(failure.emit(&run, "j"), RunStatus::Failure);
        }
        let events = sink.events();
        let seen: Vec<(&str, &str)> = events
            .iter()
            .map(|e| {
                assert_eq!(e.event_type, EventType::RunFailure);
                let EventData::Failure { error } = &e.data else {
                    panic!("a RUN_FAILURE carries its error: {e:?}");
                };
                (e.message.as_str(), error.kind.as_str())
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "Execution of run for \"j\" failed: the run's assets are not partitioned, but it names 2024-01-01.",
                    "PartitionError"
                ),
                (
                    "Execution of run for \"j\" failed: resource \"db\" failed to set up.",
                    "ResourceError"
                ),
                (
                    "Execution of run for \"j\" failed: steps [\"a\", \"b\"] are not in the job.",
                    "UnknownSteps"
                ),
                (
                    "Execution of run for \"j\" failed. Steps failed: [\"c\"].",
                    "StepFailures"
                ),
            ]
        );
    }
}
