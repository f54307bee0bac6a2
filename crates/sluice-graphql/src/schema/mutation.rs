//! The mutation root: launch, re-execute, terminate and delete runs; reload locations.

use async_graphql::{Context, Interface, Object, SimpleObject, Union};

use crate::schema::config::RunConfigValidationInvalid;
use crate::schema::errors::{
    ConflictingExecutionParamsError, InvalidOutputError, InvalidStepError, NoModeProvidedError,
    PipelineNotFoundError, PresetNotFoundError, PythonError, ReloadNotSupported,
    RepositoryLocationNotFound, RunConflict, RunNotFoundError, UnauthorizedError,
};
use crate::schema::inputs::{
    ExecutionParams, ReexecutionParams, ScheduleSelector, SensorSelector, TerminateRunPolicy,
};
use crate::schema::instigation::{
    self, ScheduleMutationResult, SensorChange, SensorOrError, StopSensorMutationResultOrError,
};
use crate::schema::runs::Run;
use crate::schema::service;
use crate::schema::workspace::{InvalidSubsetError, Workspace, WorkspaceLocationEntry};
use sluice_service::Error as ServiceError;
use sluice_service::access::USER_TAG;
use sluice_service::{
    JobSelector, LaunchRequest, ReexecuteRequest, Service, TerminateOutcome, parse_run_config,
};
use sluice_storage::InstigatorStatus;

/// A run was launched (queued).
#[derive(SimpleObject, Clone, Debug)]
pub struct LaunchRunSuccess {
    /// The new run.
    #[graphql(owned)]
    pub run: Run,
}

/// Dagster's interface of a launch success.
#[derive(Interface, Clone, Debug)]
#[graphql(name = "LaunchPipelineRunSuccess", field(name = "run", ty = "Run"))]
pub enum LaunchPipelineRunSuccess {
    /// The only implementation.
    LaunchRunSuccess(LaunchRunSuccess),
}

