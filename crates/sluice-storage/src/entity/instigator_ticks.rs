//! `instigator_ticks`: one row per evaluation of a schedule or sensor.

use sea_orm::entity::prelude::*;

/// A row of `instigator_ticks`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "instigator_ticks")]
pub struct Model {
    /// The tick id, in creation order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The instigator's selector id.
    pub selector_id: String,
    /// `STARTED`, `SKIPPED`, `SUCCESS` or `FAILURE`.
    pub status: String,
    /// A schedule's scheduled time; a sensor's evaluation time.
    #[sea_orm(column_type = "Double")]
    pub timestamp: f64,
    /// When the tick finished.
    #[sea_orm(column_type = "Double", nullable)]
    pub end_timestamp: Option<f64>,
    /// JSON list of the runs it created or found already requested.
    #[sea_orm(column_type = "Text")]
    pub run_ids: String,
    /// JSON list of the run keys it requested.
    #[sea_orm(column_type = "Text")]
    pub run_keys: String,
    /// JSON `ErrorInfo` of a failed tick.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// Why a skipped tick requested nothing.
    #[sea_orm(column_type = "Text", nullable)]
    pub skip_reason: Option<String>,
    /// The cursor the tick left.
    #[sea_orm(column_type = "Text", nullable)]
    pub cursor: Option<String>,
    /// JSON list of the dynamic partition keys the tick added and deleted.
    #[sea_orm(column_type = "Text", nullable)]
    pub dynamic_partitions: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
