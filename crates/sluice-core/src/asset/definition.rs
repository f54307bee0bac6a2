//! [`AssetDefinition`]: an asset and the computation that materializes it.
//!
//! An asset's computation is an op named after its key (`warehouse__orders`) with one
//! output, `result`, and one input a data dependency. When a run materializes an asset
//! and its upstream together, the value passes in memory; otherwise the input is loaded
//! through the IO manager from the upstream asset's latest materialization.
//!
//! ```
//! use sluice_core::asset::AssetDefinition;
//!
//! let raw = AssetDefinition::builder("raw/orders")
//!     .group("raw")
//!     .compute(|_, _| async { Ok(vec![3_i64, 4]) });
//! let staging = AssetDefinition::builder("staging/orders")
//!     .group("staging")
//!     .input::<Vec<i64>>("raw/orders")
//!     .compute(|ctx, inputs| async move {
//!         let orders: Vec<i64> = inputs.get("orders")?;
//!         ctx.add_output_metadata("row_count", orders.len() as i64);
//!         Ok(orders.into_iter().sum::<i64>())
//!     });
//! assert_eq!(staging.op().unwrap().name(), "staging__orders");
//! assert_eq!(staging.deps()[0].input.as_deref(), Some("orders"));
//! # let _ = raw;
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::{AssetKey, AssetKeyError, AssetNode, BackfillPolicy};
use crate::metadata::{Metadata, MetadataValue};
use crate::op::{
    AssetOp, Inputs, NoOutput, OpBuilder, OpContext, OpDefinition, OpError, OutputValue,
    RetryPolicy,
};
use crate::partition::{PartitionMapping, PartitionsDefinition};

/// An upstream asset of an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetDep {
    /// The upstream asset's key.
    pub key: AssetKey,
    /// The input that receives the upstream value; `None` for an ordering-only
    /// dependency (Dagster's `deps=`).
    pub input: Option<String>,
}

/// An asset: its key, what it depends on, how it is described, and (unless it is a
/// source asset, declared here but produced elsewhere) the op that computes it. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct AssetDefinition(Arc<AssetInner>);

#[derive(Debug, Clone)]
pub(super) struct AssetInner {
    key: AssetKey,
    group: String,
    description: Option<String>,
    tags: BTreeMap<String, String>,
    owners: Vec<String>,
    metadata: Metadata,
    code_version: Option<String>,
    deps: Vec<AssetDep>,
    partitions: Option<PartitionsDefinition>,
    /// Declared mappings from upstream partitions, by upstream key.
    partition_mappings: BTreeMap<AssetKey, PartitionMapping>,
    backfill_policy: Option<BackfillPolicy>,
    /// `None` for a source asset.
    op: Option<OpDefinition>,
    /// The op's output that holds the asset's value: `result`, or for an asset of a
    /// multi-asset, its own output.
    output: String,
    /// A source asset whose op observes its version instead of computing it.
    observable: bool,
    /// What is wrong with the multi-asset this asset belongs to: (its name, why).
    pub(super) multi_asset_problem: Option<(String, String)>,
    /// Keys that did not parse, reported when the definitions are built.
    key_errors: Vec<AssetKeyError>,
}

/// The version of a source asset's data where it lives (Dagster's `DataVersion`), as an
/// observation records it: a file's checksum, a table's row count and last update, ...
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct DataVersion(pub String);

impl DataVersion {
    /// A data version from any string that changes when the data does.
    pub fn new(version: impl Into<String>) -> Self {
        Self(version.into())
    }
}

/// Dagster's group for assets that name none.
pub const DEFAULT_GROUP: &str = "default";

impl AssetDefinition {
    /// Start defining the asset at `key` (parts joined by `/`).
    pub fn builder(key: &str) -> AssetBuilder {
        let mut key_errors = Vec::new();
        let key = parse_or_keep(key, &mut key_errors);
        let op_name = key.op_name();
        AssetInner::builder(key, op_name, key_errors, OneAsset)
    }

    /// A source asset: declared so that assets can depend on it, produced outside
    /// Sluice. Its value is loaded through the IO manager.
    pub fn source(key: &str) -> AssetBuilder {
        Self::builder(key)
    }

    /// The asset key.
    pub fn key(&self) -> &AssetKey {
        &self.0.key
    }

