//! Runs: one execution of a job, with its config, tags and status.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::partition::{PartitionError, PartitionIndex, PartitionsContext, PartitionsDefinition};

mod queued;

pub use queued::{
    BACKFILL_ID_TAG, FAILURE_REASON_TAG, MAX_REQUEST_TAGS, MAX_TAG_KEY_BYTES, MAX_TAG_VALUE_BYTES,
    PARENT_BACKFILL_TAG, QueuedRunBuilder, RunOrigin, RunTagError, SYSTEM_TAGS, check_request_tags,
    is_system_tag,
};

/// The status of a run, with Dagster's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Waiting in the run queue for the coordinator to launch it.
    Queued,
    /// Created but not queued or launched yet.
    NotStarted,
    /// Being launched: its worker process is starting.
    Starting,
    /// Executing.
    Started,
    /// Finished with no failed step.
    Success,
    /// Finished with a failure.
    Failure,
    /// Asked to stop; its steps are being stopped.
    Canceling,
    /// Stopped after a cancellation.
    Canceled,
}

impl RunStatus {
    /// Every status, in declaration order.
    pub const ALL: [RunStatus; 8] = [
        Self::Queued,
        Self::NotStarted,
        Self::Starting,
        Self::Started,
        Self::Success,
        Self::Failure,
        Self::Canceling,
        Self::Canceled,
    ];

    /// The Dagster name, e.g. `NOT_STARTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::NotStarted => "NOT_STARTED",
            Self::Starting => "STARTING",
            Self::Started => "STARTED",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Canceling => "CANCELING",
            Self::Canceled => "CANCELED",
        }
    }

    /// Parse a Dagster status name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// A run in a finished state never changes status again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Canceled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as it is created: what to run and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The run id, a UUID.
    pub run_id: String,
    /// The job it runs.
    pub job_name: String,
    /// The code location that defines the job, when known.
    pub location_name: Option<String>,
    /// The status it is created with: `NOT_STARTED`, or `QUEUED` for a run sent to the queue.
    pub status: RunStatus,
    /// The run config as the user gave it (secrets by name only).
    pub run_config: Value,
    /// The run's tags: the job's, the launcher's and Sluice's own `dagster/...` tags.
    pub tags: BTreeMap<String, String>,
    /// The run this one re-executes; `None` unless it is a re-execution.
    pub parent_run_id: Option<String>,
    /// The first run of the chain of re-executions this one belongs to; `None` unless it is
    /// a re-execution.
    pub root_run_id: Option<String>,
    /// The steps to execute when the run re-executes part of its job; `None`: all.
    pub step_keys_to_execute: Option<Vec<String>>,
}

/// The tag naming a run's code location, as Dagster sets it.
pub const CODE_LOCATION_TAG: &str = "dagster/code_location";
/// The tag naming a re-execution's parent run.
pub const PARENT_RUN_ID_TAG: &str = "dagster/parent_run_id";
/// The tag naming a re-execution's root run.
pub const ROOT_RUN_ID_TAG: &str = "dagster/root_run_id";
/// The tag marking a re-execution from failure.
pub const RESUME_RETRY_TAG: &str = "dagster/is_resume_retry";
/// The schedule that requested a run.
pub const SCHEDULE_NAME_TAG: &str = "dagster/schedule_name";
/// The sensor that requested a run.
pub const SENSOR_NAME_TAG: &str = "dagster/sensor_name";
/// The run key of the request that created a run.
pub const RUN_KEY_TAG: &str = "dagster/run_key";
/// The id of the schedule or sensor tick that created a run.
pub const TICK_TAG: &str = "dagster/tick";
/// The partition a run is for.
pub const PARTITION_TAG: &str = "dagster/partition";
/// The first partition of a run over a range of partitions (a single-run backfill).
pub const PARTITION_RANGE_START_TAG: &str = "dagster/asset_partition_range_start";
/// The last partition (included) of a run over a range of partitions.
pub const PARTITION_RANGE_END_TAG: &str = "dagster/asset_partition_range_end";

/// The partitions a run materializes, as its tags name them: one key, or a range of
/// consecutive keys (a backfill of assets whose backfill policy runs many partitions
/// in one run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunPartitions {
    /// `dagster/partition`.
    Key(String),
    /// `dagster/asset_partition_range_start` to `dagster/asset_partition_range_end`,
    /// both included.
    Range {
        /// The first key.
        start: String,
        /// The last key, included.
        end: String,
    },
}

