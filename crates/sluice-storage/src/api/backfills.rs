//! What storage keeps of backfills: the partitions to run, how far submission has got,
//! and the backfill's status. The runs themselves are ordinary runs tagged
//! `dagster/backfill`.

use std::collections::BTreeMap;
use std::ops::Range;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::asset::AssetKey;
use sluice_core::events::ErrorInfo;
use sluice_core::run::NewRun;

use crate::error::Result;

pub use sluice_core::run::BACKFILL_ID_TAG;

/// Where a backfill is, with Dagster's `BulkActionStatus` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BackfillStatus {
    /// Submitting its runs, or waiting for them.
    Requested,
    /// Every run was submitted (a state older Dagster reports; Sluice goes on to the
    /// COMPLETED_* states once the runs finish).
    Completed,
    /// Submission failed; it can be resumed.
    Failed,
    /// Canceled: no more runs are submitted, and its runs were stopped.
    Canceled,
    /// Stopping its runs.
    Canceling,
    /// Every run finished, and all succeeded.
    CompletedSuccess,
    /// Every run finished, and some did not succeed.
    CompletedFailed,
    /// Failing (Dagster's state for an asset backfill winding down after an error).
    Failing,
}

impl BackfillStatus {
    /// Every status.
    pub const ALL: [Self; 8] = [
        Self::Requested,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
        Self::Canceling,
        Self::CompletedSuccess,
        Self::CompletedFailed,
        Self::Failing,
    ];

    /// The Dagster name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "REQUESTED",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
            Self::Canceling => "CANCELING",
            Self::CompletedSuccess => "COMPLETED_SUCCESS",
            Self::CompletedFailed => "COMPLETED_FAILED",
            Self::Failing => "FAILING",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the backfill is done: nothing more happens to it unless it is resumed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Canceled | Self::CompletedSuccess | Self::CompletedFailed
        )
    }
}

/// How a backfill's partitions are grouped into runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillRuns {
    /// A run per partition.
    #[default]
    OnePerPartition,
    /// A run per range of consecutive partitions (assets whose backfill policy allows
    /// it): how many partitions each run takes, in order.
    Ranges(Vec<usize>),
}

/// A backfill to store: runs of partitions of a job, or of an asset selection (runs of
/// the location's `__ASSET_JOB` executing the selected assets' steps).
#[derive(Debug, Clone, PartialEq)]
pub struct NewBackfill {
    /// Eight lowercase letters, as Dagster's backfill ids.
    pub backfill_id: String,
    /// The code location.
    pub location_name: String,
    /// The job each run is of.
    pub job_name: String,
    /// The assets, for an asset backfill.
    pub asset_selection: Option<Vec<AssetKey>>,
    /// The steps each run executes (an asset backfill's assets and checks); all when
    /// `None`.
    pub step_keys: Option<Vec<String>>,
    /// The partitions, in order.
    pub partition_names: Vec<String>,
    /// How they are grouped into runs.
    pub runs: BackfillRuns,
    /// Whether it re-runs the failed partitions of an earlier backfill.
    pub from_failure: bool,
    /// Tags of the backfill, given to each of its runs.
    pub tags: BTreeMap<String, String>,
    /// Run config of each run.
    pub run_config: Value,
    /// A title to show.
    pub title: Option<String>,
    /// A description to show.
    pub description: Option<String>,
}

impl NewBackfill {
    /// A backfill of `partitions` of `job` in `location`, with a fresh id.
    pub fn new(location: &str, job: &str, partitions: Vec<String>) -> Self {
        Self {
            backfill_id: new_backfill_id(),
            location_name: location.to_owned(),
            job_name: job.to_owned(),
            asset_selection: None,
            step_keys: None,
            partition_names: partitions,
            runs: BackfillRuns::OnePerPartition,
            from_failure: false,
            tags: BTreeMap::new(),
            run_config: Value::Object(Default::default()),
            title: None,
            description: None,
        }
    }
}

impl NewBackfill {
    /// The partitions of each of its runs, in order.
    pub fn run_partitions(&self) -> Vec<&[String]> {
        let names = self.partition_names.as_slice();
        match &self.runs {
            BackfillRuns::OnePerPartition => names.chunks(1).collect(),
            BackfillRuns::Ranges(sizes) => {
                let mut start = 0;
                let mut runs = Vec::with_capacity(sizes.len());
                for &size in sizes {
                    let end = (start + size).min(names.len());
                    if start < end {
                        runs.push(&names[start..end]);
                    }
                    start = end;
                }
                runs
            }
        }
    }
}

/// Eight random lowercase letters.
pub fn new_backfill_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..8]
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect()
}

/// A stored backfill.
#[derive(Debug, Clone, PartialEq)]
pub struct Backfill {
    /// What was asked for.
    pub spec: NewBackfill,
    /// Where it is.
    pub status: BackfillStatus,
    /// How many partitions (from the start of `partition_names`) have their run.
    pub submitted: usize,
    /// Why submission failed.
    pub error: Option<ErrorInfo>,
    /// Unix seconds.
    pub create_timestamp: f64,
    /// When it reached a final status.
    pub end_timestamp: Option<f64>,
}

impl Backfill {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.spec.backfill_id
    }

    /// The partitions whose runs are still to be submitted.
    pub fn pending(&self) -> &[String] {
        &self.spec.partition_names[self.submitted.min(self.spec.partition_names.len())..]
    }

    /// The partitions of each run still to be submitted, in order.
    pub fn pending_runs(&self) -> Vec<&[String]> {
        match &self.spec.runs {
            BackfillRuns::OnePerPartition => self.pending().chunks(1).collect(),
            BackfillRuns::Ranges(_) => {
                let mut start = 0;
                let mut pending = Vec::new();
                for run in self.spec.run_partitions() {
                    if start >= self.submitted {
                        pending.push(run);
                    }
                    start += run.len();
                }
                pending
            }
        }
    }
}

/// Which backfills to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackfillsFilter {
    /// Only backfills in one of these statuses.
    pub statuses: Vec<BackfillStatus>,
    /// Only backfills created before this one (newest first paging).
    pub cursor: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// The instance's backfills. Their runs are ordinary runs
/// ([`RunStorage`](crate::RunStorage)), tagged with the backfill's id.
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait BackfillStorage: Send + Sync {
    /// Store a new backfill, REQUESTED, with none of its runs submitted.
    async fn add_backfill(&self, backfill: &NewBackfill) -> Result<Backfill>;

    /// Backfill `id`, if it exists.
    async fn backfill(&self, id: &str) -> Result<Option<Backfill>>;

    /// Backfills, newest first.
    async fn backfills(&self, filter: &BackfillsFilter) -> Result<Vec<Backfill>>;

    /// Move backfill `id` to `status`, with the error that stopped it, if any; returns
    /// it, or `None` when there is no such backfill.
    async fn set_backfill_status(
        &self,
        id: &str,
        status: BackfillStatus,
        error: Option<&ErrorInfo>,
    ) -> Result<Option<Backfill>>;

    /// Queue `runs` as the runs of `partitions` (positions in the backfill's list) of
    /// backfill `id`, and count those as submitted, in one transaction; false (nothing
    /// written) when the backfill's submitted count is no longer `partitions.start` or
    /// it is no longer REQUESTED.
    async fn submit_backfill_runs(
        &self,
        id: &str,
        partitions: Range<usize>,
        runs: &[NewRun],
    ) -> Result<bool>;
}
