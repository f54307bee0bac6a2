//! `sluice-bench`: prints performance numbers. Never asserts; compare with the issue's
//! targets and with Dagster measured in the same run (`--dagster`).
//!
//! ```text
//! cargo build --release --bins && target/release/sluice-bench execute [--dagster]
//! cargo build --release --bins && target/release/sluice-bench processes [--dagster]
//! cargo build --release --bins && target/release/sluice-bench soak --postgres-url URL [--runs 100000]
//! cargo build --release --bins && target/release/sluice-bench sensors [--count 1000] [--dagster]
//! cargo build --release --bins && target/release/sluice-bench assets [--count 10000]
//! cargo build --release --bins && target/release/sluice-bench backfill [--partitions 10000]
//! cargo build --release --bins && target/release/sluice-bench upload [--size-mb 100]
//! cargo build --release --bins && target/release/sluice-bench postgis [--points 1000000]
//! cargo build --release --bins && target/release/sluice-bench resources [--runs 200]
//! cargo build --release --bins && target/release/sluice-bench ui [--runs 100000] [--events 1000000]
//! cargo build --bins && target/debug/sluice-bench edit-loop [--edits 5] [--target-dir DIR]
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

mod assets;
mod backfills;
mod child;
mod edit_loop;
mod postgis;
mod processes;
mod queue;
mod resources;
mod sensors;
mod soak;
mod ui;
mod uploads;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sluice_core::run::{NewRun, RunStatus};
use sluice_storage::{Storage, StorageConfig};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "sluice-bench",
    about = "Sluice benchmarks (numbers, not assertions)"
)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Executor and `job execute` costs on a durable SQLite instance.
    Execute {
        /// Repetitions per measurement (the median is reported).
        #[arg(long, default_value_t = 7)]
        repeat: usize,
        /// Also run Dagster's `dagster job execute` reference now and print ratios.
        #[arg(long)]
        dagster: bool,
    },
    /// The daemon's run queue and worker processes alone: runs queued straight into
    /// storage, timed until all finished.
    Queue {
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        /// The run coordinator's max_concurrent_runs.
        #[arg(long, default_value_t = 10)]
        max_concurrent: usize,
    },
    /// `sluice dev` over real HTTP: launch latency, a burst of runs, memory.
    Processes {
        /// Runs in the burst.
        #[arg(long, default_value_t = 1000)]
        burst: usize,
        /// Runs stored in total before memory is measured again.
        #[arg(long, default_value_t = 10_000)]
        total: usize,
        /// The workspace `sluice dev` loads.
        #[arg(long, default_value = "workspace.yaml")]
        workspace: PathBuf,
        /// Also run Dagster's `dagster dev` reference now and print ratios.
        #[arg(long)]
        dagster: bool,
    },
    /// Many runs through `sluice dev` on Postgres, and every process's memory as they
    /// accumulate: it should stay flat.
    /// Save a one-line change to an op of a `sluice new` crate, and time how long it
    /// takes to be served by `sluice dev` (compile, link and swap apart).
    EditLoop {
        #[arg(long, default_value_t = 5)]
        edits: usize,
        /// The generated crate's target directory (a fresh one, for a cold build, by
        /// default).
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    Soak {
        #[arg(long, default_value_t = 100_000)]
        runs: u64,
        /// An empty Postgres database for the instance.
        #[arg(long, env = "SLUICE_SOAK_POSTGRES_URL")]
        postgres_url: String,
        /// The workspace `sluice dev` loads.
        #[arg(long, default_value = "workspace.yaml")]
        workspace: PathBuf,
    },
    /// Many sensors doing trivial work, evaluated by the `sluice-daemon` process:
    /// lateness against their interval, and the daemon's memory and CPU over time.
    Sensors {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Each sensor's minimum_interval, in seconds.
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 150)]
        duration: u64,
        /// Then run Dagster's daemon on the same sensors (`dagster/sensors.sh`).
        #[arg(long)]
        dagster: bool,
    },
    /// A location of many assets: definition load + snapshot, `assetNodes` through the
    /// webserver, processes' memory, and the latest materialization among many events.
    Assets {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        groups: usize,
        /// Materialization events stored before timing the latest-materialization read.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Repetitions per measurement (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Right after the load measurement, load the same graph in Dagster
        /// (`dagster/assets_load.py`, with the reference venv) and print the ratio.
        #[arg(long)]
        dagster: bool,
    },
    /// A backfill of many daily partitions: from its creation until every partition's
    /// run is queued, through the backfill daemon.
    Backfill {
        #[arg(long, default_value_t = 10_000)]
        partitions: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// The object storage resource uploading a large file, against one `curl -T` PUT
    /// of the same file to the same local S3 server.
    Upload {
        #[arg(long, default_value_t = 100)]
        size_mb: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// The S3 server (default: $SLUICE_TEST_S3_ENDPOINT, else a moto server started
        /// from the test venv).
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// The PostGIS resource: points loaded from CSV, then exported to GeoParquet in
    /// object storage (a local S3 server).
    Postgis {
        #[arg(long, default_value_t = 1_000_000)]
        points: usize,
        /// Repetitions of the export (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// The Postgres database, with PostGIS (default: $SLUICE_TEST_POSTGRES_URL, else
        /// the test database).
        #[arg(long)]
        postgres: Option<String>,
        /// The S3 server, as for `upload`.
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Each resource's setup cost per run, cold and warm, against the local servers.
    Resources {
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// The Postgres database, with PostGIS (as for `postgis`).
        #[arg(long)]
        postgres: Option<String>,
        /// The S3 server, as for `upload`.
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// The web UI of `sluice dev` on a large instance: runs list, run page, job graph,
    /// live log delay.
    Ui {
        /// Finished runs stored before measuring.
        #[arg(long, default_value_t = 100_000)]
        runs: usize,
        /// Events stored between them.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// (Used by `assets`.) A code server whose location has `count` assets.
    #[command(hide = true)]
    ServeAssets {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        groups: usize,
    },
    /// (Used by `sensors`.) A code server whose location has `count` sensors.
    #[command(hide = true)]
    ServeSensors {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        interval: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Bench::Execute { repeat, dagster } => execute_bench(repeat.max(1), dagster),
        Bench::Queue {
            runs,
            max_concurrent,
        } => queue::bench(runs, max_concurrent),
        Bench::Processes {
            burst,
            total,
            workspace,
            dagster,
        } => processes::bench(burst, total, &workspace, dagster),
        Bench::EditLoop { edits, target_dir } => edit_loop::bench(edits, target_dir),
        Bench::Soak {
            runs,
            postgres_url,
            workspace,
        } => soak::bench(runs, &postgres_url, &workspace),
        Bench::Sensors {
            count,
            interval,
            duration,
            dagster,
        } => sensors::bench(count, interval, duration, dagster),
        Bench::ServeSensors { count, interval } => sensors::serve(count, interval),
        Bench::Assets {
            count,
            groups,
            events,
            repeat,
            dagster,
        } => assets::bench(count, groups.max(1), events, repeat.max(1), dagster),
        Bench::ServeAssets { count, groups } => assets::serve(count, groups.max(1)),
        Bench::Backfill { partitions, repeat } => backfills::bench(partitions, repeat.max(1)),
        Bench::Upload {
            size_mb,
            repeat,
            endpoint,
        } => uploads::bench(size_mb.max(1), repeat.max(1), endpoint),
        Bench::Postgis {
            points,
            repeat,
            postgres,
            endpoint,
        } => postgis::bench(points.max(1), repeat.max(1), postgres, endpoint),
        Bench::Resources {
            runs,
            postgres,
            endpoint,
        } => resources::bench(runs.max(2), postgres, endpoint),
        Bench::Ui { runs, events } => ui::bench(runs.max(1), events),
    }
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct ProcessFigures {
    wall_ms: f64,
    peak_rss_kb: i64,
}

fn execute_bench(repeat: usize, dagster: bool) -> Result<()> {
    let home = tempfile::tempdir()?;
    let db = home.path().join("sluice.db");
    println!(
        "# sluice-bench execute: durable SQLite at {}, median of {repeat}",
        db.display()
    );

    // Whole processes first. Linux carries a parent's peak RSS into a child's ru_maxrss
    // across fork and exec, so children are measured while this process is still small;
    // its own peak so far is printed as the floor of what can be seen.
    let user_code = sibling_binary("sluice-user-code")?;
    let mut process = Vec::new();
    for job in ["one_op_job", "chain_100", "fanout_500"] {
        let f = job_execute_process(&user_code, home.path(), job, repeat)?;
        println!(
            "{job:<12} `sluice-user-code job execute` wall={:.2} ms  peak RSS={:.1} MB",
            f.wall_ms,
            f.peak_rss_kb as f64 / 1024.0
        );
        process.push((job, f));
    }
    println!(
        "# (the benchmark's own peak RSS so far, a floor for the figures above: {:.1} MB)",
        own_peak_rss_kb() as f64 / 1024.0
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for (job, steps) in [("chain_100", 100usize), ("fanout_500", 501)] {
        let ms = runtime.block_on(in_process_ms(&db, job, repeat))?;
        println!(
            "{job:<12} in-process wall={ms:.2} ms  steps={steps}  per-step overhead={:.1} µs",
            ms / steps as f64 * 1000.0
        );
    }

    if dagster {
        println!("# Dagster 1.13 `dagster job execute`, measured now on this machine");
        for (job, wall_s, rss_kb) in dagster_reference()? {
            if let Some((_, ours)) = process.iter().find(|(j, _)| *j == job) {
                println!(
                    "{job:<12} dagster wall={:.2} s  maxrss={:.1} MB  → Sluice is {:.0}× faster, {:.1}× less memory",
                    wall_s,
                    rss_kb as f64 / 1024.0,
                    wall_s * 1000.0 / ours.wall_ms,
                    rss_kb as f64 / ours.peak_rss_kb as f64
                );
            }
        }
    }
    Ok(())
}

/// This process's peak resident set size so far, in KB.
fn own_peak_rss_kb() -> i64 {
    // SAFETY: getrusage fills in a plain-data struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss
}

/// Median wall time of executing `job` in this process, from run creation to the last
/// event stored.
async fn in_process_ms(db: &Path, job: &str, repeat: usize) -> Result<f64> {
    let storage: Arc<dyn Storage> = sluice_storage::open(&StorageConfig::Sqlite {
        path: db.to_owned(),
    })
    .await?;
    let defs = sluice_location_demo::definitions()?;
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat + 1 {
        let started = Instant::now();
        let run = storage.create_run(&NewRun::new(job)).await?;
        let status = sluice_codeserver::execute_run(
            &defs,
            Arc::clone(&storage),
            &run,
            CancellationToken::new(),
            None,
        )
        .await?;
        if status != RunStatus::Success {
            bail!("{job} ended {status}");
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.remove(0); // warm-up
    Ok(median(times))
}

pub(crate) fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.is_file() {
        bail!(
            "{} not found; build it in the same profile first: cargo build --release --bins",
            path.display()
        );
    }
    Ok(path)
}

/// Median wall time and the peak RSS of `sluice-user-code job execute -j JOB` as a whole
/// process.
fn job_execute_process(
    bin: &Path,
    home: &Path,
    job: &str,
    repeat: usize,
) -> Result<ProcessFigures> {
    let mut walls = Vec::with_capacity(repeat);
    let mut peak = 0i64;
    for i in 0..repeat + 1 {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["job", "execute", "-j", job])
            .env("SLUICE_HOME", home)
            .env_remove("SLUICE_POSTGRES_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id() as libc::pid_t;
        let (status, rss_kb) = wait_with_rusage(pid)?;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        // The child was reaped by wait4; let std forget it.
        drop(child.try_wait());
        if status != 0 {
            bail!("job execute -j {job} exited with {status}");
        }
        if i > 0 {
            walls.push(wall);
            peak = peak.max(rss_kb);
        }
    }
    Ok(ProcessFigures {
        wall_ms: median(walls),
        peak_rss_kb: peak,
    })
}

/// Wait for `pid` and return its exit status and peak resident set size in KB.
fn wait_with_rusage(pid: libc::pid_t) -> Result<(i32, i64)> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, usage.ru_maxrss))
}

/// Run `../shared/reference/dagster/job_execute_bench.sh` and parse its lines
/// `JOB wall=SECONDS s maxrss=KB KB`.
fn dagster_reference() -> Result<Vec<(String, f64, i64)>> {
    let script = [
        "../shared/reference/dagster/job_execute_bench.sh",
        "/work/shared/reference/dagster/job_execute_bench.sh",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .context("Dagster reference script not found (../shared/reference/dagster)")?;
    let out = Command::new("bash").arg(&script).output()?;
    parse_dagster_rows(&out)
}

fn parse_dagster_rows(out: &std::process::Output) -> Result<Vec<(String, f64, i64)>> {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(job), Some(wall), Some(_), Some(rss)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let wall = wall
            .strip_prefix("wall=")
            .and_then(|w| w.parse::<f64>().ok());
        let rss = rss
            .strip_prefix("maxrss=")
            .and_then(|r| r.parse::<i64>().ok());
        if let (Some(wall), Some(rss)) = (wall, rss) {
            rows.push((job.to_owned(), wall, rss));
        }
    }
    if rows.is_empty() {
        bail!(
            "the Dagster reference printed no figures:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(rows)
}
