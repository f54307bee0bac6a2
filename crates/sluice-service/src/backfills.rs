//! Backfills through the [`Service`]: launching one over a job's or an asset
//! selection's partitions, checked against the partitioning before anything is stored;
//! canceling, resuming and re-executing one. The backfill daemon submits the runs.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use sluice_core::asset::BackfillPolicy;
use sluice_core::asset::{ASSET_JOB_NAME, AssetKey};
use sluice_core::partition::PartitionIndex;
pub use sluice_core::run::PARENT_BACKFILL_TAG;

use crate::redaction::{redact_config, redact_tags};
use sluice_core::run::{Run, RunPartitions, RunStatus, check_request_tags};
use sluice_core::snapshot::REPOSITORY_NAME;
use sluice_storage::{
    BACKFILL_ID_TAG, Backfill, BackfillRuns, BackfillStatus, BackfillsFilter, NewBackfill,
    RunsFilter,
};

use crate::error::{Error, Result};
use crate::locations::asset_selection_steps;
use crate::{FoundJob, JobSelector, Service};

/// The suffix Dagster gives a job's partition set.
pub const PARTITION_SET_SUFFIX: &str = "_partition_set";

/// What a backfill runs.
#[derive(Debug, Clone)]
pub enum BackfillTarget {
    /// A partitioned job, by its partition set (`<job>_partition_set`).
    PartitionSet {
        /// The code location.
        location: String,
        /// `<job>_partition_set`.
        partition_set_name: String,
    },
    /// Assets (paths of keys), materialized through their location's `__ASSET_JOB`.
    Assets(Vec<Vec<String>>),
}

/// Which partitions.
#[derive(Debug, Clone)]
pub enum BackfillPartitions {
    /// These keys, in this order.
    Keys(Vec<String>),
    /// Every key the partitioning has now.
    All,
}

/// A backfill to launch.
#[derive(Debug, Clone)]
pub struct BackfillRequest {
    /// The job or assets.
    pub target: BackfillTarget,
    /// The partitions.
    pub partitions: BackfillPartitions,
    /// Tags for every run (over the job's).
    pub tags: Vec<(String, String)>,
    /// Run config of every run.
    pub run_config: Value,
    /// A title to show.
    pub title: Option<String>,
    /// A description to show.
    pub description: Option<String>,
}

