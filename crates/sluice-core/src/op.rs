//! Ops: the unit of computation. An op is an async function with typed config, typed
//! inputs and outputs, the resources it needs, tags, a retry policy and a timeout.
//!
//! ```
//! use sluice_core::prelude::*;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct AddConfig { amount: i64 }
//!
//! let add = OpDefinition::builder("add")
//!     .config::<AddConfig>()
//!     .input::<i64>("x")
//!     .output::<i64>("result")
//!     .compute(|ctx, inputs| async move {
//!         let x: i64 = inputs.get("x")?;
//!         let config: AddConfig = ctx.config()?;
//!         Ok(x + config.amount)
//!     });
//! assert_eq!(add.name(), "add");
//! ```

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::asset::AssetKey;
use crate::config::ConfigType;
use crate::events::{ErrorInfo, EventSink, LogLevel, RunEvent};
use crate::metadata::{Metadata, MetadataValue};
use crate::partition::{PartitionMapping, PartitionsDefinition, TimeWindow};
use crate::resource::Resources;

/// A value passed between steps. Values are shared, so a fan-out to many steps is free.
pub type StepValue = Arc<dyn Any + Send + Sync>;

/// The Rust type of an input or output, compared when a job is validated.
#[derive(Clone, Copy)]
pub struct DataType {
    id: TypeId,
    name: &'static str,
}

impl DataType {
    pub fn of<T: 'static>() -> Self {
        Self {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
        }
    }

    /// The `TypeId` of the Rust type.
    pub fn rust_type_id(&self) -> TypeId {
        self.id
    }

    /// The type's Rust name, e.g. `i64` or `alloc::vec::Vec<i64>`.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl PartialEq for DataType {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl fmt::Debug for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

type Collect = fn(Vec<StepValue>) -> Result<StepValue, OpError>;

/// How an input receives its value.
#[derive(Clone, Debug)]
pub enum InputKind {
    /// From exactly one upstream output.
    Single,
    /// Fan-in: from any number of upstream outputs of the element type, received as a
    /// `Vec` in the order the dependencies were declared.
    FanIn,
}

/// A declared input of an op.
#[derive(Clone)]
pub struct InputDefinition {
    pub name: String,
    /// For a fan-in input, the element type.
    pub data_type: DataType,
    pub kind: InputKind,
    collect: Option<Collect>,
    /// For an asset's input: the upstream asset, loaded through the IO manager when the
    /// run does not materialize it too.
    pub asset: Option<AssetInput>,
}

/// The upstream asset an input reads, and how its stored value is decoded.
#[derive(Clone, Debug)]
pub struct AssetInput {
    pub key: AssetKey,
    /// The upstream asset's output, as the IO manager stored it.
    pub output: OutputDefinition,
    /// Set for an input that receives every upstream partition the partition mapping
    /// names, as a [`PartitionValues`]; such an input is always loaded through the IO
    /// manager.
    pub partitions: Option<CollectPartitions>,
}

/// The values of several partitions of an upstream asset, by partition key.
pub type PartitionValues<T> = BTreeMap<String, Arc<T>>;

/// Builds the [`PartitionValues`] of an input from the loaded partitions.
#[derive(Clone, Copy)]
pub struct CollectPartitions(fn(Vec<KeyedValue>) -> Result<StepValue, String>);

/// A partition key and the value stored for it.
type KeyedValue = (String, StepValue);

impl CollectPartitions {
    fn of<T: OutputValue>() -> Self {
        Self(|values| {
            let mut map: PartitionValues<T> = BTreeMap::new();
            for (key, value) in values {
                let value = value.downcast::<T>().map_err(|_| {
                    format!(
                        "partition \"{key}\" is not a {}",
                        std::any::type_name::<T>()
                    )
                })?;
                map.insert(key, value);
            }
            Ok(Arc::new(map))
        })
    }

    pub fn collect(&self, values: Vec<KeyedValue>) -> Result<StepValue, String> {
        (self.0)(values)
    }
}

impl fmt::Debug for CollectPartitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CollectPartitions")
    }
}

impl fmt::Debug for InputDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputDefinition")
            .field("name", &self.name)
            .field("data_type", &self.data_type)
            .field("kind", &self.kind)
            .field("asset", &self.asset.as_ref().map(|a| &a.key))
            .finish()
    }
}

/// What an op output's type must be: shareable between steps, and serializable, so that
/// an IO manager can keep it for a later re-execution (as Dagster's default IO manager
/// pickles outputs).
pub trait OutputValue: Serialize + DeserializeOwned + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> OutputValue for T {}

