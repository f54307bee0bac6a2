//! `sluice-bench processes`: `sluice dev` measured from outside, over real HTTP, with
//! the GraphQL documents Dagster's official client sends.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{median, sibling_binary};

const LAUNCH: &str = "mutation L($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) { __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } ... on PipelineNotFoundError { message } } }";
const STATUS: &str = "query S($id: ID!) { pipelineRunOrError(runId: $id) { __typename ... on PipelineRun { status } } }";
const FINISHED: &str = "query { runsOrError(filter: {statuses: [SUCCESS, FAILURE, CANCELED]}) { __typename ... on Runs { count } } }";

/// A GraphQL client of `sluice dev`.
pub(crate) struct Graphql {
    http: reqwest::Client,
    url: String,
}

impl Graphql {
    /// The client of `sluice dev` on `port`.
    pub(crate) fn new(port: u16) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("http://127.0.0.1:{port}/graphql"),
        }
    }

    async fn call(&self, query: &str, variables: Value) -> Result<Value> {
        let body = json!({"query": query, "variables": variables});
        let answer: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        if let Some(errors) = answer.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        Ok(answer["data"].clone())
    }

    pub(crate) async fn launch(&self, job: &str) -> Result<String> {
        let params = json!({"p": {
            "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "pipelineName": job},
            "runConfigData": {},
        }});
        let data = self.call(LAUNCH, params).await?;
        data["launchPipelineExecution"]["run"]["runId"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("launch failed: {data}"))
    }

    async fn status(&self, run_id: &str) -> Result<String> {
        let data = self.call(STATUS, json!({"id": run_id})).await?;
        Ok(data["pipelineRunOrError"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub(crate) async fn finished_count(&self) -> Result<u64> {
        let data = self.call(FINISHED, json!({})).await?;
        data["runsOrError"]["count"]
            .as_u64()
            .with_context(|| format!("no count in {data}"))
    }
}

/// Memory of one process, in KB, and the CPU time it used.
pub(crate) struct ProcessMemory {
    pub(crate) pid: u32,
    pub(crate) name: String,
    pub(crate) rss_kb: u64,
    pub(crate) pss_kb: u64,
    /// CPU seconds used so far by the process, and by its children it has waited for.
    pub(crate) cpu_s: f64,
    pub(crate) children_cpu_s: f64,
}

/// Process `pid`'s memory and CPU time, with its process group; `None` if it is gone.
pub(crate) fn process_memory(pid: u32) -> Option<(u32, ProcessMemory)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state ppid pgrp ...
    let (head, rest) = stat.rsplit_once(')')?;
    let group = rest.split_whitespace().nth(2)?.parse::<u32>().ok()?;
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
    // After the command: state is field 3, utime..cstime are fields 14..17.
    let ticks: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|t| t.parse().ok())
        .collect();
    // SAFETY: sysconf(3) has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (cpu_s, children_cpu_s) = match ticks.as_slice() {
        [u, s, cu, cs] => ((u + s) / hz, (cu + cs) / hz),
        _ => (0.0, 0.0),
    };
    Some((
        group,
        ProcessMemory {
            pid,
            name,
            rss_kb: field(&rollup, "Rss:"),
            pss_kb: field(&rollup, "Pss:"),
            cpu_s,
            children_cpu_s,
        },
    ))
}

/// Memory of every process in process group `pgid`: resident (RSS) and proportional
/// (PSS, shared pages divided among the processes that map them).
pub(crate) fn group_memory(pgid: u32) -> Vec<ProcessMemory> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut processes: Vec<ProcessMemory> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process_memory)
        .filter(|(group, _)| *group == pgid)
        .map(|(_, memory)| memory)
        .collect();
    processes.sort_by(|a, b| a.name.cmp(&b.name));
    processes
}

/// Print the group's memory, total and per process; returns the total RSS in KB.
fn report_memory(label: &str, pgid: u32) -> u64 {
    let processes = group_memory(pgid);
    let rss: u64 = processes.iter().map(|p| p.rss_kb).sum();
    let pss: u64 = processes.iter().map(|p| p.pss_kb).sum();
    let mb = |kb: u64| kb as f64 / 1024.0;
    let each: Vec<String> = processes
        .iter()
        .map(|p| {
            format!(
                "{} {:.1} MB, cpu {:.2}+{:.2} s",
                p.name,
                mb(p.rss_kb),
                p.cpu_s,
                p.children_cpu_s
            )
        })
        .collect();
    println!(
        "{label:<30}{:.1} MB RSS, {:.1} MB PSS ({})",
        mb(rss),
        mb(pss),
        each.join(", ")
    );
    rss
}

