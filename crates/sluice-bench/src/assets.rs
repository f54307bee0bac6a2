//! `sluice-bench assets`: a location of many assets (default 10,000 in 100 groups).
//!
//! 1. Definition load + snapshot, in process: building and validating the definitions
//!    (asset graph, asset jobs) and turning them into the snapshot the code server sends
//!    (and its JSON).
//! 2. `assetNodes` for every asset through the real `sluice-webserver` process, whose
//!    location is served by this binary (`serve-assets`); then the webserver's and a
//!    `sluice-daemon`'s memory with that workspace loaded.
//! 3. The latest materialization of one asset with `--events` materialization events
//!    stored (SQLite), timed over many keys.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sluice_core::asset::AssetKey;
use sluice_core::events::{AssetMaterialization, EventData, EventType, RunEvent};
use sluice_core::metadata::MetadataValue;
use sluice_core::prelude::*;
use sluice_storage::StorageConfig;
use sluice_storage::prelude::*;

use crate::child::sluice_process;
use crate::median;
use crate::processes::process_memory;

const LOCATION: &str = "assets_bench";

fn key_of(i: usize, groups: usize) -> String {
    format!("group_{:03}/asset_{i:05}", i % groups)
}

/// `count` assets in `groups` groups; within a group each asset reads the one before
/// it, and each group's first asset also depends on the previous group's first.
fn definitions(count: usize, groups: usize) -> Result<Definitions> {
    let assets = (0..count).map(|i| {
        let mut asset = AssetDefinition::builder(&key_of(i, groups))
            .group(format!("group_{:03}", i % groups))
            .description("A benchmark asset.")
            .tag("tier", if i % 2 == 0 { "gold" } else { "silver" });
        if i >= groups {
            asset = asset.input_named::<i64>("upstream", &key_of(i - groups, groups));
        } else if i > 0 {
            asset = asset.dep(&key_of(i - 1, groups));
        }
        asset.compute(|_, _| async { Ok(1_i64) })
    });
    Ok(Definitions::builder()
        .assets(assets)
        .asset_job(define_asset_job(
            "gold",
            AssetSelection::parse("tag:tier=gold").expect("valid selection"),
        ))
        .build()?)
}

/// The `serve-assets` subcommand.
pub(crate) fn serve(count: usize, groups: usize) -> Result<()> {
    crate::child::serve(LOCATION, &definitions(count, groups)?)
}

pub(crate) fn bench(
    count: usize,
    groups: usize,
    events: usize,
    repeat: usize,
    dagster: bool,
) -> Result<()> {
    println!("# sluice-bench assets: {count} assets in {groups} groups");
    let sluice_ms = load_and_snapshot(count, groups, repeat)?;
    if dagster {
        dagster_load(count, groups, sluice_ms)?;
    }
    webserver(count, groups, repeat)?;
    latest_materialization(events, groups)?;
    Ok(())
}

