//! Dynamic partitions on SQL: one row per key of a set, in the order added.

use std::collections::HashSet;

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sluice_core::events::now_timestamp;
use sluice_core::partition;

use super::{IN_CHUNK, SqlStorage};
use crate::PartitionStorage;
use crate::entity::dynamic_partitions;
use crate::error::{Result, StorageError};

#[async_trait]
impl PartitionStorage for SqlStorage {
    async fn dynamic_partition_keys(&self, name: &str) -> Result<Vec<String>> {
        dynamic_partitions::Entity::find()
            .select_only()
            .column(dynamic_partitions::Column::Partition)
            .filter(dynamic_partitions::Column::PartitionsDefName.eq(name))
            .order_by_asc(dynamic_partitions::Column::Id)
            .into_tuple()
            .all(self.connection())
            .await
            .map_err(StorageError::db(format!(
                "read the keys of dynamic partitions \"{name}\""
            )))
    }

    /// Add the keys of `keys` that `name` lacks, in order; returns those added. Every key is
    /// checked first, so a bad key adds nothing.
    async fn add_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>> {
        for key in keys {
            partition::check_key(key).map_err(|error| StorageError::InvalidPartitionKey {
                set: name.to_owned(),
                error,
            })?;
        }
        let action = format!("add {} keys to dynamic partitions \"{name}\"", keys.len());
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let mut existing = existing_keys(&txn, name, keys, &action).await?;
        let mut added = Vec::new();
        for key in keys {
            if existing.insert(key.clone()) {
                added.push(key.clone());
            }
        }
        let now = now_timestamp();
        for chunk in added.chunks(IN_CHUNK) {
            let rows = chunk.iter().map(|key| dynamic_partitions::ActiveModel {
                partitions_def_name: Set(name.to_owned()),
                partition: Set(key.clone()),
                create_timestamp: Set(now),
                ..Default::default()
            });
            dynamic_partitions::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        dynamic_partitions::Column::PartitionsDefName,
                        dynamic_partitions::Column::Partition,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
        }
        txn.commit().await.map_err(StorageError::db(action))?;
        Ok(added)
    }

    /// Delete `keys` from `name`; returns those that existed, in the order given.
    async fn delete_dynamic_partitions(&self, name: &str, keys: &[String]) -> Result<Vec<String>> {
        let action = format!(
            "delete {} keys from dynamic partitions \"{name}\"",
            keys.len()
        );
        let _guard = self.lock_writes().await;
        let txn = self.begin_write(&action).await?;
        let mut existing = existing_keys(&txn, name, keys, &action).await?;
        for chunk in keys.chunks(IN_CHUNK) {
            dynamic_partitions::Entity::delete_many()
                .filter(dynamic_partitions::Column::PartitionsDefName.eq(name))
                .filter(dynamic_partitions::Column::Partition.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await
                .map_err(StorageError::db(action.clone()))?;
        }
        txn.commit().await.map_err(StorageError::db(action))?;
        let mut deleted = Vec::new();
        for key in keys {
            if existing.remove(key) {
                deleted.push(key.clone());
            }
        }
        Ok(deleted)
    }
}

/// Which of `keys` set `name` has.
async fn existing_keys(
    txn: &DatabaseTransaction,
    name: &str,
    keys: &[String],
    action: &str,
) -> Result<HashSet<String>> {
    let mut existing = HashSet::new();
    for chunk in keys.chunks(IN_CHUNK) {
        let found: Vec<String> = dynamic_partitions::Entity::find()
            .select_only()
            .column(dynamic_partitions::Column::Partition)
            .filter(dynamic_partitions::Column::PartitionsDefName.eq(name))
            .filter(dynamic_partitions::Column::Partition.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(txn)
            .await
            .map_err(StorageError::db(action))?;
        existing.extend(found);
    }
    Ok(existing)
}
