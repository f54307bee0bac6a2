//! What a running step's compute function sees of its run: [`OpContext`] (config,
//! resources, partitions, logging, output metadata, cancellation), and the
//! `ContextInner` the executor fills in for each attempt.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::error::OpError;
use crate::asset::AssetKey;
use crate::events::{EventSink, LogLevel, RunEvent};
use crate::metadata::{Metadata, MetadataValue};
use crate::partition::TimeWindow;
use crate::resource::Resources;

/// What a step's compute function sees of its run: config, resources, logging,
/// cancellation. Cheap to clone.
#[derive(Clone)]
pub struct OpContext(Arc<ContextInner>);

/// What the executor tells the context of one attempt of a step.
pub(crate) struct ContextInner {
    pub run_id: String,
    pub step_key: String,
    pub op_name: String,
    pub attempt: u32,
    pub config: Value,
    pub resources: Arc<Resources>,
    pub run_tags: Arc<BTreeMap<String, String>>,
    pub events: Arc<dyn EventSink>,
    pub cancel: CancellationToken,
    pub asset_key: Option<AssetKey>,
    pub partition_keys: Option<Arc<[String]>>,
    pub partition_time_window: Option<TimeWindow>,
    /// Metadata the compute function attached to its output.
    pub output_metadata: std::sync::Mutex<Metadata>,
}

impl OpContext {
    pub(crate) fn new(inner: ContextInner) -> Self {
        Self(Arc::new(inner))
    }

    /// The ID of the step's run.
    pub fn run_id(&self) -> &str {
        &self.0.run_id
    }

    /// The step's key: the op's alias in its job.
    pub fn step_key(&self) -> &str {
        &self.0.step_key
    }

    /// The name of the step's op.
    pub fn op_name(&self) -> &str {
        &self.0.op_name
    }

    /// 0 for the first attempt, 1 for the first retry, and so on.
    pub fn retry_number(&self) -> u32 {
        self.0.attempt
    }

    /// The op's config, as the type declared with [`OpBuilder::config`](super::OpBuilder::config).
    pub fn config<C: DeserializeOwned>(&self) -> Result<C, OpError> {
        C::deserialize(&self.0.config).map_err(|e| OpError::Config(e.to_string()))
    }

    /// The op's config as JSON.
    pub fn config_value(&self) -> &Value {
        &self.0.config
    }

    /// The resource bound to `key`, as its type.
    pub fn resource<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, OpError> {
        self.0.resources.get::<R>(key)
    }

    /// The tags of the step's run.
    pub fn run_tags(&self) -> &BTreeMap<String, String> {
        &self.0.run_tags
    }

    /// The asset this step materializes, when it is an asset's step.
    pub fn asset_key(&self) -> Option<&AssetKey> {
        self.0.asset_key.as_ref()
    }

    /// The partition the step materializes (its run's `dagster/partition` tag), if the
    /// step's asset or job is partitioned and the run names one partition; a run over
    /// a range has [`Self::partition_keys`].
    pub fn partition_key(&self) -> Option<&str> {
        match self.0.partition_keys.as_deref() {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Every partition the step materializes, in order: its one partition, or each of
    /// its run's range (a single-run backfill); empty when it is not partitioned.
    pub fn partition_keys(&self) -> &[String] {
        self.0.partition_keys.as_deref().unwrap_or_default()
    }

    /// The first and last partitions the step materializes (the same key for one).
    pub fn partition_key_range(&self) -> Option<(&str, &str)> {
        let keys = self.0.partition_keys.as_deref()?;
        Some((keys.first()?, keys.last()?))
    }

    /// The time window of the step's partitions, when they are by time: from the start
    /// of the first to the end of the last.
    pub fn partition_time_window(&self) -> Option<TimeWindow> {
        self.0.partition_time_window
    }

    /// Attach `value` under `label` to the output's materialization (Dagster's
    /// `context.add_output_metadata`): row counts, paths, previews.
    pub fn add_output_metadata(&self, label: impl Into<String>, value: impl Into<MetadataValue>) {
        self.0
            .output_metadata
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(label.into(), value.into());
    }

    /// Emit an event of the step's run.
    pub(crate) fn emit(&self, event: RunEvent) {
        self.0.events.emit(event);
    }

    /// The metadata attached so far.
    pub(crate) fn take_output_metadata(&self) -> Metadata {
        std::mem::take(
            &mut *self
                .0
                .output_metadata
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Cancelled when the run is terminated. Long loops should check it; every await of
    /// the step is also a point where a terminated step stops.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.0.cancel
    }

    /// Log a message into the run's event log.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        tracing::event!(target: "sluice::op", tracing::Level::DEBUG, step = %self.0.step_key, "{message}");
        self.0.events.emit(
            RunEvent::new(&self.0.run_id, crate::events::EventType::Log, message)
                .step(self.0.step_key.clone())
                .level(level),
        );
    }

    /// Log a message at level DEBUG.
    pub fn debug(&self, message: impl Into<String>) {
        self.log(LogLevel::Debug, message);
    }

    /// Log a message at level INFO.
    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message);
    }

    /// Log a message at level WARNING.
    pub fn warning(&self, message: impl Into<String>) {
        self.log(LogLevel::Warning, message);
    }

    /// Log a message at level ERROR.
    pub fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message);
    }
}
