//! Run events with Dagster's concrete types (`RunStartEvent`, `ExecutionStepFailureEvent`,
//! `LogMessageEvent`, ...), their interfaces, metadata entries, and event pages.

use async_graphql::{Context, Enum, Interface, Object, SimpleObject, Union};
use sluice_core::events::{EventData, EventRecord, EventType, LogLevel as CoreLevel};
use sluice_core::metadata::{Metadata, MetadataValue};

use crate::schema::errors::PythonError;
use crate::schema::run_or_error;
use crate::schema::runs::{AssetKey, RunOrError, RunStepStats};
use sluice_service::EventPage;

/// The severity of an event.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LogLevel {
    /// Critical.
    Critical,
    /// Error.
    Error,
    /// Info.
    Info,
    /// Warning.
    Warning,
    /// Debug.
    Debug,
}

impl From<CoreLevel> for LogLevel {
    fn from(l: CoreLevel) -> Self {
        match l {
            CoreLevel::Critical => Self::Critical,
            CoreLevel::Error => Self::Error,
            CoreLevel::Info => Self::Info,
            CoreLevel::Warning => Self::Warning,
            CoreLevel::Debug => Self::Debug,
        }
    }
}

/// The types of events that may be yielded by op and job execution.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum DagsterEventType {
    StepOutput,
    StepInput,
    StepFailure,
    StepStart,
    StepSuccess,
    StepSkipped,
    StepWorkerStarting,
    StepWorkerStarted,
    ResourceInitStarted,
    ResourceInitSuccess,
    ResourceInitFailure,
    StepUpForRetry,
    StepRestarted,
    AssetMaterialization,
    AssetMaterializationPlanned,
    AssetFailedToMaterialize,
    AssetObservation,
    StepExpectationResult,
    AssetCheckEvaluationPlanned,
    AssetCheckEvaluation,
    AssetHealthChanged,
    AssetWiped,
    RunEnqueued,
    RunDequeued,
    RunStarting,
    RunStart,
    RunSuccess,
    RunFailure,
    RunCanceling,
    RunCanceled,
    RunSuspended,
    RunResumed,
    PipelineEnqueued,
    PipelineDequeued,
    PipelineStarting,
    PipelineStart,
    PipelineSuccess,
    PipelineFailure,
    PipelineCanceling,
    PipelineCanceled,
    ObjectStoreOperation,
    AssetStoreOperation,
    LoadedInput,
    HandledOutput,
    EngineEvent,
    HookCompleted,
    HookErrored,
    HookSkipped,
    AlertStart,
    AlertSuccess,
    AlertFailure,
    LogsCaptured,
    FreshnessStateEvaluation,
    FreshnessStateChange,
    CodeLocationUpdated,
}

fn dagster_event_type(t: EventType) -> Option<DagsterEventType> {
    Some(match t {
        EventType::RunEnqueued => DagsterEventType::RunEnqueued,
        EventType::RunDequeued => DagsterEventType::RunDequeued,
        EventType::RunStarting => DagsterEventType::RunStarting,
        EventType::RunStart => DagsterEventType::RunStart,
        EventType::RunSuccess => DagsterEventType::RunSuccess,
        EventType::RunFailure => DagsterEventType::RunFailure,
        EventType::RunCanceling => DagsterEventType::RunCanceling,
        EventType::RunCanceled => DagsterEventType::RunCanceled,
        EventType::StepStart => DagsterEventType::StepStart,
        EventType::StepOutput => DagsterEventType::StepOutput,
        EventType::StepSuccess => DagsterEventType::StepSuccess,
        EventType::StepFailure => DagsterEventType::StepFailure,
        EventType::StepUpForRetry => DagsterEventType::StepUpForRetry,
        EventType::StepRestarted => DagsterEventType::StepRestarted,
        EventType::StepSkipped => DagsterEventType::StepSkipped,
        EventType::HandledOutput => DagsterEventType::HandledOutput,
        EventType::LoadedInput => DagsterEventType::LoadedInput,
        EventType::EngineEvent => DagsterEventType::EngineEvent,
        EventType::AssetMaterialization => DagsterEventType::AssetMaterialization,
        EventType::AssetCheckEvaluation => DagsterEventType::AssetCheckEvaluation,
        EventType::AssetObservation => DagsterEventType::AssetObservation,
        EventType::Log => return None,
    })
}

/// What every event object is built from: the stored event and its run's job.
#[derive(Clone, Debug)]
pub struct EventBase {
    /// The stored event.
    pub record: EventRecord,
    /// The run's job.
    pub job_name: String,
}

impl EventBase {
    fn error(&self) -> Option<PythonError> {
        match &self.record.event.data {
            EventData::Failure { error } | EventData::Retry { error, .. } => {
                Some(PythonError::from_info(error))
            }
            _ => None,
        }
    }

    fn metadata(&self) -> Vec<MetadataEntryInterface> {
        match &self.record.event.data {
            EventData::Engine { metadata } => metadata_entries(metadata),
            EventData::Materialization(m) => typed_metadata_entries(&m.metadata),
            EventData::Observation(o) => typed_metadata_entries(&o.metadata),
            _ => Vec::new(),
        }
    }
}

