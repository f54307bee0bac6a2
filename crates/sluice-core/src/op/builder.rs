//! The typed builder of ops: [`OpBuilder`] records an op's declarations (config,
//! inputs, outputs, resources, tags, retries, timeout), and its type parameter, an
//! [`OutputShape`], follows the outputs declared so that `compute` takes a function
//! returning the right value.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::asset::AssetOp;
use super::compute::{ComputeFn, Inputs, Multi, NoOutput, OutputShape, Outputs, Single};
use super::context::OpContext;
use super::definition::{ConfigCheck, OpDefinition, OpInner};
use super::error::OpError;
use super::input::InputDefinition;
use super::retry::RetryPolicy;
use super::value::{OutputDefinition, OutputValue, output_definition};
use crate::asset::AssetKey;
use crate::config::ConfigType;

/// Builds an [`OpDefinition`]. `S` tracks the declared outputs, and with them what the
/// compute function returns.
#[must_use]
pub struct OpBuilder<S> {
    declared: Declared,
    _shape: PhantomData<S>,
}

/// What an op declares before its compute function is given.
#[derive(Default)]
struct Declared {
    name: String,
    description: Option<String>,
    config_schema: Option<ConfigType>,
    config_check: Option<ConfigCheck>,
    ins: Vec<InputDefinition>,
    outs: Vec<OutputDefinition>,
    required_resource_keys: BTreeSet<String>,
    tags: BTreeMap<String, String>,
    retry_policy: Option<RetryPolicy>,
    timeout: Option<Duration>,
    asset: Option<AssetOp>,
}

impl<S> OpBuilder<S> {
    /// The same declarations, with the output shape `S2`.
    fn reshape<S2>(self) -> OpBuilder<S2> {
        OpBuilder {
            declared: self.declared,
            _shape: PhantomData,
        }
    }

    /// Describe what the op does.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.declared.description = Some(description.into());
        self
    }

    /// The op takes config of type `C`, read in compute with [`OpContext::config`].
    pub fn config<C: DeserializeOwned + JsonSchema>(mut self) -> Self {
        self.declared.config_schema = Some(ConfigType::of::<C>());
        self.declared.config_check = Some(check_config::<C>);
        self
    }

    /// An input fed by one upstream output of type `T`.
    pub fn input<T: Send + Sync + 'static>(mut self, name: impl Into<String>) -> Self {
        self.declared
            .ins
            .push(InputDefinition::single::<T>(name.into()));
        self
    }

    /// An input that reads asset `key`: from the asset's step when the run materializes
    /// it too, otherwise from what the IO manager stored for it. With `partitions`, the
    /// input receives every upstream partition its mapping names, as a
    /// [`PartitionValues<T>`](super::PartitionValues).
    pub(crate) fn asset_input<T: OutputValue>(
        mut self,
        name: String,
        key: AssetKey,
        partitions: bool,
    ) -> Self {
        self.declared
            .ins
            .push(InputDefinition::of_asset::<T>(name, key, partitions));
        self
    }

    /// A fan-in input: fed by any number of upstream outputs of type `T`, read in compute
    /// as a `Vec<T>` in the order the dependencies were declared.
    pub fn fan_in_input<T: Clone + Send + Sync + 'static>(
        mut self,
        name: impl Into<String>,
    ) -> Self {
        self.declared
            .ins
            .push(InputDefinition::fan_in::<T>(name.into()));
        self
    }

    /// The op needs the resource bound to `key`, read with [`OpContext::resource`].
    pub fn required_resource(mut self, key: impl Into<String>) -> Self {
        self.declared.required_resource_keys.insert(key.into());
        self
    }

    /// Tag the op with `key` = `value`.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.declared.tags.insert(key.into(), value.into());
        self
    }

    /// Run a failed step of the op again as `policy` says.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.declared.retry_policy = Some(policy);
        self
    }

    /// Fail an attempt that takes longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.declared.timeout = Some(timeout);
        self
    }

    /// Declare output `name` of type `T`.
    fn push_output<T: OutputValue>(&mut self, name: String, is_required: bool) {
        self.declared
            .outs
            .push(output_definition::<T>(name, is_required));
    }

    /// An output that may be left out of the returned [`Outputs`]; steps that consume it
    /// are then skipped.
    pub fn optional_output<T: OutputValue>(mut self, name: impl Into<String>) -> OpBuilder<Multi> {
        self.push_output::<T>(name.into(), false);
        self.reshape()
    }

    /// Finish the op with compute function `f`, whose value becomes the outputs as `S`
    /// says.
    fn finish<F, Fut>(self, f: F) -> OpDefinition
    where
        S: OutputShape,
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Value, OpError>> + Send + 'static,
    {
        let outs_for_compute = self.declared.outs.clone();
        let compute: ComputeFn = Arc::new(move |ctx, inputs| {
            let fut = f(ctx, inputs);
            let outs = outs_for_compute.clone();
            Box::pin(async move { fut.await.map(|v| S::into_outputs(v, &outs)) })
        });
        let d = self.declared;
        OpDefinition(Arc::new(OpInner {
            name: d.name,
            description: d.description,
            config_schema: d.config_schema,
            config_check: d.config_check,
            ins: d.ins,
            outs: d.outs,
            required_resource_keys: d.required_resource_keys,
            tags: d.tags,
            retry_policy: d.retry_policy,
            timeout: d.timeout,
            compute,
            asset: d.asset,
        }))
    }
}

