//! `asset_keys`: each asset with a materialization or a report, and its latest
//! materialization.

use sea_orm::entity::prelude::*;

/// A row of `asset_keys`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "asset_keys")]
pub struct Model {
    /// The key, parts joined by `/`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub asset_key: String,
    /// The event id of the latest materialization.
    pub last_materialization_event_id: Option<i64>,
    /// The run of the latest materialization.
    pub last_run_id: Option<String>,
    /// Unix seconds.
    #[sea_orm(column_type = "Double", nullable)]
    pub last_materialization_timestamp: Option<f64>,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub create_timestamp: f64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
