//! Runs on SQL: a `runs` row each, with its tags in `run_tags`. Runs created at the same
//! moment by one process share a transaction.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};
use sluice_core::events::{EventType, RunEvent, now_timestamp};
use sluice_core::run::{NewRun, Run, RunStatus, priority_of};
use sluice_core::sensor::RunStatusChange;

use super::events::{event_row, insert_events};
use super::{IN_CHUNK, INSERT_CHUNK, SqlStorage, erased_json};
use crate::entity::{event_logs, run_tags, runs};
use crate::error::{Result, StorageError};
use crate::{RunStorage, RunsFilter};

#[async_trait]
impl RunStorage for SqlStorage {
    async fn create_run(&self, run: &NewRun) -> Result<Run> {
        self.create_run_with_events(run, &[]).await
    }

    /// Runs created at the same time by one process (a burst of launches) share a
    /// transaction: each caller queues its run, and whoever gets the writers' next turn
    /// creates every queued run, each in a savepoint of its own, so that one refused run
    /// (a duplicate id) leaves the others created.
    async fn create_run_with_events(&self, run: &NewRun, events: &[RunEvent]) -> Result<Run> {
        let (created, mut done) = tokio::sync::oneshot::channel();
        lock_pending(&self.pending_runs).push(PendingRun {
            run: run.clone(),
            events: events.to_vec(),
            created,
        });
        let stopped = || {
            Err(StorageError::RunNotCreated {
                run_id: run.run_id.clone(),
                reason: "the task creating it with other runs stopped first".to_owned(),
            })
        };
        tokio::select! {
            biased;
            // Created by the writer whose turn came first.
            result = &mut done => return result.unwrap_or_else(|_| stopped()),
            guard = self.lock_writes() => {
                let batch = std::mem::take(&mut *lock_pending(&self.pending_runs));
                if !batch.is_empty() {
                    self.create_runs(batch).await;
                }
                drop(guard);
            }
        }
        done.await.unwrap_or_else(|_| stopped())
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
        let model = runs::Entity::find()
            .filter(runs::Column::RunId.eq(run_id))
            .one(&self.db)
            .await
            .map_err(StorageError::db(format!("load run {run_id}")))?;
        let Some(model) = model else {
            return Ok(None);
        };
        let mut tags = self.tags_of(std::slice::from_ref(&model.run_id)).await?;
        let tags = tags.remove(&model.run_id).unwrap_or_default();
        to_run(model, tags).map(Some)
    }

