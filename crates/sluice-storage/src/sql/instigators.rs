//! Schedules' and sensors' state, ticks and run keys on SQL. Every write is one
//! transaction; a tick that ends moves its instigator's cursor and last tick with it.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sluice_core::events::{ErrorInfo, RunEvent, now_timestamp};
use sluice_core::run::NewRun;

use super::SqlStorage;
use super::erased_json::Json;
use super::runs::insert_run;
use crate::entity::{instigator_run_keys, instigator_ticks, instigators};
use crate::error::{Result, StorageError};
use crate::{
    InstigatedRun, InstigationStorage, InstigatorKey, InstigatorState, InstigatorStatus,
    InstigatorType, NewTick, Tick, TickResult, TickStatus, TicksFilter,
};

#[async_trait]
impl InstigationStorage for SqlStorage {
    async fn instigator_states(&self) -> Result<HashMap<String, InstigatorState>> {
        let states = states(self, None).await?;
        Ok(states
            .into_iter()
            .map(|s| (s.key.selector_id(), s))
            .collect())
    }

    async fn instigator_state(&self, selector_id: &str) -> Result<Option<InstigatorState>> {
        Ok(states(self, Some(selector_id)).await?.pop())
    }

    async fn ensure_instigator(&self, key: &InstigatorKey, now: f64) -> Result<InstigatorState> {
        let action = format!("record the state of {}", key.name);
        change_state(self, key, now, &action, blank_change()).await
    }

    async fn set_instigator_status(
        &self,
        key: &InstigatorKey,
        status: Option<InstigatorStatus>,
        now: f64,
    ) -> Result<InstigatorState> {
        let action = format!("set the status of {}", key.name);
        let mut change = blank_change();
        change.status = Set(status.map(|s| s.as_str().to_owned()));
        // Starting, or resetting to a default that may be running, starts the clock again:
        // the ticks of a time it was stopped are not caught up.
        if status != Some(InstigatorStatus::Stopped) {
            change.start_timestamp = Set(Some(now));
        }
        change_state(self, key, now, &action, change).await
    }

    async fn set_instigator_cursor(
        &self,
        key: &InstigatorKey,
        cursor: Option<&str>,
        now: f64,
    ) -> Result<InstigatorState> {
        let action = format!("set the cursor of {}", key.name);
        let mut change = blank_change();
        change.cursor = Set(cursor.map(str::to_owned));
        change_state(self, key, now, &action, change).await
    }

    async fn add_tick(&self, tick: &NewTick) -> Result<Tick> {
        let action = format!("store a tick of {}", tick.instigator.name);
        let now = now_timestamp();
        let columns = TickColumns::of(
            &tick.result,
            now,
            &format!("a tick of {}", tick.instigator.name),
        )?;
        let row = instigator_ticks::ActiveModel {
            id: NotSet,
            selector_id: Set(tick.instigator.selector_id()),
            status: Set(columns.status),
            timestamp: Set(tick.timestamp),
            end_timestamp: Set(columns.end_timestamp),
            run_ids: Set(columns.run_ids),
            run_keys: Set(columns.run_keys),
            error: Set(columns.error),
            skip_reason: Set(tick.result.skip_reason.clone()),
            cursor: Set(tick.result.cursor.clone()),
            dynamic_partitions: Set(columns.dynamic_partitions),
        };
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let id = instigator_ticks::Entity::insert(row)
            .exec(&txn)
            .await
            .map_err(StorageError::db(&action))?
            .last_insert_id;
        let state = state_after(&tick.result, tick.timestamp);
        apply_state_change(&txn, &tick.instigator, now, &action, state).await?;
        txn.commit().await.map_err(StorageError::db(&action))?;
        Ok(Tick {
            id,
            selector_id: tick.instigator.selector_id(),
            timestamp: tick.timestamp,
            end_timestamp: columns.end_timestamp,
            result: tick.result.clone(),
        })
    }

