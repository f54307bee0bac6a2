//! `instigators`: the state of each schedule and sensor that has one.

use sea_orm::entity::prelude::*;

/// A row of `instigators`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "instigators")]
pub struct Model {
    /// Stable id of (location, repository, name).
    #[sea_orm(primary_key, auto_increment = false)]
    pub selector_id: String,
    /// The code location.
    pub location_name: String,
    /// The schedule's or sensor's name.
    pub name: String,
    /// `SCHEDULE` or `SENSOR`.
    pub instigator_type: String,
    /// `RUNNING` or `STOPPED` as a person set it; NULL follows the definition.
    pub status: Option<String>,
    /// A sensor's cursor.
    #[sea_orm(column_type = "Text", nullable)]
    pub cursor: Option<String>,
    /// The latest finished tick's timestamp.
    #[sea_orm(column_type = "Double", nullable)]
    pub last_tick_timestamp: Option<f64>,
    /// The run key of the latest run requested.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_run_key: Option<String>,
    /// When it was last started (or first seen running).
    #[sea_orm(column_type = "Double", nullable)]
    pub start_timestamp: Option<f64>,
    /// When the row last changed.
    #[sea_orm(column_type = "Double")]
    pub update_timestamp: f64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
