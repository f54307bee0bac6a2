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

use crate::config::{ConfigError, ConfigPath};
use crate::job::JobDefinition;
use crate::resource::ResourceDefinition;

/// One thing wrong with a set of definitions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionProblem {
    #[error("job \"{job}\" is defined more than once")]
    DuplicateJob { job: String },
    #[error("resource key \"{key}\" is bound more than once")]
    DuplicateResource { key: String },
    #[error(
        "job \"{job}\": node \"{node}\" appears more than once; give each invocation its own alias"
    )]
    DuplicateNode { job: String, node: String },
    #[error(
        "job \"{job}\": node \"{referenced_by}\" depends on \"{node}\", which is not in the job"
    )]
    UnknownNode {
        job: String,
        node: String,
        referenced_by: String,
    },
    #[error(
        "job \"{job}\": node \"{referenced_by}\" reads output \"{output}\" of \"{node}\", which has no such output"
    )]
    UnknownOutput {
        job: String,
        node: String,
        output: String,
        referenced_by: String,
    },
    #[error(
        "job \"{job}\": node \"{node}\" wires input \"{input}\", but op \"{op}\" has no such input"
    )]
    UnknownInput {
        job: String,
        node: String,
        op: String,
        input: String,
    },
    #[error("job \"{job}\": input \"{input}\" of node \"{node}\" is not connected to any output")]
    UnconnectedInput {
        job: String,
        node: String,
        input: String,
    },
    #[error(
        "job \"{job}\": input \"{input}\" of node \"{node}\" has several sources; declare it with fan_in_input to take them all"
    )]
    MultipleSources {
        job: String,
        node: String,
        input: String,
    },
    #[error(
        "job \"{job}\": input \"{input}\" of node \"{node}\" expects {expected}, but {from} is {found}"
    )]
    TypeMismatch {
        job: String,
        node: String,
        input: String,
        expected: String,
        from: String,
        found: String,
    },
    #[error("job \"{job}\" has a cycle: {}", nodes.join(" → "))]
    Cycle { job: String, nodes: Vec<String> },
    #[error(
        "job \"{job}\": op \"{node}\" requires resource \"{key}\", which is not bound in the definitions"
    )]
    MissingResource {
        job: String,
        node: String,
        key: String,
    },
    #[error(
        "job \"{job}\": its default run config is invalid: {}",
        join_errors(errors)
    )]
    InvalidDefaultConfig {
        job: String,
        errors: Vec<ConfigError>,
    },
    #[error("resource \"{key}\": its config is invalid: {}", join_errors(errors))]
    InvalidResourceConfig {
        key: String,
        errors: Vec<ConfigError>,
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

/// The jobs and resources a code location exposes, validated.
#[derive(Debug, Clone)]
pub struct Definitions {
    jobs: BTreeMap<String, JobDefinition>,
    resources: BTreeMap<String, ResourceDefinition>,
}

impl Definitions {
    pub fn builder() -> DefinitionsBuilder {
        DefinitionsBuilder::default()
    }

    pub fn job(&self, name: &str) -> Option<&JobDefinition> {
        self.jobs.get(name)
    }

    /// The jobs, by name.
    pub fn jobs(&self) -> impl Iterator<Item = &JobDefinition> {
        self.jobs.values()
    }

    pub fn resource(&self, key: &str) -> Option<&ResourceDefinition> {
        self.resources.get(key)
    }

    /// The bound resources, by key.
    pub fn resources(&self) -> &BTreeMap<String, ResourceDefinition> {
        &self.resources
    }
}

/// Collects jobs and resources, then validates them together.
#[derive(Default)]
#[must_use]
pub struct DefinitionsBuilder {
    jobs: Vec<JobDefinition>,
    resources: Vec<(String, ResourceDefinition)>,
}

impl DefinitionsBuilder {
    pub fn job(mut self, job: JobDefinition) -> Self {
        self.jobs.push(job);
        self
    }

    pub fn jobs(mut self, jobs: impl IntoIterator<Item = JobDefinition>) -> Self {
        self.jobs.extend(jobs);
        self
    }

    /// Bind `resource` to `key`, for the ops that require that key.
    pub fn resource(mut self, key: impl Into<String>, resource: ResourceDefinition) -> Self {
        self.resources.push((key.into(), resource));
        self
    }

    /// Validate everything and return the definitions, or every problem found.
    pub fn build(self) -> Result<Definitions, DefinitionError> {
        let mut problems = Vec::new();
        let mut resources = BTreeMap::new();
        for (key, def) in self.resources {
            if resources.contains_key(&key) {
                problems.push(DefinitionProblem::DuplicateResource { key });
                continue;
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
        let mut jobs = BTreeMap::new();
        for job in self.jobs {
            if jobs.contains_key(job.name()) {
                problems.push(DefinitionProblem::DuplicateJob {
                    job: job.name().to_owned(),
                });
                continue;
            }
            problems.extend(job.graph_problems());
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
        let defs = Definitions { jobs, resources };
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
        }
        if problems.is_empty() {
            Ok(defs)
        } else {
            Err(DefinitionError { problems })
        }
    }
}