    async fn end_tick(
        &self,
        instigator: &InstigatorKey,
        tick_id: i64,
        result: &TickResult,
    ) -> Result<Tick> {
        let action = format!("end tick {tick_id} of {}", instigator.name);
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let stored = write_result(&txn, instigator, tick_id, result, &action).await?;
        txn.commit().await.map_err(StorageError::db(&action))?;
        Ok(stored)
    }

    async fn ticks(&self, selector_id: Option<&str>, filter: &TicksFilter) -> Result<Vec<Tick>> {
        let mut condition = Condition::all();
        if let Some(selector_id) = selector_id {
            condition = condition.add(instigator_ticks::Column::SelectorId.eq(selector_id));
        }
        if let Some(before) = filter.before_id {
            condition = condition.add(instigator_ticks::Column::Id.lt(before));
        }
        if !filter.statuses.is_empty() {
            condition = condition.add(
                instigator_ticks::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())),
            );
        }
        if let Some(after) = filter.after_timestamp {
            condition = condition.add(instigator_ticks::Column::Timestamp.gt(after));
        }
        if let Some(before) = filter.before_timestamp {
            condition = condition.add(instigator_ticks::Column::Timestamp.lt(before));
        }
        let mut select = instigator_ticks::Entity::find()
            .filter(condition)
            .order_by_desc(instigator_ticks::Column::Id);
        if let Some(limit) = filter.limit {
            select = select.limit(limit as u64);
        }
        let models = select
            .all(&self.db)
            .await
            .map_err(StorageError::db("load ticks"))?;
        models.into_iter().map(to_tick).collect()
    }

    async fn purge_ticks(&self, before: f64, statuses: &[TickStatus]) -> Result<u64> {
        let _guard = self.lock_writes().await;
        let deleted = instigator_ticks::Entity::delete_many()
            .filter(instigator_ticks::Column::Timestamp.lt(before))
            .filter(instigator_ticks::Column::Status.is_in(statuses.iter().map(|s| s.as_str())))
            .exec(&self.db)
            .await
            .map_err(StorageError::db("purge old ticks"))?;
        Ok(deleted.rows_affected)
    }

    async fn create_instigated_run(
        &self,
        run: &NewRun,
        events: &[RunEvent],
        selector_id: &str,
        run_key: &str,
    ) -> Result<InstigatedRun> {
        let action = format!("create run {} for run key \"{run_key}\"", run.run_id);
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let claim = instigator_run_keys::ActiveModel {
            selector_id: Set(selector_id.to_owned()),
            run_key: Set(run_key.to_owned()),
            run_id: Set(run.run_id.clone()),
            create_time: Set(now_timestamp()),
        };
        let claimed = instigator_run_keys::Entity::insert(claim)
            .on_conflict(
                OnConflict::columns([
                    instigator_run_keys::Column::SelectorId,
                    instigator_run_keys::Column::RunKey,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(StorageError::db(&action))?;
        if claimed == 0 {
            let existing = instigator_run_keys::Entity::find_by_id((
                selector_id.to_owned(),
                run_key.to_owned(),
            ))
            .one(&txn)
            .await
            .map_err(StorageError::db(&action))?;
            // Nothing was written; dropping the transaction rolls it back.
            return match existing {
                Some(row) => Ok(InstigatedRun::AlreadyRequested { run_id: row.run_id }),
                None => Err(StorageError::Corrupt {
                    what: format!("run key \"{run_key}\""),
                    reason: "it is claimed but has no row".into(),
                }),
            };
        }
        let created = insert_run(&txn, run, events).await?;
        txn.commit().await.map_err(StorageError::db(&action))?;
        Ok(InstigatedRun::Created(Box::new(created)))
    }
}

async fn states(storage: &SqlStorage, selector_id: Option<&str>) -> Result<Vec<InstigatorState>> {
    let mut select = instigators::Entity::find().order_by_asc(instigators::Column::SelectorId);
    if let Some(id) = selector_id {
        select = select.filter(instigators::Column::SelectorId.eq(id));
    }
    let models = select
        .all(&storage.db)
        .await
        .map_err(StorageError::db("load schedule and sensor states"))?;
    models.into_iter().map(to_state).collect()
}

/// Change the state of `key` in one transaction: create its row if missing (started
/// now, following its default status), apply `change`, and return the new state.
async fn change_state(
    storage: &SqlStorage,
    key: &InstigatorKey,
    now: f64,
    action: &str,
    change: instigators::ActiveModel,
) -> Result<InstigatorState> {
    let _guard = storage.lock_writes().await;
    let txn = storage.begin_write(action).await?;
    let state = change_state_in(&txn, key, now, action, change).await?;
    txn.commit().await.map_err(StorageError::db(action))?;
    Ok(state)
}

async fn change_state_in(
    txn: &DatabaseTransaction,
    key: &InstigatorKey,
    now: f64,
    action: &str,
    change: instigators::ActiveModel,
) -> Result<InstigatorState> {
    apply_state_change(txn, key, now, action, change).await?;
    let model = instigators::Entity::find_by_id(key.selector_id())
        .one(txn)
        .await
        .map_err(StorageError::db(action))?
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("state of {}", key.name),
            reason: "the row just written is missing".into(),
        })?;
    to_state(model)
}