/// A declared output of an op.
#[derive(Clone, Debug)]
pub struct OutputDefinition {
    pub name: String,
    pub data_type: DataType,
    /// An optional output may be left out; steps that consume it are then skipped.
    pub is_required: bool,
    codec: ValueCodec,
}

impl OutputDefinition {
    /// The output's value as JSON bytes.
    pub fn encode(&self, value: &StepValue) -> Result<Vec<u8>, String> {
        (self.codec.encode)(value)
    }

    /// A value of the output's type from JSON bytes written by [`Self::encode`].
    pub fn decode(&self, bytes: &[u8]) -> Result<StepValue, String> {
        (self.codec.decode)(bytes)
    }

    /// Whether the output's values are `T`s: an IO manager may store some types in a
    /// format of their own (Arrow tables as Parquet, say).
    pub fn holds<T: 'static>(&self) -> bool {
        (self.codec.type_id)() == std::any::TypeId::of::<T>()
    }
}

/// Serialization of one output type, captured where the type is known.
#[derive(Clone, Copy)]
struct ValueCodec {
    encode: fn(&StepValue) -> Result<Vec<u8>, String>,
    decode: fn(&[u8]) -> Result<StepValue, String>,
    type_id: fn() -> std::any::TypeId,
}

impl fmt::Debug for ValueCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValueCodec")
    }
}

impl ValueCodec {
    fn of<T: OutputValue>() -> Self {
        Self {
            encode: |value| {
                let value = value
                    .downcast_ref::<T>()
                    .ok_or_else(|| format!("the value is not a {}", std::any::type_name::<T>()))?;
                serde_json::to_vec(value).map_err(|e| e.to_string())
            },
            decode: |bytes| {
                serde_json::from_slice::<T>(bytes)
                    .map(|v| Arc::new(v) as StepValue)
                    .map_err(|e| e.to_string())
            },
            type_id: std::any::TypeId::of::<T>,
        }
    }
}

/// When and how often a failed step runs again (Dagster's `RetryPolicy`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub delay: Duration,
    pub backoff: Backoff,
    pub jitter: Jitter,
}

/// How the delay grows between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// `delay` before every retry.
    Constant,
    /// `delay * attempt`.
    Linear,
    /// `delay * 2^(attempt-1)`.
    Exponential,
}

/// Randomness added to each delay so that retries of many steps do not line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    None,
    /// A uniformly random delay between zero and the computed delay.
    Full,
    /// The computed delay plus or minus up to half of it.
    PlusMinus,
}

impl RetryPolicy {
    /// Retry up to `max_retries` times, immediately.
    pub fn new(max_retries: u32) -> Self {
        Self {
            max_retries,
            delay: Duration::ZERO,
            backoff: Backoff::Constant,
            jitter: Jitter::None,
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let base = match self.backoff {
            Backoff::Constant => self.delay,
            Backoff::Linear => self.delay.saturating_mul(attempt.max(1)),
            Backoff::Exponential => self
                .delay
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))),
        };
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(fastrand::f64()),
            Jitter::PlusMinus => base.mul_f64(0.5 + fastrand::f64()),
        }
    }
}

/// How an op failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A failure that a retry policy may retry.
    #[error("{message}")]
    Failed {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A failure that must not be retried, whatever the policy says (Dagster's
    /// `Failure(allow_retries=False)`).
    #[error("{message}")]
    Fatal { message: String },
    /// User code asks for another attempt (Dagster's `RetryRequested`), even without a
    /// retry policy.
    #[error("retry requested: {message}")]
    RetryRequested {
        message: String,
        max_retries: u32,
        delay: Duration,
    },
    /// An input was missing or of another type than the op asked for.
    #[error("input \"{name}\": {problem}")]
    Input { name: String, problem: String },
    /// The op's config could not be read as the type asked for.
    #[error("config: {0}")]
    Config(String),
    /// A resource was not available as the type asked for.
    #[error("resource \"{key}\": {problem}")]
    Resource { key: String, problem: String },
}

impl OpError {
    /// A retryable failure with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            source: None,
        }
    }

    /// A failure that is never retried.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::Fatal {
            message: message.into(),
        }
    }

    /// Wrap another error, keeping it as the cause.
    pub fn wrap(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Failed {
            message: message.into(),
            source: Some(Box::new(err)),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Failed { .. } => "Failure",
            Self::Fatal { .. } => "Failure",
            Self::RetryRequested { .. } => "RetryRequested",
            Self::Input { .. } => "InputError",
            Self::Config(_) => "ConfigError",
            Self::Resource { .. } => "ResourceError",
        }
    }

    pub(crate) fn info(&self) -> ErrorInfo {
        ErrorInfo::from_error(self.kind(), self)
    }
}

