//! Backfills on SQL. Submitting a chunk of a backfill's runs and moving its `submitted`
//! count is one transaction, guarded by the count it started from: a daemon that dies
//! mid-chunk, or two daemons at once, never submit a partition twice.

use std::ops::Range;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sluice_core::events::{ErrorInfo, now_timestamp};
use sluice_core::run::NewRun;

use super::SqlStorage;
use super::runs::insert_queued_runs;
use crate::entity::backfills;
use crate::error::{Result, StorageError};
use crate::{
    Backfill, BackfillRuns, BackfillStatus, BackfillStorage, BackfillsFilter, NewBackfill,
};

#[async_trait]
impl BackfillStorage for SqlStorage {
    async fn add_backfill(&self, backfill: &NewBackfill) -> Result<Backfill> {
        let id = &backfill.backfill_id;
        let now = now_timestamp();
        let row = backfills::ActiveModel {
            id: Default::default(),
            backfill_id: Set(id.clone()),
            status: Set(BackfillStatus::Requested.as_str().to_owned()),
            location_name: Set(backfill.location_name.clone()),
            job_name: Set(backfill.job_name.clone()),
            asset_selection: Set(backfill
                .asset_selection
                .as_ref()
                .map(|keys| json(keys, "asset selection", id))
                .transpose()?),
            step_keys: Set(backfill
                .step_keys
                .as_ref()
                .map(|keys| json(keys, "step keys", id))
                .transpose()?),
            partition_names: Set(json(&backfill.partition_names, "partitions", id)?),
            runs: Set(match &backfill.runs {
                BackfillRuns::OnePerPartition => None,
                BackfillRuns::Ranges(sizes) => Some(json(sizes, "run sizes", id)?),
            }),
            submitted: Set(0),
            from_failure: Set(backfill.from_failure),
            tags: Set(json(&backfill.tags, "tags", id)?),
            run_config: Set(json(&backfill.run_config, "run config", id)?),
            title: Set(backfill.title.clone()),
            description: Set(backfill.description.clone()),
            error: Set(None),
            create_timestamp: Set(now),
            end_timestamp: Set(None),
        };
        let action = format!("create backfill {id}");
        let _guard = self.lock_writes().await;
        backfills::Entity::insert(row)
            .exec_without_returning(self.connection())
            .await
            .map_err(StorageError::db(action))?;
        Ok(Backfill {
            spec: backfill.clone(),
            status: BackfillStatus::Requested,
            submitted: 0,
            error: None,
            create_timestamp: now,
            end_timestamp: None,
        })
    }

    async fn backfill(&self, id: &str) -> Result<Option<Backfill>> {
        backfills::Entity::find()
            .filter(backfills::Column::BackfillId.eq(id))
            .one(self.connection())
            .await
            .map_err(StorageError::db(format!("read backfill {id}")))?
            .map(decode)
            .transpose()
    }

