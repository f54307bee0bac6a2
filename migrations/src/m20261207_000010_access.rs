//! Who may use the instance: API tokens, and the audit log of what each did.

use sea_orm_migration::prelude::*;

use crate::m20261122_000001_create_runs_and_event_logs::id_column;

/// Creates `api_tokens` (a token's secret is kept only as its SHA-256) and `audit_log`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000010_access"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_tokens")
                    .col(ColumnDef::new("token_id").string().not_null().primary_key())
                    .col(ColumnDef::new("name").string().not_null())
                    .col(ColumnDef::new("role").string().not_null())
                    .col(
                        ColumnDef::new("secret_sha256")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("created_at").double().not_null())
                    .col(ColumnDef::new("revoked_at").double().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(id_column())
                    .col(ColumnDef::new("timestamp").double().not_null())
                    .col(ColumnDef::new("actor").string().not_null())
                    .col(ColumnDef::new("role").string().not_null())
                    .col(ColumnDef::new("action").string().not_null())
                    .col(ColumnDef::new("target").text().not_null())
                    .col(ColumnDef::new("outcome").text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("audit_log").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("api_tokens").to_owned())
            .await
    }
}
