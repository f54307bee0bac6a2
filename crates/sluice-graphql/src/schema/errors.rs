//! Error result types shared by many fields, and the `Error` interface.

use async_graphql::{ComplexObject, Interface, SimpleObject};
use sluice_core::events::ErrorInfo;

use crate::schema::config::ModeNotFoundError;
use crate::schema::workspace::{ConfigTypeNotFoundError, InvalidSubsetError};
use sluice_service::Error as ServiceError;

/// An error, as Dagster reports a Python exception: message, class and causes.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct PythonError {
    /// What went wrong.
    #[graphql(owned)]
    pub message: String,
    /// The kind of error.
    #[graphql(owned)]
    pub class_name: Option<String>,
    /// Stack frames (Sluice does not report any).
    #[graphql(owned)]
    pub stack: Vec<String>,
    /// The error that caused this one.
    #[graphql(owned)]
    pub cause: Option<Box<PythonError>>,
}

#[ComplexObject]
impl PythonError {
    /// Every cause, outermost first.
    async fn causes(&self) -> Vec<PythonError> {
        std::iter::successors(self.cause.as_deref(), |e| e.cause.as_deref())
            .cloned()
            .collect()
    }

    /// The chain of causes, as links.
    async fn error_chain(&self) -> Vec<ErrorChainLink> {
        std::iter::successors(self.cause.as_deref(), |e| e.cause.as_deref())
            .map(|e| ErrorChainLink {
                message: e.message.clone(),
                error: e.clone(),
                is_explicit_link: true,
            })
            .collect()
    }
}

impl PythonError {
    /// An error with a message and a class name.
    pub fn new(class_name: &str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            class_name: Some(class_name.to_owned()),
            stack: Vec::new(),
            cause: None,
        }
    }

    /// An error recorded in an event, with its causes.
    pub fn from_info(info: &ErrorInfo) -> Self {
        Self {
            message: info.message.clone(),
            class_name: Some(info.kind.clone()),
            stack: Vec::new(),
            cause: info.cause.as_deref().map(|c| Box::new(Self::from_info(c))),
        }
    }
}

impl From<&ServiceError> for PythonError {
    fn from(e: &ServiceError) -> Self {
        let mut cause = None;
        let mut source = std::error::Error::source(e);
        let mut chain = Vec::new();
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
        for message in chain.into_iter().rev() {
            cause = Some(Box::new(PythonError {
                message,
                class_name: None,
                stack: Vec::new(),
                cause,
            }));
        }
        PythonError {
            message: e.to_string(),
            class_name: Some(e.class_name().to_owned()),
            stack: Vec::new(),
            cause,
        }
    }
}

impl From<ServiceError> for PythonError {
    fn from(e: ServiceError) -> Self {
        Self::from(&e)
    }
}

/// One link of an error's chain of causes.
#[derive(SimpleObject, Clone, Debug)]
pub struct ErrorChainLink {
    /// The cause's message.
    #[graphql(owned)]
    pub message: String,
    /// The cause.
    #[graphql(owned)]
    pub error: PythonError,
    /// Whether the cause was given explicitly.
    #[graphql(owned)]
    pub is_explicit_link: bool,
}

/// No run has the id asked for.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunNotFoundError {
    /// The id asked for.
    #[graphql(owned)]
    pub run_id: String,
    /// `Pipeline run {id} could not be found.`
    #[graphql(owned)]
    pub message: String,
}

impl RunNotFoundError {
    /// The error for `run_id`, with Dagster's message.
    pub fn new(run_id: &str) -> Self {
        Self {
            run_id: run_id.to_owned(),
            message: format!("Pipeline run {run_id} could not be found."),
        }
    }
}

/// No job matches the selector.
#[derive(SimpleObject, Clone, Debug)]
pub struct PipelineNotFoundError {
    /// `Could not find Pipeline {location}.{repository}.{job}`
    #[graphql(owned)]
    pub message: String,
    /// The job asked for.
    #[graphql(owned)]
    pub pipeline_name: String,
    /// The repository asked for.
    #[graphql(owned)]
    pub repository_name: String,
    /// The location asked for.
    #[graphql(owned)]
    pub repository_location_name: String,
}

