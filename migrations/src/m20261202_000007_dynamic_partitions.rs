//! Dynamic partitions: the keys of each named set, added and deleted at runtime.

use sea_orm_migration::prelude::*;

/// Creates `dynamic_partitions`, one row per key of a set, unique per set.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000007_dynamic_partitions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("dynamic_partitions")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("partitions_def_name").string().not_null())
                    .col(ColumnDef::new("partition").string().not_null())
                    .col(ColumnDef::new("create_timestamp").double().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dynamic_partitions_key")
                    .table("dynamic_partitions")
                    .col("partitions_def_name")
                    .col("partition")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("dynamic_partitions").to_owned())
            .await
    }
}