/// Lets `?` turn any error into an op failure that keeps the error as its cause.
pub trait ResultExt<T> {
    /// Turn the error into an [`OpError`] that says what was being done.
    fn context(self, what: impl Into<String>) -> Result<T, OpError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T, OpError> {
        self.map_err(|e| OpError::wrap(what, e))
    }
}

/// The inputs of one step, taken by name.
pub struct Inputs {
    values: HashMap<String, StepValue>,
}

impl Inputs {
    pub(crate) fn new(values: HashMap<String, StepValue>) -> Self {
        Self { values }
    }

    /// The value of input `name` (for a fan-in input of `T`, ask for `Vec<T>`).
    pub fn get<T: Clone + 'static>(&self, name: &str) -> Result<T, OpError> {
        self.get_ref::<T>(name).cloned()
    }

    /// A reference to the value of input `name`, without cloning it.
    pub fn get_ref<T: 'static>(&self, name: &str) -> Result<&T, OpError> {
        let v = self.values.get(name).ok_or_else(|| OpError::Input {
            name: name.to_owned(),
            problem: "this op has no such input".to_owned(),
        })?;
        v.downcast_ref::<T>().ok_or_else(|| OpError::Input {
            name: name.to_owned(),
            problem: format!(
                "asked for {}, but the input has another type",
                std::any::type_name::<T>()
            ),
        })
    }

    /// The shared value of input `name`, without cloning what it holds.
    pub fn get_arc<T: Send + Sync + 'static>(&self, name: &str) -> Result<Arc<T>, OpError> {
        let value = self.values.get(name).ok_or_else(|| OpError::Input {
            name: name.to_owned(),
            problem: "this op has no such input".to_owned(),
        })?;
        Arc::clone(value)
            .downcast::<T>()
            .map_err(|_| OpError::Input {
                name: name.to_owned(),
                problem: format!(
                    "asked for {}, but the input has another type",
                    std::any::type_name::<T>()
                ),
            })
    }
}

/// The outputs an op with several outputs (or optional ones) returns.
#[derive(Default)]
pub struct Outputs {
    values: Vec<(String, StepValue)>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Yield output `name`.
    pub fn with<T: Send + Sync + 'static>(mut self, name: impl Into<String>, value: T) -> Self {
        self.values.push((name.into(), Arc::new(value)));
        self
    }

    pub(crate) fn into_values(self) -> Vec<(String, StepValue)> {
        self.values
    }
}

/// How the value an op's compute function returns becomes its outputs. Chosen by the
/// builder from the outputs declared: none, one typed output, or several.
pub trait OutputShape: Send + Sync + 'static {
    type Value: Send + 'static;
    fn into_outputs(value: Self::Value, outs: &[OutputDefinition]) -> Outputs;
}

/// No outputs: compute returns `()`.
pub struct NoOutput;
/// One output of type `T`: compute returns a `T`.
pub struct Single<T>(PhantomData<fn() -> T>);
/// Several or optional outputs: compute returns [`Outputs`].
pub struct Multi;

impl OutputShape for NoOutput {
    type Value = ();
    fn into_outputs(_: (), _: &[OutputDefinition]) -> Outputs {
        Outputs::new()
    }
}

impl<T: Send + Sync + 'static> OutputShape for Single<T> {
    type Value = T;
    fn into_outputs(value: T, outs: &[OutputDefinition]) -> Outputs {
        let name = outs.first().map_or("result", |o| o.name.as_str());
        Outputs::new().with(name, value)
    }
}

impl OutputShape for Multi {
    type Value = Outputs;
    fn into_outputs(value: Outputs, _: &[OutputDefinition]) -> Outputs {
        value
    }
}

pub(crate) type ComputeFn =
    Arc<dyn Fn(OpContext, Inputs) -> BoxFuture<'static, Result<Outputs, OpError>> + Send + Sync>;

/// Checks that a validated config value also deserializes into the op's config type.
pub(crate) type ConfigCheck = fn(&Value) -> Result<(), String>;

fn check_config<C: DeserializeOwned>(v: &Value) -> Result<(), String> {
    C::deserialize(v).map(|_| ()).map_err(|e| e.to_string())
}

/// An op: a named, reusable computation. Cheap to clone.
#[derive(Clone)]
pub struct OpDefinition(pub(crate) Arc<OpInner>);

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

