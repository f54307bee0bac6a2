//! Snapshots: what a code location exposes, as data. The webserver and the daemon learn
//! a location from its snapshot (served by the location's code server) and never run
//! user code themselves; run config is validated against a snapshot exactly as it is
//! against live definitions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::asset::{
    AssetGraph, AssetKey, AssetNode, AssetSelection, BackfillPolicy, SelectionError,
};
use crate::config::ConfigType;
use crate::definitions::Definitions;
use crate::metadata::Metadata;
use crate::op::{InputKind, OpDefinition};
use crate::partition::{PartitionError, PartitionMapping, PartitionsContext, PartitionsDefinition};
use crate::run::RunPartitions;
use crate::run_request::DefaultStatus;
use crate::sensor::{AssetWatch, RunStatusWatch};

/// The protocol version of snapshots and code-server messages.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Dagster's name for the single repository each location exposes.
pub const REPOSITORY_NAME: &str = "__repository__";

/// Everything a code location defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSnapshot {
    /// The snapshot protocol version, [`SNAPSHOT_VERSION`] when written.
    pub version: u32,
    /// The code location's name, as in `workspace.yaml`.
    pub location_name: String,
    /// The jobs, asset jobs included, by name.
    pub jobs: Vec<JobSnapshot>,
    /// The bound resources, by key.
    pub resources: Vec<ResourceSnapshot>,
    /// The schedules, by name.
    #[serde(default)]
    pub schedules: Vec<ScheduleSnapshot>,
    /// The sensors, by name.
    #[serde(default)]
    pub sensors: Vec<SensorSnapshot>,
    /// The assets, source assets included, by key.
    #[serde(default)]
    pub assets: Vec<AssetSnapshot>,
}

/// An asset, as the webserver and the daemon see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetSnapshot {
    /// The asset key.
    pub key: AssetKey,
    /// The asset group (`default` unless set).
    pub group: String,
    /// The asset's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The asset's tags (Dagster's asset tags, used by selections such as `tag:k=v`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The asset's owners, as declared (Dagster's convention: an email or `team:name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// The asset's definition metadata.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// The asset's code version, if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    /// Upstream assets, data and ordering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<AssetKey>,
    /// Declared here, produced elsewhere.
    #[serde(default)]
    pub is_source: bool,
    /// A source asset whose op (`op_name`) observes its data version.
    #[serde(default)]
    pub is_observable: bool,
    /// The op (and step) that computes (or observes) it; `None` for a source asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_name: Option<String>,
    /// The resource keys its op requires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_resource_keys: Vec<String>,
    /// The jobs that materialize it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_names: Vec<String>,
    /// The checks of the asset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<AssetCheckSnapshot>,
    /// How the asset is partitioned; `None` when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<PartitionsDefinition>,
    /// The declared mappings from upstream partitions, by upstream key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_mappings: Vec<(AssetKey, PartitionMapping)>,
    /// How a backfill groups its partitions into runs; one per run when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_policy: Option<BackfillPolicy>,
}

/// A check of an asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetCheckSnapshot {
    /// The check's name, unique among the asset's checks.
    pub name: String,
    /// The check's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a failed ERROR-severity evaluation fails the step and skips the asset's
    /// downstream assets.
    pub blocking: bool,
    /// The op (and step) that evaluates it.
    pub op_name: String,
}

impl AssetSnapshot {
    /// The asset as the graph sees it.
    pub fn node(&self) -> AssetNode {
        AssetNode {
            key: self.key.clone(),
            group: self.group.clone(),
            tags: self.tags.clone(),
            deps: self.deps.clone(),
            is_source: self.is_source,
        }
    }
}

