//! `sluice-bench resources`: what setting a resource up costs a run, cold (the first in
//! the process) and warm (every later one), through the same path as a run:
//! `Resources::setup` with the run's config, then teardown.
//!
//! Needs the test servers: Postgres with PostGIS (`tests/services/postgres.sh`), MongoDB
//! (`$SLUICE_TEST_MONGO_URI`, or one started here with `tests/services/mongo.sh`) and S3
//! (as for `upload`). The HTTP API is a local axum server started here.

use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sluice_core::resource::{ConfigurableResource, ResourceDefinition, Resources};
use sluice_resources::http::HttpApiResource;
use sluice_resources::mongo::MongoResource;
use sluice_resources::postgis::PostGisResource;
use sluice_resources::postgres::PostgresResource;
use sluice_resources::s3::S3Resource;

use crate::uploads;

/// Setup times in milliseconds: the first, then the median and p99 of the warm ones.
struct Setup {
    first: f64,
    median: f64,
    p99: f64,
}

impl Setup {
    /// The figures of `times` (at least two), in the order they were taken.
    fn of(times: Vec<f64>) -> Self {
        let mut warm = times[1..].to_vec();
        warm.sort_by(f64::total_cmp);
        let p99 = warm[((warm.len() as f64 * 0.99) as usize).min(warm.len() - 1)];
        Self {
            first: times[0],
            median: crate::median(warm),
            p99,
        }
    }
}

/// Set up and tear down an `R` with `config` `runs` times.
async fn measure<R: ConfigurableResource>(config: &Value, runs: usize) -> Result<Setup> {
    let def = ResourceDefinition::new::<R>();
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let wanted = vec![("resource".to_owned(), def.clone(), config.clone())];
        let run_id = format!("bench-run-{run}");
        let started = Instant::now();
        let resources = Resources::setup(wanted, Some(&run_id))
            .await
            .map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if let Some((key, e)) = resources.teardown().await.into_iter().next() {
            anyhow::bail!("teardown of {key}: {e}");
        }
    }
    Ok(Setup::of(times))
}

fn mongo_uri() -> Result<(String, Option<uploads::Moto>)> {
    if let Ok(uri) = std::env::var("SLUICE_TEST_MONGO_URI") {
        return Ok((uri, None));
    }
    let pidfile =
        std::env::temp_dir().join(format!("sluice-bench-mongo-{}.pid", std::process::id()));
    let out = std::process::Command::new("bash")
        .args(["tests/services/mongo.sh", "target/py-venv"])
        .arg(&pidfile)
        .output()
        .context("running tests/services/mongo.sh (run from the repository root)")?;
    anyhow::ensure!(
        out.status.success(),
        "tests/services/mongo.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = std::fs::read_to_string(&pidfile)?.trim().to_owned();
    Ok((
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Some(uploads::Moto::new(pid)),
    ))
}

pub(crate) fn bench(runs: usize, postgres: Option<String>, endpoint: Option<String>) -> Result<()> {
    let postgres = postgres
        .or_else(|| std::env::var("SLUICE_TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| "postgres://sluice:sluice@127.0.0.1:5432/sluice_test".to_owned());
    let (endpoint, _moto) = uploads::s3_server(endpoint)?;
    let (mongo, _mongo_server) = mongo_uri()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "# sluice-bench resources: setup per run, {runs} runs in one process (target ≤ 1 ms warm)"
    );
    runtime.block_on(async {
        let bucket = format!("bench-resources-{}", std::process::id());
        uploads::create_bucket(&endpoint, &bucket).await?;
        let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });

        let rows: Vec<(&str, Result<Setup>)> = vec![
            ("PostgresResource", measure::<PostgresResource>(&json!({"url": postgres}), runs).await),
            (
                "PostGisResource (the run schema is made on first use)",
                measure::<PostGisResource>(&json!({"postgres": {"url": postgres}}), runs).await,
            ),
            (
                "MongoResource",
                measure::<MongoResource>(&json!({"uri": mongo, "database": "bench"}), runs).await,
            ),
            (
                "S3Resource",
                measure::<S3Resource>(
                    &json!({"url": format!("s3://{bucket}"), "endpoint": endpoint, "allow_http": true,
                            "region": "us-east-1", "access_key_id": "bench", "secret_access_key": "bench"}),
                    runs,
                )
                .await,
            ),
            (
                "HttpApiResource",
                measure::<HttpApiResource>(&json!({"base_url": api, "auth": {"bearer": {"token": "t"}}}), runs).await,
            ),
        ];
        #[cfg(feature = "ladybug")]
        let rows = {
            let mut rows = rows;
            rows.extend(graph(runs).await);
            rows
        };
        for (name, result) in rows {
            match result {
                Ok(Setup { first, median, p99 }) => println!(
                    "{name}: first {first:.3} ms, warm median {median:.3} ms, warm p99 {p99:.3} ms"
                ),
                Err(e) => println!("{name}: failed: {e:#}"),
            }
        }
        Ok(())
    })
}

/// The graph resource (with the `ladybug` feature): its setup per run, then opening a
/// tenant's database in each run (a run opens it, its teardown closes it).
#[cfg(feature = "ladybug")]
async fn graph(runs: usize) -> Vec<(&'static str, Result<Setup>)> {
    use sluice_resources::graph::{GraphConfig, GraphResource};
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return vec![("GraphResource", Err(e.into()))],
    };
    let config = json!({"path": dir.path().display().to_string(), "buffer_pool_mb": 64});
    let setup = measure::<GraphResource>(&config, runs).await;
    let open = async {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let mut config = GraphConfig::new(dir.path().display().to_string());
            config.buffer_pool_mb = 64;
            let graphs = GraphResource::new(config)?;
            let started = Instant::now();
            graphs.graph("acme").await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(Setup::of(times))
    };
    vec![
        ("GraphResource", setup),
        (
            "GraphResource::graph (opening a tenant's database in a run)",
            open.await,
        ),
    ]
}
