//! One step's run, in its own task: its attempts (compute with timeout, panic catching
//! and cancellation), retries per policy, the outputs it yields given to the IO manager,
//! and the events of each: start, outputs, materializations or observations, success,
//! retries and failure.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{IO_MANAGER_KEY, human_ms};
use crate::asset::{AssetKey, DataVersion};
use crate::events::{
    AssetMaterialization, AssetObservation, ErrorInfo, EventData, EventSink, EventType, LogLevel,
    RunEvent,
};
use crate::io_manager::{IoManager, OutputKey};
use crate::metadata::Metadata;
use crate::op::{AssetOp, ContextInner, Inputs, OpContext, OpDefinition, OpError, StepValue};
use crate::partition::TimeWindow;
use crate::resource::Resources;

/// How a step ended.
pub(super) enum StepOutcome {
    Success(Vec<(String, StepValue)>),
    Failure,
    Interrupted,
}

/// One step, executed with its retries in its own task.
pub(super) struct StepRun {
    pub(super) run_id: String,
    pub(super) step_key: String,
    pub(super) op: OpDefinition,
    pub(super) config: Value,
    pub(super) inputs: HashMap<String, StepValue>,
    pub(super) resources: Arc<Resources>,
    pub(super) tags: Arc<BTreeMap<String, String>>,
    pub(super) events: Arc<dyn EventSink>,
    pub(super) cancel: CancellationToken,
    pub(super) io_manager: Option<Arc<dyn IoManager>>,
    /// The outputs that downstream steps consume, which the IO manager stores.
    pub(super) consumed: Vec<String>,
    /// The partitions the step materializes: one, or each of the run's range.
    pub(super) partition_keys: Option<Arc<[String]>>,
    pub(super) time_window: Option<TimeWindow>,
}

/// How one attempt of a step ended.
enum Attempt {
    /// The outputs, and the metadata the compute function attached to them.
    Done(Vec<(String, StepValue)>, Metadata),
    Failed {
        error: ErrorInfo,
        /// (max retries, delay before the next one), when the failure may be retried.
        retry: Option<(u32, Duration)>,
    },
    Interrupted,
}

impl StepRun {
    fn event(&self, event_type: EventType, message: String) -> RunEvent {
        RunEvent::new(&self.run_id, event_type, message).step(self.step_key.clone())
    }

