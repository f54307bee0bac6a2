//! The asset catalog on SQL. A materialization is an event like any other; storing it
//! also moves its asset's (and partition's) row in `asset_keys` / `asset_partitions`, in
//! the same transaction, so "latest materialization of X" is a primary-key read
//! whatever the length of X's history.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect,
};
use sluice_core::asset::AssetKey;
use sluice_core::events::{EventRecord, EventType, RunEvent};

use super::events::{decode_event, select_events};
use super::{IN_CHUNK, SqlStorage};
use crate::entity::{asset_keys, asset_partitions, event_logs};
use crate::error::{Result, StorageError};
use crate::{AssetEntry, AssetStorage, EventStorage, MaterializationsFilter};

#[async_trait]
impl AssetStorage for SqlStorage {
    async fn asset_entries(&self, keys: Option<&[AssetKey]>) -> Result<Vec<AssetEntry>> {
        let mut rows = Vec::new();
        match keys {
            None => {
                rows = asset_keys::Entity::find()
                    .order_by_asc(asset_keys::Column::AssetKey)
                    .all(&self.db)
                    .await
                    .map_err(StorageError::db("load the asset catalog"))?;
            }
            Some(keys) => {
                for chunk in keys.chunks(IN_CHUNK) {
                    rows.extend(
                        asset_keys::Entity::find()
                            .filter(
                                asset_keys::Column::AssetKey
                                    .is_in(chunk.iter().map(|k| k.to_string())),
                            )
                            .order_by_asc(asset_keys::Column::AssetKey)
                            .all(&self.db)
                            .await
                            .map_err(StorageError::db("load assets of the catalog"))?,
                    );
                }
            }
        }
        rows.into_iter().map(to_entry).collect()
    }

