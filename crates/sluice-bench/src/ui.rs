//! `sluice-bench ui`: the web UI of `sluice dev` on a large instance (by default 100,000
//! runs and 1,000,000 events), measured over real HTTP: the runs list's first page and
//! its weight, a 500-step run's page, the 500-op job graph, the asset catalog, and the
//! delay from an event being stored to its arrival on a run page's live stream.
//!
//! Times are client round trips on the loopback interface, so they bound the server's
//! time from above.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::json;
use sluice_core::events::{EventType, RunEvent};
use sluice_core::run::{NewRun, RunStatus};
use sluice_storage::{Storage, StorageConfig};

use crate::processes::{free_port, start_dev};
use crate::{median, sibling_binary};

/// Jobs the stored runs are spread over (names of the demo location's jobs, so that
/// their pages link to real jobs).
const JOBS: [&str; 4] = ["one_op_job", "config_job", "chain_100", "gated_job"];
/// Requests per measured page (after one warm-up).
const ROUNDS: usize = 20;
/// Events written while the live log is watched.
const LIVE_EVENTS: usize = 50;

pub(crate) fn bench(runs: usize, events: usize) -> Result<()> {
    let home = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let storage: Arc<dyn Storage> =
        runtime.block_on(sluice_storage::open(&StorageConfig::Sqlite {
            path: home.path().join(sluice_storage::SQLITE_FILE),
        }))?;
    let seeded = Instant::now();
    runtime.block_on(seed(storage.as_ref(), runs, events))?;
    println!(
        "# sluice-bench ui: {runs} runs and {events} events stored in {:.1} s (SQLite)",
        seeded.elapsed().as_secs_f64()
    );

    let workspace = home.path().join("workspace.yaml");
    std::fs::write(
        &workspace,
        format!(
            "load_from:\n  - command:\n      executable: {}\n      args: [--location, demo]\n      location_name: demo\n",
            sibling_binary("sluice-user-code")?.display()
        ),
    )?;
    let port = free_port()?;
    let mut dev = start_dev(&workspace, home.path(), port, None)?;
    let pgid = dev.id();
    let result = runtime.block_on(measure(port, storage));
    // SAFETY: signalling the process group we created for `sluice dev`.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGTERM) };
    let _ = dev.wait();
    result
}

/// Store `runs` finished runs with `events` events between them, in batches of one
/// transaction per run (the runs list and its filters see them as any other runs).
async fn seed(storage: &dyn Storage, runs: usize, events: usize) -> Result<()> {
    let per_run = (events / runs.max(1)).max(3);
    let start = sluice_core::events::now_timestamp() - runs as f64 * 2.0;
    let writers = 8;
    let mut tasks = futures::stream::iter(0..runs)
        .map(|i| {
            let job = JOBS[i % JOBS.len()];
            let failed = i % 10 == 0;
            let mut run = NewRun::new(job);
            run.location_name = Some("demo".to_owned());
            run.status = RunStatus::NotStarted;
            run.tags
                .insert("team".into(), ["data", "finance", "ops"][i % 3].into());
            let at = start + i as f64 * 2.0;
            let at_time = |mut event: RunEvent, offset: f64| {
                event.timestamp = at + offset;
                event
            };
            let mut log = vec![at_time(
                RunEvent::new(&run.run_id, EventType::RunStart, "started"),
                0.0,
            )];
            for n in 0..per_run - 2 {
                let line = RunEvent::new(
                    &run.run_id,
                    EventType::Log,
                    format!("line {n} of a stored run"),
                )
                .step("work");
                log.push(at_time(line, 0.001 * n as f64));
            }
            let end = if failed {
                EventType::RunFailure
            } else {
                EventType::RunSuccess
            };
            log.push(at_time(RunEvent::new(&run.run_id, end, "finished"), 1.0));
            async move { storage.create_run_with_events(&run, &log).await }
        })
        .buffer_unordered(writers);
    while let Some(stored) = tasks.next().await {
        stored?;
    }
    Ok(())
}

struct Page {
    median_ms: f64,
    p95_ms: f64,
    bytes: usize,
}

async fn get(http: &reqwest::Client, url: &str) -> Result<Page> {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut bytes = 0;
    for round in 0..=ROUNDS {
        let t = Instant::now();
        let response = http.get(url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
        }
        if round > 0 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        bytes = body.len();
    }
    times.sort_by(f64::total_cmp);
    Ok(Page {
        median_ms: median(times.clone()),
        p95_ms: times[times.len() * 95 / 100],
        bytes,
    })
}

fn report(label: &str, page: &Page, target: &str) {
    println!(
        "{label:<44} median {:>7.2} ms  p95 {:>7.2} ms  {:>7.1} KB   (target {target})",
        page.median_ms,
        page.p95_ms,
        page.bytes as f64 / 1024.0
    );
}

