//! The query root.

use async_graphql::{Context, ID, Object, SimpleObject, Union};
use sluice_core::snapshot::REPOSITORY_NAME;

use crate::schema::config::{
    PipelineConfigValidationResult, RunConfigSchemaOrError, run_config_schema, validation_result,
};
use crate::schema::errors::{
    InvalidPipelineRunsFilterError, PipelineNotFoundError, PythonError, RepositoryNotFoundError,
    RunNotFoundError,
};
use crate::schema::events::EventConnection;
use crate::schema::inputs::{
    InstigationSelector, PipelineSelector, RepositorySelector, RunsFilterInput, ScheduleSelector,
    SensorSelector,
};
use crate::schema::instance::Instance;
use crate::schema::instigation::{
    self, InstigationStateOrError, InstigationStatesOrError, InstigationStatus, ScheduleOrError,
    SchedulesOrError, SensorOrError, SensorsOrError,
};
use crate::schema::runs::{Run, RunOrError, Runs, RunsOrError};
use crate::schema::scalars::RunConfigData;
use crate::schema::workspace::{
    InvalidSubsetError, JobRef, LoadedLocation, Pipeline, Repository, RepositoryLocationConnection,
    Workspace, WorkspaceLocationStatusEntries, WorkspaceLocationStatusEntry,
};
use crate::schema::{run_or_error, service};
use sluice_service::Error as ServiceError;
use sluice_service::{RunsQuery, page_limit};

/// Every repository of the workspace's loaded locations.
#[derive(SimpleObject, Clone, Debug)]
pub struct RepositoryConnection {
    /// One per loaded location.
    pub nodes: Vec<Repository>,
}

