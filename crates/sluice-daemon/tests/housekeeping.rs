//! The daemon's housekeeping against real storage: what is past its retention goes, the
//! rest stays, and the wall-clock scheduler starts and stops.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use sluice_daemon::{Housekeeping, Retention};
use sluice_storage::{
    DaemonHeartbeat, InstigatorKey, InstigatorType, NewTick, Storage, StorageConfig, TickResult,
    TickStatus, TicksFilter,
};

const DAY: f64 = 86_400.0;

async fn storage(home: &tempfile::TempDir) -> Arc<dyn Storage> {
    sluice_storage::open(&StorageConfig::Sqlite {
        path: home.path().join("sluice.db"),
    })
    .await
    .unwrap()
}

async fn tick(storage: &dyn Storage, key: &InstigatorKey, timestamp: f64, status: TickStatus) {
    storage
        .add_tick(&NewTick {
            instigator: key.clone(),
            timestamp,
            result: TickResult::new(status),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn old_skipped_ticks_and_stale_heartbeats_go_and_the_rest_stays() {
    let home = tempfile::tempdir().unwrap();
    let storage = storage(&home).await;
    let now = 100.0 * DAY;
    let sensor = InstigatorKey::new("demo", "inbox", InstigatorType::Sensor);
    tick(
        storage.as_ref(),
        &sensor,
        now - 8.0 * DAY,
        TickStatus::Skipped,
    )
    .await;
    tick(
        storage.as_ref(),
        &sensor,
        now - 8.0 * DAY,
        TickStatus::Failure,
    )
    .await;
    tick(
        storage.as_ref(),
        &sensor,
        now - 1.0 * DAY,
        TickStatus::Skipped,
    )
    .await;
    for (daemon_type, timestamp) in [("SENSOR", now - 60.0), ("RETIRED_LOOP", now - 30.0 * DAY)] {
        storage
            .record_daemon_heartbeat(&DaemonHeartbeat {
                daemon_type: daemon_type.to_owned(),
                daemon_id: "d1".to_owned(),
                timestamp,
                errors: Vec::new(),
            })
            .await
            .unwrap();
    }

    let housekeeping = Housekeeping::new(
        Arc::clone(&storage),
        Retention {
            skipped_tick_days: 7.0,
            heartbeat_seconds: 7.0 * DAY,
        },
    );
    assert_eq!(housekeeping.purge_skipped_ticks(now).await.unwrap(), 1);
    assert_eq!(housekeeping.prune_heartbeats(now).await.unwrap(), 1);

    let left: Vec<(f64, TickStatus)> = storage
        .ticks(Some(&sensor.selector_id()), &TicksFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.timestamp, t.result.status))
        .collect();
    assert_eq!(
        left,
        [
            (now - 1.0 * DAY, TickStatus::Skipped),
            (now - 8.0 * DAY, TickStatus::Failure)
        ]
    );
    let beats: Vec<String> = storage
        .daemon_heartbeats()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.daemon_type)
        .collect();
    assert_eq!(beats, ["SENSOR"]);

    // Nothing is left to do a second time.
    assert_eq!(housekeeping.purge_skipped_ticks(now).await.unwrap(), 0);
    assert_eq!(housekeeping.prune_heartbeats(now).await.unwrap(), 0);
}

#[tokio::test]
async fn the_chores_are_scheduled_on_the_wall_clock_and_stop_on_shutdown() {
    let home = tempfile::tempdir().unwrap();
    let housekeeping = Housekeeping::new(
        storage(&home).await,
        Retention {
            skipped_tick_days: 7.0,
            heartbeat_seconds: 7.0 * DAY,
        },
    );
    let mut scheduler = housekeeping.schedule().await.unwrap();
    let next = scheduler.time_till_next_job().await.unwrap();
    assert!(
        next.is_some_and(|d| d <= std::time::Duration::from_secs(3600)),
        "the next chore is within the hour: {next:?}"
    );
    scheduler.shutdown().await.unwrap();
}
