//! `sluice-bench queue`: throughput of the daemon's run queue and one worker process per
//! run, without the webserver in front.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sluice_codeserver::Workspace;
use sluice_core::events::{EventType, RunEvent};
use sluice_core::run::{NewRun, RunStatus};
use sluice_daemon::{Daemon, DaemonSettings, RunCoordinatorConfig};
use sluice_storage::{RunsFilter, Storage, StorageConfig, Wakeup};
use tokio_util::sync::CancellationToken;

use crate::sibling_binary;

pub(crate) fn bench(runs: usize, max_concurrent: usize) -> Result<()> {
    let home = tempfile::tempdir()?;
    let mut server = Command::new(sibling_binary("sluice-user-code")?)
        .args(["serve", "--port", "0"])
        .env("SLUICE_HOME", home.path())
        .env_remove("SLUICE_POSTGRES_URL")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = server.stderr.take().context("code server stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().context("code server exited")??;
        if let Some(at) = line.find("listening on ") {
            break line[at + 13..].trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    // Workers find the instance through SLUICE_HOME, as in production.
    // SAFETY: set before the runtime and any other thread that reads the environment.
    unsafe { std::env::set_var("SLUICE_HOME", home.path()) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let storage: Arc<dyn Storage> = sluice_storage::open(&StorageConfig::Sqlite {
            path: home.path().join("sluice.db"),
        })
        .await?;
        let workspace = Workspace::connect(vec![("demo".into(), url)]).await;
        for _ in 0..runs {
            let run = storage
                .create_run(&NewRun {
                    status: RunStatus::Queued,
                    location_name: Some("demo".into()),
                    ..NewRun::new("one_op_job")
                })
                .await?;
            storage
                .store_events(&[RunEvent::new(&run.run_id, EventType::RunEnqueued, "queued")])
                .await?;
        }
        let settings = DaemonSettings {
            run_coordinator: RunCoordinatorConfig {
                max_concurrent_runs: max_concurrent,
                ..RunCoordinatorConfig::default()
            },
            ..DaemonSettings::default()
        };
        let wakeups = Wakeup::run_queue(home.path()).listen()?;
        let shutdown = CancellationToken::new();
        let started = Instant::now();
        let daemon = tokio::spawn(
            Daemon::new(Arc::clone(&storage), workspace, settings).run(wakeups, shutdown.clone()),
        );
        let finished = RunsFilter {
            statuses: vec![RunStatus::Success, RunStatus::Failure, RunStatus::Canceled],
            ..RunsFilter::default()
        };
        while (storage.count_runs(&finished).await? as usize) < runs {
            if started.elapsed() > Duration::from_secs(600) {
                bail!("runs did not finish in 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        shutdown.cancel();
        let _ = daemon.await;
        let failed = storage
            .count_runs(&RunsFilter {
                statuses: vec![RunStatus::Failure],
                ..RunsFilter::default()
            })
            .await?;
        anyhow::Ok((elapsed, failed))
    });
    let _ = server.kill();
    let _ = server.wait();
    let (elapsed, failed) = outcome?;
    println!(
        "# sluice-bench queue: {runs} one_op_job runs queued, max_concurrent_runs={max_concurrent}, a worker process each"
    );
    println!(
        "all finished in {elapsed:.2}s → {:.0} runs/s ({failed} failed)",
        runs as f64 / elapsed
    );
    Ok(())
}
