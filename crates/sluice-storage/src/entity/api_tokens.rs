//! `api_tokens`: the instance's API tokens, by id; a secret is kept only as its hash.

use sea_orm::entity::prelude::*;

/// A row of `api_tokens`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    /// The token's id (not secret).
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_id: String,
    /// Who or what it is for.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// The SHA-256 of its secret, in hex.
    #[sea_orm(unique)]
    pub secret_sha256: String,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub created_at: f64,
    /// When it was revoked (Unix seconds), if it was.
    #[sea_orm(column_type = "Double", nullable)]
    pub revoked_at: Option<f64>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
