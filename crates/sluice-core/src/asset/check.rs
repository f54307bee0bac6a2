//! Asset checks (data-quality validation): a function of an asset's value that passes
//! or fails with a severity, run after the asset in the same run or on its own.
//!
//! A check is an op named `<asset op>_<check>` with one input, `asset`, fed by the
//! asset's step when the run materializes the asset, otherwise loaded through the IO
//! manager. Each evaluation is an ASSET_CHECK_EVALUATION event. A *blocking* check whose
//! ERROR-severity result fails also fails its step, and the asset jobs order the asset's
//! downstream assets after it, so they are skipped.
//!
//! ```
//! use std::sync::Arc;
//! use sluice_core::asset::{AssetCheckDefinition, AssetCheckResult};
//!
//! let no_negative = AssetCheckDefinition::builder("no_negative_amounts", "staging/orders")
//!     .blocking(true)
//!     .compute(|_, orders: Arc<Vec<i64>>| async move {
//!         let bad = orders.iter().filter(|o| **o < 0).count() as i64;
//!         Ok(AssetCheckResult::new(bad == 0).metadata("negative_rows", bad))
//!     });
//! assert_eq!(no_negative.op().name(), "staging__orders_no_negative_amounts");
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{AssetKey, AssetKeyError};
use crate::events::{EventData, EventType, LogLevel, RunEvent};
use crate::metadata::{Metadata, MetadataValue};
use crate::op::{OpContext, OpDefinition, OpError, OutputValue};

/// How bad a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetCheckSeverity {
    /// A failure is a warning: it never fails the step.
    Warn,
    /// A failure is an error: a blocking check's failure fails its step (the default).
    #[default]
    Error,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct AssetCheckResult {
    /// Whether the check passed.
    pub passed: bool,
    /// How bad a failure is; ERROR unless set.
    pub severity: AssetCheckSeverity,
    /// Metadata entries about what was checked (row counts, offending values).
    pub metadata: Metadata,
    /// A description of the result, if one was given.
    pub description: Option<String>,
}

impl AssetCheckResult {
    /// A result that passed or not, of ERROR severity.
    pub fn new(passed: bool) -> Self {
        Self {
            passed,
            severity: AssetCheckSeverity::Error,
            metadata: Metadata::new(),
            description: None,
        }
    }

    /// With this severity instead of ERROR.
    pub fn severity(mut self, severity: AssetCheckSeverity) -> Self {
        self.severity = severity;
        self
    }

    /// Add a metadata entry.
    pub fn metadata(mut self, label: impl Into<String>, value: impl Into<MetadataValue>) -> Self {
        self.metadata.insert(label.into(), value.into());
        self
    }

    /// Describe the result.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// An evaluation of a check, as its event records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetCheckEvaluation {
    /// The checked asset.
    pub asset_key: AssetKey,
    /// The check's name.
    pub check_name: String,
    /// Whether the check passed.
    pub passed: bool,
    /// How bad a failure is.
    pub severity: AssetCheckSeverity,
    /// The result's metadata entries.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// The result's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The checked partition; `None` for an unpartitioned asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// A check of an asset. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AssetCheckDefinition(Arc<CheckInner>);

#[derive(Debug)]
struct CheckInner {
    name: String,
    asset: AssetKey,
    description: Option<String>,
    blocking: bool,
    op: OpDefinition,
    key_error: Option<AssetKeyError>,
}

impl AssetCheckDefinition {
    /// Start defining check `name` of the asset at `asset` (parts joined by `/`).
    pub fn builder(name: impl Into<String>, asset: &str) -> AssetCheckBuilder {
        let (asset, key_error) = match AssetKey::parse(asset) {
            Ok(key) => (key, None),
            Err(e) => (AssetKey::unchecked(asset), Some(e)),
        };
        AssetCheckBuilder {
            name: name.into(),
            asset,
            description: None,
            blocking: false,
            resources: Vec::new(),
            key_error,
        }
    }