/// A result union of Dagster's launch mutations: the variants given (the success
/// first), then the errors every launch can meet, with `from_error` choosing among them.
macro_rules! launch_result {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident($ty:ty),)+ }) => {
        $(#[$doc])*
        #[derive(Union, Clone, Debug)]
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            $($(#[$vdoc])* $variant($ty),)+
            /// Unknown step key.
            InvalidStepError(InvalidStepError),
            /// Unknown output.
            InvalidOutputError(InvalidOutputError),
            /// Invalid run config.
            RunConfigValidationInvalid(RunConfigValidationInvalid),
            /// Unknown job.
            PipelineNotFoundError(PipelineNotFoundError),
            /// Duplicate run.
            RunConflict(RunConflict),
            /// Not allowed.
            UnauthorizedError(UnauthorizedError),
            /// Failure.
            PythonError(PythonError),
            /// Bad selection.
            InvalidSubsetError(InvalidSubsetError),
            /// Unknown preset.
            PresetNotFoundError(PresetNotFoundError),
            /// Conflicting parameters.
            ConflictingExecutionParamsError(ConflictingExecutionParamsError),
            /// No mode.
            NoModeProvidedError(NoModeProvidedError),
        }

        impl $name {
            pub(crate) async fn from_error(service: &sluice_service::Service, selector: Option<&sluice_service::JobSelector>, e: sluice_service::Error) -> Self {
                match e {
                    sluice_service::Error::JobNotFound { location, repository, job } => {
                        Self::PipelineNotFoundError(crate::schema::errors::PipelineNotFoundError::new(&location, &repository, &job))
                    }
                    sluice_service::Error::InvalidRunConfig { job, errors } => {
                        Self::RunConfigValidationInvalid(crate::schema::config::RunConfigValidationInvalid::new(job, errors))
                    }
                    sluice_service::Error::InvalidSubset { job, message } => {
                        let found = match selector {
                            Some(s) => service.find_job(s).await.ok(),
                            None => None,
                        };
                        match found {
                            Some(found) => Self::InvalidSubsetError(crate::schema::workspace::InvalidSubsetError {
                                message,
                                pipeline: crate::schema::workspace::JobRef::from_found(&found),
                            }),
                            None => Self::PythonError(sluice_service::Error::InvalidSubset { job, message }.into()),
                        }
                    }
                    sluice_service::Error::Storage(sluice_storage::StorageError::DuplicateRun { run_id }) => {
                        Self::RunConflict(crate::schema::errors::RunConflict {
                            message: format!("Found existing run with id {run_id}"),
                        })
                    }
                    other => Self::PythonError(other.into()),
                }
            }
        }
    };
}

pub(crate) use launch_result;

launch_result!(
    /// The result of a launch.
    LaunchRunResult {
        /// Launched.
        LaunchRunSuccess(LaunchRunSuccess),
    }
);
launch_result!(
    /// The result of a re-execution.
    LaunchRunReexecutionResult {
        /// Launched.
        LaunchRunSuccess(LaunchRunSuccess),
    }
);

/// Turn `ExecutionParams` into a launch request, or the result that refuses it.
async fn launch_request(
    service: &Service,
    params: ExecutionParams,
) -> Result<LaunchRequest, LaunchRunResult> {
    let Some(job) = params.selector.job() else {
        return Err(LaunchRunResult::PythonError(PythonError::new(
            "ParameterCheckError",
            "the selector names no job: give pipelineName or jobName",
        )));
    };
    let selector = JobSelector {
        location: params.selector.repository_location_name.clone(),
        repository: params.selector.repository_name.clone(),
        job: job.to_owned(),
    };
    if let Some(preset) = params.preset {
        if params.run_config_data.is_some() {
            return Err(LaunchRunResult::ConflictingExecutionParamsError(
                ConflictingExecutionParamsError {
                    message:
                        "Invalid ExecutionParams. Cannot define runConfigData when using a preset."
                            .to_owned(),
                },
            ));
        }
        return Err(match service.find_job(&selector).await {
            Ok(_) => LaunchRunResult::PresetNotFoundError(PresetNotFoundError {
                message: format!("Preset {preset} not found in pipeline {job}."),
                preset,
            }),
            Err(e) => LaunchRunResult::from_error(service, None, e).await,
        });
    }
    let run_config = match parse_run_config(params.run_config_data.map(|d| d.0)) {
        Ok(c) => c,
        Err(e) => return Err(LaunchRunResult::PythonError(e.into())),
    };
    let metadata = params.execution_metadata.unwrap_or_default();
    Ok(LaunchRequest {
        selector,
        run_config,
        tags: metadata
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        parent_run_id: metadata.parent_run_id,
        root_run_id: metadata.root_run_id,
        op_selection: params.selector.solid_selection,
        asset_selection: params
            .selector
            .asset_selection
            .map(|keys| keys.into_iter().map(|k| k.path).collect()),
        step_keys: params.step_keys,
    })
}

async fn launch(ctx: &Context<'_>, params: ExecutionParams) -> LaunchRunResult {
    let service = service(ctx);
    let mut request = match launch_request(service, params).await {
        Ok(r) => r,
        Err(result) => return result,
    };
    // Who launched it, so that a launcher may terminate it later.
    request.tags.extend(crate::access::caller(ctx).run_tags());
    let selector = request.selector.clone();
    match service.launch_run(request).await {
        Ok(run) => LaunchRunResult::LaunchRunSuccess(LaunchRunSuccess { run: Run(run) }),
        Err(e) => LaunchRunResult::from_error(service, Some(&selector), e).await,
    }
}

async fn reexecute(
    ctx: &Context<'_>,
    execution_params: Option<ExecutionParams>,
    reexecution_params: Option<ReexecutionParams>,
) -> LaunchRunReexecutionResult {
    let service = service(ctx);
    match (execution_params, reexecution_params) {
        (Some(params), None) => launch(ctx, params).await.into(),
        (None, Some(params)) => {
            let request = ReexecuteRequest {
                parent_run_id: params.parent_run_id,
                strategy: params.strategy.into(),
                extra_tags: params
                    .extra_tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key, t.value))
                    .chain(crate::access::caller(ctx).run_tags())
                    .collect(),
                use_parent_run_tags: params.use_parent_run_tags.unwrap_or(true),
            };
            match service.reexecute(request).await {
                Ok(run) => {
                    LaunchRunReexecutionResult::LaunchRunSuccess(LaunchRunSuccess { run: Run(run) })
                }
                Err(e) => LaunchRunReexecutionResult::from_error(service, None, e).await,
            }
        }
        _ => LaunchRunReexecutionResult::PythonError(PythonError::new(
            "DagsterInvariantViolationError",
            "Must only provide one of either executionParams or reexecutionParams",
        )),
    }
}