    async fn latest_materialization(&self, key: &AssetKey) -> Result<Option<EventRecord>> {
        let id: Option<Option<i64>> = asset_keys::Entity::find_by_id(key.to_string())
            .select_only()
            .column(asset_keys::Column::LastMaterializationEventId)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(StorageError::db(format!(
                "load the latest materialization of asset \"{key}\""
            )))?;
        match id.flatten() {
            Some(id) => Ok(self.events_by_id(&[id]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn latest_materializations_by_partition(
        &self,
        key: &AssetKey,
    ) -> Result<BTreeMap<String, EventRecord>> {
        let rows: Vec<(String, i64)> = asset_partitions::Entity::find()
            .select_only()
            .columns([
                asset_partitions::Column::Partition,
                asset_partitions::Column::LastMaterializationEventId,
            ])
            .filter(asset_partitions::Column::AssetKey.eq(key.to_string()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StorageError::db(format!(
                "load the partitions of asset \"{key}\""
            )))?;
        let ids: Vec<i64> = rows.iter().map(|(_, id)| *id).collect();
        let mut by_id: BTreeMap<i64, EventRecord> = self
            .events_by_id(&ids)
            .await?
            .into_iter()
            .map(|r| (r.storage_id, r))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|(partition, id)| Some((partition, by_id.remove(&id)?)))
            .collect())
    }

    async fn asset_materializations(
        &self,
        key: &AssetKey,
        filter: &MaterializationsFilter,
    ) -> Result<Vec<EventRecord>> {
        let event_type = if filter.observations {
            EventType::AssetObservation
        } else {
            EventType::AssetMaterialization
        };
        let mut select = select_events()
            .filter(event_logs::Column::AssetKey.eq(key.to_string()))
            .filter(event_logs::Column::EventType.eq(event_type.as_str()));
        if !filter.partitions.is_empty() {
            select = select
                .filter(event_logs::Column::Partition.is_in(filter.partitions.iter().cloned()));
        }
        if let Some(before) = filter.before_id {
            select = select.filter(event_logs::Column::Id.lt(before));
        }
        if let Some(after) = filter.after_id {
            select = select.filter(event_logs::Column::Id.gt(after));
        }
        if let Some(after) = filter.after_timestamp {
            select = select.filter(event_logs::Column::Timestamp.gt(after));
        }
        if let Some(before) = filter.before_timestamp {
            select = select.filter(event_logs::Column::Timestamp.lt(before));
        }
        if let Some(limit) = filter.limit {
            select = select.limit(u64::try_from(limit).unwrap_or(u64::MAX));
        }
        let order = if filter.oldest_first {
            Order::Asc
        } else {
            Order::Desc
        };
        let rows: Vec<(i64, f64, String)> = select
            .order_by(event_logs::Column::Id, order)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StorageError::db(format!(
                "load the materializations of asset \"{key}\""
            )))?;
        rows.into_iter().map(decode_event).collect()
    }

    async fn asset_check_evaluations(
        &self,
        key: &AssetKey,
        check_name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>> {
        // Check names are not indexed: an asset has few checks, read newest first in pages.
        const PAGE: u64 = 500;
        let mut found = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let mut select = select_events()
                .filter(event_logs::Column::AssetKey.eq(key.to_string()))
                .filter(event_logs::Column::EventType.eq(EventType::AssetCheckEvaluation.as_str()));
            if let Some(before) = before {
                select = select.filter(event_logs::Column::Id.lt(before));
            }
            let rows: Vec<(i64, f64, String)> = select
                .order_by_desc(event_logs::Column::Id)
                .limit(PAGE)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(StorageError::db(format!(
                    "load the check evaluations of asset \"{key}\""
                )))?;
            let last_page = (rows.len() as u64) < PAGE;
            before = rows.last().map(|r| r.0);
            for row in rows {
                let record = decode_event(row)?;
                let matches = record
                    .event
                    .check_evaluation()
                    .is_some_and(|c| check_name.is_none_or(|n| c.check_name == n));
                if matches {
                    found.push(record);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if last_page {
                return Ok(found);
            }
        }
    }

    async fn wipe_assets(&self, keys: &[AssetKey]) -> Result<()> {
        let action = format!("wipe {} assets", keys.len());
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        for chunk in keys.chunks(IN_CHUNK) {
            let names: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            asset_keys::Entity::delete_many()
                .filter(asset_keys::Column::AssetKey.is_in(names.clone()))
                .exec(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
            asset_partitions::Entity::delete_many()
                .filter(asset_partitions::Column::AssetKey.is_in(names.clone()))
                .exec(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
            // The events stay in their runs' logs, but no longer count for the assets.
            forget_events()
                .filter(event_logs::Column::AssetKey.is_in(names))
                .exec(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
        }
        txn.commit().await.map_err(StorageError::db(action))
    }

    async fn wipe_asset_partitions(&self, key: &AssetKey, partitions: &[String]) -> Result<()> {
        let action = format!("wipe {} partitions of asset \"{key}\"", partitions.len());
        let name = key.to_string();
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        for chunk in partitions.chunks(IN_CHUNK) {
            asset_partitions::Entity::delete_many()
                .filter(asset_partitions::Column::AssetKey.eq(name.clone()))
                .filter(asset_partitions::Column::Partition.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
            // The events stay in their runs' logs, but no longer count for the partitions.
            forget_events()
                .filter(event_logs::Column::AssetKey.eq(name.clone()))
                .filter(event_logs::Column::Partition.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
        }
        // The asset's latest materialization is now the latest one left, if any.
        let latest: Option<(i64, f64, String)> = select_events()
            .filter(event_logs::Column::AssetKey.eq(name.clone()))
            .filter(event_logs::Column::EventType.eq(EventType::AssetMaterialization.as_str()))
            .order_by_desc(event_logs::Column::Id)
            .into_tuple()
            .one(&txn)
            .await
            .map_err(StorageError::db(action.clone()))?;
        match latest.map(decode_event).transpose()? {
            Some(record) => {
                asset_keys::Entity::update_many()
                    .col_expr(
                        asset_keys::Column::LastMaterializationEventId,
                        Expr::value(record.storage_id),
                    )
                    .col_expr(
                        asset_keys::Column::LastRunId,
                        Expr::value(record.event.run_id.clone()),
                    )
                    .col_expr(
                        asset_keys::Column::LastMaterializationTimestamp,
                        Expr::value(record.event.timestamp),
                    )
                    .filter(asset_keys::Column::AssetKey.eq(name))
                    .exec(&txn)
                    .await
                    .map_err(StorageError::db(action.clone()))?;
            }
            None => {
                asset_keys::Entity::delete_many()
                    .filter(asset_keys::Column::AssetKey.eq(name))
                    .exec(&txn)
                    .await
                    .map_err(StorageError::db(action.clone()))?;
            }
        }
        txn.commit().await.map_err(StorageError::db(action))
    }
}

/// Index the materializations among `events` (stored with `ids`, in order). Only the
/// last materialization of each asset (and of each partition) in the batch moves its
/// row.
pub(super) async fn index_materializations(
    txn: &DatabaseTransaction,
    events: &[RunEvent],
    ids: &[i64],
) -> Result<(), sea_orm::DbErr> {
    let mut seen_keys = HashSet::new();
    let mut seen_partitions = HashSet::new();
    for (event, id) in events.iter().zip(ids).rev() {
        let Some(m) = event.materialization() else {
            continue;
        };
        if seen_keys.insert(&m.asset_key) {
            let row = asset_keys::ActiveModel {
                asset_key: Set(m.asset_key.to_string()),
                last_materialization_event_id: Set(Some(*id)),
                last_run_id: Set(Some(event.run_id.clone())),
                last_materialization_timestamp: Set(Some(event.timestamp)),
                create_timestamp: Set(event.timestamp),
            };
            asset_keys::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(asset_keys::Column::AssetKey)
                        .update_columns([
                            asset_keys::Column::LastMaterializationEventId,
                            asset_keys::Column::LastRunId,
                            asset_keys::Column::LastMaterializationTimestamp,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
        let Some(partition) = &m.partition else {
            continue;
        };
        if !seen_partitions.insert((&m.asset_key, partition)) {
            continue;
        }
        let row = asset_partitions::ActiveModel {
            asset_key: Set(m.asset_key.to_string()),
            partition: Set(partition.clone()),
            last_materialization_event_id: Set(*id),
            last_materialization_timestamp: Set(event.timestamp),
        };
        asset_partitions::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    asset_partitions::Column::AssetKey,
                    asset_partitions::Column::Partition,
                ])
                .update_columns([
                    asset_partitions::Column::LastMaterializationEventId,
                    asset_partitions::Column::LastMaterializationTimestamp,
                ])
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

fn to_entry(row: asset_keys::Model) -> Result<AssetEntry> {
    let key = AssetKey::parse(&row.asset_key).map_err(|e| StorageError::Corrupt {
        what: format!("asset key \"{}\"", row.asset_key),
        reason: e.to_string(),
    })?;
    Ok(AssetEntry {
        key,
        last_materialization_event_id: row.last_materialization_event_id,
        last_run_id: row.last_run_id,
        last_materialization_timestamp: row.last_materialization_timestamp,
    })
}

/// An update that detaches events from their asset and partition: they stay in their
/// runs' logs but no longer count for the asset.
fn forget_events() -> sea_orm::UpdateMany<event_logs::Entity> {
    event_logs::Entity::update_many()
        .col_expr(
            event_logs::Column::AssetKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            event_logs::Column::Partition,
            Expr::value(Option::<String>::None),
        )
}
