//! The execution plan: a job's nodes as steps in dependency order, with the indices the
//! executor needs to pass values and to know when a step is ready.

use std::collections::HashMap;

use crate::job::JobDefinition;
use crate::op::{InputKind, OpDefinition};

/// Where one input of a step takes its value(s) from.
#[derive(Debug, Clone)]
pub struct StepInput {
    /// The input's name.
    pub name: String,
    /// Whether it is a fan-in input, taking a list of every source's value.
    pub fan_in: bool,
    /// (upstream step index, output name), in declaration order.
    pub sources: Vec<(usize, String)>,
}

/// One step of a plan: one node of the job.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step key: the node's alias.
    pub key: String,
    /// The op the step runs.
    pub op: OpDefinition,
    /// The op's inputs, in declaration order, with their sources.
    pub inputs: Vec<StepInput>,
    /// Every step this one waits for (data and ordering dependencies), by index, without
    /// repeats.
    pub upstream: Vec<usize>,
    /// Every step that waits for this one, by index.
    pub downstream: Vec<usize>,
}

/// The steps of a job, in the order the job declares its nodes.
#[derive(Debug, Clone)]
pub struct ExecutionPlan {
    job: JobDefinition,
    steps: Vec<Step>,
}

impl ExecutionPlan {
    /// Plan a job of validated [`crate::Definitions`] (its graph is known to be sound).
    pub fn for_job(job: &JobDefinition) -> Self {
        let index: HashMap<&str, usize> = job
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.alias.as_str(), i))
            .collect();
        let mut steps: Vec<Step> = job
            .nodes()
            .iter()
            .map(|node| {
                let inputs = node
                    .op
                    .inputs()
                    .iter()
                    .map(|def| StepInput {
                        name: def.name.clone(),
                        fan_in: matches!(def.kind, InputKind::FanIn),
                        sources: node
                            .sources(&def.name)
                            .filter_map(|r| {
                                index.get(r.node.as_str()).map(|i| (*i, r.output.clone()))
                            })
                            .collect(),
                    })
                    .collect();
                let upstream = node
                    .upstream()
                    .into_iter()
                    .filter_map(|alias| index.get(alias).copied())
                    .collect();
                Step {
                    key: node.alias.clone(),
                    op: node.op.clone(),
                    inputs,
                    upstream,
                    downstream: Vec::new(),
                }
            })
            .collect();
        for i in 0..steps.len() {
            for u in steps[i].upstream.clone() {
                steps[u].downstream.push(i);
            }
        }
        Self {
            job: job.clone(),
            steps,
        }
    }

    /// The planned job.
    pub fn job(&self) -> &JobDefinition {
        &self.job
    }

    /// The steps, in the order the job declares its nodes; a step's index is its position here.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}
