//! A worker paused past its heartbeat timeout (SIGSTOP) is failed by run monitoring; once
//! resumed (SIGCONT) it must stop at its next write or heartbeat, with nothing more of it
//! stored: before fencing, its log read RUN_FAILURE, STEP_SUCCESS, RUN_SUCCESS.

use std::time::{Duration, Instant};

use sluice_codeserver::CodeServerClient;
use sluice_core::events::EventType;
use sluice_core::run::RunStatus;
use sluice_daemon::{RunMonitor, RunMonitoringConfig};
use sluice_e2e::{Instance, alive};
use sluice_storage::prelude::*;

/// Send `signal` to `pid`, a worker this test started.
fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: signalling a process the test's own code server started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

async fn a_paused_worker_stops_once_its_run_has_ended(start_method: &str) {
    crate::repeat(start_method, || one_trial(start_method)).await;
}

async fn one_trial(start_method: &str) {
    let i = Instance::sqlite();
    let server = i.code_server_with(&["--start-method", start_method]);
    let client = CodeServerClient::from_url(&server.url);
    let storage = i.storage().await;
    let config = serde_json::json!({"ops": {"sleeper": {"config": {"seconds": 2}}}});
    let run = i.new_run("sleepy_job", config).await;
    let launched = client.launch_run(&run.run_id).await.unwrap();
    i.wait_for(&run.run_id, |r| r.status == RunStatus::Started)
        .await;

    signal(launched.pid, libc::SIGSTOP);
    // The monitor, with a short heartbeat timeout, fails the silent run.
    let monitor = RunMonitor::new(
        storage.clone(),
        RunMonitoringConfig {
            heartbeat_timeout_seconds: 1.0,
            ..RunMonitoringConfig::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while monitor.check().await.unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "the monitor never failed the run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Paused past the step's own two seconds: once resumed, its sleep is over at once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failed_at = storage
        .events_for_run(&run.run_id, None, None)
        .await
        .unwrap()
        .len();

    let resumed = Instant::now();
    signal(launched.pid, libc::SIGCONT);
    while alive(launched.pid) {
        assert!(
            resumed.elapsed() < Duration::from_secs(10),
            "the resumed worker carried on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Whatever the worker did after resuming, nothing of it is stored.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = storage
        .events_for_run(&run.run_id, None, None)
        .await
        .unwrap();
    let after: Vec<EventType> = events[failed_at..]
        .iter()
        .map(|e| e.event.event_type)
        .collect();
    assert_eq!(after, Vec::<EventType>::new(), "events after the run ended");
    assert_eq!(
        events.last().unwrap().event.event_type,
        EventType::RunFailure
    );
    let run = storage.get_run(&run.run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failure);
    assert!(
        !events
            .iter()
            .any(|e| e.event.event_type == EventType::StepSuccess),
        "the step's success was stored"
    );
}

#[tokio::test]
async fn a_paused_forked_worker_stops_once_its_run_has_ended() {
    a_paused_worker_stops_once_its_run_has_ended("forkserver").await;
}

#[tokio::test]
async fn a_paused_exec_worker_stops_once_its_run_has_ended() {
    a_paused_worker_stops_once_its_run_has_ended("exec").await;
}
