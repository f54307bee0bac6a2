//! The fault suite: Sluice's processes paused, killed and cut off from their database
//! while runs are under way, each trial asserting that no run is lost, none runs twice,
//! and every run ends with a reason.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod code_servers;
mod crash;
mod daemon;
mod database;
mod fencing;

use sluice_core::events::EventType;
use sluice_core::run::{Run, RunStatus};
use sluice_storage::{RunsFilter, Storage};

/// How many times each trial runs: `SLUICE_FAULT_TRIALS`, or once. The suite in
/// `tests/run.sh` runs each once; an operator who wants more confidence repeats them,
/// e.g. `SLUICE_FAULT_TRIALS=4 cargo test -p sluice-e2e --test faults`.
fn trials() -> usize {
    std::env::var("SLUICE_FAULT_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Run `trial` [`trials`] times, saying which each time.
async fn repeat<Fut: std::future::Future<Output = ()>>(what: &str, trial: impl Fn() -> Fut) {
    for n in 1..=trials() {
        eprintln!("{what}: trial {n}");
        trial().await;
    }
}

/// Check the trial's promises on `runs`, all finished: none started twice, none ran its
/// step twice, every failure says why. Returns the failures' reasons.
async fn check_runs(storage: &dyn Storage, runs: &[Run]) -> Vec<String> {
    let mut failures = Vec::new();
    for run in runs {
        assert!(
            run.status.is_finished(),
            "run {} is {}",
            run.run_id,
            run.status
        );
        let events = storage
            .events_for_run(&run.run_id, None, None)
            .await
            .unwrap();
        let count = |t: EventType| events.iter().filter(|e| e.event.event_type == t).count();
        assert!(
            count(EventType::RunStart) <= 1,
            "run {} started twice",
            run.run_id
        );
        assert!(
            count(EventType::StepSuccess) <= 1,
            "run {} ran its step twice",
            run.run_id
        );
        if run.status == RunStatus::Failure {
            let reason = events
                .iter()
                .rev()
                .find(|e| e.event.event_type == EventType::RunFailure)
                .map(|e| e.event.message.clone())
                .unwrap_or_default();
            assert!(
                !reason.is_empty(),
                "run {} failed without a reason",
                run.run_id
            );
            failures.push(reason);
        }
    }
    failures
}

/// Wait (`limit` at most) until every stored run has finished; the runs.
async fn wait_until_all_finished(storage: &dyn Storage, limit: std::time::Duration) -> Vec<Run> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let runs = storage
            .list_runs(&RunsFilter::default(), None, None)
            .await
            .unwrap();
        if runs.iter().all(|r| r.status.is_finished()) {
            return runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs unfinished after {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
