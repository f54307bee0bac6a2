//! Run events: everything that happens in a run, with Dagster's event type names.
//!
//! The executor emits events to an [`EventSink`]; instance storage appends them to the
//! event log, and run status follows from the run lifecycle events stored there.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::asset::{AssetCheckEvaluation, AssetKey};
use crate::metadata::Metadata;
use crate::run::RunStatus;

/// The kind of a run event, named as in Dagster's `DagsterEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// The run was submitted and waits in the run queue.
    RunEnqueued,
    /// The run coordinator took the run off the queue to launch it.
    RunDequeued,
    /// The run is being launched: its worker process is starting.
    RunStarting,
    /// The run's worker began executing the plan.
    RunStart,
    /// The run finished with no failed step.
    RunSuccess,
    /// The run failed: a step failed, or the run could not start.
    RunFailure,
    /// Cancellation was requested; the run is stopping its steps.
    RunCanceling,
    /// The run stopped after a cancellation.
    RunCanceled,
    /// A step began executing.
    StepStart,
    /// A step yielded an output.
    StepOutput,
    /// A step finished without error.
    StepSuccess,
    /// A step failed and will not be retried.
    StepFailure,
    /// A step attempt failed and the step will run again after a delay.
    StepUpForRetry,
    /// A retried step began its next attempt.
    StepRestarted,
    /// A step did not run: an upstream step did not succeed, or did not yield an
    /// optional output it needs.
    StepSkipped,
    /// An IO manager stored a step output.
    HandledOutput,
    /// An IO manager loaded a step input (in a re-execution, from an earlier run).
    LoadedInput,
    /// A message of the executor itself (process start, resource setup, ...).
    EngineEvent,
    /// A message logged by user code through its context.
    Log,
    /// A new value of an asset (or of one partition of it) was stored.
    AssetMaterialization,
    /// A check of an asset was evaluated.
    AssetCheckEvaluation,
    /// The current version of a source asset was observed.
    AssetObservation,
}

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 22] = [
        Self::RunEnqueued,
        Self::RunDequeued,
        Self::RunStarting,
        Self::RunStart,
        Self::RunSuccess,
        Self::RunFailure,
        Self::RunCanceling,
        Self::RunCanceled,
        Self::StepStart,
        Self::StepOutput,
        Self::StepSuccess,
        Self::StepFailure,
        Self::StepUpForRetry,
        Self::StepRestarted,
        Self::StepSkipped,
        Self::HandledOutput,
        Self::LoadedInput,
        Self::EngineEvent,
        Self::Log,
        Self::AssetMaterialization,
        Self::AssetCheckEvaluation,
        Self::AssetObservation,
    ];

    /// The Dagster name, e.g. `STEP_SUCCESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunEnqueued => "RUN_ENQUEUED",
            Self::RunDequeued => "RUN_DEQUEUED",
            Self::RunStarting => "RUN_STARTING",
            Self::RunStart => "RUN_START",
            Self::RunSuccess => "RUN_SUCCESS",
            Self::RunFailure => "RUN_FAILURE",
            Self::RunCanceling => "RUN_CANCELING",
            Self::RunCanceled => "RUN_CANCELED",
            Self::StepStart => "STEP_START",
            Self::StepOutput => "STEP_OUTPUT",
            Self::StepSuccess => "STEP_SUCCESS",
            Self::StepFailure => "STEP_FAILURE",
            Self::StepUpForRetry => "STEP_UP_FOR_RETRY",
            Self::StepRestarted => "STEP_RESTARTED",
            Self::StepSkipped => "STEP_SKIPPED",
            Self::HandledOutput => "HANDLED_OUTPUT",
            Self::LoadedInput => "LOADED_INPUT",
            Self::EngineEvent => "ENGINE_EVENT",
            Self::Log => "LOG",
            Self::AssetMaterialization => "ASSET_MATERIALIZATION",
            Self::AssetCheckEvaluation => "ASSET_CHECK_EVALUATION",
            Self::AssetObservation => "ASSET_OBSERVATION",
        }
    }

    /// Parse a Dagster event type name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The run status that storing this event moves its run to, if it is a lifecycle event.
    pub fn run_status(self) -> Option<RunStatus> {
        Some(match self {
            Self::RunEnqueued => RunStatus::Queued,
            Self::RunStarting => RunStatus::Starting,
            Self::RunStart => RunStatus::Started,
            Self::RunSuccess => RunStatus::Success,
            Self::RunFailure => RunStatus::Failure,
            Self::RunCanceling => RunStatus::Canceling,
            Self::RunCanceled => RunStatus::Canceled,
            _ => return None,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of an event, as Python's logging levels that Dagster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    /// Python's `DEBUG`: detail for debugging; most engine events.
    Debug,
    /// Python's `INFO`: ordinary progress.
    Info,
    /// Python's `WARNING`: something unexpected that the run survives (e.g. a retry).
    Warning,
    /// Python's `ERROR`: a failure.
    Error,
    /// Python's `CRITICAL`: a serious failure.
    Critical,
}

impl LogLevel {
    /// The Python level name, e.g. `WARNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
            Self::Critical => "CRITICAL",
        }
    }
}