impl OpBuilder<NoOutput> {
    /// A builder of an op named `name` that declares nothing yet.
    pub(super) fn new(name: String) -> Self {
        OpBuilder {
            declared: Declared {
                name,
                ..Declared::default()
            },
            _shape: PhantomData,
        }
    }

    /// Finish the op of a multi-asset: `outputs`, one per asset, and a compute function
    /// that returns them as [`Outputs`].
    pub(crate) fn compute_multi_asset<F, Fut>(
        mut self,
        outputs: Vec<OutputDefinition>,
        asset: AssetOp,
        f: F,
    ) -> OpDefinition
    where
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outputs, OpError>> + Send + 'static,
    {
        self.declared.outs = outputs;
        self.declared.asset = Some(asset);
        self.reshape::<Multi>().finish(f)
    }

    /// Declare the op's output `name` of type `T`; compute then returns a `T`.
    pub fn output<T: OutputValue>(mut self, name: impl Into<String>) -> OpBuilder<Single<T>> {
        self.push_output::<T>(name.into(), true);
        self.reshape()
    }

    /// Finish the op with its compute function, which returns nothing.
    pub fn compute<F, Fut>(self, f: F) -> OpDefinition
    where
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), OpError>> + Send + 'static,
    {
        self.finish(f)
    }
}

impl<T: Send + Sync + 'static> OpBuilder<Single<T>> {
    /// Declare a second output; compute then returns [`Outputs`].
    pub fn output<U: OutputValue>(mut self, name: impl Into<String>) -> OpBuilder<Multi> {
        self.push_output::<U>(name.into(), true);
        self.reshape()
    }

    /// Finish the op with its compute function, which returns the output's value.
    pub fn compute<F, Fut>(self, f: F) -> OpDefinition
    where
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, OpError>> + Send + 'static,
    {
        self.finish(f)
    }

    /// Finish the op that computes `asset`.
    pub(crate) fn compute_asset<F, Fut>(mut self, asset: AssetOp, f: F) -> OpDefinition
    where
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, OpError>> + Send + 'static,
    {
        self.declared.asset = Some(asset);
        self.finish(f)
    }
}

impl OpBuilder<Multi> {
    /// Declare another output.
    pub fn output<U: OutputValue>(mut self, name: impl Into<String>) -> OpBuilder<Multi> {
        self.push_output::<U>(name.into(), true);
        self
    }

    /// Finish the op with its compute function, which returns [`Outputs`].
    pub fn compute<F, Fut>(self, f: F) -> OpDefinition
    where
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outputs, OpError>> + Send + 'static,
    {
        self.finish(f)
    }
}

/// Reads a validated config value as the op's config type `C`, for [`ConfigCheck`].
fn check_config<C: DeserializeOwned>(v: &Value) -> Result<(), String> {
    C::deserialize(v).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::value::DataType;
    use super::*;

    #[test]
    fn builder_records_declarations() {
        let op = OpDefinition::builder("two")
            .input::<i64>("x")
            .fan_in_input::<String>("names")
            .output::<i64>("a")
            .output::<String>("b")
            .required_resource("db")
            .tag("team", "billing")
            .compute(|_, _| async { Ok(Outputs::new()) });
        assert_eq!(op.inputs().len(), 2);
        assert_eq!(op.outputs()[1].data_type, DataType::of::<String>());
        assert!(op.required_resource_keys().contains("db"));
        assert_eq!(op.tags()["team"], "billing");
    }
}
