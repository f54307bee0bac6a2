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
use crate::partition::PartitionsContext;
use crate::plan::ExecutionPlan;
use crate::resource::Resources;
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
        Err(err) => {
            let message = format!("Execution of run for \"{job_name}\" failed: {err}.");
            emit(
                RunEvent::new(&run.run_id, EventType::RunFailure, message).data(
                    EventData::Failure {
                        error: ErrorInfo::from_error("PartitionError", &err),
                    },
                ),
            );
            return RunStatus::Failure;
        }
    };

    let resources = match Resources::setup(config.resources, Some(&run.run_id)).await {
        Ok(r) => Arc::new(r),
        Err((key, err)) => {
            let error = ErrorInfo::from_error("ResourceError", &err);
            emit(
                RunEvent::new(
                    &run.run_id,
                    EventType::EngineEvent,
                    format!("Resource \"{key}\" failed to set up: {err}"),
                )
                .level(LogLevel::Error)
                .data(EventData::Failure {
                    error: error.clone(),
                }),
            );
            emit(
                RunEvent::new(
                    &run.run_id,
                    EventType::RunFailure,
                    format!("Execution of run for \"{job_name}\" failed: resource \"{key}\" failed to set up."),
                )
                .data(EventData::Failure { error }),
            );
            return RunStatus::Failure;
        }
    };

    let steps = plan.steps();
    if let Some(r) = &run.reexecution {
        let unknown: Vec<&str> = r
            .step_keys
            .iter()
            .filter(|k| !steps.iter().any(|s| &s.key == *k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let message = format!(
                "Execution of run for \"{job_name}\" failed: steps [\"{}\"] are not in the job.",
                unknown.join("\", \"")
            );
            let error = ErrorInfo::new("UnknownSteps", message.clone());
            emit(
                RunEvent::new(&run.run_id, EventType::RunFailure, message)
                    .data(EventData::Failure { error }),
            );
            let _ = resources.teardown().await;
            return RunStatus::Failure;
        }
    }
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

    for (key, err) in resources.teardown().await {
        emit(
            RunEvent::new(
                &run.run_id,
                EventType::EngineEvent,
                format!("Resource \"{key}\" failed to tear down: {err}"),
            )
            .level(LogLevel::Error)
            .data(EventData::Failure {
                error: ErrorInfo::from_error("ResourceError", &err),
            }),
        );
    }

    let (status, event) = if summary.interrupted {
        (
            RunStatus::Canceled,
            RunEvent::new(
                &run.run_id,
                EventType::RunCanceled,
                format!("Execution of run for \"{job_name}\" canceled."),
            ),
        )
    } else if summary.failed.is_empty() {
        (
            RunStatus::Success,
            RunEvent::new(
                &run.run_id,
                EventType::RunSuccess,
                format!("Finished execution of run for \"{job_name}\"."),
            ),
        )
    } else {
        let steps = summary.failed.join("\", \"");
        let message =
            format!("Execution of run for \"{job_name}\" failed. Steps failed: [\"{steps}\"].");
        let error = ErrorInfo::new("StepFailures", message.clone());
        (
            RunStatus::Failure,
            RunEvent::new(&run.run_id, EventType::RunFailure, message)
                .data(EventData::Failure { error }),
        )
    };
    emit(event);
    status
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