    /// Run the step's attempts until one succeeds, the failure is final, or the run
    /// is terminated.
    pub(super) async fn run(self) -> StepOutcome {
        let key = self.step_key.clone();
        self.events.emit(self.event(
            EventType::StepStart,
            format!("Started execution of step \"{key}\"."),
        ));
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            match self.attempt(attempt).await {
                Attempt::Done(values, metadata) => {
                    // The IO manager's metadata of each output (of each partition), for
                    // its materializations.
                    let mut stored = Vec::with_capacity(values.len());
                    let observes = self.op.asset().is_some_and(|a| a.observe);
                    for (name, value) in &values {
                        self.events.emit(
                            self.event(
                                EventType::StepOutput,
                                format!(
                                    "Yielded output \"{name}\" of type \"{}\".",
                                    type_name_of(value, &self.op, name)
                                ),
                            )
                            .data(EventData::Output {
                                output_name: name.clone(),
                            }),
                        );
                        if observes {
                            self.observed(name, value, &metadata);
                            continue;
                        }
                        match self.handle_output(name, value) {
                            Ok(per_partition) => stored.push((name, per_partition)),
                            Err(error) => {
                                self.fail(error);
                                return StepOutcome::Failure;
                            }
                        }
                    }
                    // One materialization per asset output yielded, with the user's
                    // metadata and the IO manager's.
                    if let Some(asset) = self.op.asset() {
                        for (name, per_partition) in stored {
                            let Some(key) = asset.key_of(name) else {
                                continue;
                            };
                            for (partition, io_metadata) in per_partition {
                                let mut all = metadata.clone();
                                all.extend(io_metadata);
                                self.materialized(key, asset, partition, all);
                            }
                        }
                    }
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    self.events.emit(
                        self.event(
                            EventType::StepSuccess,
                            format!("Finished execution of step \"{key}\" in {}.", human_ms(ms)),
                        )
                        .data(EventData::Success {
                            duration_ms: ms,
                            attempts: attempt + 1,
                        }),
                    );
                    return StepOutcome::Success(values);
                }
                Attempt::Failed { error, retry } => match retry {
                    Some((max_retries, delay)) if attempt < max_retries => {
                        self.events.emit(
                            self.event(
                                EventType::StepUpForRetry,
                                format!(
                                    "Execution of step \"{key}\" failed and has requested a retry in {:.3}s (attempt {} of {}).",
                                    delay.as_secs_f64(),
                                    attempt + 1,
                                    max_retries + 1
                                ),
                            )
                            .level(LogLevel::Warning)
                            .data(EventData::Retry {
                                error,
                                attempt: attempt + 1,
                                max_retries,
                                delay_seconds: delay.as_secs_f64(),
                            }),
                        );
                        tokio::select! {
                            biased;
                            _ = self.cancel.cancelled() => return self.interrupted(),
                            _ = tokio::time::sleep(delay) => {}
                        }
                        attempt += 1;
                        self.events.emit(
                            self.event(
                                EventType::StepRestarted,
                                format!(
                                    "Started re-execution (attempt # {}) of step \"{key}\".",
                                    attempt + 1
                                ),
                            )
                            .data(EventData::Restarted {
                                attempt: attempt + 1,
                            }),
                        );
                    }
                    _ => {
                        self.fail(error);
                        return StepOutcome::Failure;
                    }
                },
                Attempt::Interrupted => return self.interrupted(),
            }
        }
    }

    /// Give output `name` to the IO manager, if the run has one and the output is an
    /// asset's (kept for later runs, under each partition the step materializes) or a
    /// downstream step consumes it. Returns the metadata the IO manager reports, for
    /// each partition stored.
    fn handle_output(
        &self,
        name: &str,
        value: &StepValue,
    ) -> Result<Vec<(Option<&str>, Metadata)>, ErrorInfo> {
        let asset_key = self.op.asset().and_then(|a| a.key_of(name));
        let partitions = match asset_key {
            Some(_) => self.each_partition(),
            None => vec![None],
        };
        fn unstored(partitions: Vec<Option<&str>>) -> Vec<(Option<&str>, Metadata)> {
            partitions
                .into_iter()
                .map(|p| (p, Metadata::new()))
                .collect()
        }
        let (Some(io), Some(definition)) = (&self.io_manager, self.op.output(name)) else {
            return Ok(unstored(partitions));
        };
        let keys: Vec<OutputKey> = match asset_key {
            Some(key) => partitions
                .iter()
                .map(|&partition| OutputKey::Asset { key, partition })
                .collect(),
            None if self.consumed.iter().any(|c| c == name) => vec![OutputKey::Step {
                run_id: &self.run_id,
                step_key: &self.step_key,
                output_name: name,
            }],
            None => return Ok(unstored(partitions)),
        };
        let mut metadata = Vec::with_capacity(keys.len());
        for (key, partition) in keys.into_iter().zip(partitions) {
            let stored = io
                .handle_output(key, definition, value)
                .map_err(|e| ErrorInfo::from_error("HandleOutputError", &e))?;
            metadata.push((partition, stored));
        }
        self.events.emit(
            self.event(
                EventType::HandledOutput,
                format!("Handled output \"{name}\" using IO manager \"{IO_MANAGER_KEY}\"."),
            )
            .data(EventData::HandledOutput {
                output_name: name.to_owned(),
                manager_key: IO_MANAGER_KEY.to_owned(),
            }),
        );
        Ok(metadata)
    }

    /// The ASSET_OBSERVATION of the source asset whose version output `name` holds.
    fn observed(&self, name: &str, value: &StepValue, metadata: &Metadata) {
        let Some(key) = self.op.asset().and_then(|a| a.key_of(name)) else {
            return;
        };
        let version = value.downcast_ref::<DataVersion>().map(|v| v.0.clone());
        let message = match &version {
            Some(v) => format!("Observed asset \"{key}\" at data version \"{v}\"."),
            None => format!("Observed asset \"{key}\"."),
        };
        for partition in self.each_partition() {
            self.events.emit(
                self.event(EventType::AssetObservation, message.clone())
                    .level(LogLevel::Info)
                    .data(EventData::Observation(Box::new(AssetObservation {
                        asset_key: key.clone(),
                        partition: partition.map(str::to_owned),
                        data_version: version.clone(),
                        metadata: metadata.clone(),
                        description: None,
                    }))),
            );
        }
    }

    /// Each partition the step materializes, or `[None]` when it is not partitioned.
    fn each_partition(&self) -> Vec<Option<&str>> {
        match self.partition_keys.as_deref() {
            Some(keys) => keys.iter().map(|k| Some(k.as_str())).collect(),
            None => vec![None],
        }
    }

    /// The ASSET_MATERIALIZATION of `key` (of `partition`), one of the assets of the
    /// step's op.
    fn materialized(
        &self,
        key: &AssetKey,
        asset: &AssetOp,
        partition: Option<&str>,
        metadata: Metadata,
    ) {
        let partition = partition.map(str::to_owned);
        let message = match &partition {
            Some(p) => format!("Materialized value of partition \"{p}\" of asset \"{key}\"."),
            None => format!("Materialized value of asset \"{key}\"."),
        };
        self.events.emit(
            self.event(EventType::AssetMaterialization, message)
                .level(LogLevel::Info)
                .data(EventData::Materialization(Box::new(AssetMaterialization {
                    partition,
                    metadata,
                    code_version: asset.code_version.clone(),
                    ..AssetMaterialization::new(key.clone())
                }))),
        );
    }

    /// The step's STEP_FAILURE.
    fn fail(&self, error: ErrorInfo) {
        self.events.emit(
            self.event(
                EventType::StepFailure,
                format!(
                    "Execution of step \"{}\" failed: {}",
                    self.step_key, error.message
                ),
            )
            .data(EventData::Failure { error }),
        );
    }

    /// The events of a step that fails before its compute starts (an input could not be
    /// loaded).
    pub(super) fn fail_before_start(&self, error: ErrorInfo) {
        self.events.emit(self.event(
            EventType::StepStart,
            format!("Started execution of step \"{}\".", self.step_key),
        ));
        self.fail(error);
    }

    fn interrupted(&self) -> StepOutcome {
        let message = format!(
            "Execution of step \"{}\" was interrupted: the run was terminated.",
            self.step_key
        );
        self.events
            .emit(
                self.event(EventType::StepFailure, message.clone())
                    .data(EventData::Failure {
                        error: ErrorInfo::new("Interrupted", message),
                    }),
            );
        StepOutcome::Interrupted
    }

    async fn attempt(&self, attempt: u32) -> Attempt {
        let ctx = OpContext::new(ContextInner {
            run_id: self.run_id.clone(),
            step_key: self.step_key.clone(),
            op_name: self.op.name().to_owned(),
            attempt,
            config: self.config.clone(),
            resources: Arc::clone(&self.resources),
            run_tags: Arc::clone(&self.tags),
            events: Arc::clone(&self.events),
            cancel: self.cancel.clone(),
            asset_key: self.op.asset().and_then(|a| a.key().cloned()),
            partition_keys: self.partition_keys.clone(),
            partition_time_window: self.time_window,
            output_metadata: Default::default(),
        });
        let compute = (self.op.0.compute)(ctx.clone(), Inputs::new(self.inputs.clone()));
        let guarded = AssertUnwindSafe(compute).catch_unwind();
        let timeout = self.op.timeout();
        let result = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Attempt::Interrupted,
            r = async {
                match timeout {
                    Some(t) => tokio::time::timeout(t, guarded).await.ok(),
                    None => Some(guarded.await),
                }
            } => r,
        };
        let policy_retry = || {
            self.op
                .retry_policy()
                .map(|p| (p.max_retries, p.delay_for(attempt + 1)))
        };
        match result {
            None => Attempt::Failed {
                error: ErrorInfo::new(
                    "Timeout",
                    format!(
                        "step \"{}\" timed out after {:.3}s",
                        self.step_key,
                        timeout.unwrap_or_default().as_secs_f64()
                    ),
                ),
                retry: policy_retry(),
            },
            Some(Err(panic)) => Attempt::Failed {
                error: ErrorInfo::from_panic("op panicked", &*panic),
                retry: policy_retry(),
            },
            Some(Ok(Err(err))) => {
                let retry = match &err {
                    OpError::Fatal { .. } => None,
                    OpError::RetryRequested {
                        max_retries, delay, ..
                    } => Some((*max_retries, *delay)),
                    _ => policy_retry(),
                };
                Attempt::Failed {
                    error: err.info(),
                    retry,
                }
            }
            Some(Ok(Ok(outputs))) => match check_outputs(&self.op, outputs.into_values()) {
                Ok(values) => Attempt::Done(values, ctx.take_output_metadata()),
                Err(message) => Attempt::Failed {
                    error: ErrorInfo::new("OutputError", message),
                    retry: None,
                },
            },
        }
    }
}

/// Check returned outputs against the op's declarations: each declared, of the declared
/// type, and every required output present.
fn check_outputs(
    op: &OpDefinition,
    values: Vec<(String, StepValue)>,
) -> Result<Vec<(String, StepValue)>, String> {
    for (name, value) in &values {
        let Some(def) = op.output(name) else {
            return Err(format!(
                "op \"{}\" yielded output \"{name}\", which it does not declare",
                op.name()
            ));
        };
        if Any::type_id(&**value) != def.data_type.rust_type_id() {
            return Err(format!(
                "output \"{name}\" of op \"{}\" must be {}, but another type was yielded",
                op.name(),
                def.data_type.name()
            ));
        }
    }
    for def in op.outputs().iter().filter(|d| d.is_required) {
        if !values.iter().any(|(n, _)| *n == def.name) {
            return Err(format!(
                "op \"{}\" did not yield its required output \"{}\"",
                op.name(),
                def.name
            ));
        }
    }
    Ok(values)
}

fn type_name_of<'a>(_: &StepValue, op: &'a OpDefinition, name: &str) -> &'a str {
    op.output(name).map_or("?", |d| d.data_type.name())
}
