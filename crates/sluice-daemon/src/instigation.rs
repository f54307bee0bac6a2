//! What the scheduler and the sensor daemon share: whether a schedule or sensor runs,
//! a clock that tests can set, and recording a tick with the runs it requests.

use chrono::{DateTime, Utc};
use sluice_codeserver::ClientError;
use sluice_codeserver::protocol::Evaluation;
use sluice_core::events::ErrorInfo;
use sluice_core::partition::PartitionError;
use sluice_core::run::{
    NewRun, PARTITION_TAG, RunOrigin, RunPartitions, RunTagError, TICK_TAG, check_request_tags,
};
use sluice_core::run_request::{DefaultStatus, DynamicPartitionsRequest, RunRequest};
use sluice_core::snapshot::LocationSnapshot;
use sluice_storage::{
    DynamicPartitionsAction, DynamicPartitionsResult, InstigatedRun, InstigatorKey,
    InstigatorState, InstigatorStatus, InstigatorType, NewTick, Storage, StorageError, Tick,
    TickResult, TickStatus, Wakeup,
};

/// Where the scheduler and the sensor daemon read the time: the system clock in
/// production; another clock to drive the loops through other times.
pub trait Clock: Send + Sync + 'static {
    /// The time now, by this clock.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Whether an instigator is on: as a person set it, else as its definition says.
pub(crate) fn is_running(state: Option<&InstigatorState>, default: DefaultStatus) -> bool {
    state
        .and_then(|s| s.status)
        .unwrap_or_else(|| default.into())
        == InstigatorStatus::Running
}

/// One tick being recorded: whose, when, and where its runs go.
pub(crate) struct TickRecorder<'a> {
    pub storage: &'a dyn Storage,
    pub snapshot: &'a LocationSnapshot,
    pub instigator: &'a InstigatorKey,
    /// The run queue's wake-up channel, notified when runs are queued.
    pub queue: &'a Wakeup,
    /// A schedule's scheduled time; a sensor's evaluation time.
    pub timestamp: f64,
}

/// What to store as a tick's cursor, and how run requests are made unique.
pub(crate) struct TickPolicy {
    /// Replaces the cursor the evaluation returned (run status sensors keep their own).
    pub cursor: Option<String>,
    /// The stored run key of a request: unique per instigator; `None` for a request
    /// that may create a run every time.
    pub run_key: fn(&TickRecorder<'_>, &RunRequest) -> Option<String>,
}

impl TickRecorder<'_> {
    /// Store what an evaluation decided: a FAILURE tick for an error, SKIPPED for no
    /// request, else a tick that is STARTED (reusing `started`, a tick left STARTED by
    /// an earlier attempt at the same time), whose runs are queued, and that ends
    /// SUCCESS with their ids.
    pub(crate) async fn record(
        &self,
        started: Option<i64>,
        evaluation: Result<Evaluation, ClientError>,
        policy: TickPolicy,
    ) -> Result<Tick, StorageError> {
        let outcome = match evaluation {
            Err(e) => {
                let error = ErrorInfo::from_error("CodeServerError", &e);
                return self.finish(started, failure(error)).await;
            }
            Ok(Evaluation::Failed(error)) => return self.finish(started, failure(error)).await,
            Ok(Evaluation::Evaluated(outcome)) => outcome,
        };
        let cursor = policy.cursor.or(outcome.cursor);
        if outcome.run_requests.is_empty() && outcome.dynamic_partitions_requests.is_empty() {
            let mut result = TickResult::new(TickStatus::Skipped);
            result.skip_reason = outcome.skip_reason.map(|r| r.0);
            result.cursor = cursor;
            return self.finish(started, result).await;
        }
        // Partition keys first, so that the runs may name what was just added; a run
        // whose partition does not exist fails the tick before any run is queued.
        let dynamic_partitions = match self
            .apply_dynamic_partitions(&outcome.dynamic_partitions_requests)
            .await
        {
            Ok(results) => results,
            Err(error) => return self.finish(started, failure(error)).await,
        };
        let steps = match self.check_requests(&outcome.run_requests).await {
            Ok(steps) => steps,
            Err(error) => {
                let mut failed = failure(error);
                failed.dynamic_partitions = dynamic_partitions;
                return self.finish(started, failed).await;
            }
        };
        if outcome.run_requests.is_empty() {
            let mut result = TickResult::new(TickStatus::Success);
            result.cursor = cursor;
            result.dynamic_partitions = dynamic_partitions;
            return self.finish(started, result).await;
        }
        let tick_id = match started {
            Some(id) => id,
            None => {
                self.storage
                    .add_tick(&NewTick {
                        instigator: self.instigator.clone(),
                        timestamp: self.timestamp,
                        result: TickResult::new(TickStatus::Started),
                    })
                    .await?
                    .id
            }
        };
        let mut result = TickResult::new(TickStatus::Success);
        result.cursor = cursor;
        result.dynamic_partitions = dynamic_partitions;
        let mut used_before = Vec::new();
        for (request, steps) in outcome.run_requests.into_iter().zip(steps) {
            let run_key = (policy.run_key)(self, &request);
            match self
                .queue_run(tick_id, run_key.as_deref(), request, steps)
                .await
            {
                Ok(Queued::New(run_id)) => {
                    result.run_ids.push(run_id);
                    result.run_keys.extend(run_key);
                }
                Ok(Queued::UsedBefore) => used_before.extend(run_key),
                Err(e) => {
                    let mut failed = failure(e.error_info());
                    failed.run_ids = result.run_ids;
                    failed.run_keys = result.run_keys;
                    failed.dynamic_partitions = result.dynamic_partitions;
                    return self.finish(Some(tick_id), failed).await;
                }
            }
        }
        if result.run_ids.is_empty() {
            // Every request had a run key used before: nothing was launched.
            result.status = TickStatus::Skipped;
            result.skip_reason = Some(format!(
                "{} run request(s) skipped: their run keys were used before ({})",
                used_before.len(),
                used_before.join(", ")
            ));
        } else {
            self.queue.notify();
        }
        self.finish(Some(tick_id), result).await
    }

