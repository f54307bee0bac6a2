//! Partitions in a run: which partitions the run materializes, which partitions of an
//! upstream asset a step reads through its partition mapping, and loading those from
//! the IO manager; also the check that a step over a range of partitions returns
//! nothing it would have to store per partition.

use std::collections::HashSet;
use std::sync::Arc;

use super::scheduler::{Executor, Unready};
use super::{IO_MANAGER_KEY, RunContext};
use crate::asset::AssetKey;
use crate::events::{ErrorInfo, EventData, EventType, RunEvent};
use crate::io_manager::OutputKey;
use crate::op::{AssetInput, AssetOp, StepValue};
use crate::partition::{PartitionError, PartitionMapping, PartitionsContext, TimeWindow};
use crate::plan::ExecutionPlan;
use crate::run::RunPartitions;

/// The partitions the run materializes: its one partition, or every key of its range
/// (in the partitioning's order); `None` for a run that names none.
pub(super) fn run_partition_keys(
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

impl Executor<'_> {
    /// Whether the run covers a range of partitions and upstream asset `key` is
    /// partitioned: its values are stored per partition and read through the IO manager,
    /// never passed in memory.
    pub(super) fn reads_partitions_of(&self, key: &AssetKey) -> bool {
        self.partition_keys.as_ref().is_some_and(|k| k.len() > 1)
            && self.plan.job().asset_partitions(key).is_some()
    }

    /// A step materializing a range of partitions stores one value per partition, so
    /// its asset outputs must be `()`: such an asset writes its data itself.
    pub(super) fn check_range_outputs(
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
    pub(super) fn load_asset(
        &self,
        i: usize,
        input: &str,
        read: &AssetInput,
    ) -> Result<StepValue, Unready> {
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

    /// The partitions step `i` materializes, and their time window when they are by
    /// time.
    pub(super) fn step_partitions(&self, i: usize) -> (Option<Arc<[String]>>, Option<TimeWindow>) {
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
        (partition_keys, time_window)
    }
}
