//! # sluice-core
//!
//! The Sluice model, in Dagster's words: ops, jobs, resources, run config, runs and
//! events, and the in-process executor that turns a job and its config into events.
//!
//! The path of a run through this crate:
//! [`Definitions`] (validated) → [`run_config::resolve`] (config checked, every error
//! with its path) → [`plan::ExecutionPlan`] → [`executor::execute`] → [`events::RunEvent`]s
//! sent to an [`events::EventSink`].

pub mod asset;
pub mod config;
pub mod definitions;
pub mod events;
pub mod executor;
pub mod hash;
pub mod io_manager;
pub mod job;
pub mod metadata;
pub mod op;
pub mod partition;
pub mod plan;
pub mod resource;
pub mod run;
pub mod run_config;
pub mod run_request;
pub mod schedule;
pub mod sensor;
pub mod snapshot;

pub use definitions::{DefinitionError, DefinitionProblem, Definitions};
/// The date and time types schedules and sensors use, in the versions Sluice uses.
pub use {chrono, chrono_tz};

/// The names a code location uses, in one import.
pub mod prelude {
    pub use crate::asset::{
        ASSET_JOB_NAME, AssetCheckDefinition, AssetCheckResult, AssetCheckSeverity,
        AssetDefinition, AssetJobDefinition, AssetKey, AssetSelection, BackfillPolicy,
        define_asset_job, multi_asset,
    };
    pub use crate::config::ConfigType;
    pub use crate::definitions::{DefinitionError, Definitions, DefinitionsBuilder};
    pub use crate::events::LogLevel;
    pub use crate::io_manager::{IoManager, IoManagerDefinition, MemoryIoManager};
    pub use crate::job::{JobDefinition, NodeHandle, OutputRef};
    pub use crate::metadata::{MetadataValue, TableColumn};
    pub use crate::op::{
        Backoff, Inputs, Jitter, OpContext, OpDefinition, OpError, OutputValue, Outputs,
        PartitionValues, ResultExt, RetryPolicy,
    };
    pub use crate::partition::{PartitionMapping, PartitionsDefinition, TimeWindow};
    pub use crate::resource::{
        ConfigurableResource, InitResourceContext, ResourceDefinition, ResourceError,
    };
    pub use crate::run::RunStatus;
    pub use crate::run_request::{
        DefaultScheduleStatus, DefaultSensorStatus, DefaultStatus, DynamicPartitionsRequest,
        EvaluationError, RunRequest, SkipReason,
    };
    pub use crate::schedule::{ScheduleDefinition, ScheduleEvaluationContext};
    pub use crate::sensor::{
        AssetSensorContext, CronEntry, MultiAssetSensorContext, RunStatusSensorContext,
        SensorDefinition, SensorEvaluationContext, SensorResult, due_crons,
    };
}
