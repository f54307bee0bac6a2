//! A `command:` code server killed under `sluice dev` (kill -9): its location says why
//! it is down, a launch meanwhile is refused with a typed error and stores nothing, and
//! the server is restarted and the location loaded again, without restarting `sluice
//! dev`. Before, the location stayed LOADED, launches were accepted and failed at once,
//! and only a restart of `sluice dev` helped.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::{
    Instance, alive, children, demo_workspace, graphql, start_dev, wait_until_finished,
};

const LOCATION: &str = "{ workspaceOrError { ... on Workspace { locationEntries { name \
    locationOrLoadError { __typename ... on PythonError { message } } } } } }";

const LAUNCH: &str = "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { \
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message className } } }";

const RUN_COUNT: &str = "{ runsOrError { ... on Runs { count } } }";

/// The demo location's entry: its `__typename` and load error, if any.
async fn location(url: &str) -> Value {
    let data = graphql(url, LOCATION, json!({})).await;
    data["workspaceOrError"]["locationEntries"][0]["locationOrLoadError"].clone()
}

async fn launch(url: &str) -> Value {
    let params = json!({"p": {"selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": "one_op_job"}}});
    graphql(url, LAUNCH, params).await["launchRun"].clone()
}

/// Poll the demo location until `done` says yes (20 s at most); the entry.
async fn wait_for_location(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entry = location(url).await;
        if done(&entry) {
            return entry;
        }
        assert!(Instant::now() < deadline, "location stuck at {entry}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_killed_code_server_is_restarted_and_its_location_reloaded() {
    crate::repeat("code_servers", one_trial).await;
}

async fn one_trial() {
    let instance = Instance::sqlite();
    let (dev, url) = start_dev(&instance, &demo_workspace(&instance));
    let servers = children(dev.id());
    assert_eq!(servers.len(), 1, "one code server for the one location");
    let killed = servers[0];
    // SAFETY: killing the code server this test's `sluice dev` started.
    assert_eq!(
        unsafe { libc::kill(killed as libc::pid_t, libc::SIGKILL) },
        0
    );

    let down = wait_for_location(&url, |e| e["__typename"] == "PythonError").await;
    let reason = down["message"].as_str().unwrap();
    assert!(
        reason.contains("exited") && reason.contains("signal: 9"),
        "{reason}"
    );
    assert!(reason.contains("restarting it in"), "{reason}");
    // A launch while it is down is refused, and stores nothing.
    let refused = launch(&url).await;
    assert_eq!(refused["__typename"], "PythonError", "{refused}");
    assert_eq!(
        refused["className"], "LocationUnavailableError",
        "{refused}"
    );
    let count = graphql(&url, RUN_COUNT, json!({})).await;
    assert_eq!(count["runsOrError"]["count"], 0);

    // Restarted, and loaded from the new server.
    wait_for_location(&url, |e| e["__typename"] == "RepositoryLocation").await;
    assert!(!alive(killed));
    let restarted = children(dev.id());
    assert_eq!(restarted.len(), 1);
    assert_ne!(restarted[0], killed);
    let run = launch(&url).await;
    let run_id = run["run"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("{run}"));
    assert_eq!(wait_until_finished(&url, run_id).await, "SUCCESS");
}
