//! The `demo` code location. Benchmarks and end-to-end tests name these jobs, and the
//! op names match the Dagster twin in `../shared/reference/dagster/` so that the same
//! run config works against both:
//!
//! | job | what it does |
//! | --- | --- |
//! | `one_op_job` | one op, `noop`, returning 1 |
//! | `chain_100` | `start` then `step_0` … `step_98`: 100 ops in a line, each adding 1 |
//! | `fanout_500` | `src` feeding `leaf_0` … `leaf_499` |
//! | `config_job` | `use_config` with required `n: Int` and optional `label: String` |
//! | `flaky_job` | `flaky` fails its first two attempts and succeeds on the third |
//! | `sleepy_job` | `sleeper` sleeps `seconds` (default 1.0); terminating the run stops it |
//! | `failing_job` | `boom` fails; `after`, downstream of it, is skipped |
//! | `gated_job` | `produce` → `gate` → `report`; `gate` fails until the file at its `path` exists, so a re-execution from failure succeeds without running `produce` again |
//!
//! | asset or asset job | what it is |
//! | --- | --- |
//! | `raw/orders` → `staging/orders` → `warehouse/daily_revenue` | the day's orders, the valid ones, their total (see [`assets`]); `__ASSET_JOB` materializes any of them |
//! | `refresh_staging` | materializes `group:staging+`, loading `raw/orders` from storage |
//! | `daily_orders_job` | materializes one day of `raw/daily_orders`: a partitioned job, whose partition set is `daily_orders_job_partition_set` |
//! | `raw/daily_orders` → `warehouse/monthly_revenue`, `warehouse/daily_order_counts` | partitioned by day and month; the counts' backfill policy is a single run over the range |
//! | checks `amounts_positive` (raw, WARN) and `no_negative_amounts` (staging, blocking) | data-quality checks run with their assets |
//!
//! | schedule or sensor | what it does |
//! | --- | --- |
//! | `one_op_every_minute` | runs `one_op_job` every minute; stopped until started |
//! | `new_files` | every 5 s, requests a `config_job` run for each new file in the inbox directory (`$SLUICE_DEMO_INBOX`, default `$SLUICE_HOME/demo_inbox`), with the file name as run key and the newest modification time as cursor; stopped until started |
//! | `raw_orders_updated` | an asset sensor: after each materialization of `raw/orders`, materializes `staging/orders+` (a run of `__ASSET_JOB`); stopped until started |

pub mod assets;

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use sluice::prelude::*;

/// The location's definitions.
pub fn definitions() -> Result<Definitions, DefinitionError> {
    Definitions::builder()
        .jobs([
            one_op_job(),
            chain_100(),
            fanout_500(),
            config_job(),
            flaky_job(),
            sleepy_job(),
            failing_job(),
            gated_job(),
        ])
        .schedule(
            ScheduleDefinition::builder("one_op_every_minute", "one_op_job", "* * * * *")
                .description("Runs one_op_job at the start of every minute.")
                .build(),
        )
        .sensor(new_files_sensor())
        .sensor(assets::raw_orders_updated())
        .assets(assets::assets())
        .asset_checks(assets::checks())
        .asset_jobs(assets::asset_jobs())
        .build()
}

/// The directory the `new_files` sensor watches.
fn inbox() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_DEMO_INBOX") {
        return PathBuf::from(dir);
    }
    let home =
        std::env::var_os("SLUICE_HOME").map_or_else(|| PathBuf::from(".sluice"), PathBuf::from);
    home.join("demo_inbox")
}

