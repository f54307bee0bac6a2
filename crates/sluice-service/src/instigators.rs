//! Schedules and sensors as the webserver sees them: definitions from the locations'
//! snapshots, state from storage. Starting, stopping, resetting and moving a cursor
//! write only the state; the daemon acts on it.

use std::sync::Arc;

use sluice_codeserver::{Location, LocationState};
use sluice_core::events::{datetime_to_timestamp, now_timestamp, timestamp_to_datetime};
use sluice_core::run_request::DefaultStatus;
use sluice_core::schedule::CronSchedule;
use sluice_core::snapshot::{LocationSnapshot, REPOSITORY_NAME, ScheduleSnapshot, SensorSnapshot};
use sluice_storage::{
    InstigatorKey, InstigatorState, InstigatorStatus, InstigatorType, Tick, TicksFilter,
};

use crate::Service;
use crate::error::{Error, Result};

/// A schedule's or a sensor's definition.
#[derive(Clone, Debug)]
pub enum InstigatorDefinition {
    /// A schedule.
    Schedule(ScheduleSnapshot),
    /// A sensor.
    Sensor(SensorSnapshot),
}

/// A schedule or sensor of a loaded location, with its stored state.
#[derive(Clone, Debug)]
pub struct Instigator {
    /// Its location.
    pub location: Location,
    /// The location's snapshot.
    pub snapshot: Arc<LocationSnapshot>,
    /// Its definition.
    pub definition: InstigatorDefinition,
    /// Which one, for storage.
    pub key: InstigatorKey,
    /// What storage has of it, if anything.
    pub state: Option<InstigatorState>,
}

impl Instigator {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// Its selector id (also its GraphQL ids).
    pub fn selector_id(&self) -> String {
        self.key.selector_id()
    }

    /// Whether its definition starts it.
    pub fn default_status(&self) -> DefaultStatus {
        match &self.definition {
            InstigatorDefinition::Schedule(s) => s.default_status,
            InstigatorDefinition::Sensor(s) => s.default_status,
        }
    }

    /// Its status: what a person set, else its default.
    pub fn status(&self) -> InstigatorStatus {
        self.state
            .as_ref()
            .and_then(|s| s.status)
            .unwrap_or_else(|| self.default_status().into())
    }

    /// Whether a person's choice overrides the default (so that resetting changes
    /// something).
    pub fn can_reset(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.status.is_some())
    }

    /// When it ticks next after `now` (Unix seconds), if it is running: a schedule's next
    /// cron time, a sensor's last evaluation plus its minimum interval (`now` at the
    /// earliest).
    pub fn next_tick_time(&self, now: f64) -> Option<f64> {
        if self.status() != InstigatorStatus::Running {
            return None;
        }
        match &self.definition {
            InstigatorDefinition::Schedule(s) => {
                let cron =
                    CronSchedule::parse(&s.cron_schedule, s.execution_timezone.as_deref()).ok()?;
                let time = cron.next_after(timestamp_to_datetime(now))?;
                Some(datetime_to_timestamp(time))
            }
            InstigatorDefinition::Sensor(s) => {
                let last = self.state.as_ref().and_then(|s| s.last_tick_timestamp);
                Some(last.map_or(now, |t| (t + s.minimum_interval_seconds as f64).max(now)))
            }
        }
    }

    /// The kind, as "schedule" or "sensor".
    pub fn kind(&self) -> &'static str {
        match self.key.instigator_type {
            InstigatorType::Schedule => "schedule",
            InstigatorType::Sensor => "sensor",
        }
    }
}

/// The loaded locations' snapshots, by location.
fn loaded(location: &Location) -> Option<Arc<LocationSnapshot>> {
    match &location.state {
        LocationState::Loaded(snapshot) => Some(Arc::clone(snapshot)),
        LocationState::Failed(_) => None,
    }
}

