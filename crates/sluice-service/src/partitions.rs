//! Dynamic partitions: the keys of a set a location uses, added and deleted by request.

use std::collections::HashSet;

use sluice_core::partition::{PartitionsContext, PartitionsDefinition};

use crate::Service;
use crate::error::{Error, Result};

impl Service {
    /// What the keys of `definitions` depend on now: the time, and the keys of the
    /// dynamic sets among them, read from storage.
    pub async fn partitions_context<'a>(
        &self,
        definitions: impl IntoIterator<Item = &'a PartitionsDefinition>,
    ) -> Result<PartitionsContext> {
        Ok(sluice_storage::partitions_context(self.storage().as_ref(), definitions).await?)
    }

    /// Check that `location` uses the dynamic partitions set `name`.
    async fn dynamic_set(&self, location: &str, name: &str) -> Result<()> {
        let (_, snapshot) = self
            .loaded_location(location)
            .await?
            .ok_or_else(|| Error::LocationNotFound(location.to_owned()))?;
        let sets = snapshot.dynamic_partition_sets();
        if sets.contains(name) {
            Ok(())
        } else {
            Err(Error::DynamicPartitionsNotFound {
                location: location.to_owned(),
                name: name.to_owned(),
                known: sets.into_iter().map(str::to_owned).collect(),
            })
        }
    }

    /// The keys of dynamic partitions set `name` of `location`, in the order added.
    pub async fn dynamic_partition_keys(&self, location: &str, name: &str) -> Result<Vec<String>> {
        self.dynamic_set(location, name).await?;
        Ok(self.storage.dynamic_partition_keys(name).await?)
    }

    /// Add `keys` to dynamic set `name` of `location`, all or none: a key the set has
    /// already (or that is given twice, or is not a valid key) is refused, and nothing is
    /// added.
    pub async fn add_dynamic_partitions(
        &self,
        location: &str,
        name: &str,
        keys: &[String],
    ) -> Result<()> {
        self.dynamic_set(location, name).await?;
        let duplicate = |key: &String| Error::DuplicateDynamicPartition {
            name: name.to_owned(),
            key: key.clone(),
        };
        let existing: HashSet<String> = self
            .storage
            .dynamic_partition_keys(name)
            .await?
            .into_iter()
            .collect();
        let mut given = HashSet::new();
        if let Some(dup) = keys
            .iter()
            .find(|k| existing.contains(*k) || !given.insert(*k))
        {
            return Err(duplicate(dup));
        }
        let added = self.storage.add_dynamic_partitions(name, keys).await?;
        // Another writer may have added one of them since they were read.
        if let Some(raced) = keys.iter().find(|k| !added.contains(k)) {
            return Err(duplicate(raced));
        }
        tracing::info!(set = name, count = keys.len(), "dynamic partitions added");
        Ok(())
    }

    /// Delete `keys` from dynamic set `name` of `location`; returns those it had.
    pub async fn delete_dynamic_partitions(
        &self,
        location: &str,
        name: &str,
        keys: &[String],
    ) -> Result<Vec<String>> {
        self.dynamic_set(location, name).await?;
        Ok(self.storage.delete_dynamic_partitions(name, keys).await?)
    }
}