    /// Add and delete the keys the evaluation asked for, in order. Each set must be one
    /// the location uses; adding a key again, or deleting a missing one, changes nothing.
    async fn apply_dynamic_partitions(
        &self,
        requests: &[DynamicPartitionsRequest],
    ) -> Result<Vec<DynamicPartitionsResult>, ErrorInfo> {
        let sets = self.snapshot.dynamic_partition_sets();
        let mut results = Vec::with_capacity(requests.len());
        for request in requests {
            let name = request.set_name();
            if !sets.contains(name) {
                return Err(ErrorInfo::new(
                    "DagsterUnknownPartitionError",
                    format!(
                        "the evaluation changes dynamic partitions \"{name}\", which code location \"{}\" does not use",
                        self.instigator.location_name
                    ),
                ));
            }
            let (action, asked, done) = match request {
                DynamicPartitionsRequest::Add { partition_keys, .. } => (
                    DynamicPartitionsAction::Add,
                    partition_keys,
                    self.storage
                        .add_dynamic_partitions(name, partition_keys)
                        .await,
                ),
                DynamicPartitionsRequest::Delete { partition_keys, .. } => (
                    DynamicPartitionsAction::Delete,
                    partition_keys,
                    self.storage
                        .delete_dynamic_partitions(name, partition_keys)
                        .await,
                ),
            };
            let changed = done.map_err(|e| ErrorInfo::from_error("StorageError", &e))?;
            results.push(DynamicPartitionsResult {
                partitions_def_name: name.to_owned(),
                action,
                skipped_partition_keys: asked
                    .iter()
                    .filter(|k| !changed.contains(k))
                    .cloned()
                    .collect(),
                partition_keys: changed,
            });
        }
        Ok(results)
    }

    /// Check each request against its job: the assets it selects must be the job's, and
    /// its partition must be one of the partitioning of what the run executes. Returns
    /// the steps each request's run executes (`None`: all).
    async fn check_requests(
        &self,
        requests: &[RunRequest],
    ) -> Result<Vec<Option<Vec<String>>>, ErrorInfo> {
        let mut checks = Vec::with_capacity(requests.len());
        let mut steps = Vec::with_capacity(requests.len());
        for request in requests {
            let job_name = request.job_name.as_deref().unwrap_or_default();
            check_request_tags(&request.tags).map_err(|e| {
                ErrorInfo::new(
                    INVALID_TAGS,
                    format!("run request for job \"{job_name}\": {e}"),
                )
            })?;
            let Some(job) = self.snapshot.job(job_name) else {
                steps.push(None);
                continue;
            };
            let selected = match &request.asset_selection {
                None => None,
                Some(keys) => Some(
                    self.snapshot
                        .job_asset_steps(&self.instigator.location_name, job, keys)
                        .map_err(|message| {
                            ErrorInfo::new(
                                "DagsterInvalidSubsetError",
                                format!("run request for job \"{job_name}\": {message}"),
                            )
                        })?,
                ),
            };
            let partitions = self
                .snapshot
                .run_partitions(job, selected.as_deref())
                .map_err(|e| unknown_partition(job_name, &e))?;
            checks.push((job_name, partitions, request.partition_key.as_deref()));
            steps.push(selected);
        }
        let definitions = checks.iter().filter_map(|(_, p, _)| p.definition);
        let ctx = sluice_storage::partitions_context(self.storage, definitions)
            .await
            .map_err(|e| ErrorInfo::from_error("StorageError", &e))?;
        for (job_name, partitions, key) in checks {
            partitions
                .check(key.map(|k| RunPartitions::Key(k.to_owned())).as_ref(), &ctx)
                .map_err(|e| unknown_partition(job_name, &e))?;
        }
        Ok(steps)
    }