/// One `config_job` run per new file in the inbox: `n` is its size, `label` its name.
///
/// The cursor is the newest modification time seen (nanoseconds since the epoch). Files
/// at least that new are requested again on the next tick, so one written in the same
/// instant as the last is not missed; their run keys (the file names) keep each file to
/// one run.
fn new_files_sensor() -> SensorDefinition {
    SensorDefinition::builder("new_files")
        .job("config_job")
        .minimum_interval(Duration::from_secs(5))
        .description("Requests a config_job run for each new file in the demo inbox.")
        .evaluation_fn(|ctx| async move {
            let dir = inbox();
            let since: u128 = match ctx.cursor() {
                None => 0,
                Some(c) => c.parse().map_err(|e| {
                    EvaluationError::wrap(format!("cursor \"{c}\" is not a time in nanoseconds"), e)
                })?,
            };
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(SensorResult::skip(format!(
                        "{} does not exist yet",
                        dir.display()
                    )));
                }
                Err(e) => {
                    return Err(EvaluationError::wrap(
                        format!("cannot list {}", dir.display()),
                        e,
                    ));
                }
            };
            let mut files = Vec::new();
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                if modified >= since {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    files.push((modified, name, meta.len()));
                }
            }
            files.sort();
            let Some(newest) = files.last().map(|f| f.0) else {
                return Ok(SensorResult::skip(format!(
                    "no new file in {}",
                    dir.display()
                )));
            };
            let requests = files
                .into_iter()
                .map(|(_, name, size)| {
                    RunRequest::new()
                        .run_key(name.clone())
                        .run_config(serde_json::json!({
                            "ops": {"use_config": {"config": {"n": size, "label": name}}}
                        }))
                })
                .collect();
            Ok(SensorResult::requests(requests).cursor(newest.to_string()))
        })
        .build()
}

fn one_op_job() -> JobDefinition {
    let noop = OpDefinition::builder("noop")
        .output::<i64>("result")
        .compute(|_, _| async { Ok(1) });
    let mut job = JobDefinition::builder("one_op_job").description("A single op that returns 1.");
    job.add(&noop);
    job.build()
}

fn chain_100() -> JobDefinition {
    let start = OpDefinition::builder("start")
        .output::<i64>("result")
        .compute(|_, _| async { Ok(0) });
    let step = OpDefinition::builder("step")
        .input::<i64>("x")
        .output::<i64>("result")
        .compute(|_, inputs| async move { Ok(inputs.get::<i64>("x")? + 1) });
    let mut job = JobDefinition::builder("chain_100")
        .description("100 ops in a line, each adding 1 to its input.");
    let mut prev = job.add(&start);
    for i in 0..99 {
        prev = job
            .node(&step)
            .alias(format!("step_{i}"))
            .input("x", prev.output("result"))
            .add();
    }
    job.build()
}

fn fanout_500() -> JobDefinition {
    let src = OpDefinition::builder("src")
        .output::<i64>("result")
        .compute(|_, _| async { Ok(1) });
    let leaf = OpDefinition::builder("leaf")
        .input::<i64>("x")
        .output::<i64>("result")
        .compute(|_, inputs| async move { inputs.get::<i64>("x") });
    let mut job =
        JobDefinition::builder("fanout_500").description("One source op feeding 500 leaf ops.");
    let s = job.add(&src);
    for i in 0..500 {
        job.node(&leaf)
            .alias(format!("leaf_{i}"))
            .input("x", s.output("result"))
            .add();
    }
    job.build()
}

/// Config of `use_config`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NConfig {
    /// A number the op returns.
    n: i64,
    /// An optional label to log.
    label: Option<String>,
}

fn config_job() -> JobDefinition {
    let use_config = OpDefinition::builder("use_config")
        .config::<NConfig>()
        .output::<i64>("result")
        .compute(|ctx, _| async move {
            let config: NConfig = ctx.config()?;
            if let Some(label) = &config.label {
                ctx.info(format!("label: {label}"));
            }
            Ok(config.n)
        });
    let mut job = JobDefinition::builder("config_job")
        .description("An op with required config `n` and optional `label`.");
    job.add(&use_config);
    job.build()
}

