//! Finding jobs and locations in the workspace, and reloading them.

use std::sync::Arc;

use serde_json::Value;
use sluice_codeserver::{Location, LocationState};
use sluice_core::asset::AssetKey;
use sluice_core::config::ConfigType;
use sluice_core::run::Run;
use sluice_core::run_config::ConfigShape;
use sluice_core::snapshot::{JobSnapshot, LocationSnapshot, REPOSITORY_NAME};

use crate::Service;
use crate::config_errors;
use crate::error::{Error, Result};

/// Which job: Dagster's `(location, repository, job)` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSelector {
    /// The code location.
    pub location: String,
    /// The repository; always [`REPOSITORY_NAME`] in Sluice.
    pub repository: String,
    /// The job.
    pub job: String,
}

impl JobSelector {
    /// Job `job` of location `location` (in its one repository, [`REPOSITORY_NAME`]).
    pub fn new(location: impl Into<String>, job: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            repository: REPOSITORY_NAME.to_owned(),
            job: job.into(),
        }
    }
}

/// A job found in the workspace, with the snapshot of its location.
#[derive(Debug, Clone)]
pub struct FoundJob {
    /// The location (its client and state).
    pub location: Location,
    /// The location's snapshot.
    pub snapshot: Arc<LocationSnapshot>,
    index: usize,
}

impl FoundJob {
    /// The job's snapshot.
    pub fn job(&self) -> &JobSnapshot {
        &self.snapshot.jobs[self.index]
    }

    /// The job's whole run config schema.
    pub fn config_schema(&self) -> ConfigType {
        ConfigShape::of_snapshot(&self.snapshot, self.job()).schema()
    }

    /// The run config a launchpad starts from: the schema's defaults and a placeholder
    /// for every required value ([`ConfigType::scaffold`]), with the job's own default
    /// run config laid over them.
    pub fn config_scaffold(&self) -> Value {
        fn overlay(base: &mut Value, top: &Value) {
            match (base, top) {
                (Value::Object(base), Value::Object(top)) => {
                    for (key, value) in top {
                        match base.get_mut(key) {
                            Some(slot) => overlay(slot, value),
                            None => {
                                base.insert(key.clone(), value.clone());
                            }
                        }
                    }
                }
                (base, top) => *base = top.clone(),
            }
        }
        let mut document = self
            .config_schema()
            .scaffold()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(defaults) = &self.job().default_run_config {
            overlay(&mut document, defaults);
        }
        document
    }

    /// Validate `config` for this job: every error as Dagster reports it.
    pub fn validate(&self, config: &Value) -> Result<()> {
        let shape = ConfigShape::of_snapshot(&self.snapshot, self.job());
        match shape.validate(config) {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::InvalidRunConfig {
                job: self.job().name.clone(),
                errors: config_errors::describe(&e.errors, &shape.schema(), config),
            }),
        }
    }
}

/// The steps of `found`'s job that materialize the assets at `paths`: each must be an
/// asset the location defines and the job materializes.
pub(crate) fn asset_selection_steps(
    found: &FoundJob,
    paths: &[Vec<String>],
) -> Result<Vec<String>> {
    let job = found.job();
    let invalid = |message: String| Error::InvalidSubset {
        job: job.name.clone(),
        message,
    };
    let keys = paths
        .iter()
        .map(|path| {
            AssetKey::new(path.iter().cloned())
                .map_err(|e| invalid(format!("{path:?} is not an asset key: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    found
        .snapshot
        .job_asset_steps(&found.location.name, job, &keys)
        .map_err(invalid)
}

impl Service {
    /// Find a job. An unknown location, repository or job is [`Error::JobNotFound`]; a
    /// location whose code server could not be loaded is [`Error::LocationUnavailable`].
    pub async fn find_job(&self, selector: &JobSelector) -> Result<FoundJob> {
        let not_found = || Error::JobNotFound {
            location: selector.location.clone(),
            repository: selector.repository.clone(),
            job: selector.job.clone(),
        };
        if selector.repository != REPOSITORY_NAME {
            return Err(not_found());
        }
        let (location, snapshot) = self
            .loaded_location(&selector.location)
            .await?
            .ok_or_else(not_found)?;
        let index = snapshot
            .jobs
            .iter()
            .position(|j| j.name == selector.job)
            .ok_or_else(not_found)?;
        Ok(FoundJob {
            location,
            snapshot,
            index,
        })
    }

    /// Location `name` and its snapshot; `None` when the workspace has no such location,
    /// an error when it is not loaded.
    pub(crate) async fn loaded_location(
        &self,
        name: &str,
    ) -> Result<Option<(Location, Arc<LocationSnapshot>)>> {
        let Some(location) = self.workspace.location(name).await else {
            return Ok(None);
        };
        match &location.state {
            LocationState::Loaded(s) => {
                let snapshot = s.clone();
                Ok(Some((location, snapshot)))
            }
            LocationState::Failed(message) => Err(Error::LocationUnavailable {
                location: name.to_owned(),
                message: message.clone(),
            }),
        }
    }

    /// The job a stored run belongs to, if its location still defines it.
    pub async fn job_of_run(&self, run: &Run) -> Option<FoundJob> {
        match &run.location_name {
            Some(location) => self
                .find_job(&JobSelector {
                    location: location.clone(),
                    repository: REPOSITORY_NAME.to_owned(),
                    job: run.job_name.clone(),
                })
                .await
                .ok(),
            None => {
                for location in self.workspace.locations().await {
                    let selector = JobSelector {
                        location: location.name.clone(),
                        repository: REPOSITORY_NAME.to_owned(),
                        job: run.job_name.clone(),
                    };
                    if let Ok(found) = self.find_job(&selector).await {
                        return Some(found);
                    }
                }
                None
            }
        }
    }

    /// Load a location again: a code server this instance runs is restarted (rebuilt,
    /// for a `cargo:` entry) and swapped in once it loads; a remote one's snapshot is
    /// fetched again.
    pub async fn reload_location(&self, name: &str) -> Result<Location> {
        self.workspace
            .reload(name)
            .await
            .ok_or_else(|| Error::LocationNotFound(name.to_owned()))
    }

    /// Stop a location's code server (runs in flight finish first). One this instance
    /// runs stays stopped until the location is reloaded.
    pub async fn shutdown_location(&self, name: &str) -> Result<Location> {
        self.workspace
            .shutdown(name)
            .await
            .ok_or_else(|| Error::LocationNotFound(name.to_owned()))
    }

    /// Load every location again (see [`reload_location`](Self::reload_location)).
    pub async fn reload_workspace(&self) -> Vec<Location> {
        self.workspace.reload_all().await;
        self.workspace.locations().await
    }
}
