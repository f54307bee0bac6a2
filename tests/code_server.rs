//! The code server as the webserver and daemon see it: through the protocol client,
//! with real run worker processes.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::time::{Duration, Instant};

use sluice_codeserver::protocol::RunLaunched;
use sluice_codeserver::{ClientError, CodeServerClient};
use sluice_core::events::EventType;
use sluice_core::run::{Run, RunStatus};
use sluice_e2e::Instance;
use sluice_storage::prelude::*;

/// Launch a `sleepy_job` run that sleeps a minute, and wait until it has started.
/// Each test runs with workers forked by the fork server and executed as commands.
macro_rules! with_both_start_methods {
    ($($name:ident),* $(,)?) => {
        mod forkserver {
            $(#[tokio::test]
            async fn $name() {
                super::$name("forkserver").await;
            })*
        }
        mod exec {
            $(#[tokio::test]
            async fn $name() {
                super::$name("exec").await;
            })*
        }
    };
}

with_both_start_methods!(
    serves_the_snapshot_and_runs_launched_runs_in_workers,
    terminate_cancels_a_running_run,
    a_worker_that_dies_fails_its_run_with_an_engine_event,
);

async fn start_sleeping_run(i: &Instance, client: &CodeServerClient) -> (Run, RunLaunched) {
    let config = serde_json::json!({"ops": {"sleeper": {"config": {"seconds": 60}}}});
    let run = i.new_run("sleepy_job", config).await;
    let launched = client.launch_run(&run.run_id).await.unwrap();
    i.wait_for(&run.run_id, |r| r.status == RunStatus::Started)
        .await;
    (run, launched)
}

async fn serves_the_snapshot_and_runs_launched_runs_in_workers(start_method: &str) {
    let i = Instance::sqlite();
    let server = i.code_server_with(&["--start-method", start_method]);
    let client = CodeServerClient::from_url(&server.url);
    let health = client.health().await.unwrap();
    assert_eq!(
        (health.location_name.as_str(), health.running_runs),
        ("demo", 0)
    );
    let snapshot = client.snapshot().await.unwrap();
    // The eight op jobs, `refresh_staging` and `__ASSET_JOB`, and the six assets.
    assert_eq!(snapshot.jobs.len(), 11);
    assert_eq!(snapshot.assets.len(), 7);
    assert_eq!(snapshot.job("chain_100").unwrap().nodes.len(), 100);

    let run = i
        .new_run(
            "config_job",
            serde_json::json!({"ops": {"use_config": {"config": {"n": 2}}}}),
        )
        .await;
    let launched = client.launch_run(&run.run_id).await.unwrap();
    assert!(launched.pid > 0);
    let done = i.wait_for(&run.run_id, |r| r.status.is_finished()).await;
    assert_eq!(done.status, RunStatus::Success);

    // A finished run is not launched again.
    let err = client.launch_run(&run.run_id).await.unwrap_err();
    assert_eq!(err.kind(), Some("RunFinished"), "{err}");
}

async fn terminate_cancels_a_running_run(start_method: &str) {
    let i = Instance::sqlite();
    let server = i.code_server_with(&["--start-method", start_method]);
    let client = CodeServerClient::from_url(&server.url);
    let (run, launched) = start_sleeping_run(&i, &client).await;
    // A forked worker is a copy of the serving process; an executed one runs execute-run.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", launched.pid)).unwrap();
    let executed = String::from_utf8_lossy(&cmdline).contains("execute-run");
    assert_eq!(executed, start_method == "exec", "worker {}", launched.pid);
    let asked = Instant::now();
    let result = client.terminate_run(&run.run_id).await.unwrap();
    assert!(result.signalled, "{result:?}");
    let done = i.wait_for(&run.run_id, |r| r.status.is_finished()).await;
    assert_eq!(done.status, RunStatus::Canceled);
    assert!(asked.elapsed() < Duration::from_secs(5));
    // Once the worker has exited, the code server forgets it: nothing to terminate.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.health().await.unwrap().running_runs > 0 {
        assert!(Instant::now() < deadline, "the worker never exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = client.terminate_run(&run.run_id).await.unwrap();
    assert!(!again.signalled);
}

async fn a_worker_that_dies_fails_its_run_with_an_engine_event(start_method: &str) {
    let i = Instance::sqlite();
    let server = i.code_server_with(&["--start-method", start_method]);
    let client = CodeServerClient::from_url(&server.url);
    let (run, launched) = start_sleeping_run(&i, &client).await;
    // SAFETY: killing the worker process the code server just started for this test.
    assert_eq!(
        unsafe { libc::kill(launched.pid as libc::pid_t, libc::SIGKILL) },
        0
    );
    let done = i.wait_for(&run.run_id, |r| r.status.is_finished()).await;
    assert_eq!(done.status, RunStatus::Failure);
    let events = i
        .storage()
        .await
        .events_for_run(&run.run_id, None, None)
        .await
        .unwrap();
    let engine = events
        .iter()
        .find(|e| {
            e.event.event_type == EventType::EngineEvent
                && e.event.message.contains("exited unexpectedly")
        })
        .expect("an engine event says why the run failed");
    assert!(
        engine.event.message.contains("signal: 9"),
        "{}",
        engine.event.message
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_their_kind() {
    let i = Instance::sqlite();
    let server = i.code_server();
    let client = CodeServerClient::from_url(&server.url);
    let err = client.launch_run("no-such-run").await.unwrap_err();
    assert_eq!(err.kind(), Some("RunNotFound"), "{err}");
    let ghost = i.new_run("ghost_job", serde_json::json!({})).await;
    let err = client.launch_run(&ghost.run_id).await.unwrap_err();
    assert_eq!(err.kind(), Some("JobNotFound"), "{err}");
    assert!(err.to_string().contains("\"ghost_job\""), "{err}");
}

#[tokio::test]
async fn a_down_or_foreign_server_is_a_clear_error() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = CodeServerClient::new("127.0.0.1", port)
        .health()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("is unreachable"), "{err}");

    // A server that answers, but not in the protocol.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async { "<html>hello</html>" });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let err = CodeServerClient::from_url(&url)
        .snapshot()
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Garbage { .. }), "{err}");
    assert!(err.to_string().contains("not the Sluice protocol"), "{err}");
}
