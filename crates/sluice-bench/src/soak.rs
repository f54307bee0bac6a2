//! `sluice-bench soak`: many runs through `sluice dev` on Postgres, and the memory of
//! every process as they accumulate. It should stay flat: a process whose resident
//! memory grows with the number of runs stored has a leak or an unbounded cache.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::processes::{Graphql, free_port, group_memory, start_dev, wait_until_up};

/// Runs launched before the first measurement: the code paths have all run and the
/// allocators reached their working size.
const WARM_UP: u64 = 2_000;

pub(crate) fn bench(runs: u64, postgres_url: &str, workspace: &Path) -> Result<()> {
    let home = tempfile::tempdir()?;
    let port = free_port()?;
    let mut dev = start_dev(workspace, home.path(), port, Some(postgres_url))?;
    let pgid = dev.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(soak(port, pgid, runs.max(WARM_UP * 2)));
    // SAFETY: signalling the process group we created for `sluice dev`.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGTERM) };
    let _ = dev.wait();
    result
}

/// Each process's RSS in KB, by name and pid (the code server and its fork helper share
/// a name).
fn rss_by_process(pgid: u32) -> Vec<(String, u64)> {
    group_memory(pgid)
        .into_iter()
        .map(|p| (format!("{} ({})", p.name, p.pid), p.rss_kb))
        .collect()
}

fn show(label: &str, memory: &[(String, u64)]) {
    let each: Vec<String> = memory
        .iter()
        .map(|(name, kb)| format!("{name} {:.1} MB", *kb as f64 / 1024.0))
        .collect();
    println!("{label:<28}{}", each.join(", "));
}

async fn soak(port: u16, pgid: u32, runs: u64) -> Result<()> {
    let gql = Graphql::new(port);
    wait_until_up(&gql, port).await?;
    println!(
        "# sluice-bench soak: {runs} one_op_job runs through `sluice dev` on Postgres, 4 clients"
    );
    let started = Instant::now();
    let mut finished = gql.finished_count().await?;
    let mut first: Option<Vec<(String, u64)>> = None;
    let mut last = Vec::new();
    let mut peak: Vec<(String, u64)> = Vec::new();
    let mut next_report = WARM_UP;
    while finished < runs {
        let n = (runs - finished).min(1_000);
        let mut clients = Vec::new();
        for k in 0..4 {
            let gql = Graphql::new(port);
            let share = n / 4 + u64::from(k < n % 4);
            clients.push(tokio::spawn(async move {
                for _ in 0..share {
                    gql.launch("one_op_job").await?;
                }
                anyhow::Ok(())
            }));
        }
        for client in clients {
            client.await??;
        }
        let target = finished + n;
        let deadline = Instant::now() + Duration::from_secs(600);
        while gql.finished_count().await? < target {
            if Instant::now() > deadline {
                bail!("1,000 runs did not finish in 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        finished = target;
        if finished >= next_report || finished >= runs {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let memory = rss_by_process(pgid);
            for (name, kb) in &memory {
                match peak.iter_mut().find(|(n, _)| n == name) {
                    Some((_, p)) => *p = (*p).max(*kb),
                    None => peak.push((name.clone(), *kb)),
                }
            }
            show(&format!("after {finished} runs"), &memory);
            first.get_or_insert_with(|| memory.clone());
            last = memory;
            next_report += 10_000;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{runs} runs in {elapsed:.0} s ({:.0} runs/s)",
        runs as f64 / elapsed
    );
    let first = first.unwrap_or_default();
    for (name, start_kb) in &first {
        let end_kb = last
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, kb)| *kb);
        let peak_kb = peak
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, kb)| *kb);
        let change = (end_kb as f64 - *start_kb as f64) / *start_kb as f64 * 100.0;
        println!(
            "{name:<20} start {:.1} MB, end {:.1} MB ({change:+.1}%), peak {:.1} MB",
            *start_kb as f64 / 1024.0,
            end_kb as f64 / 1024.0,
            peak_kb as f64 / 1024.0
        );
    }
    Ok(())
}