/// A schedule, as the daemon and the webserver see it: enough to compute its ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSnapshot {
    /// The schedule's name.
    pub name: String,
    /// The job it requests runs of.
    pub job_name: String,
    /// When it ticks, as a cron string (`0 * * * *`).
    pub cron_schedule: String,
    /// The IANA timezone the cron string is read in; UTC when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_timezone: Option<String>,
    /// The schedule's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it runs before anyone turns it on or off.
    pub default_status: DefaultStatus,
    /// Tags added to the runs it requests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// A sensor, as the daemon and the webserver see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSnapshot {
    /// The sensor's name.
    pub name: String,
    /// The jobs it requests runs of; the first is used when a request names none.
    pub job_names: Vec<String>,
    /// The least time between two evaluations, in seconds (at least 1).
    pub minimum_interval_seconds: u64,
    /// The sensor's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it runs before anyone turns it on or off.
    pub default_status: DefaultStatus,
    /// Set for a run status sensor: the runs it reacts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_status: Option<RunStatusWatch>,
    /// Set for an asset sensor: the assets whose materializations it reacts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_watch: Option<AssetWatch>,
    /// Set for a sensor that targets assets instead of jobs: the assets it may
    /// materialize (in runs of the asset job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_assets: Option<Vec<AssetKey>>,
}

/// A job: its graph, config schema and tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSnapshot {
    /// The job's name.
    pub name: String,
    /// The job's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The job's tags, given to each of its runs.
    pub tags: BTreeMap<String, String>,
    /// The op invocations of the job's graph, in declaration order.
    pub nodes: Vec<NodeSnapshot>,
    /// The ops the nodes invoke, each once, by name.
    pub ops: Vec<OpSnapshot>,
    /// The run config used when a launch gives none; `None` for an empty config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_run_config: Option<Value>,
    /// How its runs are partitioned, if they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<PartitionsDefinition>,
}

/// One invocation of an op in a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSnapshot {
    /// The node's name in the job: the op's name, or the alias it was invoked under. Also
    /// its step key.
    pub alias: String,
    /// The op it invokes.
    pub op_name: String,
    /// `(input, upstream node, upstream output)`, in declaration order.
    pub inputs: Vec<InputSource>,
    /// Nodes it runs after without taking data from them (Dagster's `Nothing` dependencies).
    pub after: Vec<String>,
}

/// Where an input of a node takes a value from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSource {
    /// The node's input.
    pub input: String,
    /// The upstream node.
    pub node: String,
    /// The upstream node's output.
    pub output: String,
}

/// An op's declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSnapshot {
    /// The op's name.
    pub name: String,
    /// The op's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schema of the op's config; `None` for an op without config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<ConfigType>,
    /// The op's inputs, in declaration order.
    pub inputs: Vec<IoSnapshot>,
    /// The op's outputs, in declaration order.
    pub outputs: Vec<IoSnapshot>,
    /// The resource keys the op requires.
    pub required_resource_keys: Vec<String>,
    /// The op's tags.
    pub tags: BTreeMap<String, String>,
}

/// An input or output of an op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoSnapshot {
    /// The input's or output's name.
    pub name: String,
    /// The Rust type (the element type, for a fan-in input).
    pub type_name: String,
    /// Whether it is a fan-in input, taking a list of every output wired to it.
    #[serde(default)]
    pub fan_in: bool,
    /// False for an optional output.
    #[serde(default = "yes")]
    pub is_required: bool,
}

fn yes() -> bool {
    true
}

/// A bound resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSnapshot {
    /// The key the resource is bound to.
    pub key: String,
    /// The resource's Rust type name.
    pub type_name: String,
    /// The resource's description, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The schema of the resource's config; `None` for a resource without config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<ConfigType>,
    /// The config it was bound with
    /// ([`ResourceDefinition::configured`](crate::resource::ResourceDefinition::configured)),
    /// used when a run's config gives none; `None` if it was bound without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_config: Option<Value>,
}

impl LocationSnapshot {
    /// The job named `name`, or `None`.
    pub fn job(&self, name: &str) -> Option<&JobSnapshot> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The resource bound to `key`, or `None`.
    pub fn resource(&self, key: &str) -> Option<&ResourceSnapshot> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// The schedule named `name`, or `None`.
    pub fn schedule(&self, name: &str) -> Option<&ScheduleSnapshot> {
        self.schedules.iter().find(|s| s.name == name)
    }

