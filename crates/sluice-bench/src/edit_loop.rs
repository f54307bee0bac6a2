//! `sluice-bench edit-loop`: how long a one-line change to an op takes to be served.
//!
//! A location made by `sluice new` is built once (its cold build is timed when the
//! target directory is empty). Then, twice over the same kind of edit (the message an
//! op logs, a new text each time):
//!
//! 1. with plain `cargo build`, to split a rebuild into compiling and linking (the
//!    linker is a wrapper that times itself);
//! 2. under `sluice dev`, from the moment the file is saved until the location's code
//!    server has been swapped (its `updatedTimestamp` moves); a run afterwards checks
//!    that the new code is what runs.
//!
//! The swap figure is the total under `sluice dev` less the median build.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::processes::free_port;
use crate::sibling_binary;

pub(crate) fn bench(edits: usize, target_dir: Option<PathBuf>) -> Result<()> {
    let work = tempfile::tempdir()?;
    let dir = work.path().join("acme");
    let sluice = sibling_binary("sluice")?;
    let created = Command::new(&sluice)
        .args(["new", "acme", "--dir"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status()?;
    if !created.success() {
        bail!("sluice new failed");
    }
    // Absolute: cargo runs in the crate's directory.
    let target = std::path::absolute(target_dir.unwrap_or_else(|| work.path().join("target")))?;
    let link_log = work.path().join("link-ms.log");
    // Beside the target directory, so that a reused one sees the same linker (cargo
    // relinks everything for another).
    std::fs::create_dir_all(&target)?;
    let linker = write_linker_wrapper(&target)?;
    let cargo = |args: &[&str]| -> Result<Duration> {
        let started = Instant::now();
        let out = Command::new("cargo")
            .args(args)
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .env(LINKER_ENV, &linker)
            .env("SLUICE_LINK_LOG", &link_log)
            .output()?;
        if !out.status.success() {
            bail!(
                "cargo {args:?} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(started.elapsed())
    };

    println!("# sluice-bench edit-loop: {edits} one-line edits to an op of a `sluice new` crate");
    let reused = target.join("debug").exists();
    let first = cargo(&["build"])?;
    if reused {
        println!("first build (target reused): {:.1} s", first.as_secs_f64());
    } else {
        println!("cold debug build: {:.1} s", first.as_secs_f64());
    }
    let tests = cargo(&["test", "--no-run"])?;
    let test_run = cargo(&["test"])?;
    println!(
        "cargo test: {:.1} s to build the tests, then {:.1} s for `cargo test`",
        tests.as_secs_f64(),
        test_run.as_secs_f64()
    );

    let lib = dir.join("src/lib.rs");
    let mut builds = Vec::new();
    let mut links = Vec::new();
    for n in 0..edits {
        edit(&lib, &format!("build {n}"))?;
        let _ = std::fs::remove_file(&link_log);
        builds.push(cargo(&["build"])?.as_secs_f64() * 1000.0);
        links.push(read_link_ms(&link_log)?);
    }

    let home = work.path().join("home");
    std::fs::create_dir_all(&home)?;
    let port = free_port()?;
    let mut dev = Command::new(&sluice)
        .args(["dev", "-p", &port.to_string(), "-w"])
        .arg(dir.join("workspace.yaml"))
        .env("SLUICE_HOME", &home)
        .env("CARGO_TARGET_DIR", &target)
        .env(LINKER_ENV, &linker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting sluice dev")?;
    let pgid = dev.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let totals = runtime.block_on(under_dev(port, &lib, edits));
    // SAFETY: signalling the process group we created for `sluice dev`.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGTERM) };
    let _ = dev.wait();
    let totals = totals?;

    let build = median(&builds);
    let link = median(&links);
    let total = median(&totals);
    println!("median of {edits} edits:");
    println!("  compile      {:>7.0} ms", build - link);
    println!("  link         {link:>7.0} ms");
    println!(
        "  swap         {:>7.0} ms (detect the save, start the new server, load it)",
        total - build
    );
    println!(
        "  save → served {total:>6.0} ms   (each: {})",
        join_ms(&totals)
    );
    Ok(())
}

/// Cargo's variable for the host's linker (x86-64 Linux, the machine benchmarked).
const LINKER_ENV: &str = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER";

/// A linker in `dir` that runs `cc` and appends how long it took, in ms, to the file
/// `$SLUICE_LINK_LOG` names (read when it runs, so the script stays the same and cargo
/// sees the same linker on every run).
fn write_linker_wrapper(dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("timed-cc");
    std::fs::write(
        &path,
        "#!/bin/sh\nstart=$(date +%s%N)\ncc \"$@\"\nstatus=$?\n[ -n \"$SLUICE_LINK_LOG\" ] && echo $(( ($(date +%s%N) - start) / 1000000 )) >> \"$SLUICE_LINK_LOG\"\nexit $status\n",
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

fn read_link_ms(log: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(log).context("the build linked nothing")?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .sum())
}

/// Rewrite the line of `load` that logs how many rows it loaded, with a new `label`.
fn edit(lib: &Path, label: &str) -> Result<()> {
    let text = std::fs::read_to_string(lib)?;
    let at = text
        .find("ctx.info(format!(\"loaded {} rows")
        .context("the op's line is not in src/lib.rs")?;
    let end = at + text[at..].find(";\n").context("unterminated line")? + 1;
    let line = format!("ctx.info(format!(\"loaded {{}} rows ({label})\", rows.len()));");
    std::fs::write(lib, format!("{}{line}{}", &text[..at], &text[end..]))?;
    Ok(())
}

/// Under `sluice dev`: each edit's time from save to the swapped server, in ms.
async fn under_dev(port: u16, lib: &Path, edits: usize) -> Result<Vec<f64>> {
    let url = format!("http://127.0.0.1:{port}/graphql");
    let http = reqwest::Client::new();
    let call = |query: &'static str, variables: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let answer: Value = http
                .post(&url)
                .json(&json!({"query": query, "variables": variables}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(answer["data"].clone())
        }
    };
    const UPDATED: &str = "{ workspaceOrError { ... on Workspace { locationEntries { updatedTimestamp locationOrLoadError { __typename } } } } }";
    let updated = || async {
        let data = call(UPDATED, json!({})).await?;
        let entry = &data["workspaceOrError"]["locationEntries"][0];
        anyhow::Ok((
            entry["updatedTimestamp"].as_f64().unwrap_or(0.0),
            entry["locationOrLoadError"]["__typename"] == "RepositoryLocation",
        ))
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    loop {
        if let Ok((_, true)) = updated().await {
            println!(
                "sluice dev serving the location after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            break;
        }
        if Instant::now() > deadline {
            bail!("the location did not load under sluice dev");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut totals = Vec::new();
    for n in 0..edits {
        let (before, _) = updated().await?;
        // Let the watcher settle after the last swap.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let label = format!("served {n}");
        edit(lib, &label)?;
        let saved = Instant::now();
        loop {
            let (now, loaded) = updated().await?;
            if now != before && loaded {
                break;
            }
            if saved.elapsed() > Duration::from_secs(120) {
                bail!("edit {n} was not served within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        totals.push(saved.elapsed().as_secs_f64() * 1000.0);
        check_new_code_runs(&call, &label).await?;
    }
    Ok(totals)
}

/// Launch `ingest` and check that its log has the edited line with `label`.
async fn check_new_code_runs<F, Fut>(call: &F, label: &str) -> Result<()>
where
    F: Fn(&'static str, Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value>>,
{
    const LAUNCH: &str = "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { ... on LaunchRunSuccess { run { runId } } } }";
    const LOGS: &str = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } logsForRun(runId: $id) { ... on EventConnection { events { ... on MessageEvent { message } } } } }";
    let params = json!({"p": {
        "selector": {"repositoryLocationName": "acme", "repositoryName": "__repository__", "jobName": "ingest"},
        "runConfigData": {"ops": {"extract": {"config": {"rows": 2}}}},
    }});
    let data = call(LAUNCH, params).await?;
    let run_id = data["launchRun"]["run"]["runId"]
        .as_str()
        .with_context(|| format!("launch failed: {data}"))?
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let data = call(LOGS, json!({"id": run_id})).await?;
        match data["runOrError"]["status"].as_str() {
            Some("SUCCESS") => {
                let expected = format!("loaded 2 rows ({label})");
                let found = data["logsForRun"]["events"]
                    .as_array()
                    .is_some_and(|events| events.iter().any(|e| e["message"] == expected));
                if !found {
                    bail!("the run after the swap did not log \"{expected}\"");
                }
                return Ok(());
            }
            Some("FAILURE" | "CANCELED") => bail!("the run after the swap failed"),
            _ if Instant::now() > deadline => bail!("the run after the swap did not finish"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn join_ms(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}
