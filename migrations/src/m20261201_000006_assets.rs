//! The asset catalog: which events are materializations of which asset, and the index
//! of each asset's (and each partition's) latest materialization.

use sea_orm_migration::prelude::*;

/// Adds `event_logs.asset_key` and `event_logs.partition` (with an index for an asset's
/// history), and creates `asset_keys` and `asset_partitions`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000006_assets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in ["asset_key", "partition"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("event_logs")
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_event_logs_asset_key")
                    .table("event_logs")
                    .col("asset_key")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        // One row per asset that was ever materialized or reported: the latest
        // materialization, whatever the history size, is one primary-key read.
        manager
            .create_table(
                Table::create()
                    .table("asset_keys")
                    .col(
                        ColumnDef::new("asset_key")
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new("last_materialization_event_id")
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new("last_run_id").string().null())
                    .col(
                        ColumnDef::new("last_materialization_timestamp")
                            .double()
                            .null(),
                    )
                    .col(ColumnDef::new("create_timestamp").double().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("asset_partitions")
                    .col(ColumnDef::new("asset_key").string().not_null())
                    .col(ColumnDef::new("partition").string().not_null())
                    .col(
                        ColumnDef::new("last_materialization_event_id")
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("last_materialization_timestamp")
                            .double()
                            .not_null(),
                    )
                    .primary_key(Index::create().col("asset_key").col("partition"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["asset_partitions", "asset_keys"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_event_logs_asset_key")
                    .table("event_logs")
                    .to_owned(),
            )
            .await?;
        for column in ["partition", "asset_key"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("event_logs")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
