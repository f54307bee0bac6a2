//! Asset jobs: a selection of assets, materialized by one job whose nodes are the
//! selected assets' ops (Dagster's `define_asset_job`).
//!
//! ```
//! use sluice_core::asset::{AssetSelection, define_asset_job};
//!
//! let job = define_asset_job("refresh_staging", AssetSelection::parse("group:staging+").unwrap())
//!     .description("Staging tables and what is built on them");
//! assert_eq!(job.name(), "refresh_staging");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

use super::{AssetCheckDefinition, AssetDefinition, AssetGraph, AssetKey, AssetSelection};
use crate::job::{AssetPartitions, JobDefinition, NodeHandle, OutputRef};
use crate::op::OpDefinition;
use crate::partition::{PartitionMapping, PartitionsDefinition};

/// The job that can materialize every asset of a location; an ad hoc materialization is
/// a run of it that executes only the selected assets' steps.
pub const ASSET_JOB_NAME: &str = "__ASSET_JOB";

/// A job that materializes a selection of assets, resolved when the definitions are
/// built.
#[derive(Debug, Clone)]
#[must_use]
pub struct AssetJobDefinition {
    name: String,
    selection: AssetSelection,
    description: Option<String>,
    tags: BTreeMap<String, String>,
}

/// A job named `name` that materializes the assets `selection` picks.
pub fn define_asset_job(name: impl Into<String>, selection: AssetSelection) -> AssetJobDefinition {
    AssetJobDefinition {
        name: name.into(),
        selection,
        description: None,
        tags: BTreeMap::new(),
    }
}

impl AssetJobDefinition {
    /// A description, shown in the UI.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// A tag on the job, given to each of its runs.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The assets it materializes, as selected.
    pub fn selection(&self) -> &AssetSelection {
        &self.selection
    }

    /// The job materializing `keys` (already resolved from the selection).
    pub(crate) fn build(
        &self,
        keys: &BTreeSet<AssetKey>,
        assets: &FxHashMap<&AssetKey, &AssetDefinition>,
        checks: &[AssetCheckDefinition],
        graph: &AssetGraph,
        partitions: &Arc<AssetPartitions>,
    ) -> JobDefinition {
        let mut job = JobDefinition::builder(&self.name);
        if let Some(d) = &self.description {
            job = job.description(d.clone());
        }
        for (k, v) in &self.tags {
            job = job.tag(k.clone(), v.clone());
        }
        build_nodes(job, keys, assets, checks, graph, partitions)
    }
}

/// The distinct partitionings of the computed assets among `keys`: a job's runs can
/// only be partitioned one way, so an asset job needs at most one.
pub(crate) fn partitionings<'a>(
    keys: &BTreeSet<AssetKey>,
    assets: &FxHashMap<&AssetKey, &'a AssetDefinition>,
) -> Vec<&'a PartitionsDefinition> {
    let mut found: Vec<&PartitionsDefinition> = Vec::new();
    for def in keys
        .iter()
        .filter_map(|k| assets.get(k))
        .filter(|a| !a.is_source())
        .filter_map(|a| a.partitions())
    {
        if !found.contains(&def) {
            found.push(def);
        }
    }
    found
}

/// A job of the computed assets among `keys`, in dependency order, and the checks of
/// the assets among `keys`: an upstream in the job feeds its value in memory (or orders
/// the step, for an ordering dependency); an upstream outside it is loaded through the
/// IO manager. So is an upstream in the job whose partitions the downstream asset does
/// not read one for one: the step runs after it and loads the partitions it maps to. An
/// asset in the job runs after the blocking checks of its upstream assets. The assets of
/// a multi-asset share one node: selecting one of them materializes them all.
pub(crate) fn build_nodes(
    mut job: crate::job::JobBuilder,
    keys: &BTreeSet<AssetKey>,
    assets: &FxHashMap<&AssetKey, &AssetDefinition>,
    checks: &[AssetCheckDefinition],
    graph: &AssetGraph,
    partitions: &Arc<AssetPartitions>,
) -> JobDefinition {
    if let [one] = partitionings(keys, assets).as_slice() {
        job = job.partitions((*one).clone());
    }
    job = job.asset_partitions(Arc::clone(partitions));
    let checks: Vec<&AssetCheckDefinition> =
        checks.iter().filter(|c| keys.contains(c.asset())).collect();
    let mut blocking: FxHashMap<&AssetKey, Vec<String>> = FxHashMap::default();
    for check in checks.iter().filter(|c| c.is_blocking()) {
        blocking
            .entry(check.asset())
            .or_default()
            .push(check.op().name().to_owned());
    }
    let op_of = |key: &AssetKey| assets.get(key).and_then(|a| a.op());
    let selected_ops: FxHashSet<&str> = keys
        .iter()
        .filter_map(&op_of)
        .map(OpDefinition::name)
        .collect();
    // A computed asset whose op the job runs: one of `keys`, or a sibling of one of them
    // in a multi-asset.
    let computed = |key: &AssetKey| op_of(key).is_some_and(|op| selected_ops.contains(op.name()));
    let mut added: FxHashSet<&str> = FxHashSet::default();
    for key in graph.topological_order() {
        let Some(op) = op_of(key).filter(|_| computed(key)) else {
            continue;
        };
        if !added.insert(op.name()) {
            continue;
        }
        let mut node = job.node(op);
        let asset = assets[key];
        // A source upstream (observable ones have an op, but no value) is loaded.
        let wired = |key: &AssetKey| computed(key) && !assets[key].is_source();
        for dep in asset.deps().iter().filter(|d| wired(&d.key)) {
            let upstream = assets[&dep.key];
            let upstream_op = upstream.op().map_or("", OpDefinition::name);
            let in_memory = dep.input.as_deref().filter(|input| {
                op.input(input)
                    .is_some_and(|i| i.asset.as_ref().is_some_and(|a| a.partitions.is_none()))
                    && reads_one_for_one(asset, upstream)
            });
            node = match in_memory {
                Some(input) => {
                    node.input(input, OutputRef::new(upstream_op, upstream.output_name()))
                }
                None => node.after(&NodeHandle::named(upstream_op)),
            };
            for check in blocking.get(&dep.key).into_iter().flatten() {
                node = node.after(&NodeHandle::named(check.clone()));
            }
        }
        node.add();
    }
    for check in checks {
        let mut node = job.node(check.op());
        if computed(check.asset()) && !assets[check.asset()].is_source() {
            let asset = assets[check.asset()];
            let op = asset.op().map_or("", OpDefinition::name);
            node = node.input("asset", OutputRef::new(op, asset.output_name()));
        }
        node.add();
    }
    job.build()
}

/// Whether each partition of `downstream` reads the same partition of `upstream` (or
/// the upstream is not partitioned), so that a run of both can pass the value in memory.
fn reads_one_for_one(downstream: &AssetDefinition, upstream: &AssetDefinition) -> bool {
    let Some(up) = upstream.partitions() else {
        return true;
    };
    let Some(down) = downstream.partitions() else {
        return false;
    };
    let mapping = downstream
        .partition_mappings()
        .get(upstream.key())
        .cloned()
        .unwrap_or_else(|| PartitionMapping::default_for(up, Some(down)));
    mapping == PartitionMapping::Identity && up == down
}
