//! `Definitions`: everything a code location exposes. Building it validates the whole set
//! and reports every problem at once, by name.
//!
//! ```
//! use sluice_core::prelude::*;
//!
//! let noop = OpDefinition::builder("noop").output::<i64>("result").compute(|_, _| async { Ok(1) });
//! let mut job = JobDefinition::builder("one_op_job");
//! job.add(&noop);
//! let defs = Definitions::builder().job(job.build()).build().expect("valid definitions");
//! assert!(defs.job("one_op_job").is_some());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::asset::{
    ASSET_JOB_NAME, AssetCheckDefinition, AssetDefinition, AssetGraph, AssetGraphProblem,
    AssetJobDefinition, AssetKey, AssetKeyError, AssetSelection, SelectionError,
};
use crate::config::{ConfigError, ConfigPath};
use crate::io_manager::IoManagerDefinition;
use crate::job::{AssetPartitions, JobDefinition};
use crate::partition::{PartitionDefinitionError, PartitionMapping};
use crate::resource::ResourceDefinition;
use crate::schedule::{CronError, ScheduleDefinition};
use crate::sensor::SensorDefinition;
use serde_json::Value;

/// One thing wrong with a set of definitions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionProblem {
    /// Two jobs share a name.
    #[error("job \"{job}\" is defined more than once")]
    DuplicateJob {
        /// The job name defined twice.
        job: String,
    },
    /// Two resources are bound to one key.
    #[error("resource key \"{key}\" is bound more than once")]
    DuplicateResource {
        /// The resource key bound twice.
        key: String,
    },
    /// A resource needs a cargo feature this build was compiled without.
    #[error("resource \"{key}\" ({type_name}) is not available in this build: {reason}")]
    UnavailableResource {
        /// The resource key it is bound to.
        key: String,
        /// The resource's type name.
        type_name: String,
        /// Why it is unavailable, and how to get it (usually a feature to turn on).
        reason: String,
    },
    /// One op is invoked twice in a job under the same node name.
    #[error(
        "job \"{job}\": node \"{node}\" appears more than once; give each invocation its own alias"
    )]
    DuplicateNode {
        /// The job.
        job: String,
        /// The node name (op name or alias) that appears twice.
        node: String,
    },
    /// A node depends on a node that is not in the job.
    #[error(
        "job \"{job}\": node \"{referenced_by}\" depends on \"{node}\", which is not in the job"
    )]
    UnknownNode {
        /// The job.
        job: String,
        /// The missing upstream node.
        node: String,
        /// The node whose input names it.
        referenced_by: String,
    },
    /// A node reads an output its upstream op does not declare.
    #[error(
        "job \"{job}\": node \"{referenced_by}\" reads output \"{output}\" of \"{node}\", which has no such output"
    )]
    UnknownOutput {
        /// The job.
        job: String,
        /// The upstream node.
        node: String,
        /// The output name that node's op does not have.
        output: String,
        /// The node whose input reads it.
        referenced_by: String,
    },
    /// A node wires an input its op does not declare.
    #[error(
        "job \"{job}\": node \"{node}\" wires input \"{input}\", but op \"{op}\" has no such input"
    )]
    UnknownInput {
        /// The job.
        job: String,
        /// The node that wires the input.
        node: String,
        /// The node's op.
        op: String,
        /// The input name the op does not have.
        input: String,
    },
    /// An input with no default and no upstream output.
    #[error("job \"{job}\": input \"{input}\" of node \"{node}\" is not connected to any output")]
    UnconnectedInput {
        /// The job.
        job: String,
        /// The node.
        node: String,
        /// The unconnected input.
        input: String,
    },
    /// A plain input wired to several outputs (only a fan-in input takes several).
    #[error(
        "job \"{job}\": input \"{input}\" of node \"{node}\" has several sources; declare it with fan_in_input to take them all"
    )]
    MultipleSources {
        /// The job.
        job: String,
        /// The node.
        node: String,
        /// The input wired more than once.
        input: String,
    },
    /// An input is wired to an output of another Rust type.
    #[error(
        "job \"{job}\": input \"{input}\" of node \"{node}\" expects {expected}, but {from} is {found}"
    )]
    TypeMismatch {
        /// The job.
        job: String,
        /// The node.
        node: String,
        /// The input.
        input: String,
        /// The input's type name.
        expected: String,
        /// The upstream output, as `node.output`.
        from: String,
        /// The upstream output's type name.
        found: String,
    },
    /// The job's dependencies form a cycle.
    #[error("job \"{job}\" has a cycle: {}", nodes.join(" → "))]
    Cycle {
        /// The job.
        job: String,
        /// The nodes on the cycle, in dependency order.
        nodes: Vec<String>,
    },
    /// An op requires a resource key that nothing is bound to.
    #[error(
        "job \"{job}\": op \"{node}\" requires resource \"{key}\", which is not bound in the definitions"
    )]
    MissingResource {
        /// The job.
        job: String,
        /// The node whose op requires it.
        node: String,
        /// The unbound resource key.
        key: String,
    },
    /// A schedule or sensor requires a resource key that nothing is bound to.
    #[error("{instigator} requires resource \"{key}\", which is not bound in the definitions")]
    MissingInstigatorResource {
        /// The schedule or sensor, as `schedule "name"` or `sensor "name"`.
        instigator: String,
        /// The unbound resource key.
        key: String,
    },
    /// A job's default run config does not match its config schema.
    #[error(
        "job \"{job}\": its default run config is invalid: {}",
        join_errors(errors)
    )]
    InvalidDefaultConfig {
        /// The job.
        job: String,
        /// What is wrong with the config.
        errors: Vec<ConfigError>,
    },
    /// Two merged providers ([`DefinitionsBuilder::include`]) each set an IO manager.
    #[error(
        "the IO manager is set more than once (by merged definitions); set it once, where they are merged"
    )]
    DuplicateIoManager,
    /// A schedule's run config (set with `.run_config(...)`) does not fit its job.
    #[error(
        "schedule \"{schedule}\": its run config for job \"{job}\" is invalid: {}",
        join_errors(errors)
    )]
    InvalidScheduleConfig {
        /// The schedule.
        schedule: String,
        /// The job it runs.
        job: String,
        /// What is wrong with the config.
        errors: Vec<ConfigError>,
    },
    /// A resource's config does not match its config schema.
    #[error("resource \"{key}\": its config is invalid: {}", join_errors(errors))]
    InvalidResourceConfig {
        /// The resource key.
        key: String,
        /// What is wrong with the config.
        errors: Vec<ConfigError>,
    },
    /// A schedule or sensor shares its name with another schedule or sensor.
    #[error("\"{name}\" is defined more than once; schedules and sensors need names of their own")]
    DuplicateInstigator {
        /// The shared name.
        name: String,
    },
    /// A schedule's cron string or timezone does not parse.
    #[error("schedule \"{schedule}\": {error}")]
    InvalidSchedule {
        /// The schedule.
        schedule: String,
        /// What is wrong with it.
        error: CronError,
    },
    /// A schedule or sensor targets a job this location does not define.
    #[error("{kind} \"{name}\" targets job \"{job}\", which is not defined in this location")]
    UnknownTargetJob {
        /// `"schedule"` or `"sensor"`.
        kind: &'static str,
        /// The schedule's or sensor's name.
        name: String,
        /// The job it targets.
        job: String,
    },
    /// A sensor was built without an evaluation function.
    #[error("sensor \"{sensor}\" has no evaluation function")]
    SensorWithoutEvaluation {
        /// The sensor.
        sensor: String,
    },
    /// A sensor's `minimum_interval` is under one second.
    #[error("sensor \"{sensor}\": minimum_interval must be at least one second")]
    SensorIntervalTooShort {
        /// The sensor.
        sensor: String,
    },
    /// A sensor targets both jobs and assets.
    #[error("sensor \"{sensor}\" targets both jobs and an asset selection; give it one of them")]
    SensorTargetsJobsAndAssets {
        /// The sensor.
        sensor: String,
    },
    /// A sensor's asset selection names assets that are not defined.
    #[error("sensor \"{sensor}\": its asset selection is invalid: {error}")]
    InvalidSensorAssetSelection {
        /// The sensor.
        sensor: String,
        /// What is wrong with the selection.
        error: SelectionError,
    },
    /// An asset key that is not valid (no parts, or a part with other characters than
    /// letters, digits, `_` and `-`).
    #[error("asset \"{asset}\": {error}")]
    InvalidAssetKey {
        /// The asset key.
        asset: AssetKey,
        /// What is wrong with it.
        error: AssetKeyError,
    },
    /// A multi-asset that is not well formed.
    #[error("multi-asset \"{multi_asset}\": {reason}")]
    InvalidMultiAsset {
        /// The multi-asset's op name.
        multi_asset: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The assets' dependency graph is not valid.
    #[error(transparent)]
    AssetGraph(#[from] AssetGraphProblem),
    /// An asset job's selection names assets that are not defined.
    #[error("asset job \"{job}\": {error}")]
    InvalidAssetSelection {
        /// The asset job.
        job: String,
        /// What is wrong with the selection.
        error: SelectionError,
    },
    /// An asset job selects no asset that this location computes (only source assets, or
    /// nothing).
    #[error("asset job \"{job}\" selects no asset that is computed here")]
    EmptyAssetJob {
        /// The asset job.
        job: String,
    },
    /// An asset check is of an asset that is not defined.
    #[error("check \"{check}\" is of asset \"{asset}\", which is not defined")]
    UnknownCheckedAsset {
        /// The check's name.
        check: String,
        /// The asset it checks.
        asset: AssetKey,
    },
    /// Two checks of one asset share a name.
    #[error("asset \"{asset}\" has more than one check named \"{check}\"")]
    DuplicateCheck {
        /// The shared check name.
        check: String,
        /// The asset.
        asset: AssetKey,
    },
    /// An asset's partitions definition is not valid.
    #[error("asset \"{asset}\": {error}")]
    InvalidAssetPartitions {
        /// The asset.
        asset: AssetKey,
        /// What is wrong with its partitions.
        error: PartitionDefinitionError,
    },
    /// A job's partitions definition is not valid.
    #[error("job \"{job}\": {error}")]
    InvalidJobPartitions {
        /// The job.
        job: String,
        /// What is wrong with its partitions.
        error: PartitionDefinitionError,
    },
    /// A partition mapping that cannot map the upstream asset's partitions to this one's.
    #[error("asset \"{asset}\": its partition mapping from \"{upstream}\" cannot apply: {reason}")]
    InvalidPartitionMapping {
        /// The downstream asset, which declares the mapping.
        asset: AssetKey,
        /// The upstream asset the mapping reads.
        upstream: AssetKey,
        /// Why it cannot apply.
        reason: String,
    },
    /// An asset job's partitioned assets do not share one partitions definition.
    #[error(
        "asset job \"{job}\" mixes {} partitionings ({}); the partitioned assets of a job must share one",
        partitionings.len(),
        partitionings.join("; ")
    )]
    MixedPartitions {
        /// The asset job.
        job: String,
        /// The distinct partitionings, described.
        partitionings: Vec<String>,
    },
}