macro_rules! event_object {
    ($(#[$doc:meta])* $name:ident [$($feat:ident),*] { $($extra:tt)* }) => {
        event_object!(@munch [$(#[$doc])*] $name [$($feat),*] { $($extra)* });
    };
    (@munch [$($doc:tt)*] $name:ident [run $(, $rest:ident)*] { $($acc:tt)* }) => {
        event_object!(@munch [$($doc)*] $name [$($rest),*] { $($acc)*
            pub(crate) async fn pipeline_name(&self) -> String {
                self.0.job_name.clone()
            }
        });
    };
    (@munch [$($doc:tt)*] $name:ident [error $(, $rest:ident)*] { $($acc:tt)* }) => {
        event_object!(@munch [$($doc)*] $name [$($rest),*] { $($acc)*
            pub(crate) async fn error(&self) -> Option<PythonError> {
                self.0.error()
            }
        });
    };
    (@munch [$($doc:tt)*] $name:ident [displayable $(, $rest:ident)*] { $($acc:tt)* }) => {
        event_object!(@munch [$($doc)*] $name [$($rest),*] { $($acc)*
            pub(crate) async fn label(&self) -> Option<String> {
                None
            }
            pub(crate) async fn description(&self) -> Option<String> {
                None
            }
            pub(crate) async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
                self.0.metadata()
            }
        });
    };
    (@munch [$($doc:tt)*] $name:ident [marker $(, $rest:ident)*] { $($acc:tt)* }) => {
        event_object!(@munch [$($doc)*] $name [$($rest),*] { $($acc)*
            pub(crate) async fn marker_start(&self) -> Option<String> {
                None
            }
            pub(crate) async fn marker_end(&self) -> Option<String> {
                None
            }
        });
    };
    (@munch [$($doc:tt)*] $name:ident [asset $(, $rest:ident)*] { $($acc:tt)* }) => {
        event_object!(@munch [$($doc)*] $name [$($rest),*] { $($acc)*
            pub(crate) async fn asset_key(&self) -> Option<AssetKey> {
                self.0.record.event.asset_key().map(AssetKey::from)
            }
            pub(crate) async fn run_or_error(&self, ctx: &Context<'_>) -> RunOrError {
                run_or_error(ctx, &self.0.record.event.run_id).await
            }
            pub(crate) async fn step_stats(&self) -> RunStepStats {
                empty_step_stats(&self.0)
            }
            pub(crate) async fn partition(&self) -> Option<String> {
                self.0.record.event.partition().map(str::to_owned)
            }
            pub(crate) async fn tags(&self) -> Vec<EventTag> {
                Vec::new()
            }
        });
    };
    (@munch [$($doc:tt)*] $name:ident [] { $($acc:tt)* }) => {
        $($doc)*
        #[derive(Clone, Debug)]
        pub struct $name(pub EventBase);

        #[Object]
        impl $name {
            pub(crate) async fn run_id(&self) -> String {
                self.0.record.event.run_id.clone()
            }
            pub(crate) async fn message(&self) -> String {
                self.0.record.event.message.clone()
            }
            /// Milliseconds since the Unix epoch, as a string.
            pub(crate) async fn timestamp(&self) -> String {
                format!("{}", (self.0.record.event.timestamp * 1000.0) as i64)
            }
            pub(crate) async fn level(&self) -> LogLevel {
                self.0.record.event.level.into()
            }
            pub(crate) async fn step_key(&self) -> Option<String> {
                self.0.record.event.step_key.clone()
            }
            #[graphql(name = "solidHandleID")]
            pub(crate) async fn solid_handle_id(&self) -> Option<String> {
                self.0.record.event.step_key.clone()
            }
            /// Null for log messages.
            pub(crate) async fn event_type(&self) -> Option<DagsterEventType> {
                dagster_event_type(self.0.record.event.event_type)
            }
            $($acc)*
        }
    };
}

fn empty_step_stats(base: &EventBase) -> RunStepStats {
    RunStepStats {
        run_id: base.record.event.run_id.clone(),
        step_key: base.record.event.step_key.clone().unwrap_or_default(),
        status: None,
        start_time: None,
        end_time: None,
        materializations: Vec::new(),
        expectation_results: Vec::new(),
        attempts: Vec::new(),
        markers: Vec::new(),
    }
}

fn passed_type_check() -> TypeCheck {
    TypeCheck {
        label: None,
        description: None,
        metadata_entries: Vec::new(),
        success: true,
    }
}

event_object!(
    /// An asset was materialized.
    MaterializationEvent [displayable, asset] {
        pub(crate) async fn asset_lineage(&self) -> Vec<AssetLineageInfo> {
            Vec::new()
        }
    }
);
event_object!(
    /// Something the engine reports (process start, termination, ...).
    EngineEvent [displayable, marker, error] {
        }
);
event_object!(
    /// A step yielded an output.
    ExecutionStepOutputEvent [displayable] {
        pub(crate) async fn output_name(&self) -> String {
            match &self.0.record.event.data {
                EventData::Output { output_name } => output_name.clone(),
                _ => "result".to_owned(),
            }
        }
        pub(crate) async fn type_check(&self) -> TypeCheck {
            passed_type_check()
        }
    }
);
event_object!(
    /// A step failed.
    ExecutionStepFailureEvent [error] {
        pub(crate) async fn error_source(&self) -> Option<ErrorSource> {
            Some(ErrorSource::UserCodeError)
        }
        pub(crate) async fn failure_metadata(&self) -> Option<FailureMetadata> {
            None
        }
    }
);
event_object!(
    /// A step failed and will be retried.
    ExecutionStepUpForRetryEvent [error] {
        pub(crate) async fn seconds_to_wait(&self) -> Option<f64> {
            match &self.0.record.event.data {
                EventData::Retry { delay_seconds, .. } => Some(*delay_seconds),
                _ => None,
            }
        }
    }
);
event_object!(
    /// A hook failed.
    HookErroredEvent [error] { }
);
event_object!(
    /// The run was canceled.
    RunCanceledEvent [run, error] { }
);
event_object!(
    /// The run is being canceled.
    RunCancelingEvent [run] { }
);
event_object!(
    /// The run left the queue.
    RunDequeuedEvent [run] { }
);
event_object!(
    /// The run was queued.
    RunEnqueuedEvent [run] { }
);
event_object!(
    /// The run failed.
    RunFailureEvent [run, error] { }
);
event_object!(
    /// The run started executing.
    RunStartEvent [run] { }
);
event_object!(
    /// The run was launched.
    RunStartingEvent [run] { }
);
event_object!(
    /// The run succeeded.
    RunSuccessEvent [run] { }
);
event_object!(
    /// An asset materialization is planned.
    AssetMaterializationPlannedEvent [run] {
        pub(crate) async fn asset_key(&self) -> Option<AssetKey> {
            None
        }
        pub(crate) async fn run_or_error(&self, ctx: &Context<'_>) -> RunOrError {
            run_or_error(ctx, &self.0.record.event.run_id).await
        }
    }
);
event_object!(
    /// A step received an input.
    ExecutionStepInputEvent [] {
        pub(crate) async fn input_name(&self) -> String {
            String::new()
        }
        pub(crate) async fn type_check(&self) -> TypeCheck {
            passed_type_check()
        }
    }
);
event_object!(
    /// A step was skipped.
    ExecutionStepSkippedEvent [] {}
);
event_object!(
    /// A step started.
    ExecutionStepStartEvent [] {}
);
event_object!(
    /// A step succeeded.
    ExecutionStepSuccessEvent [] {}
);
event_object!(
    /// A step started again (a retry).
    ExecutionStepRestartEvent [] {}
);
event_object!(
    /// An asset's health changed.
    HealthChangedEvent [displayable, asset] { }
);
event_object!(
    /// A message logged by user code.
    LogMessageEvent [] {}
);
event_object!(
    /// A resource failed to initialize.
    ResourceInitFailureEvent [displayable, marker, error] { }
);
event_object!(
    /// A resource started initializing.
    ResourceInitStartedEvent [displayable, marker] { }
);
event_object!(
    /// A resource initialized.
    ResourceInitSuccessEvent [displayable, marker] { }
);
event_object!(
    /// A step worker started.
    StepWorkerStartedEvent [displayable, marker] { }
);
event_object!(
    /// A step worker is starting.
    StepWorkerStartingEvent [displayable, marker] { }
);
event_object!(
    /// The run was suspended.
    RunSuspendedEvent [run] { }
);
event_object!(
    /// The run resumed.
    RunResumedEvent [run] { }
);
event_object!(
    /// An IO manager stored an output.
    HandledOutputEvent [displayable] {
        pub(crate) async fn output_name(&self) -> String {
            match &self.0.record.event.data {
                EventData::HandledOutput { output_name, .. } => output_name.clone(),
                _ => String::new(),
            }
        }
        pub(crate) async fn manager_key(&self) -> String {
            match &self.0.record.event.data {
                EventData::HandledOutput { manager_key, .. } => manager_key.clone(),
                _ => String::new(),
            }
        }
    }
);
event_object!(
    /// An IO manager loaded an input.
    LoadedInputEvent [displayable] {
        pub(crate) async fn input_name(&self) -> String {
            match &self.0.record.event.data {
                EventData::LoadedInput { input_name, .. } => input_name.clone(),
                _ => String::new(),
            }
        }
        pub(crate) async fn manager_key(&self) -> String {
            match &self.0.record.event.data {
                EventData::LoadedInput { manager_key, .. } => manager_key.clone(),
                _ => String::new(),
            }
        }
        pub(crate) async fn upstream_output_name(&self) -> Option<String> {
            match &self.0.record.event.data {
                EventData::LoadedInput { upstream_output_name, .. } => {
                    Some(upstream_output_name.clone())
                }
                _ => None,
            }
        }
        pub(crate) async fn upstream_step_key(&self) -> Option<String> {
            match &self.0.record.event.data {
                EventData::LoadedInput { upstream_step_key, .. } => Some(upstream_step_key.clone()),
                _ => None,
            }
        }
    }
);
event_object!(
    /// Captured stdout/stderr of steps.
    LogsCapturedEvent [] {
        pub(crate) async fn file_key(&self) -> String {
            String::new()
        }
        pub(crate) async fn step_keys(&self) -> Option<Vec<String>> {
            None
        }
        pub(crate) async fn external_url(&self) -> Option<String> {
            None
        }
        pub(crate) async fn external_stdout_url(&self) -> Option<String> {
            None
        }
        pub(crate) async fn external_stderr_url(&self) -> Option<String> {
            None
        }
        pub(crate) async fn shell_cmd(&self) -> Option<LogRetrievalShellCommand> {
            None
        }
        pub(crate) async fn pid(&self) -> Option<i32> {
            None
        }
        pub(crate) async fn log_key(&self) -> String {
            String::new()
        }
    }
);
event_object!(
    /// An object store operation.
    ObjectStoreOperationEvent [] {
        pub(crate) async fn operation_result(&self) -> ObjectStoreOperationResult {
            ObjectStoreOperationResult {
                label: None,
                description: None,
                metadata_entries: Vec::new(),
                op: ObjectStoreOperationType::SetObject,
            }
        }
    }
);
event_object!(
    /// An expectation result.
    StepExpectationResultEvent [] {
        pub(crate) async fn expectation_result(&self) -> ExpectationResult {
            ExpectationResult {
                label: None,
                description: None,
                metadata_entries: Vec::new(),
                success: true,
            }
        }
    }
);
event_object!(
    /// An asset observation.
    ObservationEvent [displayable, asset] { }
);
event_object!(
    /// An asset failed to materialize.
    FailedToMaterializeEvent [displayable, asset] {
        pub(crate) async fn materialization_failure_reason(&self) -> AssetMaterializationFailureReason {
            AssetMaterializationFailureReason::Unknown
        }
        pub(crate) async fn materialization_failure_type(&self) -> AssetMaterializationFailureType {
            AssetMaterializationFailureType::Failed
        }
    }
);
event_object!(
    /// A hook completed.
    HookCompletedEvent [] {}
);
event_object!(
    /// A hook was skipped.
    HookSkippedEvent [] {}
);
event_object!(
    /// An alert started.
    AlertStartEvent [run] { }
);
event_object!(
    /// An alert succeeded.
    AlertSuccessEvent [run] { }
);
event_object!(
    /// An alert failed.
    AlertFailureEvent [run] { }
);
event_object!(
    /// An asset check evaluation is planned.
    AssetCheckEvaluationPlannedEvent [] {
        pub(crate) async fn asset_key(&self) -> AssetKey {
            AssetKey { path: Vec::new() }
        }
        pub(crate) async fn check_name(&self) -> String {
            String::new()
        }
    }
);
event_object!(
    /// An asset check was evaluated.
    AssetCheckEvaluationEvent [] {
        pub(crate) async fn evaluation(&self) -> AssetCheckEvaluation {
            AssetCheckEvaluation::of(&self.0.record)
        }
    }
);

/// Calls `$make!` with every event object of a run's log: the one list both the
/// `DagsterRunEvent` union and the `MessageEvent` interface are made from.
macro_rules! with_run_event_objects {
    ($make:ident) => {
        $make! {
            ExecutionStepFailureEvent,
            ExecutionStepInputEvent,
            ExecutionStepOutputEvent,
            ExecutionStepSkippedEvent,
            ExecutionStepStartEvent,
            ExecutionStepSuccessEvent,
            ExecutionStepUpForRetryEvent,
            ExecutionStepRestartEvent,
            HealthChangedEvent,
            LogMessageEvent,
            ResourceInitFailureEvent,
            ResourceInitStartedEvent,
            ResourceInitSuccessEvent,
            RunFailureEvent,
            RunStartEvent,
            RunEnqueuedEvent,
            RunDequeuedEvent,
            RunStartingEvent,
            RunCancelingEvent,
            RunCanceledEvent,
            RunSuspendedEvent,
            RunResumedEvent,
            RunSuccessEvent,
            StepWorkerStartedEvent,
            StepWorkerStartingEvent,
            HandledOutputEvent,
            LoadedInputEvent,
            LogsCapturedEvent,
            ObjectStoreOperationEvent,
            StepExpectationResultEvent,
            MaterializationEvent,
            ObservationEvent,
            FailedToMaterializeEvent,
            EngineEvent,
            HookCompletedEvent,
            HookSkippedEvent,
            HookErroredEvent,
            AlertStartEvent,
            AlertSuccessEvent,
            AlertFailureEvent,
            AssetMaterializationPlannedEvent,
            AssetCheckEvaluationPlannedEvent,
            AssetCheckEvaluationEvent,
        }
    };
}

macro_rules! run_event_union {
    ($($name:ident),+ $(,)?) => {
        /// Any run event.
        #[derive(Union, Clone, Debug)]
        #[allow(missing_docs)]
        pub enum DagsterRunEvent {
            $($name($name),)+
        }
    };
}

macro_rules! message_event_interface {
    ($($name:ident),+ $(,)?) => {
        /// What every event has.
        #[derive(Interface, Clone, Debug)]
        #[graphql(
            name = "MessageEvent",
            field(name = "run_id", ty = "String"),
            field(name = "message", ty = "String"),
            field(name = "timestamp", ty = "String"),
            field(name = "level", ty = "LogLevel"),
            field(name = "step_key", ty = "Option<String>"),
            field(
                name = "solidHandleID",
                method = "solid_handle_id",
                ty = "Option<String>"
            ),
            field(name = "event_type", ty = "Option<DagsterEventType>")
        )]
        #[allow(missing_docs)]
        pub enum MessageEvent {
            $($name($name),)+
        }
    };
}

with_run_event_objects!(run_event_union);
with_run_event_objects!(message_event_interface);

impl DagsterRunEvent {
    /// The GraphQL object for a stored event of a run of `job_name`.
    pub fn new(record: EventRecord, job_name: &str) -> Self {
        let kind = record.event.event_type;
        let base = EventBase {
            record,
            job_name: job_name.to_owned(),
        };
        match kind {
            EventType::RunEnqueued => Self::RunEnqueuedEvent(RunEnqueuedEvent(base)),
            EventType::RunDequeued => Self::RunDequeuedEvent(RunDequeuedEvent(base)),
            EventType::RunStarting => Self::RunStartingEvent(RunStartingEvent(base)),
            EventType::RunStart => Self::RunStartEvent(RunStartEvent(base)),
            EventType::RunSuccess => Self::RunSuccessEvent(RunSuccessEvent(base)),
            EventType::RunFailure => Self::RunFailureEvent(RunFailureEvent(base)),
            EventType::RunCanceling => Self::RunCancelingEvent(RunCancelingEvent(base)),
            EventType::RunCanceled => Self::RunCanceledEvent(RunCanceledEvent(base)),
            EventType::StepStart => Self::ExecutionStepStartEvent(ExecutionStepStartEvent(base)),
            EventType::StepOutput => Self::ExecutionStepOutputEvent(ExecutionStepOutputEvent(base)),
            EventType::StepSuccess => {
                Self::ExecutionStepSuccessEvent(ExecutionStepSuccessEvent(base))
            }
            EventType::StepFailure => {
                Self::ExecutionStepFailureEvent(ExecutionStepFailureEvent(base))
            }
            EventType::StepUpForRetry => {
                Self::ExecutionStepUpForRetryEvent(ExecutionStepUpForRetryEvent(base))
            }
            EventType::StepRestarted => {
                Self::ExecutionStepRestartEvent(ExecutionStepRestartEvent(base))
            }
            EventType::StepSkipped => {
                Self::ExecutionStepSkippedEvent(ExecutionStepSkippedEvent(base))
            }
            EventType::HandledOutput => Self::HandledOutputEvent(HandledOutputEvent(base)),
            EventType::LoadedInput => Self::LoadedInputEvent(LoadedInputEvent(base)),
            EventType::EngineEvent => Self::EngineEvent(EngineEvent(base)),
            EventType::AssetMaterialization => {
                Self::MaterializationEvent(MaterializationEvent(base))
            }
            EventType::AssetCheckEvaluation => {
                Self::AssetCheckEvaluationEvent(AssetCheckEvaluationEvent(base))
            }
            EventType::AssetObservation => Self::ObservationEvent(ObservationEvent(base)),
            EventType::Log => Self::LogMessageEvent(LogMessageEvent(base)),
        }
    }
}

/// An event of a step.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "StepEvent",
    field(name = "step_key", ty = "Option<String>"),
    field(
        name = "solidHandleID",
        method = "solid_handle_id",
        ty = "Option<String>"
    )
)]
#[allow(missing_docs)]
pub enum StepEvent {
    MaterializationEvent(MaterializationEvent),
    EngineEvent(EngineEvent),
    ExecutionStepOutputEvent(ExecutionStepOutputEvent),
    ExecutionStepFailureEvent(ExecutionStepFailureEvent),
    ExecutionStepUpForRetryEvent(ExecutionStepUpForRetryEvent),
    HookErroredEvent(HookErroredEvent),
    ExecutionStepInputEvent(ExecutionStepInputEvent),
    ExecutionStepSkippedEvent(ExecutionStepSkippedEvent),
    ExecutionStepStartEvent(ExecutionStepStartEvent),
    ExecutionStepSuccessEvent(ExecutionStepSuccessEvent),
    ExecutionStepRestartEvent(ExecutionStepRestartEvent),
    HealthChangedEvent(HealthChangedEvent),
    ResourceInitFailureEvent(ResourceInitFailureEvent),
    ResourceInitStartedEvent(ResourceInitStartedEvent),
    ResourceInitSuccessEvent(ResourceInitSuccessEvent),
    StepWorkerStartedEvent(StepWorkerStartedEvent),
    StepWorkerStartingEvent(StepWorkerStartingEvent),
    HandledOutputEvent(HandledOutputEvent),
    LoadedInputEvent(LoadedInputEvent),
    ObjectStoreOperationEvent(ObjectStoreOperationEvent),
    StepExpectationResultEvent(StepExpectationResultEvent),
    ObservationEvent(ObservationEvent),
    FailedToMaterializeEvent(FailedToMaterializeEvent),
    HookCompletedEvent(HookCompletedEvent),
    HookSkippedEvent(HookSkippedEvent),
    AssetCheckEvaluationPlannedEvent(AssetCheckEvaluationPlannedEvent),
    AssetCheckEvaluationEvent(AssetCheckEvaluationEvent),
}

