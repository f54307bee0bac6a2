//! The fault suite: Sluice's processes paused, killed and cut off from their database
//! while runs are under way, each trial asserting that no run is lost, none runs twice,
//! and every run ends with a reason.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod code_servers;
mod crash;
mod database;
mod fencing;

use sluice_core::events::EventType;
use sluice_core::run::{Run, RunStatus};
use sluice_storage::Storage;

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
