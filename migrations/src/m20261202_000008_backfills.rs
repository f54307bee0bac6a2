//! Backfills: a set of partitions submitted as runs by the daemon, in chunks.

use sea_orm_migration::prelude::*;

/// Creates `backfills`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000008_backfills"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("backfills")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new("backfill_id")
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("status").string().not_null())
                    .col(ColumnDef::new("location_name").string().not_null())
                    .col(ColumnDef::new("job_name").string().not_null())
                    .col(ColumnDef::new("asset_selection").text().null())
                    .col(ColumnDef::new("step_keys").text().null())
                    .col(ColumnDef::new("partition_names").text().not_null())
                    .col(ColumnDef::new("submitted").big_integer().not_null())
                    .col(ColumnDef::new("from_failure").boolean().not_null())
                    .col(ColumnDef::new("tags").text().not_null())
                    .col(ColumnDef::new("run_config").text().not_null())
                    .col(ColumnDef::new("title").text().null())
                    .col(ColumnDef::new("description").text().null())
                    .col(ColumnDef::new("error").text().null())
                    .col(ColumnDef::new("create_timestamp").double().not_null())
                    .col(ColumnDef::new("end_timestamp").double().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_backfills_status")
                    .table("backfills")
                    .col("status")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("backfills").to_owned())
            .await
    }
}
