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
//!
//! Where things live: the op itself ([`OpDefinition`]) in `definition`, its typed
//! builder in `builder`, what compute takes and returns ([`Inputs`], [`Outputs`] and the
//! output shapes) in `compute`, what it sees of its run ([`OpContext`]) in `context`,
//! declared inputs in `input`, values, their types and declared outputs in `value`,
//! failures in `error`, retries in `retry`, and what an asset's op carries of its
//! assets ([`AssetOp`]) in `asset`. Every public item is re-exported here.

#![warn(missing_docs)]

mod asset;
mod builder;
mod compute;
mod context;
mod definition;
mod error;
mod input;
mod retry;
mod value;

pub use asset::AssetOp;
pub use builder::OpBuilder;
pub use compute::{Inputs, Multi, NoOutput, OutputShape, Outputs, Single};
pub(crate) use context::ContextInner;
pub use context::OpContext;
pub(crate) use definition::ConfigCheck;
pub use definition::OpDefinition;
pub use error::{OpError, ResultExt};
pub use input::{AssetInput, CollectPartitions, InputDefinition, InputKind, PartitionValues};
pub use retry::{Backoff, Jitter, RetryPolicy};
pub(crate) use value::output_definition;
pub use value::{DataType, OutputDefinition, OutputValue, StepValue};
