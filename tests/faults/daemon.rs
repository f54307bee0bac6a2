//! kill -9 of `sluice-daemon` (the production daemon, beside its code server) with runs
//! queued and starting, then a restart: no run is lost, none runs twice, every run ends.

use std::time::{Duration, Instant};

use serde_json::json;
use sluice_core::run::{NewRun, RunStatus};
use sluice_e2e::{Instance, code_server_workspace, start_daemon};
use sluice_storage::RunsFilter;
use sluice_storage::prelude::*;

const RUNS: usize = 100;

#[tokio::test]
async fn a_killed_daemon_loses_no_run_and_runs_none_twice() {
    crate::repeat("daemon", one_trial).await;
}

async fn one_trial() {
    let instance = Instance::sqlite();
    std::fs::write(
        instance.home.path().join("sluice.yaml"),
        "run_coordinator:\n  max_concurrent_runs: 4\nrun_monitoring:\n  poll_interval_seconds: 0.2\n  heartbeat_timeout_seconds: 3\n",
    )
    .unwrap();
    let code_server = instance.code_server();
    let workspace = code_server_workspace(&instance, &code_server.url);
    let storage = instance.storage().await;
    for _ in 0..RUNS {
        let run = NewRun {
            location_name: Some("demo".to_owned()),
            status: RunStatus::Queued,
            run_config: json!({"ops": {"sleeper": {"config": {"seconds": 0.1}}}}),
            ..NewRun::new("sleepy_job")
        };
        storage.create_run(&run).await.unwrap();
    }
    let daemon = start_daemon(&instance, &workspace);
    let started = RunsFilter {
        statuses: vec![RunStatus::Starting, RunStatus::Started, RunStatus::Success],
        ..RunsFilter::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while storage.count_runs(&started).await.unwrap() < 8 {
        assert!(Instant::now() < deadline, "the daemon launched nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(daemon); // kill -9
    let queued = storage
        .count_runs(&RunsFilter {
            statuses: vec![RunStatus::Queued],
            ..RunsFilter::default()
        })
        .await
        .unwrap();
    assert!(queued > 0, "every run was launched before the kill");

    let _daemon = start_daemon(&instance, &workspace);
    let runs = crate::wait_until_all_finished(storage.as_ref(), Duration::from_secs(60)).await;
    assert_eq!(runs.len(), RUNS);
    let failures = crate::check_runs(storage.as_ref(), &runs).await;
    eprintln!(
        "daemon killed with {queued} runs queued: {} succeeded, failed: {failures:#?}",
        RUNS - failures.len()
    );
}
