//! The run worker: executes one stored run in this process and writes its events.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::events::{
    ErrorInfo, EventData, EventSink, EventType, FanoutSink, RunEvent, now_timestamp,
};
use sluice_core::executor::{self, Reexecution, RunContext};
use sluice_core::io_manager::IoManager;
use sluice_core::partition::PartitionsContext;
use sluice_core::plan::ExecutionPlan;
use sluice_core::run::{Run, RunStatus};
use sluice_core::{Definitions, run_config};
use sluice_storage::{
    EventWriter, Storage, StorageError, Wakeup, instance_home, output_storage_dir,
};
use tokio_util::sync::CancellationToken;

/// A run could not be executed, or its events could not all be stored.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The run is past `NOT_STARTED`, `QUEUED` and `STARTING`: it started (or ended) already.
    #[error("run {run_id} is {status}; only a run that has not started can be executed")]
    AlreadyStarted {
        /// The run id.
        run_id: String,
        /// The run's status.
        status: RunStatus,
    },
    /// Instance storage failed.
    #[error("instance storage: {0}")]
    Storage(#[from] StorageError),
}

/// How often a running worker records its heartbeat and checks whether its run was
/// asked to terminate.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Execute `run` with the job and resources of `defs`, storing every event. Events also
/// go to `observer` (e.g. a console printer). Returns the run's final status.
///
/// While it runs, the worker beats every [`HEARTBEAT_INTERVAL`] (the daemon fails runs
/// whose worker stops beating) and cancels the run once storage says it is CANCELING,
/// whoever asked. When it ends, it wakes the instance's run queue: a slot is free.
///
/// The worker's events are stored behind the run's fence
/// ([`EventWriter::for_attempt`]): if the run ends elsewhere while it runs (the monitor
/// failed it after the worker stopped beating), its next write or heartbeat stops it,
/// nothing more of it is stored, and the answer is
/// [`StorageError::RunFenced`](sluice_storage::StorageError::RunFenced).
///
/// A job the definitions do not have, or config that no longer validates, fails the run
/// with a RUN_FAILURE event that says why: the run exists, so its failure is recorded.
pub async fn execute_run(
    defs: &Definitions,
    storage: Arc<dyn Storage>,
    run: &Run,
    cancel: CancellationToken,
    observer: Option<Arc<dyn EventSink>>,
) -> Result<RunStatus, WorkerError> {
    if !matches!(
        run.status,
        RunStatus::NotStarted | RunStatus::Queued | RunStatus::Starting
    ) {
        return Err(WorkerError::AlreadyStarted {
            run_id: run.run_id.clone(),
            status: run.status,
        });
    }
    // Behind the run's fence: once the run has ended elsewhere (the monitor failed it
    // while this process was paused, say), storage refuses this attempt's events and
    // the run is cancelled here, so that no further step runs.
    let fenced = cancel.clone();
    let writer = Arc::new(EventWriter::for_attempt(
        Arc::clone(&storage),
        &run.run_id,
        move || fenced.cancel(),
    ));
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![writer.clone()];
    sinks.extend(observer);
    let events: Arc<dyn EventSink> = Arc::new(FanoutSink(sinks));

    if run.status != RunStatus::Starting {
        events.emit(RunEvent::new(
            &run.run_id,
            EventType::RunStarting,
            format!(
                "Starting run of \"{}\" in process {}.",
                run.job_name,
                std::process::id()
            ),
        ));
    }
    let watcher = tokio::spawn(watch_run(
        Arc::clone(&storage),
        run.run_id.clone(),
        cancel.clone(),
    ));
    let status = match prepare(defs, run) {
        Ok((plan, config, io_manager)) => {
            let ctx = RunContext {
                tags: run.tags.clone(),
                cancel,
                io_manager: Some(io_manager),
                reexecution: reexecution(storage.as_ref(), run).await?,
                partitions: Some(partitions_context(storage.as_ref(), &plan).await?),
                ..RunContext::new(&run.run_id, Arc::clone(&events))
            };
            executor::execute(&plan, config, ctx).await
        }
        Err(error) => {
            events.emit(
                RunEvent::new(&run.run_id, EventType::RunFailure, error.message.clone())
                    .data(EventData::Failure { error }),
            );
            RunStatus::Failure
        }
    };
    watcher.abort();
    // Every event is stored before the worker reports the run's end.
    writer.flush().await?;
    Wakeup::run_queue(&instance_home()).notify();
    Ok(status)
}