/// An event of the run as a whole.
#[derive(Interface, Clone, Debug)]
#[graphql(name = "RunEvent", field(name = "pipeline_name", ty = "String"))]
#[allow(missing_docs)]
pub enum RunEvent {
    RunCanceledEvent(RunCanceledEvent),
    RunCancelingEvent(RunCancelingEvent),
    RunDequeuedEvent(RunDequeuedEvent),
    RunEnqueuedEvent(RunEnqueuedEvent),
    RunFailureEvent(RunFailureEvent),
    RunStartEvent(RunStartEvent),
    RunStartingEvent(RunStartingEvent),
    RunSuccessEvent(RunSuccessEvent),
    AssetMaterializationPlannedEvent(AssetMaterializationPlannedEvent),
    RunSuspendedEvent(RunSuspendedEvent),
    RunResumedEvent(RunResumedEvent),
    AlertStartEvent(AlertStartEvent),
    AlertSuccessEvent(AlertSuccessEvent),
    AlertFailureEvent(AlertFailureEvent),
}

/// An event that may carry an error.
#[derive(Interface, Clone, Debug)]
#[graphql(name = "ErrorEvent", field(name = "error", ty = "Option<PythonError>"))]
#[allow(missing_docs)]
pub enum ErrorEvent {
    EngineEvent(EngineEvent),
    ExecutionStepFailureEvent(ExecutionStepFailureEvent),
    ExecutionStepUpForRetryEvent(ExecutionStepUpForRetryEvent),
    HookErroredEvent(HookErroredEvent),
    RunCanceledEvent(RunCanceledEvent),
    RunFailureEvent(RunFailureEvent),
    ResourceInitFailureEvent(ResourceInitFailureEvent),
}

