//! Dynamic partitions: the keys of each named set, kept in storage rather than in the
//! definitions.

use async_trait::async_trait;
use sluice_core::partition::{PartitionsContext, PartitionsDefinition};

use crate::api::Storage;
use crate::error::Result;

/// The keys of the instance's dynamic partition sets.
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait PartitionStorage: Send + Sync {
    /// The keys of dynamic partitions set `name`, in the order they were added.
    async fn dynamic_partition_keys(&self, name: &str) -> Result<Vec<String>>;

    /// Add the `keys` that set `name` does not have yet, in order, and return them: a
    /// key added twice is added once. A key that is not a valid partition key is refused
    /// and nothing is added.
    async fn add_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>>;

    /// Delete `keys` from set `name`; returns those it had, in the order given.
    async fn delete_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>>;
}

/// What the keys of `definitions` depend on now: the time, and the keys of the dynamic
/// sets they name, read from `storage`.
pub async fn partitions_context<'a>(
    storage: &dyn Storage,
    definitions: impl IntoIterator<Item = &'a PartitionsDefinition>,
) -> Result<PartitionsContext> {
    let mut ctx = PartitionsContext::at(sluice_core::chrono::Utc::now());
    let mut names: Vec<&str> = definitions
        .into_iter()
        .flat_map(PartitionsDefinition::dynamic_names)
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let keys = storage.dynamic_partition_keys(name).await?;
        ctx = ctx.with_dynamic(name, keys);
    }
    Ok(ctx)
}
