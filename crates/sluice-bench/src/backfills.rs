//! `sluice-bench backfill`: a backfill of many daily partitions, from its creation until
//! every partition has its QUEUED run, through the backfill daemon on a durable SQLite
//! instance (`sluice dev`'s default).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use sluice_core::chrono::Utc;
use sluice_core::partition::{PartitionsContext, PartitionsDefinition};
use sluice_daemon::BackfillDaemon;
use sluice_storage::{
    BACKFILL_ID_TAG, BackfillStatus, NewBackfill, RunsFilter, Storage, StorageConfig, Wakeup,
};

pub(crate) fn bench(partitions: usize, repeat: usize) -> Result<()> {
    // Enough days back that the definition has `partitions` of them.
    let start = (Utc::now() - sluice_core::chrono::Duration::days(partitions as i64 + 1))
        .format("%Y-%m-%d")
        .to_string();
    let daily: PartitionsDefinition = PartitionsDefinition::daily(start).into();
    let began = Instant::now();
    let mut keys = daily.keys(&PartitionsContext::at(Utc::now()))?;
    let keys_ms = began.elapsed().as_secs_f64() * 1000.0;
    keys.truncate(partitions);
    if keys.len() < partitions {
        bail!("the daily definition has only {} partitions", keys.len());
    }
    println!(
        "# sluice-bench backfill: {partitions} daily partitions, chunks of {}, median of {repeat}",
        sluice_daemon::backfills::DEFAULT_CHUNK_SIZE
    );
    println!("partition keys of the daily definition: {keys_ms:.1} ms");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        times.push(runtime.block_on(queue_once(&keys))?);
    }
    let median = crate::median(times.clone());
    println!(
        "backfill created → {partitions} runs queued: median {:.2} s (min {:.2}, max {:.2}); {:.0} runs/s",
        median,
        times.iter().copied().fold(f64::INFINITY, f64::min),
        times.iter().copied().fold(0.0, f64::max),
        partitions as f64 / median
    );
    Ok(())
}

/// Seconds from creating the backfill until all its runs are queued, on a fresh instance.
async fn queue_once(keys: &[String]) -> Result<f64> {
    let home = tempfile::tempdir()?;
    let config = StorageConfig::Sqlite {
        path: home.path().join("sluice.db"),
    };
    let storage: Arc<dyn Storage> = sluice_storage::open(&config).await?;
    let daemon = BackfillDaemon::new(Arc::clone(&storage), Wakeup::run_queue(home.path()));
    let began = Instant::now();
    let backfill = storage
        .add_backfill(&NewBackfill::new("demo", "daily_job", keys.to_vec()))
        .await?;
    let moved = daemon.pass().await?;
    let seconds = began.elapsed().as_secs_f64();
    if moved != [(backfill.id().to_owned(), BackfillStatus::Requested)] {
        bail!("the backfill did not stay REQUESTED with its runs queued: {moved:?}");
    }
    let filter = RunsFilter {
        tags: [(BACKFILL_ID_TAG.to_owned(), backfill.id().to_owned())].into(),
        ..RunsFilter::default()
    };
    let queued = storage.count_runs(&filter).await?;
    if queued != keys.len() as u64 {
        bail!("{queued} runs queued, not {}", keys.len());
    }
    Ok(seconds)
}