/// An event with a start or end marker.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "MarkerEvent",
    field(name = "marker_start", ty = "Option<String>"),
    field(name = "marker_end", ty = "Option<String>")
)]
#[allow(missing_docs)]
pub enum MarkerEvent {
    EngineEvent(EngineEvent),
    ResourceInitFailureEvent(ResourceInitFailureEvent),
    ResourceInitStartedEvent(ResourceInitStartedEvent),
    ResourceInitSuccessEvent(ResourceInitSuccessEvent),
    StepWorkerStartedEvent(StepWorkerStartedEvent),
    StepWorkerStartingEvent(StepWorkerStartingEvent),
}

/// Something with a label, description and metadata.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "DisplayableEvent",
    field(name = "label", ty = "Option<String>"),
    field(name = "description", ty = "Option<String>"),
    field(name = "metadata_entries", ty = "Vec<MetadataEntryInterface>")
)]
#[allow(missing_docs)]
pub enum DisplayableEvent {
    MaterializationEvent(MaterializationEvent),
    EngineEvent(EngineEvent),
    ExecutionStepOutputEvent(ExecutionStepOutputEvent),
    HealthChangedEvent(HealthChangedEvent),
    ResourceInitFailureEvent(ResourceInitFailureEvent),
    ResourceInitStartedEvent(ResourceInitStartedEvent),
    ResourceInitSuccessEvent(ResourceInitSuccessEvent),
    StepWorkerStartedEvent(StepWorkerStartedEvent),
    StepWorkerStartingEvent(StepWorkerStartingEvent),
    HandledOutputEvent(HandledOutputEvent),
    LoadedInputEvent(LoadedInputEvent),
    ObservationEvent(ObservationEvent),
    FailedToMaterializeEvent(FailedToMaterializeEvent),
    TypeCheck(TypeCheck),
    ObjectStoreOperationResult(ObjectStoreOperationResult),
    ExpectationResult(ExpectationResult),
    FailureMetadata(FailureMetadata),
}

