//! `instigator_run_keys`: each run key an instigator used, with the run it created.

use sea_orm::entity::prelude::*;

/// A row of `instigator_run_keys`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "instigator_run_keys")]
pub struct Model {
    /// The instigator's selector id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub selector_id: String,
    /// The run key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_key: String,
    /// The run created for it.
    pub run_id: String,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub create_time: f64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