async fn measure(port: u16, storage: Arc<dyn Storage>) -> Result<()> {
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("sluice dev did not come up on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A real 500-step run: fanout_500 launched through GraphQL, run by a worker.
    let launch = json!({
        "query": "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename ... on LaunchRunSuccess { run { runId } } } }",
        "variables": {"p": {"selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": "fanout_500"}, "runConfigData": {}}},
    });
    let answer: serde_json::Value = http
        .post(format!("{base}/graphql"))
        .json(&launch)
        .send()
        .await?
        .json()
        .await?;
    let fanout = answer["data"]["launchRun"]["run"]["runId"]
        .as_str()
        .with_context(|| format!("fanout_500 was not launched: {answer}"))?
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = storage
            .get_run(&fanout)
            .await?
            .context("the launched run")?;
        match run.status {
            RunStatus::Success => break,
            s if s.is_finished() => bail!("fanout_500 ended {s}"),
            _ if Instant::now() > deadline => bail!("fanout_500 did not finish in 2 minutes"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }

    let runs = get(&http, &format!("{base}/runs")).await?;
    report("runs list, first page (50 runs)", &runs, "≤ 30 ms");
    let failed = get(&http, &format!("{base}/runs?status=FAILURE&tag=team%3Dops")).await?;
    report("runs list, status + tag filter", &failed, "≤ 30 ms");
    let css = get(&http, &format!("{base}/static/sluice.css")).await?;
    let js = get(&http, &format!("{base}/static/sluice.js")).await?;
    let weight = runs.bytes + css.bytes + js.bytes;
    println!(
        "{:<44} {:.1} KB (HTML {:.1} + CSS {:.1} + JS {:.1}, uncompressed)   (target ≤ 200 KB)",
        "runs list, total page weight",
        weight as f64 / 1024.0,
        runs.bytes as f64 / 1024.0,
        css.bytes as f64 / 1024.0,
        js.bytes as f64 / 1024.0
    );
    let run_page = get(&http, &format!("{base}/runs/{fanout}")).await?;
    report("run page, 501-step fanout_500 run", &run_page, "≤ 50 ms");
    let graph = get(&http, &format!("{base}/jobs/demo/fanout_500")).await?;
    report("job page, 501-op graph (SVG)", &graph, "≤ 300 ms");
    let catalog = get(&http, &format!("{base}/assets")).await?;
    report("asset catalog", &catalog, "–");
    match browser_render(&http, &format!("{base}/jobs/demo/fanout_500")).await {
        Ok(load) => println!(
            "{:<44} loaded in {load:>7.1} ms (median of 5, headless Chromium)   (target ≤ 300 ms)",
            "job page, 501-op graph in a browser"
        ),
        Err(e) => println!("job page in a browser: not measured ({e:#})"),
    }

    live_delay(&http, &base, storage.as_ref()).await
}

/// Open `url` five times in headless Chromium (through chromedriver, over WebDriver's
/// HTTP protocol) and return the median time from the start of the navigation to the
/// end of its load event (the page parsed, styled and its SVG laid out), in ms.
async fn browser_render(http: &reqwest::Client, url: &str) -> Result<f64> {
    let port = free_port()?;
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting chromedriver (tests/services/chromium.sh installs it)")?;
    let result = async {
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while http.get(format!("{webdriver}/status")).send().await.is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not answer");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"],
        }}}});
        let session: serde_json::Value = http
            .post(format!("{webdriver}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json()
            .await?;
        let id = session["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no browser session: {session}"))?;
        let session_url = format!("{webdriver}/session/{id}");
        let timing = "return performance.getEntriesByType('navigation')[0].loadEventEnd;";
        let mut loads = Vec::new();
        for round in 0..6 {
            http.post(format!("{session_url}/url"))
                .json(&json!({"url": url}))
                .send()
                .await?
                .error_for_status()?;
            let answer: serde_json::Value = http
                .post(format!("{session_url}/execute/sync"))
                .json(&json!({"script": timing, "args": []}))
                .send()
                .await?
                .json()
                .await?;
            let Some(load) = answer["value"].as_f64() else {
                bail!("no timing from the browser: {answer}");
            };
            if round > 0 {
                loads.push(load);
            }
        }
        let _ = http.delete(&session_url).send().await;
        Ok(median(loads))
    }
    .await;
    let _ = driver.kill();
    let _ = driver.wait();
    result
}

/// Store events one at a time into a running run and time each one's arrival on the
/// run page's live stream.
async fn live_delay(http: &reqwest::Client, base: &str, storage: &dyn Storage) -> Result<()> {
    let mut run = NewRun::new("one_op_job");
    run.location_name = Some("demo".to_owned());
    let start = RunEvent::new(&run.run_id, EventType::RunStart, "started");
    let run = storage.create_run_with_events(&run, &[start]).await?;
    let response = http
        .get(format!("{base}/runs/{}/live", run.run_id))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("live stream: {}", response.status());
    }
    let mut response = response;
    let mut seen = String::new();
    let mut delays = Vec::with_capacity(LIVE_EVENTS);
    for i in 0..LIVE_EVENTS {
        let marker = format!("live-bench-{i}-end");
        let event = RunEvent::new(&run.run_id, EventType::Log, marker.clone()).step("work");
        let t = Instant::now();
        storage.store_events(&[event]).await?;
        while !seen.contains(&marker) {
            let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
                .await
                .context("no live event within 5 s")??
                .context("the live stream ended")?;
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        delays.push(t.elapsed().as_secs_f64() * 1000.0);
        seen.clear();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "{:<44} median {:>7.1} ms  max {:>7.1} ms over {LIVE_EVENTS} events   (target ≤ 200 ms)",
        "live log: event stored → on the stream",
        median(delays.clone()),
        delays[delays.len() - 1]
    );
    Ok(())
}