    async fn finish(&self, started: Option<i64>, result: TickResult) -> Result<Tick, StorageError> {
        match started {
            Some(id) => self.storage.end_tick(self.instigator, id, &result).await,
            None => {
                self.storage
                    .add_tick(&NewTick {
                        instigator: self.instigator.clone(),
                        timestamp: self.timestamp,
                        result,
                    })
                    .await
            }
        }
    }

    /// Queue the run of `request` (whose job the code server has checked), executing
    /// `steps` (`None`: all), once per `run_key`. A key used before by this same tick (an
    /// earlier attempt at it, cut short) counts as this tick's run.
    async fn queue_run(
        &self,
        tick_id: i64,
        run_key: Option<&str>,
        request: RunRequest,
        steps: Option<Vec<String>>,
    ) -> Result<Queued, QueueError> {
        let job_name = request.job_name.clone().unwrap_or_default();
        let instigator = &self.instigator;
        let name = instigator.name.clone();
        let run_key_tag = request.run_key.clone().or(run_key.map(str::to_owned));
        let origin = match instigator.instigator_type {
            InstigatorType::Schedule => RunOrigin::Schedule {
                name,
                tick_id,
                run_key: run_key_tag,
            },
            InstigatorType::Sensor => RunOrigin::Sensor {
                name,
                tick_id,
                run_key: run_key_tag,
            },
        };
        let job_tags = self
            .snapshot
            .job(&job_name)
            .map(|job| job.tags.clone())
            .unwrap_or_default();
        let mut request_tags = request.tags;
        if let Some(partition) = request.partition_key {
            request_tags.insert(PARTITION_TAG.into(), partition);
        }
        let run = NewRun::queued(job_name, &instigator.location_name, origin)
            .base_tags(&job_tags)
            .request_tags(request_tags)
            .map_err(QueueError::Tags)?
            .run_config(request.run_config)
            .step_keys(steps)
            .build();
        let enqueued = run.enqueued_event();
        let Some(key) = run_key else {
            let created = self
                .storage
                .create_run_with_events(&run, &[enqueued])
                .await?;
            return Ok(Queued::New(created.run_id));
        };
        let selector_id = instigator.selector_id();
        match self
            .storage
            .create_instigated_run(&run, &[enqueued], &selector_id, key)
            .await?
        {
            InstigatedRun::Created(run) => Ok(Queued::New(run.run_id)),
            InstigatedRun::AlreadyRequested { run_id } => {
                let earlier = self.storage.get_run(&run_id).await?;
                let same_tick = earlier
                    .as_ref()
                    .and_then(|r| r.tags.get(TICK_TAG))
                    .is_some_and(|t| *t == tick_id.to_string());
                Ok(if same_tick {
                    Queued::New(run_id)
                } else {
                    Queued::UsedBefore
                })
            }
        }
    }
}

/// What asking for one run did.
enum Queued {
    /// This tick's run (created now, or by an earlier attempt at this tick).
    New(String),
    /// Its run key was used by an earlier tick; nothing was created.
    UsedBefore,
}

fn unknown_partition(job: &str, error: &PartitionError) -> ErrorInfo {
    ErrorInfo::new(
        "DagsterUnknownPartitionError",
        format!("run request for job \"{job}\": {error}"),
    )
}

/// The error class of a run request that sets a tag Sluice sets itself.
const INVALID_TAGS: &str = "DagsterInvalidTagsError";

/// Why a requested run could not be queued.
#[derive(Debug, thiserror::Error)]
enum QueueError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Tags(RunTagError),
}

impl QueueError {
    fn error_info(&self) -> ErrorInfo {
        match self {
            Self::Storage(e) => ErrorInfo::from_error("StorageError", e),
            Self::Tags(e) => ErrorInfo::from_error(INVALID_TAGS, e),
        }
    }
}

fn failure(error: ErrorInfo) -> TickResult {
    let mut result = TickResult::new(TickStatus::Failure);
    result.error = Some(error);
    result
}