    /// The sensor named `name`, or `None`.
    pub fn sensor(&self, name: &str) -> Option<&SensorSnapshot> {
        self.sensors.iter().find(|s| s.name == name)
    }

    /// The assets' graph. A snapshot comes from validated definitions, so the graph is
    /// sound; one that is not (a hand-edited snapshot) has no assets.
    pub fn asset_graph(&self) -> AssetGraph {
        AssetGraph::new(self.assets.iter().map(AssetSnapshot::node)).unwrap_or_default()
    }

    /// The steps of `job` that materialize `keys`, with their checks: each key must be an
    /// asset of this location (named `location` in the message) that the job
    /// materializes. The message says which is not.
    pub fn job_asset_steps(
        &self,
        location: &str,
        job: &JobSnapshot,
        keys: &[AssetKey],
    ) -> Result<Vec<String>, String> {
        let in_job = |step: &String| job.nodes.iter().any(|n| &n.alias == step);
        let mut steps: Vec<String> = Vec::with_capacity(keys.len());
        let mut seen = HashSet::new();
        for key in keys {
            let asset = self.assets.iter().find(|a| &a.key == key).ok_or_else(|| {
                format!("asset \"{key}\" is not defined in location \"{location}\"")
            })?;
            let op = asset
                .op_name
                .as_ref()
                .filter(|op| in_job(op))
                .ok_or_else(|| {
                    format!(
                        "asset \"{key}\" is not materialized by job \"{}\"",
                        job.name
                    )
                })?;
            // Materializing an asset runs its checks too, as in Dagster.
            let checks = asset.checks.iter().map(|c| &c.op_name);
            for step in std::iter::once(op).chain(checks) {
                if in_job(step) && seen.insert(step) {
                    steps.push(step.clone());
                }
            }
        }
        if steps.is_empty() {
            return Err("the asset selection is empty".to_owned());
        }
        Ok(steps)
    }

    /// The steps of `__ASSET_JOB` that materialize `selection`.
    pub fn asset_steps(
        &self,
        graph: &AssetGraph,
        selection: &AssetSelection,
    ) -> Result<Vec<String>, SelectionError> {
        let keys = selection.resolve(graph)?;
        let selected = self.assets.iter().filter(|a| keys.contains(&a.key));
        let assets = selected.clone().filter_map(|a| a.op_name.clone());
        let checks = selected.flat_map(|a| a.checks.iter().map(|c| c.op_name.clone()));
        // The assets of a multi-asset share their op's step.
        let mut seen = HashSet::new();
        Ok(assets
            .chain(checks)
            .filter(|step| seen.insert(step.clone()))
            .collect())
    }
}

/// How a run is partitioned: by its job's partitioning, or (for a run that
/// materializes assets) by that of its partitioned assets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPartitioning<'a> {
    /// The partitions definition of the run; `None` for an unpartitioned run.
    pub definition: Option<&'a PartitionsDefinition>,
    /// Whether the run materializes assets: an asset run must name a partition of its
    /// partitioned assets, and cannot name one when none is partitioned.
    pub of_assets: bool,
    /// How a backfill groups partitions into runs: the combined policy of the
    /// partitioned assets executed; `None` (one partition per run) for a job of ops.
    pub backfill_policy: Option<BackfillPolicy>,
}