/// The machine's (busy, total) CPU time so far, in ticks, from /proc/stat.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// `sluice dev` on `port` with instance `home` (on SQLite, or on the Postgres database
/// at `postgres_url`), in its own process group (which the caller stops with SIGTERM),
/// its output discarded.
pub(crate) fn start_dev(
    workspace: &Path,
    home: &Path,
    port: u16,
    postgres_url: Option<&str>,
) -> Result<std::process::Child> {
    let mut command = Command::new(sibling_binary("sluice")?);
    match postgres_url {
        Some(url) => command.env("SLUICE_POSTGRES_URL", url),
        None => command.env_remove("SLUICE_POSTGRES_URL"),
    };
    command
        .args(["dev", "-p", &port.to_string(), "-w"])
        .arg(workspace)
        .env("SLUICE_HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting sluice dev")
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn bench(burst: usize, total: usize, workspace: &Path, dagster: bool) -> Result<()> {
    let home = tempfile::tempdir()?;
    let port = free_port()?;
    let mut dev = start_dev(workspace, home.path(), port, None)?;
    let pgid = dev.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(measure(port, pgid, burst, total));
    // SAFETY: signalling the process group we created for `sluice dev`.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGTERM) };
    let _ = dev.wait();
    let figures = result?;
    if dagster {
        dagster_reference(&figures)?;
    }
    Ok(())
}

/// Wait until `sluice dev` on `port` answers (a minute at most), then two seconds more
/// for it to settle.
pub(crate) async fn wait_until_up(gql: &Graphql, port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while gql.call("{ version }", json!({})).await.is_err() {
        if Instant::now() > deadline {
            bail!("sluice dev did not come up on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

struct Figures {
    launch_to_success_ms: f64,
    runs_per_second: f64,
    idle_rss_kb: u64,
}

async fn measure(port: u16, pgid: u32, burst: usize, total: usize) -> Result<Figures> {
    let gql = Graphql::new(port);
    wait_until_up(&gql, port).await?;
    println!(
        "# sluice-bench processes: `sluice dev` on 127.0.0.1:{port}, SQLite, one worker process per run"
    );
    let idle_rss_kb = report_memory("idle memory (all processes)", pgid);

    // Launch → SUCCESS, one run at a time, polling the status as the official client does.
    let mut latencies = Vec::new();
    let mut mutation = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let run_id = gql.launch("one_op_job").await?;
        mutation.push(started.elapsed().as_secs_f64() * 1000.0);
        loop {
            match gql.status(&run_id).await?.as_str() {
                "SUCCESS" => break,
                "FAILURE" | "CANCELED" => bail!("run {run_id} did not succeed"),
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let launch_to_success_ms = median(latencies);
    println!("launch → SUCCESS (median/50)  {launch_to_success_ms:.1} ms");
    println!(
        "launch mutation (median/50)   {:.2} ms",
        median(mutation.clone())
    );

    // A burst, submitted from 4 connections at once; timed until every run is finished.
    let before = gql.finished_count().await?;
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let mut submitters = Vec::new();
    for k in 0..4 {
        let gql = Graphql::new(port);
        let n = burst / 4 + usize::from(k < burst % 4);
        submitters.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                gql.launch("one_op_job").await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(times)
        }));
    }
    let mut burst_mutations = Vec::new();
    for s in submitters {
        burst_mutations.extend(s.await??);
    }
    let submitted = started.elapsed();
    let target = before + burst as u64;
    while gql.finished_count().await? < target {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the burst did not finish in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let busy = match (cpu_before, cpu_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    };
    let runs_per_second = burst as f64 / elapsed;
    println!(
        "burst of {burst}: submitted in {:.2}s, all finished in {elapsed:.2}s → {runs_per_second:.0} runs/s (mutation median {:.2} ms under load; CPUs {:.0}% busy)",
        submitted.as_secs_f64(),
        median(burst_mutations),
        busy * 100.0
    );

    // Memory once idle again, after the burst and as runs accumulate up to `total`:
    // it should level off, not grow with the number of runs.
    let settle = Duration::from_secs(3);
    tokio::time::sleep(settle).await;
    let mut finished = gql.finished_count().await?;
    report_memory(&format!("idle memory after {finished} runs"), pgid);
    let mut next_report = finished.div_ceil(2500).max(1) * 2500;
    while finished < total as u64 {
        let n = (total as u64 - finished).min(1000);
        for _ in 0..n {
            gql.launch("one_op_job").await?;
        }
        while gql.finished_count().await? < finished + n {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        finished += n;
        if finished >= next_report || finished >= total as u64 {
            tokio::time::sleep(settle).await;
            report_memory(&format!("idle memory after {finished} runs"), pgid);
            next_report += 2500;
        }
    }
    Ok(Figures {
        launch_to_success_ms,
        runs_per_second,
        idle_rss_kb,
    })
}

/// Milliseconds from the reference script's "5732.4 ms ..." or "5.73s ..." (older versions).
fn parse_duration_ms(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    if words.next() == Some("ms") {
        return first.parse().ok();
    }
    if let Some(ms) = first.strip_suffix("ms") {
        return ms.parse().ok();
    }
    first
        .strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .map(|s| s * 1000.0)
}

/// Run Dagster's `dagster dev` reference now and print ratios against `ours`.
fn dagster_reference(ours: &Figures) -> Result<()> {
    let script = [
        "../shared/reference/dagster/dagster_bench.sh",
        "/work/shared/reference/dagster/dagster_bench.sh",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
    .context("Dagster reference script not found (../shared/reference/dagster)")?;
    println!("# Dagster 1.13 under `dagster dev`, measured now on this machine");
    let out = Command::new("bash").arg(&script).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    for line in text.lines() {
        if let Some(kb) = line
            .strip_prefix("idle RSS KB: ")
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            println!(
                "→ idle memory: Sluice uses {:.1}× less",
                kb / ours.idle_rss_kb as f64
            );
        }
        if let Some(ms) = line
            .strip_prefix("median launch->terminal ")
            .and_then(parse_duration_ms)
        {
            println!(
                "→ launch → SUCCESS: Sluice is {:.0}× faster",
                ms / ours.launch_to_success_ms
            );
        }
        if let Some(rate) = line
            .split("=> ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
        {
            println!(
                "→ burst throughput: Sluice is {:.0}× higher",
                ours.runs_per_second / rate
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_durations_in_either_unit() {
        assert_eq!(
            super::parse_duration_ms("5732.4 ms min 4577.1"),
            Some(5732.4)
        );
        assert_eq!(super::parse_duration_ms("5.5s min 4.5s"), Some(5500.0));
        assert_eq!(super::parse_duration_ms("soon"), None);
    }
}