    async fn list_runs(
        &self,
        filter: &RunsFilter,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>> {
        let mut select = runs::Entity::find().filter(filter_condition(filter));
        if let Some(cursor) = cursor {
            let cursor_id: Option<i64> = runs::Entity::find()
                .select_only()
                .column(runs::Column::Id)
                .filter(runs::Column::RunId.eq(cursor))
                .into_tuple()
                .one(&self.db)
                .await
                .map_err(StorageError::db(format!("look up cursor run {cursor}")))?;
            let cursor_id = cursor_id.ok_or_else(|| StorageError::UnknownCursor {
                run_id: cursor.to_owned(),
            })?;
            select = select.filter(runs::Column::Id.lt(cursor_id));
        }
        select = select.order_by_desc(runs::Column::Id);
        if let Some(limit) = limit {
            select = select.limit(u64::try_from(limit).unwrap_or(u64::MAX));
        }
        let models = select
            .all(&self.db)
            .await
            .map_err(StorageError::db("list runs"))?;
        self.with_tags(models).await
    }

    async fn queued_runs(&self, offset: usize, limit: usize) -> Result<Vec<Run>> {
        let models = runs::Entity::find()
            .filter(runs::Column::Status.eq(RunStatus::Queued.as_str()))
            .order_by_desc(runs::Column::Priority)
            .order_by_asc(runs::Column::Id)
            .offset(u64::try_from(offset).unwrap_or(u64::MAX))
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .all(&self.db)
            .await
            .map_err(StorageError::db("list queued runs"))?;
        self.with_tags(models).await
    }

    async fn count_runs(&self, filter: &RunsFilter) -> Result<u64> {
        runs::Entity::find()
            .filter(filter_condition(filter))
            .count(&self.db)
            .await
            .map_err(StorageError::db("count runs"))
    }

    async fn delete_run(&self, run_id: &str) -> Result<bool> {
        let action = format!("delete run {run_id}");
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        event_logs::Entity::delete_many()
            .filter(event_logs::Column::RunId.eq(run_id))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        run_tags::Entity::delete_many()
            .filter(run_tags::Column::RunId.eq(run_id))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        let deleted = runs::Entity::delete_many()
            .filter(runs::Column::RunId.eq(run_id))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        txn.commit().await.map_err(StorageError::db(action))?;
        Ok(deleted.rows_affected > 0)
    }

    async fn record_run_heartbeat(&self, run_id: &str, timestamp: f64) -> Result<()> {
        let action = format!("record a heartbeat of run {run_id}");
        let _guard = self.lock_writes().await;
        runs::Entity::update_many()
            .col_expr(runs::Column::HeartbeatTime, Expr::val(timestamp))
            .filter(runs::Column::RunId.eq(run_id))
            .exec(&self.db)
            .await
            .map_err(StorageError::db(action))?;
        Ok(())
    }

    async fn run_status_changes(
        &self,
        after_event_id: i64,
        statuses: &[RunStatus],
        limit: usize,
    ) -> Result<Vec<RunStatusChange>> {
        let event_types: Vec<&str> = EventType::ALL
            .into_iter()
            .filter(|t| t.run_status().is_some_and(|s| statuses.contains(&s)))
            .map(EventType::as_str)
            .collect();
        let stmt = Query::select()
            .column((event_logs::Entity, event_logs::Column::Id))
            .column((event_logs::Entity, event_logs::Column::RunId))
            .column((event_logs::Entity, event_logs::Column::EventType))
            .column((event_logs::Entity, event_logs::Column::Timestamp))
            .column((runs::Entity, runs::Column::JobName))
            .from(event_logs::Entity)
            .inner_join(
                runs::Entity,
                Expr::col((runs::Entity, runs::Column::RunId))
                    .equals((event_logs::Entity, event_logs::Column::RunId)),
            )
            .and_where(Expr::col((event_logs::Entity, event_logs::Column::Id)).gt(after_event_id))
            .and_where(
                Expr::col((event_logs::Entity, event_logs::Column::EventType)).is_in(event_types),
            )
            .order_by(
                (event_logs::Entity, event_logs::Column::Id),
                sea_orm::Order::Asc,
            )
            .limit(limit as u64)
            .to_owned();
        let action = "read run status changes";
        let rows = self
            .db
            .query_all(&stmt)
            .await
            .map_err(StorageError::db(action))?;
        rows.into_iter()
            .map(|row| {
                let get_str = |col: &str| {
                    row.try_get::<String>("", col)
                        .map_err(StorageError::db(action))
                };
                let event_type = get_str("event_type")?;
                let status = EventType::parse(&event_type)
                    .and_then(EventType::run_status)
                    .ok_or_else(|| StorageError::Corrupt {
                        what: "event log".into(),
                        reason: format!("unknown lifecycle event type \"{event_type}\""),
                    })?;
                Ok(RunStatusChange {
                    event_id: row.try_get("", "id").map_err(StorageError::db(action))?,
                    run_id: get_str("run_id")?,
                    job_name: get_str("job_name")?,
                    status,
                    timestamp: row
                        .try_get("", "timestamp")
                        .map_err(StorageError::db(action))?,
                })
            })
            .collect()
    }
}

/// A run waiting to be created, and who waits for it.
pub(super) struct PendingRun {
    run: NewRun,
    events: Vec<RunEvent>,
    created: tokio::sync::oneshot::Sender<Result<Run>>,
}

fn lock_pending(
    pending: &std::sync::Mutex<Vec<PendingRun>>,
) -> std::sync::MutexGuard<'_, Vec<PendingRun>> {
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SqlStorage {
    /// Create `batch` in one transaction (the caller holds the writers' turn) and tell
    /// each waiter how its run fared.
    async fn create_runs(&self, batch: Vec<PendingRun>) {
        let action = match batch.as_slice() {
            [one] => format!("create run {}", one.run.run_id),
            many => format!("create {} runs", many.len()),
        };
        let txn = match self.begin_write(&action).await {
            Ok(txn) => txn,
            Err(e) => return fail_all(batch, e),
        };
        let outcomes = if let [one] = batch.as_slice() {
            // Alone, a refused run needs no savepoint: the transaction is rolled back.
            match insert_run(&txn, &one.run, &one.events).await {
                Ok(created) => vec![Ok(created)],
                Err(e) => return fail_all(batch, e),
            }
        } else {
            let mut outcomes = Vec::with_capacity(batch.len());
            for pending in &batch {
                outcomes.push(insert_run_in_savepoint(&txn, &pending.run, &pending.events).await);
            }
            outcomes
        };
        if let Err(e) = txn.commit().await.map_err(StorageError::db(action)) {
            return fail_all(batch, e);
        }
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let _ = pending.created.send(outcome);
        }
    }

