//! Runs, their tags, and the event log.

use sea_orm_migration::prelude::*;

/// Creates `runs`, `run_tags` and `event_logs` with their indexes.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_runs_and_event_logs"
    }
}

/// `runs`: one row per run; `id` is the creation order used for pagination.
pub(crate) fn runs_table() -> TableCreateStatement {
    Table::create()
        .table("runs")
        .col(id_column())
        .col(ColumnDef::new("run_id").string().not_null().unique_key())
        .col(ColumnDef::new("job_name").string().not_null())
        .col(ColumnDef::new("location_name").string().null())
        .col(ColumnDef::new("status").string().not_null())
        .col(ColumnDef::new("run_config").text().not_null())
        .col(ColumnDef::new("parent_run_id").string().null())
        .col(ColumnDef::new("root_run_id").string().null())
        .col(ColumnDef::new("create_time").double().not_null())
        .col(ColumnDef::new("update_time").double().not_null())
        .col(ColumnDef::new("start_time").double().null())
        .col(ColumnDef::new("end_time").double().null())
        .to_owned()
}

/// `run_tags`: one row per tag of a run.
fn run_tags_table() -> TableCreateStatement {
    Table::create()
        .table("run_tags")
        .col(id_column())
        .col(ColumnDef::new("run_id").string().not_null())
        .col(ColumnDef::new("key").string().not_null())
        .col(ColumnDef::new("value").text().not_null())
        .to_owned()
}

/// `event_logs`: append-only; `id` is the global cursor.
fn event_logs_table() -> TableCreateStatement {
    Table::create()
        .table("event_logs")
        .col(id_column())
        .col(ColumnDef::new("run_id").string().not_null())
        .col(ColumnDef::new("event_type").string().not_null())
        .col(ColumnDef::new("step_key").string().null())
        .col(ColumnDef::new("level").string().not_null())
        .col(ColumnDef::new("timestamp").double().not_null())
        .col(ColumnDef::new("message").text().not_null())
        .col(ColumnDef::new("body").text().not_null())
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(runs_table()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_status")
                    .table("runs")
                    .col("status")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_job_name")
                    .table("runs")
                    .col("job_name")
                    .to_owned(),
            )
            .await?;

        manager.create_table(run_tags_table()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_run_tags_key_value")
                    .table("run_tags")
                    .col("key")
                    .col("value")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_run_tags_run_id")
                    .table("run_tags")
                    .col("run_id")
                    .to_owned(),
            )
            .await?;

        manager.create_table(event_logs_table()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_logs_run_id_id")
                    .table("event_logs")
                    .col("run_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["event_logs", "run_tags", "runs"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The autoincrement primary key every table starts with: insertion order, never reused.
pub(crate) fn id_column() -> ColumnDef {
    ColumnDef::new("id")
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}
