//! Software-defined assets: keys, the graph they form, and selections of it.
//!
//! - [`AssetDefinition`]: an asset and the op that computes it; [`multi_asset`] for one
//!   op that computes several.
//! - [`AssetCheckDefinition`]: a data-quality check of an asset, blocking or not.
//! - [`AssetKey`]: a multi-part path (`source/gocardless/extract/transactions`).
//! - [`AssetGraph`]: the assets of a location and their dependencies, checked for
//!   duplicate keys, dependencies on unknown keys and cycles.
//! - [`AssetSelection`]: Dagster's selection algebra and its string syntax
//!   (`*warehouse/orders`, `raw+`, `group:staging and not tag:tier=gold`).

mod backfill_policy;
mod check;
mod definition;
mod graph;
mod job;
mod key;
mod multi;
mod selection;

pub use backfill_policy::BackfillPolicy;
pub use check::{
    AssetCheckBuilder, AssetCheckDefinition, AssetCheckEvaluation, AssetCheckResult,
    AssetCheckSeverity,
};
pub use definition::{
    AssetBuilder, AssetDefinition, AssetDep, DEFAULT_GROUP, DataVersion, OneAsset,
};
pub use graph::{AssetGraph, AssetGraphProblem, AssetNode};
pub use job::{ASSET_JOB_NAME, AssetJobDefinition, define_asset_job};
pub(crate) use job::{build_nodes, partitionings};
pub use key::{AssetKey, AssetKeyError};
pub use multi::{ManyAssets, multi_asset};
pub use selection::{AssetSelection, SelectionError};