impl From<LaunchRunResult> for LaunchRunReexecutionResult {
    fn from(r: LaunchRunResult) -> Self {
        match r {
            LaunchRunResult::LaunchRunSuccess(x) => Self::LaunchRunSuccess(x),
            LaunchRunResult::InvalidStepError(x) => Self::InvalidStepError(x),
            LaunchRunResult::InvalidOutputError(x) => Self::InvalidOutputError(x),
            LaunchRunResult::RunConfigValidationInvalid(x) => Self::RunConfigValidationInvalid(x),
            LaunchRunResult::PipelineNotFoundError(x) => Self::PipelineNotFoundError(x),
            LaunchRunResult::RunConflict(x) => Self::RunConflict(x),
            LaunchRunResult::UnauthorizedError(x) => Self::UnauthorizedError(x),
            LaunchRunResult::PythonError(x) => Self::PythonError(x),
            LaunchRunResult::InvalidSubsetError(x) => Self::InvalidSubsetError(x),
            LaunchRunResult::PresetNotFoundError(x) => Self::PresetNotFoundError(x),
            LaunchRunResult::ConflictingExecutionParamsError(x) => {
                Self::ConflictingExecutionParamsError(x)
            }
            LaunchRunResult::NoModeProvidedError(x) => Self::NoModeProvidedError(x),
        }
    }
}

/// Output indicating that a run was terminated.
#[derive(SimpleObject, Clone, Debug)]
pub struct TerminateRunSuccess {
    /// The run, as it was before termination.
    #[graphql(owned)]
    pub run: Run,
}

/// Interface indicating that a run was terminated.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "TerminatePipelineExecutionSuccess",
    field(name = "run", ty = "Run")
)]
pub enum TerminatePipelineExecutionSuccess {
    /// The only implementation.
    TerminateRunSuccess(TerminateRunSuccess),
}

/// Output indicating that a run failed to terminate.
#[derive(SimpleObject, Clone, Debug)]
pub struct TerminateRunFailure {
    /// The run.
    #[graphql(owned)]
    pub run: Run,
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// Interface indicating that a run failed to terminate.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "TerminatePipelineExecutionFailure",
    field(name = "run", ty = "Run"),
    field(name = "message", ty = "String")
)]
pub enum TerminatePipelineExecutionFailure {
    /// The only implementation.
    TerminateRunFailure(TerminateRunFailure),
}

/// The output from a run termination.
#[derive(Union, Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum TerminateRunResult {
    /// Terminated.
    TerminateRunSuccess(TerminateRunSuccess),
    /// Not terminated.
    TerminateRunFailure(TerminateRunFailure),
    /// Unknown run.
    RunNotFoundError(RunNotFoundError),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
}

/// Indicates the runs that successfully terminated and those that failed to terminate.
#[derive(SimpleObject, Clone, Debug)]
pub struct TerminateRunsResult {
    /// One result per requested run, in order.
    pub terminate_run_results: Vec<TerminateRunResult>,
}