fn flaky_job() -> JobDefinition {
    let flaky = OpDefinition::builder("flaky")
        .retry_policy(RetryPolicy::new(2).with_delay(Duration::from_millis(10)))
        .output::<u32>("result")
        .compute(|ctx, _| async move {
            let attempt = ctx.retry_number() + 1;
            if attempt < 3 {
                return Err(OpError::msg(format!("flaky failure on attempt {attempt}")));
            }
            ctx.info(format!("succeeded on attempt {attempt}"));
            Ok(attempt)
        });
    let mut job = JobDefinition::builder("flaky_job")
        .description("Fails twice, then succeeds under a RetryPolicy.");
    job.add(&flaky);
    job.build()
}

/// Config of `sleeper`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SleepConfig {
    /// How long to sleep, in seconds.
    #[serde(default = "one_second")]
    seconds: f64,
}

fn one_second() -> f64 {
    1.0
}

fn sleepy_job() -> JobDefinition {
    let sleeper = OpDefinition::builder("sleeper")
        .config::<SleepConfig>()
        .compute(|ctx, _| async move {
            let config: SleepConfig = ctx.config()?;
            let seconds = Duration::try_from_secs_f64(config.seconds).map_err(|e| {
                OpError::fatal(format!("seconds must be a non-negative number: {e}"))
            })?;
            ctx.info(format!("sleeping for {}s", config.seconds));
            tokio::time::sleep(seconds).await;
            Ok(())
        });
    let mut job = JobDefinition::builder("sleepy_job")
        .description("Sleeps `seconds`; terminate it to stop it early.");
    job.add(&sleeper);
    job.build()
}

fn failing_job() -> JobDefinition {
    let boom = OpDefinition::builder("boom")
        .output::<i64>("result")
        .compute(|_, _| async { Err::<i64, _>(OpError::msg("boom")) });
    let after = OpDefinition::builder("after")
        .input::<i64>("x")
        .output::<i64>("result")
        .compute(|_, inputs| async move { inputs.get::<i64>("x") });
    let mut job =
        JobDefinition::builder("failing_job").description("`boom` fails; `after` is skipped.");
    let b = job.add(&boom);
    job.node(&after).input("x", b.output("result")).add();
    job.build()
}

/// Config of `gate`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GateConfig {
    /// The file whose existence opens the gate.
    path: String,
}

fn gated_job() -> JobDefinition {
    let produce = OpDefinition::builder("produce")
        .output::<i64>("result")
        .compute(|ctx, _| async move {
            ctx.info("producing 21");
            Ok(21)
        });
    let gate = OpDefinition::builder("gate")
        .config::<GateConfig>()
        .input::<i64>("value")
        .output::<i64>("result")
        .compute(|ctx, inputs| async move {
            let config: GateConfig = ctx.config()?;
            if !std::path::Path::new(&config.path).exists() {
                return Err(OpError::msg(format!(
                    "the gate is closed: {} does not exist",
                    config.path
                )));
            }
            Ok(inputs.get::<i64>("value")? * 2)
        });
    let report = OpDefinition::builder("report")
        .input::<i64>("value")
        .output::<String>("result")
        .compute(|ctx, inputs| async move {
            let line = format!("the gate let {} through", inputs.get::<i64>("value")?);
            ctx.info(line.clone());
            Ok(line)
        });
    let mut job = JobDefinition::builder("gated_job")
        .description("`gate` fails until the file at its `path` exists; re-execute from failure.");
    let p = job.add(&produce);
    let g = job.node(&gate).input("value", p.output("result")).add();
    job.node(&report).input("value", g.output("result")).add();
    job.build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn definitions_are_valid() {
        let defs = super::definitions().expect("demo definitions are valid");
        assert_eq!(defs.jobs().count(), 11);
        assert_eq!(defs.assets().count(), 7);
        assert_eq!(
            defs.job("refresh_staging").map(|j| j.nodes().len()),
            Some(3),
            "staging, its check, the warehouse"
        );
        assert_eq!(defs.schedules().count(), 1);
        assert_eq!(defs.sensors().count(), 2);
        assert_eq!(defs.job("chain_100").map(|j| j.nodes().len()), Some(100));
        assert_eq!(defs.job("fanout_500").map(|j| j.nodes().len()), Some(501));
    }
}