/// A type check result.
#[derive(SimpleObject, Clone, Debug)]
pub struct TypeCheck {
    /// Label.
    #[graphql(owned)]
    pub label: Option<String>,
    /// Description.
    #[graphql(owned)]
    pub description: Option<String>,
    /// Metadata.
    #[graphql(owned)]
    pub metadata_entries: Vec<MetadataEntryInterface>,
    /// Whether it passed.
    #[graphql(owned)]
    pub success: bool,
}

/// An object store operation.
#[derive(SimpleObject, Clone, Debug)]
pub struct ObjectStoreOperationResult {
    /// Label.
    #[graphql(owned)]
    pub label: Option<String>,
    /// Description.
    #[graphql(owned)]
    pub description: Option<String>,
    /// Metadata.
    #[graphql(owned)]
    pub metadata_entries: Vec<MetadataEntryInterface>,
    /// Which operation.
    #[graphql(owned)]
    pub op: ObjectStoreOperationType,
}

/// Object store operations.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum ObjectStoreOperationType {
    SetObject,
    GetObject,
    RmObject,
    CpObject,
}

/// An expectation result.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExpectationResult {
    /// Label.
    #[graphql(owned)]
    pub label: Option<String>,
    /// Description.
    #[graphql(owned)]
    pub description: Option<String>,
    /// Metadata.
    #[graphql(owned)]
    pub metadata_entries: Vec<MetadataEntryInterface>,
    /// Whether it passed.
    #[graphql(owned)]
    pub success: bool,
}

