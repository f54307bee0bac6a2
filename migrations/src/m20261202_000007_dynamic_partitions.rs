//! Dynamic partitions: the keys of each named set, added and deleted at runtime, and
//! what each sensor tick changed in them.

use sea_orm_migration::prelude::*;

/// Creates `dynamic_partitions`, one row per key of a set, unique per set, and adds
/// `instigator_ticks.dynamic_partitions` (JSON: the keys a tick added and deleted).
pub(crate) struct Migration;

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
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("instigator_ticks")
                    .add_column(ColumnDef::new("dynamic_partitions").text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("instigator_ticks")
                    .drop_column("dynamic_partitions")
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table("dynamic_partitions").to_owned())
            .await
    }
}
