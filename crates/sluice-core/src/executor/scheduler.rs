//! The step scheduler: [`Executor`] keeps each step's state, starts every ready step up
//! to the run's concurrency, gathers its inputs (from upstream outputs in memory, or
//! loaded for the steps a re-execution reuses), and releases or skips what waits on a
//! step when it ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;

use super::step::{StepOutcome, StepRun};
use super::{IO_MANAGER_KEY, RunContext};
use crate::events::{ErrorInfo, EventData, EventType, LogLevel, RunEvent};
use crate::io_manager::{IoManagerError, OutputKey};
use crate::op::StepValue;
use crate::partition::{PartitionError, PartitionsContext};
use crate::plan::ExecutionPlan;
use crate::resource::Resources;

/// Where a step is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Waiting,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
}

/// How a run's steps ended.
pub(super) struct Summary {
    pub(super) failed: Vec<String>,
    pub(super) interrupted: bool,
}

/// The run of a plan's steps: what each step waits for, what it yielded, and what is
/// ready to start.
pub(super) struct Executor<'a> {
    pub(super) plan: &'a ExecutionPlan,
    pub(super) run: &'a RunContext,
    op_configs: HashMap<String, Value>,
    resources: Arc<Resources>,
    tags: Arc<BTreeMap<String, String>>,
    /// The partitions the run materializes (one, or a range).
    pub(super) partition_keys: Option<Arc<[String]>>,
    pub(super) partitions: PartitionsContext,
    state: Vec<StepState>,
    /// Upstream steps each step still waits for.
    remaining: Vec<usize>,
    /// Whether each step executes in this run (all do, unless it is a re-execution).
    selected: Vec<bool>,
    outputs: HashMap<(usize, String), StepValue>,
    ready: VecDeque<usize>,
}

impl<'a> Executor<'a> {
    /// The executor of `plan` for `run`, every step waiting: with the resolved config of
    /// each op, the run's resources, and the partitions it materializes.
    pub(super) fn new(
        plan: &'a ExecutionPlan,
        run: &'a RunContext,
        op_configs: HashMap<String, Value>,
        resources: Arc<Resources>,
        partition_keys: Option<Arc<[String]>>,
        partitions: PartitionsContext,
    ) -> Self {
        let steps = plan.steps();
        let selected: Vec<bool> = match &run.reexecution {
            None => vec![true; steps.len()],
            Some(r) => steps.iter().map(|s| r.step_keys.contains(&s.key)).collect(),
        };
        Executor {
            plan,
            run,
            op_configs,
            resources,
            tags: Arc::new(run.tags.clone()),
            partition_keys,
            partitions,
            state: vec![StepState::Waiting; steps.len()],
            remaining: steps.iter().map(|s| s.upstream.len()).collect(),
            selected,
            outputs: HashMap::new(),
            ready: VecDeque::new(),
        }
    }

    /// Run the steps, at most `max_concurrent` at once, until none is left to start.
    pub(super) async fn run(&mut self, max_concurrent: usize) -> Summary {
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

    /// The run of step `i` with its gathered `inputs`.
    fn step_run(&self, i: usize, inputs: HashMap<String, StepValue>) -> StepRun {
        let step = &self.plan.steps()[i];
        let (partition_keys, time_window) = self.step_partitions(i);
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
    /// (an output nothing consumes could never be loaded by a re-execution); all of
    /// them when the run keeps every output.
    fn consumed_outputs(&self, i: usize) -> Vec<String> {
        let steps = self.plan.steps();
        if self.run.keep_every_output {
            return steps[i]
                .op
                .outputs()
                .iter()
                .map(|o| o.name.clone())
                .collect();
        }
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
pub(super) enum Unready {
    /// An output it needs was not yielded: the step is skipped.
    Skip(String),
    /// An input could not be loaded: the step fails.
    Fail(ErrorInfo),
}