/// The same graph loaded by Dagster (`dagster/assets_load.py`, three times), and how
/// many times Sluice's `sluice_ms` that is.
fn dagster_load(count: usize, groups: usize, sluice_ms: f64) -> Result<()> {
    let venv = std::env::var("DAGSTER_VENV").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/sluice-ref/dagster-venv")
    });
    let python = std::path::Path::new(&venv).join("bin/python");
    if !python.is_file() {
        bail!(
            "Dagster is not installed at {venv}; run ../shared/reference/dagster/setup.sh \
             (or set DAGSTER_VENV)"
        );
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dagster/assets_load.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args([count.to_string(), groups.to_string(), "3".to_owned()])
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    println!("{line}");
    let total = line
        .split(" = ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|ms| ms.parse::<f64>().ok())
        .context("reading the Dagster total")?;
    println!(
        "definition load + snapshot: Dagster / Sluice = {:.0}x",
        total / sluice_ms
    );
    Ok(())
}

/// The median definition load + snapshot, in ms.
fn load_and_snapshot(count: usize, groups: usize, repeat: usize) -> Result<f64> {
    let (mut load, mut snap, mut json, mut bytes) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..repeat {
        let t = Instant::now();
        let defs = definitions(count, groups)?;
        load.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let snapshot = defs.snapshot(LOCATION);
        snap.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        bytes = serde_json::to_vec(&snapshot)?.len();
        json.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (load, snap, json) = (median(load), median(snap), median(json));
    println!(
        "definition load {load:.1} ms + snapshot {snap:.1} ms = {:.1} ms (target ≤ 200 ms); snapshot as JSON {json:.1} ms more, {:.1} MB",
        load + snap,
        bytes as f64 / 1e6
    );
    Ok(load + snap)
}

const ASSET_NODES: &str = "query { assetNodes { id assetKey { path } groupName description opName jobNames isMaterializable dependencyKeys { path } dependedByKeys { path } tags { key value } } }";

fn webserver(count: usize, groups: usize, repeat: usize) -> Result<()> {
    let home = tempfile::tempdir()?;
    let args = [
        "serve-assets".to_owned(),
        "--count".to_owned(),
        count.to_string(),
        "--groups".to_owned(),
        groups.to_string(),
    ];
    let (server, _) = crate::child::code_server(home.path(), &args, LOCATION)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let web = sluice_process("sluice-webserver", &["-p", &port.to_string()], home.path())?;
    let daemon = sluice_process("sluice-daemon", &["run"], home.path())?;
    let url = format!("http://127.0.0.1:{port}/graphql");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let times = runtime.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("the webserver did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut times = Vec::new();
        // The first query is a warm-up (connections, the workspace's first snapshot).
        for _ in 0..=repeat {
            let t = Instant::now();
            let answer: Value = http
                .post(&url)
                .json(&json!({"query": ASSET_NODES}))
                .send()
                .await?
                .json()
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if let Some(errors) = answer.get("errors") {
                bail!("GraphQL errors: {errors}");
            }
            let n = answer["data"]["assetNodes"].as_array().map_or(0, Vec::len);
            if n != count {
                bail!("assetNodes returned {n} assets, expected {count}");
            }
        }
        Ok(times)
    })?;
    println!(
        "assetNodes for all {count} assets over HTTP: median {:.1} ms of {repeat} (first {:.1} ms) (target ≤ 300 ms)",
        median(times[1..].to_vec()),
        times[0]
    );
    std::thread::sleep(Duration::from_secs(5));
    for (who, child) in [
        ("webserver", &web),
        ("daemon", &daemon),
        ("code server", &server),
    ] {
        let (_, memory) = process_memory(child.0.id()).context("process gone")?;
        println!(
            "{who} with the {count}-asset workspace loaded: RSS {:.1} MB",
            memory.rss_kb as f64 / 1024.0
        );
    }
    Ok(())
}

fn latest_materialization(events: usize, groups: usize) -> Result<()> {
    let home = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = sluice_storage::open(&StorageConfig::Sqlite {
            path: home.path().join("sluice.db"),
        })
        .await?;
        let keys = 1_000.min(events.max(1));
        let t = Instant::now();
        let batch = 10_000;
        let mut stored = 0;
        while stored < events {
            let n = batch.min(events - stored);
            let chunk: Vec<RunEvent> = (stored..stored + n)
                .map(|i| {
                    let key = AssetKey::parse(&key_of(i % keys, groups)).expect("valid key");
                    let mut m = AssetMaterialization::new(key);
                    m.metadata.insert("row".into(), MetadataValue::Int(i as i64));
                    RunEvent::new("bench-run", EventType::AssetMaterialization, "materialized")
                        .data(EventData::Materialization(Box::new(m)))
                })
                .collect();
            storage.store_events(&chunk).await?;
            stored += n;
        }
        println!(
            "stored {events} materializations of {keys} assets in {:.1} s ({:.0} events/s)",
            t.elapsed().as_secs_f64(),
            events as f64 / t.elapsed().as_secs_f64()
        );
        let mut times = Vec::new();
        for round in 0..3 {
            for k in 0..keys {
                let key = AssetKey::parse(&key_of(k, groups))?;
                let t = Instant::now();
                let latest = storage.latest_materialization(&key).await?;
                if round > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                latest.context("a stored asset has a latest materialization")?;
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "latest materialization of one key with {events} stored: median {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} reads (target ≤ 2 ms)",
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            times[times.len() - 1],
            times.len()
        );
        Ok(())
    })
}
