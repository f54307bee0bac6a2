//! The daemon loops' heartbeats on SQL: one `daemon_heartbeats` row per loop, replaced
//! at each beat.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::SqlStorage;
use crate::entity::daemon_heartbeats;
use crate::error::{Result, StorageError};
use crate::{DaemonHeartbeat, DaemonStorage};

#[async_trait]
impl DaemonStorage for SqlStorage {
    async fn record_daemon_heartbeat(&self, heartbeat: &DaemonHeartbeat) -> Result<()> {
        let action = format!("record a heartbeat of {}", heartbeat.daemon_type);
        let errors =
            serde_json::to_string(&heartbeat.errors).map_err(|source| StorageError::Serialize {
                what: format!("errors of {}", heartbeat.daemon_type),
                source,
            })?;
        let row = daemon_heartbeats::ActiveModel {
            daemon_type: Set(heartbeat.daemon_type.clone()),
            daemon_id: Set(heartbeat.daemon_id.clone()),
            timestamp: Set(heartbeat.timestamp),
            errors: Set(errors),
        };
        let _guard = self.lock_writes().await;
        daemon_heartbeats::Entity::insert(row)
            .on_conflict(
                OnConflict::column(daemon_heartbeats::Column::DaemonType)
                    .update_columns([
                        daemon_heartbeats::Column::DaemonId,
                        daemon_heartbeats::Column::Timestamp,
                        daemon_heartbeats::Column::Errors,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(StorageError::db(action))?;
        Ok(())
    }

    async fn daemon_heartbeats(&self) -> Result<Vec<DaemonHeartbeat>> {
        let rows = daemon_heartbeats::Entity::find()
            .order_by_asc(daemon_heartbeats::Column::DaemonType)
            .all(&self.db)
            .await
            .map_err(StorageError::db("read daemon heartbeats"))?;
        rows.into_iter()
            .map(|row| {
                let errors =
                    serde_json::from_str(&row.errors).map_err(|e| StorageError::Corrupt {
                        what: format!("heartbeat of {}", row.daemon_type),
                        reason: e.to_string(),
                    })?;
                Ok(DaemonHeartbeat {
                    daemon_type: row.daemon_type,
                    daemon_id: row.daemon_id,
                    timestamp: row.timestamp,
                    errors,
                })
            })
            .collect()
    }

    async fn prune_daemon_heartbeats(&self, before: f64) -> Result<u64> {
        let _guard = self.lock_writes().await;
        let deleted = daemon_heartbeats::Entity::delete_many()
            .filter(daemon_heartbeats::Column::Timestamp.lt(before))
            .exec(&self.db)
            .await
            .map_err(StorageError::db("prune old daemon heartbeats"))?;
        Ok(deleted.rows_affected)
    }
}
