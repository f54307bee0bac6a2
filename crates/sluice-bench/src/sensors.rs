//! `sluice-bench sensors`: many sensors with trivial work, evaluated by the real
//! `sluice-daemon` process through a code server. Prints how late evaluations were
//! against each sensor's interval, and the daemon's memory and CPU over time.
//!
//! The code server is this binary (`serve-sensors`, a location of `count` sensors that
//! each skip at once), so that only the daemon's own cost is measured as the daemon's.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluice_core::prelude::*;
use sluice_storage::prelude::*;
use sluice_storage::{InstigatorKey, InstigatorType, StorageConfig, TicksFilter};

use crate::processes::process_memory;

const LOCATION: &str = "bench";

fn sensor_name(i: usize) -> String {
    format!("sensor_{i:04}")
}

/// `count` running sensors that skip, each every `interval_s` seconds.
fn definitions(count: usize, interval_s: u64) -> Result<Definitions> {
    let noop = OpDefinition::builder("noop").compute(|_, _| async { Ok(()) });
    let mut job = JobDefinition::builder("noop_job");
    job.add(&noop);
    let mut defs = Definitions::builder().job(job.build());
    for i in 0..count {
        defs = defs.sensor(
            SensorDefinition::builder(sensor_name(i))
                .job("noop_job")
                .minimum_interval(Duration::from_secs(interval_s))
                .default_status(DefaultSensorStatus::Running)
                .evaluation_fn(|_| async { Ok(SensorResult::skip("nothing new")) })
                .build(),
        );
    }
    Ok(defs.build()?)
}

/// The `serve-sensors` subcommand: a code server for the bench location, until killed.
pub(crate) fn serve(count: usize, interval_s: u64) -> Result<()> {
    crate::child::serve(LOCATION, &definitions(count, interval_s)?)
}

pub(crate) fn bench(count: usize, interval_s: u64, duration_s: u64, dagster: bool) -> Result<()> {
    let home = tempfile::tempdir()?;
    let args = [
        "serve-sensors".to_owned(),
        "--count".to_owned(),
        count.to_string(),
        "--interval".to_owned(),
        interval_s.to_string(),
    ];
    let (server, _) = crate::child::code_server(home.path(), &args, LOCATION)?;
    let daemon = crate::child::sluice_process("sluice-daemon", &["run"], home.path())?;
    let pids = [daemon.0.id(), server.0.id()];
    println!(
        "# sluice-bench sensors: {count} sensors, minimum_interval {interval_s} s, {duration_s} s of the sluice-daemon process (SQLite)"
    );
    println!(
        "{:>6}  {:>9}  {:>19}  {:>17}  {:>14}",
        "time", "daemon RSS", "daemon CPU (window)", "code server RSS", "its CPU"
    );
    let started = Instant::now();
    let window = Duration::from_secs(interval_s.clamp(5, 30));
    let mut last = (Instant::now(), [0.0; 2]);
    // (CPU %, RSS KB) of the daemon and of the code server, per window at steady state.
    let mut steady: Vec<[(f64, u64); 2]> = Vec::new();
    while started.elapsed() < Duration::from_secs(duration_s) {
        std::thread::sleep(window);
        let mut sample = [(0.0, 0); 2];
        let mut cpu = [0.0; 2];
        for (i, pid) in pids.into_iter().enumerate() {
            let Some((_, memory)) = process_memory(pid) else {
                bail!("the {} exited", ["daemon", "code server"][i]);
            };
            cpu[i] = memory.cpu_s + memory.children_cpu_s;
            let share = (cpu[i] - last.1[i]) / last.0.elapsed().as_secs_f64() * 100.0;
            sample[i] = (share, memory.rss_kb);
        }
        last = (Instant::now(), cpu);
        let t = started.elapsed().as_secs_f64();
        let mb = |kb: u64| kb as f64 / 1024.0;
        println!(
            "{t:>5.0}s  {:>7.1} MB  {:>17.1} %  {:>14.1} MB  {:>12.1} %",
            mb(sample[0].1),
            sample[0].0,
            mb(sample[1].1),
            sample[1].0
        );
        // Steady state: after the first round of evaluations.
        if t > interval_s as f64 + window.as_secs_f64() {
            steady.push(sample);
        }
    }
    drop(daemon);
    drop(server);
    if steady.is_empty() {
        bail!("run longer than one interval to see a steady state (--duration)");
    }
    for (i, who) in ["daemon", "code server"].into_iter().enumerate() {
        let cpu = steady.iter().map(|s| s[i].0).sum::<f64>() / steady.len() as f64;
        let rss = steady.iter().map(|s| s[i].1).max().unwrap_or(0) as f64 / 1024.0;
        println!("{who} at steady state: CPU {cpu:.1} % of one core (mean), RSS {rss:.1} MB (max)");
    }
    lateness(home.path(), count, interval_s)?;
    if dagster {
        if interval_s != 30 {
            bail!("the Dagster reference uses a 30 s interval; run with --interval 30");
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("dagster/sensors.sh");
        let status = Command::new("bash")
            .arg(&script)
            .args([count.to_string(), duration_s.to_string()])
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("{} failed ({status})", script.display());
        }
    }
    Ok(())
}

/// From the stored ticks: how far apart each sensor's evaluations were.
fn lateness(home: &Path, count: usize, interval_s: u64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = sluice_storage::open(&StorageConfig::Sqlite {
            path: home.join("sluice.db"),
        })
        .await?;
        let mut gaps = Vec::new();
        let mut ticks = 0;
        let mut never = 0;
        for i in 0..count {
            let key = InstigatorKey::new(LOCATION, &sensor_name(i), InstigatorType::Sensor);
            let found = storage
                .ticks(Some(&key.selector_id()), &TicksFilter::default())
                .await?;
            never += usize::from(found.is_empty());
            ticks += found.len();
            let mut times: Vec<f64> = found.iter().map(|t| t.timestamp).collect();
            times.sort_by(f64::total_cmp);
            gaps.extend(times.windows(2).map(|w| w[1] - w[0]));
        }
        gaps.sort_by(f64::total_cmp);
        let pct = |p: f64| gaps.get(((gaps.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0.0);
        let late = gaps.iter().filter(|g| **g > interval_s as f64 + 1.0).count();
        println!(
            "evaluations: {ticks} ticks; gap between a sensor's evaluations: median {:.2} s, p99 {:.2} s, max {:.2} s (target ≤ {} s); {late} of {} gaps over; {never} sensors never evaluated",
            pct(0.5),
            pct(0.99),
            gaps.last().copied().unwrap_or(0.0),
            interval_s + 1,
            gaps.len()
        );
        Ok(())
    })
}