fn definitions_of(
    location: &Location,
    snapshot: &Arc<LocationSnapshot>,
    kind: InstigatorType,
) -> Vec<(InstigatorKey, InstigatorDefinition)> {
    let key = |name: &str| InstigatorKey::new(&location.name, name, kind);
    match kind {
        InstigatorType::Schedule => snapshot
            .schedules
            .iter()
            .map(|s| (key(&s.name), InstigatorDefinition::Schedule(s.clone())))
            .collect(),
        InstigatorType::Sensor => snapshot
            .sensors
            .iter()
            .map(|s| (key(&s.name), InstigatorDefinition::Sensor(s.clone())))
            .collect(),
    }
}

impl Service {
    /// The schedules (or sensors) of `location`, by name, with their states.
    pub async fn instigators(
        &self,
        location_name: &str,
        repository_name: &str,
        kind: InstigatorType,
    ) -> Result<Vec<Instigator>> {
        let location = self.workspace().location(location_name).await;
        let (Some(location), REPOSITORY_NAME) = (location, repository_name) else {
            return Err(Error::RepositoryNotFound {
                location: location_name.to_owned(),
                repository: repository_name.to_owned(),
            });
        };
        let Some(snapshot) = loaded(&location) else {
            return Err(Error::RepositoryNotFound {
                location: location_name.to_owned(),
                repository: repository_name.to_owned(),
            });
        };
        let mut states = self.storage().instigator_states().await?;
        let mut found: Vec<Instigator> = definitions_of(&location, &snapshot, kind)
            .into_iter()
            .map(|(key, definition)| Instigator {
                location: location.clone(),
                snapshot: Arc::clone(&snapshot),
                definition,
                state: states.remove(&key.selector_id()),
                key,
            })
            .collect();
        found.sort_by(|a, b| a.key.name.cmp(&b.key.name));
        Ok(found)
    }

    /// The schedule (or sensor) `name` of a location, if it has one.
    pub async fn instigator(
        &self,
        location_name: &str,
        repository_name: &str,
        name: &str,
        kind: InstigatorType,
    ) -> Result<Option<Instigator>> {
        Ok(self
            .instigators(location_name, repository_name, kind)
            .await?
            .into_iter()
            .find(|i| i.key.name == name))
    }

    /// The schedule or sensor whose selector id is `id`, in any loaded location.
    pub async fn instigator_by_id(&self, id: &str) -> Result<Option<Instigator>> {
        let state = self.storage().instigator_state(id).await?;
        for location in self.workspace().locations().await {
            let Some(snapshot) = loaded(&location) else {
                continue;
            };
            for kind in [InstigatorType::Schedule, InstigatorType::Sensor] {
                for (key, definition) in definitions_of(&location, &snapshot, kind) {
                    if key.selector_id() == id {
                        return Ok(Some(Instigator {
                            location,
                            snapshot,
                            definition,
                            key,
                            state,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Start (`Some(Running)`), stop, or reset (`None`) a schedule or sensor. Starting
    /// one that runs already is refused, as Dagster does.
    pub async fn set_instigator_status(
        &self,
        instigator: &Instigator,
        status: Option<InstigatorStatus>,
    ) -> Result<Instigator> {
        if status == Some(InstigatorStatus::Running)
            && instigator.status() == InstigatorStatus::Running
        {
            return Err(Error::InvalidArgument(format!(
                "You have attempted to start {} {}, but it is already running",
                instigator.kind(),
                instigator.name()
            )));
        }
        let state = self
            .storage()
            .set_instigator_status(&instigator.key, status, now_timestamp())
            .await?;
        Ok(Instigator {
            state: Some(state),
            ..instigator.clone()
        })
    }

    /// Replace a sensor's cursor (`None` clears it).
    pub async fn set_sensor_cursor(
        &self,
        instigator: &Instigator,
        cursor: Option<&str>,
    ) -> Result<Instigator> {
        let state = self
            .storage()
            .set_instigator_cursor(&instigator.key, cursor, now_timestamp())
            .await?;
        Ok(Instigator {
            state: Some(state),
            ..instigator.clone()
        })
    }
}

impl Service {
    /// The ticks of the schedule or sensor with `selector_id` that `filter` selects,
    /// newest first.
    pub async fn ticks(&self, selector_id: &str, filter: &TicksFilter) -> Result<Vec<Tick>> {
        Ok(self.storage().ticks(Some(selector_id), filter).await?)
    }
}