fn join_errors(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The definitions of a code location are invalid; every problem found is listed.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionError {
    /// Every problem found, in the order validation found them.
    pub problems: Vec<DefinitionProblem>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in definitions:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DefinitionError {}

/// The assets, jobs, resources, schedules and sensors a code location exposes, validated.
#[derive(Debug, Clone)]
pub struct Definitions {
    assets: BTreeMap<AssetKey, AssetDefinition>,
    asset_checks: Vec<AssetCheckDefinition>,
    asset_graph: AssetGraph,
    jobs: BTreeMap<String, JobDefinition>,
    resources: BTreeMap<String, ResourceDefinition>,
    schedules: BTreeMap<String, ScheduleDefinition>,
    sensors: BTreeMap<String, SensorDefinition>,
    io_manager: IoManagerDefinition,
}

impl Definitions {
    /// Start collecting definitions; [`DefinitionsBuilder::build`] validates them.
    pub fn builder() -> DefinitionsBuilder {
        DefinitionsBuilder::default()
    }

    /// The job named `name` (asset jobs included), or `None` if there is none.
    pub fn job(&self, name: &str) -> Option<&JobDefinition> {
        self.jobs.get(name)
    }

    /// The asset with this key, or `None` if it is not defined here.
    pub fn asset(&self, key: &AssetKey) -> Option<&AssetDefinition> {
        self.assets.get(key)
    }

    /// The assets, by key.
    pub fn assets(&self) -> impl Iterator<Item = &AssetDefinition> {
        self.assets.values()
    }

    /// The asset checks, by asset then name.
    pub fn asset_checks(&self) -> &[AssetCheckDefinition] {
        &self.asset_checks
    }

    /// The assets' dependency graph.
    pub fn asset_graph(&self) -> &AssetGraph {
        &self.asset_graph
    }

    /// The steps of [`ASSET_JOB_NAME`] that materialize what `selection` picks, and
    /// check it: an ad hoc materialization is a run of that job executing only these
    /// steps.
    pub fn asset_steps(&self, selection: &AssetSelection) -> Result<Vec<String>, SelectionError> {
        let keys = selection.resolve(&self.asset_graph)?;
        let assets = keys.iter().filter_map(|k| self.assets.get(k)?.op());
        let checks = self
            .asset_checks
            .iter()
            .filter(|c| keys.contains(c.asset()))
            .map(AssetCheckDefinition::op);
        // The assets of a multi-asset share their op's step.
        let mut seen = std::collections::HashSet::new();
        Ok(assets
            .chain(checks)
            .map(|op| op.name().to_owned())
            .filter(|step| seen.insert(step.clone()))
            .collect())
    }

    /// The jobs, by name.
    pub fn jobs(&self) -> impl Iterator<Item = &JobDefinition> {
        self.jobs.values()
    }

    /// The resource bound to `key`, or `None` if nothing is bound to it.
    pub fn resource(&self, key: &str) -> Option<&ResourceDefinition> {
        self.resources.get(key)
    }

    /// The bound resources, by key.
    pub fn resources(&self) -> &BTreeMap<String, ResourceDefinition> {
        &self.resources
    }

    /// These definitions with `resource` bound to `key` in place of what was (a test's
    /// stand-in for a database, say: `sluice::testing`). Every use of the key was
    /// checked when the definitions were built; the stand-in's config, if any, is what
    /// run config must now give.
    pub fn with_resource(mut self, key: impl Into<String>, resource: ResourceDefinition) -> Self {
        self.resources.insert(key.into(), resource);
        self
    }

    /// The resources `keys` with their [standalone
    /// config](ResourceDefinition::standalone_config), ready for
    /// [`Resources::setup`](crate::resource::Resources::setup): what a sensor or schedule
    /// evaluation uses. Keys that are not bound are left out (loading refuses them).
    pub fn standalone_resources(
        &self,
        keys: &[String],
    ) -> Vec<(String, ResourceDefinition, Value)> {
        keys.iter()
            .filter_map(|key| {
                let def = self.resources.get(key)?;
                Some((key.clone(), def.clone(), def.standalone_config()))
            })
            .collect()
    }

    /// The schedule named `name`, or `None`.
    pub fn schedule(&self, name: &str) -> Option<&ScheduleDefinition> {
        self.schedules.get(name)
    }

    /// The schedules, by name.
    pub fn schedules(&self) -> impl Iterator<Item = &ScheduleDefinition> {
        self.schedules.values()
    }

    /// The sensor named `name`, or `None`.
    pub fn sensor(&self, name: &str) -> Option<&SensorDefinition> {
        self.sensors.get(name)
    }

    /// The sensors, by name.
    pub fn sensors(&self) -> impl Iterator<Item = &SensorDefinition> {
        self.sensors.values()
    }

    /// How the location's runs keep their outputs.
    pub fn io_manager(&self) -> &IoManagerDefinition {
        &self.io_manager
    }
}

/// Collects jobs, resources, schedules and sensors, then validates them together.
#[derive(Default)]
#[must_use]
pub struct DefinitionsBuilder {
    assets: Vec<AssetDefinition>,
    asset_checks: Vec<AssetCheckDefinition>,
    asset_jobs: Vec<AssetJobDefinition>,
    jobs: Vec<JobDefinition>,
    resources: Vec<(String, ResourceDefinition)>,
    schedules: Vec<ScheduleDefinition>,
    sensors: Vec<SensorDefinition>,
    io_manager: Option<IoManagerDefinition>,
    /// How many included providers set an IO manager when one was set already.
    io_manager_conflicts: usize,
}

impl DefinitionsBuilder {
    /// Keep the runs' outputs with this IO manager instead of files under
    /// `$SLUICE_HOME/storage` (Dagster's `resources={"io_manager": ...}`).
    pub fn io_manager(mut self, io_manager: IoManagerDefinition) -> Self {
        self.io_manager = Some(io_manager);
        self
    }

    /// Add an asset (Dagster's `@asset`).
    pub fn asset(mut self, asset: AssetDefinition) -> Self {
        self.assets.push(asset);
        self
    }

    /// Add several assets.
    pub fn assets(mut self, assets: impl IntoIterator<Item = AssetDefinition>) -> Self {
        self.assets.extend(assets);
        self
    }

    /// Add an asset check (Dagster's `@asset_check`).
    pub fn asset_check(mut self, check: AssetCheckDefinition) -> Self {
        self.asset_checks.push(check);
        self
    }

    /// Add several asset checks.
    pub fn asset_checks(mut self, checks: impl IntoIterator<Item = AssetCheckDefinition>) -> Self {
        self.asset_checks.extend(checks);
        self
    }

    /// A job over a selection of the assets (see [`crate::asset::define_asset_job`]).
    pub fn asset_job(mut self, job: AssetJobDefinition) -> Self {
        self.asset_jobs.push(job);
        self
    }

    /// Add several asset jobs.
    pub fn asset_jobs(mut self, jobs: impl IntoIterator<Item = AssetJobDefinition>) -> Self {
        self.asset_jobs.extend(jobs);
        self
    }

    /// Add an op job (Dagster's `@job`).
    pub fn job(mut self, job: JobDefinition) -> Self {
        self.jobs.push(job);
        self
    }

    /// Add several op jobs.
    pub fn jobs(mut self, jobs: impl IntoIterator<Item = JobDefinition>) -> Self {
        self.jobs.extend(jobs);
        self
    }

    /// Bind `resource` to `key`, for the ops that require that key.
    pub fn resource(mut self, key: impl Into<String>, resource: ResourceDefinition) -> Self {
        self.resources.push((key.into(), resource));
        self
    }

    /// Bind several resources, each to its key.
    pub fn resources<K: Into<String>>(
        mut self,
        resources: impl IntoIterator<Item = (K, ResourceDefinition)>,
    ) -> Self {
        self.resources
            .extend(resources.into_iter().map(|(key, r)| (key.into(), r)));
        self
    }

    /// Add a schedule.
    pub fn schedule(mut self, schedule: ScheduleDefinition) -> Self {
        self.schedules.push(schedule);
        self
    }

    /// Add several schedules.
    pub fn schedules(mut self, schedules: impl IntoIterator<Item = ScheduleDefinition>) -> Self {
        self.schedules.extend(schedules);
        self
    }

    /// Add a sensor.
    pub fn sensor(mut self, sensor: SensorDefinition) -> Self {
        self.sensors.push(sensor);
        self
    }

    /// Add several sensors.
    pub fn sensors(mut self, sensors: impl IntoIterator<Item = SensorDefinition>) -> Self {
        self.sensors.extend(sensors);
        self
    }

    /// Add everything `provider` collected: the definitions of one part of a location
    /// (a source system's assets and jobs, say), merged with the rest (Dagster's
    /// `Definitions.merge`). A name both define is a problem at [`build`](Self::build)
    /// (`DuplicateJob`, `DuplicateResource`, ...), so bind a resource the providers
    /// share once, here, rather than in each. An IO manager set by both is a problem
    /// too; one set by either is kept.
    pub fn include(mut self, provider: DefinitionsBuilder) -> Self {
        self.assets.extend(provider.assets);
        self.asset_checks.extend(provider.asset_checks);
        self.asset_jobs.extend(provider.asset_jobs);
        self.jobs.extend(provider.jobs);
        self.resources.extend(provider.resources);
        self.schedules.extend(provider.schedules);
        self.sensors.extend(provider.sensors);
        match (&self.io_manager, provider.io_manager) {
            (Some(_), Some(_)) => self.io_manager_conflicts += 1,
            (None, Some(io)) => self.io_manager = Some(io),
            (_, None) => {}
        }
        self
    }

    /// Validate everything and return the definitions, or every problem found.
    pub fn build(self) -> Result<Definitions, DefinitionError> {
        let mut problems = Vec::new();
        if self.io_manager_conflicts > 0 {
            problems.push(DefinitionProblem::DuplicateIoManager);
        }
        let mut resources = BTreeMap::new();
        for (key, def) in self.resources {
            if resources.contains_key(&key) {
                problems.push(DefinitionProblem::DuplicateResource { key });
                continue;
            }
            if let Some(reason) = def.unavailable() {
                problems.push(DefinitionProblem::UnavailableResource {
                    key: key.clone(),
                    type_name: def.type_name().to_owned(),
                    reason: reason.to_owned(),
                });
            }
            if let (Some(schema), Some(config)) = (def.config_schema(), def.default_config()) {
                let mut errors = Vec::new();
                schema.validate(config, &mut ConfigPath::root(), &mut errors);
                if !errors.is_empty() {
                    problems.push(DefinitionProblem::InvalidResourceConfig {
                        key: key.clone(),
                        errors,
                    });
                }
            }
            resources.insert(key, def);
        }
        let (assets, asset_graph, asset_jobs) = check_assets(
            self.assets,
            &self.asset_checks,
            self.asset_jobs,
            &mut problems,
        );
        let mut jobs = BTreeMap::new();
        for job in asset_jobs.into_iter().chain(self.jobs) {
            if jobs.contains_key(job.name()) {
                problems.push(DefinitionProblem::DuplicateJob {
                    job: job.name().to_owned(),
                });
                continue;
            }
            problems.extend(job.graph_problems());
            if let Some(Err(error)) = job.partitions().map(|p| p.validate()) {
                problems.push(DefinitionProblem::InvalidJobPartitions {
                    job: job.name().to_owned(),
                    error,
                });
            }
            for node in job.nodes() {
                for key in node.op.required_resource_keys() {
                    if !resources.contains_key(key) {
                        problems.push(DefinitionProblem::MissingResource {
                            job: job.name().to_owned(),
                            node: node.alias.clone(),
                            key: key.clone(),
                        });
                    }
                }
            }
            jobs.insert(job.name().to_owned(), job);
        }
        let schedule_keys = self
            .schedules
            .iter()
            .map(|s| (format!("schedule \"{}\"", s.name()), s.required_resources()));
        let sensor_keys = self
            .sensors
            .iter()
            .map(|s| (format!("sensor \"{}\"", s.name()), s.required_resources()));
        for (instigator, keys) in schedule_keys.chain(sensor_keys) {
            for key in keys.iter().filter(|k| !resources.contains_key(*k)) {
                problems.push(DefinitionProblem::MissingInstigatorResource {
                    instigator: instigator.clone(),
                    key: key.clone(),
                });
            }
        }
        let (schedules, sensors) = check_instigators(
            self.schedules,
            self.sensors,
            &jobs,
            &asset_graph,
            &mut problems,
        );
        let defs = Definitions {
            assets,
            asset_checks: self.asset_checks,
            asset_graph,
            jobs,
            resources,
            schedules,
            sensors,
            io_manager: self.io_manager.unwrap_or_default(),
        };
        // Default run configs are checked against graphs known to be sound.
        if problems.is_empty() {
            for job in defs.jobs.values() {
                if let Some(config) = job.default_run_config()
                    && let Err(e) = crate::run_config::resolve(&defs, job, config)
                {
                    problems.push(DefinitionProblem::InvalidDefaultConfig {
                        job: job.name().to_owned(),
                        errors: e.errors,
                    });
                }
            }
            // A schedule's fixed run config would fail every tick: say so now.
            for schedule in defs.schedules.values() {
                if let (Some(config), Some(job)) = (
                    schedule.static_run_config(),
                    defs.jobs.get(schedule.job_name()),
                ) && let Err(e) = crate::run_config::resolve(&defs, job, config)
                {
                    problems.push(DefinitionProblem::InvalidScheduleConfig {
                        schedule: schedule.name().to_owned(),
                        job: job.name().to_owned(),
                        errors: e.errors,
                    });
                }
            }
        }
        if problems.is_empty() {
            Ok(defs)
        } else {
            Err(DefinitionError { problems })
        }
    }
}

/// Check the assets (keys, graph) and build the asset jobs: those declared, and
/// [`ASSET_JOB_NAME`] over every computed asset unless a job has that name already.
fn check_assets(
    list: Vec<AssetDefinition>,
    checks: &[AssetCheckDefinition],
    asset_jobs: Vec<AssetJobDefinition>,
    problems: &mut Vec<DefinitionProblem>,
) -> (
    BTreeMap<AssetKey, AssetDefinition>,
    AssetGraph,
    Vec<JobDefinition>,
) {
    for asset in &list {
        if let Some((multi_asset, reason)) = asset.multi_asset_problem() {
            problems.push(DefinitionProblem::InvalidMultiAsset {
                multi_asset: multi_asset.clone(),
                reason: reason.clone(),
            });
        }
        for error in asset.key_errors() {
            problems.push(DefinitionProblem::InvalidAssetKey {
                asset: asset.key().clone(),
                error: error.clone(),
            });
        }
    }
    let mut check_names = std::collections::BTreeSet::new();
    for check in checks {
        if let Some(error) = check.key_error() {
            problems.push(DefinitionProblem::InvalidAssetKey {
                asset: check.asset().clone(),
                error: error.clone(),
            });
        } else if !list.iter().any(|a| a.key() == check.asset()) {
            problems.push(DefinitionProblem::UnknownCheckedAsset {
                check: check.name().to_owned(),
                asset: check.asset().clone(),
            });
        }
        if !check_names.insert((check.asset(), check.name())) {
            problems.push(DefinitionProblem::DuplicateCheck {
                check: check.name().to_owned(),
                asset: check.asset().clone(),
            });
        }
    }
    let graph = match AssetGraph::new(list.iter().map(AssetDefinition::node)) {
        Ok(graph) => graph,
        Err(found) => {
            problems.extend(found.into_iter().map(DefinitionProblem::from));
            return (BTreeMap::new(), AssetGraph::default(), Vec::new());
        }
    };
    let by_key: FxHashMap<&AssetKey, &AssetDefinition> =
        list.iter().map(|a| (a.key(), a)).collect();
    let partitions = Arc::new(check_partitions(&list, &by_key, problems));
    let mut jobs = Vec::new();
    for asset_job in &asset_jobs {
        let keys = match asset_job.selection().resolve(&graph) {
            Ok(keys) => keys,
            Err(error) => {
                problems.push(DefinitionProblem::InvalidAssetSelection {
                    job: asset_job.name().to_owned(),
                    error,
                });
                continue;
            }
        };
        let mixed = crate::asset::partitionings(&keys, &by_key);
        if mixed.len() > 1 {
            problems.push(DefinitionProblem::MixedPartitions {
                job: asset_job.name().to_owned(),
                partitionings: mixed.iter().map(ToString::to_string).collect(),
            });
        }
        let job = asset_job.build(&keys, &by_key, checks, &graph, &partitions);
        if job.nodes().is_empty() {
            problems.push(DefinitionProblem::EmptyAssetJob {
                job: asset_job.name().to_owned(),
            });
        }
        jobs.push(job);
    }
    let computed = list.iter().any(|a| !a.is_source());
    if computed && !asset_jobs.iter().any(|j| j.name() == ASSET_JOB_NAME) {
        let all = graph.nodes().map(|n| n.key.clone()).collect();
        jobs.push(crate::asset::build_nodes(
            JobDefinition::builder(ASSET_JOB_NAME),
            &all,
            &by_key,
            checks,
            &graph,
            &partitions,
        ));
    }
    let assets = list.into_iter().map(|a| (a.key().clone(), a)).collect();
    (assets, graph, jobs)
}

/// Check the assets' partitionings and the mappings between them, and collect the
/// partitionings by key.
fn check_partitions(
    list: &[AssetDefinition],
    by_key: &FxHashMap<&AssetKey, &AssetDefinition>,
    problems: &mut Vec<DefinitionProblem>,
) -> AssetPartitions {
    let mut partitions = AssetPartitions::new();
    for asset in list {
        if let Some(def) = asset.partitions() {
            match def.validate() {
                Ok(()) => {
                    partitions.insert(asset.key().clone(), def.clone());
                }
                Err(error) => problems.push(DefinitionProblem::InvalidAssetPartitions {
                    asset: asset.key().clone(),
                    error,
                }),
            }
        }
    }
    for asset in list {
        let mapping_problem =
            |upstream: &AssetKey, reason: String| DefinitionProblem::InvalidPartitionMapping {
                asset: asset.key().clone(),
                upstream: upstream.clone(),
                reason,
            };
        for (upstream, mapping) in asset.partition_mappings() {
            if !asset.deps().iter().any(|d| &d.key == upstream) {
                problems.push(mapping_problem(
                    upstream,
                    "it is not an upstream asset".into(),
                ));
                continue;
            }
            match by_key.get(upstream).and_then(|u| u.partitions()) {
                None => problems.push(mapping_problem(
                    upstream,
                    "the upstream asset is not partitioned".into(),
                )),
                Some(up) => {
                    if let Err(reason) = mapping.check(up, asset.partitions()) {
                        problems.push(mapping_problem(upstream, reason));
                    }
                }
            }
        }
        // An input of several partitions needs a partitioned upstream.
        let Some(op) = asset.op() else { continue };
        for input in op.inputs() {
            let Some(read) = &input.asset else { continue };
            let up = by_key.get(&read.key).and_then(|u| u.partitions());
            if read.partitions.is_some() && up.is_none() && by_key.contains_key(&read.key) {
                problems.push(mapping_problem(
                    &read.key,
                    format!(
                        "input \"{}\" reads partitions, but the upstream asset is not partitioned",
                        input.name
                    ),
                ));
            }
            if let (Some(up), None) = (up, asset.partition_mappings().get(&read.key))
                && read.partitions.is_none()
                && PartitionMapping::default_for(up, asset.partitions())
                    == PartitionMapping::AllPartitions
            {
                problems.push(mapping_problem(
                    &read.key,
                    format!(
                        "input \"{}\" takes one value, but an unpartitioned asset reads every partition; declare it with input_partitions",
                        input.name
                    ),
                ));
            }
        }
    }
    partitions
}

/// Check schedules and sensors against each other and the jobs they target.
fn check_instigators(
    schedule_list: Vec<ScheduleDefinition>,
    sensor_list: Vec<SensorDefinition>,
    jobs: &BTreeMap<String, JobDefinition>,
    asset_graph: &AssetGraph,
    problems: &mut Vec<DefinitionProblem>,
) -> (
    BTreeMap<String, ScheduleDefinition>,
    BTreeMap<String, SensorDefinition>,
) {
    let mut names = std::collections::BTreeSet::new();
    let mut unique = |name: &str, problems: &mut Vec<DefinitionProblem>| {
        let fresh = names.insert(name.to_owned());
        if !fresh {
            problems.push(DefinitionProblem::DuplicateInstigator {
                name: name.to_owned(),
            });
        }
        fresh
    };
    let mut schedules = BTreeMap::new();
    for schedule in schedule_list {
        if !unique(schedule.name(), problems) {
            continue;
        }
        if let Err(error) = schedule.cron() {
            problems.push(DefinitionProblem::InvalidSchedule {
                schedule: schedule.name().to_owned(),
                error,
            });
        }
        if !jobs.contains_key(schedule.job_name()) {
            problems.push(DefinitionProblem::UnknownTargetJob {
                kind: "schedule",
                name: schedule.name().to_owned(),
                job: schedule.job_name().to_owned(),
            });
        }
        schedules.insert(schedule.name().to_owned(), schedule);
    }
    let mut sensors = BTreeMap::new();
    for mut sensor in sensor_list {
        if !unique(sensor.name(), problems) {
            continue;
        }
        if !sensor.has_evaluation() {
            problems.push(DefinitionProblem::SensorWithoutEvaluation {
                sensor: sensor.name().to_owned(),
            });
        }
        if sensor.minimum_interval() < std::time::Duration::from_secs(1) {
            problems.push(DefinitionProblem::SensorIntervalTooShort {
                sensor: sensor.name().to_owned(),
            });
        }
        for job in sensor.jobs().iter().filter(|j| !jobs.contains_key(*j)) {
            problems.push(DefinitionProblem::UnknownTargetJob {
                kind: "sensor",
                name: sensor.name().to_owned(),
                job: job.clone(),
            });
        }
        if let Some(selection) = sensor.asset_selection() {
            let sensor_name = sensor.name().to_owned();
            if !sensor.jobs().is_empty() {
                problems.push(DefinitionProblem::SensorTargetsJobsAndAssets {
                    sensor: sensor_name.clone(),
                });
            }
            match selection.resolve(asset_graph) {
                Ok(keys) => sensor.set_target_assets(keys.into_iter().collect()),
                Err(error) => problems.push(DefinitionProblem::InvalidSensorAssetSelection {
                    sensor: sensor_name,
                    error,
                }),
            }
        }
        sensors.insert(sensor.name().to_owned(), sensor);
    }
    (schedules, sensors)
}
