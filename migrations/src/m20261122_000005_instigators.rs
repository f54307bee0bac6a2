//! Schedules and sensors: their state, their ticks, and the run keys they have used.

use sea_orm_migration::prelude::*;

/// Creates `instigators`, `instigator_ticks` and `instigator_run_keys`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000005_instigators"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per schedule or sensor that has been seen, started, stopped or moved.
        manager
            .create_table(
                Table::create()
                    .table("instigators")
                    .col(
                        ColumnDef::new("selector_id")
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("location_name").string().not_null())
                    .col(ColumnDef::new("name").string().not_null())
                    .col(ColumnDef::new("instigator_type").string().not_null())
                    // NULL: as the definition's default status says.
                    .col(ColumnDef::new("status").string().null())
                    .col(ColumnDef::new("cursor").text().null())
                    .col(ColumnDef::new("last_tick_timestamp").double().null())
                    .col(ColumnDef::new("last_run_key").text().null())
                    .col(ColumnDef::new("start_timestamp").double().null())
                    .col(ColumnDef::new("update_timestamp").double().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("instigator_ticks")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("selector_id").string().not_null())
                    .col(ColumnDef::new("status").string().not_null())
                    // A schedule's scheduled time; a sensor's evaluation time.
                    .col(ColumnDef::new("timestamp").double().not_null())
                    .col(ColumnDef::new("end_timestamp").double().null())
                    .col(ColumnDef::new("run_ids").text().not_null())
                    .col(ColumnDef::new("run_keys").text().not_null())
                    .col(ColumnDef::new("error").text().null())
                    .col(ColumnDef::new("skip_reason").text().null())
                    .col(ColumnDef::new("cursor").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_instigator_ticks_selector")
                    .table("instigator_ticks")
                    .col("selector_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_instigator_ticks_status")
                    .table("instigator_ticks")
                    .col("status")
                    .col("timestamp")
                    .to_owned(),
            )
            .await?;
        // A run key is claimed in the transaction that creates its run: a key is used
        // once per instigator, ever.
        manager
            .create_table(
                Table::create()
                    .table("instigator_run_keys")
                    .col(ColumnDef::new("selector_id").string().not_null())
                    .col(ColumnDef::new("run_key").string().not_null())
                    .col(ColumnDef::new("run_id").string().not_null())
                    .col(ColumnDef::new("create_time").double().not_null())
                    .primary_key(Index::create().col("selector_id").col("run_key"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["instigator_run_keys", "instigator_ticks", "instigators"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
