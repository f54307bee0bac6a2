//! Jobs: a graph of op invocations. The same op may be invoked many times under
//! aliases; an input may be fed by several upstream outputs (fan-in); and a node may be
//! ordered after another without taking data from it (a `Nothing` dependency).
//!
//! ```
//! use sluice_core::prelude::*;
//!
//! let start = OpDefinition::builder("start").output::<i64>("result").compute(|_, _| async { Ok(0) });
//! let step = OpDefinition::builder("step")
//!     .input::<i64>("x")
//!     .output::<i64>("result")
//!     .compute(|_, inputs| async move { Ok(inputs.get::<i64>("x")? + 1) });
//!
//! let mut job = JobDefinition::builder("chain_3");
//! let mut prev = job.add(&start);
//! for i in 0..2 {
//!     prev = job.node(&step).alias(format!("step_{i}")).input("x", prev.output("result")).add();
//! }
//! let job = job.build();
//! assert_eq!(job.nodes().len(), 3);
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::asset::AssetKey;
use crate::definitions::DefinitionProblem;
use crate::op::{InputKind, OpDefinition};
use crate::partition::PartitionsDefinition;

/// A reference to one output of one node, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputRef {
    /// The node's name in the job (its alias).
    pub node: String,
    /// The output's name.
    pub output: String,
}

impl OutputRef {
    /// Output `output` of node `node`.
    pub fn new(node: impl Into<String>, output: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            output: output.into(),
        }
    }
}

/// A node added to a job, used to wire later nodes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHandle {
    alias: String,
}

impl NodeHandle {
    /// A handle to the node named `alias`, which may be added later.
    pub fn named(alias: impl Into<String>) -> Self {
        Self {
            alias: alias.into(),
        }
    }

    /// The node's name in the job (also its step key).
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The node's output `name`.
    pub fn output(&self, name: &str) -> OutputRef {
        OutputRef::new(self.alias.clone(), name)
    }
}

/// One invocation of an op in a job.
#[derive(Debug, Clone)]
pub struct Node {
    /// The node's name in the job, and the key of its step: the op's name unless aliased.
    pub alias: String,
    /// The op it invokes.
    pub op: OpDefinition,
    /// Where each input's values come from (several for a fan-in input), in order.
    pub inputs: Vec<(String, OutputRef)>,
    /// Nodes that must succeed before this one runs, with no data passed.
    pub after: Vec<String>,
}

impl Node {
    /// The sources of input `name`, in declaration order.
    pub fn sources<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a OutputRef> + 'a {
        self.inputs
            .iter()
            .filter(move |(i, _)| i == name)
            .map(|(_, r)| r)
    }

    /// Every node this one depends on, data or not, without repeats.
    pub fn upstream(&self) -> BTreeSet<&str> {
        self.inputs
            .iter()
            .map(|(_, r)| r.node.as_str())
            .chain(self.after.iter().map(String::as_str))
            .collect()
    }
}

/// A job: a named graph of op invocations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct JobDefinition(Arc<JobInner>);

#[derive(Debug)]
struct JobInner {
    name: String,
    description: Option<String>,
    tags: BTreeMap<String, String>,
    nodes: Vec<Node>,
    default_run_config: Option<Value>,
    partitions: Option<PartitionsDefinition>,
    asset_partitions: Option<Arc<AssetPartitions>>,
}

/// The partitionings of a location's partitioned assets, shared by its asset jobs: an
/// asset step reads them to choose the partitions of its upstream assets.
pub type AssetPartitions = HashMap<AssetKey, PartitionsDefinition>;

impl JobDefinition {
    /// Start defining the job `name` (Dagster's `@job`).
    pub fn builder(name: impl Into<String>) -> JobBuilder {
        JobBuilder {
            name: name.into(),
            description: None,
            tags: BTreeMap::new(),
            nodes: Vec::new(),
            default_run_config: None,
            partitions: None,
            asset_partitions: None,
        }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The job's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Tags every run of this job carries.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.0.tags
    }

    /// The nodes, in the order they were added.
    pub fn nodes(&self) -> &[Node] {
        &self.0.nodes
    }

    /// The node named `alias`, or `None`.
    pub fn node(&self, alias: &str) -> Option<&Node> {
        self.0.nodes.iter().find(|n| n.alias == alias)
    }

    /// The run config used when a run is launched without any.
    pub fn default_run_config(&self) -> Option<&Value> {
        self.0.default_run_config.as_ref()
    }

