//! How a backfill groups its partitions into runs.

use sea_orm_migration::prelude::*;

/// Adds `backfills.runs`: JSON of how many consecutive partitions each run takes, or
/// NULL for one run per partition.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000009_backfill_runs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("backfills")
                    .add_column(ColumnDef::new("runs").text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("backfills")
                    .drop_column("runs")
                    .to_owned(),
            )
            .await
    }
}
