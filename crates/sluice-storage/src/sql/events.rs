//! The event log on SQL: `event_logs`, append-only, its id the global cursor. Storing an
//! event also moves its run's status (lifecycle events) and its asset's row in the
//! catalog (materializations), in the same transaction.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use sluice_core::events::{EventRecord, EventType, RunEvent, now_timestamp};
use sluice_core::run::RunStatus;

use super::{IN_CHUNK, INSERT_CHUNK, SqlStorage, assets};
use crate::EventStorage;
use crate::entity::{event_logs, runs};
use crate::error::{Result, StorageError};

const FINISHED: [RunStatus; 3] = [RunStatus::Success, RunStatus::Failure, RunStatus::Canceled];

#[async_trait]
impl EventStorage for SqlStorage {
    async fn store_events(&self, events: &[RunEvent]) -> Result<Vec<i64>> {
        self.append_events(events, None).await
    }

    async fn store_run_events(&self, run_id: &str, events: &[RunEvent]) -> Result<Vec<i64>> {
        if let Some(stranger) = events.iter().find(|e| e.run_id != run_id) {
            return Err(StorageError::ForeignEvent {
                run_id: run_id.to_owned(),
                other: stranger.run_id.clone(),
            });
        }
        self.append_events(events, Some(run_id)).await
    }

    async fn events_for_run(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Vec<EventRecord>> {
        let mut select = select_events().filter(event_logs::Column::RunId.eq(run_id));
        if let Some(after) = after {
            select = select.filter(event_logs::Column::Id.gt(after));
        }
        select = select.order_by_asc(event_logs::Column::Id);
        if let Some(limit) = limit {
            select = select.limit(u64::try_from(limit).unwrap_or(u64::MAX));
        }
        let rows: Vec<(i64, f64, String)> = select
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StorageError::db(format!("load events of run {run_id}")))?;
        rows.into_iter().map(decode_event).collect()
    }

    async fn latest_event_id(&self) -> Result<Option<i64>> {
        let stmt = Query::select()
            .expr_as(Func::max(Expr::col(event_logs::Column::Id)), "max_id")
            .from(event_logs::Entity)
            .to_owned();
        let row = self
            .db
            .query_one(&stmt)
            .await
            .map_err(StorageError::db("read the latest event id"))?;
        match row {
            Some(row) => row
                .try_get::<Option<i64>>("", "max_id")
                .map_err(StorageError::db("read the latest event id")),
            None => Ok(None),
        }
    }

    async fn events_by_id(&self, ids: &[i64]) -> Result<Vec<EventRecord>> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let rows: Vec<(i64, f64, String)> = select_events()
                .filter(event_logs::Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(event_logs::Column::Id)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(StorageError::db("load events by id"))?;
            for row in rows {
                records.push(decode_event(row)?);
            }
        }
        Ok(records)
    }
}

/// A query of the event log's (id, timestamp, body) columns, read by [`decode_event`].
pub(super) fn select_events() -> sea_orm::Select<event_logs::Entity> {
    event_logs::Entity::find().select_only().columns([
        event_logs::Column::Id,
        event_logs::Column::Timestamp,
        event_logs::Column::Body,
    ])
}

/// An event from its (id, timestamp, body) columns.
pub(super) fn decode_event(
    (storage_id, timestamp, body): (i64, f64, String),
) -> Result<EventRecord> {
    let mut event: RunEvent = serde_json::from_str(&body).map_err(|e| StorageError::Corrupt {
        what: format!("event {storage_id}"),
        reason: format!("body is not a run event: {e}"),
    })?;
    // serde_json (without `float_roundtrip`) may parse a float one ulp off; the column
    // holds the exact value.
    event.timestamp = timestamp;
    Ok(EventRecord { storage_id, event })
}

/// Postgres text cannot hold NUL; the indexed copy of a field replaces it (the JSON
/// body keeps the exact value, escaped).
fn column_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

/// The `event_logs` row of `event`.
pub(super) fn event_row(event: &RunEvent) -> Result<event_logs::ActiveModel> {
    let serialize = |e: &RunEvent| {
        serde_json::to_string(e).map_err(|source| StorageError::Serialize {
            what: format!("{} event of run {}", e.event_type, e.run_id),
            source,
        })
    };
    // A NaN or infinite timestamp cannot be stored (SQLite turns NaN into NULL) nor
    // read back from JSON; such an event is stored with the time it was stored.
    let (timestamp, body) = if event.timestamp.is_finite() {
        (event.timestamp, serialize(event)?)
    } else {
        let mut fixed = event.clone();
        fixed.timestamp = now_timestamp();
        (fixed.timestamp, serialize(&fixed)?)
    };
    Ok(event_logs::ActiveModel {
        id: NotSet,
        run_id: Set(column_text(&event.run_id)),
        event_type: Set(event.event_type.as_str().to_owned()),
        step_key: Set(event.step_key.as_deref().map(column_text)),
        level: Set(event.level.as_str().to_owned()),
        timestamp: Set(timestamp),
        message: Set(column_text(&event.message)),
        asset_key: Set(event.asset_key().map(ToString::to_string)),
        partition: Set(event.partition().map(column_text)),
        body: Set(body),
    })
}