impl Service {
    /// Check a backfill (its job or assets, their partitioning, every partition, the run
    /// config) and store it as REQUESTED for the daemon.
    pub async fn launch_backfill(&self, request: BackfillRequest) -> Result<Backfill> {
        let (found, steps, assets) = match &request.target {
            BackfillTarget::PartitionSet {
                location,
                partition_set_name,
            } => {
                let not_found = || Error::PartitionSetNotFound(partition_set_name.clone());
                let job = partition_set_name
                    .strip_suffix(PARTITION_SET_SUFFIX)
                    .ok_or_else(not_found)?;
                let selector = JobSelector {
                    location: location.clone(),
                    repository: REPOSITORY_NAME.to_owned(),
                    job: job.to_owned(),
                };
                let found = self.find_job(&selector).await.map_err(|_| not_found())?;
                (found, None, None)
            }
            BackfillTarget::Assets(paths) => {
                let found = self.asset_job_of(paths).await?;
                let steps = asset_selection_steps(&found, paths)?;
                let keys = paths
                    .iter()
                    .filter_map(|p| AssetKey::new(p.iter().cloned()).ok())
                    .collect::<Vec<_>>();
                (found, Some(steps), Some(keys))
            }
        };
        found.validate(&request.run_config)?;
        let job_name = found.job().name.clone();
        let invalid = |error| Error::Partition {
            job: job_name.clone(),
            error,
        };
        let partitions = found
            .snapshot
            .run_partitions(found.job(), steps.as_deref())
            .map_err(invalid)?;
        let Some(definition) = partitions.definition else {
            return Err(Error::InvalidArgument(format!(
                "job \"{job_name}\" is not partitioned; a backfill needs partitions"
            )));
        };
        let ctx = sluice_storage::partitions_context(self.storage().as_ref(), [definition]).await?;
        let all = definition.keys(&ctx).map_err(invalid)?;
        let partition_names = match request.partitions {
            BackfillPartitions::All => all.clone(),
            BackfillPartitions::Keys(mut keys) => {
                // A key named twice is one partition, one run.
                let mut seen = HashSet::new();
                keys.retain(|k| seen.insert(k.clone()));
                let known: HashSet<&str> = all.iter().map(String::as_str).collect();
                let unknown: Vec<String> = keys
                    .iter()
                    .filter(|k| !known.contains(k.as_str()))
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    return Err(Error::PartitionKeysNotFound {
                        keys: unknown,
                        definition: definition.to_string(),
                    });
                }
                keys
            }
        };
        if partition_names.is_empty() {
            return Err(Error::InvalidArgument(
                "the backfill selects no partition".to_owned(),
            ));
        }
        let (partition_names, runs) =
            group_into_runs(partition_names, &all, partitions.backfill_policy);
        // The tags every run gets besides its system tags; the backfill daemon lays
        // those over them (`NewRun::queued`).
        check_request_tags(request.tags.iter().map(|(key, value)| (key, value)))?;
        let mut tags: BTreeMap<String, String> = found.job().tags.clone();
        tags.extend(request.tags);
        let backfill = NewBackfill {
            asset_selection: assets,
            step_keys: steps,
            tags,
            run_config: request.run_config,
            runs,
            title: request.title,
            description: request.description,
            ..NewBackfill::new(&found.location.name, &job_name, partition_names)
        };
        let stored = self.storage().add_backfill(&backfill).await?;
        tracing::info!(
            backfill = stored.id(),
            job = %job_name,
            partitions = stored.spec.partition_names.len(),
            "backfill requested"
        );
        Ok(redact_backfill(stored))
    }

    /// The `__ASSET_JOB` of the location that defines the first of `paths`.
    async fn asset_job_of(&self, paths: &[Vec<String>]) -> Result<FoundJob> {
        let first = paths
            .first()
            .ok_or_else(|| Error::InvalidArgument("the asset selection is empty".to_owned()))?;
        let key = AssetKey::new(first.iter().cloned())
            .map_err(|e| Error::InvalidArgument(format!("{first:?} is not an asset key: {e}")))?;
        for location in self.workspace().locations().await {
            let selector = JobSelector {
                location: location.name.clone(),
                repository: REPOSITORY_NAME.to_owned(),
                job: ASSET_JOB_NAME.to_owned(),
            };
            if let Ok(found) = self.find_job(&selector).await
                && found.snapshot.assets.iter().any(|a| a.key == key)
            {
                return Ok(found);
            }
        }
        Err(Error::InvalidArgument(format!(
            "asset \"{key}\" is not defined in any code location"
        )))
    }

    /// Backfills, newest first (secrets in their tags and run config hidden).
    pub async fn backfills(&self, filter: &BackfillsFilter) -> Result<Vec<Backfill>> {
        let backfills = self.storage().backfills(filter).await?;
        Ok(backfills.into_iter().map(redact_backfill).collect())
    }

    /// The status of the latest run of each of `backfill`'s partitions that has a run.
    pub async fn backfill_partition_statuses(
        &self,
        backfill: &Backfill,
    ) -> Result<BTreeMap<String, RunStatus>> {
        let filter = RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), backfill.id().to_owned())].into(),
            ..RunsFilter::default()
        };
        let runs = self.storage().list_runs(&filter, None, None).await?;
        Ok(latest_status_by_partition(
            runs,
            &backfill.spec.partition_names,
        ))
    }

    /// A backfill (secrets in its tags and run config hidden), or
    /// [`Error::BackfillNotFound`].
    pub async fn backfill(&self, id: &str) -> Result<Backfill> {
        self.stored_backfill(id).await.map(redact_backfill)
    }

    /// A backfill as stored, secrets and all: for making another from it, never shown.
    async fn stored_backfill(&self, id: &str) -> Result<Backfill> {
        self.storage()
            .backfill(id)
            .await?
            .ok_or_else(|| Error::BackfillNotFound(id.to_owned()))
    }

    /// Stop a REQUESTED backfill: the daemon cancels its queued runs and stops its
    /// running ones.
    pub async fn cancel_backfill(&self, id: &str) -> Result<Backfill> {
        self.move_backfill(id, &[BackfillStatus::Requested], BackfillStatus::Canceling)
            .await
    }

    /// Go on with a CANCELED or FAILED backfill: the partitions that never had a run
    /// are submitted.
    pub async fn resume_backfill(&self, id: &str) -> Result<Backfill> {
        self.move_backfill(
            id,
            &[BackfillStatus::Canceled, BackfillStatus::Failed],
            BackfillStatus::Requested,
        )
        .await
    }

    async fn move_backfill(
        &self,
        id: &str,
        from: &[BackfillStatus],
        to: BackfillStatus,
    ) -> Result<Backfill> {
        let backfill = self.backfill(id).await?;
        if !from.contains(&backfill.status) {
            return Err(Error::InvalidArgument(format!(
                "backfill {id} is {}; only a backfill that is {} can become {}",
                backfill.status.as_str(),
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                to.as_str()
            )));
        }
        self.storage()
            .set_backfill_status(id, to, None)
            .await?
            .map(redact_backfill)
            .ok_or_else(|| Error::BackfillNotFound(id.to_owned()))
    }

    /// A new backfill of `id`'s job or assets: every partition, or (`from_failure`) the
    /// partitions whose run failed or was canceled.
    pub async fn reexecute_backfill(&self, id: &str, from_failure: bool) -> Result<Backfill> {
        let parent = self.stored_backfill(id).await?;
        let mut spec = parent.spec.clone();
        if from_failure {
            if !parent.status.is_final() {
                return Err(Error::InvalidArgument(format!(
                    "backfill {id} is {}; re-execute its failures once it has finished",
                    parent.status.as_str()
                )));
            }
            let runs = self
                .storage()
                .list_runs(
                    &RunsFilter {
                        tags: [(sluice_storage::BACKFILL_ID_TAG.to_owned(), id.to_owned())].into(),
                        ..RunsFilter::default()
                    },
                    None,
                    None,
                )
                .await?;
            let latest = latest_status_by_partition(runs, &spec.partition_names);
            let failed = |keys: &[String]| {
                keys.first()
                    .and_then(|k| latest.get(k))
                    .is_some_and(|s| matches!(s, RunStatus::Failure | RunStatus::Canceled))
            };
            // The failed runs again, each over the same partitions.
            let again: Vec<&[String]> = spec
                .run_partitions()
                .into_iter()
                .filter(|keys| failed(keys))
                .collect();
            let names: Vec<String> = again.iter().flat_map(|keys| keys.iter().cloned()).collect();
            let sizes: Vec<usize> = again.iter().map(|keys| keys.len()).collect();
            if let BackfillRuns::Ranges(ranges) = &mut spec.runs {
                *ranges = sizes;
            }
            spec.partition_names = names;
            if spec.partition_names.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "backfill {id} has no failed partition to re-execute"
                )));
            }
        }
        spec.backfill_id = sluice_storage::new_backfill_id();
        spec.from_failure = from_failure;
        spec.tags
            .insert(PARENT_BACKFILL_TAG.to_owned(), id.to_owned());
        Ok(redact_backfill(self.storage().add_backfill(&spec).await?))
    }
}