    /// `models` as runs, with their tags.
    async fn with_tags(&self, models: Vec<runs::Model>) -> Result<Vec<Run>> {
        let ids: Vec<String> = models.iter().map(|m| m.run_id.clone()).collect();
        let mut tags = self.tags_of(&ids).await?;
        models
            .into_iter()
            .map(|m| {
                let t = tags.remove(&m.run_id).unwrap_or_default();
                to_run(m, t)
            })
            .collect()
    }

    /// Tags of these runs, by run id.
    async fn tags_of(
        &self,
        run_ids: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        for chunk in run_ids.chunks(IN_CHUNK) {
            let rows: Vec<(String, String, String)> = run_tags::Entity::find()
                .select_only()
                .columns([
                    run_tags::Column::RunId,
                    run_tags::Column::Key,
                    run_tags::Column::Value,
                ])
                .filter(run_tags::Column::RunId.is_in(chunk.iter().map(String::as_str)))
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(StorageError::db("load run tags"))?;
            for (run_id, key, value) in rows {
                tags.entry(run_id).or_default().insert(key, value);
            }
        }
        Ok(tags)
    }
}

/// `insert_run` in a savepoint of `txn`: a refused run leaves the rest of `txn` intact.
async fn insert_run_in_savepoint(
    txn: &DatabaseTransaction,
    run: &NewRun,
    events: &[RunEvent],
) -> Result<Run> {
    let action = || format!("create run {}", run.run_id);
    let savepoint = txn.begin().await.map_err(StorageError::db(action()))?;
    match insert_run(&savepoint, run, events).await {
        Ok(created) => {
            savepoint
                .commit()
                .await
                .map_err(StorageError::db(action()))?;
            Ok(created)
        }
        Err(e) => {
            savepoint
                .rollback()
                .await
                .map_err(StorageError::db(action()))?;
            Err(e)
        }
    }
}

/// Tell every waiter of `batch` that its run was not created, and why.
fn fail_all(mut batch: Vec<PendingRun>, error: StorageError) {
    if batch.len() == 1 {
        let pending = batch.remove(0);
        let _ = pending.created.send(Err(error));
        return;
    }
    let reason = error.to_string();
    for pending in batch {
        let _ = pending.created.send(Err(StorageError::RunNotCreated {
            run_id: pending.run.run_id,
            reason: reason.clone(),
        }));
    }
}

/// Insert `run`, its tags and its first `events` in `txn` (which the caller commits).
/// The returned run's status follows the events.
pub(super) async fn insert_run(
    txn: &DatabaseTransaction,
    run: &NewRun,
    events: &[RunEvent],
) -> Result<Run> {
    let event_rows = events.iter().map(event_row).collect::<Result<Vec<_>>>()?;
    let now = now_timestamp();
    let row = run_row(run, now)?;
    let action = || format!("create run {}", run.run_id);
    if let Err(e) = runs::Entity::insert(row).exec_without_returning(txn).await {
        return Err(match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StorageError::DuplicateRun {
                run_id: run.run_id.clone(),
            },
            _ => StorageError::db(action())(e),
        });
    }
    let tags = tag_rows(run);
    for chunk in tags.chunks(INSERT_CHUNK) {
        run_tags::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await
            .map_err(StorageError::db(action()))?;
    }
    insert_events(txn, event_rows, events, &action()).await?;
    let status = events
        .iter()
        .filter_map(|e| e.event_type.run_status())
        .next_back()
        .unwrap_or(run.status);
    Ok(Run {
        run_id: run.run_id.clone(),
        job_name: run.job_name.clone(),
        location_name: run.location_name.clone(),
        status,
        run_config: run.run_config.clone(),
        tags: run.tags.clone(),
        parent_run_id: run.parent_run_id.clone(),
        root_run_id: run.root_run_id.clone(),
        step_keys_to_execute: run.step_keys_to_execute.clone(),
        create_time: now,
        update_time: now,
        start_time: None,
        end_time: None,
        heartbeat_time: None,
    })
}

/// The `runs` row of `run`, created at `now`.
fn run_row(run: &NewRun, now: f64) -> Result<runs::ActiveModel> {
    let serialize = |value: &dyn erased_json::Json, what: &str| {
        value.to_json().map_err(|source| StorageError::Serialize {
            what: format!("{what} of run {}", run.run_id),
            source,
        })
    };
    let step_keys_to_execute = run
        .step_keys_to_execute
        .as_ref()
        .map(|k| serialize(k, "step keys"))
        .transpose()?;
    Ok(runs::ActiveModel {
        id: NotSet,
        run_id: Set(run.run_id.clone()),
        job_name: Set(run.job_name.clone()),
        location_name: Set(run.location_name.clone()),
        status: Set(run.status.as_str().to_owned()),
        run_config: Set(serialize(&run.run_config, "run config")?),
        parent_run_id: Set(run.parent_run_id.clone()),
        root_run_id: Set(run.root_run_id.clone()),
        create_time: Set(now),
        update_time: Set(now),
        start_time: Set(None),
        end_time: Set(None),
        heartbeat_time: Set(None),
        priority: Set(priority_of(&run.tags)),
        step_keys_to_execute: Set(step_keys_to_execute),
    })
}

