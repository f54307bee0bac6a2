//! The Postgres resource against the local server that `tests/run.sh` starts
//! (`tests/services/postgres.sh`), or `$SLUICE_TEST_POSTGRES_URL`. Each test works in a
//! schema of its own and drops it. Without a server the tests fail; they never skip.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sluice_core::config::{EnvVar, StringSource};
use sluice_core::resource::ConfigurableResource;
use sluice_resources::postgres::{CopyFormat, PostgresConfig, PostgresError, PostgresResource};

mod common;

fn url() -> String {
    common::postgres_url()
}

async fn connect(config: PostgresConfig) -> PostgresResource {
    PostgresResource::connect(&config).await.unwrap_or_else(|e| {
        panic!("{e}: start Postgres with tests/services/postgres.sh (as root), or set SLUICE_TEST_POSTGRES_URL")
    })
}

/// A schema no other test uses.
fn schema(name: &str) -> String {
    format!(
        "sluice_res_{name}_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    )
}

async fn count(pg: &PostgresResource, table: &str) -> i64 {
    let row = pg
        .query_one(&format!("SELECT count(*) AS n FROM {table}"), [])
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn runs_statements_transactions_and_bulk_copies_with_a_statement_timeout() {
    let pg = connect(PostgresConfig {
        statement_timeout_seconds: Some(0.5),
        ..PostgresConfig::url(url().as_str())
    })
    .await;
    pg.health_check().await.unwrap();
    let s = schema("ops");
    let ledger = format!("{s}.ledger");
    pg.execute_script(&format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {ledger} (id bigint PRIMARY KEY, customer text NOT NULL, cents bigint NOT NULL);"
    ))
    .await
    .unwrap();

    let inserted = pg
        .execute(
            &format!("INSERT INTO {ledger} VALUES ($1, $2, $3), ($4, $5, $6)"),
            [
                1_i64.into(),
                "ada".into(),
                1_250_i64.into(),
                2_i64.into(),
                "grace".into(),
                4_000_i64.into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    let rows = pg
        .query_all(
            &format!("SELECT customer, cents FROM {ledger} WHERE cents > $1 ORDER BY id"),
            [1_000_i64.into()],
        )
        .await
        .unwrap();
    let found: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "customer").unwrap(),
                r.try_get("", "cents").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [("ada".to_owned(), 1_250), ("grace".to_owned(), 4_000)]
    );

    // A transaction dropped without commit leaves nothing; a committed one stays.
    let insert = |id: i64| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("INSERT INTO {ledger} VALUES ($1, 'alan', 10)"),
            [id.into()],
        )
    };
    {
        let txn = pg.transaction().await.unwrap();
        txn.execute_raw(insert(3)).await.unwrap();
    }
    assert_eq!(count(&pg, &ledger).await, 2);
    let txn = pg.transaction().await.unwrap();
    txn.execute_raw(insert(4)).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(count(&pg, &ledger).await, 3);

    // COPY: 10,000 rows of CSV, quoting included.
    let csv: String = (100..10_100)
        .map(|i| format!("{i},\"customer, {i}\",{}\n", i * 10))
        .collect();
    let loaded = pg
        .copy_in(
            &ledger,
            &["id", "customer", "cents"],
            CopyFormat::Csv,
            csv.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(loaded, 10_000);
    assert_eq!(count(&pg, &ledger).await, 10_003);
    // A COPY that fails part-way loads nothing.
    let err = pg
        .copy_in(
            &ledger,
            &["id", "customer", "cents"],
            CopyFormat::Csv,
            b"20000,x,1\n1,dup,2\n",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
    assert_eq!(count(&pg, &ledger).await, 10_003);

    // The statement timeout stops a long statement.
    let started = Instant::now();
    let err = pg.execute("SELECT pg_sleep(5)", []).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("statement timeout"), "{err}");

    // A bad statement says what failed, and where.
    let err = pg
        .query_all(&format!("SELECT nope FROM {ledger}"), [])
        .await
        .unwrap_err();
    assert!(matches!(err, PostgresError::Query { .. }));
    let text = err.to_string();
    assert!(text.contains("column \"nope\" does not exist"), "{text}");
    assert!(
        text.contains(&format!("(in: SELECT nope FROM {ledger})")),
        "{text}"
    );

    pg.execute_script(&format!("DROP SCHEMA {s} CASCADE"))
        .await
        .unwrap();
    pg.teardown().await.unwrap();
    assert!(pg.health_check().await.is_err(), "closed after teardown");
}