/// The output from runs termination.
#[derive(Union, Clone, Debug)]
pub enum TerminateRunsResultOrError {
    /// The results.
    TerminateRunsResult(TerminateRunsResult),
    /// Failure.
    PythonError(PythonError),
}

async fn terminate(
    ctx: &Context<'_>,
    run_id: &str,
    policy: Option<TerminateRunPolicy>,
) -> TerminateRunResult {
    let service = service(ctx);
    let caller = crate::access::caller(ctx);
    if !caller.may_terminate(None) {
        // A launcher: only the runs it launched.
        match service.run(run_id).await {
            Ok(run) if caller.may_terminate(run.tags.get(USER_TAG).map(String::as_str)) => {}
            Ok(_) => {
                return TerminateRunResult::UnauthorizedError(UnauthorizedError {
                    message: format!(
                        "{} (role {}) may terminate only the runs it launched",
                        caller.name, caller.role
                    ),
                });
            }
            Err(ServiceError::RunNotFound(id)) => {
                return TerminateRunResult::RunNotFoundError(RunNotFoundError::new(&id));
            }
            Err(e) => return TerminateRunResult::PythonError(e.into()),
        }
    }
    let policy = policy.map(Into::into).unwrap_or_default();
    match service.terminate_run(run_id, policy).await {
        Ok(TerminateOutcome::Terminated(run)) => {
            TerminateRunResult::TerminateRunSuccess(TerminateRunSuccess { run: Run(run) })
        }
        Ok(TerminateOutcome::Refused { run, message }) => {
            TerminateRunResult::TerminateRunFailure(TerminateRunFailure {
                run: Run(run),
                message,
            })
        }
        Err(ServiceError::RunNotFound(id)) => {
            TerminateRunResult::RunNotFoundError(RunNotFoundError::new(&id))
        }
        Err(e) => TerminateRunResult::PythonError(e.into()),
    }
}

/// Output indicating that a run was deleted.
#[derive(SimpleObject, Clone, Debug)]
pub struct DeletePipelineRunSuccess {
    /// The deleted run.
    pub run_id: String,
}

/// The output from deleting a run.
#[derive(Union, Clone, Debug)]
pub enum DeletePipelineRunResult {
    /// Deleted.
    DeletePipelineRunSuccess(DeletePipelineRunSuccess),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
    /// Unknown run.
    RunNotFoundError(RunNotFoundError),
}

async fn delete(service: &Service, run_id: &str) -> DeletePipelineRunResult {
    match service.delete_run(run_id).await {
        Ok(()) => DeletePipelineRunResult::DeletePipelineRunSuccess(DeletePipelineRunSuccess {
            run_id: run_id.to_owned(),
        }),
        Err(ServiceError::RunNotFound(id)) => {
            DeletePipelineRunResult::RunNotFoundError(RunNotFoundError::new(&id))
        }
        Err(e) => DeletePipelineRunResult::PythonError(e.into()),
    }
}

/// The output from reloading a code location server.
#[derive(Union, Clone, Debug)]
pub enum ReloadRepositoryLocationMutationResult {
    /// The reloaded location (loaded, or with its load error).
    WorkspaceLocationEntry(WorkspaceLocationEntry),
    /// Cannot reload.
    ReloadNotSupported(ReloadNotSupported),
    /// Unknown location.
    RepositoryLocationNotFound(RepositoryLocationNotFound),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
}

/// The output from reloading the workspace.
#[derive(Union, Clone, Debug)]
pub enum ReloadWorkspaceMutationResult {
    /// The reloaded workspace.
    Workspace(Workspace),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
}

/// Output indicating that a code location server was shut down.
#[derive(SimpleObject, Clone, Debug)]
pub struct ShutdownRepositoryLocationSuccess {
    /// The location.
    pub repository_location_name: String,
}

/// The output from shutting down a code location server.
#[derive(Union, Clone, Debug)]
pub enum ShutdownRepositoryLocationMutationResult {
    /// Done.
    ShutdownRepositoryLocationSuccess(ShutdownRepositoryLocationSuccess),
    /// Unknown location.
    RepositoryLocationNotFound(RepositoryLocationNotFound),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
}