/// The `run_tags` rows of `run`.
fn tag_rows(run: &NewRun) -> Vec<run_tags::ActiveModel> {
    run.tags
        .iter()
        .map(|(key, value)| run_tags::ActiveModel {
            id: NotSet,
            run_id: Set(run.run_id.clone()),
            key: Set(key.clone()),
            value: Set(value.clone()),
        })
        .collect()
}

/// Insert many QUEUED runs in `txn`, each with its tags and RUN_ENQUEUED event, a few
/// statements per chunk of runs rather than per run.
pub(super) async fn insert_queued_runs(
    txn: &DatabaseTransaction,
    new_runs: &[NewRun],
    action: &str,
) -> Result<()> {
    let now = now_timestamp();
    for chunk in new_runs.chunks(INSERT_CHUNK / 2) {
        let rows = chunk
            .iter()
            .map(|run| run_row(run, now))
            .collect::<Result<Vec<_>>>()?;
        runs::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await
            .map_err(StorageError::db(action))?;
        let tags: Vec<run_tags::ActiveModel> = chunk.iter().flat_map(tag_rows).collect();
        for tags in tags.chunks(INSERT_CHUNK) {
            run_tags::Entity::insert_many(tags.to_vec())
                .exec_without_returning(txn)
                .await
                .map_err(StorageError::db(action))?;
        }
        let events = chunk
            .iter()
            .map(|run| {
                let mut event = run.enqueued_event();
                event.timestamp = now;
                event_row(&event)
            })
            .collect::<Result<Vec<_>>>()?;
        event_logs::Entity::insert_many(events)
            .exec_without_returning(txn)
            .await
            .map_err(StorageError::db(action))?;
    }
    Ok(())
}

fn filter_condition(filter: &RunsFilter) -> Condition {
    let mut cond = Condition::all();
    if !filter.run_ids.is_empty() {
        cond = cond.add(runs::Column::RunId.is_in(filter.run_ids.iter().map(String::as_str)));
    }
    if let Some(job) = &filter.job_name {
        cond = cond.add(runs::Column::JobName.eq(job.as_str()));
    }
    if !filter.statuses.is_empty() {
        cond = cond.add(runs::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    let bounds = [
        (runs::Column::CreateTime, filter.created_after, true),
        (runs::Column::CreateTime, filter.created_before, false),
        (runs::Column::UpdateTime, filter.updated_after, true),
        (runs::Column::UpdateTime, filter.updated_before, false),
    ];
    for (column, bound, after) in bounds {
        if let Some(t) = bound {
            cond = cond.add(if after { column.gt(t) } else { column.lt(t) });
        }
    }
    for (key, value) in &filter.tags {
        let tagged = Query::select()
            .expr(Expr::val(1))
            .from(run_tags::Entity)
            .and_where(
                Expr::col((run_tags::Entity, run_tags::Column::RunId))
                    .equals((runs::Entity, runs::Column::RunId)),
            )
            .and_where(Expr::col((run_tags::Entity, run_tags::Column::Key)).eq(key.as_str()))
            .and_where(Expr::col((run_tags::Entity, run_tags::Column::Value)).eq(value.as_str()))
            .to_owned();
        cond = cond.add(Expr::exists(tagged));
    }
    cond
}

fn to_run(model: runs::Model, tags: BTreeMap<String, String>) -> Result<Run> {
    let corrupt = |reason: String| StorageError::Corrupt {
        what: format!("run {}", model.run_id),
        reason,
    };
    let status = RunStatus::parse(&model.status)
        .ok_or_else(|| corrupt(format!("unknown status `{}`", model.status)))?;
    let run_config = serde_json::from_str(&model.run_config)
        .map_err(|e| corrupt(format!("run_config is not JSON: {e}")))?;
    let step_keys_to_execute = model
        .step_keys_to_execute
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| corrupt(format!("step_keys_to_execute is not a JSON list: {e}")))?;
    Ok(Run {
        run_id: model.run_id,
        job_name: model.job_name,
        location_name: model.location_name,
        status,
        run_config,
        tags,
        parent_run_id: model.parent_run_id,
        root_run_id: model.root_run_id,
        step_keys_to_execute,
        create_time: model.create_time,
        update_time: model.update_time,
        start_time: model.start_time,
        end_time: model.end_time,
        heartbeat_time: model.heartbeat_time,
    })
}
