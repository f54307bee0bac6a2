//! The steps a run executes, when it re-executes only part of a job.

use sea_orm_migration::prelude::*;

/// Adds `runs.step_keys_to_execute`: a JSON list of step keys, or NULL for all steps.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000004_step_keys_to_execute"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("runs")
                    .add_column(ColumnDef::new("step_keys_to_execute").text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("runs")
                    .drop_column("step_keys_to_execute")
                    .to_owned(),
            )
            .await
    }
}
