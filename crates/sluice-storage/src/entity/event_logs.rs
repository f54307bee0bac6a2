//! `event_logs`: the append-only event log.

use sea_orm::entity::prelude::*;

/// A row of `event_logs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event_logs")]
pub struct Model {
    /// The global cursor of the event log.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The run the event belongs to (not necessarily a stored run).
    pub run_id: String,
    /// Dagster event type name, e.g. `STEP_SUCCESS`.
    pub event_type: String,
    /// The step, for step events.
    pub step_key: Option<String>,
    /// Log level name, e.g. `INFO`.
    pub level: String,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub timestamp: f64,
    /// The event's message.
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// For a materialization: the asset's key, parts joined by `/`.
    pub asset_key: Option<String>,
    /// For a materialization of a partition: the partition.
    pub partition: Option<String>,
    /// The whole `RunEvent` as JSON.
    #[sea_orm(column_type = "Text")]
    pub body: String,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