impl RunPartitions {
    /// What `tags` name; `None` for a run that is not partitioned.
    pub fn of_tags(tags: &BTreeMap<String, String>) -> Result<Option<Self>, PartitionError> {
        let key = tags.get(PARTITION_TAG);
        let start = tags.get(PARTITION_RANGE_START_TAG);
        let end = tags.get(PARTITION_RANGE_END_TAG);
        match (key, start, end) {
            (None, None, None) => Ok(None),
            (Some(key), None, None) => Ok(Some(Self::Key(key.clone()))),
            (None, Some(start), Some(end)) if start == end => Ok(Some(Self::Key(start.clone()))),
            (None, Some(start), Some(end)) => Ok(Some(Self::Range {
                start: start.clone(),
                end: end.clone(),
            })),
            _ => Err(PartitionError::RunTags(
                [
                    PARTITION_TAG,
                    PARTITION_RANGE_START_TAG,
                    PARTITION_RANGE_END_TAG,
                ]
                .into_iter()
                .filter(|t| tags.contains_key(*t))
                .map(str::to_owned)
                .collect(),
            )),
        }
    }

    /// The run of `keys` (consecutive, in the partitioning's order): a range when
    /// there are several.
    pub fn of_keys(keys: &[String]) -> Option<Self> {
        match keys {
            [] => None,
            [one] => Some(Self::Key(one.clone())),
            [first, .., last] => Some(Self::Range {
                start: first.clone(),
                end: last.clone(),
            }),
        }
    }

    /// The tags that name these partitions on a run.
    pub fn tags(&self) -> Vec<(String, String)> {
        match self {
            Self::Key(key) => vec![(PARTITION_TAG.to_owned(), key.clone())],
            Self::Range { start, end } => vec![
                (PARTITION_RANGE_START_TAG.to_owned(), start.clone()),
                (PARTITION_RANGE_END_TAG.to_owned(), end.clone()),
            ],
        }
    }

    /// The keys of `index` these name: the one key (kept even when `index` lacks it),
    /// or those of the range; none when the range's ends are not in `index`.
    pub fn keys_in<'a>(&'a self, index: &PartitionIndex<'a>) -> Vec<&'a str> {
        match self {
            Self::Key(key) => vec![key.as_str()],
            Self::Range { start, end } => index
                .range(start, end)
                .map(|keys| keys.iter().map(String::as_str).collect())
                .unwrap_or_default(),
        }
    }

    /// Every key, in order, as `definition` has them in `ctx`.
    pub fn keys(
        &self,
        definition: &PartitionsDefinition,
        ctx: &PartitionsContext,
    ) -> Result<Vec<String>, PartitionError> {
        match self {
            Self::Key(key) => Ok(vec![key.clone()]),
            Self::Range { start, end } => definition.key_range(start, end, ctx),
        }
    }
}

impl fmt::Display for RunPartitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(key) => write!(f, "partition \"{key}\""),
            Self::Range { start, end } => write!(f, "partitions \"{start}\" to \"{end}\""),
        }
    }
}

/// The tag whose integer value orders queued runs, highest first (0 when absent or not
/// an integer).
pub const PRIORITY_TAG: &str = "dagster/priority";

/// The queue priority that `tags` give a run.
pub fn priority_of(tags: &BTreeMap<String, String>) -> i64 {
    tags.get(PRIORITY_TAG)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0)
}

impl NewRun {
    /// A new run of `job_name` with a fresh id, not yet started.
    pub fn new(job_name: impl Into<String>) -> Self {
        Self {
            run_id: new_run_id(),
            job_name: job_name.into(),
            location_name: None,
            status: RunStatus::NotStarted,
            run_config: Value::Object(Default::default()),
            tags: BTreeMap::new(),
            parent_run_id: None,
            root_run_id: None,
            step_keys_to_execute: None,
        }
    }
}

/// A run as stored, with its timestamps (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The run id, a UUID.
    pub run_id: String,
    /// The job it runs.
    pub job_name: String,
    /// The code location that defines the job, when known.
    pub location_name: Option<String>,
    /// The run's status, as its lifecycle events last set it.
    pub status: RunStatus,
    /// The run config as the user gave it (secrets by name only).
    pub run_config: Value,
    /// The run's tags.
    pub tags: BTreeMap<String, String>,
    /// The run this one re-executes; `None` unless it is a re-execution.
    pub parent_run_id: Option<String>,
    /// The first run of the chain of re-executions this one belongs to; `None` unless it is
    /// a re-execution.
    pub root_run_id: Option<String>,
    /// The steps the run executes when it re-executes part of its job; `None`: all.
    #[serde(default)]
    pub step_keys_to_execute: Option<Vec<String>>,
    /// When the run was created.
    pub create_time: f64,
    /// When its status last changed (its creation, at first).
    pub update_time: f64,
    /// When it started executing (`RUN_START`); `None` before.
    pub start_time: Option<f64>,
    /// When it finished (success, failure or cancellation); `None` before.
    pub end_time: Option<f64>,
    /// When the run's worker last said it is alive.
    pub heartbeat_time: Option<f64>,
}

/// A fresh run id (a UUID, as Dagster's).
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