    /// The asset group ([`DEFAULT_GROUP`] unless set).
    pub fn group(&self) -> &str {
        &self.0.group
    }

    /// The asset's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The asset's tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.0.tags
    }

    /// The asset's owners, as declared.
    pub fn owners(&self) -> &[String] {
        &self.0.owners
    }

    /// The asset's definition metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// The asset's code version, if it declares one.
    pub fn code_version(&self) -> Option<&str> {
        self.0.code_version.as_deref()
    }

    /// The upstream assets, in declaration order.
    pub fn deps(&self) -> &[AssetDep] {
        &self.0.deps
    }

    /// How the asset is partitioned, if it is.
    pub fn partitions(&self) -> Option<&PartitionsDefinition> {
        self.0.partitions.as_ref()
    }

    /// The partition mappings declared for upstream assets, by upstream key.
    pub fn partition_mappings(&self) -> &BTreeMap<AssetKey, PartitionMapping> {
        &self.0.partition_mappings
    }

    /// How a backfill groups the asset's partitions into runs; `None`: one per run.
    pub fn backfill_policy(&self) -> Option<&BackfillPolicy> {
        self.0.backfill_policy.as_ref()
    }

    /// The op that computes the asset; `None` for a source asset.
    pub fn op(&self) -> Option<&OpDefinition> {
        self.0.op.as_ref()
    }

    /// Whether the asset is produced outside Sluice (its value is loaded through the IO
    /// manager): a source asset, observable or not.
    pub fn is_source(&self) -> bool {
        self.0.op.is_none() || self.0.observable
    }

    /// Whether it is an observable source asset: its op records the version of the
    /// data where it lives.
    pub fn is_observable(&self) -> bool {
        self.0.observable
    }

    /// The output of the op that holds the asset's value.
    pub fn output_name(&self) -> &str {
        &self.0.output
    }

    pub(crate) fn key_errors(&self) -> &[AssetKeyError] {
        &self.0.key_errors
    }

    /// What is wrong with the multi-asset the asset belongs to: (its name, why).
    pub(crate) fn multi_asset_problem(&self) -> Option<&(String, String)> {
        self.0.multi_asset_problem.as_ref()
    }

    /// The asset as the graph sees it.
    pub fn node(&self) -> AssetNode {
        AssetNode {
            key: self.0.key.clone(),
            group: self.0.group.clone(),
            tags: self.0.tags.clone(),
            deps: self.0.deps.iter().map(|d| d.key.clone()).collect(),
            is_source: self.is_source(),
        }
    }
}

pub(super) fn parse_or_keep(text: &str, errors: &mut Vec<AssetKeyError>) -> AssetKey {
    AssetKey::parse(text).unwrap_or_else(|e| {
        errors.push(e);
        AssetKey::unchecked(text)
    })
}

/// Builds an [`AssetDefinition`] or, as `AssetBuilder<ManyAssets>`, the assets of a
/// multi-asset (see [`multi_asset`](super::multi_asset)); the settings they share are
/// the same methods.
#[must_use]
pub struct AssetBuilder<K = OneAsset> {
    pub(super) op: OpBuilder<NoOutput>,
    /// The asset so far; its op is set by [`AssetBuilder::compute`].
    pub(super) asset: AssetInner,
    pub(super) kind: K,
}

/// An [`AssetBuilder`] of one asset.
#[derive(Debug, Default)]
pub struct OneAsset;

