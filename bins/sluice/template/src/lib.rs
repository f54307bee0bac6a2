//! The `{{name}}` code location.
//!
//! - `ingest`, a job of two ops: `extract` makes as many rows as its config asks for,
//!   `load` counts what it gets. The schedule `ingest_daily` runs it at 06:00 UTC.
//! - `raw/readings` → `summary/total`, two assets, and the check `readings_positive`
//!   on the first.
//! - `inbox_files`, a sensor that asks for one `ingest` run per new file in
//!   `.sluice/inbox/`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sluice::prelude::*;

/// Everything the location defines.
pub fn definitions() -> Result<Definitions, DefinitionError> {
    Definitions::builder()
        .job(ingest_job())
        .schedule(
            ScheduleDefinition::builder("ingest_daily", "ingest", "0 6 * * *")
                .description("Ingests ten rows every morning.")
                .run_config(serde_json::json!({"ops": {"extract": {"config": {"rows": 10}}}}))
                .build(),
        )
        .sensor(inbox_sensor())
        .assets(assets())
        .asset_check(readings_positive())
        .build()
}

/// Config of the `extract` op.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    /// How many rows to extract.
    pub rows: u32,
}

/// `extract`, then `load`.
pub fn ingest_job() -> JobDefinition {
    let extract = OpDefinition::builder("extract")
        .config::<ExtractConfig>()
        .output::<Vec<u32>>("rows")
        .compute(|ctx, _inputs| async move {
            let config: ExtractConfig = ctx.config()?;
            ctx.info(format!("extracting {} rows", config.rows));
            Ok((1..=config.rows).collect())
        });
    let load = OpDefinition::builder("load")
        .input::<Vec<u32>>("rows")
        .output::<usize>("loaded")
        .compute(|ctx, inputs| async move {
            let rows: Vec<u32> = inputs.get("rows")?;
            ctx.info(format!("loaded {} rows", rows.len()));
            Ok(rows.len())
        });
    let mut job = JobDefinition::builder("ingest").description("Extracts rows, then loads them.");
    let extracted = job.add(&extract);
    job.node(&load)
        .input("rows", extracted.output("rows"))
        .add();
    job.build()
}

/// `raw/readings` and the total computed from them.
pub fn assets() -> Vec<AssetDefinition> {
    let readings = AssetDefinition::builder("raw/readings")
        .group("raw")
        .description("The meter readings of the day.")
        .compute(|ctx, _inputs| async move {
            let readings: Vec<i64> = vec![3, 5, 8, 13];
            ctx.add_output_metadata("row_count", readings.len() as i64);
            Ok(readings)
        });
    let total = AssetDefinition::builder("summary/total")
        .group("summary")
        .description("The sum of the day's readings.")
        .input::<Vec<i64>>("raw/readings")
        .compute(|ctx, inputs| async move {
            let readings: Vec<i64> = inputs.get("readings")?;
            let total: i64 = readings.iter().sum();
            ctx.add_output_metadata("total", total);
            Ok(total)
        });
    vec![readings, total]
}

/// Every reading is positive.
pub fn readings_positive() -> AssetCheckDefinition {
    AssetCheckDefinition::builder("readings_positive", "raw/readings")
        .description("A meter never reads below zero.")
        .compute(|_ctx, readings: std::sync::Arc<Vec<i64>>| async move {
            let bad = readings.iter().filter(|r| **r < 0).count() as i64;
            Ok(AssetCheckResult::new(bad == 0).metadata("negative_rows", bad))
        })
}

/// The directory `inbox_files` watches: `$INBOX`, or `inbox/` in the instance's
/// directory (`$SLUICE_HOME`, `.sluice` by default).
fn inbox() -> PathBuf {
    if let Some(dir) = std::env::var_os("INBOX") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("SLUICE_HOME").map_or_else(|| PathBuf::from(".sluice"), PathBuf::from);
    home.join("inbox")
}

/// One `ingest` run per file in the inbox, its size as the number of rows; the cursor
/// is the name of the last file seen, so each file is ingested once.
pub fn inbox_sensor() -> SensorDefinition {
    SensorDefinition::builder("inbox_files")
        .job("ingest")
        .minimum_interval(Duration::from_secs(30))
        .description("Ingests each new file of the inbox.")
        .evaluation_fn(|ctx| async move {
            let dir = inbox();
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return Ok(SensorResult::skip(format!("no directory {}", dir.display())));
            };
            let mut files: Vec<(String, u64)> = entries
                .flatten()
                .filter_map(|e| {
                    let size = e.metadata().ok()?.len();
                    Some((e.file_name().to_string_lossy().into_owned(), size))
                })
                .filter(|(name, _)| ctx.cursor().is_none_or(|last| name.as_str() > last))
                .collect();
            files.sort();
            let Some(last) = files.last().map(|(name, _)| name.clone()) else {
                return Ok(SensorResult::skip("no new file"));
            };
            let requests = files
                .into_iter()
                .map(|(name, size)| {
                    RunRequest::new().run_key(name).run_config(serde_json::json!({
                        "ops": {"extract": {"config": {"rows": size}}}
                    }))
                })
                .collect();
            Ok(SensorResult::requests(requests).cursor(last))
        })
        .build()
}