/// Repositories, or why there are none.
#[derive(Union, Clone, Debug)]
pub enum RepositoriesOrError {
    /// The repositories.
    RepositoryConnection(RepositoryConnection),
    /// Unknown selector.
    RepositoryNotFoundError(RepositoryNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// A repository, or why there is none.
#[derive(Union, Clone, Debug)]
pub enum RepositoryOrError {
    /// Failure.
    PythonError(PythonError),
    /// The repository.
    Repository(Repository),
    /// Unknown selector.
    RepositoryNotFoundError(RepositoryNotFoundError),
}

/// The workspace, or why there is none.
#[derive(Union, Clone, Debug)]
pub enum WorkspaceOrError {
    /// The workspace.
    Workspace(Workspace),
    /// Failure.
    PythonError(PythonError),
}

/// Location statuses, or why there are none.
#[derive(Union, Clone, Debug)]
pub enum WorkspaceLocationStatusEntriesOrError {
    /// The statuses.
    WorkspaceLocationStatusEntries(WorkspaceLocationStatusEntries),
    /// Failure.
    PythonError(PythonError),
}

/// Legacy (Dagster 0.11): locations, or why there are none.
#[derive(Union, Clone, Debug)]
pub enum RepositoryLocationsOrError {
    /// The locations.
    RepositoryLocationConnection(RepositoryLocationConnection),
    /// Failure.
    PythonError(PythonError),
}

/// A job, or why there is none.
#[derive(Union, Clone, Debug)]
pub enum PipelineOrError {
    /// The job.
    Pipeline(Pipeline),
    /// Unknown job.
    PipelineNotFoundError(PipelineNotFoundError),
    /// Bad selection.
    InvalidSubsetError(InvalidSubsetError),
    /// Failure.
    PythonError(PythonError),
}

/// A page of events, or why there is none.
#[derive(Union, Clone, Debug)]
pub enum EventConnectionOrError {
    /// The events.
    EventConnection(EventConnection),
    /// Unknown run.
    RunNotFoundError(RunNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

async fn repository(ctx: &Context<'_>, selector: &RepositorySelector) -> Option<Repository> {
    if selector.repository_name != REPOSITORY_NAME {
        return None;
    }
    let location = service(ctx)
        .workspace()
        .location(&selector.repository_location_name)
        .await?;
    LoadedLocation::of(&location).map(Repository)
}

/// The root for all queries to retrieve data from the Sluice instance.
#[derive(Default)]
pub struct Query;

#[Object(name = "RunsAndWorkspaceQuery")]
impl Query {
    /// Retrieve the version of Sluice running in the deployment.
    async fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    /// Retrieve all the repositories.
    async fn repositories_or_error(
        &self,
        ctx: &Context<'_>,
        repository_selector: Option<RepositorySelector>,
    ) -> RepositoriesOrError {
        if let Some(selector) = repository_selector {
            return match repository(ctx, &selector).await {
                Some(repo) => RepositoriesOrError::RepositoryConnection(RepositoryConnection {
                    nodes: vec![repo],
                }),
                None => RepositoriesOrError::RepositoryNotFoundError(RepositoryNotFoundError::new(
                    &selector.repository_location_name,
                    &selector.repository_name,
                )),
            };
        }
        let nodes = service(ctx)
            .workspace()
            .locations()
            .await
            .iter()
            .filter_map(LoadedLocation::of)
            .map(Repository)
            .collect();
        RepositoriesOrError::RepositoryConnection(RepositoryConnection { nodes })
    }

    /// Retrieve a repository by its location name and repository name.
    async fn repository_or_error(
        &self,
        ctx: &Context<'_>,
        repository_selector: RepositorySelector,
    ) -> RepositoryOrError {
        match repository(ctx, &repository_selector).await {
            Some(repo) => RepositoryOrError::Repository(repo),
            None => RepositoryOrError::RepositoryNotFoundError(RepositoryNotFoundError::new(
                &repository_selector.repository_location_name,
                &repository_selector.repository_name,
            )),
        }
    }

    /// Retrieve the workspace and its locations.
    async fn workspace_or_error(&self, ctx: &Context<'_>) -> WorkspaceOrError {
        WorkspaceOrError::Workspace(Workspace(service(ctx).workspace().locations().await))
    }

    /// Retrieve location status for workspace locations.
    async fn location_statuses_or_error(
        &self,
        ctx: &Context<'_>,
    ) -> WorkspaceLocationStatusEntriesOrError {
        let entries = service(ctx)
            .workspace()
            .locations()
            .await
            .into_iter()
            .map(WorkspaceLocationStatusEntry)
            .collect();
        WorkspaceLocationStatusEntriesOrError::WorkspaceLocationStatusEntries(
            WorkspaceLocationStatusEntries { entries },
        )
    }

    /// Legacy (Dagster 0.11, replaced by `workspaceOrError`): every location, or its
    /// load failure.
    async fn repository_locations_or_error(&self, ctx: &Context<'_>) -> RepositoryLocationsOrError {
        let locations = service(ctx).workspace().locations().await;
        RepositoryLocationsOrError::RepositoryLocationConnection(RepositoryLocationConnection::new(
            &locations,
        ))
    }

    /// Retrieve a job by its location name, repository name, and job name.
    async fn pipeline_or_error(
        &self,
        ctx: &Context<'_>,
        params: PipelineSelector,
    ) -> PipelineOrError {
        match service(ctx).find_job(&params.job_selector()).await {
            Ok(found) => {
                let job = JobRef::from_found(&found);
                if params.solid_selection.is_some() || params.asset_selection.is_some() {
                    return PipelineOrError::InvalidSubsetError(InvalidSubsetError {
                        message:
                            "op and asset selections are not supported yet: Sluice runs whole jobs"
                                .to_owned(),
                        pipeline: job,
                    });
                }
                PipelineOrError::Pipeline(Pipeline(job))
            }
            Err(ServiceError::JobNotFound {
                location,
                repository,
                job,
            }) => PipelineOrError::PipelineNotFoundError(PipelineNotFoundError::new(
                &location,
                &repository,
                &job,
            )),
            Err(e) => PipelineOrError::PythonError(e.into()),
        }
    }

    /// Retrieve a run by its run id.
    async fn pipeline_run_or_error(&self, ctx: &Context<'_>, run_id: ID) -> RunOrError {
        run_or_error(ctx, &run_id).await
    }

    /// Retrieve runs after applying a filter, cursor, and limit.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn runs_or_error(
        &self,
        ctx: &Context<'_>,
        filter: Option<RunsFilterInput>,
        cursor: Option<String>,
        limit: Option<i32>,
    ) -> RunsOrError {
        let filter = match filter.unwrap_or_default().into_filter() {
            Ok(Some(filter)) => filter,
            Ok(None) => {
                return RunsOrError::Runs(Runs {
                    results: Vec::new(),
                    count: 0,
                });
            }
            Err(message) => {
                return RunsOrError::InvalidPipelineRunsFilterError(
                    InvalidPipelineRunsFilterError { message },
                );
            }
        };
        let limit = match page_limit(limit) {
            Ok(limit) => limit,
            Err(e) => return RunsOrError::PythonError(e.into()),
        };
        let query = RunsQuery {
            filter,
            cursor,
            limit,
        };
        // Read only what the document selects: a count must not load every run.
        let wanted = ctx.look_ahead();
        let service = service(ctx);
        let results = if wanted.field("results").exists() {
            match service.runs(&query).await {
                Ok(runs) => runs.into_iter().map(Run).collect(),
                Err(e) => return RunsOrError::PythonError(e.into()),
            }
        } else {
            Vec::new()
        };
        let count = if wanted.field("count").exists() {
            match service.count_runs(&query.filter).await {
                Ok(count) => i32::try_from(count).unwrap_or(i32::MAX),
                Err(e) => return RunsOrError::PythonError(e.into()),
            }
        } else {
            0
        };
        RunsOrError::Runs(Runs { results, count })
    }

    /// Retrieve a run by its run id.
    async fn run_or_error(&self, ctx: &Context<'_>, run_id: ID) -> RunOrError {
        run_or_error(ctx, &run_id).await
    }

    /// Retrieve whether the run configuration is valid or invalid.
    async fn is_pipeline_config_valid(
        &self,
        ctx: &Context<'_>,
        pipeline: PipelineSelector,
        mode: String,
        run_config_data: Option<RunConfigData>,
    ) -> PipelineConfigValidationResult {
        let _ = mode; // As in Dagster, the mode is not checked.
        match service(ctx).find_job(&pipeline.job_selector()).await {
            Ok(found) => validation_result(&found, run_config_data.map(|d| d.0)),
            Err(e) => e.into(),
        }
    }

    /// Retrieve the run configuration schema for a job.
    async fn run_config_schema_or_error(
        &self,
        ctx: &Context<'_>,
        selector: PipelineSelector,
        mode: Option<String>,
    ) -> RunConfigSchemaOrError {
        run_config_schema(ctx, selector.job_selector(), mode).await
    }

    /// Retrieve a schedule by its location name, repository name, and schedule name.
    async fn schedule_or_error(
        &self,
        ctx: &Context<'_>,
        schedule_selector: ScheduleSelector,
    ) -> ScheduleOrError {
        instigation::schedule_or_error(ctx, &schedule_selector).await
    }

    /// Retrieve all the schedules of a repository, optionally only those in a status.
    async fn schedules_or_error(
        &self,
        ctx: &Context<'_>,
        repository_selector: RepositorySelector,
        schedule_status: Option<InstigationStatus>,
    ) -> SchedulesOrError {
        instigation::schedules_or_error(ctx, &repository_selector, schedule_status).await
    }

    /// Retrieve a sensor by its location name, repository name, and sensor name.
    async fn sensor_or_error(
        &self,
        ctx: &Context<'_>,
        sensor_selector: SensorSelector,
    ) -> SensorOrError {
        instigation::sensor_or_error(ctx, &sensor_selector).await
    }

    /// Retrieve all the sensors of a repository, optionally only those in a status.
    async fn sensors_or_error(
        &self,
        ctx: &Context<'_>,
        repository_selector: RepositorySelector,
        sensor_status: Option<InstigationStatus>,
    ) -> SensorsOrError {
        instigation::sensors_or_error(ctx, &repository_selector, sensor_status).await
    }

    /// Retrieve the state for a schedule or sensor by its location name, repository
    /// name, and schedule/sensor name (or by its id).
    async fn instigation_state_or_error(
        &self,
        ctx: &Context<'_>,
        instigation_selector: InstigationSelector,
        id: Option<String>,
    ) -> InstigationStateOrError {
        instigation::instigation_state_or_error(ctx, &instigation_selector, id.as_deref()).await
    }

    /// Retrieve the state for a group of instigators (schedule/sensor) by their
    /// containing repository id.
    async fn instigation_states_or_error(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "repositoryID")] repository_id: String,
    ) -> InstigationStatesOrError {
        instigation::instigation_states_or_error(ctx, &repository_id).await
    }

    /// What the caller may do, by Dagster's permission names.
    async fn permissions(&self, ctx: &Context<'_>) -> Vec<crate::schema::workspace::Permission> {
        crate::schema::workspace::permissions(&crate::access::caller(ctx))
    }

    /// Retrieve the instance configuration for the deployment.
    async fn instance(&self) -> Instance {
        Instance
    }

    /// Retrieve event logs after applying a run id filter, cursor, and limit.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn logs_for_run(
        &self,
        ctx: &Context<'_>,
        run_id: ID,
        after_cursor: Option<String>,
        limit: Option<i32>,
    ) -> EventConnectionOrError {
        let limit = match page_limit(limit) {
            Ok(limit) => limit,
            Err(e) => return EventConnectionOrError::PythonError(e.into()),
        };
        let service = service(ctx);
        let run = match service.run(&run_id).await {
            Ok(run) => run,
            Err(ServiceError::RunNotFound(id)) => {
                return EventConnectionOrError::RunNotFoundError(RunNotFoundError::new(&id));
            }
            Err(e) => return EventConnectionOrError::PythonError(e.into()),
        };
        match service
            .events(&run.run_id, after_cursor.as_deref(), limit)
            .await
        {
            Ok(page) => {
                EventConnectionOrError::EventConnection(EventConnection::new(&run.job_name, page))
            }
            Err(e) => EventConnectionOrError::PythonError(e.into()),
        }
    }
}