/// Metadata of a failure.
#[derive(SimpleObject, Clone, Debug)]
pub struct FailureMetadata {
    /// Label.
    #[graphql(owned)]
    pub label: Option<String>,
    /// Description.
    #[graphql(owned)]
    pub description: Option<String>,
    /// Metadata.
    #[graphql(owned)]
    pub metadata_entries: Vec<MetadataEntryInterface>,
}

/// Where an error came from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum ErrorSource {
    FrameworkError,
    UserCodeError,
    UnexpectedError,
    Interrupt,
}

/// Why an asset failed to materialize.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum AssetMaterializationFailureReason {
    FailedToMaterialize,
    UpstreamFailedToMaterialize,
    RunTerminated,
    Unknown,
}

/// How an asset failed to materialize.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum AssetMaterializationFailureType {
    Failed,
    Skipped,
}

/// Severity of an asset check.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum AssetCheckSeverity {
    Warn,
    Error,
}

/// A tag of an event.
#[derive(SimpleObject, Clone, Debug)]
pub struct EventTag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// Lineage of an asset.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetLineageInfo {
    /// The asset.
    pub asset_key: AssetKey,
    /// Its partitions.
    pub partitions: Vec<String>,
}

/// Commands to read captured logs.
#[derive(SimpleObject, Clone, Debug)]
pub struct LogRetrievalShellCommand {
    /// For stdout.
    pub stdout: Option<String>,
    /// For stderr.
    pub stderr: Option<String>,
}

/// An asset check evaluation.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetCheckEvaluation {
    /// When stored.
    pub timestamp: f64,
    /// The check.
    pub check_name: String,
    /// The asset.
    pub asset_key: AssetKey,
    /// The materialization checked.
    pub target_materialization: Option<AssetCheckEvaluationTargetMaterializationData>,
    /// Metadata.
    pub metadata_entries: Vec<MetadataEntryInterface>,
    /// Severity.
    pub severity: AssetCheckSeverity,
    /// Description.
    pub description: Option<String>,
    /// Partition.
    pub partition: Option<String>,
    /// Whether it passed.
    pub success: bool,
}

impl AssetCheckEvaluation {
    /// The evaluation a stored ASSET_CHECK_EVALUATION event records (an empty one for
    /// another event).
    pub fn of(record: &EventRecord) -> Self {
        let event = &record.event;
        let evaluation = event.check_evaluation();
        Self {
            timestamp: event.timestamp,
            check_name: evaluation.map(|c| c.check_name.clone()).unwrap_or_default(),
            asset_key: evaluation.map_or(AssetKey { path: Vec::new() }, |c| {
                AssetKey::from(&c.asset_key)
            }),
            target_materialization: None,
            metadata_entries: evaluation
                .map(|c| typed_metadata_entries(&c.metadata))
                .unwrap_or_default(),
            severity: match evaluation.map(|c| c.severity) {
                Some(sluice_core::asset::AssetCheckSeverity::Warn) => AssetCheckSeverity::Warn,
                _ => AssetCheckSeverity::Error,
            },
            description: evaluation.and_then(|c| c.description.clone()),
            partition: evaluation.and_then(|c| c.partition.clone()),
            success: evaluation.is_some_and(|c| c.passed),
        }
    }
}

/// The materialization an asset check evaluated.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetCheckEvaluationTargetMaterializationData {
    /// Its storage id.
    pub storage_id: async_graphql::ID,
    /// Its run.
    pub run_id: String,
    /// When.
    pub timestamp: f64,
}

/// A page of a run's events.
#[derive(SimpleObject, Clone, Debug)]
pub struct EventConnection {
    /// The events, in log order.
    pub events: Vec<DagsterRunEvent>,
    /// Pass back as `afterCursor` to read on.
    pub cursor: String,
    /// Whether more events follow.
    pub has_more: bool,
}

