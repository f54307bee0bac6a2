//! Prints what instance storage costs on the hot paths:
//!
//! - opening an existing SQLite instance (connect + migration check), as every CLI
//!   command and run worker does;
//! - storing one batch of 300 events (a 100-step run's worth);
//! - a whole 100-step run through an `EventWriter` (create, 300 events, close).
//!
//! `cargo run --release -p sluice-storage --example storage_timing`
//! Set `SLUICE_BENCH_POSTGRES_URL` to time a Postgres database as well (it must exist
//! and may be written to).

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::events::{EventSink, EventType, RunEvent};
use sluice_core::run::NewRun;
use sluice_storage::prelude::*;
use sluice_storage::{EventWriter, SqlStorage, StorageConfig};

fn run_events(run_id: &str) -> Vec<RunEvent> {
    let mut events = vec![RunEvent::new(
        run_id,
        EventType::RunStart,
        "Started execution",
    )];
    for step in 0..99 {
        let key = format!("op_{step}");
        events.push(RunEvent::new(run_id, EventType::StepStart, "Started").step(&key));
        events.push(RunEvent::new(run_id, EventType::StepOutput, "Yielded result").step(&key));
        events.push(RunEvent::new(run_id, EventType::StepSuccess, "Finished").step(&key));
    }
    events.push(RunEvent::new(
        run_id,
        EventType::RunSuccess,
        "Finished execution",
    ));
    events
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "min {:.2} ms, median {:.2} ms, max {:.2} ms ({} runs)",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

async fn hot_paths(label: &str, config: &StorageConfig) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let storage = SqlStorage::open(config).await?;
    println!(
        "{label}: first open in this process: {:.2} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    storage.close().await?;

    let mut opens = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let storage = SqlStorage::open(config).await?;
        opens.push(t.elapsed());
        storage.close().await?;
    }
    println!(
        "{label}: open existing (connect + migration check): {}",
        summary(opens)
    );

    let storage: Arc<SqlStorage> = Arc::new(SqlStorage::open(config).await?);
    let mut batches = Vec::new();
    for _ in 0..20 {
        let run = storage.create_run(&NewRun::new("bench")).await?;
        let events = run_events(&run.run_id);
        let t = Instant::now();
        storage.store_events(&events).await?;
        batches.push(t.elapsed());
    }
    println!(
        "{label}: store_events, one batch of 300: {}",
        summary(batches)
    );

    let mut whole = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let run = storage.create_run(&NewRun::new("bench")).await?;
        let writer = EventWriter::spawn(storage.clone());
        for event in run_events(&run.run_id) {
            writer.emit(event);
        }
        writer.close().await?;
        whole.push(t.elapsed());
    }
    println!(
        "{label}: 100-step run through EventWriter (create + 300 events + close): {}",
        summary(whole)
    );
    storage.close().await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("sluice-timing-{}", std::process::id()));
    let path = dir.join("sluice.db");
    let t = Instant::now();
    SqlStorage::open_sqlite(&path).await?.close().await?;
    println!(
        "sqlite: create + migrate a fresh file: {:.2} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let result = hot_paths("sqlite", &StorageConfig::Sqlite { path }).await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;

    if let Ok(url) = std::env::var("SLUICE_BENCH_POSTGRES_URL") {
        hot_paths("postgres", &StorageConfig::Postgres { url }).await?;
    }
    Ok(())
}
