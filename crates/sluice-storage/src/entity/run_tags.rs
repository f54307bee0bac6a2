//! `run_tags`: one row per tag of a run.

use sea_orm::entity::prelude::*;

/// A row of `run_tags`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "run_tags")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The tagged run.
    pub run_id: String,
    /// Tag key.
    pub key: String,
    /// Tag value.
    #[sea_orm(column_type = "Text")]
    pub value: String,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
