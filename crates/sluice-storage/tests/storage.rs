//! Instance storage behaviour, one suite run against SQLite and against Postgres.
//!
//! Postgres tests need a server where the role may `CREATE DATABASE`: by default
//! `postgres://sluice:sluice@127.0.0.1:5432/sluice_test` (provisioned by
//! `tests/services/postgres.sh`), or `$SLUICE_TEST_POSTGRES_URL`. Every test gets a
//! fresh database and drops it afterwards. Without a server they fail; they never skip.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_storage::prelude::*;
use sluice_storage::{SqlStorage, StorageConfig, StorageError, redact_url};

const DEFAULT_POSTGRES_URL: &str = "postgres://sluice:sluice@127.0.0.1:5432/sluice_test";

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

fn admin_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url[start..].find('?') {
        Some(q) => url.split_at(start + q),
        None => (url, ""),
    };
    let base = match head[start..].find('/') {
        Some(slash) => &head[..start + slash],
        None => head,
    };
    format!("{base}/{db}{query}")
}

async fn admin_connection() -> sqlx::PgConnection {
    use sqlx::Connection;
    let url = admin_url();
    match sqlx::PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "Postgres is not reachable at {} ({e}). Start it with `tests/services/postgres.sh` \
             (as root), or set SLUICE_TEST_POSTGRES_URL to a server where the role may \
             CREATE DATABASE. Postgres tests fail rather than skip.",
            redact_url(&url)
        ),
    }
}

/// A fresh Postgres database, dropped by [`PgDb::drop`].
struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    async fn create() -> PgDb {
        let mut conn = admin_connection().await;
        let name = format!("sluice_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_database(&admin_url(), &name);
        PgDb { name, url }
    }

    async fn drop(self) {
        let mut conn = admin_connection().await;
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// Opens the test's database again, as another process would.
#[derive(Clone)]
pub enum Opener {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Opener {
    pub async fn open(&self) -> Result<SqlStorage, StorageError> {
        match self {
            Opener::Sqlite(path) => SqlStorage::open_sqlite(path).await,
            Opener::Postgres(url) => SqlStorage::open_postgres(url).await,
        }
    }
}

/// Run `test` on a fresh Postgres database, drop the database, then fail if the test did.
async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<SqlStorage>, Opener) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let db = PgDb::create().await;
    let storage = match SqlStorage::open_postgres(&db.url).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            db.drop().await;
            panic!("cannot open Postgres storage: {e}");
        }
    };
    let result = tokio::spawn(test(storage.clone(), Opener::Postgres(db.url.clone()))).await;
    let _ = storage.close().await;
    db.drop().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Run `test` on a fresh SQLite file in a temporary directory.
async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<SqlStorage>, Opener) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("sluice.db");
    let storage = Arc::new(
        SqlStorage::open_sqlite(&path)
            .await
            .expect("open SQLite storage"),
    );
    let result = tokio::spawn(test(storage.clone(), Opener::Sqlite(path))).await;
    let _ = storage.close().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// One test per suite function and backend: `sqlite::NAME` and `postgres::NAME`.
