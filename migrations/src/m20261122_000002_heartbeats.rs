//! Heartbeats: of run workers (on their run) and of the daemon's loops.

use sea_orm_migration::prelude::*;

/// Adds `runs.heartbeat_time` and creates `daemon_heartbeats`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_heartbeats"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("runs")
                    .add_column(ColumnDef::new("heartbeat_time").double().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("daemon_heartbeats")
                    .col(
                        ColumnDef::new("daemon_type")
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("daemon_id").string().not_null())
                    .col(ColumnDef::new("timestamp").double().not_null())
                    .col(ColumnDef::new("errors").text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("daemon_heartbeats").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("runs")
                    .drop_column("heartbeat_time")
                    .to_owned(),
            )
            .await
    }
}
