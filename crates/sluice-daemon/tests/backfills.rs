//! The backfill daemon against real storage: submission in chunks that survives a
//! restart, completion once the runs finish, cancellation, and resuming.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::sync::Arc;

use sluice_core::events::{EventType, RunEvent};
use sluice_core::run::{Run, RunStatus};
use sluice_daemon::BackfillDaemon;
use sluice_storage::{
    BACKFILL_ID_TAG, BackfillRuns, BackfillStatus, NewBackfill, RunsFilter, Storage, StorageConfig,
    Wakeup,
};

struct Instance {
    home: tempfile::TempDir,
    storage: Arc<dyn Storage>,
}

impl Instance {
    async fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = sluice_storage::open(&StorageConfig::Sqlite {
            path: home.path().join("sluice.db"),
        })
        .await
        .unwrap();
        Self { home, storage }
    }

    /// A daemon, as a fresh process would start it.
    fn daemon(&self, chunk: usize, chunks_per_pass: usize) -> BackfillDaemon {
        BackfillDaemon::new(
            Arc::clone(&self.storage),
            Wakeup::run_queue(self.home.path()),
        )
        .chunk_size(chunk)
        .chunks_per_pass(chunks_per_pass)
    }

    async fn backfill(&self, partitions: usize) -> String {
        let days = (1..=partitions)
            .map(|d| format!("2026-01-{d:02}"))
            .collect();
        let mut spec = NewBackfill::new("demo", "daily_job", days);
        spec.tags.insert("team".into(), "billing".into());
        self.storage
            .add_backfill(&spec)
            .await
            .unwrap()
            .id()
            .to_owned()
    }

    async fn runs(&self, backfill: &str) -> Vec<Run> {
        let filter = RunsFilter {
            tags: [(BACKFILL_ID_TAG.to_owned(), backfill.to_owned())].into(),
            ..RunsFilter::default()
        };
        let mut runs = self.storage.list_runs(&filter, None, None).await.unwrap();
        runs.reverse();
        runs
    }

    async fn status(&self, backfill: &str) -> BackfillStatus {
        self.storage
            .backfill(backfill)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn events(&self, run: &Run, types: &[EventType]) {
        let events: Vec<RunEvent> = types
            .iter()
            .map(|t| RunEvent::new(&run.run_id, *t, ""))
            .collect();
        self.storage.store_events(&events).await.unwrap();
    }
}

#[tokio::test]
async fn a_backfill_is_submitted_in_chunks_across_a_restart_and_completes_with_its_runs() {
    let instance = Instance::new().await;
    let id = instance.backfill(25).await;
    // The first daemon submits two chunks of ten, then "dies".
    let moved = instance.daemon(10, 2).pass().await.unwrap();
    assert_eq!(moved, [(id.clone(), BackfillStatus::Requested)]);
    assert_eq!(instance.runs(&id).await.len(), 20);
    // A new daemon goes on from the stored count: each partition once.
    instance.daemon(10, 2).pass().await.unwrap();
    let runs = instance.runs(&id).await;
    let partitions: Vec<&str> = runs
        .iter()
        .map(|r| r.tags["dagster/partition"].as_str())
        .collect();
    let expected: Vec<String> = (1..=25).map(|d| format!("2026-01-{d:02}")).collect();
    assert_eq!(partitions, expected);
    assert!(runs.iter().all(|r| r.status == RunStatus::Queued
        && r.job_name == "daily_job"
        && r.tags["team"] == "billing"
        && r.tags["dagster/code_location"] == "demo"));
    // Waiting for its runs.
    instance.daemon(10, 2).pass().await.unwrap();
    assert_eq!(instance.status(&id).await, BackfillStatus::Requested);
    for (i, run) in runs.iter().enumerate() {
        let end = if i == 3 {
            EventType::RunFailure
        } else {
            EventType::RunSuccess
        };
        instance
            .events(run, &[EventType::RunStarting, EventType::RunStart, end])
            .await;
    }
    let moved = instance.daemon(10, 2).pass().await.unwrap();
    assert_eq!(moved, [(id.clone(), BackfillStatus::CompletedFailed)]);
    let done = instance.storage.backfill(&id).await.unwrap().unwrap();
    assert!(done.end_timestamp.is_some());
    // Finished backfills are left alone.
    assert!(instance.daemon(10, 2).pass().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_canceled_backfill_stops_its_runs_and_resumes_where_it_stopped() {
    let instance = Instance::new().await;
    let id = instance.backfill(30).await;
    instance.daemon(10, 1).pass().await.unwrap();
    let runs = instance.runs(&id).await;
    assert_eq!(runs.len(), 10);
    instance
        .events(&runs[0], &[EventType::RunStarting, EventType::RunStart])
        .await;
    instance
        .storage
        .set_backfill_status(&id, BackfillStatus::Canceling, None)
        .await
        .unwrap();
    let moved = instance.daemon(10, 1).pass().await.unwrap();
    assert_eq!(moved, [(id.clone(), BackfillStatus::Canceling)]);
    let runs = instance.runs(&id).await;
    assert_eq!(runs.len(), 10, "nothing more is submitted");
    assert_eq!(runs[0].status, RunStatus::Canceling);
    assert!(runs[1..].iter().all(|r| r.status == RunStatus::Canceled));
    // Once the running one has stopped, the backfill is canceled.
    instance.events(&runs[0], &[EventType::RunCanceled]).await;
    let moved = instance.daemon(10, 1).pass().await.unwrap();
    assert_eq!(moved, [(id.clone(), BackfillStatus::Canceled)]);

    // Resuming submits the partitions that never had a run.
    instance
        .storage
        .set_backfill_status(&id, BackfillStatus::Requested, None)
        .await
        .unwrap();
    instance.daemon(10, 5).pass().await.unwrap();
    let runs = instance.runs(&id).await;
    assert_eq!(runs.len(), 30);
    assert_eq!(runs[10].tags["dagster/partition"], "2026-01-11");
    assert!(runs[10..].iter().all(|r| r.status == RunStatus::Queued));
}

#[tokio::test]
async fn a_backfill_of_ranges_queues_one_run_per_range_with_its_ends_as_tags() {
    let instance = Instance::new().await;
    let days: Vec<String> = (1..=7).map(|d| format!("2026-01-{d:02}")).collect();
    let mut spec = NewBackfill::new("demo", "__ASSET_JOB", days);
    spec.runs = BackfillRuns::Ranges(vec![3, 3, 1]);
    let id = instance
        .storage
        .add_backfill(&spec)
        .await
        .unwrap()
        .id()
        .to_owned();
    // Two runs per chunk, one chunk per pass: a restart lands between ranges.
    instance.daemon(2, 1).pass().await.unwrap();
    assert_eq!(instance.runs(&id).await.len(), 2);
    instance.daemon(2, 1).pass().await.unwrap();
    let runs = instance.runs(&id).await;
    let ranges: Vec<(Option<&str>, Option<&str>, Option<&str>)> = runs
        .iter()
        .map(|r| {
            let tag = |t: &str| r.tags.get(t).map(String::as_str);
            (
                tag("dagster/asset_partition_range_start"),
                tag("dagster/asset_partition_range_end"),
                tag("dagster/partition"),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            (Some("2026-01-01"), Some("2026-01-03"), None),
            (Some("2026-01-04"), Some("2026-01-06"), None),
            (None, None, Some("2026-01-07")),
        ]
    );
    let stored = instance.storage.backfill(&id).await.unwrap().unwrap();
    assert_eq!(stored.submitted, 7);
    assert!(stored.pending_runs().is_empty());
}