/// An error as it is recorded in events: message, kind and the chain of causes,
/// like Dagster's `SerializableErrorInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The error's message (its `Display`).
    pub message: String,
    /// What kind of error this is (`OpError`, `Timeout`, `Panic`, ...).
    pub kind: String,
    /// The error that caused this one, or `None` at the end of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Box<ErrorInfo>>,
}

impl ErrorInfo {
    /// An error of `kind` with `message` and no cause.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: kind.into(),
            cause: None,
        }
    }

    /// A panic of user code, from its payload: `"{what}: {the panic's message}"`.
    pub fn from_panic(what: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a non-string panic payload".to_owned()
        };
        Self::new("Panic", format!("{what}: {message}"))
    }

    /// Capture an error and its `source()` chain.
    pub fn from_error(kind: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = Vec::new();
        let mut cur = err.source();
        while let Some(e) = cur {
            chain.push(e.to_string());
            cur = e.source();
        }
        let cause = chain.into_iter().rev().fold(None, |inner, message| {
            Some(Box::new(ErrorInfo {
                message,
                kind: "Cause".to_owned(),
                cause: inner,
            }))
        });
        Self {
            message: err.to_string(),
            kind: kind.to_owned(),
            cause,
        }
    }

    /// The causes, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &ErrorInfo> {
        std::iter::successors(Some(self), |e| e.cause.as_deref())
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        for cause in self.chain().skip(1) {
            write!(f, "\n  caused by: {}", cause.message)?;
        }
        Ok(())
    }
}

/// What an event carries beyond its type and message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    /// Nothing beyond the type and message.
    #[default]
    None,
    /// A step produced an output.
    Output {
        /// The output's name.
        output_name: String,
    },
    /// An IO manager stored an output.
    HandledOutput {
        /// The output's name.
        output_name: String,
        /// The resource key of the IO manager that stored it (`io_manager` by default).
        manager_key: String,
    },
    /// An IO manager loaded an input from an upstream step's output.
    LoadedInput {
        /// The step's input that was loaded.
        input_name: String,
        /// The resource key of the IO manager that loaded it.
        manager_key: String,
        /// The step that produced the loaded output.
        upstream_step_key: String,
        /// The name of that step's output.
        upstream_output_name: String,
        /// The run whose output was loaded.
        upstream_run_id: String,
    },
    /// A step or run failed.
    Failure {
        /// What went wrong.
        error: ErrorInfo,
    },
    /// A step failed and will run again after `delay_seconds`.
    Retry {
        /// The error of the attempt that failed.
        error: ErrorInfo,
        /// The number of the attempt that failed, from 1.
        attempt: u32,
        /// How many retries the step's retry policy allows (attempts are one more).
        max_retries: u32,
        /// Seconds until the next attempt.
        delay_seconds: f64,
    },
    /// A step attempt began again.
    Restarted {
        /// The number of the attempt now starting, from 1 (so 2 for the first retry).
        attempt: u32,
    },
    /// A step finished; how long its successful attempt took.
    Success {
        /// Milliseconds the successful attempt took.
        duration_ms: f64,
        /// How many attempts it took, 1 without retries.
        attempts: u32,
    },
    /// A step did not run.
    Skipped {
        /// Why it did not run.
        reason: String,
    },
    /// Free-form metadata of an engine event.
    Engine {
        /// The metadata, a JSON object.
        metadata: serde_json::Value,
    },
    /// An asset (partition) was materialized.
    Materialization(Box<AssetMaterialization>),
    /// A check of an asset was evaluated.
    CheckEvaluation(Box<AssetCheckEvaluation>),
    /// A source asset was observed.
    Observation(Box<AssetObservation>),
}

