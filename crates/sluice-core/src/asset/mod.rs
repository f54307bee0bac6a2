//! Software-defined assets: keys, the graph they form, and selections of it.
//!
//! - [`AssetKey`]: a multi-part path (`source/gocardless/extract/transactions`).
//! - [`AssetGraph`]: the assets of a location and their dependencies, checked for
//!   duplicate keys, dependencies on unknown keys and cycles.
//! - [`AssetSelection`]: Dagster's selection algebra and its string syntax
//!   (`*warehouse/orders`, `raw+`, `group:staging and not tag:tier=gold`).

mod graph;
mod key;
mod selection;

pub use graph::{AssetGraph, AssetGraphProblem, AssetNode};
pub use key::{AssetKey, AssetKeyError};
pub use selection::{AssetSelection, SelectionError};
