//! `m20261122_000003_run_priority` fills the new column from the runs' existing tags.

use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, Statement};
use sluice_migrations::Migrator;

#[tokio::test]
async fn priority_comes_from_existing_dagster_priority_tags() {
    let db = Database::connect("sqlite::memory:").await.expect("connect");
    Migrator::up(&db, Some(2))
        .await
        .expect("first two migrations");
    let backend = db.get_database_backend();
    for (run_id, tag) in [
        ("high", Some("5")),
        ("low", Some(" -2 ")),
        ("garbled", Some("urgent")),
        ("untagged", None),
    ] {
        db.execute_unprepared(&format!(
            "INSERT INTO runs (run_id, job_name, status, run_config, create_time, update_time) \
             VALUES ('{run_id}', 'job', 'QUEUED', '{{}}', 0, 0)"
        ))
        .await
        .expect("insert run");
        if let Some(value) = tag {
            db.execute_unprepared(&format!(
                "INSERT INTO run_tags (run_id, key, value) VALUES ('{run_id}', 'dagster/priority', '{value}')"
            ))
            .await
            .expect("insert tag");
        }
    }

    Migrator::up(&db, None).await.expect("remaining migrations");

    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT run_id, priority FROM runs ORDER BY priority DESC, id",
        ))
        .await
        .expect("select");
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "run_id").unwrap(),
                r.try_get("", "priority").unwrap(),
            )
        })
        .collect();
    let want = [("high", 5), ("garbled", 0), ("untagged", 0), ("low", -2)];
    let want: Vec<(String, i64)> = want.iter().map(|(r, p)| (r.to_string(), *p)).collect();
    assert_eq!(got, want);
}