impl PipelineNotFoundError {
    /// The error for a selector, with Dagster's message.
    pub fn new(location: &str, repository: &str, job: &str) -> Self {
        Self {
            message: format!("Could not find Pipeline {location}.{repository}.{job}"),
            pipeline_name: job.to_owned(),
            repository_name: repository.to_owned(),
            repository_location_name: location.to_owned(),
        }
    }
}

/// No repository matches the selector.
#[derive(SimpleObject, Clone, Debug)]
pub struct RepositoryNotFoundError {
    /// `Could not find Repository {location}.{repository}`
    #[graphql(owned)]
    pub message: String,
    /// The repository asked for.
    #[graphql(owned)]
    pub repository_name: String,
    /// The location asked for.
    #[graphql(owned)]
    pub repository_location_name: String,
}

impl RepositoryNotFoundError {
    /// The error for a selector, with Dagster's message.
    pub fn new(location: &str, repository: &str) -> Self {
        Self {
            message: format!("Could not find Repository {location}.{repository}"),
            repository_name: repository.to_owned(),
            repository_location_name: location.to_owned(),
        }
    }
}

/// The workspace has no location of this name.
#[derive(SimpleObject, Clone, Debug)]
pub struct RepositoryLocationNotFound {
    /// `Location {name} does not exist.`
    #[graphql(owned)]
    pub message: String,
}