/// `backfill` with the secrets of its tags and run config hidden, as every output shows
/// it ([`redaction`](crate::redaction)).
fn redact_backfill(mut backfill: Backfill) -> Backfill {
    backfill.spec.tags = redact_tags(&backfill.spec.tags);
    backfill.spec.run_config = redact_config(&backfill.spec.run_config);
    backfill
}

/// How a backfill of `names` runs under the backfill policy of its assets: one run per
/// partition, or (the names put in the partitioning's order, `all`) runs over ranges of
/// consecutive partitions, each at most as long as the policy allows.
fn group_into_runs(
    mut names: Vec<String>,
    all: &[String],
    policy: Option<BackfillPolicy>,
) -> (Vec<String>, BackfillRuns) {
    let max = match policy {
        None
        | Some(BackfillPolicy {
            max_partitions_per_run: Some(1),
        }) => {
            return (names, BackfillRuns::OnePerPartition);
        }
        Some(policy) => policy.max_partitions_per_run.unwrap_or(usize::MAX),
    };
    let index = PartitionIndex::new(all);
    names.sort_by_key(|n| index.position(n));
    let mut sizes: Vec<usize> = Vec::new();
    let mut previous: Option<usize> = None;
    for name in &names {
        let at = index.position(name);
        let follows = matches!((previous, at), (Some(p), Some(a)) if a == p + 1);
        match sizes.last_mut() {
            Some(size) if follows && *size < max => *size += 1,
            _ => sizes.push(1),
        }
        previous = at;
    }
    (names, BackfillRuns::Ranges(sizes))
}

/// `runs` (newest first) by the partitions each is for, newest first; a run over a range
/// counts for each of its partitions among `keys` (the partitioning's keys, in order).
pub fn runs_by_partition(
    runs: impl IntoIterator<Item = Run>,
    keys: &[String],
) -> BTreeMap<String, Vec<Run>> {
    let index = PartitionIndex::new(keys);
    let mut by_partition: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for run in runs {
        let Ok(Some(named)) = RunPartitions::of_tags(&run.tags) else {
            continue;
        };
        let partitions: Vec<String> = named
            .keys_in(&index)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let [one] = partitions.as_slice() {
            by_partition.entry(one.clone()).or_default().push(run);
            continue;
        }
        for partition in partitions {
            by_partition.entry(partition).or_default().push(run.clone());
        }
    }
    by_partition
}

/// The status of the latest of `runs` (newest first) for each partition they are for.
pub fn latest_status_by_partition(
    runs: impl IntoIterator<Item = Run>,
    keys: &[String],
) -> BTreeMap<String, RunStatus> {
    runs_by_partition(runs, keys)
        .into_iter()
        .filter_map(|(partition, runs)| Some((partition, runs.first()?.status)))
        .collect()
}