impl<K> AssetBuilder<K> {
    /// Put the asset in `group` instead of [`DEFAULT_GROUP`].
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.asset.group = group.into();
        self
    }

    /// A description, shown in the UI (also the op's).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        let description = description.into();
        self.op = self.op.description(description.clone());
        self.asset.description = Some(description);
        self
    }

    /// A tag on the asset (Dagster's asset tags, which selections such as `tag:k=v` match).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.asset.tags.insert(key.into(), value.into());
        self
    }

    /// A person (`jane@example.com`) or team (`team:billing`) who owns the asset.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.asset.owners.push(owner.into());
        self
    }

    /// Metadata of the definition (not of a materialization).
    pub fn metadata(mut self, label: impl Into<String>, value: impl Into<MetadataValue>) -> Self {
        self.asset.metadata.insert(label.into(), value.into());
        self
    }

    /// The version of the code that computes the asset, recorded on each materialization.
    pub fn code_version(mut self, version: impl Into<String>) -> Self {
        self.asset.code_version = Some(version.into());
        self
    }

    /// A data dependency on asset `key`, received as input named after the key's last
    /// part (`raw/orders` → `orders`).
    pub fn input<T: OutputValue>(self, key: &str) -> Self {
        let name = key.rsplit('/').next().unwrap_or(key).to_owned();
        self.input_named::<T>(name, key)
    }

    /// A data dependency on asset `key`, received as input `name`.
    pub fn input_named<T: OutputValue>(self, name: impl Into<String>, key: &str) -> Self {
        self.data_dep::<T>(name.into(), key, false)
    }

    /// A data dependency on the partitions of asset `key` that the partition mapping
    /// names (all of them, for an unpartitioned asset), received as a
    /// [`PartitionValues<T>`](crate::op::PartitionValues) by partition key in input
    /// `name`.
    pub fn input_partitions<T: OutputValue>(self, name: impl Into<String>, key: &str) -> Self {
        self.data_dep::<T>(name.into(), key, true)
    }

    fn data_dep<T: OutputValue>(mut self, name: String, key: &str, partitions: bool) -> Self {
        let key = parse_or_keep(key, &mut self.asset.key_errors);
        self.op = self
            .op
            .asset_input::<T>(name.clone(), key.clone(), partitions);
        self.asset.deps.push(AssetDep {
            key,
            input: Some(name),
        });
        self
    }

    /// The asset is split into the partitions of `partitions`; a run materializes one.
    pub fn partitions(mut self, partitions: impl Into<PartitionsDefinition>) -> Self {
        self.asset.partitions = Some(partitions.into());
        self
    }

    /// How a backfill groups the asset's partitions into runs (Dagster's
    /// `backfill_policy`); without one, each partition has its own run.
    pub fn backfill_policy(mut self, policy: BackfillPolicy) -> Self {
        self.asset.backfill_policy = Some(policy);
        self
    }

    /// Which partitions of upstream asset `key` each partition of this one reads.
    pub fn partition_mapping(mut self, key: &str, mapping: PartitionMapping) -> Self {
        let key = parse_or_keep(key, &mut self.asset.key_errors);
        self.asset.partition_mappings.insert(key, mapping);
        self
    }

    /// An ordering-only dependency: materialized after asset `key` when both are in a
    /// run, taking no value from it (Dagster's `deps=`).
    pub fn dep(mut self, key: &str) -> Self {
        let key = parse_or_keep(key, &mut self.asset.key_errors);
        self.asset.deps.push(AssetDep { key, input: None });
        self
    }

    /// The computation takes config of type `C`, read with [`OpContext::config`].
    pub fn config<C: DeserializeOwned + JsonSchema>(mut self) -> Self {
        self.op = self.op.config::<C>();
        self
    }

    /// The computation needs the resource bound to `key`.
    pub fn required_resource(mut self, key: impl Into<String>) -> Self {
        self.op = self.op.required_resource(key);
        self
    }

    /// Retry a failed computation as `policy` says.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.op = self.op.retry_policy(policy);
        self
    }

    /// Fail an attempt that takes longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.op = self.op.timeout(timeout);
        self
    }
}

impl AssetBuilder<OneAsset> {
    /// Finish the asset with the function that computes its value.
    pub fn compute<T, F, Fut>(mut self, f: F) -> AssetDefinition
    where
        T: OutputValue,
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, OpError>> + Send + 'static,
    {
        let outputs = BTreeMap::from([("result".to_owned(), self.asset.key.clone())]);
        let asset = self.asset.asset_op(outputs);
        let op = std::mem::replace(&mut self.op, OpDefinition::builder(""))
            .output::<T>("result")
            .compute_asset(asset, f);
        self.finish(Some(op))
    }

    /// Finish a source asset: no computation here.
    pub fn build_source(self) -> AssetDefinition {
        self.finish(None)
    }

