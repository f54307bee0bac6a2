//! The in-process executor: runs a plan's steps on tokio, every ready step at once up to
//! `max_concurrent`, passing outputs to downstream inputs, retrying per policy, enforcing
//! timeouts, skipping what depends on a failure, and stopping on cancellation. Every
//! transition is an event.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::asset::{AssetKey, DataVersion};
use crate::events::{
    AssetMaterialization, AssetObservation, ErrorInfo, EventData, EventSink, EventType, LogLevel,
    RunEvent,
};
use crate::io_manager::{IoManager, IoManagerError, OutputKey};
use crate::metadata::Metadata;
use crate::op::{
    AssetInput, AssetOp, ContextInner, Inputs, OpContext, OpDefinition, OpError, StepValue,
};
use crate::partition::{PartitionError, PartitionMapping, PartitionsContext, TimeWindow};
use crate::plan::ExecutionPlan;
use crate::resource::Resources;
use crate::run::{RunPartitions, RunStatus};
use crate::run_config::ResolvedRunConfig;

/// What a run needs besides its plan and config.
#[derive(Clone)]
pub struct RunContext {
    pub run_id: String,
    pub tags: BTreeMap<String, String>,
    pub events: Arc<dyn EventSink>,
    /// Cancel it to terminate the run: running steps stop at their next await.
    pub cancel: CancellationToken,
    /// Keeps every step output (and loads those a re-execution reuses). Without one,
    /// outputs live in memory for this run only.
    pub io_manager: Option<Arc<dyn IoManager>>,
    /// Set when the run executes only some steps of an earlier run's job.
    pub reexecution: Option<Reexecution>,
    /// The time and the dynamic partition keys that partition mappings are resolved
    /// with; `None`: now, and no dynamic partitions.
    pub partitions: Option<PartitionsContext>,
}

/// The key under which IO manager events name the instance's IO manager, as in Dagster.
pub const IO_MANAGER_KEY: &str = "io_manager";

/// Which steps a re-execution runs, and where the outputs of the others come from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reexecution {
    /// The steps to execute. Every other step counts as done: its outputs are loaded
    /// through the IO manager when an executed step needs them.
    pub step_keys: BTreeSet<String>,
    /// The runs to load those outputs from, nearest first (the parent run, then its
    /// parent, and so on): a step reused by the parent ran in an earlier run.
    pub source_runs: Vec<String>,
}