/// An observation of a source asset (Dagster's `AssetObservation`): the version of the
/// data where it lives now, without storing a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetObservation {
    /// The observed asset.
    pub asset_key: AssetKey,
    /// The observed partition; `None` for an unpartitioned asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The version of the data found (Dagster's `DataVersion`), or `None` if the
    /// observation did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version: Option<String>,
    /// Metadata entries the observation reported.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// A description of the observation, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A materialization of an asset: which asset and partition, and what is known of the
/// value stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetMaterialization {
    /// The materialized asset.
    pub asset_key: AssetKey,
    /// The materialized partition; `None` for an unpartitioned asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// User-supplied entries, then the IO manager's.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// The asset's code version when it was materialized, if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    /// The version of the value stored (Dagster's `DataVersion`), if the asset reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version: Option<String>,
    /// A description of the materialization, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl AssetMaterialization {
    /// A materialization of `asset_key` with no partition, metadata or versions yet.
    pub fn new(asset_key: AssetKey) -> Self {
        Self {
            asset_key,
            partition: None,
            metadata: Metadata::new(),
            code_version: None,
            data_version: None,
            description: None,
        }
    }
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// The run id.
    pub run_id: String,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    /// What happened.
    pub event_type: EventType,
    /// The step the event is about; `None` for run-level events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_key: Option<String>,
    /// The severity: `ERROR` for failures, `DEBUG` by default.
    pub level: LogLevel,
    /// The human-readable message, as shown in the run's log.
    pub message: String,
    /// What the event carries beyond its type and message.
    #[serde(default)]
    pub data: EventData,
}

impl RunEvent {
    /// An event of `run_id` stamped now, at level `ERROR` for failures and `DEBUG` otherwise.
    pub fn new(run_id: &str, event_type: EventType, message: impl Into<String>) -> Self {
        let level = match event_type {
            EventType::RunFailure | EventType::StepFailure => LogLevel::Error,
            _ => LogLevel::Debug,
        };
        Self {
            run_id: run_id.to_owned(),
            timestamp: now_timestamp(),
            event_type,
            step_key: None,
            level,
            message: message.into(),
            data: EventData::None,
        }
    }

    /// About this step.
    pub fn step(mut self, step_key: impl Into<String>) -> Self {
        self.step_key = Some(step_key.into());
        self
    }

    /// At this severity instead of the default.
    pub fn level(mut self, level: LogLevel) -> Self {
        self.level = level;
        self
    }

    /// Carrying `data`.
    pub fn data(mut self, data: EventData) -> Self {
        self.data = data;
        self
    }

    /// The check evaluation the event records, if it records one.
    pub fn check_evaluation(&self) -> Option<&AssetCheckEvaluation> {
        match &self.data {
            EventData::CheckEvaluation(c) => Some(c),
            _ => None,
        }
    }

    /// The asset the event is about: a materialization's or a check evaluation's.
    pub fn asset_key(&self) -> Option<&AssetKey> {
        match &self.data {
            EventData::Materialization(m) => Some(&m.asset_key),
            EventData::CheckEvaluation(c) => Some(&c.asset_key),
            EventData::Observation(o) => Some(&o.asset_key),
            _ => None,
        }
    }

