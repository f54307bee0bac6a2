//! The errors of the webserver's operations.

use sluice_codeserver::ClientError;
use sluice_core::config::ConfigParseError;
use sluice_core::partition::PartitionError;
use sluice_core::run::RunTagError;
use sluice_storage::StorageError;

use crate::config_errors::ConfigErrorView;

/// What went wrong in an operation of the [`Service`].
///
/// The GraphQL layer turns each variant into the matching Dagster result type
/// (`PipelineNotFoundError`, `RunConfigValidationInvalid`, `RunNotFoundError`, ...), and
/// anything without a dedicated type into a `PythonError`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No job of this name in this location and repository (or no such location).
    #[error("Could not find Pipeline {location}.{repository}.{job}")]
    JobNotFound {
        /// The location asked for.
        location: String,
        /// The repository asked for.
        repository: String,
        /// The job asked for.
        job: String,
    },

    /// The location exists but its code server could not be loaded.
    #[error(
        "code location \"{location}\" is not loaded: {message}. Check that its code server \
         is running, then reload the location"
    )]
    LocationUnavailable {
        /// The location.
        location: String,
        /// Why it could not be loaded.
        message: String,
    },

    /// No such repository (location, or repository in it), or its location is not loaded.
    #[error("Could not find Repository {location}.{repository}")]
    RepositoryNotFound {
        /// The location asked for.
        location: String,
        /// The repository asked for.
        repository: String,
    },

    /// The workspace has no location of this name.
    #[error("Location {0} does not exist.")]
    LocationNotFound(String),

    /// The run config does not fit the job; every error is listed.
    #[error("run config for job \"{job}\" is invalid ({} errors)", errors.len())]
    InvalidRunConfig {
        /// The job.
        job: String,
        /// Every error, as Dagster reports it.
        errors: Vec<ConfigErrorView>,
    },

    /// An op or asset selection that cannot be honoured.
    #[error("{message}")]
    InvalidSubset {
        /// The job.
        job: String,
        /// Why.
        message: String,
    },

    /// The run's partition does not exist, or the run needs one.
    #[error("job \"{job}\": {error}")]
    Partition {
        /// The job.
        job: String,
        /// What is wrong with the partition.
        error: PartitionError,
    },

    /// A dynamic partition that exists already.
    #[error("Partition {key} already exists in dynamic partitions definition {name}.")]
    DuplicateDynamicPartition {
        /// The set.
        name: String,
        /// The key.
        key: String,
    },

    /// The location defines no dynamic partitions set of this name.
    #[error(
        "code location \"{location}\" has no dynamic partitions definition named \"{name}\" (it has: {})",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    DynamicPartitionsNotFound {
        /// The location.
        location: String,
        /// The set asked for.
        name: String,
        /// The sets the location uses.
        known: Vec<String>,
    },

    /// No backfill has this id.
    #[error("Backfill {0} could not be found.")]
    BackfillNotFound(String),

    /// No partitioned job has this partition set.
    #[error("Partition set {0} could not be found.")]
    PartitionSetNotFound(String),

    /// Partitions a backfill names that do not exist.
    #[error("partitions {} do not exist in {definition}", keys.join(", "))]
    PartitionKeysNotFound {
        /// The unknown keys.
        keys: Vec<String>,
        /// The partitioning.
        definition: String,
    },

    /// No run has this id.
    #[error("Pipeline run {0} could not be found.")]
    RunNotFound(String),

    /// The parent run of a re-execution does not exist.
    #[error("Could not find parent run with id: {0}")]
    ParentRunNotFound(String),

    /// A run config document (YAML or JSON text) that cannot be parsed.
    #[error("invalid run config document: {0}")]
    RunConfigDocument(#[from] ConfigParseError),

    /// A request that is well-formed but asks for something Sluice does not do (yet).
    #[error("{0}")]
    Unsupported(String),

    /// A request argument that cannot be used (a bad cursor, conflicting parameters).
    #[error("{0}")]
    InvalidArgument(String),

    /// The caller's role does not have the permission the operation needs.
    #[error("{caller} (role {role}) may not {permission}")]
    Unauthorized {
        /// Who asked.
        caller: String,
        /// Its role.
        role: crate::access::Role,
        /// Dagster's name of the permission needed.
        permission: &'static str,
    },

    /// A token that lets no one in.
    #[error("not signed in: {0}")]
    Unauthenticated(String),

    /// A request's tags that cannot be used, such as a tag Sluice sets itself.
    #[error(transparent)]
    InvalidTags(#[from] RunTagError),

    /// Instance storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),

    /// A code server could not be reached or refused.
    #[error(transparent)]
    CodeServer(#[from] ClientError),
}

impl Error {
    /// A class name for Dagster's `PythonError.className`.
    pub fn class_name(&self) -> &'static str {
        match self {
            Self::JobNotFound { .. } => "JobNotFoundError",
            Self::LocationUnavailable { .. } => "LocationUnavailableError",
            Self::LocationNotFound(_) => "LocationNotFoundError",
            Self::RepositoryNotFound { .. } => "RepositoryNotFoundError",
            Self::InvalidRunConfig { .. } => "RunConfigError",
            Self::InvalidSubset { .. } => "InvalidSubsetError",
            Self::Partition { .. } => "DagsterUnknownPartitionError",
            Self::DuplicateDynamicPartition { .. } => "DuplicateDynamicPartitionError",
            Self::DynamicPartitionsNotFound { .. } => "DagsterUnknownPartitionError",
            Self::RunNotFound(_) => "RunNotFoundError",
            Self::BackfillNotFound(_) => "BackfillNotFoundError",
            Self::PartitionSetNotFound(_) => "PartitionSetNotFoundError",
            Self::PartitionKeysNotFound { .. } => "PartitionKeysNotFoundError",
            Self::ParentRunNotFound(_) => "ParentRunNotFoundError",
            Self::RunConfigDocument(_) => "ConfigParseError",
            Self::Unsupported(_) => "UnsupportedOperationError",
            Self::InvalidArgument(_) => "InvalidArgumentError",
            Self::InvalidTags(_) => "DagsterInvalidTagsError",
            Self::Unauthorized { .. } => "UnauthorizedError",
            Self::Unauthenticated(_) => "UnauthenticatedError",
            Self::Storage(_) => "StorageError",
            Self::CodeServer(_) => "CodeServerError",
        }
    }
}

/// The result of a service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
