//! `audit_log`: what each caller did, oldest first.

use sea_orm::entity::prelude::*;

/// A row of `audit_log`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Its place in the log.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub timestamp: f64,
    /// Who: a token's name, or the anonymous caller when authentication is off.
    pub actor: String,
    /// The caller's role.
    pub role: String,
    /// What: the operation (a GraphQL mutation's name, a UI action).
    pub action: String,
    /// On what: the run, location, schedule, ... the operation named.
    #[sea_orm(column_type = "Text")]
    pub target: String,
    /// How it ended: `ok`, `denied`, or the error.
    #[sea_orm(column_type = "Text")]
    pub outcome: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
