//! `asset_partitions`: the latest materialization of each partition of an asset.

use sea_orm::entity::prelude::*;

/// A row of `asset_partitions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "asset_partitions")]
pub struct Model {
    /// The key, parts joined by `/`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub asset_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    /// The partition key.
    pub partition: String,
    /// The event id of the partition's latest materialization.
    pub last_materialization_event_id: i64,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub last_materialization_timestamp: f64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