    /// The partition the event is about: a materialization's, a check evaluation's or an
    /// observation's.
    pub fn partition(&self) -> Option<&str> {
        match &self.data {
            EventData::Materialization(m) => m.partition.as_deref(),
            EventData::CheckEvaluation(c) => c.partition.as_deref(),
            EventData::Observation(o) => o.partition.as_deref(),
            _ => None,
        }
    }

    /// The observation the event records, if it records one.
    pub fn observation(&self) -> Option<&AssetObservation> {
        match &self.data {
            EventData::Observation(o) => Some(o),
            _ => None,
        }
    }

    /// The materialization the event records, if it records one.
    pub fn materialization(&self) -> Option<&AssetMaterialization> {
        match &self.data {
            EventData::Materialization(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for RunEvent {
    /// One readable line: `02:01:02.123 INFO  step_0 STEP_SUCCESS - Finished ...`, with
    /// the error chain of a failure on the lines that follow.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:<7} {}{} - {}",
            clock_time(self.timestamp),
            self.level.as_str(),
            self.step_key
                .as_deref()
                .map_or(String::new(), |s| format!("{s} ")),
            self.event_type,
            self.message
        )?;
        let error = match &self.data {
            EventData::Failure { error } | EventData::Retry { error, .. } => error,
            _ => return Ok(()),
        };
        for cause in error.chain().skip(1) {
            write!(f, "\n    caused by: {}", cause.message)?;
        }
        Ok(())
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix timestamp.
pub fn clock_time(timestamp: f64) -> String {
    let millis = (timestamp * 1000.0).round() as u64;
    let (secs, ms) = (millis / 1000, millis % 1000);
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

/// An event as stored: its position in the global event log is its cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event's position in the global event log; increases with every event stored.
    pub storage_id: i64,
    /// The event.
    pub event: RunEvent,
}

/// The current time as seconds since the Unix epoch.
pub fn now_timestamp() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A timestamp (seconds since the Unix epoch) as a time, to the millisecond; the epoch
/// itself for one out of range.
pub fn timestamp_to_datetime(seconds: f64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64).unwrap_or_default()
}

/// A time as seconds since the Unix epoch.
pub fn datetime_to_timestamp(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Where the executor sends events. Emitting never blocks and never fails: a sink that
/// writes to storage buffers and batches, and reports write errors when it is flushed.
pub trait EventSink: Send + Sync {
    /// Record `event`; never blocks and never fails.
    fn emit(&self, event: RunEvent);
}

/// A sink that forwards every event to several sinks.
pub struct FanoutSink(pub Vec<Arc<dyn EventSink>>);

impl EventSink for FanoutSink {
    fn emit(&self, event: RunEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.emit(event.clone());
            }
            last.emit(event);
        }
    }
}

/// A sink that keeps events in memory; useful in tests and for short-lived evaluations.
#[derive(Default)]
pub struct MemorySink(Mutex<Vec<RunEvent>>);

impl MemorySink {
    /// A copy of the events emitted so far, oldest first.
    pub fn events(&self) -> Vec<RunEvent> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl EventSink for MemorySink {
    fn emit(&self, event: RunEvent) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn events_render_as_one_readable_line() {
        let mut e = RunEvent::new(
            "r",
            EventType::StepFailure,
            "Execution of step \"boom\" failed: boom",
        )
        .step("boom")
        .data(EventData::Failure {
            error: ErrorInfo {
                message: "boom".into(),
                kind: "Failure".into(),
                cause: Some(Box::new(ErrorInfo::new("Cause", "disk full"))),
            },
        });
        e.timestamp = 3_723.456; // 01:02:03.456
        assert_eq!(
            e.to_string(),
            "01:02:03.456 ERROR   boom STEP_FAILURE - Execution of step \"boom\" failed: boom\n    caused by: disk full"
        );
    }

    #[test]
    fn error_info_keeps_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        let info = ErrorInfo::from_error("OpError", &e);
        let msgs: Vec<&str> = info.chain().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["outer", "inner"]);
        assert!(info.to_string().contains("caused by: inner"));
    }
}
