//! The daemon's run queue launching queued runs through a real code server.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_codeserver::Workspace;
use sluice_core::events::{EventType, RunEvent};
use sluice_core::run::{NewRun, Run, RunStatus};
use sluice_daemon::{Daemon, DaemonSettings, RunCoordinatorConfig, RunQueue, TagConcurrencyLimit};
use sluice_e2e::Instance;
use sluice_storage::{RunsFilter, Storage, Wakeup};
use tokio_util::sync::CancellationToken;

/// Queue a run of `job` with `tags`, as the webserver does.
async fn enqueue(
    storage: &dyn Storage,
    job: &str,
    config: serde_json::Value,
    tags: &[(&str, &str)],
) -> Run {
    let run = NewRun {
        status: RunStatus::Queued,
        location_name: Some("demo".into()),
        run_config: config,
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..NewRun::new(job)
    };
    let run = storage.create_run(&run).await.unwrap();
    storage
        .store_events(&[RunEvent::new(&run.run_id, EventType::RunEnqueued, "queued")])
        .await
        .unwrap();
    run
}

fn sleep_config(seconds: f64) -> serde_json::Value {
    serde_json::json!({"ops": {"sleeper": {"config": {"seconds": seconds}}}})
}

async fn statuses(storage: &dyn Storage, runs: &[&Run]) -> Vec<RunStatus> {
    let mut out = Vec::new();
    for r in runs {
        out.push(storage.get_run(&r.run_id).await.unwrap().unwrap().status);
    }
    out
}

async fn wait_all_finished(storage: &dyn Storage) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unfinished = RunsFilter {
            statuses: vec![
                RunStatus::Queued,
                RunStatus::Starting,
                RunStatus::Started,
                RunStatus::Canceling,
            ],
            ..RunsFilter::default()
        };
        if storage.count_runs(&unfinished).await.unwrap() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "runs did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_queue_respects_limits_and_priority() {
    let i = Instance::sqlite();
    let server = i.code_server();
    let storage: Arc<dyn Storage> = i.storage().await;
    let workspace = Workspace::connect(vec![("demo".into(), server.url.clone())]).await;
    let config = RunCoordinatorConfig {
        max_concurrent_runs: 2,
        tag_concurrency_limits: vec![TagConcurrencyLimit {
            key: "database".into(),
            value: Some("pg".into()),
            limit: 1,
        }],
    };
    let queue = RunQueue::new(Arc::clone(&storage), workspace, config);
    let s = storage.as_ref();
    let pg1 = enqueue(s, "sleepy_job", sleep_config(0.3), &[("database", "pg")]).await;
    let pg2 = enqueue(s, "sleepy_job", sleep_config(0.3), &[("database", "pg")]).await;
    let low = enqueue(s, "sleepy_job", sleep_config(0.3), &[]).await;
    let high = enqueue(
        s,
        "sleepy_job",
        sleep_config(0.3),
        &[("dagster/priority", "5")],
    )
    .await;

    // Two slots: the high-priority run first, then the oldest pg run; the second pg run
    // waits for the tag limit, and the low-priority run for a slot.
    assert_eq!(queue.dequeue().await.unwrap(), 2);
    let s4 = statuses(s, &[&pg1, &pg2, &low, &high]).await;
    assert_eq!(s4[1], RunStatus::Queued);
    assert_eq!(s4[2], RunStatus::Queued);
    assert_ne!(s4[0], RunStatus::Queued);
    assert_ne!(s4[3], RunStatus::Queued);
    assert_eq!(queue.dequeue().await.unwrap(), 0, "no slot is free yet");

    // Draining: each dequeue fills freed slots until everything ran.
    let deadline = Instant::now() + Duration::from_secs(30);
    while statuses(s, &[&pg1, &pg2, &low, &high])
        .await
        .iter()
        .any(|s| !s.is_finished())
    {
        queue.dequeue().await.unwrap();
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        statuses(s, &[&pg1, &pg2, &low, &high]).await,
        vec![RunStatus::Success; 4]
    );
}

#[tokio::test]
async fn a_run_for_a_missing_location_fails_with_the_reason() {
    let i = Instance::sqlite();
    let storage: Arc<dyn Storage> = i.storage().await;
    let queue = RunQueue::new(
        Arc::clone(&storage),
        Workspace::connect(vec![]).await,
        RunCoordinatorConfig::default(),
    );
    let run = enqueue(storage.as_ref(), "one_op_job", serde_json::json!({}), &[]).await;
    assert_eq!(queue.dequeue().await.unwrap(), 1);
    let done = storage.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::Failure);
    let events = storage
        .events_for_run(&run.run_id, None, None)
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e
            .event
            .message
            .contains("code location \"demo\" is not in the daemon's workspace")),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_daemon_is_woken_by_queued_runs_and_beats() {
    let i = Instance::sqlite();
    let server = i.code_server();
    let storage: Arc<dyn Storage> = i.storage().await;
    let workspace = Workspace::connect(vec![("demo".into(), server.url.clone())]).await;
    let wakeup = Wakeup::run_queue(i.home.path());
    let listener = wakeup.listen().unwrap();
    let shutdown = CancellationToken::new();
    let daemon = Daemon::new(Arc::clone(&storage), workspace, DaemonSettings::default());
    let handle = tokio::spawn(daemon.run(listener, shutdown.clone()));
    // Let the first, empty dequeue pass; then a queued run is launched on the wake-up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued_at = Instant::now();
    let run = enqueue(storage.as_ref(), "one_op_job", serde_json::json!({}), &[]).await;
    wakeup.notify();
    wait_all_finished(storage.as_ref()).await;
    let latency = queued_at.elapsed();
    let done = storage.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::Success);
    // Far below the 2 s fallback check: the wake-up did it.
    assert!(latency < Duration::from_millis(1500), "{latency:?}");
    let beats: Vec<String> = storage
        .daemon_heartbeats()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.daemon_type)
        .collect();
    assert_eq!(
        beats,
        [
            "BACKFILL",
            "MONITORING",
            "QUEUED_RUN_COORDINATOR",
            "SCHEDULER",
            "SENSOR"
        ]
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the daemon stops")
        .unwrap();
}
