//! kill -9 of the whole `sluice dev` (its process group: webserver, daemon, code
//! servers and run workers) in the middle of a burst of queued runs, then a restart on
//! the same instance: no run is lost, none runs twice, and every run ends, those that
//! cannot finish with a reason.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use sluice_core::run::RunStatus;
use sluice_e2e::{Instance, demo_workspace, graphql, start_dev};
use sluice_storage::RunsFilter;
use sluice_storage::prelude::*;

const RUNS: usize = 300;

const LAUNCH: &str = "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { \
    ... on LaunchRunSuccess { run { runId } } } }";

#[tokio::test]
async fn a_crash_mid_burst_loses_no_run_and_runs_none_twice() {
    crate::repeat("crash", one_trial).await;
}

async fn one_trial() {
    let instance = Instance::sqlite();
    // Two runs at a time, so that most are still queued at the crash; quick monitoring,
    // so that runs whose workers died with `sluice dev` end soon.
    std::fs::write(
        instance.home.path().join("sluice.yaml"),
        "run_coordinator:\n  max_concurrent_runs: 2\nrun_monitoring:\n  poll_interval_seconds: 0.2\n  heartbeat_timeout_seconds: 3\n",
    )
    .unwrap();
    let workspace = demo_workspace(&instance);
    let (dev, url) = start_dev(&instance, &workspace);
    // Runs of a fifth of a second each, two at a time: launching is quicker.
    let params = json!({"p": {
        "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": "sleepy_job"},
        "runConfigData": {"ops": {"sleeper": {"config": {"seconds": 0.2}}}},
    }});
    let mut run_ids = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let data = graphql(&url, LAUNCH, params.clone()).await;
        run_ids.push(
            data["launchRun"]["run"]["runId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Mid-burst: some runs done, some running or starting, most queued.
    drop(dev); // kill -9 of the whole process group

    let storage = instance.storage().await;
    let unfinished = storage
        .count_runs(&RunsFilter {
            statuses: vec![RunStatus::Queued, RunStatus::Starting, RunStatus::Started],
            ..RunsFilter::default()
        })
        .await
        .unwrap();
    assert!(
        unfinished > RUNS as u64 / 2,
        "only {unfinished} runs were left to recover"
    );

    // Restarted with more room, so that the queue drains quickly.
    std::fs::write(
        instance.home.path().join("sluice.yaml"),
        "run_coordinator:\n  max_concurrent_runs: 20\nrun_monitoring:\n  poll_interval_seconds: 0.2\n  heartbeat_timeout_seconds: 3\n",
    )
    .unwrap();
    let (_dev, _url) = start_dev(&instance, &workspace);
    let runs = crate::wait_until_all_finished(storage.as_ref(), Duration::from_secs(90)).await;
    assert_eq!(runs.len(), RUNS, "runs lost or made up");
    let failures = crate::check_runs(storage.as_ref(), &runs).await;
    let mut statuses: HashMap<RunStatus, usize> = HashMap::new();
    for run in &runs {
        *statuses.entry(run.status).or_default() += 1;
    }
    assert!(
        statuses.get(&RunStatus::Success).copied().unwrap_or(0) > 0,
        "{statuses:?}"
    );
    eprintln!(
        "after the crash: {unfinished} unfinished; in the end {statuses:?}; failed: {failures:#?}"
    );
}
