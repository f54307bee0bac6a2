//! From an empty directory to a location served by `sluice dev`, as a new user would
//! go: `sluice new`, the crate's own `cargo test`, then `sluice dev` on its
//! workspace.yaml; an edit is rebuilt and swapped in, a compile error keeps the last
//! good version serving and shows as the location's load error until it is fixed.
//!
//! The generated crate builds in a target directory kept between test runs
//! (`CARGO_TARGET_TMPDIR`), so only the first run on a machine compiles its
//! dependencies.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::{Instance, ProcessGroup, graphql, spawn_announcing, wait_until_finished};

const JOBS: &str = "{ workspaceOrError { ... on Workspace { locationEntries { name \
    locationOrLoadError { __typename ... on PythonError { message } \
    ... on RepositoryLocation { repositories { jobs { name description } } } } } } } }";

/// The one location's entry: `locationOrLoadError`.
async fn entry(url: &str) -> Value {
    let data = graphql(url, JOBS, json!({})).await;
    data["workspaceOrError"]["locationEntries"][0]["locationOrLoadError"].clone()
}

/// The description of job `ingest`, once the location is loaded.
fn ingest_description(entry: &Value) -> Option<String> {
    entry["repositories"][0]["jobs"]
        .as_array()?
        .iter()
        .find(|j| j["name"] == "ingest")?["description"]
        .as_str()
        .map(str::to_owned)
}

/// Poll (`limit` at most) until `done` holds for the location's entry.
async fn wait_for_entry(url: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let entry = entry(url).await;
        if done(&entry) {
            return entry;
        }
        assert!(Instant::now() < deadline, "location stuck at {entry}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_location_builds_tests_serves_and_reloads_on_save() {
    let instance = Instance::sqlite();
    let dir = instance.home.path().join("acme");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-location");
    let created = instance
        .command("sluice")
        .args(["new", "acme", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", sluice_e2e::stderr(&created));
    // Bad names and a directory that is not empty are refused.
    for (name, dir_arg) in [("Acme", "other"), ("acme", dir.to_str().unwrap())] {
        let refused = instance
            .command("sluice")
            .args(["new", name, "--dir", dir_arg])
            .output()
            .unwrap();
        assert!(!refused.status.success());
    }

    // Its own tests pass, as written.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let tested = Command::new(&cargo)
        .arg("test")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "cargo test of the new crate failed:\n{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    let report = String::from_utf8_lossy(&tested.stdout);
    assert!(report.contains("test result: ok. 3 passed"), "{report}");

    // Served by `sluice dev`, built from its workspace.yaml.
    let (_dev, url) = {
        use std::os::unix::process::CommandExt;
        let mut command = instance.command("sluice");
        command
            .args(["dev", "-p", "0", "-w"])
            .arg(dir.join("workspace.yaml"))
            .env("CARGO_TARGET_DIR", &target)
            .process_group(0);
        let (child, url) = spawn_announcing(&mut command, "GraphQL: ");
        (ProcessGroup(child), url)
    };
    let loaded = entry(&url).await;
    assert_eq!(
        ingest_description(&loaded).as_deref(),
        Some("Extracts rows, then loads them."),
        "{loaded}"
    );
    let launch = "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { \
        ... on LaunchRunSuccess { run { runId } } } }";
    let params = json!({"p": {
        "selector": {"repositoryLocationName": "acme", "repositoryName": "__repository__", "jobName": "ingest"},
        "runConfigData": {"ops": {"extract": {"config": {"rows": 4}}}},
    }});
    let run = graphql(&url, launch, params.clone()).await;
    let run_id = run["launchRun"]["run"]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(wait_until_finished(&url, &run_id).await, "SUCCESS");

    // An edit is rebuilt and swapped in.
    let lib = dir.join("src/lib.rs");
    edit(
        &lib,
        "Extracts rows, then loads them.",
        "Extracts rows, then loads them, edited.",
    );
    let saved = Instant::now();
    wait_for_entry(&url, Duration::from_secs(120), |e| {
        ingest_description(e).as_deref() == Some("Extracts rows, then loads them, edited.")
    })
    .await;
    eprintln!("edit visible after {:?}", saved.elapsed());

    // A compile error: the last good version keeps serving, and the error is shown.
    edit(
        &lib,
        "let total: i64 = ",
        "let total: i64 = \"not a number\"; let _ = ",
    );
    let failed = wait_for_entry(&url, Duration::from_secs(120), |e| {
        e["__typename"] == "PythonError"
    })
    .await;
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("error[E0308]") && message.contains("src/lib.rs"),
        "{message}"
    );
    assert!(message.contains("still serves"), "{message}");
    let run = graphql(&url, launch, params).await;
    let run_id = run["launchRun"]["run"]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(wait_until_finished(&url, &run_id).await, "SUCCESS");

    // Fixed, the error goes away.
    edit(
        &lib,
        "let total: i64 = \"not a number\"; let _ = ",
        "let total: i64 = ",
    );
    wait_for_entry(&url, Duration::from_secs(120), |e| {
        e["__typename"] == "RepositoryLocation"
    })
    .await;
}