    /// Finish an observable source asset (Dagster's `@observable_source_asset`): produced
    /// outside Sluice and loaded through the IO manager like any source asset, with a
    /// function that reports the version of its data where it lives. A run of its step
    /// records an ASSET_OBSERVATION with that version; nothing is stored.
    pub fn observe<F, Fut>(mut self, f: F) -> AssetDefinition
    where
        F: Fn(OpContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<DataVersion, OpError>> + Send + 'static,
    {
        self.asset.observable = true;
        let outputs = BTreeMap::from([("result".to_owned(), self.asset.key.clone())]);
        let asset = self.asset.asset_op(outputs);
        let op = std::mem::replace(&mut self.op, OpDefinition::builder(""))
            .output::<DataVersion>("result")
            .compute_asset(asset, move |ctx, _| f(ctx));
        self.finish(Some(op))
    }

    fn finish(self, op: Option<OpDefinition>) -> AssetDefinition {
        AssetDefinition(Arc::new(AssetInner { op, ..self.asset }))
    }
}

impl AssetInner {
    /// The asset as it stands, with no op: what a multi-asset that cannot be built
    /// leaves behind to report `problem` when the definitions are built.
    pub(super) fn with_problem(mut self, name: &str, problem: String) -> AssetDefinition {
        self.multi_asset_problem = Some((name.to_owned(), problem));
        AssetDefinition(Arc::new(self))
    }
}

impl AssetInner {
    /// The asset of a multi-asset at `key`, computed by output `output` of `op`.
    pub(super) fn of_multi(
        &self,
        key: AssetKey,
        op: OpDefinition,
        output: String,
        key_errors: Vec<AssetKeyError>,
    ) -> AssetDefinition {
        let mut errors = self.key_errors.clone();
        errors.extend(key_errors);
        AssetDefinition(Arc::new(AssetInner {
            key,
            op: Some(op),
            output,
            key_errors: errors,
            ..self.clone()
        }))
    }

    /// What the executor needs to know of the assets the op computes: `outputs`, by
    /// output name.
    pub(super) fn asset_op(&self, outputs: BTreeMap<String, AssetKey>) -> AssetOp {
        AssetOp {
            outputs,
            observe: self.observable,
            code_version: self.code_version.clone(),
            partitions: self.partitions.clone(),
            partition_mappings: self.partition_mappings.clone(),
        }
    }

    /// A new asset at `key` whose op is named `op_name`.
    pub(super) fn builder<K>(
        key: AssetKey,
        op_name: String,
        key_errors: Vec<AssetKeyError>,
        kind: K,
    ) -> AssetBuilder<K> {
        AssetBuilder {
            op: OpDefinition::builder(op_name),
            asset: AssetInner {
                key,
                group: DEFAULT_GROUP.to_owned(),
                description: None,
                tags: BTreeMap::new(),
                owners: Vec::new(),
                metadata: Metadata::new(),
                code_version: None,
                deps: Vec::new(),
                partitions: None,
                partition_mappings: BTreeMap::new(),
                backfill_policy: None,
                op: None,
                output: "result".to_owned(),
                observable: false,
                multi_asset_problem: None,
                key_errors,
            },
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_records_the_asset_and_its_op() {
        let a = AssetDefinition::builder("warehouse/orders")
            .group("warehouse")
            .description("Orders, cleaned")
            .tag("tier", "gold")
            .owner("team:billing")
            .metadata("table", "warehouse.orders")
            .code_version("3")
            .input::<Vec<i64>>("staging/orders")
            .input_named::<i64>("fx", "raw/fx_rate")
            .dep("raw/customers")
            .compute(|_, _| async { Ok(1_i64) });
        assert_eq!(a.key().to_string(), "warehouse/orders");
        let op = a.op().unwrap();
        assert_eq!(op.name(), "warehouse__orders");
        assert_eq!(op.inputs().len(), 2);
        assert_eq!(
            op.input("orders").unwrap().asset.as_ref().unwrap().key,
            AssetKey::parse("staging/orders").unwrap()
        );
        assert_eq!(op.asset().unwrap().code_version.as_deref(), Some("3"));
        assert_eq!(a.deps().len(), 3);
        assert_eq!(a.deps()[2].input, None);
        assert!(a.key_errors().is_empty());
        let node = a.node();
        assert_eq!(node.group, "warehouse");
        assert_eq!(node.deps.len(), 3);

        let source = AssetDefinition::source("raw/fx_rate").build_source();
        assert!(source.is_source() && source.op().is_none());

        let bad = AssetDefinition::builder("raw//x")
            .input::<i64>("a b")
            .compute(|_, _| async { Ok(0_i64) });
        assert_eq!(bad.key_errors().len(), 2);
    }
}