#[tokio::test]
async fn bad_servers_credentials_and_config_are_clear_errors_without_the_password() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = PostgresResource::connect(&PostgresConfig::url(
        format!("postgres://sluice:pw-not-shown@127.0.0.1:{closed}/sluice_test").as_str(),
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.starts_with(&format!(
            "cannot connect to postgres://sluice@127.0.0.1:{closed}/sluice_test: "
        )),
        "{err}"
    );
    assert!(!err.contains("pw-not-shown"), "{err}");

    // A wrong password, given in parts.
    let parsed = url::Url::parse(&url()).unwrap();
    let err = PostgresResource::connect(
        &PostgresConfig {
            host: parsed.host_str().map(str::to_owned),
            port: parsed.port(),
            user: Some(parsed.username().to_owned()),
            password: Some(StringSource::from("wrong-secret-pw")),
            database: Some(parsed.path().trim_start_matches('/').to_owned()),
            ..PostgresConfig::url("unused")
        }
        .without_url(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("wrong-secret-pw"), "{err}");

    for (config, message) in [
        (
            PostgresConfig {
                host: Some("localhost".into()),
                ..PostgresConfig::url(url().as_str())
            },
            "give either url or host/port/user/password/database, not both",
        ),
        (
            PostgresConfig::url("unused").without_url(),
            "give url, or host and database",
        ),
        (
            PostgresConfig::url("mysql://u:topsecret@db/x"),
            "url mysql://u:***@db/x is not a postgres:// URL",
        ),
        (
            PostgresConfig::url(EnvVar::new("SLUICE_TEST_UNSET_PG_URL_9A1")),
            "environment variable \"SLUICE_TEST_UNSET_PG_URL_9A1\" is not set",
        ),
        (
            PostgresConfig {
                statement_timeout_seconds: Some(-1.0),
                ..PostgresConfig::url(url().as_str())
            },
            "statement_timeout_seconds must be a non-negative number of seconds",
        ),
    ] {
        let err = PostgresResource::connect(&config)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
    }
}

trait WithoutUrl {
    fn without_url(self) -> Self;
}

impl WithoutUrl for PostgresConfig {
    fn without_url(mut self) -> Self {
        self.url = None;
        self
    }
}

/// Runs in one process that set the resource up with the same config share its pool:
/// the first run's teardown leaves it open for the next.
#[tokio::test]
async fn runs_in_one_process_share_the_warm_pool() {
    use sluice_core::resource::{ResourceDefinition, Resources};
    let def = ResourceDefinition::new::<PostgresResource>();
    let config = serde_json::json!({"url": url(), "max_connections": 2});
    let wanted = || vec![("pg".to_owned(), def.clone(), config.clone())];
    let first = Resources::setup(wanted(), Some("run-1")).await.unwrap();
    let pg = first.get::<PostgresResource>("pg").unwrap();
    pg.health_check().await.unwrap();
    let options = pg.pool().connect_options();
    assert!(first.teardown().await.is_empty());

    let second = Resources::setup(wanted(), Some("run-2")).await.unwrap();
    let pg = second.get::<PostgresResource>("pg").unwrap();
    pg.health_check().await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&options, &pg.pool().connect_options()),
        "the same pool"
    );
    assert!(second.teardown().await.is_empty());
}