/// What the executor needs to know of the assets an op computes.
#[derive(Clone, Debug)]
pub struct AssetOp {
    /// The asset each output materializes: `result` for an asset, one output per asset
    /// for a multi-asset.
    pub outputs: BTreeMap<String, AssetKey>,
    /// The op observes a source asset (records its data version) instead of computing it.
    pub observe: bool,
    pub code_version: Option<String>,
    pub partitions: Option<PartitionsDefinition>,
    /// The declared mappings from upstream assets' partitions; the others are
    /// [`PartitionMapping::default_for`] the two partitionings.
    pub partition_mappings: BTreeMap<AssetKey, PartitionMapping>,
}

impl AssetOp {
    /// The asset output `name` materializes.
    pub fn key_of(&self, output: &str) -> Option<&AssetKey> {
        self.outputs.get(output)
    }

    /// The asset the op materializes (for a multi-asset, the first by output name).
    pub fn key(&self) -> Option<&AssetKey> {
        self.outputs.values().next()
    }
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
        OpBuilder {
            name: name.into(),
            description: None,
            config_schema: None,
            config_check: None,
            ins: Vec::new(),
            outs: Vec::new(),
            required_resource_keys: BTreeSet::new(),
            tags: BTreeMap::new(),
            retry_policy: None,
            timeout: None,
            asset: None,
            _shape: PhantomData,
        }
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    pub fn config_schema(&self) -> Option<&ConfigType> {
        self.0.config_schema.as_ref()
    }

    pub fn inputs(&self) -> &[InputDefinition] {
        &self.0.ins
    }

    pub fn outputs(&self) -> &[OutputDefinition] {
        &self.0.outs
    }

    pub fn required_resource_keys(&self) -> &BTreeSet<String> {
        &self.0.required_resource_keys
    }

    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.0.tags
    }

    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        self.0.retry_policy.as_ref()
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.0.timeout
    }

    pub fn input(&self, name: &str) -> Option<&InputDefinition> {
        self.0.ins.iter().find(|i| i.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&OutputDefinition> {
        self.0.outs.iter().find(|o| o.name == name)
    }

    /// The asset this op computes, if it is an asset's op.
    pub fn asset(&self) -> Option<&AssetOp> {
        self.0.asset.as_ref()
    }

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

/// Builds an [`OpDefinition`]. `S` tracks the declared outputs, and with them what the
/// compute function returns.
#[must_use]
pub struct OpBuilder<S> {
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
    _shape: PhantomData<S>,
}

impl<S> OpBuilder<S> {
    fn reshape<S2>(self) -> OpBuilder<S2> {
        OpBuilder {
            name: self.name,
            description: self.description,
            config_schema: self.config_schema,
            config_check: self.config_check,
            ins: self.ins,
            outs: self.outs,
            required_resource_keys: self.required_resource_keys,
            tags: self.tags,
            retry_policy: self.retry_policy,
            timeout: self.timeout,
            asset: self.asset,
            _shape: PhantomData,
        }
    }

    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The op takes config of type `C`, read in compute with [`OpContext::config`].
    pub fn config<C: DeserializeOwned + JsonSchema>(mut self) -> Self {
        self.config_schema = Some(ConfigType::of::<C>());
        self.config_check = Some(check_config::<C>);
        self
    }

    /// An input fed by one upstream output of type `T`.
    pub fn input<T: Send + Sync + 'static>(mut self, name: impl Into<String>) -> Self {
        self.ins.push(InputDefinition {
            name: name.into(),
            data_type: DataType::of::<T>(),
            kind: InputKind::Single,
            collect: None,
            asset: None,
        });
        self
    }

    /// An input that reads asset `key`: from the asset's step when the run materializes
    /// it too, otherwise from what the IO manager stored for it. With `partitions`, the
    /// input receives every upstream partition its mapping names, as a
    /// [`PartitionValues<T>`].
    pub(crate) fn asset_input<T: OutputValue>(
        mut self,
        name: String,
        key: AssetKey,
        partitions: bool,
    ) -> Self {
        let (data_type, partitions) = if partitions {
            (
                DataType::of::<PartitionValues<T>>(),
                Some(CollectPartitions::of::<T>()),
            )
        } else {
            (DataType::of::<T>(), None)
        };
        self.ins.push(InputDefinition {
            name,
            data_type,
            kind: InputKind::Single,
            collect: None,
            asset: Some(AssetInput {
                key,
                output: OutputDefinition {
                    name: "result".to_owned(),
                    data_type: DataType::of::<T>(),
                    is_required: true,
                    codec: ValueCodec::of::<T>(),
                },
                partitions,
            }),
        });
        self
    }

    /// A fan-in input: fed by any number of upstream outputs of type `T`, read in compute
    /// as a `Vec<T>` in the order the dependencies were declared.
    pub fn fan_in_input<T: Clone + Send + Sync + 'static>(
        mut self,
        name: impl Into<String>,
    ) -> Self {
        fn collect<T: Clone + Send + Sync + 'static>(
            values: Vec<StepValue>,
        ) -> Result<StepValue, OpError> {
            let items = values
                .iter()
                .map(|v| v.downcast_ref::<T>().cloned())
                .collect::<Option<Vec<T>>>()
                .ok_or_else(|| OpError::Input {
                    name: "fan-in".to_owned(),
                    problem: "an upstream value has another type".to_owned(),
                })?;
            Ok(Arc::new(items))
        }
        self.ins.push(InputDefinition {
            name: name.into(),
            data_type: DataType::of::<T>(),
            kind: InputKind::FanIn,
            collect: Some(collect::<T>),
            asset: None,
        });
        self
    }

    /// The op needs the resource bound to `key`, read with [`OpContext::resource`].
    pub fn required_resource(mut self, key: impl Into<String>) -> Self {
        self.required_resource_keys.insert(key.into());
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    /// Fail an attempt that takes longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn push_output<T: OutputValue>(&mut self, name: String, is_required: bool) {
        self.outs.push(output_definition::<T>(name, is_required));
    }

    /// An output that may be left out of the returned [`Outputs`]; steps that consume it
    /// are then skipped.
    pub fn optional_output<T: OutputValue>(mut self, name: impl Into<String>) -> OpBuilder<Multi> {
        self.push_output::<T>(name.into(), false);
        self.reshape()
    }

    fn finish<F, Fut>(self, f: F) -> OpDefinition
    where
        S: OutputShape,
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Value, OpError>> + Send + 'static,
    {
        let outs_for_compute = self.outs.clone();
        let compute: ComputeFn = Arc::new(move |ctx, inputs| {
            let fut = f(ctx, inputs);
            let outs = outs_for_compute.clone();
            Box::pin(async move { fut.await.map(|v| S::into_outputs(v, &outs)) })
        });
        OpDefinition(Arc::new(OpInner {
            name: self.name,
            description: self.description,
            config_schema: self.config_schema,
            config_check: self.config_check,
            ins: self.ins,
            outs: self.outs,
            required_resource_keys: self.required_resource_keys,
            tags: self.tags,
            retry_policy: self.retry_policy,
            timeout: self.timeout,
            compute,
            asset: self.asset,
        }))
    }
}