/// The longest chain of re-executions followed to find reused outputs.
const MAX_ANCESTORS: usize = 100;

/// For a run that executes only some steps: those steps, and the runs to load the other
/// steps' outputs from (its parent, the parent's parent, ...).
async fn reexecution(storage: &dyn Storage, run: &Run) -> Result<Option<Reexecution>, WorkerError> {
    let Some(step_keys) = &run.step_keys_to_execute else {
        return Ok(None);
    };
    let mut source_runs = Vec::new();
    let mut next = run.parent_run_id.clone();
    while let Some(run_id) = next.take() {
        if source_runs.len() == MAX_ANCESTORS || source_runs.contains(&run_id) {
            break;
        }
        next = storage
            .get_run(&run_id)
            .await?
            .and_then(|parent| parent.parent_run_id);
        source_runs.push(run_id);
    }
    Ok(Some(Reexecution {
        step_keys: step_keys.iter().cloned().collect(),
        source_runs,
    }))
}

/// Beat, and cancel the run when it is marked CANCELING or has ended elsewhere, until
/// aborted. The first beat comes after one interval: the run's start time is its first
/// sign of life, and short runs pay nothing.
async fn watch_run(storage: Arc<dyn Storage>, run_id: String, cancel: CancellationToken) {
    loop {
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        if let Err(e) = storage.record_run_heartbeat(&run_id, now_timestamp()).await {
            tracing::warn!(run_id, "cannot record the run's heartbeat: {e}");
        }
        match storage.get_run(&run_id).await {
            Ok(Some(run)) if run.status == RunStatus::Canceling || run.status.is_finished() => {
                if run.status.is_finished() {
                    tracing::warn!(run_id, status = %run.status, "the run ended elsewhere; stopping");
                }
                cancel.cancel();
                return;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(run_id, "cannot read the run's status: {e}"),
        }
    }
}

/// The dynamic partition keys the run's partition mappings may need: those of the job
/// and of the partitioned assets it may meet. A job without partitions reads nothing.
async fn partitions_context(
    storage: &dyn Storage,
    plan: &ExecutionPlan,
) -> Result<PartitionsContext, WorkerError> {
    let steps = plan
        .steps()
        .iter()
        .filter_map(|s| s.op.asset()?.partitions.as_ref());
    let definitions = plan.job().partition_definitions().chain(steps);
    Ok(sluice_storage::partitions_context(storage, definitions).await?)
}

/// The run's plan, its resolved config and the IO manager that keeps its outputs.
type Prepared = (
    ExecutionPlan,
    run_config::ResolvedRunConfig,
    Arc<dyn IoManager>,
);

fn prepare(defs: &Definitions, run: &Run) -> Result<Prepared, ErrorInfo> {
    let job = defs.job(&run.job_name).ok_or_else(|| {
        ErrorInfo::new(
            "JobNotFound",
            format!(
                "Job \"{}\" is not defined in this code location.",
                run.job_name
            ),
        )
    })?;
    let config = run_config::resolve(defs, job, &run.run_config)
        .map_err(|e| ErrorInfo::new("RunConfigValidationInvalid", e.to_string()))?;
    let io_manager = defs
        .io_manager()
        .build(&output_storage_dir(&instance_home()))
        .map_err(|e| ErrorInfo::from_error("IoManagerError", &e))?;
    Ok((ExecutionPlan::for_job(job), config, io_manager))
}