/// Insert `rows` (the rows of `events`) in `txn`, moving each run as its lifecycle
/// events say; returns the new event ids in order. Inserts come first, so that SQLite
/// takes the write lock before anything is read.
impl SqlStorage {
    /// Append `events` in one transaction; behind `fence_run`'s fence when given (see
    /// [`EventStorage::store_run_events`]).
    async fn append_events(
        &self,
        events: &[RunEvent],
        fence_run: Option<&str>,
    ) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows = events.iter().map(event_row).collect::<Result<Vec<_>>>()?;
        let action = match fence_run {
            Some(run_id) => format!("store {} events of run {run_id}", events.len()),
            None => format!("store {} events", events.len()),
        };
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        if let Some(run_id) = fence_run {
            check_fence(&txn, run_id, events, &action).await?;
        }
        let ids = insert_events(&txn, rows, events, &action).await?;
        txn.commit().await.map_err(StorageError::db(action))?;
        Ok(ids)
    }
}

/// Refuse an attempt's `events` once `run_id` has finished, or a second RUN_START. Read
/// inside the write transaction: no other writer can end or start the run between this
/// check and the insert.
async fn check_fence(
    txn: &DatabaseTransaction,
    run_id: &str,
    events: &[RunEvent],
    action: &str,
) -> Result<()> {
    let status: Option<String> = runs::Entity::find()
        .select_only()
        .column(runs::Column::Status)
        .filter(runs::Column::RunId.eq(run_id))
        .into_tuple()
        .one(txn)
        .await
        .map_err(StorageError::db(action.to_owned()))?;
    if let Some(status) = status.as_deref().and_then(RunStatus::parse) {
        let starts = events.iter().any(|e| e.event_type == EventType::RunStart);
        let started = matches!(status, RunStatus::Started | RunStatus::Canceling);
        if status.is_finished() || (starts && started) {
            return Err(StorageError::RunFenced {
                run_id: run_id.to_owned(),
                status,
            });
        }
    }
    Ok(())
}

pub(super) async fn insert_events(
    txn: &DatabaseTransaction,
    rows: Vec<event_logs::ActiveModel>,
    events: &[RunEvent],
    action: &str,
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let mut insert = event_logs::Entity::insert_many(chunk).into_query();
        insert.returning_col(event_logs::Column::Id);
        let returned = txn
            .query_all(&insert)
            .await
            .map_err(StorageError::db(action.to_owned()))?;
        let mut chunk_ids = returned
            .iter()
            .map(|row| row.try_get::<i64>("", "id"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StorageError::db(action.to_owned()))?;
        // RETURNING does not promise row order; ids of one statement are assigned
        // in VALUES order.
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    assets::index_materializations(txn, events, &ids)
        .await
        .map_err(StorageError::db(format!(
            "{action}: index materializations"
        )))?;
    for event in events {
        if let Some(status) = event.event_type.run_status() {
            update_run_status(txn, event, status)
                .await
                .map_err(StorageError::db(format!(
                    "move run {} to {status}",
                    event.run_id
                )))?;
        }
    }
    Ok(ids)
}

/// Move the event's run to `status`, unless the run has finished.
async fn update_run_status(
    txn: &DatabaseTransaction,
    event: &RunEvent,
    status: RunStatus,
) -> Result<(), sea_orm::DbErr> {
    let mut update = runs::Entity::update_many()
        .col_expr(runs::Column::Status, Expr::val(status.as_str()))
        .col_expr(runs::Column::UpdateTime, Expr::val(event.timestamp));
    if event.event_type == EventType::RunStart {
        update = update.col_expr(runs::Column::StartTime, Expr::val(event.timestamp));
    }
    if status.is_finished() {
        update = update.col_expr(runs::Column::EndTime, Expr::val(event.timestamp));
    }
    update
        .filter(runs::Column::RunId.eq(event.run_id.as_str()))
        .filter(runs::Column::Status.is_not_in(FINISHED.iter().map(|s| s.as_str())))
        .exec(txn)
        .await?;
    Ok(())
}
