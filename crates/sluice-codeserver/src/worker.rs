//! The run worker: executes one stored run in this process and writes its events.

use std::sync::Arc;

use sluice_core::events::{ErrorInfo, EventData, EventSink, EventType, FanoutSink, RunEvent};
use sluice_core::executor::{self, RunContext};
use sluice_core::plan::ExecutionPlan;
use sluice_core::run::{Run, RunStatus};
use sluice_core::{Definitions, run_config};
use sluice_storage::{EventWriter, Storage, StorageError};
use tokio_util::sync::CancellationToken;

/// A run could not be executed, or its events could not all be stored.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("run {run_id} is {status}; only a run that has not started can be executed")]
    AlreadyStarted { run_id: String, status: RunStatus },
    #[error("instance storage: {0}")]
    Storage(#[from] StorageError),
}

/// Execute `run` with the job and resources of `defs`, storing every event. Events also
/// go to `observer` (e.g. a console printer). Returns the run's final status.
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
    let writer = Arc::new(EventWriter::spawn(Arc::clone(&storage)));
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
    let status = match prepare(defs, run) {
        Ok((plan, config)) => {
            let ctx = RunContext {
                run_id: run.run_id.clone(),
                tags: run.tags.clone(),
                events: Arc::clone(&events),
                cancel,
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
    // Every event is stored before the worker reports the run's end.
    writer.flush().await?;
    Ok(status)
}

fn prepare(
    defs: &Definitions,
    run: &Run,
) -> Result<(ExecutionPlan, run_config::ResolvedRunConfig), ErrorInfo> {
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
    Ok((ExecutionPlan::for_job(job), config))
}