/// The definition of an output `name` of type `T`.
pub(crate) fn output_definition<T: OutputValue>(
    name: String,
    is_required: bool,
) -> OutputDefinition {
    OutputDefinition {
        name,
        data_type: DataType::of::<T>(),
        is_required,
        codec: ValueCodec::of::<T>(),
    }
}

impl OpBuilder<NoOutput> {
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
        self.outs = outputs;
        self.asset = Some(asset);
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
        self.asset = Some(asset);
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

/// What a step's compute function sees of its run: config, resources, logging,
/// cancellation. Cheap to clone.
#[derive(Clone)]
pub struct OpContext(Arc<ContextInner>);

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

    pub fn run_id(&self) -> &str {
        &self.0.run_id
    }

    /// The step's key: the op's alias in its job.
    pub fn step_key(&self) -> &str {
        &self.0.step_key
    }

    pub fn op_name(&self) -> &str {
        &self.0.op_name
    }

    /// 0 for the first attempt, 1 for the first retry, and so on.
    pub fn retry_number(&self) -> u32 {
        self.0.attempt
    }

    /// The op's config, as the type declared with [`OpBuilder::config`].
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

    pub fn debug(&self, message: impl Into<String>) {
        self.log(LogLevel::Debug, message);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message);
    }

    pub fn warning(&self, message: impl Into<String>) {
        self.log(LogLevel::Warning, message);
    }

    pub fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_and_jitter() {
        let p = RetryPolicy::new(5)
            .with_delay(Duration::from_millis(100))
            .with_backoff(Backoff::Exponential);
        assert_eq!(p.delay_for(1), Duration::from_millis(100));
        assert_eq!(p.delay_for(3), Duration::from_millis(400));
        let lin = p.clone().with_backoff(Backoff::Linear);
        assert_eq!(lin.delay_for(3), Duration::from_millis(300));
        let j = p.with_jitter(Jitter::Full);
        for _ in 0..50 {
            assert!(j.delay_for(2) <= Duration::from_millis(200));
        }
    }

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
