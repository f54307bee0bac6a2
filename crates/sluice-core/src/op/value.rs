//! The values that pass between steps, their Rust types, and the declared outputs that
//! produce them: [`StepValue`], [`DataType`], [`OutputValue`] and [`OutputDefinition`],
//! with the JSON codec an output carries so that an IO manager can store its values.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value passed between steps. Values are shared, so a fan-out to many steps is free.
pub type StepValue = Arc<dyn Any + Send + Sync>;

/// The Rust type of an input or output, compared when a job is validated.
#[derive(Clone, Copy)]
pub struct DataType {
    id: TypeId,
    name: &'static str,
}

impl DataType {
    /// The data type of Rust type `T`.
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

/// What an op output's type must be: shareable between steps, and serializable, so that
/// an IO manager can keep it for a later re-execution (as Dagster's default IO manager
/// pickles outputs).
pub trait OutputValue: Serialize + DeserializeOwned + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> OutputValue for T {}

/// A declared output of an op.
#[derive(Clone, Debug)]
pub struct OutputDefinition {
    /// The output's name, unique among the op's outputs.
    pub name: String,
    /// The Rust type of the output's values.
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