fn location_not_found(name: &str) -> RepositoryLocationNotFound {
    RepositoryLocationNotFound {
        message: format!("Location {name} does not exist."),
    }
}

/// The root for all mutations to modify data in the Sluice instance.
#[derive(Default)]
pub struct Mutation;

#[Object(name = "RunsAndWorkspaceMutation")]
impl Mutation {
    /// Launches a job run.
    async fn launch_pipeline_execution(
        &self,
        ctx: &Context<'_>,
        execution_params: ExecutionParams,
    ) -> LaunchRunResult {
        launch(ctx, execution_params).await
    }

    /// Launches a job run.
    async fn launch_run(
        &self,
        ctx: &Context<'_>,
        execution_params: ExecutionParams,
    ) -> LaunchRunResult {
        launch(ctx, execution_params).await
    }

    /// Re-executes a job run.
    async fn launch_pipeline_reexecution(
        &self,
        ctx: &Context<'_>,
        execution_params: Option<ExecutionParams>,
        reexecution_params: Option<ReexecutionParams>,
    ) -> LaunchRunReexecutionResult {
        reexecute(ctx, execution_params, reexecution_params).await
    }

    /// Re-executes a job run.
    async fn launch_run_reexecution(
        &self,
        ctx: &Context<'_>,
        execution_params: Option<ExecutionParams>,
        reexecution_params: Option<ReexecutionParams>,
    ) -> LaunchRunReexecutionResult {
        reexecute(ctx, execution_params, reexecution_params).await
    }

    /// Terminates a run.
    async fn terminate_pipeline_execution(
        &self,
        ctx: &Context<'_>,
        run_id: String,
        terminate_policy: Option<TerminateRunPolicy>,
    ) -> TerminateRunResult {
        terminate(ctx, &run_id, terminate_policy).await
    }

    /// Terminates a run.
    async fn terminate_run(
        &self,
        ctx: &Context<'_>,
        run_id: String,
        terminate_policy: Option<TerminateRunPolicy>,
    ) -> TerminateRunResult {
        terminate(ctx, &run_id, terminate_policy).await
    }

    /// Terminates a set of runs given their run IDs.
    async fn terminate_runs(
        &self,
        ctx: &Context<'_>,
        run_ids: Vec<String>,
        terminate_policy: Option<TerminateRunPolicy>,
    ) -> TerminateRunsResultOrError {
        let mut results = Vec::with_capacity(run_ids.len());
        for run_id in &run_ids {
            results.push(terminate(ctx, run_id, terminate_policy).await);
        }
        TerminateRunsResultOrError::TerminateRunsResult(TerminateRunsResult {
            terminate_run_results: results,
        })
    }

    /// Deletes a run from storage.
    async fn delete_pipeline_run(
        &self,
        ctx: &Context<'_>,
        run_id: String,
    ) -> DeletePipelineRunResult {
        delete(service(ctx), &run_id).await
    }

    /// Deletes a run from storage.
    async fn delete_run(&self, ctx: &Context<'_>, run_id: String) -> DeletePipelineRunResult {
        delete(service(ctx), &run_id).await
    }

    /// Reloads a code location server.
    async fn reload_repository_location(
        &self,
        ctx: &Context<'_>,
        repository_location_name: String,
    ) -> ReloadRepositoryLocationMutationResult {
        match service(ctx)
            .reload_location(&repository_location_name)
            .await
        {
            Ok(location) => ReloadRepositoryLocationMutationResult::WorkspaceLocationEntry(
                WorkspaceLocationEntry(location),
            ),
            Err(ServiceError::LocationNotFound(name)) => {
                ReloadRepositoryLocationMutationResult::RepositoryLocationNotFound(
                    location_not_found(&name),
                )
            }
            Err(e) => ReloadRepositoryLocationMutationResult::PythonError(e.into()),
        }
    }