    /// The check's name, unique among the asset's checks.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The asset it checks.
    pub fn asset(&self) -> &AssetKey {
        &self.0.asset
    }

    /// The check's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Whether an ERROR failure stops the asset's downstream assets.
    pub fn is_blocking(&self) -> bool {
        self.0.blocking
    }

    /// The op that evaluates it.
    pub fn op(&self) -> &OpDefinition {
        &self.0.op
    }

    pub(crate) fn key_error(&self) -> Option<&AssetKeyError> {
        self.0.key_error.as_ref()
    }
}

/// Builds an [`AssetCheckDefinition`].
#[must_use]
pub struct AssetCheckBuilder {
    name: String,
    asset: AssetKey,
    description: Option<String>,
    blocking: bool,
    resources: Vec<String>,
    key_error: Option<AssetKeyError>,
}

impl AssetCheckBuilder {
    /// A description, shown in the UI.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// An ERROR failure fails the check's step and skips the asset's downstream assets
    /// in the same run.
    pub fn blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }

    /// The check needs the resource bound to `key`.
    pub fn required_resource(mut self, key: impl Into<String>) -> Self {
        self.resources.push(key.into());
        self
    }

    /// Finish the check with its function, which receives the asset's value.
    pub fn compute<T, F, Fut>(self, f: F) -> AssetCheckDefinition
    where
        T: OutputValue,
        F: Fn(OpContext, Arc<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AssetCheckResult, OpError>> + Send + 'static,
    {
        let f = Arc::new(f);
        let (asset, name, blocking) = (self.asset.clone(), self.name.clone(), self.blocking);
        let mut op = OpDefinition::builder(format!("{}_{}", self.asset.op_name(), self.name))
            .asset_input::<T>("asset".to_owned(), self.asset.clone(), false);
        if let Some(d) = &self.description {
            op = op.description(d.clone());
        }
        for key in self.resources {
            op = op.required_resource(key);
        }
        let op = op.compute(move |ctx, inputs| {
            let f = Arc::clone(&f);
            let (asset, name) = (asset.clone(), name.clone());
            async move {
                let value = inputs.get_arc::<T>("asset")?;
                let result = f(ctx.clone(), value).await?;
                let failed = !result.passed;
                let stops = failed && blocking && result.severity == AssetCheckSeverity::Error;
                record(&ctx, &asset, &name, result);
                if stops {
                    return Err(OpError::fatal(format!(
                        "blocking check \"{name}\" of asset \"{asset}\" failed"
                    )));
                }
                Ok(())
            }
        });
        AssetCheckDefinition(Arc::new(CheckInner {
            name: self.name,
            asset: self.asset,
            description: self.description,
            blocking: self.blocking,
            op,
            key_error: self.key_error,
        }))
    }
}

/// The ASSET_CHECK_EVALUATION event of `result`.
fn record(ctx: &OpContext, asset: &AssetKey, name: &str, result: AssetCheckResult) {
    let (verdict, level) = match (result.passed, result.severity) {
        (true, _) => ("passed", LogLevel::Info),
        (false, AssetCheckSeverity::Warn) => ("failed (WARN)", LogLevel::Warning),
        (false, AssetCheckSeverity::Error) => ("failed (ERROR)", LogLevel::Error),
    };
    let evaluation = AssetCheckEvaluation {
        asset_key: asset.clone(),
        check_name: name.to_owned(),
        passed: result.passed,
        severity: result.severity,
        metadata: result.metadata,
        description: result.description,
        partition: ctx.partition_key().map(str::to_owned),
    };
    ctx.emit(
        RunEvent::new(
            ctx.run_id(),
            EventType::AssetCheckEvaluation,
            format!("Check \"{name}\" of asset \"{asset}\" {verdict}."),
        )
        .step(ctx.step_key().to_owned())
        .level(level)
        .data(EventData::CheckEvaluation(Box::new(evaluation))),
    );
}
