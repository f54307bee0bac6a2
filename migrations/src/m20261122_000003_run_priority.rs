//! The run queue's order as a column: `runs.priority`, from the `dagster/priority` tag.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

/// Adds `runs.priority` (filled from existing tags) and an index in queue order.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_run_priority"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("runs")
                    .add_column(
                        ColumnDef::new("priority")
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_status_priority_id")
                    .table("runs")
                    .col("status")
                    .col("priority")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        // Parsed here rather than cast in SQL: SQLite and Postgres disagree on text that
        // is not a number, and such a tag means priority 0, as the run queue reads it.
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let tagged = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT run_id, value FROM run_tags WHERE key = 'dagster/priority'",
            ))
            .await?;
        for row in tagged {
            let run_id: String = row.try_get("", "run_id")?;
            let value: String = row.try_get("", "value")?;
            let Ok(priority) = value.trim().parse::<i64>() else {
                continue;
            };
            let update = Query::update()
                .table("runs")
                .value("priority", priority)
                .and_where(Expr::col("run_id").eq(run_id))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_runs_status_priority_id")
                    .table("runs")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("runs")
                    .drop_column("priority")
                    .to_owned(),
            )
            .await
    }
}