    /// Enable a schedule to launch runs for a job at a fixed interval.
    async fn start_schedule(
        &self,
        ctx: &Context<'_>,
        schedule_selector: ScheduleSelector,
    ) -> ScheduleMutationResult {
        instigation::set_schedule_status(ctx, &schedule_selector, Some(InstigatorStatus::Running))
            .await
    }

    /// Disable a schedule from launching runs for a job. The three ids are the same in
    /// Sluice; any one will do.
    async fn stop_running_schedule(
        &self,
        ctx: &Context<'_>,
        id: Option<String>,
        schedule_origin_id: Option<String>,
        schedule_selector_id: Option<String>,
    ) -> ScheduleMutationResult {
        let id = id.or(schedule_origin_id).or(schedule_selector_id);
        instigation::stop_schedule_by_id(ctx, id.as_deref()).await
    }

    /// Reset a schedule to its status defined in code, otherwise disable it from
    /// launching runs for a job.
    async fn reset_schedule(
        &self,
        ctx: &Context<'_>,
        schedule_selector: ScheduleSelector,
    ) -> ScheduleMutationResult {
        instigation::set_schedule_status(ctx, &schedule_selector, None).await
    }

    /// Enable a sensor to launch runs for a job based on external state change.
    async fn start_sensor(
        &self,
        ctx: &Context<'_>,
        sensor_selector: SensorSelector,
    ) -> SensorOrError {
        let change = SensorChange::Status(Some(InstigatorStatus::Running));
        instigation::sensor_mutation(ctx, &sensor_selector, change).await
    }

    /// Set a sensor's cursor.
    async fn set_sensor_cursor(
        &self,
        ctx: &Context<'_>,
        cursor: Option<String>,
        sensor_selector: SensorSelector,
    ) -> SensorOrError {
        instigation::sensor_mutation(ctx, &sensor_selector, SensorChange::Cursor(cursor)).await
    }

    /// Disable a sensor from launching runs for a job. The three ids are the same in
    /// Sluice; any one will do.
    async fn stop_sensor(
        &self,
        ctx: &Context<'_>,
        id: Option<String>,
        job_origin_id: Option<String>,
        job_selector_id: Option<String>,
    ) -> StopSensorMutationResultOrError {
        let id = id.or(job_origin_id).or(job_selector_id);
        instigation::stop_sensor_by_id(ctx, id.as_deref()).await
    }

    /// Reset a sensor to its status defined in code, otherwise disable it from launching
    /// runs for a job.
    async fn reset_sensor(
        &self,
        ctx: &Context<'_>,
        sensor_selector: SensorSelector,
    ) -> SensorOrError {
        instigation::sensor_mutation(ctx, &sensor_selector, SensorChange::Status(None)).await
    }

    /// Reloads the workspace and its code location servers.
    async fn reload_workspace(&self, ctx: &Context<'_>) -> ReloadWorkspaceMutationResult {
        ReloadWorkspaceMutationResult::Workspace(Workspace(service(ctx).reload_workspace().await))
    }

    /// Shuts down a code location server. Runs in flight finish first; a server the
    /// instance runs stays down until the location is reloaded.
    async fn shutdown_repository_location(
        &self,
        ctx: &Context<'_>,
        repository_location_name: String,
    ) -> ShutdownRepositoryLocationMutationResult {
        match service(ctx)
            .shutdown_location(&repository_location_name)
            .await
        {
            Ok(_) => ShutdownRepositoryLocationMutationResult::ShutdownRepositoryLocationSuccess(
                ShutdownRepositoryLocationSuccess {
                    repository_location_name,
                },
            ),
            Err(ServiceError::LocationNotFound(name)) => {
                ShutdownRepositoryLocationMutationResult::RepositoryLocationNotFound(
                    location_not_found(&name),
                )
            }
            Err(e) => ShutdownRepositoryLocationMutationResult::PythonError(e.into()),
        }
    }
}
