//! Run monitoring against real storage: runs whose worker is gone are resolved.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::sync::Arc;

use sluice_core::events::{EventData, EventType, RunEvent, now_timestamp};
use sluice_core::run::{NewRun, RunStatus};
use sluice_daemon::{Launcher, RunMonitor, RunMonitoringConfig};
use sluice_storage::{Storage, StorageConfig};

async fn storage() -> (tempfile::TempDir, Arc<dyn Storage>) {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::Sqlite {
        path: dir.path().join("sluice.db"),
    };
    let storage: Arc<dyn Storage> = sluice_storage::open(&config).await.unwrap();
    (dir, storage)
}

/// A run moved through `events`, each `age` seconds in the past.
async fn run_with(storage: &dyn Storage, events: &[EventType], age: f64) -> String {
    let run = storage
        .create_run(&NewRun::new("sleepy_job"))
        .await
        .unwrap();
    let events: Vec<RunEvent> = events
        .iter()
        .map(|t| {
            let mut e = RunEvent::new(&run.run_id, *t, "test");
            e.timestamp = now_timestamp() - age;
            e
        })
        .collect();
    storage.store_events(&events).await.unwrap();
    run.run_id
}

#[tokio::test]
async fn silent_stuck_and_lingering_runs_are_resolved_and_healthy_ones_are_not() {
    let (_dir, storage) = storage().await;
    let s = storage.as_ref();
    let silent = run_with(s, &[EventType::RunStarting, EventType::RunStart], 100.0).await;
    let beating = run_with(s, &[EventType::RunStarting, EventType::RunStart], 100.0).await;
    storage
        .record_run_heartbeat(&beating, now_timestamp() - 1.0)
        .await
        .unwrap();
    let fresh = run_with(s, &[EventType::RunStarting, EventType::RunStart], 1.0).await;
    let stuck_starting = run_with(s, &[EventType::RunStarting], 100.0).await;
    let lingering_cancel = run_with(
        s,
        &[
            EventType::RunStarting,
            EventType::RunStart,
            EventType::RunCanceling,
        ],
        100.0,
    )
    .await;

    let config = RunMonitoringConfig {
        poll_interval_seconds: 1.0,
        heartbeat_timeout_seconds: 30.0,
        start_timeout_seconds: 30.0,
        cancel_timeout_seconds: 30.0,
    };
    let resolved = RunMonitor::new(Arc::clone(&storage), config)
        .check()
        .await
        .unwrap();
    assert_eq!(resolved, 3);

    let status = |id: String| {
        let storage = Arc::clone(&storage);
        async move { storage.get_run(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(status(silent.clone()).await, RunStatus::Failure);
    assert_eq!(status(beating).await, RunStatus::Started);
    assert_eq!(status(fresh).await, RunStatus::Started);
    assert_eq!(status(stuck_starting).await, RunStatus::Failure);
    assert_eq!(status(lingering_cancel).await, RunStatus::Canceled);

    let events = storage.events_for_run(&silent, None, None).await.unwrap();
    let engine = events
        .iter()
        .find(|e| e.event.event_type == EventType::EngineEvent)
        .expect("an engine event says why");
    assert!(
        engine.event.message.contains("stopped heartbeating"),
        "{}",
        engine.event.message
    );
}

/// A run left STARTING by a launcher of this machine's boot, process `pid`.
async fn starting_run_launched_by(storage: &dyn Storage, pid: u32) -> String {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let run = storage
        .create_run(&NewRun::new("sleepy_job"))
        .await
        .unwrap();
    let starting =
        RunEvent::new(&run.run_id, EventType::RunStarting, "test").data(EventData::Engine {
            metadata: serde_json::json!({"launcher_boot_id": boot_id.trim(), "launcher_pid": pid}),
        });
    storage.store_events(&[starting]).await.unwrap();
    run.run_id
}

#[tokio::test]
async fn runs_left_starting_by_a_launcher_that_ended_fail_at_once() {
    let (_dir, storage) = storage().await;
    let s = storage.as_ref();
    let mut launcher = std::process::Command::new("true").spawn().unwrap();
    let dead = launcher.id();
    launcher.wait().unwrap();
    let orphan = starting_run_launched_by(s, dead).await;
    let alive = starting_run_launched_by(s, std::os::unix::process::parent_id()).await;
    let unknown = run_with(s, &[EventType::RunStarting], 1.0).await;

    let monitor = RunMonitor::new(Arc::clone(&storage), RunMonitoringConfig::default());
    let here = Launcher::this_process().unwrap();
    assert_eq!(monitor.fail_orphaned_starts(&here).await.unwrap(), 1);
    let failed = storage.get_run(&orphan).await.unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failure, "no 60 s wait");
    let events = storage.events_for_run(&orphan, None, None).await.unwrap();
    let reason = &events.last().unwrap().event.message;
    assert!(reason.contains(&format!("process {dead}")), "{reason}");
    for untouched in [alive, unknown] {
        let run = storage.get_run(&untouched).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Starting);
    }
    // The check is idempotent.
    assert_eq!(monitor.fail_orphaned_starts(&here).await.unwrap(), 0);
}