    async fn backfills(&self, filter: &BackfillsFilter) -> Result<Vec<Backfill>> {
        let mut query = backfills::Entity::find().order_by_desc(backfills::Column::Id);
        if !filter.statuses.is_empty() {
            query = query.filter(
                backfills::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())),
            );
        }
        if let Some(cursor) = &filter.cursor {
            let before: Option<i64> = backfills::Entity::find()
                .select_only()
                .column(backfills::Column::Id)
                .filter(backfills::Column::BackfillId.eq(cursor))
                .into_tuple()
                .one(self.connection())
                .await
                .map_err(StorageError::db("read the backfill cursor"))?;
            let before = before.ok_or_else(|| StorageError::UnknownCursor {
                run_id: cursor.clone(),
            })?;
            query = query.filter(backfills::Column::Id.lt(before));
        }
        if let Some(limit) = filter.limit {
            query = query.limit(limit as u64);
        }
        query
            .all(self.connection())
            .await
            .map_err(StorageError::db("list backfills"))?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Move backfill `id` to `status` (a final status also sets its end time).
    async fn set_backfill_status(
        &self,
        id: &str,
        status: BackfillStatus,
        error: Option<&ErrorInfo>,
    ) -> Result<Option<Backfill>> {
        let action = format!("move backfill {id} to {}", status.as_str());
        let end = status.is_final().then(now_timestamp);
        let error = error.map(|e| json(e, "error", id)).transpose()?;
        {
            let _guard = self.lock_writes().await;
            backfills::Entity::update_many()
                .col_expr(backfills::Column::Status, Expr::value(status.as_str()))
                .col_expr(backfills::Column::EndTimestamp, Expr::value(end))
                .col_expr(backfills::Column::Error, Expr::value(error))
                .filter(backfills::Column::BackfillId.eq(id))
                .exec(self.connection())
                .await
                .map_err(StorageError::db(action))?;
        }
        self.backfill(id).await
    }

    /// Store `runs` (QUEUED, with their tags and RUN_ENQUEUED events) as the runs of
    /// `partitions` of backfill `id`, and move its `submitted` count from their start to
    /// their end, together. Returns false, having written nothing, when the count is no
    /// longer their start or the backfill is no longer REQUESTED.
    async fn submit_backfill_runs(
        &self,
        id: &str,
        partitions: Range<usize>,
        runs: &[NewRun],
    ) -> Result<bool> {
        let (from, to) = (partitions.start, partitions.end);
        let action = format!("submit {} runs of backfill {id}", runs.len());
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let moved = backfills::Entity::update_many()
            .col_expr(backfills::Column::Submitted, Expr::value(to as i64))
            .filter(backfills::Column::BackfillId.eq(id))
            .filter(backfills::Column::Submitted.eq(from as i64))
            .filter(backfills::Column::Status.eq(BackfillStatus::Requested.as_str()))
            .exec(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        if moved.rows_affected == 0 {
            return Ok(false);
        }
        insert_queued_runs(&txn, runs, &action).await?;
        txn.commit().await.map_err(StorageError::db(action))?;
        Ok(true)
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T, what: &str, id: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StorageError::Serialize {
        what: format!("{what} of backfill {id}"),
        source,
    })
}

fn decode(model: backfills::Model) -> Result<Backfill> {
    let id = model.backfill_id.clone();
    let corrupt = |reason: String| StorageError::Corrupt {
        what: format!("backfill {id}"),
        reason,
    };
    fn parse<T: serde::de::DeserializeOwned>(
        text: &str,
        corrupt: &dyn Fn(String) -> StorageError,
    ) -> Result<T> {
        serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))
    }
    Ok(Backfill {
        status: BackfillStatus::parse(&model.status)
            .ok_or_else(|| corrupt(format!("unknown status \"{}\"", model.status)))?,
        submitted: usize::try_from(model.submitted).unwrap_or(0),
        error: model
            .error
            .as_deref()
            .map(|e| parse(e, &corrupt))
            .transpose()?,
        create_timestamp: model.create_timestamp,
        end_timestamp: model.end_timestamp,
        spec: NewBackfill {
            asset_selection: model
                .asset_selection
                .as_deref()
                .map(|a| parse(a, &corrupt))
                .transpose()?,
            step_keys: model
                .step_keys
                .as_deref()
                .map(|k| parse(k, &corrupt))
                .transpose()?,
            partition_names: parse(&model.partition_names, &corrupt)?,
            runs: match model.runs.as_deref() {
                None => BackfillRuns::OnePerPartition,
                Some(sizes) => BackfillRuns::Ranges(parse(sizes, &corrupt)?),
            },
            tags: parse(&model.tags, &corrupt)?,
            run_config: parse(&model.run_config, &corrupt)?,
            backfill_id: model.backfill_id,
            location_name: model.location_name,
            job_name: model.job_name,
            from_failure: model.from_failure,
            title: model.title,
            description: model.description,
        },
    })
}