impl RunPartitioning<'_> {
    /// Check the partitions a run names against the partitioning.
    pub fn check(
        &self,
        partitions: Option<&RunPartitions>,
        ctx: &PartitionsContext,
    ) -> Result<(), PartitionError> {
        match (self.definition, partitions) {
            (Some(def), Some(RunPartitions::Key(key))) => def.check_key(key, ctx),
            (Some(def), Some(range)) => range.keys(def, ctx).map(drop),
            (Some(def), None) if self.of_assets => Err(PartitionError::Missing(def.to_string())),
            (None, Some(named)) if self.of_assets => {
                Err(PartitionError::NotPartitioned(named.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Check the partitions a run's tags name against the partitioning.
    pub fn check_tags(
        &self,
        tags: &BTreeMap<String, String>,
        ctx: &PartitionsContext,
    ) -> Result<(), PartitionError> {
        self.check(RunPartitions::of_tags(tags)?.as_ref(), ctx)
    }
}

impl LocationSnapshot {
    /// The names of the dynamic partition sets the location's assets and jobs use.
    pub fn dynamic_partition_sets(&self) -> BTreeSet<&str> {
        self.assets
            .iter()
            .filter_map(|a| a.partitions.as_ref())
            .chain(self.jobs.iter().filter_map(|j| j.partitions.as_ref()))
            .flat_map(PartitionsDefinition::dynamic_names)
            .collect()
    }

    /// The partitioning of a run of `job` that executes `steps` (every step: `None`).
    /// The partitioned assets a run materializes must share one partitioning.
    pub fn run_partitions<'a>(
        &'a self,
        job: &'a JobSnapshot,
        steps: Option<&[String]>,
    ) -> Result<RunPartitioning<'a>, PartitionError> {
        let steps: Option<HashSet<&str>> =
            steps.map(|steps| steps.iter().map(String::as_str).collect());
        let executed: HashSet<&str> = job
            .nodes
            .iter()
            .filter(|n| steps.as_ref().is_none_or(|s| s.contains(n.alias.as_str())))
            .map(|n| n.op_name.as_str())
            .collect();
        let mut of_assets = false;
        let mut found: Vec<&PartitionsDefinition> = Vec::new();
        let mut policies = Vec::new();
        for asset in &self.assets {
            if !asset
                .op_name
                .as_deref()
                .is_some_and(|op| executed.contains(op))
            {
                continue;
            }
            of_assets = true;
            if let Some(def) = &asset.partitions {
                policies.push(asset.backfill_policy.as_ref());
                if !found.contains(&def) {
                    found.push(def);
                }
            }
        }
        let backfill_policy = BackfillPolicy::combined(policies);
        match found.as_slice() {
            [] if of_assets => Ok(RunPartitioning {
                definition: None,
                of_assets,
                backfill_policy: None,
            }),
            [] => Ok(RunPartitioning {
                definition: job.partitions.as_ref(),
                of_assets,
                backfill_policy: None,
            }),
            [one] => Ok(RunPartitioning {
                definition: Some(one),
                of_assets,
                backfill_policy,
            }),
            many => Err(PartitionError::Mixed(
                many.iter().map(ToString::to_string).collect(),
            )),
        }
    }
}

impl JobSnapshot {
    /// The op named `name` that the job invokes, or `None`.
    pub fn op(&self, name: &str) -> Option<&OpSnapshot> {
        self.ops.iter().find(|o| o.name == name)
    }
}

fn op_snapshot(op: &OpDefinition) -> OpSnapshot {
    OpSnapshot {
        name: op.name().to_owned(),
        description: op.description().map(str::to_owned),
        config_schema: op.config_schema().cloned(),
        inputs: op
            .inputs()
            .iter()
            .map(|i| IoSnapshot {
                name: i.name.clone(),
                type_name: i.data_type.name().to_owned(),
                fan_in: matches!(i.kind, InputKind::FanIn),
                is_required: true,
            })
            .collect(),
        outputs: op
            .outputs()
            .iter()
            .map(|o| IoSnapshot {
                name: o.name.clone(),
                type_name: o.data_type.name().to_owned(),
                fan_in: false,
                is_required: o.is_required,
            })
            .collect(),
        required_resource_keys: op.required_resource_keys().iter().cloned().collect(),
        tags: op.tags().clone(),
    }
}

impl Definitions {
    /// The snapshot of these definitions, as code location `location_name`.
    pub fn snapshot(&self, location_name: &str) -> LocationSnapshot {
        let jobs = self
            .jobs()
            .map(|job| {
                let mut seen = std::collections::HashSet::new();
                let ops: Vec<OpSnapshot> = job
                    .nodes()
                    .iter()
                    .filter(|node| seen.insert(node.op.name()))
                    .map(|node| op_snapshot(&node.op))
                    .collect();
                JobSnapshot {
                    name: job.name().to_owned(),
                    description: job.description().map(str::to_owned),
                    tags: job.tags().clone(),
                    nodes: job
                        .nodes()
                        .iter()
                        .map(|n| NodeSnapshot {
                            alias: n.alias.clone(),
                            op_name: n.op.name().to_owned(),
                            inputs: n
                                .inputs
                                .iter()
                                .map(|(input, r)| InputSource {
                                    input: input.clone(),
                                    node: r.node.clone(),
                                    output: r.output.clone(),
                                })
                                .collect(),
                            after: n.after.clone(),
                        })
                        .collect(),
                    ops,
                    default_run_config: job.default_run_config().cloned(),
                    partitions: job.partitions().cloned(),
                }
            })
            .collect();
        let resources = self
            .resources()
            .iter()
            .map(|(key, r)| ResourceSnapshot {
                key: key.clone(),
                type_name: r.type_name().to_owned(),
                description: r.description().map(str::to_owned),
                config_schema: r.config_schema().cloned(),
                default_config: r.default_config().cloned(),
            })
            .collect();
        let schedules = self
            .schedules()
            .map(|s| ScheduleSnapshot {
                name: s.name().to_owned(),
                job_name: s.job_name().to_owned(),
                cron_schedule: s.cron_schedule().to_owned(),
                execution_timezone: s.execution_timezone().map(str::to_owned),
                description: s.description().map(str::to_owned),
                default_status: s.default_status(),
                tags: s.tags().clone(),
            })
            .collect();
        let sensors = self
            .sensors()
            .map(|s| SensorSnapshot {
                name: s.name().to_owned(),
                job_names: s.jobs().to_vec(),
                minimum_interval_seconds: s.minimum_interval().as_secs(),
                description: s.description().map(str::to_owned),
                default_status: s.default_status(),
                run_status: s.run_status_watch().cloned(),
                asset_watch: s.asset_watch().cloned(),
                target_assets: s.target_assets().map(<[AssetKey]>::to_vec),
            })
            .collect();
        let mut jobs_of_op: HashMap<&str, Vec<String>> = HashMap::new();
        for job in self.jobs() {
            for node in job.nodes() {
                jobs_of_op
                    .entry(node.op.name())
                    .or_default()
                    .push(job.name().to_owned());
            }
        }
        let mut checks_of: HashMap<&AssetKey, Vec<AssetCheckSnapshot>> = HashMap::new();
        for check in self.asset_checks() {
            checks_of
                .entry(check.asset())
                .or_default()
                .push(AssetCheckSnapshot {
                    name: check.name().to_owned(),
                    description: check.description().map(str::to_owned),
                    blocking: check.is_blocking(),
                    op_name: check.op().name().to_owned(),
                });
        }
        let assets = self
            .assets()
            .map(|a| AssetSnapshot {
                checks: checks_of.remove(a.key()).unwrap_or_default(),
                key: a.key().clone(),
                group: a.group().to_owned(),
                description: a.description().map(str::to_owned),
                tags: a.tags().clone(),
                owners: a.owners().to_vec(),
                metadata: a.metadata().clone(),
                code_version: a.code_version().map(str::to_owned),
                deps: a.deps().iter().map(|d| d.key.clone()).collect(),
                is_source: a.is_source(),
                is_observable: a.is_observable(),
                op_name: a.op().map(|op| op.name().to_owned()),
                required_resource_keys: a
                    .op()
                    .map(|op| op.required_resource_keys().iter().cloned().collect())
                    .unwrap_or_default(),
                job_names: a
                    .op()
                    .and_then(|op| jobs_of_op.get(op.name()).cloned())
                    .unwrap_or_default(),
                partitions: a.partitions().cloned(),
                partition_mappings: a
                    .partition_mappings()
                    .iter()
                    .map(|(k, m)| (k.clone(), m.clone()))
                    .collect(),
                backfill_policy: a.backfill_policy().copied(),
            })
            .collect();
        LocationSnapshot {
            version: SNAPSHOT_VERSION,
            location_name: location_name.to_owned(),
            jobs,
            resources,
            schedules,
            sensors,
            assets,
        }
    }
}