impl EventConnection {
    /// The GraphQL page of a service page of a run of `job_name`.
    pub fn new(job_name: &str, page: EventPage) -> Self {
        Self {
            events: page
                .events
                .into_iter()
                .map(|r| DagsterRunEvent::new(r, job_name))
                .collect(),
            cursor: page.cursor,
            has_more: page.has_more,
        }
    }
}

/// Metadata entries from an engine event's metadata object.
pub fn metadata_entries(metadata: &serde_json::Value) -> Vec<MetadataEntryInterface> {
    use serde_json::Value;
    let Some(map) = metadata.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(label, value)| {
            let label = label.clone();
            match value {
                Value::String(s) => MetadataEntryInterface::TextMetadataEntry(TextMetadataEntry {
                    label,
                    description: None,
                    text: s.clone(),
                }),
                Value::Bool(b) => MetadataEntryInterface::BoolMetadataEntry(BoolMetadataEntry {
                    label,
                    description: None,
                    bool_value: Some(*b),
                }),
                Value::Null => MetadataEntryInterface::NullMetadataEntry(NullMetadataEntry {
                    label,
                    description: None,
                }),
                Value::Number(n) if n.is_i64() || n.is_u64() => {
                    MetadataEntryInterface::IntMetadataEntry(IntMetadataEntry {
                        label,
                        description: None,
                        int_value: n.as_i64().and_then(|i| i32::try_from(i).ok()),
                        int_repr: n.to_string(),
                    })
                }
                Value::Number(n) => {
                    MetadataEntryInterface::FloatMetadataEntry(FloatMetadataEntry {
                        label,
                        description: None,
                        float_value: n.as_f64(),
                        float_repr: n.to_string(),
                    })
                }
                other => MetadataEntryInterface::JsonMetadataEntry(JsonMetadataEntry {
                    label,
                    description: None,
                    json_string: other.to_string(),
                }),
            }
        })
        .collect()
}

/// Metadata entries of typed metadata (materializations, asset definitions).
pub fn typed_metadata_entries(metadata: &Metadata) -> Vec<MetadataEntryInterface> {
    use MetadataEntryInterface as E;
    metadata
        .iter()
        .map(|(label, value)| {
            let label = label.clone();
            let description = None;
            match value {
                MetadataValue::Text(text) => E::TextMetadataEntry(TextMetadataEntry {
                    label,
                    description,
                    text: text.clone(),
                }),
                MetadataValue::Int(i) => E::IntMetadataEntry(IntMetadataEntry {
                    label,
                    description,
                    int_value: i32::try_from(*i).ok(),
                    int_repr: i.to_string(),
                }),
                MetadataValue::Float(f) => E::FloatMetadataEntry(FloatMetadataEntry {
                    label,
                    description,
                    float_value: f.is_finite().then_some(*f),
                    float_repr: f.to_string(),
                }),
                MetadataValue::Bool(b) => E::BoolMetadataEntry(BoolMetadataEntry {
                    label,
                    description,
                    bool_value: Some(*b),
                }),
                MetadataValue::Json(v) => E::JsonMetadataEntry(JsonMetadataEntry {
                    label,
                    description,
                    json_string: v.to_string(),
                }),
                MetadataValue::Url(url) => E::UrlMetadataEntry(UrlMetadataEntry {
                    label,
                    description,
                    url: url.clone(),
                }),
                MetadataValue::Path(path) => E::PathMetadataEntry(PathMetadataEntry {
                    label,
                    description,
                    path: path.clone(),
                }),
                MetadataValue::Markdown(md) => E::MarkdownMetadataEntry(MarkdownMetadataEntry {
                    label,
                    description,
                    md_str: md.clone(),
                }),
                MetadataValue::TableSchema(columns) => {
                    E::TableSchemaMetadataEntry(TableSchemaMetadataEntry {
                        label,
                        description,
                        schema: TableSchema {
                            constraints: None,
                            columns: columns
                                .iter()
                                .map(|c| TableColumn {
                                    name: c.name.clone(),
                                    ty: c.column_type.clone(),
                                    description: c.description.clone(),
                                    constraints: TableColumnConstraints {
                                        nullable: true,
                                        unique: false,
                                        other: Vec::new(),
                                    },
                                    tags: Vec::new(),
                                })
                                .collect(),
                        },
                    })
                }
            }
        })
        .collect()
}

macro_rules! metadata_entry {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(SimpleObject, Clone, Debug)]
        pub struct $name {
            /// The entry's label.
            #[graphql(owned)]
            pub label: String,
            /// What it means.
            #[graphql(owned)]
            pub description: Option<String>,
            $($(#[$fdoc])* #[graphql(owned)] pub $field: $ty,)*
        }
    };
}

