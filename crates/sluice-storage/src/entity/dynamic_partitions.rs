//! `dynamic_partitions`: the keys of each dynamic partitions set.

use sea_orm::entity::prelude::*;

/// A row of `dynamic_partitions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dynamic_partitions")]
pub struct Model {
    /// Insertion order: keys are listed in the order they were added.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The set's name (a `PartitionsDefinition::dynamic` name).
    pub partitions_def_name: String,
    /// The partition key.
    pub partition: String,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub create_timestamp: f64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
