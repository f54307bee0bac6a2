//! Run monitoring against real storage: runs whose worker is gone are resolved.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::sync::Arc;

use sluice_core::events::{EventType, RunEvent, now_timestamp};
use sluice_core::run::{NewRun, RunStatus};
use sluice_daemon::{RunMonitor, RunMonitoringConfig};
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