metadata_entry!(
    /// A float.
    FloatMetadataEntry {
        /// The value.
        float_value: Option<f64>,
        /// The value as text (nan, inf).
        float_repr: String,
    }
);
metadata_entry!(
    /// An integer.
    IntMetadataEntry {
        /// The value, if it fits 32 bits.
        int_value: Option<i32>,
        /// The value as text.
        int_repr: String,
    }
);
metadata_entry!(
    /// JSON.
    JsonMetadataEntry {
        /// The JSON text.
        json_string: String,
    }
);
metadata_entry!(
    /// A boolean.
    BoolMetadataEntry {
        /// The value.
        bool_value: Option<bool>,
    }
);
metadata_entry!(
    /// Markdown.
    MarkdownMetadataEntry {
        /// The text.
        md_str: String,
    }
);
metadata_entry!(
    /// A path.
    PathMetadataEntry {
        /// The path.
        path: String,
    }
);
metadata_entry!(
    /// A notebook path.
    NotebookMetadataEntry {
        /// The path.
        path: String,
    }
);
metadata_entry!(
    /// A Python artifact.
    PythonArtifactMetadataEntry {
        /// The module.
        module: String,
        /// The name.
        name: String,
    }
);
metadata_entry!(
    /// Text.
    TextMetadataEntry {
        /// The text.
        text: String,
    }
);
metadata_entry!(
    /// A URL.
    UrlMetadataEntry {
        /// The URL.
        url: String,
    }
);
metadata_entry!(
    /// A run.
    PipelineRunMetadataEntry {
        /// The run.
        run_id: String,
    }
);
metadata_entry!(
    /// An asset.
    AssetMetadataEntry {
        /// The asset.
        asset_key: AssetKey,
    }
);
metadata_entry!(
    /// A job.
    JobMetadataEntry {
        /// The job.
        job_name: String,
        /// Its repository.
        repository_name: Option<String>,
        /// Its location.
        location_name: String,
    }
);
metadata_entry!(
    /// Nothing.
    NullMetadataEntry {}
);
metadata_entry!(
    /// A point in time.
    TimestampMetadataEntry {
        /// Unix seconds.
        timestamp: f64,
    }
);
metadata_entry!(
    /// A concurrency pool.
    PoolMetadataEntry {
        /// The pool.
        pool: String,
    }
);
metadata_entry!(
    /// A table.
    TableMetadataEntry {
        /// The table.
        table: Table,
    }
);
metadata_entry!(
    /// A table schema.
    TableSchemaMetadataEntry {
        /// The schema.
        schema: TableSchema,
    }
);
metadata_entry!(
    /// Column lineage.
    TableColumnLineageMetadataEntry {
        /// The lineage.
        lineage: Vec<TableColumnLineageEntry>,
    }
);
metadata_entry!(
    /// Code references.
    CodeReferencesMetadataEntry {
        /// The references.
        code_references: Vec<SourceLocation>,
    }
);

/// A table.
#[derive(SimpleObject, Clone, Debug)]
pub struct Table {
    /// Its schema.
    pub schema: TableSchema,
    /// Its records, as JSON.
    pub records: Vec<String>,
}

/// A table's schema.
#[derive(SimpleObject, Clone, Debug)]
pub struct TableSchema {
    /// Constraints.
    pub constraints: Option<TableConstraints>,
    /// Columns.
    pub columns: Vec<TableColumn>,
}

/// Table constraints.
#[derive(SimpleObject, Clone, Debug)]
pub struct TableConstraints {
    /// Free-form constraints.
    pub other: Vec<String>,
}

/// A column.
#[derive(SimpleObject, Clone, Debug)]
pub struct TableColumn {
    /// Name.
    pub name: String,
    /// Type.
    #[graphql(name = "type")]
    pub ty: String,
    /// Description.
    pub description: Option<String>,
    /// Constraints.
    pub constraints: TableColumnConstraints,
    /// Tags.
    pub tags: Vec<DefinitionTag>,
}

/// Column constraints.
#[derive(SimpleObject, Clone, Debug)]
pub struct TableColumnConstraints {
    /// Nullable.
    pub nullable: bool,
    /// Unique.
    pub unique: bool,
    /// Free-form constraints.
    pub other: Vec<String>,
}

/// A tag of a definition.
#[derive(SimpleObject, Clone, Debug)]
pub struct DefinitionTag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// Lineage of one column.
#[derive(SimpleObject, Clone, Debug)]
pub struct TableColumnLineageEntry {
    /// The column.
    pub column_name: String,
    /// What it depends on.
    pub column_deps: Vec<TableColumnDep>,
}

/// A column dependency.
#[derive(SimpleObject, Clone, Debug)]
pub struct TableColumnDep {
    /// The asset.
    pub asset_key: AssetKey,
    /// The column.
    pub column_name: String,
}

/// A reference to a local file.
#[derive(SimpleObject, Clone, Debug)]
pub struct LocalFileCodeReference {
    /// The file.
    pub file_path: String,
    /// The line.
    pub line_number: Option<i32>,
    /// A label.
    pub label: Option<String>,
}

/// A reference to a URL.
#[derive(SimpleObject, Clone, Debug)]
pub struct UrlCodeReference {
    /// The URL.
    pub url: String,
    /// A label.
    pub label: Option<String>,
}

/// Where code lives.
#[derive(Union, Clone, Debug)]
pub enum SourceLocation {
    /// A file.
    LocalFileCodeReference(LocalFileCodeReference),
    /// A URL.
    UrlCodeReference(UrlCodeReference),
}

/// A metadata entry.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "MetadataEntry",
    field(name = "label", ty = "String"),
    field(name = "description", ty = "Option<String>")
)]
#[allow(missing_docs)]
pub enum MetadataEntryInterface {
    TableColumnLineageMetadataEntry(TableColumnLineageMetadataEntry),
    TableSchemaMetadataEntry(TableSchemaMetadataEntry),
    TableMetadataEntry(TableMetadataEntry),
    FloatMetadataEntry(FloatMetadataEntry),
    IntMetadataEntry(IntMetadataEntry),
    JsonMetadataEntry(JsonMetadataEntry),
    BoolMetadataEntry(BoolMetadataEntry),
    MarkdownMetadataEntry(MarkdownMetadataEntry),
    PathMetadataEntry(PathMetadataEntry),
    NotebookMetadataEntry(NotebookMetadataEntry),
    PythonArtifactMetadataEntry(PythonArtifactMetadataEntry),
    TextMetadataEntry(TextMetadataEntry),
    UrlMetadataEntry(UrlMetadataEntry),
    PipelineRunMetadataEntry(PipelineRunMetadataEntry),
    AssetMetadataEntry(AssetMetadataEntry),
    JobMetadataEntry(JobMetadataEntry),
    CodeReferencesMetadataEntry(CodeReferencesMetadataEntry),
    NullMetadataEntry(NullMetadataEntry),
    TimestampMetadataEntry(TimestampMetadataEntry),
    PoolMetadataEntry(PoolMetadataEntry),
}