    /// How the job's runs are partitioned: declared for an op job, that of its
    /// partitioned assets for an asset job.
    pub fn partitions(&self) -> Option<&PartitionsDefinition> {
        self.0.partitions.as_ref()
    }

    /// The partitioning of asset `key`, if it is a partitioned asset of the location.
    pub fn asset_partitions(&self, key: &AssetKey) -> Option<&PartitionsDefinition> {
        self.0.asset_partitions.as_ref()?.get(key)
    }

    /// Every partitioning a run of this job may meet: the job's own, and for an asset
    /// job those of the location's partitioned assets (its steps map partitions between
    /// them).
    pub fn partition_definitions(&self) -> impl Iterator<Item = &PartitionsDefinition> {
        self.0
            .partitions
            .iter()
            .chain(self.0.asset_partitions.iter().flat_map(|all| all.values()))
    }

    /// The resource keys the job's ops need.
    pub fn required_resource_keys(&self) -> BTreeSet<&str> {
        self.0
            .nodes
            .iter()
            .flat_map(|n| n.op.required_resource_keys().iter().map(String::as_str))
            .collect()
    }

    /// Check the graph: names, wiring, types and cycles. Every problem is returned.
    pub(crate) fn graph_problems(&self) -> Vec<DefinitionProblem> {
        let job = self.name();
        let mut problems = Vec::new();
        let mut by_alias: HashMap<&str, &Node> = HashMap::new();
        for node in self.nodes() {
            if by_alias.insert(&node.alias, node).is_some() {
                problems.push(DefinitionProblem::DuplicateNode {
                    job: job.to_owned(),
                    node: node.alias.clone(),
                });
            }
        }
        for node in self.nodes() {
            self.wiring_problems(node, &by_alias, &mut problems);
        }
        if let Some(cycle) = find_cycle(self.nodes(), &by_alias) {
            problems.push(DefinitionProblem::Cycle {
                job: job.to_owned(),
                nodes: cycle,
            });
        }
        problems
    }

    fn wiring_problems(
        &self,
        node: &Node,
        by_alias: &HashMap<&str, &Node>,
        problems: &mut Vec<DefinitionProblem>,
    ) {
        let job = || self.name().to_owned();
        for (input, _) in &node.inputs {
            if node.op.input(input).is_none() {
                problems.push(DefinitionProblem::UnknownInput {
                    job: job(),
                    node: node.alias.clone(),
                    op: node.op.name().to_owned(),
                    input: input.clone(),
                });
            }
        }
        let mut reported_inputs = BTreeSet::new();
        for (input, source) in &node.inputs {
            let Some(upstream) = by_alias.get(source.node.as_str()) else {
                problems.push(DefinitionProblem::UnknownNode {
                    job: job(),
                    node: source.node.clone(),
                    referenced_by: node.alias.clone(),
                });
                continue;
            };
            let Some(out) = upstream.op.output(&source.output) else {
                problems.push(DefinitionProblem::UnknownOutput {
                    job: job(),
                    node: source.node.clone(),
                    output: source.output.clone(),
                    referenced_by: node.alias.clone(),
                });
                continue;
            };
            if let Some(def) = node.op.input(input)
                && def.data_type != out.data_type
                && reported_inputs.insert(input.clone())
            {
                problems.push(DefinitionProblem::TypeMismatch {
                    job: job(),
                    node: node.alias.clone(),
                    input: input.clone(),
                    expected: def.data_type.name().to_owned(),
                    from: format!("{}.{}", source.node, source.output),
                    found: out.data_type.name().to_owned(),
                });
            }
        }
        for def in node.op.inputs() {
            let count = node.sources(&def.name).count();
            match (&def.kind, count) {
                // An asset's input with no upstream in the job is loaded by the IO manager.
                (InputKind::Single, 0) if def.asset.is_some() => {}
                (InputKind::Single, 0) => problems.push(DefinitionProblem::UnconnectedInput {
                    job: job(),
                    node: node.alias.clone(),
                    input: def.name.clone(),
                }),
                (InputKind::Single, n) if n > 1 => {
                    problems.push(DefinitionProblem::MultipleSources {
                        job: job(),
                        node: node.alias.clone(),
                        input: def.name.clone(),
                    })
                }
                _ => {}
            }
        }
        for after in &node.after {
            if !by_alias.contains_key(after.as_str()) {
                problems.push(DefinitionProblem::UnknownNode {
                    job: job(),
                    node: after.clone(),
                    referenced_by: node.alias.clone(),
                });
            }
        }
    }
}

