//! `daemon_heartbeats`: the latest heartbeat of each daemon loop.

use sea_orm::entity::prelude::*;

/// A row of `daemon_heartbeats`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "daemon_heartbeats")]
pub struct Model {
    /// The loop, with Dagster's names (`QUEUED_RUN_COORDINATOR`, `SCHEDULER`, ...).
    #[sea_orm(primary_key, auto_increment = false)]
    pub daemon_type: String,
    /// The daemon process that beat last.
    pub daemon_id: String,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub timestamp: f64,
    /// The loop's recent errors, as a JSON list of strings.
    #[sea_orm(column_type = "Text")]
    pub errors: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
