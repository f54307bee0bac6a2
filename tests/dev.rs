//! `sluice dev`: one command starts the code servers, the webserver and the daemon; a
//! run launched over GraphQL succeeds; Ctrl-C stops every process it started.

use std::os::unix::process::CommandExt;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::{Instance, bin, spawn_announcing};

/// A workspace whose one location is started by command, as the root workspace.yaml does.
fn workspace(instance: &Instance) -> std::path::PathBuf {
    let path = instance.home.path().join("workspace.yaml");
    let text = format!(
        "load_from:\n  - command:\n      executable: {}\n      args: [--location, demo]\n      location_name: demo\n",
        bin("sluice-user-code").display()
    );
    std::fs::write(&path, text).expect("write workspace.yaml");
    path
}

/// Start `sluice dev` on a free port in its own process group; the GraphQL URL it prints.
fn start_dev(instance: &Instance, workspace: &std::path::Path) -> (Child, String) {
    let mut command = instance.command("sluice");
    command
        .args(["dev", "-p", "0", "-w"])
        .arg(workspace)
        .process_group(0);
    let (child, url) = spawn_announcing(&mut command, "GraphQL: ");
    (child, url)
}

async fn graphql(url: &str, query: &str, variables: Value) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON answer");
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"].clone()
}

/// Child processes of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn dev_runs_a_job_end_to_end_and_stops_everything_on_ctrl_c() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let (mut dev, url) = start_dev(&instance, &workspace);
    let code_servers = children(dev.id());
    assert_eq!(
        code_servers.len(),
        1,
        "one code server for the one location"
    );

    let launched = graphql(
        &url,
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename ... on LaunchRunSuccess { run { runId } } } }",
        json!({"p": {"selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": "one_op_job"}}}),
    )
    .await;
    let run_id = launched["launchRun"]["run"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("launch failed: {launched}"))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data = graphql(
            &url,
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
            json!({"id": run_id}),
        )
        .await;
        match data["runOrError"]["status"].as_str() {
            Some("SUCCESS") => break,
            Some("FAILURE" | "CANCELED") => panic!("run ended {data}"),
            _ => assert!(Instant::now() < deadline, "run not done in 30 s: {data}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = graphql(
        &url,
        "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }",
        json!({}),
    )
    .await;
    let statuses = health["instance"]["daemonHealth"]["allDaemonStatuses"].to_string();
    assert!(statuses.contains("QUEUED_RUN_COORDINATOR"), "{statuses}");

    // Ctrl-C reaches the whole process group, as it does in a terminal.
    // SAFETY: signalling the process group created for this `sluice dev`.
    unsafe { libc::kill(-(dev.id() as libc::pid_t), libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = dev.try_wait().expect("wait for sluice dev") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sluice dev did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "sluice dev exited with {status}");
    for pid in code_servers {
        assert!(!alive(pid), "code server {pid} outlived sluice dev");
    }
}

#[tokio::test]
async fn dev_refuses_a_port_in_use_and_a_broken_workspace() {
    let instance = Instance::sqlite();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let workspace = workspace(&instance);
    let out = instance
        .command("sluice")
        .args(["dev", "-p", &port.to_string(), "-w"])
        .arg(&workspace)
        .output()
        .expect("run sluice dev");
    assert!(!out.status.success());
    let err = sluice_e2e::stderr(&out);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");

    let broken = instance.home.path().join("broken.yaml");
    std::fs::write(&broken, "load_from:\n  - nonsense: {}\n").expect("write");
    let out = instance
        .command("sluice")
        .args(["dev", "-p", "0", "-w"])
        .arg(&broken)
        .output()
        .expect("run sluice dev");
    assert!(!out.status.success());
    let err = sluice_e2e::stderr(&out);
    assert!(err.contains("broken.yaml"), "{err}");
}