/// Create the state row of `key` if missing, then apply `change` to it.
async fn apply_state_change(
    txn: &DatabaseTransaction,
    key: &InstigatorKey,
    now: f64,
    action: &str,
    mut change: instigators::ActiveModel,
) -> Result<()> {
    let selector_id = key.selector_id();
    let row = instigators::ActiveModel {
        selector_id: Set(selector_id.clone()),
        location_name: Set(key.location_name.clone()),
        name: Set(key.name.clone()),
        instigator_type: Set(key.instigator_type.as_str().to_owned()),
        status: Set(None),
        cursor: Set(None),
        last_tick_timestamp: Set(None),
        last_run_key: Set(None),
        start_timestamp: Set(Some(now)),
        update_timestamp: Set(now),
    };
    instigators::Entity::insert(row)
        .on_conflict(
            OnConflict::column(instigators::Column::SelectorId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(StorageError::db(action))?;
    if change.is_changed() {
        change.update_timestamp = Set(now);
        instigators::Entity::update_many()
            .set(change)
            .filter(instigators::Column::SelectorId.eq(&selector_id))
            .exec(txn)
            .await
            .map_err(StorageError::db(action))?;
    }
    Ok(())
}

fn blank_change() -> instigators::ActiveModel {
    instigators::ActiveModel {
        selector_id: NotSet,
        location_name: NotSet,
        name: NotSet,
        instigator_type: NotSet,
        status: NotSet,
        cursor: NotSet,
        last_tick_timestamp: NotSet,
        last_run_key: NotSet,
        start_timestamp: NotSet,
        update_timestamp: NotSet,
    }
}

/// A tick result as its stored columns.
struct TickColumns {
    status: String,
    end_timestamp: Option<f64>,
    run_ids: String,
    run_keys: String,
    error: Option<String>,
    dynamic_partitions: Option<String>,
}

impl TickColumns {
    /// `now` is the end time of a final result; `tick` names the tick in errors.
    fn of(result: &TickResult, now: f64, tick: &str) -> Result<Self> {
        let json = |v: &dyn Json, what: &str| {
            v.to_json().map_err(|source| StorageError::Serialize {
                what: format!("{what} of {tick}"),
                source,
            })
        };
        Ok(Self {
            status: result.status.as_str().to_owned(),
            end_timestamp: (result.status != TickStatus::Started).then_some(now),
            run_ids: json(&result.run_ids, "run ids")?,
            run_keys: json(&result.run_keys, "run keys")?,
            error: result
                .error
                .as_ref()
                .map(|e| json(e, "error"))
                .transpose()?,
            dynamic_partitions: (!result.dynamic_partitions.is_empty())
                .then(|| json(&result.dynamic_partitions, "dynamic partitions"))
                .transpose()?,
        })
    }
}

/// How a tick with `result` at `timestamp` moves its instigator: a final tick moves the
/// last tick time and last run key, and (unless it failed) the cursor. Every tick
/// creates the instigator's state row, so that a tick's selector id always leads back
/// to its instigator.
fn state_after(result: &TickResult, timestamp: f64) -> instigators::ActiveModel {
    let mut state = blank_change();
    if result.status != TickStatus::Started {
        state.last_tick_timestamp = Set(Some(timestamp));
        if let Some(key) = result.run_keys.last() {
            state.last_run_key = Set(Some(key.clone()));
        }
        if result.status != TickStatus::Failure && result.cursor.is_some() {
            state.cursor = Set(result.cursor.clone());
        }
    }
    state
}

/// Store `result` on tick `id` and move its instigator as [`state_after`] says.
async fn write_result(
    txn: &DatabaseTransaction,
    instigator: &InstigatorKey,
    id: i64,
    result: &TickResult,
    action: &str,
) -> Result<Tick> {
    let now = now_timestamp();
    let columns = TickColumns::of(result, now, &format!("tick {id}"))?;
    let change = instigator_ticks::ActiveModel {
        id: NotSet,
        selector_id: NotSet,
        status: Set(columns.status),
        timestamp: NotSet,
        end_timestamp: Set(columns.end_timestamp),
        run_ids: Set(columns.run_ids),
        run_keys: Set(columns.run_keys),
        error: Set(columns.error),
        skip_reason: Set(result.skip_reason.clone()),
        cursor: Set(result.cursor.clone()),
        dynamic_partitions: Set(columns.dynamic_partitions),
    };
    let updated = instigator_ticks::Entity::update_many()
        .set(change)
        .filter(instigator_ticks::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(StorageError::db(action))?;
    if updated.rows_affected == 0 {
        return Err(StorageError::Corrupt {
            what: format!("tick {id}"),
            reason: "it does not exist".into(),
        });
    }
    let model = instigator_ticks::Entity::find_by_id(id)
        .one(txn)
        .await
        .map_err(StorageError::db(action))?
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("tick {id}"),
            reason: "the row just written is missing".into(),
        })?;
    let state = state_after(result, model.timestamp);
    apply_state_change(txn, instigator, now, action, state).await?;
    to_tick(model)
}

fn to_state(model: instigators::Model) -> Result<InstigatorState> {
    let corrupt = |reason: String| StorageError::Corrupt {
        what: format!("state of {}", model.name),
        reason,
    };
    let instigator_type = InstigatorType::parse(&model.instigator_type)
        .ok_or_else(|| corrupt(format!("unknown type \"{}\"", model.instigator_type)))?;
    let status = match &model.status {
        None => None,
        Some(s) => Some(
            InstigatorStatus::parse(s).ok_or_else(|| corrupt(format!("unknown status \"{s}\"")))?,
        ),
    };
    Ok(InstigatorState {
        key: InstigatorKey {
            location_name: model.location_name,
            name: model.name,
            instigator_type,
        },
        status,
        cursor: model.cursor,
        last_tick_timestamp: model.last_tick_timestamp,
        last_run_key: model.last_run_key,
        start_timestamp: model.start_timestamp,
        update_timestamp: model.update_timestamp,
    })
}

fn to_tick(model: instigator_ticks::Model) -> Result<Tick> {
    let corrupt = |reason: String| StorageError::Corrupt {
        what: format!("tick {}", model.id),
        reason,
    };
    let list = |text: &str| -> Result<Vec<String>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))
    };
    let error: Option<ErrorInfo> = model
        .error
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(Tick {
        id: model.id,
        selector_id: model.selector_id.clone(),
        timestamp: model.timestamp,
        end_timestamp: model.end_timestamp,
        result: TickResult {
            status: TickStatus::parse(&model.status)
                .ok_or_else(|| corrupt(format!("unknown status \"{}\"", model.status)))?,
            run_ids: list(&model.run_ids)?,
            run_keys: list(&model.run_keys)?,
            error,
            skip_reason: model.skip_reason,
            cursor: model.cursor,
            dynamic_partitions: model
                .dynamic_partitions
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?
                .unwrap_or_default(),
        },
    })
}