/// The default step concurrency: the number of cores.
pub fn default_max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Execute `plan` with `config`, emitting every event to `run.events`, and return the
/// run's final status (SUCCESS, FAILURE or CANCELED).
pub async fn execute(
    plan: &ExecutionPlan,
    config: ResolvedRunConfig,
    run: RunContext,
) -> RunStatus {
    let job_name = plan.job().name().to_owned();
    let emit = |e: RunEvent| run.events.emit(e);
    emit(RunEvent::new(
        &run.run_id,
        EventType::RunStart,
        format!("Started execution of run for \"{job_name}\"."),
    ));

    let partitions = run
        .partitions
        .clone()
        .unwrap_or_else(|| PartitionsContext::at(chrono::Utc::now()));
    let partition_keys = match run_partition_keys(plan, &run, &partitions) {
        Ok(keys) => keys,
        Err(err) => {
            let message = format!("Execution of run for \"{job_name}\" failed: {err}.");
            emit(
                RunEvent::new(&run.run_id, EventType::RunFailure, message).data(
                    EventData::Failure {
                        error: ErrorInfo::from_error("PartitionError", &err),
                    },
                ),
            );
            return RunStatus::Failure;
        }
    };

    let resources = match Resources::setup(config.resources, Some(&run.run_id)).await {
        Ok(r) => Arc::new(r),
        Err((key, err)) => {
            let error = ErrorInfo::from_error("ResourceError", &err);
            emit(
                RunEvent::new(
                    &run.run_id,
                    EventType::EngineEvent,
                    format!("Resource \"{key}\" failed to set up: {err}"),
                )
                .level(LogLevel::Error)
                .data(EventData::Failure {
                    error: error.clone(),
                }),
            );
            emit(
                RunEvent::new(
                    &run.run_id,
                    EventType::RunFailure,
                    format!("Execution of run for \"{job_name}\" failed: resource \"{key}\" failed to set up."),
                )
                .data(EventData::Failure { error }),
            );
            return RunStatus::Failure;
        }
    };

    let steps = plan.steps();
    let selected: Vec<bool> = match &run.reexecution {
        None => vec![true; steps.len()],
        Some(r) => steps.iter().map(|s| r.step_keys.contains(&s.key)).collect(),
    };
    if let Some(r) = &run.reexecution {
        let unknown: Vec<&str> = r
            .step_keys
            .iter()
            .filter(|k| !steps.iter().any(|s| &s.key == *k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let message = format!(
                "Execution of run for \"{job_name}\" failed: steps [\"{}\"] are not in the job.",
                unknown.join("\", \"")
            );
            let error = ErrorInfo::new("UnknownSteps", message.clone());
            emit(
                RunEvent::new(&run.run_id, EventType::RunFailure, message)
                    .data(EventData::Failure { error }),
            );
            let _ = resources.teardown().await;
            return RunStatus::Failure;
        }
    }
    let max_concurrent = config
        .max_concurrent
        .unwrap_or_else(default_max_concurrent)
        .max(1);
    let mut executor = Executor {
        plan,
        run: &run,
        op_configs: config.op_configs,
        resources: Arc::clone(&resources),
        tags: Arc::new(run.tags.clone()),
        partition_keys,
        partitions,
        state: vec![StepState::Waiting; plan.steps().len()],
        remaining: plan.steps().iter().map(|s| s.upstream.len()).collect(),
        selected,
        outputs: HashMap::new(),
        ready: VecDeque::new(),
    };
    let summary = executor.run(max_concurrent).await;

    for (key, err) in resources.teardown().await {
        emit(
            RunEvent::new(
                &run.run_id,
                EventType::EngineEvent,
                format!("Resource \"{key}\" failed to tear down: {err}"),
            )
            .level(LogLevel::Error)
            .data(EventData::Failure {
                error: ErrorInfo::from_error("ResourceError", &err),
            }),
        );
    }

    let (status, event) = if summary.interrupted {
        (
            RunStatus::Canceled,
            RunEvent::new(
                &run.run_id,
                EventType::RunCanceled,
                format!("Execution of run for \"{job_name}\" canceled."),
            ),
        )
    } else if summary.failed.is_empty() {
        (
            RunStatus::Success,
            RunEvent::new(
                &run.run_id,
                EventType::RunSuccess,
                format!("Finished execution of run for \"{job_name}\"."),
            ),
        )
    } else {
        let steps = summary.failed.join("\", \"");
        let message =
            format!("Execution of run for \"{job_name}\" failed. Steps failed: [\"{steps}\"].");
        let error = ErrorInfo::new("StepFailures", message.clone());
        (
            RunStatus::Failure,
            RunEvent::new(&run.run_id, EventType::RunFailure, message)
                .data(EventData::Failure { error }),
        )
    };
    emit(event);
    status
}

/// The partitions the run materializes: its one partition, or every key of its range
/// (in the partitioning's order); `None` for a run that names none.
fn run_partition_keys(
    plan: &ExecutionPlan,
    run: &RunContext,
    ctx: &PartitionsContext,
) -> Result<Option<Arc<[String]>>, PartitionError> {
    let Some(named) = RunPartitions::of_tags(&run.tags)? else {
        return Ok(None);
    };
    // The job's partitioning; for the location's asset job, whose assets may be
    // partitioned differently, that of the assets the run executes.
    let executes = |key: &String| {
        run.reexecution
            .as_ref()
            .is_none_or(|r| r.step_keys.contains(key))
    };
    let definition = plan.job().partitions().or_else(|| {
        plan.steps()
            .iter()
            .filter(|s| executes(&s.key))
            .find_map(|s| s.op.asset()?.partitions.as_ref())
    });
    let keys = match (&named, definition) {
        (RunPartitions::Key(key), _) => vec![key.clone()],
        (RunPartitions::Range { .. }, Some(definition)) => named.keys(definition, ctx)?,
        (RunPartitions::Range { .. }, None) => {
            return Err(PartitionError::NotPartitioned(named.to_string()));
        }
    };
    Ok(Some(keys.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Waiting,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
}

enum StepOutcome {
    Success(Vec<(String, StepValue)>),
    Failure,
    Interrupted,
}

struct Summary {
    failed: Vec<String>,
    interrupted: bool,
}

struct Executor<'a> {
    plan: &'a ExecutionPlan,
    run: &'a RunContext,
    op_configs: HashMap<String, Value>,
    resources: Arc<Resources>,
    tags: Arc<BTreeMap<String, String>>,
    /// The partitions the run materializes (one, or a range).
    partition_keys: Option<Arc<[String]>>,
    partitions: PartitionsContext,
    state: Vec<StepState>,
    /// Upstream steps each step still waits for.
    remaining: Vec<usize>,
    /// Whether each step executes in this run (all do, unless it is a re-execution).
    selected: Vec<bool>,
    outputs: HashMap<(usize, String), StepValue>,
    ready: VecDeque<usize>,
}

impl Executor<'_> {
    async fn run(&mut self, max_concurrent: usize) -> Summary {
        // Steps a re-execution does not run count as done, without events.
        for i in 0..self.state.len() {
            if !self.selected[i] {
                self.state[i] = StepState::Succeeded;
                for &d in &self.plan.steps()[i].downstream {
                    self.remaining[d] -= 1;
                }
            }
        }
        self.ready = (0..self.state.len())
            .filter(|i| self.selected[*i] && self.remaining[*i] == 0)
            .collect();
        let mut running: JoinSet<StepOutcome> = JoinSet::new();
        let mut task_steps: HashMap<tokio::task::Id, usize> = HashMap::new();
        let mut canceled = self.run.cancel.is_cancelled();
        loop {
            while !canceled && running.len() < max_concurrent {
                let Some(i) = self.ready.pop_front() else {
                    break;
                };
                match self.gather_inputs(i) {
                    Ok(inputs) => {
                        self.state[i] = StepState::Running;
                        let handle = running.spawn(self.step_run(i, inputs).run());
                        task_steps.insert(handle.id(), i);
                    }
                    Err(Unready::Skip(reason)) => self.finish(i, StepState::Skipped, Some(reason)),
                    Err(Unready::Fail(error)) => {
                        self.step_run(i, HashMap::new()).fail_before_start(error);
                        self.finish(i, StepState::Failed, None);
                    }
                }
            }
            if running.is_empty() && (canceled || self.ready.is_empty()) {
                break;
            }
            tokio::select! {
                biased;
                joined = running.join_next_with_id() => {
                    let Some(joined) = joined else { continue };
                    let (id, outcome) = match joined {
                        Ok((id, outcome)) => (id, outcome),
                        // Step tasks catch panics of user code; a task that still died is
                        // a failure of that step.
                        Err(e) => (e.id(), StepOutcome::Failure),
                    };
                    let Some(i) = task_steps.remove(&id) else { continue };
                    match outcome {
                        StepOutcome::Success(values) => {
                            for (name, value) in values {
                                self.outputs.insert((i, name), value);
                            }
                            self.finish(i, StepState::Succeeded, None);
                        }
                        StepOutcome::Failure => self.finish(i, StepState::Failed, None),
                        StepOutcome::Interrupted => self.state[i] = StepState::Interrupted,
                    }
                }
                _ = self.run.cancel.cancelled(), if !canceled => {
                    canceled = true;
                    self.run.events.emit(RunEvent::new(
                        &self.run.run_id,
                        EventType::EngineEvent,
                        "Run termination requested: stopping running steps; no new step will start.",
                    ).level(LogLevel::Warning));
                }
            }
        }
        let steps = self.plan.steps();
        Summary {
            failed: (0..steps.len())
                .filter(|i| self.state[*i] == StepState::Failed)
                .map(|i| steps[i].key.clone())
                .collect(),
            interrupted: canceled || self.state.contains(&StepState::Interrupted),
        }
    }

    /// Record that step `i` is done, and release or skip what waits on it.
    fn finish(&mut self, i: usize, state: StepState, skip_reason: Option<String>) {
        let steps = self.plan.steps();
        let mut work = vec![(i, state, skip_reason)];
        while let Some((i, state, reason)) = work.pop() {
            self.state[i] = state;
            if state == StepState::Skipped {
                let reason = reason.unwrap_or_default();
                self.run.events.emit(
                    RunEvent::new(
                        &self.run.run_id,
                        EventType::StepSkipped,
                        format!("Skipped execution of step \"{}\": {reason}", steps[i].key),
                    )
                    .step(steps[i].key.clone())
                    .level(LogLevel::Info)
                    .data(EventData::Skipped { reason }),
                );
            }
            for &d in &steps[i].downstream {
                self.remaining[d] -= 1;
                if self.remaining[d] > 0 || !self.selected[d] {
                    continue;
                }
                let not_ok: Vec<&str> = steps[d]
                    .upstream
                    .iter()
                    .filter(|u| self.state[**u] != StepState::Succeeded)
                    .map(|u| steps[*u].key.as_str())
                    .collect();
                if not_ok.is_empty() {
                    self.ready.push_back(d);
                } else {
                    let reason = format!(
                        "dependencies did not succeed: [\"{}\"]. Not executing.",
                        not_ok.join("\", \"")
                    );
                    work.push((d, StepState::Skipped, Some(reason)));
                }
            }
        }
    }

    /// The input values of step `i`, or why it cannot run: an optional upstream output
    /// was not yielded (skip), or a reused output could not be loaded (fail).
    fn gather_inputs(&self, i: usize) -> Result<HashMap<String, StepValue>, Unready> {
        let steps = self.plan.steps();
        let step = &steps[i];
        if let Some(asset) = step.op.asset()
            && let Some(def) = &asset.partitions
        {
            match self.partition_keys.as_deref() {
                None => {
                    let error = PartitionError::Missing(def.to_string());
                    return Err(Unready::Fail(ErrorInfo::from_error(
                        "PartitionError",
                        &error,
                    )));
                }
                Some(keys @ [_, _, ..]) => self.check_range_outputs(i, asset, keys)?,
                Some(_) => {}
            }
        }
        let mut values = HashMap::with_capacity(step.inputs.len());
        for input in &step.inputs {
            if let Some(asset) = step.op.input(&input.name).and_then(|d| d.asset.as_ref())
                && (input.sources.is_empty() || self.reads_partitions_of(&asset.key))
            {
                let value = self.load_asset(i, &input.name, asset)?;
                values.insert(input.name.clone(), value);
                continue;
            }
            let mut present = Vec::with_capacity(input.sources.len());
            for (src, output) in &input.sources {
                let value = match self.outputs.get(&(*src, output.clone())) {
                    Some(v) => Some(Arc::clone(v)),
                    None if !self.selected[*src] => {
                        self.load_reused(i, &input.name, *src, output)?
                    }
                    None => None,
                };
                match value {
                    Some(v) => present.push(v),
                    None if !input.fan_in => {
                        return Err(Unready::Skip(format!(
                            "output \"{output}\" of step \"{}\" was not yielded, and input \"{}\" needs it.",
                            steps[*src].key, input.name
                        )));
                    }
                    None => {}
                }
            }
            let value = if input.fan_in {
                if present.is_empty() && !input.sources.is_empty() {
                    return Err(Unready::Skip(format!(
                        "no upstream output for fan-in input \"{}\" was yielded.",
                        input.name
                    )));
                }
                step.op
                    .collect_fan_in(&input.name, present)
                    .map_err(|e| Unready::Skip(e.to_string()))?
            } else {
                present.pop().ok_or_else(|| {
                    Unready::Skip(format!("input \"{}\" has no source.", input.name))
                })?
            };
            values.insert(input.name.clone(), value);
        }
        Ok(values)
    }

    /// Output `output` of step `src`, which this re-execution does not run, loaded from
    /// the nearest earlier run that stored it, for input `input` of step `i`. `None` when
    /// it is an optional output that no earlier run yielded.
    fn load_reused(
        &self,
        i: usize,
        input: &str,
        src: usize,
        output: &str,
    ) -> Result<Option<StepValue>, Unready> {
        let steps = self.plan.steps();
        let source = &steps[src];
        let fail = |message: String| Unready::Fail(ErrorInfo::new("LoadInputError", message));
        let definition = source.op.output(output).ok_or_else(|| {
            fail(format!(
                "step \"{}\" has no output \"{output}\"",
                source.key
            ))
        })?;
        if let Some(asset) = steps[i].op.input(input).and_then(|d| d.asset.as_ref()) {
            return self.load_asset(i, input, asset).map(Some);
        }
        let Some(io) = &self.run.io_manager else {
            return Err(fail(format!(
                "output \"{output}\" of step \"{}\" is reused from an earlier run, but this run has no IO manager to load it",
                source.key
            )));
        };
        let runs = self
            .run
            .reexecution
            .as_ref()
            .map_or(&[][..], |r| r.source_runs.as_slice());
        for run_id in runs {
            let key = OutputKey::Step {
                run_id,
                step_key: &source.key,
                output_name: output,
            };
            match io.load_input(key, definition) {
                Ok(value) => {
                    self.run.events.emit(
                        RunEvent::new(
                            &self.run.run_id,
                            EventType::LoadedInput,
                            format!(
                                "Loaded input \"{input}\" using input manager \"{IO_MANAGER_KEY}\", from output \"{output}\" of step \"{}\" in run {run_id}.",
                                source.key
                            ),
                        )
                        .step(steps[i].key.clone())
                        .data(EventData::LoadedInput {
                            input_name: input.to_owned(),
                            manager_key: IO_MANAGER_KEY.to_owned(),
                            upstream_step_key: source.key.clone(),
                            upstream_output_name: output.to_owned(),
                            upstream_run_id: run_id.clone(),
                        }),
                    );
                    return Ok(Some(value));
                }
                Err(IoManagerError::NotStored { .. }) => continue,
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        if definition.is_required {
            Err(fail(format!(
                "output \"{output}\" of step \"{}\" was not stored by any earlier run ({}); re-execute all steps instead",
                source.key,
                runs.join(", ")
            )))
        } else {
            Ok(None)
        }
    }

    /// Whether the run covers a range of partitions and upstream asset `key` is
    /// partitioned: its values are stored per partition and read through the IO manager,
    /// never passed in memory.
    fn reads_partitions_of(&self, key: &AssetKey) -> bool {
        self.partition_keys.as_ref().is_some_and(|k| k.len() > 1)
            && self.plan.job().asset_partitions(key).is_some()
    }

    /// A step materializing a range of partitions stores one value per partition, so
    /// its asset outputs must be `()`: such an asset writes its data itself.
    fn check_range_outputs(
        &self,
        i: usize,
        asset: &AssetOp,
        keys: &[String],
    ) -> Result<(), Unready> {
        let op = &self.plan.steps()[i].op;
        let valued = asset
            .outputs
            .iter()
            .filter_map(|(output, key)| Some((op.output(output)?, key)))
            .find(|(output, _)| !output.holds::<()>());
        match valued {
            None => Ok(()),
            Some((output, key)) => Err(Unready::Fail(ErrorInfo::new(
                "PartitionError",
                format!(
                    "asset \"{key}\" cannot materialize {} partitions (\"{}\" to \"{}\") in one run: its output \"{}\" is a {}, and a run over a range stores a value per partition; an asset backfilled in one run writes its data itself and returns ()",
                    keys.len(),
                    keys[0],
                    keys[keys.len() - 1],
                    output.name,
                    output.data_type.name()
                ),
            ))),
        }
    }

    /// The stored value of the upstream asset that input `input` of step `i` reads:
    /// unpartitioned, the one partition its mapping names, or (for an input of
    /// partitions) all of them.
    fn load_asset(&self, i: usize, input: &str, read: &AssetInput) -> Result<StepValue, Unready> {
        let step = &self.plan.steps()[i];
        let key = &read.key;
        let fail = |message: String| Unready::Fail(ErrorInfo::new("LoadInputError", message));
        let Some(io) = &self.run.io_manager else {
            return Err(fail(format!(
                "input \"{input}\" of step \"{}\" reads asset \"{key}\", which this run does not materialize, and the run has no IO manager to load it",
                step.key
            )));
        };
        let partitions = self.upstream_partitions(i, key).map_err(|e| {
            fail(format!(
                "input \"{input}\" of step \"{}\" cannot choose the partitions of asset \"{key}\" to read: {e}",
                step.key
            ))
        })?;
        let load = |partition: Option<&str>| {
            let output_key = OutputKey::Asset { key, partition };
            io.load_input(output_key, &read.output).map_err(|e| {
                fail(format!(
                    "input \"{input}\" of step \"{}\" cannot be loaded: {e}",
                    step.key
                ))
            })
        };
        let (value, from) = match (partitions, &read.partitions) {
            (None, _) => (load(None)?, format!("asset \"{key}\"")),
            (Some(keys), None) => {
                let [one] = keys.as_slice() else {
                    return Err(fail(format!(
                        "input \"{input}\" of step \"{}\" takes one partition of asset \"{key}\", but its partition mapping names {} ({}); declare it with input_partitions",
                        step.key,
                        keys.len(),
                        keys.join(", ")
                    )));
                };
                (
                    load(Some(one))?,
                    format!("partition \"{one}\" of asset \"{key}\""),
                )
            }
            (Some(keys), Some(collect)) => {
                let n = keys.len();
                let mut values = Vec::with_capacity(n);
                for partition in keys {
                    let value = load(Some(&partition))?;
                    values.push((partition, value));
                }
                let value = collect.collect(values).map_err(fail)?;
                (value, format!("{n} partitions of asset \"{key}\""))
            }
        };
        self.run.events.emit(
            RunEvent::new(
                &self.run.run_id,
                EventType::LoadedInput,
                format!(
                    "Loaded input \"{input}\" using input manager \"{IO_MANAGER_KEY}\", from {from}."
                ),
            )
            .step(step.key.clone())
            .data(EventData::LoadedInput {
                input_name: input.to_owned(),
                manager_key: IO_MANAGER_KEY.to_owned(),
                upstream_step_key: key.op_name(),
                upstream_output_name: read.output.name.clone(),
                upstream_run_id: String::new(),
            }),
        );
        Ok(value)
    }

    /// The partitions of upstream asset `key` that step `i` reads (`None`: the upstream
    /// is not partitioned). An asset step maps each of its partitions; a check reads
    /// those of the run.
    fn upstream_partitions(
        &self,
        i: usize,
        key: &AssetKey,
    ) -> Result<Option<Vec<String>>, PartitionError> {
        let Some(upstream) = self.plan.job().asset_partitions(key) else {
            return Ok(None);
        };
        let op = &self.plan.steps()[i].op;
        let (downstream, declared) = match op.asset() {
            Some(asset) => (asset.partitions.as_ref(), asset.partition_mappings.get(key)),
            None => (Some(upstream), None),
        };
        let mapping = declared
            .cloned()
            .unwrap_or_else(|| PartitionMapping::default_for(upstream, downstream));
        let Some(downstream) = downstream else {
            return mapping
                .upstream_keys(None, upstream, &self.partitions)
                .map(Some);
        };
        let Some(own) = self.partition_keys.as_deref() else {
            return Err(PartitionError::Missing(downstream.to_string()));
        };
        if own.len() > 1
            && matches!(
                mapping,
                PartitionMapping::AllPartitions | PartitionMapping::LastPartition
            )
        {
            // What these read does not depend on the downstream partition.
            return mapping
                .upstream_keys(Some((downstream, &own[0])), upstream, &self.partitions)
                .map(Some);
        }
        // The union, in the order first named, of what each partition reads.
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        for partition in own {
            for key in
                mapping.upstream_keys(Some((downstream, partition)), upstream, &self.partitions)?
            {
                if seen.insert(key.clone()) {
                    keys.push(key);
                }
            }
        }
        Ok(Some(keys))
    }

    fn step_run(&self, i: usize, inputs: HashMap<String, StepValue>) -> StepRun {
        let step = &self.plan.steps()[i];
        // An unpartitioned asset in a partitioned run is materialized whole.
        let partitions = match step.op.asset() {
            Some(asset) => asset.partitions.as_ref(),
            None => self.plan.job().partitions(),
        };
        let partition_keys = match step.op.asset() {
            Some(asset) if asset.partitions.is_none() => None,
            _ => self.partition_keys.clone(),
        };
        // From the start of the first partition's window to the end of the last's.
        let time_window = partitions
            .zip(partition_keys.as_deref())
            .and_then(|(def, keys)| {
                let first = def.time_window(keys.first()?)?;
                let last = def.time_window(keys.last()?)?;
                Some(TimeWindow {
                    start: first.start,
                    end: last.end,
                })
            });
        StepRun {
            run_id: self.run.run_id.clone(),
            step_key: step.key.clone(),
            op: step.op.clone(),
            config: self
                .op_configs
                .get(&step.key)
                .cloned()
                .unwrap_or(Value::Null),
            inputs,
            resources: Arc::clone(&self.resources),
            tags: Arc::clone(&self.tags),
            events: Arc::clone(&self.run.events),
            cancel: self.run.cancel.clone(),
            io_manager: self.run.io_manager.clone(),
            consumed: self.consumed_outputs(i),
            partition_keys,
            time_window,
        }
    }

    /// The outputs of step `i` that some step takes as input: the ones worth storing
    /// (an output nothing consumes could never be loaded by a re-execution).
    fn consumed_outputs(&self, i: usize) -> Vec<String> {
        let steps = self.plan.steps();
        let mut names: Vec<String> = steps[i]
            .downstream
            .iter()
            .flat_map(|d| &steps[*d].inputs)
            .flat_map(|input| &input.sources)
            .filter(|(src, _)| *src == i)
            .map(|(_, output)| output.clone())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Why a ready step does not start.
enum Unready {
    /// An output it needs was not yielded: the step is skipped.
    Skip(String),
    /// An input could not be loaded: the step fails.
    Fail(ErrorInfo),
}

/// One step, executed with its retries in its own task.
struct StepRun {
    run_id: String,
    step_key: String,
    op: OpDefinition,
    config: Value,
    inputs: HashMap<String, StepValue>,
    resources: Arc<Resources>,
    tags: Arc<BTreeMap<String, String>>,
    events: Arc<dyn EventSink>,
    cancel: CancellationToken,
    io_manager: Option<Arc<dyn IoManager>>,
    /// The outputs that downstream steps consume, which the IO manager stores.
    consumed: Vec<String>,
    /// The partitions the step materializes: one, or each of the run's range.
    partition_keys: Option<Arc<[String]>>,
    time_window: Option<TimeWindow>,
}

enum Attempt {
    /// The outputs, and the metadata the compute function attached to them.
    Done(Vec<(String, StepValue)>, Metadata),
    Failed {
        error: ErrorInfo,
        /// (max retries, delay before the next one), when the failure may be retried.
        retry: Option<(u32, Duration)>,
    },
    Interrupted,
}

impl StepRun {
    fn event(&self, event_type: EventType, message: String) -> RunEvent {
        RunEvent::new(&self.run_id, event_type, message).step(self.step_key.clone())
    }

    async fn run(self) -> StepOutcome {
        let key = self.step_key.clone();
        self.events.emit(self.event(
            EventType::StepStart,
            format!("Started execution of step \"{key}\"."),
        ));
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            match self.attempt(attempt).await {
                Attempt::Done(values, metadata) => {
                    // The IO manager's metadata of each output (of each partition), for
                    // its materializations.
                    let mut stored = Vec::with_capacity(values.len());
                    let observes = self.op.asset().is_some_and(|a| a.observe);
                    for (name, value) in &values {
                        self.events.emit(
                            self.event(
                                EventType::StepOutput,
                                format!(
                                    "Yielded output \"{name}\" of type \"{}\".",
                                    type_name_of(value, &self.op, name)
                                ),
                            )
                            .data(EventData::Output {
                                output_name: name.clone(),
                            }),
                        );
                        if observes {
                            self.observed(name, value, &metadata);
                            continue;
                        }
                        match self.handle_output(name, value) {
                            Ok(per_partition) => stored.push((name, per_partition)),
                            Err(error) => {
                                self.fail(error);
                                return StepOutcome::Failure;
                            }
                        }
                    }
                    // One materialization per asset output yielded, with the user's
                    // metadata and the IO manager's.
                    if let Some(asset) = self.op.asset() {
                        for (name, per_partition) in stored {
                            let Some(key) = asset.key_of(name) else {
                                continue;
                            };
                            for (partition, io_metadata) in per_partition {
                                let mut all = metadata.clone();
                                all.extend(io_metadata);
                                self.materialized(key, asset, partition, all);
                            }
                        }
                    }
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    self.events.emit(
                        self.event(
                            EventType::StepSuccess,
                            format!("Finished execution of step \"{key}\" in {}.", human_ms(ms)),
                        )
                        .data(EventData::Success {
                            duration_ms: ms,
                            attempts: attempt + 1,
                        }),
                    );
                    return StepOutcome::Success(values);
                }
                Attempt::Failed { error, retry } => match retry {
                    Some((max_retries, delay)) if attempt < max_retries => {
                        self.events.emit(
                            self.event(
                                EventType::StepUpForRetry,
                                format!(
                                    "Execution of step \"{key}\" failed and has requested a retry in {:.3}s (attempt {} of {}).",
                                    delay.as_secs_f64(),
                                    attempt + 1,
                                    max_retries + 1
                                ),
                            )
                            .level(LogLevel::Warning)
                            .data(EventData::Retry {
                                error,
                                attempt: attempt + 1,
                                max_retries,
                                delay_seconds: delay.as_secs_f64(),
                            }),
                        );
                        tokio::select! {
                            biased;
                            _ = self.cancel.cancelled() => return self.interrupted(),
                            _ = tokio::time::sleep(delay) => {}
                        }
                        attempt += 1;
                        self.events.emit(
                            self.event(
                                EventType::StepRestarted,
                                format!(
                                    "Started re-execution (attempt # {}) of step \"{key}\".",
                                    attempt + 1
                                ),
                            )
                            .data(EventData::Restarted {
                                attempt: attempt + 1,
                            }),
                        );
                    }
                    _ => {
                        self.fail(error);
                        return StepOutcome::Failure;
                    }
                },
                Attempt::Interrupted => return self.interrupted(),
            }
        }
    }

    /// Give output `name` to the IO manager, if the run has one and the output is an
    /// asset's (kept for later runs, under each partition the step materializes) or a
    /// downstream step consumes it. Returns the metadata the IO manager reports, for
    /// each partition stored.
    fn handle_output(
        &self,
        name: &str,
        value: &StepValue,
    ) -> Result<Vec<(Option<&str>, Metadata)>, ErrorInfo> {
        let asset_key = self.op.asset().and_then(|a| a.key_of(name));
        let partitions = match asset_key {
            Some(_) => self.each_partition(),
            None => vec![None],
        };
        fn unstored(partitions: Vec<Option<&str>>) -> Vec<(Option<&str>, Metadata)> {
            partitions
                .into_iter()
                .map(|p| (p, Metadata::new()))
                .collect()
        }
        let (Some(io), Some(definition)) = (&self.io_manager, self.op.output(name)) else {
            return Ok(unstored(partitions));
        };
        let keys: Vec<OutputKey> = match asset_key {
            Some(key) => partitions
                .iter()
                .map(|&partition| OutputKey::Asset { key, partition })
                .collect(),
            None if self.consumed.iter().any(|c| c == name) => vec![OutputKey::Step {
                run_id: &self.run_id,
                step_key: &self.step_key,
                output_name: name,
            }],
            None => return Ok(unstored(partitions)),
        };
        let mut metadata = Vec::with_capacity(keys.len());
        for (key, partition) in keys.into_iter().zip(partitions) {
            let stored = io
                .handle_output(key, definition, value)
                .map_err(|e| ErrorInfo::from_error("HandleOutputError", &e))?;
            metadata.push((partition, stored));
        }
        self.events.emit(
            self.event(
                EventType::HandledOutput,
                format!("Handled output \"{name}\" using IO manager \"{IO_MANAGER_KEY}\"."),
            )
            .data(EventData::HandledOutput {
                output_name: name.to_owned(),
                manager_key: IO_MANAGER_KEY.to_owned(),
            }),
        );
        Ok(metadata)
    }

    /// The ASSET_OBSERVATION of the source asset whose version output `name` holds.
    fn observed(&self, name: &str, value: &StepValue, metadata: &Metadata) {
        let Some(key) = self.op.asset().and_then(|a| a.key_of(name)) else {
            return;
        };
        let version = value.downcast_ref::<DataVersion>().map(|v| v.0.clone());
        let message = match &version {
            Some(v) => format!("Observed asset \"{key}\" at data version \"{v}\"."),
            None => format!("Observed asset \"{key}\"."),
        };
        for partition in self.each_partition() {
            self.events.emit(
                self.event(EventType::AssetObservation, message.clone())
                    .level(LogLevel::Info)
                    .data(EventData::Observation(Box::new(AssetObservation {
                        asset_key: key.clone(),
                        partition: partition.map(str::to_owned),
                        data_version: version.clone(),
                        metadata: metadata.clone(),
                        description: None,
                    }))),
            );
        }
    }

    /// Each partition the step materializes, or `[None]` when it is not partitioned.
    fn each_partition(&self) -> Vec<Option<&str>> {
        match self.partition_keys.as_deref() {
            Some(keys) => keys.iter().map(|k| Some(k.as_str())).collect(),
            None => vec![None],
        }
    }

    /// The ASSET_MATERIALIZATION of `key` (of `partition`), one of the assets of the
    /// step's op.
    fn materialized(
        &self,
        key: &AssetKey,
        asset: &AssetOp,
        partition: Option<&str>,
        metadata: Metadata,
    ) {
        let partition = partition.map(str::to_owned);
        let message = match &partition {
            Some(p) => format!("Materialized value of partition \"{p}\" of asset \"{key}\"."),
            None => format!("Materialized value of asset \"{key}\"."),
        };
        self.events.emit(
            self.event(EventType::AssetMaterialization, message)
                .level(LogLevel::Info)
                .data(EventData::Materialization(Box::new(AssetMaterialization {
                    partition,
                    metadata,
                    code_version: asset.code_version.clone(),
                    ..AssetMaterialization::new(key.clone())
                }))),
        );
    }

    /// The step's STEP_FAILURE.
    fn fail(&self, error: ErrorInfo) {
        self.events.emit(
            self.event(
                EventType::StepFailure,
                format!(
                    "Execution of step \"{}\" failed: {}",
                    self.step_key, error.message
                ),
            )
            .data(EventData::Failure { error }),
        );
    }

    /// The events of a step that fails before its compute starts (an input could not be
    /// loaded).
    fn fail_before_start(&self, error: ErrorInfo) {
        self.events.emit(self.event(
            EventType::StepStart,
            format!("Started execution of step \"{}\".", self.step_key),
        ));
        self.fail(error);
    }

    fn interrupted(&self) -> StepOutcome {
        let message = format!(
            "Execution of step \"{}\" was interrupted: the run was terminated.",
            self.step_key
        );
        self.events
            .emit(
                self.event(EventType::StepFailure, message.clone())
                    .data(EventData::Failure {
                        error: ErrorInfo::new("Interrupted", message),
                    }),
            );
        StepOutcome::Interrupted
    }

    async fn attempt(&self, attempt: u32) -> Attempt {
        let ctx = OpContext::new(ContextInner {
            run_id: self.run_id.clone(),
            step_key: self.step_key.clone(),
            op_name: self.op.name().to_owned(),
            attempt,
            config: self.config.clone(),
            resources: Arc::clone(&self.resources),
            run_tags: Arc::clone(&self.tags),
            events: Arc::clone(&self.events),
            cancel: self.cancel.clone(),
            asset_key: self.op.asset().and_then(|a| a.key().cloned()),
            partition_keys: self.partition_keys.clone(),
            partition_time_window: self.time_window,
            output_metadata: Default::default(),
        });
        let compute = (self.op.0.compute)(ctx.clone(), Inputs::new(self.inputs.clone()));
        let guarded = AssertUnwindSafe(compute).catch_unwind();
        let timeout = self.op.timeout();
        let result = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Attempt::Interrupted,
            r = async {
                match timeout {
                    Some(t) => tokio::time::timeout(t, guarded).await.ok(),
                    None => Some(guarded.await),
                }
            } => r,
        };
        let policy_retry = || {
            self.op
                .retry_policy()
                .map(|p| (p.max_retries, p.delay_for(attempt + 1)))
        };
        match result {
            None => Attempt::Failed {
                error: ErrorInfo::new(
                    "Timeout",
                    format!(
                        "step \"{}\" timed out after {:.3}s",
                        self.step_key,
                        timeout.unwrap_or_default().as_secs_f64()
                    ),
                ),
                retry: policy_retry(),
            },
            Some(Err(panic)) => Attempt::Failed {
                error: ErrorInfo::from_panic("op panicked", &*panic),
                retry: policy_retry(),
            },
            Some(Ok(Err(err))) => {
                let retry = match &err {
                    OpError::Fatal { .. } => None,
                    OpError::RetryRequested {
                        max_retries, delay, ..
                    } => Some((*max_retries, *delay)),
                    _ => policy_retry(),
                };
                Attempt::Failed {
                    error: err.info(),
                    retry,
                }
            }
            Some(Ok(Ok(outputs))) => match check_outputs(&self.op, outputs.into_values()) {
                Ok(values) => Attempt::Done(values, ctx.take_output_metadata()),
                Err(message) => Attempt::Failed {
                    error: ErrorInfo::new("OutputError", message),
                    retry: None,
                },
            },
        }
    }
}

/// Check returned outputs against the op's declarations: each declared, of the declared
/// type, and every required output present.
fn check_outputs(
    op: &OpDefinition,
    values: Vec<(String, StepValue)>,
) -> Result<Vec<(String, StepValue)>, String> {
    for (name, value) in &values {
        let Some(def) = op.output(name) else {
            return Err(format!(
                "op \"{}\" yielded output \"{name}\", which it does not declare",
                op.name()
            ));
        };
        if Any::type_id(&**value) != def.data_type.rust_type_id() {
            return Err(format!(
                "output \"{name}\" of op \"{}\" must be {}, but another type was yielded",
                op.name(),
                def.data_type.name()
            ));
        }
    }
    for def in op.outputs().iter().filter(|d| d.is_required) {
        if !values.iter().any(|(n, _)| *n == def.name) {
            return Err(format!(
                "op \"{}\" did not yield its required output \"{}\"",
                op.name(),
                def.name
            ));
        }
    }
    Ok(values)
}

fn type_name_of<'a>(_: &StepValue, op: &'a OpDefinition, name: &str) -> &'a str {
    op.output(name).map_or("?", |d| d.data_type.name())
}

/// A duration in milliseconds as a person reads it: `850µs`, `12ms`, `3.2s`.
pub fn human_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}
