//! The op itself: [`OpDefinition`], a cheap handle on everything the builder declared
//! and the compute function, and what jobs, validation and the executor read of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::asset::AssetOp;
use super::builder::OpBuilder;
use super::compute::{ComputeFn, NoOutput};
use super::error::OpError;
use super::input::InputDefinition;
use super::retry::RetryPolicy;
use super::value::{OutputDefinition, StepValue};
use crate::config::ConfigType;

/// Checks that a validated config value also deserializes into the op's config type.
pub(crate) type ConfigCheck = fn(&Value) -> Result<(), String>;

/// An op: a named, reusable computation. Cheap to clone.
#[derive(Clone)]
pub struct OpDefinition(pub(crate) Arc<OpInner>);

/// What an [`OpDefinition`] shares between its clones.
pub(crate) struct OpInner {
    pub name: String,
    pub description: Option<String>,
    pub config_schema: Option<ConfigType>,
    pub config_check: Option<ConfigCheck>,
    pub ins: Vec<InputDefinition>,
    pub outs: Vec<OutputDefinition>,
    pub required_resource_keys: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
    pub retry_policy: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
    pub compute: ComputeFn,
    /// Set when the op computes an asset.
    pub asset: Option<AssetOp>,
}

impl fmt::Debug for OpDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpDefinition")
            .field("name", &self.0.name)
            .field("ins", &self.0.ins)
            .field("outs", &self.0.outs)
            .finish_non_exhaustive()
    }
}

impl OpDefinition {
    /// Start defining an op named `name`.
    pub fn builder(name: impl Into<String>) -> OpBuilder<NoOutput> {
        OpBuilder::new(name.into())
    }

    /// The op's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// What the op does, as its author described it.
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The schema of the op's config, if it takes config.
    pub fn config_schema(&self) -> Option<&ConfigType> {
        self.0.config_schema.as_ref()
    }

    /// The op's inputs, in the order they were declared.
    pub fn inputs(&self) -> &[InputDefinition] {
        &self.0.ins
    }

    /// The op's outputs, in the order they were declared.
    pub fn outputs(&self) -> &[OutputDefinition] {
        &self.0.outs
    }

    /// The keys of the resources the op needs.
    pub fn required_resource_keys(&self) -> &BTreeSet<String> {
        &self.0.required_resource_keys
    }

    /// The op's tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.0.tags
    }

    /// When a failed step of the op runs again, if ever.
    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        self.0.retry_policy.as_ref()
    }

    /// How long an attempt may take before it fails.
    pub fn timeout(&self) -> Option<Duration> {
        self.0.timeout
    }

    /// The input named `name`.
    pub fn input(&self, name: &str) -> Option<&InputDefinition> {
        self.0.ins.iter().find(|i| i.name == name)
    }

    /// The output named `name`.
    pub fn output(&self, name: &str) -> Option<&OutputDefinition> {
        self.0.outs.iter().find(|o| o.name == name)
    }

    /// The asset this op computes, if it is an asset's op.
    pub fn asset(&self) -> Option<&AssetOp> {
        self.0.asset.as_ref()
    }

    /// The value of fan-in input `input` from its upstream `values`.
    pub(crate) fn collect_fan_in(
        &self,
        input: &str,
        values: Vec<StepValue>,
    ) -> Result<StepValue, OpError> {
        match self.input(input).and_then(|i| i.collect) {
            Some(collect) => collect(values),
            None => Err(OpError::Input {
                name: input.to_owned(),
                problem: "not a fan-in input".to_owned(),
            }),
        }
    }
}
