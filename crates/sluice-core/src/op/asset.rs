//! [`AssetOp`]: what the op of an asset, a multi-asset or a source asset's observation
//! carries of its assets, for the executor to materialize them.

use std::collections::BTreeMap;

use crate::asset::AssetKey;
use crate::partition::{PartitionMapping, PartitionsDefinition};

/// What the executor needs to know of the assets an op computes.
#[derive(Clone, Debug)]
pub struct AssetOp {
    /// The asset each output materializes: `result` for an asset, one output per asset
    /// for a multi-asset.
    pub outputs: BTreeMap<String, AssetKey>,
    /// The op observes a source asset (records its data version) instead of computing it.
    pub observe: bool,
    /// The assets' code version, recorded with each materialization.
    pub code_version: Option<String>,
    /// How the assets are partitioned, if they are.
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