/// The location cannot be reloaded.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReloadNotSupported {
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// The caller may not do this.
#[derive(SimpleObject, Clone, Debug)]
pub struct UnauthorizedError {
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// A preset that the job does not have.
#[derive(SimpleObject, Clone, Debug)]
pub struct PresetNotFoundError {
    /// `Preset {preset} not found in pipeline {job}.`
    #[graphql(owned)]
    pub message: String,
    /// The preset asked for.
    #[graphql(owned)]
    pub preset: String,
}

/// Execution parameters that contradict each other.
#[derive(SimpleObject, Clone, Debug)]
pub struct ConflictingExecutionParamsError {
    /// Which parameters.
    #[graphql(owned)]
    pub message: String,
}

/// A job with several modes was launched without one.
#[derive(SimpleObject, Clone, Debug)]
pub struct NoModeProvidedError {
    /// Why.
    #[graphql(owned)]
    pub message: String,
    /// The job.
    #[graphql(owned)]
    pub pipeline_name: String,
}

/// A run with this id exists already.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunConflict {
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// A step key that the job's plan does not have.
#[derive(SimpleObject, Clone, Debug)]
pub struct InvalidStepError {
    /// The step key.
    pub invalid_step_key: String,
}

/// An output that the step does not have.
#[derive(SimpleObject, Clone, Debug)]
pub struct InvalidOutputError {
    /// The step.
    pub step_key: String,
    /// The output.
    pub invalid_output_name: String,
}

/// A runs filter that cannot be applied.
#[derive(SimpleObject, Clone, Debug)]
pub struct InvalidPipelineRunsFilterError {
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// A Dagster type that the job does not use.
#[derive(SimpleObject, Clone, Debug)]
pub struct DagsterTypeNotFoundError {
    /// Why.
    #[graphql(owned)]
    pub message: String,
    /// The type asked for.
    #[graphql(owned)]
    pub dagster_type_name: String,
}

/// Step statistics are not available.
#[derive(SimpleObject, Clone, Debug)]
pub struct SolidStepStatusUnavailableError {
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// No schedule of this name in the repository.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScheduleNotFoundError {
    /// What was not found.
    #[graphql(owned)]
    pub message: String,
    /// The schedule asked for.
    #[graphql(owned)]
    pub schedule_name: String,
}

/// No sensor of this name in the repository.
#[derive(SimpleObject, Clone, Debug)]
pub struct SensorNotFoundError {
    /// What was not found.
    #[graphql(owned)]
    pub message: String,
    /// The sensor asked for.
    #[graphql(owned)]
    pub sensor_name: String,
}

/// No schedule or sensor with this selector.
#[derive(SimpleObject, Clone, Debug)]
pub struct InstigationStateNotFoundError {
    /// What was not found.
    #[graphql(owned)]
    pub message: String,
    /// The name asked for.
    #[graphql(owned)]
    pub name: String,
}

/// No asset has the key asked for.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetNotFoundError {
    /// `Asset key {key} not found.`
    #[graphql(owned)]
    pub message: String,
}

impl AssetNotFoundError {
    /// The error for `key` (as the user wrote it), with Dagster's message.
    pub fn new(key: &[String]) -> Self {
        Self {
            message: format!("Asset key {} not found.", key.join("/")),
        }
    }
}

/// The operation is not available.
#[derive(SimpleObject, Clone, Debug)]
pub struct UnsupportedOperationError {
    /// Why.
    #[graphql(owned)]
    pub message: String,
}

/// Anything that went wrong.
#[derive(Interface, Clone, Debug)]
#[graphql(name = "Error", field(name = "message", ty = "String"))]
#[allow(clippy::large_enum_variant)]
pub enum ErrorInterface {
    /// A failure.
    PythonError(PythonError),
    /// Unknown run.
    RunNotFoundError(RunNotFoundError),
    /// Unknown job.
    PipelineNotFoundError(PipelineNotFoundError),
    /// Unknown repository.
    RepositoryNotFoundError(RepositoryNotFoundError),
    /// Unknown location.
    RepositoryLocationNotFound(RepositoryLocationNotFound),
    /// No reload.
    ReloadNotSupported(ReloadNotSupported),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Unknown preset.
    PresetNotFoundError(PresetNotFoundError),
    /// Conflicting parameters.
    ConflictingExecutionParamsError(ConflictingExecutionParamsError),
    /// No mode.
    NoModeProvidedError(NoModeProvidedError),
    /// Duplicate run.
    RunConflict(RunConflict),
    /// Bad subset.
    InvalidSubsetError(InvalidSubsetError),
    /// Unknown mode.
    ModeNotFoundError(ModeNotFoundError),
    /// Bad filter.
    InvalidPipelineRunsFilterError(InvalidPipelineRunsFilterError),
    /// Unknown Dagster type.
    DagsterTypeNotFoundError(DagsterTypeNotFoundError),
    /// Unknown asset.
    AssetNotFoundError(AssetNotFoundError),
    /// Not available.
    UnsupportedOperationError(UnsupportedOperationError),
    /// Unknown config type.
    ConfigTypeNotFoundError(ConfigTypeNotFoundError),
    /// No step stats.
    SolidStepStatusUnavailableError(SolidStepStatusUnavailableError),
    /// A link of an error chain.
    ErrorChainLink(ErrorChainLink),
    /// Unknown schedule.
    ScheduleNotFoundError(ScheduleNotFoundError),
    /// Unknown sensor.
    SensorNotFoundError(SensorNotFoundError),
    /// Unknown schedule or sensor.
    InstigationStateNotFoundError(InstigationStateNotFoundError),
    /// A dynamic partition that exists already.
    DuplicateDynamicPartitionError(crate::schema::partitions::DuplicateDynamicPartitionError),
}

/// Dagster's interface for a run that was not found.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineRunNotFoundError",
    field(name = "run_id", ty = "String"),
    field(name = "message", ty = "String")
)]
pub enum PipelineRunNotFoundErrorInterface {
    /// The only implementation.
    RunNotFoundError(RunNotFoundError),
}

/// Dagster's interface for a run id conflict.
#[derive(Interface, Clone, Debug)]
#[graphql(name = "PipelineRunConflict", field(name = "message", ty = "String"))]
pub enum PipelineRunConflictInterface {
    /// The only implementation.
    RunConflict(RunConflict),
}