/// Functions under `reopening` also get an [`Opener`] for the same database.
macro_rules! shared_suite {
    (plain: [$($name:ident),* $(,)?], reopening: [$($rname:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    on_sqlite(|storage, _| suite::$name(storage)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rname() {
                    on_sqlite(suite::$rname).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    on_postgres(|storage, _| suite::$name(storage)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rname() {
                    on_postgres(suite::$rname).await;
                }
            )*
        }
    };
}

shared_suite!(
    plain: [
        create_and_get,
        duplicate_run_is_refused_and_nothing_changes,
        runs_created_at_once_are_each_created_or_refused,
        pagination_with_cursor,
        filters_and_counts,
        filters_by_creation_and_update_time,
        queued_runs_in_launch_order,
        lifecycle_events_move_status_and_times,
        finished_run_is_not_moved_back,
        an_attempt_is_fenced_once_its_run_ends,
        events_for_run_after_cursor_and_with_limit,
        large_batches_and_awkward_text,
        delete_run_removes_run_tags_and_events,
        concurrent_event_writers_lose_nothing,
        event_writer_flush_and_close,
        event_writer_stores_without_being_asked,
        event_writer_reports_lost_events,
        run_and_daemon_heartbeats,
        a_run_and_its_first_events_are_stored_together,
        instigator_status_overrides_and_resets,
        ticks_end_and_move_their_instigator,
        a_run_key_creates_one_run_ever,
        run_status_changes_follow_the_event_log,
        materializations_are_indexed_per_asset_and_partition,
        wiping_partitions_keeps_the_others_and_moves_the_latest,
        dynamic_partitions_are_added_once_listed_in_order_and_deleted,
        backfills_submit_each_partition_once,
    ],
    reopening: [
        reopening_keeps_data,
        database_migrated_by_newer_sluice_is_refused,
    ],
);

// ---------------------------------------------------------------------------------------
// The shared suite
// ---------------------------------------------------------------------------------------

mod suite {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::Arc;

    use sea_orm::ConnectionTrait;
    use serde_json::json;
    use sluice_core::asset::{AssetCheckEvaluation, AssetCheckSeverity, AssetKey};
    use sluice_core::events::AssetMaterialization;
    use sluice_core::events::{
        ErrorInfo, EventData, EventSink, EventType, LogLevel, RunEvent, now_timestamp,
    };
    use sluice_core::metadata::MetadataValue;
    use sluice_core::run::{NewRun, Run, RunStatus};
    use sluice_storage::prelude::*;
    use sluice_storage::{
        EventWriter, InstigatedRun, InstigatorKey, InstigatorStatus, InstigatorType,
        MaterializationsFilter, NewTick, RunsFilter, SqlStorage, StorageError, TickResult,
        TickStatus, TicksFilter,
    };

    use super::Opener;

    fn new_run(job: &str) -> NewRun {
        NewRun::new(job)
    }

    fn event(run_id: &str, event_type: EventType, timestamp: f64) -> RunEvent {
        let mut e = RunEvent::new(run_id, event_type, format!("{event_type} at {timestamp}"));
        e.timestamp = timestamp;
        e
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ids(runs: &[sluice_core::run::Run]) -> Vec<String> {
        runs.iter().map(|r| r.run_id.clone()).collect()
    }

    pub async fn a_run_and_its_first_events_are_stored_together(storage: Arc<dyn Storage>) {
        let mut run = new_run("etl");
        run.status = RunStatus::Queued;
        let enqueued = RunEvent::new(&run.run_id, EventType::RunEnqueued, "queued");
        let created = storage
            .create_run_with_events(&run, std::slice::from_ref(&enqueued))
            .await
            .unwrap();
        assert_eq!(created.status, RunStatus::Queued);
        let events = storage
            .events_for_run(&run.run_id, None, None)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.event_type, EventType::RunEnqueued);

        // A duplicate run stores neither the run nor its events.
        let err = storage
            .create_run_with_events(&run, &[enqueued])
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::DuplicateRun { .. }), "{err}");
        assert_eq!(
            storage
                .events_for_run(&run.run_id, None, None)
                .await
                .unwrap()
                .len(),
            1
        );

        // Lifecycle events among the first ones set the status of the created run.
        let started = new_run("etl");
        let events = [
            RunEvent::new(&started.run_id, EventType::RunStarting, "starting"),
            RunEvent::new(&started.run_id, EventType::RunStart, "start"),
        ];
        let created = storage
            .create_run_with_events(&started, &events)
            .await
            .unwrap();
        assert_eq!(created.status, RunStatus::Started);
        let stored = storage.get_run(&started.run_id).await.unwrap().unwrap();
        assert_eq!(stored.status, RunStatus::Started);
        assert!(stored.start_time.is_some());
    }

    pub async fn run_and_daemon_heartbeats(storage: Arc<dyn Storage>) {
        let run = storage.create_run(&new_run("etl")).await.unwrap();
        assert_eq!(run.heartbeat_time, None);
        storage
            .record_run_heartbeat(&run.run_id, 1234.5)
            .await
            .unwrap();
        let got = storage.get_run(&run.run_id).await.unwrap().unwrap();
        assert_eq!(got.heartbeat_time, Some(1234.5));
        // A heartbeat of an unknown run changes nothing and is not an error.
        storage.record_run_heartbeat("ghost", 1.0).await.unwrap();

        assert!(storage.daemon_heartbeats().await.unwrap().is_empty());
        let beat = |t: &str, ts: f64, errors: &[&str]| sluice_storage::DaemonHeartbeat {
            daemon_type: t.into(),
            daemon_id: "d1".into(),
            timestamp: ts,
            errors: errors.iter().map(|e| e.to_string()).collect(),
        };
        storage
            .record_daemon_heartbeat(&beat("SCHEDULER", 10.0, &[]))
            .await
            .unwrap();
        storage
            .record_daemon_heartbeat(&beat("QUEUED_RUN_COORDINATOR", 11.0, &["boom"]))
            .await
            .unwrap();
        // The newest heartbeat of a loop replaces the older one.
        storage
            .record_daemon_heartbeat(&beat("SCHEDULER", 12.0, &["late"]))
            .await
            .unwrap();
        let all = storage.daemon_heartbeats().await.unwrap();
        assert_eq!(
            all,
            vec![
                beat("QUEUED_RUN_COORDINATOR", 11.0, &["boom"]),
                beat("SCHEDULER", 12.0, &["late"])
            ]
        );
        // A loop that stopped beating before the cut-off is forgotten; the others stay.
        assert_eq!(storage.prune_daemon_heartbeats(12.0).await.unwrap(), 1);
        assert_eq!(
            storage.daemon_heartbeats().await.unwrap(),
            vec![beat("SCHEDULER", 12.0, &["late"])]
        );
        assert_eq!(storage.prune_daemon_heartbeats(12.0).await.unwrap(), 0);
    }

    pub async fn create_and_get(storage: Arc<dyn Storage>) {
        let mut run = new_run("etl");
        run.location_name = Some("demo".into());
        run.status = RunStatus::Queued;
        run.run_config = json!({"ops": {"load": {"config": {"rows": 3, "name": "x"}}}});
        run.tags = tags(&[("team", "data"), ("dagster/priority", "5")]);
        run.parent_run_id = Some("parent".into());
        run.root_run_id = Some("root".into());
        run.step_keys_to_execute = Some(vec!["load".into(), "report".into()]);

        let before = now_timestamp();
        let created = storage.create_run(&run).await.expect("create");
        let after = now_timestamp();
        assert!(created.create_time >= before && created.create_time <= after);
        assert_eq!(created.update_time, created.create_time);
        assert_eq!(created.start_time, None);
        assert_eq!(created.end_time, None);
        assert_eq!(created.heartbeat_time, None);

        let got = storage
            .get_run(&run.run_id)
            .await
            .expect("get")
            .expect("run exists");
        assert_eq!(got, created);
        assert_eq!(got.job_name, "etl");
        assert_eq!(got.location_name.as_deref(), Some("demo"));
        assert_eq!(got.status, RunStatus::Queued);
        assert_eq!(got.run_config, run.run_config);
        assert_eq!(got.tags, run.tags);
        assert_eq!(got.parent_run_id.as_deref(), Some("parent"));
        assert_eq!(got.root_run_id.as_deref(), Some("root"));
        assert_eq!(got.step_keys_to_execute, run.step_keys_to_execute);

        // A run without tags or optional fields.
        let bare = new_run("bare");
        storage.create_run(&bare).await.expect("create bare");
        let got = storage
            .get_run(&bare.run_id)
            .await
            .expect("get")
            .expect("exists");
        assert!(got.tags.is_empty());
        assert_eq!(got.status, RunStatus::NotStarted);
        assert_eq!(got.location_name, None);
        assert_eq!(got.step_keys_to_execute, None, "NULL: every step");

        assert_eq!(storage.get_run("no-such-run").await.expect("get"), None);
    }

    /// Runs created at the same moment may share a write; a duplicate among them is
    /// refused alone, and every other run is stored with its tags and events.
    pub async fn runs_created_at_once_are_each_created_or_refused(storage: Arc<dyn Storage>) {
        let taken = new_run("taken");
        storage.create_run(&taken).await.expect("create");
        let mut attempts = Vec::new();
        for i in 0..40 {
            let storage = Arc::clone(&storage);
            let mut run = new_run(&format!("job_{i}"));
            if i == 17 {
                run.run_id = taken.run_id.clone();
            }
            run.tags = tags(&[("i", &i.to_string())]);
            attempts.push(tokio::spawn(async move {
                let events = [event(&run.run_id, EventType::RunEnqueued, 1.0)];
                (
                    run.clone(),
                    storage.create_run_with_events(&run, &events).await,
                )
            }));
        }
        for attempt in attempts {
            let (run, outcome) = attempt.await.expect("task");
            if run.job_name == "job_17" {
                match outcome {
                    Err(StorageError::DuplicateRun { run_id }) => assert_eq!(run_id, taken.run_id),
                    other => panic!("expected DuplicateRun, got {other:?}"),
                }
                continue;
            }
            let created = outcome.expect("created");
            assert_eq!(created.job_name, run.job_name);
            let stored = storage
                .get_run(&run.run_id)
                .await
                .expect("get")
                .expect("stored");
            assert_eq!(stored.tags, run.tags);
            let events = storage
                .events_for_run(&run.run_id, None, None)
                .await
                .expect("events");
            assert_eq!(events.len(), 1, "{}", run.job_name);
        }
        let all = storage
            .count_runs(&RunsFilter::default())
            .await
            .expect("count");
        assert_eq!(all, 40, "the taken run and 39 new ones");
        let still = storage
            .get_run(&taken.run_id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(still.job_name, "taken");
    }

    pub async fn duplicate_run_is_refused_and_nothing_changes(storage: Arc<dyn Storage>) {
        let mut first = new_run("first_job");
        first.tags = tags(&[("a", "1")]);
        storage.create_run(&first).await.expect("create");

        let mut second = new_run("second_job");
        second.run_id = first.run_id.clone();
        second.tags = tags(&[("b", "2"), ("a", "changed")]);
        let err = storage
            .create_run(&second)
            .await
            .expect_err("duplicate refused");
        match &err {
            StorageError::DuplicateRun { run_id } => assert_eq!(run_id, &first.run_id),
            other => panic!("expected DuplicateRun, got {other:?}"),
        }
        assert!(err.to_string().contains(&first.run_id), "{err}");

        let got = storage
            .get_run(&first.run_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(got.job_name, "first_job");
        assert_eq!(got.tags, first.tags);
        assert_eq!(
            storage
                .count_runs(&RunsFilter::default())
                .await
                .expect("count"),
            1
        );
        let by_new_tag = RunsFilter {
            tags: tags(&[("b", "2")]),
            ..Default::default()
        };
        assert_eq!(storage.count_runs(&by_new_tag).await.expect("count"), 0);

        // The storage is still usable afterwards.
        storage
            .create_run(&new_run("third"))
            .await
            .expect("create after refusal");
        assert_eq!(
            storage
                .count_runs(&RunsFilter::default())
                .await
                .expect("count"),
            2
        );
    }

    pub async fn pagination_with_cursor(storage: Arc<dyn Storage>) {
        let mut created = Vec::new();
        for i in 0..25 {
            let mut run = new_run("paged");
            run.tags = tags(&[("i", &i.to_string())]);
            storage.create_run(&run).await.expect("create");
            created.push(run.run_id);
        }
        let newest_first: Vec<String> = created.iter().rev().cloned().collect();
        let all = RunsFilter::default();

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut sizes = Vec::new();
        loop {
            let page = storage
                .list_runs(&all, cursor.as_deref(), Some(10))
                .await
                .expect("page");
            if page.is_empty() {
                break;
            }
            sizes.push(page.len());
            cursor = page.last().map(|r| r.run_id.clone());
            seen.extend(ids(&page));
            assert!(sizes.len() <= 3, "too many pages: {sizes:?}");
        }
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(seen, newest_first);

        // Tags come with listed runs.
        let first_page = storage.list_runs(&all, None, Some(10)).await.expect("page");
        assert_eq!(first_page[0].tags, tags(&[("i", "24")]));

        let everything = storage.list_runs(&all, None, None).await.expect("all");
        assert_eq!(ids(&everything), newest_first);
        assert!(
            storage
                .list_runs(&all, None, Some(0))
                .await
                .expect("empty")
                .is_empty()
        );
        let after_oldest = storage
            .list_runs(&all, Some(&created[0]), None)
            .await
            .expect("after oldest");
        assert!(after_oldest.is_empty());

        let err = storage
            .list_runs(&all, Some("not-a-run"), Some(10))
            .await
            .expect_err("unknown cursor");
        assert!(matches!(&err, StorageError::UnknownCursor { run_id } if run_id == "not-a-run"));
        assert!(err.to_string().contains("not-a-run"), "{err}");
    }

    pub async fn filters_by_creation_and_update_time(storage: Arc<dyn Storage>) {
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(storage.create_run(&new_run("etl")).await.expect("create"));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // The oldest run is updated last.
        let start = RunEvent::new(&runs[0].run_id, EventType::RunStart, "start");
        storage.store_events(&[start]).await.expect("store");
        let oldest = storage
            .get_run(&runs[0].run_id)
            .await
            .expect("get")
            .expect("run");
        let (t0, t1, t2) = (
            runs[0].create_time,
            runs[1].create_time,
            runs[2].create_time,
        );
        assert!(t0 < t1 && t1 < t2 && t2 < oldest.update_time);

        let cases = [
            (
                RunsFilter {
                    created_after: Some(t0),
                    ..Default::default()
                },
                vec![&runs[2], &runs[1]],
            ),
            (
                RunsFilter {
                    created_before: Some(t2),
                    ..Default::default()
                },
                vec![&runs[1], &runs[0]],
            ),
            (
                RunsFilter {
                    created_after: Some(t0),
                    created_before: Some(t2),
                    ..Default::default()
                },
                vec![&runs[1]],
            ),
            (
                RunsFilter {
                    updated_after: Some(t2),
                    ..Default::default()
                },
                vec![&runs[0]],
            ),
            (
                RunsFilter {
                    updated_before: Some(t2),
                    job_name: Some("etl".into()),
                    ..Default::default()
                },
                vec![&runs[1]],
            ),
        ];
        for (filter, expected) in cases {
            let listed = storage.list_runs(&filter, None, None).await.expect("list");
            let expected: Vec<String> = expected.iter().map(|r| r.run_id.clone()).collect();
            assert_eq!(ids(&listed), expected, "filter {filter:?}");
            let count = storage.count_runs(&filter).await.expect("count");
            assert_eq!(count, expected.len() as u64, "count of {filter:?}");
        }
    }

    pub async fn queued_runs_in_launch_order(storage: Arc<dyn Storage>) {
        let mut ids = HashMap::new();
        for (name, status, priority) in [
            ("old", RunStatus::Queued, None),
            ("started", RunStatus::Started, Some("9")),
            ("urgent", RunStatus::Queued, Some("10")),
            ("garbled", RunStatus::Queued, Some("soon")),
            ("late", RunStatus::Queued, Some("-1")),
            ("urgent-too", RunStatus::Queued, Some("10")),
            ("new", RunStatus::Queued, Some("0")),
        ] {
            let mut run = new_run("etl");
            run.status = status;
            if let Some(p) = priority {
                run.tags = tags(&[("dagster/priority", p)]);
            }
            storage.create_run(&run).await.expect("create");
            ids.insert(run.run_id, name);
        }
        let names = |runs: Vec<Run>| -> Vec<&str> { runs.iter().map(|r| ids[&r.run_id]).collect() };
        let all = storage.queued_runs(0, 100).await.expect("queued");
        assert_eq!(
            names(all),
            ["urgent", "urgent-too", "old", "garbled", "new", "late"]
        );
        let page = storage.queued_runs(2, 3).await.expect("page");
        assert_eq!(names(page), ["old", "garbled", "new"]);
        assert!(
            storage
                .queued_runs(6, 3)
                .await
                .expect("past the end")
                .is_empty()
        );
    }

    pub async fn filters_and_counts(storage: Arc<dyn Storage>) {
        type Spec<'a> = (&'a str, RunStatus, &'a [(&'a str, &'a str)]);
        let spec: [Spec; 5] = [
            (
                "etl",
                RunStatus::Queued,
                &[("team", "data"), ("env", "prod")],
            ),
            (
                "etl",
                RunStatus::Success,
                &[("team", "data"), ("env", "dev")],
            ),
            (
                "report",
                RunStatus::Success,
                &[("team", "bi"), ("env", "prod")],
            ),
            ("report", RunStatus::Failure, &[]),
            (
                "etl",
                RunStatus::Failure,
                &[("team", "data"), ("env", "prod"), ("priority", "high")],
            ),
        ];
        let mut r = Vec::new();
        for (job, status, t) in spec {
            let mut run = new_run(job);
            run.status = status;
            run.tags = tags(t);
            storage.create_run(&run).await.expect("create");
            r.push(run.run_id);
        }

        let cases: Vec<(RunsFilter, Vec<&String>)> = vec![
            (
                RunsFilter::default(),
                vec![&r[4], &r[3], &r[2], &r[1], &r[0]],
            ),
            (
                RunsFilter {
                    statuses: vec![RunStatus::Success],
                    ..Default::default()
                },
                vec![&r[2], &r[1]],
            ),
            (
                RunsFilter {
                    statuses: vec![RunStatus::Success, RunStatus::Failure],
                    ..Default::default()
                },
                vec![&r[4], &r[3], &r[2], &r[1]],
            ),
            (
                RunsFilter {
                    statuses: vec![RunStatus::Started],
                    ..Default::default()
                },
                vec![],
            ),
            (
                RunsFilter {
                    job_name: Some("etl".into()),
                    ..Default::default()
                },
                vec![&r[4], &r[1], &r[0]],
            ),
            (
                RunsFilter {
                    tags: tags(&[("team", "data")]),
                    ..Default::default()
                },
                vec![&r[4], &r[1], &r[0]],
            ),
            (
                RunsFilter {
                    tags: tags(&[("team", "data"), ("env", "prod")]),
                    ..Default::default()
                },
                vec![&r[4], &r[0]],
            ),
            (
                RunsFilter {
                    tags: tags(&[("env", "prod"), ("team", "bi")]),
                    ..Default::default()
                },
                vec![&r[2]],
            ),
            (
                RunsFilter {
                    tags: tags(&[("priority", "low")]),
                    ..Default::default()
                },
                vec![],
            ),
            (
                // A value of another key does not match.
                RunsFilter {
                    tags: tags(&[("env", "data")]),
                    ..Default::default()
                },
                vec![],
            ),
            (
                RunsFilter {
                    run_ids: vec![r[0].clone(), r[3].clone(), "unknown".into()],
                    ..Default::default()
                },
                vec![&r[3], &r[0]],
            ),
            (
                RunsFilter {
                    job_name: Some("etl".into()),
                    statuses: vec![RunStatus::Failure],
                    ..Default::default()
                },
                vec![&r[4]],
            ),
            (
                RunsFilter {
                    job_name: Some("etl".into()),
                    statuses: vec![RunStatus::Queued],
                    tags: tags(&[("env", "prod")]),
                    ..Default::default()
                },
                vec![&r[0]],
            ),
            (
                RunsFilter {
                    run_ids: vec![r[0].clone(), r[1].clone(), r[2].clone()],
                    job_name: Some("report".into()),
                    ..Default::default()
                },
                vec![&r[2]],
            ),
            (
                RunsFilter {
                    job_name: Some("nope".into()),
                    ..Default::default()
                },
                vec![],
            ),
        ];
        for (filter, expected) in cases {
            let listed = storage.list_runs(&filter, None, None).await.expect("list");
            let expected: Vec<String> = expected.into_iter().cloned().collect();
            assert_eq!(ids(&listed), expected, "filter {filter:?}");
            let count = storage.count_runs(&filter).await.expect("count");
            assert_eq!(count, expected.len() as u64, "count of {filter:?}");
        }

        // Filters combine with the cursor and the limit.
        let etl = RunsFilter {
            job_name: Some("etl".into()),
            ..Default::default()
        };
        let page = storage
            .list_runs(&etl, Some(&r[4]), None)
            .await
            .expect("page");
        assert_eq!(ids(&page), [r[1].clone(), r[0].clone()]);
        let page = storage
            .list_runs(&etl, Some(&r[4]), Some(1))
            .await
            .expect("page");
        assert_eq!(ids(&page), [r[1].clone()]);
    }

    pub async fn lifecycle_events_move_status_and_times(storage: Arc<dyn Storage>) {
        let run = new_run("life");
        storage.create_run(&run).await.expect("create");
        let id = &run.run_id;

        storage
            .store_events(&[
                event(id, EventType::RunEnqueued, 1000.0),
                event(id, EventType::RunStarting, 1001.0),
            ])
            .await
            .expect("store");
        let got = storage.get_run(id).await.expect("get").expect("exists");
        assert_eq!(got.status, RunStatus::Starting);
        assert_eq!(got.update_time, 1001.0);
        assert_eq!(got.start_time, None);

        storage
            .store_events(&[event(id, EventType::RunStart, 1002.5)])
            .await
            .expect("store");
        let got = storage.get_run(id).await.expect("get").expect("exists");
        assert_eq!(got.status, RunStatus::Started);
        assert_eq!(got.start_time, Some(1002.5));
        assert_eq!(got.end_time, None);

        // Step events do not touch the run.
        storage
            .store_events(&[
                event(id, EventType::StepStart, 1003.0).step("a"),
                event(id, EventType::StepSuccess, 1004.0).step("a"),
                event(id, EventType::Log, 1004.5),
            ])
            .await
            .expect("store");
        let got = storage.get_run(id).await.expect("get").expect("exists");
        assert_eq!(got.status, RunStatus::Started);
        assert_eq!(got.update_time, 1002.5);

        storage
            .store_events(&[event(id, EventType::RunSuccess, 1010.0)])
            .await
            .expect("store");
        let got = storage.get_run(id).await.expect("get").expect("exists");
        assert_eq!(got.status, RunStatus::Success);
        assert_eq!(got.start_time, Some(1002.5));
        assert_eq!(got.end_time, Some(1010.0));
        assert_eq!(got.update_time, 1010.0);

        // Failure and cancellation set the end time too; a whole lifecycle in one batch
        // ends in its last status.
        for (end, status) in [
            (EventType::RunFailure, RunStatus::Failure),
            (EventType::RunCanceled, RunStatus::Canceled),
        ] {
            let run = new_run("life");
            storage.create_run(&run).await.expect("create");
            let id = &run.run_id;
            storage
                .store_events(&[
                    event(id, EventType::RunStarting, 2000.0),
                    event(id, EventType::RunStart, 2001.0),
                    event(id, EventType::StepStart, 2002.0).step("x"),
                    event(id, EventType::RunCanceling, 2003.0),
                    event(id, end, 2004.0),
                ])
                .await
                .expect("store");
            let got = storage.get_run(id).await.expect("get").expect("exists");
            assert_eq!(got.status, status);
            assert_eq!(got.start_time, Some(2001.0));
            assert_eq!(got.end_time, Some(2004.0));
        }

        let success = RunsFilter {
            statuses: vec![RunStatus::Success],
            ..Default::default()
        };
        assert_eq!(storage.count_runs(&success).await.expect("count"), 1);
    }

    pub async fn an_attempt_is_fenced_once_its_run_ends(storage: Arc<dyn Storage>) {
        let run = new_run("fenced");
        storage.create_run(&run).await.expect("create");
        let id = &run.run_id;
        let fenced = |result: Result<Vec<i64>, StorageError>| match result {
            Err(StorageError::RunFenced { status, .. }) => status,
            other => panic!("not fenced: {other:?}"),
        };
        // The attempt starts the run; a second one may not.
        storage
            .store_run_events(id, &[event(id, EventType::RunStart, 10.0)])
            .await
            .expect("the first attempt starts");
        let second = storage
            .store_run_events(id, &[event(id, EventType::RunStart, 11.0)])
            .await;
        assert_eq!(fenced(second), RunStatus::Started);
        storage
            .store_run_events(id, &[event(id, EventType::StepStart, 12.0)])
            .await
            .expect("the first attempt writes on");
        // The monitor fails the run; the attempt's next write is refused, all of it.
        storage
            .store_events(&[event(id, EventType::RunFailure, 20.0)])
            .await
            .expect("monitor");
        let late = storage
            .store_run_events(
                id,
                &[
                    event(id, EventType::StepSuccess, 30.0),
                    event(id, EventType::RunSuccess, 31.0),
                ],
            )
            .await;
        assert_eq!(fenced(late), RunStatus::Failure);
        let stored = storage
            .events_for_run(id, None, None)
            .await
            .expect("events");
        assert_eq!(stored.len(), 3);
        assert_eq!(stored[2].event.event_type, EventType::RunFailure);
        // Another run's event is not this attempt's to write.
        let other = event("someone-else", EventType::StepStart, 40.0);
        assert!(matches!(
            storage.store_run_events(id, &[other]).await,
            Err(StorageError::ForeignEvent { .. })
        ));
    }

    pub async fn finished_run_is_not_moved_back(storage: Arc<dyn Storage>) {
        let run = new_run("done");
        storage.create_run(&run).await.expect("create");
        let id = &run.run_id;
        storage
            .store_events(&[
                event(id, EventType::RunStart, 10.0),
                event(id, EventType::RunFailure, 20.0),
            ])
            .await
            .expect("store");

        // Late lifecycle events, one per batch and all in one batch.
        for late in [
            EventType::RunStart,
            EventType::RunStarting,
            EventType::RunEnqueued,
            EventType::RunCanceling,
            EventType::RunSuccess,
        ] {
            storage
                .store_events(&[event(id, late, 30.0)])
                .await
                .expect("store late event");
        }
        storage
            .store_events(&[
                event(id, EventType::RunStart, 40.0),
                event(id, EventType::RunCanceling, 41.0),
            ])
            .await
            .expect("store late batch");

        let got = storage.get_run(id).await.expect("get").expect("exists");
        assert_eq!(got.status, RunStatus::Failure);
        assert_eq!(got.start_time, Some(10.0));
        assert_eq!(got.end_time, Some(20.0));
        assert_eq!(got.update_time, 20.0);
        // The late events are still in the log.
        let events = storage
            .events_for_run(id, None, None)
            .await
            .expect("events");
        assert_eq!(events.len(), 9);
    }

    pub async fn events_for_run_after_cursor_and_with_limit(storage: Arc<dyn Storage>) {
        assert_eq!(storage.latest_event_id().await.expect("latest"), None);
        let a = new_run("a");
        let b = new_run("b");
        storage.create_run(&a).await.expect("create");
        storage.create_run(&b).await.expect("create");

        let mut a_events = Vec::new();
        let mut batch = Vec::new();
        for i in 0..20 {
            let e = RunEvent::new(&a.run_id, EventType::Log, format!("a{i}"))
                .step(format!("step_{}", i % 3))
                .level(LogLevel::Info)
                .data(match i % 4 {
                    0 => EventData::Output {
                        output_name: "result".into(),
                    },
                    1 => EventData::Failure {
                        error: ErrorInfo {
                            message: "outer".into(),
                            kind: "OpError".into(),
                            cause: Some(Box::new(ErrorInfo::new("Cause", "inner"))),
                        },
                    },
                    2 => EventData::Retry {
                        error: ErrorInfo::new("OpError", "flaky"),
                        attempt: 1,
                        max_retries: 3,
                        delay_seconds: 0.25,
                    },
                    _ => EventData::Engine {
                        metadata: json!({"pid": 42, "nested": {"list": [1, 2.5, "x"]}}),
                    },
                });
            a_events.push(e.clone());
            batch.push(e);
            batch.push(RunEvent::new(&b.run_id, EventType::Log, format!("b{i}")));
        }
        // Events of runs that are not stored are kept as well.
        batch.push(RunEvent::new("ghost-run", EventType::EngineEvent, "orphan"));
        let stored_ids = storage.store_events(&batch).await.expect("store");
        assert_eq!(stored_ids.len(), batch.len());
        assert!(stored_ids.windows(2).all(|w| w[0] < w[1]), "{stored_ids:?}");
        assert_eq!(
            storage.latest_event_id().await.expect("latest"),
            stored_ids.last().copied()
        );

        let all = storage
            .events_for_run(&a.run_id, None, None)
            .await
            .expect("events");
        assert_eq!(all.len(), 20);
        let events: Vec<RunEvent> = all.iter().map(|r| r.event.clone()).collect();
        assert_eq!(events, a_events, "events come back exactly as stored");
        let a_ids: Vec<i64> = all.iter().map(|r| r.storage_id).collect();
        let expected_a_ids: Vec<i64> = stored_ids.iter().step_by(2).take(20).copied().collect();
        assert_eq!(
            a_ids, expected_a_ids,
            "storage ids are the ones store_events returned"
        );

        let after = storage
            .events_for_run(&a.run_id, Some(a_ids[4]), None)
            .await
            .expect("after");
        assert_eq!(after.len(), 15);
        assert_eq!(after[0].storage_id, a_ids[5]);
        assert_eq!(after[0].event.message, "a5");

        let limited = storage
            .events_for_run(&a.run_id, None, Some(3))
            .await
            .expect("limit");
        let messages: Vec<&str> = limited.iter().map(|r| r.event.message.as_str()).collect();
        assert_eq!(messages, ["a0", "a1", "a2"]);

        let window = storage
            .events_for_run(&a.run_id, Some(a_ids[9]), Some(4))
            .await
            .expect("window");
        let messages: Vec<&str> = window.iter().map(|r| r.event.message.as_str()).collect();
        assert_eq!(messages, ["a10", "a11", "a12", "a13"]);

        let past_end = storage
            .events_for_run(&a.run_id, Some(a_ids[19]), None)
            .await
            .expect("past end");
        assert!(past_end.is_empty());

        let ghost = storage
            .events_for_run("ghost-run", None, None)
            .await
            .expect("ghost");
        assert_eq!(ghost.len(), 1);
        assert_eq!(ghost[0].event.message, "orphan");
        assert!(storage.get_run("ghost-run").await.expect("get").is_none());
        assert!(
            storage
                .events_for_run("nobody", None, None)
                .await
                .expect("none")
                .is_empty()
        );
        assert!(
            storage
                .store_events(&[])
                .await
                .expect("empty batch")
                .is_empty()
        );
    }

    pub async fn large_batches_and_awkward_text(storage: Arc<dyn Storage>) {
        let run = new_run("big");
        storage.create_run(&run).await.expect("create");
        // More rows than one INSERT statement carries.
        let events: Vec<RunEvent> = (0..1234)
            .map(|i| {
                RunEvent::new(&run.run_id, EventType::StepOutput, format!("output {i}"))
                    .step(format!("op_{i}"))
            })
            .collect();
        let stored = storage.store_events(&events).await.expect("store");
        assert_eq!(stored.len(), 1234);
        assert!(stored.windows(2).all(|w| w[0] < w[1]));
        let back = storage
            .events_for_run(&run.run_id, None, None)
            .await
            .expect("events");
        let back_ids: Vec<i64> = back.iter().map(|r| r.storage_id).collect();
        assert_eq!(back_ids, stored);
        assert!(back.iter().zip(&events).all(|(r, e)| &r.event == e));

        // NUL, quotes, non-ASCII and SQL-looking text survive exactly.
        let awkward = RunEvent::new(
            &run.run_id,
            EventType::Log,
            "nul:\0 quote:' dq:\" emoji:🚰 sql:'); DROP TABLE runs; --",
        )
        .step("step\0key");
        storage
            .store_events(std::slice::from_ref(&awkward))
            .await
            .expect("store awkward text");
        let last = storage
            .events_for_run(&run.run_id, stored.last().copied(), None)
            .await
            .expect("events");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].event, awkward);

        // A timestamp that is not a number is replaced by the time of storing.
        let mut nan = RunEvent::new(&run.run_id, EventType::Log, "no time");
        nan.timestamp = f64::NAN;
        let before = now_timestamp();
        let nan_ids = storage
            .store_events(&[nan])
            .await
            .expect("store NaN timestamp");
        let back = storage
            .events_for_run(&run.run_id, Some(nan_ids[0] - 1), None)
            .await
            .expect("events");
        assert_eq!(back[0].event.message, "no time");
        assert!(
            back[0].event.timestamp >= before,
            "{}",
            back[0].event.timestamp
        );

        let mut weird = new_run("job with 'quotes'");
        weird.tags = tags(&[("k'ey", "va\"lue 🚰"), ("empty", "")]);
        weird.run_config = json!({"s": "x'y", "n": null, "list": [true, 1.5]});
        storage.create_run(&weird).await.expect("create");
        let got = storage
            .get_run(&weird.run_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(got.tags, weird.tags);
        assert_eq!(got.run_config, weird.run_config);
        let by_tag = RunsFilter {
            tags: tags(&[("k'ey", "va\"lue 🚰")]),
            ..Default::default()
        };
        assert_eq!(storage.count_runs(&by_tag).await.expect("count"), 1);
    }

    pub async fn delete_run_removes_run_tags_and_events(storage: Arc<dyn Storage>) {
        let mut doomed = new_run("doomed");
        doomed.tags = tags(&[("keep", "no")]);
        let mut kept = new_run("kept");
        kept.tags = tags(&[("keep", "yes")]);
        storage.create_run(&doomed).await.expect("create");
        storage.create_run(&kept).await.expect("create");
        storage
            .store_events(&[
                event(&doomed.run_id, EventType::RunStart, 1.0),
                event(&kept.run_id, EventType::RunStart, 1.0),
                event(&doomed.run_id, EventType::RunSuccess, 2.0),
            ])
            .await
            .expect("store");

        assert!(storage.delete_run(&doomed.run_id).await.expect("delete"));
        assert_eq!(storage.get_run(&doomed.run_id).await.expect("get"), None);
        assert!(
            storage
                .events_for_run(&doomed.run_id, None, None)
                .await
                .expect("events")
                .is_empty()
        );
        let tagged = RunsFilter {
            tags: tags(&[("keep", "no")]),
            ..Default::default()
        };
        assert_eq!(storage.count_runs(&tagged).await.expect("count"), 0);
        assert_eq!(
            storage
                .count_runs(&RunsFilter::default())
                .await
                .expect("count"),
            1
        );

        let other = storage
            .get_run(&kept.run_id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(other.tags, kept.tags);
        assert_eq!(other.status, RunStatus::Started);
        assert_eq!(
            storage
                .events_for_run(&kept.run_id, None, None)
                .await
                .expect("events")
                .len(),
            1
        );

        assert!(
            !storage
                .delete_run(&doomed.run_id)
                .await
                .expect("delete again")
        );
        // The id can be used again, and new events get new ids.
        let latest = storage.latest_event_id().await.expect("latest");
        storage.create_run(&doomed).await.expect("re-create");
        let new_ids = storage
            .store_events(&[event(&doomed.run_id, EventType::RunStart, 3.0)])
            .await
            .expect("store");
        assert!(Some(new_ids[0]) > latest);
    }

    pub async fn concurrent_event_writers_lose_nothing(storage: Arc<dyn Storage>) {
        const RUNS: usize = 8;
        const EVENTS: usize = 500;
        let mut run_ids = Vec::new();
        for _ in 0..RUNS {
            let run = new_run("concurrent");
            storage.create_run(&run).await.expect("create");
            run_ids.push(run.run_id);
        }

        // One writer per run, as run workers have, all at once.
        let mut tasks = Vec::new();
        for run_id in run_ids.clone() {
            let storage = storage.clone();
            tasks.push(tokio::spawn(async move {
                let writer = EventWriter::spawn(storage);
                for i in 0..EVENTS {
                    let event_type = match i {
                        0 => EventType::RunStart,
                        i if i == EVENTS - 1 => EventType::RunSuccess,
                        _ => EventType::StepOutput,
                    };
                    writer.emit(RunEvent::new(&run_id, event_type, format!("seq {i}")));
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                writer.close().await
            }));
        }
        for task in tasks {
            task.await.expect("writer task").expect("no events lost");
        }
        for run_id in &run_ids {
            let events = storage
                .events_for_run(run_id, None, None)
                .await
                .expect("events");
            assert_eq!(events.len(), EVENTS, "run {run_id}");
            assert!(events.windows(2).all(|w| w[0].storage_id < w[1].storage_id));
            for (i, record) in events.iter().enumerate() {
                assert_eq!(record.event.message, format!("seq {i}"), "run {run_id}");
            }
            let run = storage.get_run(run_id).await.expect("get").expect("exists");
            assert_eq!(run.status, RunStatus::Success);
        }

        // One writer shared by many emitting tasks.
        let shared = EventWriter::spawn(storage.clone());
        let mut tasks = Vec::new();
        for (t, run_id) in run_ids.iter().enumerate() {
            let sink: Arc<dyn EventSink> = Arc::new(shared.clone());
            let run_id = run_id.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100 {
                    sink.emit(RunEvent::new(&run_id, EventType::Log, format!("t{t} {i}")));
                    if i % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("emitting task");
        }
        shared.flush().await.expect("flush");
        let mut all_ids = HashSet::new();
        for (t, run_id) in run_ids.iter().enumerate() {
            let logs: Vec<_> = storage
                .events_for_run(run_id, None, None)
                .await
                .expect("events")
                .into_iter()
                .filter(|r| r.event.event_type == EventType::Log)
                .collect();
            let messages: Vec<String> = logs.iter().map(|r| r.event.message.clone()).collect();
            let expected: Vec<String> = (0..100).map(|i| format!("t{t} {i}")).collect();
            assert_eq!(messages, expected);
            all_ids.extend(logs.iter().map(|r| r.storage_id));
        }
        assert_eq!(all_ids.len(), RUNS * 100, "storage ids are unique");
        shared.close().await.expect("close");
    }

    pub async fn event_writer_flush_and_close(storage: Arc<dyn Storage>) {
        let run = new_run("flushed");
        storage.create_run(&run).await.expect("create");
        let writer = EventWriter::spawn(storage.clone());
        let sink: Arc<dyn EventSink> = Arc::new(writer.clone());
        for i in 0..10 {
            sink.emit(RunEvent::new(&run.run_id, EventType::Log, format!("{i}")));
        }
        writer.flush().await.expect("flush");
        let stored = storage
            .events_for_run(&run.run_id, None, None)
            .await
            .expect("events");
        assert_eq!(
            stored.len(),
            10,
            "flush waits for everything emitted before it"
        );

        sink.emit(RunEvent::new(&run.run_id, EventType::RunStart, "start"));
        writer.close().await.expect("close");
        let got = storage
            .get_run(&run.run_id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(got.status, RunStatus::Started, "close drains the queue");

        // A clone emitting after close cannot be stored: the loss is counted, not hidden.
        sink.emit(RunEvent::new(&run.run_id, EventType::Log, "too late"));
        let stored = storage
            .events_for_run(&run.run_id, None, None)
            .await
            .expect("events");
        assert_eq!(stored.len(), 11);
    }

    pub async fn event_writer_stores_without_being_asked(storage: Arc<dyn Storage>) {
        let run = new_run("unflushed");
        storage.create_run(&run).await.expect("create");
        let writer = EventWriter::spawn(storage.clone());
        writer.emit(RunEvent::new(&run.run_id, EventType::RunStart, "start"));
        // Nobody flushes: the batch is written once it has lingered a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let got = storage
                .get_run(&run.run_id)
                .await
                .expect("get")
                .expect("run");
            if got.status == RunStatus::Started {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the event was never stored"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        writer.close().await.expect("close");
    }

    pub async fn event_writer_reports_lost_events(storage: Arc<SqlStorage>) {
        let run = new_run("doomed writer");
        storage.create_run(&run).await.expect("create");
        let writer = EventWriter::spawn(storage.clone());
        writer.emit(RunEvent::new(&run.run_id, EventType::Log, "stored"));
        writer.flush().await.expect("first flush");
        assert_eq!(
            storage
                .events_for_run(&run.run_id, None, None)
                .await
                .expect("events")
                .len(),
            1
        );

        // The database goes away under the writer.
        storage.close().await.expect("close pool");
        for i in 0..5 {
            writer.emit(RunEvent::new(
                &run.run_id,
                EventType::Log,
                format!("lost {i}"),
            ));
        }
        let err = writer.flush().await.expect_err("flush reports the loss");
        assert!(
            matches!(err, StorageError::EventsLost { lost: 5, .. }),
            "{err:?}"
        );
        assert_eq!(writer.lost_events(), 5);
        let err = writer.close().await.expect_err("close reports the loss");
        assert!(
            err.to_string().contains("5 event(s) could not be stored"),
            "{err}"
        );
    }

    pub async fn reopening_keeps_data(storage: Arc<SqlStorage>, opener: Opener) {
        let mut run = new_run("persisted");
        run.tags = tags(&[("k", "v")]);
        storage.create_run(&run).await.expect("create");
        let event_ids = storage
            .store_events(&[event(&run.run_id, EventType::RunStart, 5.0)])
            .await
            .expect("store");
        storage.close().await.expect("close");

        let reopened = opener.open().await.expect("reopen");
        let got = reopened
            .get_run(&run.run_id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(got.tags, run.tags);
        assert_eq!(got.status, RunStatus::Started);
        assert_eq!(got.start_time, Some(5.0));
        let events = reopened
            .events_for_run(&run.run_id, None, None)
            .await
            .expect("events");
        let ids: Vec<i64> = events.iter().map(|e| e.storage_id).collect();
        assert_eq!(ids, event_ids);
        // Ids keep growing after a reopen: the log is a cursor.
        let more = reopened
            .store_events(&[event(&run.run_id, EventType::Log, 6.0)])
            .await
            .expect("store");
        assert!(more[0] > event_ids[0]);
        reopened.close().await.expect("close");
    }

    /// Open a database that nobody has migrated yet from several tasks at once.
    pub async fn fresh_database_opened_many_times_at_once(opener: Opener) {
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let opener = opener.clone();
                tokio::spawn(async move { opener.open().await })
            })
            .collect();
        let mut opened = Vec::new();
        let mut errors = Vec::new();
        for open in opens {
            match open.await.expect("task") {
                Ok(storage) => opened.push(storage),
                Err(e) => errors.push(e.to_string()),
            }
        }
        let shared = async {
            let run = new_run("shared");
            opened[0].create_run(&run).await.expect("create");
            for other in &opened {
                assert!(other.get_run(&run.run_id).await.expect("get").is_some());
            }
        };
        if errors.is_empty() {
            shared.await;
        }
        for storage in &opened {
            let _ = storage.close().await;
        }
        assert!(errors.is_empty(), "concurrent opens failed: {errors:?}");
    }

    fn key(name: &str, instigator_type: InstigatorType) -> InstigatorKey {
        InstigatorKey::new("demo", name, instigator_type)
    }

    pub async fn instigator_status_overrides_and_resets(storage: Arc<SqlStorage>) {
        let k = key("nightly", InstigatorType::Schedule);
        assert!(storage.instigator_states().await.unwrap().is_empty());
        let first = storage.ensure_instigator(&k, 100.0).await.unwrap();
        assert_eq!(first.status, None, "follows the definition until set");
        assert_eq!(first.start_timestamp, Some(100.0));
        // Seeing it again changes nothing.
        let again = storage.ensure_instigator(&k, 200.0).await.unwrap();
        assert_eq!(again.start_timestamp, Some(100.0));
        let started = storage
            .set_instigator_status(&k, Some(InstigatorStatus::Running), 300.0)
            .await
            .unwrap();
        assert_eq!(started.status, Some(InstigatorStatus::Running));
        assert_eq!(started.start_timestamp, Some(300.0));
        let stopped = storage
            .set_instigator_status(&k, Some(InstigatorStatus::Stopped), 400.0)
            .await
            .unwrap();
        assert_eq!(stopped.status, Some(InstigatorStatus::Stopped));
        assert_eq!(stopped.start_timestamp, Some(300.0));
        let reset = storage
            .set_instigator_status(&k, None, 500.0)
            .await
            .unwrap();
        assert_eq!(reset.status, None);
        assert_eq!(reset.update_timestamp, 500.0);
        assert_eq!(
            reset.start_timestamp,
            Some(500.0),
            "no catch-up of the stopped time"
        );
        let by_id = storage
            .instigator_state(&k.selector_id())
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(by_id, reset);
        let s = key("files", InstigatorType::Sensor);
        let moved = storage
            .set_instigator_cursor(&s, Some("a.csv"), 600.0)
            .await
            .unwrap();
        assert_eq!(moved.cursor.as_deref(), Some("a.csv"));
        assert_eq!(moved.key, s);
        assert_eq!(storage.instigator_states().await.unwrap().len(), 2);
    }

    pub async fn ticks_end_and_move_their_instigator(storage: Arc<SqlStorage>) {
        let s = key("files", InstigatorType::Sensor);
        storage
            .set_instigator_cursor(&s, Some("0"), 1.0)
            .await
            .unwrap();
        let mut skipped = TickResult::new(TickStatus::Skipped);
        skipped.skip_reason = Some("nothing new".into());
        skipped.cursor = Some("1".into());
        let t1 = storage
            .add_tick(&NewTick {
                instigator: s.clone(),
                timestamp: 10.0,
                result: skipped,
            })
            .await
            .unwrap();
        assert!(t1.end_timestamp.is_some());
        let state = storage
            .instigator_state(&s.selector_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.cursor.as_deref(), Some("1"));
        assert_eq!(state.last_tick_timestamp, Some(10.0));

        // A started tick moves nothing until it ends.
        let t2 = storage
            .add_tick(&NewTick {
                instigator: s.clone(),
                timestamp: 20.0,
                result: TickResult::new(TickStatus::Started),
            })
            .await
            .unwrap();
        assert_eq!(t2.end_timestamp, None);
        let state = storage
            .instigator_state(&s.selector_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.last_tick_timestamp, Some(10.0));
        let mut success = TickResult::new(TickStatus::Success);
        success.run_ids = vec!["r1".into(), "r2".into()];
        success.run_keys = vec!["a.csv".into(), "b.csv".into()];
        success.cursor = Some("2".into());
        let ended = storage.end_tick(&s, t2.id, &success).await.unwrap();
        assert_eq!(ended.result, success);
        let state = storage
            .instigator_state(&s.selector_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.cursor.as_deref(), Some("2"));
        assert_eq!(state.last_run_key.as_deref(), Some("b.csv"));
        assert_eq!(state.last_tick_timestamp, Some(20.0));

        // A failed tick keeps the cursor where it was.
        let mut failure = TickResult::new(TickStatus::Failure);
        failure.error = Some(ErrorInfo::new("Panic", "sensor panicked: boom"));
        failure.cursor = Some("3".into());
        storage
            .add_tick(&NewTick {
                instigator: s.clone(),
                timestamp: 30.0,
                result: failure,
            })
            .await
            .unwrap();
        let state = storage
            .instigator_state(&s.selector_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.cursor.as_deref(), Some("2"));
        assert_eq!(state.last_tick_timestamp, Some(30.0));

        let all = storage
            .ticks(Some(&s.selector_id()), &TicksFilter::default())
            .await
            .unwrap();
        let statuses: Vec<TickStatus> = all.iter().map(|t| t.result.status).collect();
        assert_eq!(
            statuses,
            [
                TickStatus::Failure,
                TickStatus::Success,
                TickStatus::Skipped
            ]
        );
        assert_eq!(
            all[0].result.error.as_ref().unwrap().message,
            "sensor panicked: boom"
        );
        let page = storage
            .ticks(
                Some(&s.selector_id()),
                &TicksFilter {
                    limit: Some(1),
                    before_id: Some(all[0].id),
                    ..TicksFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].id, all[1].id);
        let skipped_only = storage
            .ticks(
                Some(&s.selector_id()),
                &TicksFilter {
                    statuses: vec![TickStatus::Skipped],
                    after_timestamp: Some(5.0),
                    before_timestamp: Some(15.0),
                    ..TicksFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(skipped_only.len(), 1);
        assert_eq!(
            skipped_only[0].result.skip_reason.as_deref(),
            Some("nothing new")
        );

        assert_eq!(
            storage
                .purge_ticks(25.0, &[TickStatus::Skipped])
                .await
                .unwrap(),
            1
        );
        let left = storage
            .ticks(Some(&s.selector_id()), &TicksFilter::default())
            .await
            .unwrap();
        assert_eq!(left.len(), 2);
        // Ending a tick that does not exist is an error, and changes nothing.
        let err = storage
            .end_tick(&s, 999_999, &TickResult::new(TickStatus::Success))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("999999"), "{err}");
    }

    pub async fn a_run_key_creates_one_run_ever(storage: Arc<SqlStorage>) {
        let selector = key("files", InstigatorType::Sensor).selector_id();
        let other = key("other", InstigatorType::Sensor).selector_id();
        let first = new_run("job");
        let created = storage
            .create_instigated_run(&first, &[], &selector, "a.csv")
            .await
            .unwrap();
        assert!(matches!(created, InstigatedRun::Created(_)));
        let second = new_run("job");
        let again = storage
            .create_instigated_run(&second, &[], &selector, "a.csv")
            .await
            .unwrap();
        assert_eq!(
            again,
            InstigatedRun::AlreadyRequested {
                run_id: first.run_id.clone()
            }
        );
        assert!(storage.get_run(&second.run_id).await.unwrap().is_none());
        // Keys belong to their instigator.
        let elsewhere = storage
            .create_instigated_run(&second, &[], &other, "a.csv")
            .await
            .unwrap();
        assert_eq!(elsewhere.run_id(), second.run_id);
        // A run that cannot be stored releases its key.
        let duplicate = storage
            .create_instigated_run(&first, &[], &selector, "b.csv")
            .await
            .unwrap_err();
        assert!(
            matches!(duplicate, StorageError::DuplicateRun { .. }),
            "{duplicate}"
        );
        let retry = new_run("job");
        let fresh = storage
            .create_instigated_run(&retry, &[], &selector, "b.csv")
            .await
            .unwrap();
        assert_eq!(fresh.run_id(), retry.run_id);
        assert_eq!(storage.count_runs(&RunsFilter::default()).await.unwrap(), 3);
    }

    pub async fn run_status_changes_follow_the_event_log(storage: Arc<SqlStorage>) {
        let start = storage.latest_event_id().await.unwrap().unwrap_or(0);
        let a = storage.create_run(&new_run("billing")).await.unwrap();
        let b = storage.create_run(&new_run("report")).await.unwrap();
        storage
            .store_events(&[
                event(&a.run_id, EventType::RunStart, 1.0),
                event(&a.run_id, EventType::StepSuccess, 2.0),
                event(&a.run_id, EventType::RunSuccess, 3.0),
                event(&b.run_id, EventType::RunStart, 4.0),
                event(&b.run_id, EventType::RunFailure, 5.0),
            ])
            .await
            .unwrap();
        let ended = [RunStatus::Success, RunStatus::Failure, RunStatus::Canceled];
        let changes = storage.run_status_changes(start, &ended, 10).await.unwrap();
        let seen: Vec<(&str, RunStatus)> = changes
            .iter()
            .map(|c| (c.job_name.as_str(), c.status))
            .collect();
        assert_eq!(
            seen,
            [
                ("billing", RunStatus::Success),
                ("report", RunStatus::Failure)
            ]
        );
        assert_eq!(changes[1].run_id, b.run_id);
        assert_eq!(changes[1].timestamp, 5.0);
        // After the first change's id, only the second; a limit caps the page.
        let rest = storage
            .run_status_changes(changes[0].event_id, &ended, 10)
            .await
            .unwrap();
        assert_eq!(rest, changes[1..]);
        let page = storage.run_status_changes(start, &ended, 1).await.unwrap();
        assert_eq!(page, changes[..1]);
        let started = storage
            .run_status_changes(start, &[RunStatus::Started], 10)
            .await
            .unwrap();
        assert_eq!(started.len(), 2);
    }

    pub async fn database_migrated_by_newer_sluice_is_refused(
        storage: Arc<SqlStorage>,
        opener: Opener,
    ) {
        // Pretend a newer Sluice applied a migration this binary does not know.
        storage
            .connection()
            .execute_unprepared(
                "INSERT INTO seaql_migrations (version, applied_at) \
                 VALUES ('m29990101_000001_from_the_future', 0)",
            )
            .await
            .expect("record a future migration");
        let err = opener
            .open()
            .await
            .expect_err("a newer database is refused");
        assert!(
            matches!(&err, StorageError::DatabaseTooNew { unknown, .. }
                if unknown == &["m29990101_000001_from_the_future".to_owned()]),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("migrated by a newer Sluice"), "{message}");
        assert!(
            message.contains("m29990101_000001_from_the_future"),
            "{message}"
        );
        assert!(!message.contains(":sluice@"), "password shown: {message}");
        // Nothing was changed: the known migrations are still there, the data usable.
        assert_eq!(
            storage
                .count_runs(&RunsFilter::default())
                .await
                .expect("count"),
            0
        );
    }

    fn materialization(run_id: &str, key: &str, partition: Option<&str>, rows: i64) -> RunEvent {
        let mut m = AssetMaterialization::new(AssetKey::parse(key).unwrap());
        m.partition = partition.map(str::to_owned);
        m.metadata.insert("rows".into(), MetadataValue::Int(rows));
        RunEvent::new(run_id, EventType::AssetMaterialization, "materialized")
            .data(EventData::Materialization(Box::new(m)))
    }

    fn rows_of(record: &sluice_core::events::EventRecord) -> i64 {
        match record.event.materialization().unwrap().metadata["rows"] {
            MetadataValue::Int(n) => n,
            ref other => panic!("{other:?}"),
        }
    }

    pub async fn backfills_submit_each_partition_once(storage: Arc<dyn Storage>) {
        use sluice_storage::{
            BACKFILL_ID_TAG, BackfillRuns, BackfillStatus, BackfillsFilter, NewBackfill,
        };
        let days: Vec<String> = (0..1_500).map(|i| format!("day-{i:04}")).collect();
        let mut spec = NewBackfill::new("demo", "daily_job", days.clone());
        spec.tags = tags(&[("team", "billing")]);
        spec.title = Some("catch up".into());
        let stored = storage.add_backfill(&spec).await.unwrap();
        assert_eq!(stored.status, BackfillStatus::Requested);
        assert_eq!(stored.pending().len(), 1_500);
        let other = storage
            .add_backfill(&NewBackfill::new("demo", "other", vec!["a".into()]))
            .await
            .unwrap();
        assert_ne!(stored.id(), other.id());

        let runs_for = |range: std::ops::Range<usize>| {
            days[range]
                .iter()
                .map(|day| NewRun {
                    status: sluice_core::run::RunStatus::Queued,
                    tags: tags(&[(BACKFILL_ID_TAG, stored.id()), ("dagster/partition", day)]),
                    ..new_run("daily_job")
                })
                .collect::<Vec<_>>()
        };
        assert!(
            storage
                .submit_backfill_runs(stored.id(), 0..1_000, &runs_for(0..1_000))
                .await
                .unwrap()
        );
        // A second daemon that read the same count writes nothing.
        assert!(
            !storage
                .submit_backfill_runs(stored.id(), 0..1_000, &runs_for(0..1_000))
                .await
                .unwrap()
        );
        assert!(
            storage
                .submit_backfill_runs(stored.id(), 1_000..1_500, &runs_for(1_000..1_500))
                .await
                .unwrap()
        );
        let read = storage.backfill(stored.id()).await.unwrap().unwrap();
        assert_eq!(read.submitted, 1_500);
        assert!(read.pending().is_empty());
        assert_eq!(read.spec, spec);
        let filter = RunsFilter {
            tags: tags(&[(BACKFILL_ID_TAG, stored.id())]),
            statuses: vec![sluice_core::run::RunStatus::Queued],
            ..Default::default()
        };
        assert_eq!(storage.count_runs(&filter).await.unwrap(), 1_500);
        let queued = storage.queued_runs(0, 2).await.unwrap();
        assert_eq!(queued[0].tags["dagster/partition"], "day-0000");
        let events = storage
            .events_for_run(&queued[0].run_id, None, None)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.event_type, EventType::RunEnqueued);

        // Canceled backfills take no more runs; statuses filter and page.
        let canceled = storage
            .set_backfill_status(other.id(), BackfillStatus::Canceled, None)
            .await
            .unwrap()
            .unwrap();
        assert!(canceled.end_timestamp.is_some());
        assert!(
            !storage
                .submit_backfill_runs(other.id(), 0..1, &[new_run("other")])
                .await
                .unwrap()
        );
        let requested = storage
            .backfills(&BackfillsFilter {
                statuses: vec![BackfillStatus::Requested],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(requested.len(), 1);
        assert_eq!(requested[0].id(), stored.id());
        let all = storage.backfills(&Default::default()).await.unwrap();
        assert_eq!(all[0].id(), other.id(), "newest first");
        let page = storage
            .backfills(&BackfillsFilter {
                cursor: Some(other.id().to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].id(), stored.id());
        // A backfill of ranges: runs of consecutive partitions, submitted run by run.
        let mut ranged = NewBackfill::new("demo", "__ASSET_JOB", days[..5].to_vec());
        ranged.runs = BackfillRuns::Ranges(vec![2, 3]);
        let ranged = storage.add_backfill(&ranged).await.unwrap();
        assert_eq!(
            ranged.pending_runs(),
            [&days[0..2], &days[2..5]],
            "the partitions of each run"
        );
        assert!(
            storage
                .submit_backfill_runs(ranged.id(), 0..2, &[new_run("__ASSET_JOB")])
                .await
                .unwrap()
        );
        let read = storage.backfill(ranged.id()).await.unwrap().unwrap();
        assert_eq!(read.spec, ranged.spec);
        assert_eq!(read.submitted, 2);
        assert_eq!(read.pending_runs(), [&days[2..5]]);
        storage
            .set_backfill_status(ranged.id(), BackfillStatus::Canceled, None)
            .await
            .unwrap();

        assert!(
            storage
                .set_backfill_status("nope", BackfillStatus::Canceled, None)
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn dynamic_partitions_are_added_once_listed_in_order_and_deleted(
        storage: Arc<dyn Storage>,
    ) {
        let keys = |names: &[&str]| names.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert!(
            storage
                .dynamic_partition_keys("datasets")
                .await
                .unwrap()
                .is_empty()
        );
        let added = storage
            .add_dynamic_partitions("datasets", &keys(&["roads", "parcels", "roads"]))
            .await
            .unwrap();
        assert_eq!(added, ["roads", "parcels"]);
        // Adding again adds only what is new; another set is separate.
        let added = storage
            .add_dynamic_partitions("datasets", &keys(&["parcels", "rivers"]))
            .await
            .unwrap();
        assert_eq!(added, ["rivers"]);
        storage
            .add_dynamic_partitions("regions", &keys(&["roads"]))
            .await
            .unwrap();
        assert_eq!(
            storage.dynamic_partition_keys("datasets").await.unwrap(),
            ["roads", "parcels", "rivers"]
        );
        // A bad key adds nothing, not even the good keys beside it.
        let err = storage
            .add_dynamic_partitions("datasets", &keys(&["lakes", "a|b"]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidPartitionKey { .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "dynamic partitions \"datasets\": partition key \"a|b\" is invalid: it contains '|'"
        );
        assert_eq!(
            storage
                .dynamic_partition_keys("datasets")
                .await
                .unwrap()
                .len(),
            3
        );
        // Many at once.
        let many: Vec<String> = (0..1_200).map(|i| format!("tile-{i:04}")).collect();
        assert_eq!(
            storage
                .add_dynamic_partitions("tiles", &many)
                .await
                .unwrap()
                .len(),
            1_200
        );
        assert_eq!(storage.dynamic_partition_keys("tiles").await.unwrap(), many);

        assert_eq!(
            storage
                .delete_dynamic_partitions("datasets", &keys(&["parcels", "lakes"]))
                .await
                .unwrap(),
            ["parcels"]
        );
        assert_eq!(
            storage.dynamic_partition_keys("datasets").await.unwrap(),
            ["roads", "rivers"]
        );
        assert_eq!(
            storage.dynamic_partition_keys("regions").await.unwrap(),
            ["roads"]
        );
    }

    pub async fn wiping_partitions_keeps_the_others_and_moves_the_latest(storage: Arc<SqlStorage>) {
        let daily = AssetKey::parse("events/daily").unwrap();
        let other = AssetKey::parse("events/other").unwrap();
        storage
            .store_events(&[
                materialization("r", "events/daily", Some("a"), 1),
                materialization("r", "events/daily", Some("b"), 2),
                materialization("r", "events/other", Some("c"), 30),
                materialization("r", "events/daily", Some("c"), 3),
            ])
            .await
            .unwrap();
        let latest_rows = |key: AssetKey| {
            let storage = Arc::clone(&storage);
            async move {
                storage
                    .latest_materialization(&key)
                    .await
                    .unwrap()
                    .as_ref()
                    .map(rows_of)
            }
        };
        assert_eq!(latest_rows(daily.clone()).await, Some(3));
        // Wiping the latest partition (and one that never existed) moves the latest back.
        storage
            .wipe_asset_partitions(&daily, &["c".to_owned(), "zz".to_owned()])
            .await
            .unwrap();
        assert_eq!(latest_rows(daily.clone()).await, Some(2));
        let partitions = storage
            .latest_materializations_by_partition(&daily)
            .await
            .unwrap();
        assert_eq!(partitions.keys().collect::<Vec<_>>(), ["a", "b"]);
        let history = storage
            .asset_materializations(&daily, &MaterializationsFilter::default())
            .await
            .unwrap();
        assert_eq!(history.iter().map(rows_of).collect::<Vec<_>>(), [2, 1]);
        // Another asset's partition of the same name is untouched.
        assert_eq!(latest_rows(other.clone()).await, Some(30));
        // Wiping every partition left takes the asset out of the catalog.
        storage
            .wipe_asset_partitions(&daily, &["a".to_owned(), "b".to_owned()])
            .await
            .unwrap();
        assert_eq!(latest_rows(daily.clone()).await, None);
        let keys: Vec<String> = storage
            .asset_entries(None)
            .await
            .unwrap()
            .iter()
            .map(|e| e.key.to_string())
            .collect();
        assert_eq!(keys, ["events/other"]);
        assert_eq!(
            storage.events_for_run("r", None, None).await.unwrap().len(),
            4
        );
    }

    pub async fn materializations_are_indexed_per_asset_and_partition(storage: Arc<SqlStorage>) {
        let daily = AssetKey::parse("events/daily").unwrap();
        let orders = AssetKey::parse("warehouse/orders").unwrap();
        // Two passes over 1,500 partitions, with other events and another asset between.
        for pass in 0..2_i64 {
            let mut batch = Vec::new();
            for p in 0..1_500_i64 {
                let partition = format!("p{p:04}");
                batch.push(event("r", EventType::StepStart, now_timestamp()));
                batch.push(materialization(
                    "r",
                    "events/daily",
                    Some(&partition),
                    pass * 10_000 + p,
                ));
            }
            batch.push(materialization("r", "warehouse/orders", None, pass));
            storage.store_events(&batch).await.unwrap();
        }
        let latest = storage
            .latest_materialization(&daily)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows_of(&latest), 11_499);
        let by_partition = storage
            .latest_materializations_by_partition(&daily)
            .await
            .unwrap();
        assert_eq!(by_partition.len(), 1_500);
        assert!(by_partition.iter().all(|(p, r)| {
            r.event.materialization().unwrap().partition.as_deref() == Some(p.as_str())
                && rows_of(r) >= 10_000
        }));
        assert_eq!(
            rows_of(
                &storage
                    .latest_materialization(&orders)
                    .await
                    .unwrap()
                    .unwrap()
            ),
            1
        );
        assert!(
            storage
                .latest_materializations_by_partition(&orders)
                .await
                .unwrap()
                .is_empty()
        );

        // History, newest first, by partition, with a cursor.
        let filter = MaterializationsFilter {
            partitions: vec!["p0007".into()],
            ..Default::default()
        };
        let history = storage
            .asset_materializations(&daily, &filter)
            .await
            .unwrap();
        assert_eq!(history.iter().map(rows_of).collect::<Vec<_>>(), [10_007, 7]);
        let older = MaterializationsFilter {
            before_id: Some(history[0].storage_id),
            limit: Some(1),
            ..filter.clone()
        };
        let page = storage
            .asset_materializations(&daily, &older)
            .await
            .unwrap();
        assert_eq!(page.iter().map(rows_of).collect::<Vec<_>>(), [7]);

        // Check evaluations are indexed by asset too, apart from materializations.
        let evaluation = |name: &str, passed: bool| {
            RunEvent::new("r", EventType::AssetCheckEvaluation, "checked").data(
                EventData::CheckEvaluation(Box::new(AssetCheckEvaluation {
                    asset_key: daily.clone(),
                    check_name: name.to_owned(),
                    passed,
                    severity: AssetCheckSeverity::Error,
                    metadata: Default::default(),
                    description: None,
                    partition: Some("p0007".into()),
                })),
            )
        };
        storage
            .store_events(&[
                evaluation("fresh", false),
                evaluation("rows", true),
                evaluation("fresh", true),
            ])
            .await
            .unwrap();
        let fresh = storage
            .asset_check_evaluations(&daily, Some("fresh"), 10)
            .await
            .unwrap();
        let passed: Vec<bool> = fresh
            .iter()
            .map(|r| r.event.check_evaluation().unwrap().passed)
            .collect();
        assert_eq!(passed, [true, false]);
        assert_eq!(
            storage
                .asset_check_evaluations(&daily, None, 2)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            storage
                .asset_materializations(&daily, &filter)
                .await
                .unwrap()
                .len(),
            2,
            "check evaluations are not materializations"
        );

        // A runless report counts like any materialization.
        storage
            .store_events(&[materialization("", "warehouse/orders", None, 99)])
            .await
            .unwrap();
        let entries = storage.asset_entries(None).await.unwrap();
        assert_eq!(
            entries
                .iter()
                .map(|e| e.key.to_string())
                .collect::<Vec<_>>(),
            ["events/daily", "warehouse/orders"]
        );
        assert_eq!(entries[1].last_run_id.as_deref(), Some(""));
        let ids: Vec<i64> = entries
            .iter()
            .filter_map(|e| e.last_materialization_event_id)
            .collect();
        let records = storage.events_by_id(&ids).await.unwrap();
        assert_eq!(
            records.iter().map(rows_of).collect::<Vec<_>>(),
            [11_499, 99]
        );

        // Wiping forgets the asset, and only that one; its events stay in the run's log.
        storage
            .wipe_assets(std::slice::from_ref(&daily))
            .await
            .unwrap();
        assert!(
            storage
                .latest_materialization(&daily)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            storage
                .asset_materializations(&daily, &MaterializationsFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            storage
                .latest_materializations_by_partition(&daily)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(storage.asset_entries(None).await.unwrap().len(), 1);
        assert_eq!(
            storage.events_for_run("r", None, None).await.unwrap().len(),
            6_005
        );
        // Materialized again after the wipe, it is back with only the new history.
        storage
            .store_events(&[materialization("r2", "events/daily", Some("p0001"), 5)])
            .await
            .unwrap();
        assert_eq!(
            storage
                .asset_materializations(&daily, &MaterializationsFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

// ---------------------------------------------------------------------------------------
// SQLite only
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fresh_file_opened_many_times_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sluice.db");
    suite::fresh_database_opened_many_times_at_once(Opener::Sqlite(path)).await;
}

/// Helper process of `sqlite_two_processes_open_a_fresh_file_at_once`.
#[tokio::test]
#[ignore = "run as a child process by sqlite_two_processes_open_a_fresh_file_at_once"]
async fn child_process_opens_sqlite() {
    let path = std::env::var("SLUICE_TEST_CHILD_DB").expect("SLUICE_TEST_CHILD_DB is set");
    let run_id = std::env::var("SLUICE_TEST_CHILD_RUN").expect("SLUICE_TEST_CHILD_RUN is set");
    let storage = SqlStorage::open_sqlite(Path::new(&path))
        .await
        .unwrap_or_else(|e| panic!("child could not open {path}: {e}"));
    let mut run = sluice_core::run::NewRun::new("child");
    run.run_id = run_id;
    storage
        .create_run(&run)
        .await
        .expect("child creates its run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_processes_open_a_fresh_file_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sluice.db");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<(String, std::process::Child)> = (0..4)
        .map(|i| {
            let run_id = format!("child-{i}");
            let child = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_opens_sqlite",
                    "--ignored",
                    "--quiet",
                ])
                .env("SLUICE_TEST_CHILD_DB", &path)
                .env("SLUICE_TEST_CHILD_RUN", &run_id)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child");
            (run_id, child)
        })
        .collect();
    for (run_id, child) in children {
        let out = child.wait_with_output().expect("child output");
        assert!(
            out.status.success(),
            "child {run_id} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("1 passed"),
            "child {run_id} ran no test: {stdout}"
        );
    }
    let storage = SqlStorage::open_sqlite(&path).await.expect("open");
    let all = storage
        .list_runs(&Default::default(), None, None)
        .await
        .expect("list");
    let mut ids: Vec<String> = all.into_iter().map(|r| r.run_id).collect();
    ids.sort();
    assert_eq!(ids, ["child-0", "child-1", "child-2", "child-3"]);
}

/// A run worker's commits never stop to checkpoint the write-ahead log, however large it
/// grows; a long-lived process copies it into the database in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_is_checkpointed_in_the_background_not_by_run_workers() {
    use sluice_core::events::{EventType, RunEvent};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sluice.db");
    let _server = SqlStorage::open_sqlite(&path).await.expect("open");
    let config = StorageConfig::Sqlite { path: path.clone() };
    let worker = SqlStorage::open_for_run_worker(&config)
        .await
        .expect("open for a run worker");
    let run = worker
        .create_run(&sluice_core::run::NewRun::new("big"))
        .await
        .expect("create run");
    // About 4 MB of events: past the 1,000 pages at which SQLite's default would make
    // this commit checkpoint.
    let events: Vec<RunEvent> = (0..2000)
        .map(|i| RunEvent::new(&run.run_id, EventType::EngineEvent, format!("{i:02000}")))
        .collect();
    let db_len = || std::fs::metadata(&path).expect("database file").len();
    let before = db_len();
    worker.store_events(&events).await.expect("store events");
    assert!(
        db_len() < before + 1_000_000,
        "the worker's commit left the log to the checkpointer ({before} -> {} bytes)",
        db_len()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db_len() < 4_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not checkpointed within 10 s ({} bytes)",
            db_len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        worker
            .events_for_run(&run.run_id, None, None)
            .await
            .expect("events")
            .len(),
        2000
    );
}

#[tokio::test]
async fn sqlite_unusable_path_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let err = SqlStorage::open_sqlite(&file.join("sluice.db"))
        .await
        .expect_err("a file is not a directory");
    assert!(err.to_string().contains("a-file"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Postgres only
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fresh_database_opened_many_times_at_once() {
    let db = PgDb::create().await;
    let result = tokio::spawn(suite::fresh_database_opened_many_times_at_once(
        Opener::Postgres(db.url.clone()),
    ))
    .await;
    db.drop().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn postgres_unreachable_server_is_reported_without_password() {
    // Nothing listens on port 1 of the loopback interface.
    let url = "postgres://sluice:hunter2@127.0.0.1:1/sluice";
    let started = std::time::Instant::now();
    let err = SqlStorage::open_postgres(url)
        .await
        .expect_err("nothing listens there");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "reported promptly"
    );
    assert!(matches!(err, StorageError::Connect { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("postgres://sluice:***@127.0.0.1:1/sluice"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));

    for malformed in [
        "postgres://u:hunter2@db:notaport/x",
        "postgres://u:hunter2@db/x?sslmode=sometimes",
        "postgres://u:hunter2@[::1/x",
    ] {
        let err = SqlStorage::open_postgres(malformed)
            .await
            .expect_err("malformed URL");
        assert!(matches!(err, StorageError::InvalidUrl { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    }
    let err = SqlStorage::open_postgres("mysql://root:hunter2@localhost/x")
        .await
        .expect_err("not a postgres URL");
    assert!(matches!(err, StorageError::InvalidUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn postgres_wrong_password_is_reported_without_password() {
    let url = with_database(&admin_url(), "sluice_test");
    let Some(at) = url.rfind('@') else {
        panic!(
            "SLUICE_TEST_POSTGRES_URL has no user info: {}",
            redact_url(&url)
        );
    };
    let start = url.find("://").map_or(0, |i| i + 3);
    let user = url[start..at].split(':').next().unwrap_or("sluice");
    let bad = format!("postgres://{user}:wrong-secret{}", &url[at..]);
    let err = SqlStorage::open_postgres(&bad)
        .await
        .expect_err("bad password");
    let message = err.to_string();
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains("wrong-secret"), "{message}");
}

// ---------------------------------------------------------------------------------------
// Instance config
// ---------------------------------------------------------------------------------------

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn home_with(file: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    if let Some(text) = file {
        std::fs::write(home.join("sluice.yaml"), text).expect("write sluice.yaml");
    }
    (dir, home)
}

fn load(home: &Path, extra: &[(&str, &str)]) -> Result<StorageConfig, StorageError> {
    let home_str = home.to_string_lossy().into_owned();
    let mut pairs = vec![("SLUICE_HOME", home_str.as_str())];
    pairs.extend_from_slice(extra);
    StorageConfig::load(&env_of(&pairs))
}

#[test]
fn config_defaults_to_sqlite_in_sluice_home() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("not").join("yet");
    let config = load(&home, &[]).expect("config");
    assert_eq!(
        config,
        StorageConfig::Sqlite {
            path: home.join("sluice.db")
        }
    );
    assert!(home.is_dir(), "SLUICE_HOME is created");

    // A file without a storage section (or empty) changes nothing.
    let (_d, home) = home_with(Some("# nothing yet\n"));
    assert_eq!(
        load(&home, &[]).expect("config"),
        StorageConfig::Sqlite {
            path: home.join("sluice.db")
        }
    );
}

#[test]
fn config_sqlite_base_dir() {
    let (_d, home) = home_with(Some("storage:\n  sqlite:\n    base_dir: data\n"));
    assert_eq!(
        load(&home, &[]).expect("config"),
        StorageConfig::Sqlite {
            path: home.join("data").join("sluice.db")
        }
    );
    let (_d, home) = home_with(Some("storage:\n  sqlite:\n    base_dir: ${DATA_DIR}/x\n"));
    assert_eq!(
        load(&home, &[("DATA_DIR", "/srv/sluice")]).expect("config"),
        StorageConfig::Sqlite {
            path: PathBuf::from("/srv/sluice/x/sluice.db")
        }
    );
}

#[test]
fn config_postgres_url_with_env_interpolation() {
    let (_d, home) = home_with(Some(
        "storage:\n  postgres:\n    postgres_url: \"postgres://sluice:${PG_PASSWORD}@db:5432/sluice\"\n",
    ));
    let config = load(&home, &[("PG_PASSWORD", "s3cr3t")]).expect("config");
    assert_eq!(
        config,
        StorageConfig::Postgres {
            url: "postgres://sluice:s3cr3t@db:5432/sluice".into()
        }
    );
    let shown = format!("{config} {config:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(
        shown.contains("postgres://sluice:***@db:5432/sluice"),
        "{shown}"
    );
}

#[test]
fn config_postgres_db_parts() {
    let (_d, home) = home_with(Some(
        "storage:\n  postgres:\n    postgres_db:\n      username: ${PG_USER}\n      password: \"p@ss:word\"\n      hostname: db.internal\n      db_name: sluice\n      port: 6543\n",
    ));
    let config = load(&home, &[("PG_USER", "app")]).expect("config");
    assert_eq!(
        config,
        StorageConfig::Postgres {
            url: "postgres://app:p%40ss%3Aword@db.internal:6543/sluice".into()
        }
    );
    assert!(!format!("{config:?}").contains("p%40ss"));

    // Port from the environment, and the default port.
    let (_d, home) = home_with(Some(
        "storage:\n  postgres:\n    postgres_db: {username: u, hostname: h, db_name: d, port: \"${PGPORT}\"}\n",
    ));
    assert_eq!(
        load(&home, &[("PGPORT", "5433")]).expect("config"),
        StorageConfig::Postgres {
            url: "postgres://u@h:5433/d".into()
        }
    );
    let (_d, home) = home_with(Some(
        "storage:\n  postgres:\n    postgres_db: {username: u, password: pw, hostname: h, db_name: d}\n",
    ));
    assert_eq!(
        load(&home, &[]).expect("config"),
        StorageConfig::Postgres {
            url: "postgres://u:pw@h:5432/d".into()
        }
    );
}

#[test]
fn config_env_url_overrides_the_file() {
    let (_d, home) = home_with(Some("storage:\n  sqlite:\n    base_dir: data\n"));
    let config = load(&home, &[("SLUICE_POSTGRES_URL", "postgres://u:pw@h/d")]).expect("config");
    assert_eq!(
        config,
        StorageConfig::Postgres {
            url: "postgres://u:pw@h/d".into()
        }
    );
    // Without a file too.
    let (_d, home) = home_with(None);
    let config = load(&home, &[("SLUICE_POSTGRES_URL", "postgres://u@h/d")]).expect("config");
    assert!(matches!(config, StorageConfig::Postgres { .. }));
}

#[test]
fn config_bad_yaml_reports_file_line_and_column() {
    let (_d, home) = home_with(Some("storage:\n  sqlite:\n    base_dir: [unclosed\n"));
    let err = load(&home, &[]).expect_err("bad yaml");
    let file = home.join("sluice.yaml");
    match &err {
        StorageError::ConfigSyntax { path, line, .. } => {
            assert_eq!(path, &file);
            assert!(*line >= 3, "line {line}");
        }
        other => panic!("expected ConfigSyntax, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}:", file.display())),
        "{message}"
    );

    let (_d, home) = home_with(Some("storage:\n  sqlite:\n  base_dir: x\n   bad: indent\n"));
    let err = load(&home, &[]).expect_err("bad indentation");
    assert!(matches!(err, StorageError::ConfigSyntax { .. }), "{err:?}");
}

#[test]
fn config_unknown_key_is_an_error() {
    let (_d, home) = home_with(Some(
        "storage:\n  postgres:\n    postgres_url: postgres://h/d\n    pool_size: 3\n",
    ));
    let err = load(&home, &[]).expect_err("unknown key");
    let message = err.to_string();
    assert!(
        matches!(err, StorageError::ConfigSyntax { line: 4, .. }),
        "{message}"
    );
    assert!(message.contains("pool_size"), "{message}");
    assert!(message.contains(":4:"), "{message}");

    let (_d, home) = home_with(Some(
        "storage:\n  sqlite:\n    base_dir: x\nrun_queue: {}\n",
    ));
    let err = load(&home, &[]).expect_err("unknown top-level key");
    assert!(err.to_string().contains("run_queue"), "{err}");

    let (_d, home) = home_with(Some("storage:\n  mysql:\n    url: x\n"));
    let err = load(&home, &[]).expect_err("unknown backend");
    assert!(err.to_string().contains("mysql"), "{err}");

    let (_d, home) = home_with(Some(
        "storage:\n  sqlite: {base_dir: a}\n  postgres: {postgres_url: postgres://h/d}\n",
    ));
    let err = load(&home, &[]).expect_err("two backends");
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn config_missing_env_var_is_named() {
    let (_d, home) = home_with(Some(
        "storage:\n  postgres:\n    postgres_url: \"postgres://u:${PG_SECRET_PASSWORD}@h/d\"\n",
    ));
    let err = load(&home, &[]).expect_err("missing variable");
    match &err {
        StorageError::MissingEnvVar { path, var, key } => {
            assert_eq!(path, &home.join("sluice.yaml"));
            assert_eq!(var, "PG_SECRET_PASSWORD");
            assert_eq!(key, "storage.postgres.postgres_url");
        }
        other => panic!("expected MissingEnvVar, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("PG_SECRET_PASSWORD"), "{message}");
    assert!(message.contains("sluice.yaml"), "{message}");
}

#[test]
fn storage_error_messages_are_actionable() {
    let err = StorageError::DuplicateRun {
        run_id: "abc".into(),
    };
    assert!(err.to_string().contains("abc"));
    let config = StorageConfig::Postgres {
        url: "postgresql://admin:topsecret@db/sluice?sslmode=require".into(),
    };
    assert_eq!(
        config.to_string(),
        "postgresql://admin:***@db/sluice?sslmode=require"
    );
    assert!(!format!("{config:?}").contains("topsecret"));
}
