//! The declared inputs of an op: [`InputDefinition`] and its [`InputKind`], the upstream
//! asset an asset's input reads ([`AssetInput`]), and how the values of a fan-in input or
//! of an input of several partitions ([`PartitionValues`]) are put together.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::error::OpError;
use super::value::{DataType, OutputDefinition, OutputValue, StepValue, output_definition};
use crate::asset::AssetKey;

/// Builds the value of a fan-in input from the upstream values.
pub(super) type Collect = fn(Vec<StepValue>) -> Result<StepValue, OpError>;

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
    /// The input's name, unique among the op's inputs.
    pub name: String,
    /// For a fan-in input, the element type.
    pub data_type: DataType,
    /// Whether the input takes one upstream output or fans in several.
    pub kind: InputKind,
    /// For a fan-in input, how the upstream values become one `Vec`.
    pub(super) collect: Option<Collect>,
    /// For an asset's input: the upstream asset, loaded through the IO manager when the
    /// run does not materialize it too.
    pub asset: Option<AssetInput>,
}

impl InputDefinition {
    /// An input fed by one upstream output of type `T`.
    pub(super) fn single<T: 'static>(name: String) -> Self {
        Self {
            name,
            data_type: DataType::of::<T>(),
            kind: InputKind::Single,
            collect: None,
            asset: None,
        }
    }

    /// A fan-in input: fed by any number of upstream outputs of type `T`, read as a
    /// `Vec<T>`.
    pub(super) fn fan_in<T: Clone + Send + Sync + 'static>(name: String) -> Self {
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
        Self {
            name,
            data_type: DataType::of::<T>(),
            kind: InputKind::FanIn,
            collect: Some(collect::<T>),
            asset: None,
        }
    }

    /// An input that reads asset `key`, whose values are `T`s; with `partitions`, every
    /// upstream partition its mapping names, as a [`PartitionValues<T>`].
    pub(super) fn of_asset<T: OutputValue>(name: String, key: AssetKey, partitions: bool) -> Self {
        let (data_type, partitions) = if partitions {
            (
                DataType::of::<PartitionValues<T>>(),
                Some(CollectPartitions::of::<T>()),
            )
        } else {
            (DataType::of::<T>(), None)
        };
        Self {
            name,
            data_type,
            kind: InputKind::Single,
            collect: None,
            asset: Some(AssetInput {
                key,
                output: output_definition::<T>("result".to_owned(), true),
                partitions,
            }),
        }
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

/// The upstream asset an input reads, and how its stored value is decoded.
#[derive(Clone, Debug)]
pub struct AssetInput {
    /// The upstream asset.
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

    /// The [`PartitionValues`] of the loaded `(partition key, value)` pairs, or which
    /// partition holds a value of another type.
    pub fn collect(&self, values: Vec<KeyedValue>) -> Result<StepValue, String> {
        (self.0)(values)
    }
}

impl fmt::Debug for CollectPartitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CollectPartitions")
    }
}