/// Find one cycle, as the aliases along it (the first repeated at the end), if any.
fn find_cycle(nodes: &[Node], by_alias: &HashMap<&str, &Node>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = nodes
        .iter()
        .map(|n| (n.alias.as_str(), Mark::New))
        .collect();
    for start in nodes {
        if marks[start.alias.as_str()] != Mark::New {
            continue;
        }
        // Iterative depth-first search; each frame is a node and its remaining upstreams.
        let mut path: Vec<&str> = vec![&start.alias];
        let mut stack: Vec<Vec<&str>> = vec![start.upstream().into_iter().collect()];
        marks.insert(&start.alias, Mark::OnPath);
        while let Some(pending) = stack.last_mut() {
            match pending.pop() {
                Some(next) => match marks.get(next).copied() {
                    Some(Mark::New) => {
                        marks.insert(next, Mark::OnPath);
                        path.push(next);
                        let ups = by_alias
                            .get(next)
                            .map(|n| n.upstream().into_iter().collect());
                        stack.push(ups.unwrap_or_default());
                    }
                    Some(Mark::OnPath) => {
                        let from = path.iter().position(|a| *a == next).unwrap_or(0);
                        // `path` runs downstream → upstream; report it upstream first.
                        let mut cycle: Vec<String> =
                            path[from..].iter().rev().map(|s| s.to_string()).collect();
                        cycle.push(next.to_owned());
                        return Some(cycle);
                    }
                    // Done, or an unknown node (reported elsewhere).
                    _ => {}
                },
                None => {
                    stack.pop();
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                }
            }
        }
    }
    None
}

/// Builds a [`JobDefinition`].
#[must_use]
pub struct JobBuilder {
    name: String,
    description: Option<String>,
    tags: BTreeMap<String, String>,
    nodes: Vec<Node>,
    default_run_config: Option<Value>,
    partitions: Option<PartitionsDefinition>,
    asset_partitions: Option<Arc<AssetPartitions>>,
}

impl JobBuilder {
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

    /// The run config used when a run is launched without any (Dagster's `config=`).
    pub fn default_run_config(mut self, config: Value) -> Self {
        self.default_run_config = Some(config);
        self
    }

    /// Each run of the job is for one partition of `partitions`, named by its
    /// `dagster/partition` tag.
    pub fn partitions(mut self, partitions: impl Into<PartitionsDefinition>) -> Self {
        self.partitions = Some(partitions.into());
        self
    }

    pub(crate) fn asset_partitions(mut self, partitions: Arc<AssetPartitions>) -> Self {
        self.asset_partitions = Some(partitions);
        self
    }

    /// Start adding an invocation of `op`; finish it with [`NodeBuilder::add`].
    pub fn node(&mut self, op: &OpDefinition) -> NodeBuilder<'_> {
        NodeBuilder {
            job: self,
            node: Node {
                alias: op.name().to_owned(),
                op: op.clone(),
                inputs: Vec::new(),
                after: Vec::new(),
            },
        }
    }

    /// Add an invocation of `op` under its own name, with no inputs.
    pub fn add(&mut self, op: &OpDefinition) -> NodeHandle {
        self.node(op).add()
    }

    /// The job; its graph is checked with the other definitions.
    pub fn build(self) -> JobDefinition {
        JobDefinition(Arc::new(JobInner {
            name: self.name,
            description: self.description,
            tags: self.tags,
            nodes: self.nodes,
            default_run_config: self.default_run_config,
            partitions: self.partitions,
            asset_partitions: self.asset_partitions,
        }))
    }
}

/// Builds one node of a job.
#[must_use = "call .add() to put the node in the job"]
pub struct NodeBuilder<'a> {
    job: &'a mut JobBuilder,
    node: Node,
}

impl NodeBuilder<'_> {
    /// Invoke the op under another name (Dagster's `op.alias(...)`).
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.node.alias = alias.into();
        self
    }

    /// Feed input `input` from `source`. Call again with the same input for a fan-in.
    pub fn input(mut self, input: impl Into<String>, source: OutputRef) -> Self {
        self.node.inputs.push((input.into(), source));
        self
    }

    /// Run only after `upstream` succeeded, taking no data from it.
    pub fn after(mut self, upstream: &NodeHandle) -> Self {
        self.node.after.push(upstream.alias.clone());
        self
    }

    /// Put the node in the job.
    pub fn add(self) -> NodeHandle {
        let handle = NodeHandle {
            alias: self.node.alias.clone(),
        };
        self.job.nodes.push(self.node);
        handle
    }
}
