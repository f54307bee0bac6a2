//! Code locations under `sluice dev`, driven through GraphQL as a Dagster user would:
//! a reload starts a new code server and retires the old one once its runs are done, a
//! shutdown stops the server until the next reload, and a location that cannot load
//! never stops `sluice dev` or the other locations.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::{
    Instance, alive, bin, children, demo_workspace, graphql, start_dev, wait_until_finished,
};

const ENTRIES: &str = "{ workspaceOrError { ... on Workspace { locationEntries { name \
    locationOrLoadError { __typename ... on PythonError { message className } } } } } }";

const RELOAD: &str = "mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { \
    __typename ... on WorkspaceLocationEntry { locationOrLoadError { __typename } } } }";

const SHUTDOWN: &str = "mutation($name: String!) { shutdownRepositoryLocation(repositoryLocationName: $name) { \
    __typename } }";

const LAUNCH: &str = "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { \
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message className } } }";

/// Every location's `locationOrLoadError`, by name.
async fn entries(url: &str) -> Vec<(String, Value)> {
    let data = graphql(url, ENTRIES, json!({})).await;
    data["workspaceOrError"]["locationEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["locationOrLoadError"].clone(),
            )
        })
        .collect()
}

async fn launch(url: &str, job: &str, config: Value) -> Value {
    let params = json!({"p": {
        "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": job},
        "runConfigData": config,
    }});
    graphql(url, LAUNCH, params).await["launchRun"].clone()
}

/// Wait (10 s at most) until `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reload_swaps_in_a_new_code_server_and_the_old_one_finishes_its_run() {
    let instance = Instance::sqlite();
    let (dev, url) = start_dev(&instance, &demo_workspace(&instance));
    let old = children(dev.id());
    assert_eq!(old.len(), 1, "one code server");
    let old = old[0];
    let running = launch(
        &url,
        "sleepy_job",
        json!({"ops": {"sleeper": {"config": {"seconds": 1.5}}}}),
    )
    .await;
    let run_id = running["run"]["runId"].as_str().unwrap().to_owned();
    // Wait until the old server has started the run's worker.
    eventually("the worker started", || !children(old).is_empty()).await;

    let answer = graphql(&url, RELOAD, json!({"name": "demo"})).await;
    assert_eq!(
        answer["reloadRepositoryLocation"]["locationOrLoadError"]["__typename"],
        "RepositoryLocation",
        "{answer}"
    );
    let now = children(dev.id());
    let new: Vec<u32> = now.iter().copied().filter(|p| *p != old).collect();
    assert_eq!(new.len(), 1, "a new code server beside the old: {now:?}");
    assert!(alive(old), "the old server waits for its run");

    // New launches go to the new server.
    let next = launch(&url, "one_op_job", json!({})).await;
    let next_id = next["run"]["runId"].as_str().unwrap().to_owned();
    assert_eq!(wait_until_finished(&url, &next_id).await, "SUCCESS");
    // The run in flight finishes on the old server, which then exits and is reaped.
    assert_eq!(wait_until_finished(&url, &run_id).await, "SUCCESS");
    eventually("the old server exited", || !alive(old)).await;
    assert_eq!(children(dev.id()), new);
}

#[tokio::test]
async fn a_shutdown_stops_the_code_server_until_the_next_reload() {
    let instance = Instance::sqlite();
    let (dev, url) = start_dev(&instance, &demo_workspace(&instance));
    let server = children(dev.id())[0];
    let answer = graphql(&url, SHUTDOWN, json!({"name": "demo"})).await;
    assert_eq!(
        answer["shutdownRepositoryLocation"]["__typename"],
        "ShutdownRepositoryLocationSuccess"
    );
    eventually("the server exited", || !alive(server)).await;
    let (_, entry) = &entries(&url).await[0];
    assert_eq!(entry["__typename"], "PythonError");
    assert!(
        entry["message"].as_str().unwrap().contains("shut down"),
        "{entry}"
    );
    // Not restarted behind the user's back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(children(dev.id()).is_empty());
    let refused = launch(&url, "one_op_job", json!({})).await;
    assert_eq!(
        refused["className"], "LocationUnavailableError",
        "{refused}"
    );

    let answer = graphql(&url, RELOAD, json!({"name": "demo"})).await;
    assert_eq!(
        answer["reloadRepositoryLocation"]["locationOrLoadError"]["__typename"],
        "RepositoryLocation"
    );
    let run = launch(&url, "one_op_job", json!({})).await;
    let run_id = run["run"]["runId"].as_str().unwrap().to_owned();
    assert_eq!(wait_until_finished(&url, &run_id).await, "SUCCESS");
}

#[tokio::test]
async fn a_location_that_cannot_load_stops_neither_dev_nor_the_others() {
    let instance = Instance::sqlite();
    let workspace = instance.home.path().join("workspace.yaml");
    let user_code = bin("sluice-user-code");
    std::fs::write(
        &workspace,
        format!(
            "load_from:
  - command: {{executable: {user_code}, args: [--location, demo], location_name: demo}}
  - command: {{executable: /nonexistent/acme, location_name: missing}}
  - command: {{executable: {user_code}, args: [--location, demo], location_name: misnamed}}
  - cargo: {{manifest_path: ../acme/Cargo.toml, location_name: unbuilt}}
  - command: {{executable: /bin/sh, args: [-c, 'echo \"error: code location failed to load: GET /reports answered 503\" >&2; exit 1'], location_name: reports}}
",
            user_code = user_code.display()
        ),
    )
    .unwrap();
    let (_dev, url) = start_dev(&instance, &workspace);
    let entries = entries(&url).await;
    let by_name = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .unwrap()
    };
    assert_eq!(by_name("demo")["__typename"], "RepositoryLocation");
    let message = |name: &str| by_name(name)["message"].as_str().unwrap().to_owned();
    let missing = message("missing");
    assert!(
        missing.contains("/nonexistent/acme") && missing.contains("No such file"),
        "{missing}"
    );
    let misnamed = message("misnamed");
    assert!(
        misnamed.contains("serves location \"demo\"") && misnamed.contains("names it \"misnamed\""),
        "{misnamed}"
    );
    let unbuilt = message("unbuilt");
    assert!(
        unbuilt.contains("acme/Cargo.toml does not exist") && unbuilt.contains("manifest_path"),
        "{unbuilt}"
    );
    // What a server that could not load said is its load error.
    let reports = message("reports");
    assert!(
        reports.contains("exited before it was listening (exit status: 1)")
            && reports.contains("GET /reports answered 503"),
        "{reports}"
    );
    // The location that loaded serves.
    let run = launch(&url, "one_op_job", json!({})).await;
    let run_id = run["run"]["runId"].as_str().unwrap().to_owned();
    assert_eq!(wait_until_finished(&url, &run_id).await, "SUCCESS");
}
