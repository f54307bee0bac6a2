//! What schedules and sensors answer with: [`RunRequest`]s, a [`SkipReason`], or an
//! [`EvaluationError`]; and the status they start in ([`DefaultStatus`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::asset::AssetKey;

/// A request to launch one run, from a schedule or a sensor (Dagster's `RunRequest`).
///
/// The daemon creates at most one run per `run_key` and instigator, ever: a sensor may
/// return the same request on every evaluation until its cursor moves past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Identifies the request; a key already used by this instigator launches nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_key: Option<String>,
    /// The run's config (an empty mapping when absent).
    #[serde(default = "empty_object")]
    pub run_config: Value,
    /// Tags for the run, added to the job's and the instigator's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The job to run; may be left out when the instigator targets one job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Stored as the run's `dagster/partition` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Materialize only these assets of the job (Dagster's `asset_selection`); all of its
    /// assets when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_selection: Option<Vec<AssetKey>>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl Default for RunRequest {
    /// A request with empty run config and no tags or key.
    fn default() -> Self {
        Self {
            run_key: None,
            run_config: empty_object(),
            tags: BTreeMap::new(),
            job_name: None,
            partition_key: None,
            asset_selection: None,
        }
    }
}

impl RunRequest {
    /// A request with no config, tags or key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Identify the request by `key`: a key this instigator already used launches nothing.
    pub fn run_key(mut self, key: impl Into<String>) -> Self {
        self.run_key = Some(key.into());
        self
    }

    /// Run with this config.
    pub fn run_config(mut self, config: Value) -> Self {
        self.run_config = config;
        self
    }

    /// Add a tag to the run.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Run this job, one of the instigator's targets.
    pub fn job(mut self, job_name: impl Into<String>) -> Self {
        self.job_name = Some(job_name.into());
        self
    }

    /// Run for this partition (the `dagster/partition` tag).
    pub fn partition_key(mut self, key: impl Into<String>) -> Self {
        self.partition_key = Some(key.into());
        self
    }

    /// Materialize only these assets.
    pub fn asset_selection(mut self, keys: impl IntoIterator<Item = AssetKey>) -> Self {
        self.asset_selection = Some(keys.into_iter().collect());
        self
    }
}

/// Why an evaluation requested no run, shown on its tick (Dagster's `SkipReason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SkipReason(pub String);

impl SkipReason {
    /// A skip for `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one evaluation of a schedule or sensor decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TickOutcome {
    /// The runs to launch; empty when the evaluation skipped or requested nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_requests: Vec<RunRequest>,
    /// Why no run was requested, if the evaluation said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// The sensor's new cursor; `None` keeps the current one. Schedules have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Keys to add to or delete from dynamic partition sets, applied before the runs
    /// are requested (so a run may name a partition added by the same evaluation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_partitions_requests: Vec<DynamicPartitionsRequest>,
}

/// A change to a dynamic partitions set, requested by a sensor (Dagster's
/// `AddDynamicPartitionsRequest` and `DeleteDynamicPartitionsRequest`). Adding a key the
/// set has, or deleting one it lacks, changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DynamicPartitionsRequest {
    /// Add keys to a set.
    Add {
        /// The set's name, as in
        /// [`PartitionsDefinition::dynamic`](crate::partition::PartitionsDefinition::dynamic).
        partitions_def_name: String,
        /// The keys to add.
        partition_keys: Vec<String>,
    },
    /// Delete keys from a set.
    Delete {
        /// The set's name.
        partitions_def_name: String,
        /// The keys to delete.
        partition_keys: Vec<String>,
    },
}

impl DynamicPartitionsRequest {
    /// Add `keys` to set `name`.
    pub fn add(name: impl Into<String>, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::Add {
            partitions_def_name: name.into(),
            partition_keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// Delete `keys` from set `name`.
    pub fn delete(
        name: impl Into<String>,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self::Delete {
            partitions_def_name: name.into(),
            partition_keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// The name of the dynamic partitions set changed.
    pub fn set_name(&self) -> &str {
        match self {
            Self::Add {
                partitions_def_name,
                ..
            }
            | Self::Delete {
                partitions_def_name,
                ..
            } => partitions_def_name,
        }
    }
}

/// Whether a schedule or sensor runs before anyone starts or stops it. What a person
/// sets through the UI or GraphQL overrides this until it is reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DefaultStatus {
    /// Running from the start.
    Running,
    /// Stopped until someone starts it (the default).
    #[default]
    Stopped,
}

/// Dagster's name for a schedule's [`DefaultStatus`].
pub type DefaultScheduleStatus = DefaultStatus;
/// Dagster's name for a sensor's [`DefaultStatus`].
pub type DefaultSensorStatus = DefaultStatus;

/// A schedule's or sensor's own code failed; the tick fails with this message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EvaluationError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl EvaluationError {
    /// An error with `message` and no cause.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Wrap another error, keeping it as the cause.
    pub fn wrap(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_request_reads_with_defaults_and_refuses_unknown_fields() {
        let r: RunRequest = serde_json::from_str(r#"{"run_key": "a.csv"}"#).unwrap();
        assert_eq!(r, RunRequest::new().run_key("a.csv"));
        let e = serde_json::from_str::<RunRequest>(r#"{"runkey": "a"}"#).unwrap_err();
        assert!(e.to_string().contains("runkey"), "{e}");
    }

    #[test]
    fn an_evaluation_error_keeps_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory");
        let e = EvaluationError::wrap("cannot list /data", io);
        let info = crate::events::ErrorInfo::from_error("EvaluationError", &e);
        let messages: Vec<&str> = info.chain().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["cannot list /data", "no such directory"]);
    }
}
