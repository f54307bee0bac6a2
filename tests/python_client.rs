//! Dagster's own Python client (`dagster_graphql.DagsterGraphQLClient`, unmodified)
//! against `sluice-webserver`, and with `sluice-daemon` the whole path to SUCCESS.
//!
//! The client comes from PyPI in a virtualenv: `$SLUICE_TEST_PYTHON` names its python
//! (tests/run.sh sets it up), otherwise `target/py-venv` is created here on first use.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::{Instance, Running, code_server_workspace, spawn_announcing, start_daemon};

/// The python of a virtualenv that has `dagster-graphql`.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("SLUICE_TEST_PYTHON").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/py-venv
        let target = exe
            .ancestors()
            .nth(3)
            .expect("test executable lives in target/<profile>/deps");
        let venv = target.join("py-venv");
        let python = venv.join("bin/python");
        if !python.is_file() {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("run python3 -m venv");
            assert!(
                status.success(),
                "python3 -m venv {} failed",
                venv.display()
            );
        }
        let has_client = Command::new(&python)
            .args(["-c", "import dagster_graphql"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_client {
            let status = Command::new(&python)
                .args(["-m", "pip", "install", "-q", "dagster-graphql"])
                .status()
                .expect("run pip");
            assert!(status.success(), "pip install dagster-graphql failed");
        }
        python
    })
}

/// Start `sluice-webserver` on a free port; its `host:port`.
fn webserver(instance: &Instance, workspace: &Path) -> Running {
    let mut command = instance.command("sluice-webserver");
    command.args(["-w"]).arg(workspace).args(["--port", "0"]);
    let (child, url) = spawn_announcing(&mut command, "listening on http://");
    Running { child, url }
}

/// Everything a test needs: instance, code server, webserver, and an admin's token
/// (the webserver signs every request in).
struct Setup {
    instance: Instance,
    _code_server: Running,
    webserver: Running,
    workspace: PathBuf,
    token: String,
}

/// Create an API token with `sluice token create`; its secret.
fn create_token(instance: &Instance, name: &str, role: &str) -> String {
    let out = instance
        .command("sluice")
        .args(["token", "create", "--name", name, "--role", role])
        .output()
        .expect("run sluice token create");
    assert!(out.status.success(), "{}", sluice_e2e::stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn setup() -> Setup {
    let instance = Instance::sqlite();
    let code_server = instance.code_server();
    let workspace = code_server_workspace(&instance, &code_server.url);
    let webserver = webserver(&instance, &workspace);
    let token = create_token(&instance, "python-client", "admin");
    Setup {
        instance,
        _code_server: code_server,
        webserver,
        workspace,
        token,
    }
}

const PRELUDE: &str = r#"
import json, os, sys
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
host, port = os.environ["SLUICE_ADDR"].rsplit(":", 1)
token = os.environ.get("SLUICE_TOKEN")
headers = {"Authorization": "Bearer " + token} if token else None
client = DagsterGraphQLClient(host, port_number=int(port), headers=headers)
def out(value):
    print(json.dumps(value))
def error(e):
    return {"error": [a if isinstance(a, (str, list, dict)) else str(a) for a in e.args]}
"#;

/// Run a Python snippet against the webserver, signed in with the admin's token; the
/// JSON it prints last.
fn py(setup: &Setup, snippet: &str) -> Value {
    py_as(setup, Some(&setup.token), snippet)
}

/// Run a Python snippet against the webserver with `token` (none: not signed in).
fn py_as(setup: &Setup, token: Option<&str>, snippet: &str) -> Value {
    let mut command = Command::new(python());
    if let Some(token) = token {
        command.env("SLUICE_TOKEN", token);
    }
    let output = command
        .arg("-c")
        .arg(format!("{PRELUDE}\n{snippet}"))
        .env("SLUICE_ADDR", &setup.webserver.url)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed:\n{snippet}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn status(setup: &Setup, run_id: &str) -> String {
    py(
        setup,
        &format!("out(str(client.get_run_status({run_id:?}).value))"),
    )
    .as_str()
    .expect("status")
    .to_owned()
}

fn wait_status(setup: &Setup, run_id: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = status(setup, run_id);
        if now == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} is {now}, not {wanted}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn submit_with_and_without_location_and_read_the_status() {
    let s = setup();
    let out = py(
        &s,
        r#"
a = client.submit_job_execution("one_op_job", repository_location_name="demo", repository_name="__repository__", tags={"team": "data", "n": 1})
b = client.submit_job_execution("config_job", run_config={"ops": {"use_config": {"config": {"n": 3}}}})
out({"a": a, "b": b, "status_a": str(client.get_run_status(a).value), "status_b": str(client.get_run_status(b).value)})
"#,
    );
    assert_eq!(out["status_a"], "QUEUED");
    assert_eq!(out["status_b"], "QUEUED");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let storage = runtime.block_on(s.instance.storage());
    let a = runtime
        .block_on(sluice_storage::RunStorage::get_run(
            storage.as_ref(),
            out["a"].as_str().unwrap(),
        ))
        .unwrap()
        .unwrap();
    assert_eq!(a.tags.get("team").map(String::as_str), Some("data"));
    assert_eq!(a.tags.get("n").map(String::as_str), Some("1"));

    let missing = py(
        &s,
        r#"
try:
    client.get_run_status("00000000-0000-0000-0000-000000000000")
except DagsterGraphQLClientError as e:
    out(error(e))
"#,
    );
    assert_eq!(
        missing,
        json!({"error": ["RunNotFoundError", "Pipeline run 00000000-0000-0000-0000-000000000000 could not be found."]})
    );
}

#[test]
fn invalid_config_and_unknown_jobs_raise_client_errors() {
    let s = setup();
    let out = py(
        &s,
        r#"
try:
    client.submit_job_execution("config_job", run_config={"ops": {"use_config": {"config": {"n": "abc", "zzz": 1}}}})
except DagsterGraphQLClientError as e:
    out(error(e))
"#,
    );
    assert_eq!(out["error"][0], "RunConfigValidationInvalid");
    let reasons: Vec<&str> = out["error"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["FIELD_NOT_DEFINED", "RUNTIME_TYPE_MISMATCH"]);
    let first = &out["error"][1][0];
    assert_eq!(first["__typename"], "FieldNotDefinedConfigError");
    assert_eq!(first["path"], json!([]));

    let out = py(
        &s,
        r#"
errors = []
for kwargs in [{}, {"repository_location_name": "demo", "repository_name": "__repository__"}]:
    try:
        client.submit_job_execution("nosuch_job", **kwargs)
    except DagsterGraphQLClientError as e:
        errors.append(error(e)["error"])
out(errors)
"#,
    );
    assert_eq!(
        out,
        json!([
            [
                "JobNotFoundError",
                "No jobs with the name `nosuch_job` exist"
            ],
            [
                "PipelineNotFoundError",
                "Could not find Pipeline demo.__repository__.nosuch_job"
            ],
        ])
    );
}

#[test]
fn terminate_queued_runs_one_by_one_and_together() {
    let s = setup();
    let out = py(
        &s,
        r#"
ids = [client.submit_job_execution("one_op_job") for _ in range(3)]
client.terminate_run(ids[0])
client.terminate_runs(ids[1:])
statuses = [str(client.get_run_status(i).value) for i in ids]
try:
    client.terminate_run(ids[0])
except DagsterGraphQLClientError as e:
    again = error(e)
try:
    client.terminate_runs([ids[1], "nope"])
except DagsterGraphQLClientError as e:
    both = error(e)
out({"ids": ids, "statuses": statuses, "again": again, "both": both})
"#,
    );
    assert_eq!(out["statuses"], json!(["CANCELED", "CANCELED", "CANCELED"]));
    let id0 = out["ids"][0].as_str().unwrap();
    assert_eq!(
        out["again"],
        json!({"error": ["TerminateRunFailure", format!("Run {id0} could not be terminated due to having status CANCELED.")]})
    );
    assert_eq!(out["both"]["error"][0], "TerminateRunsError");
    let message = out["both"]["error"][1].as_str().unwrap();
    assert!(
        message.starts_with("All run terminations failed:"),
        "{message}"
    );
    assert!(message.contains("RunNotFoundError"), "{message}");
}

#[test]
fn reload_and_shutdown_locations() {
    let s = setup();
    let out = py(
        &s,
        r#"
def info(i):
    return [str(i.status), i.failure_type, i.message]
out({
    "reload": info(client.reload_repository_location("demo")),
    "reload_bogus": info(client.reload_repository_location("bogus")),
    "shutdown": [str(client.shutdown_repository_location("demo").status)],
    "shutdown_bogus": [str(x) for x in [client.shutdown_repository_location("bogus").status, client.shutdown_repository_location("bogus").message]],
})
"#,
    );
    assert_eq!(
        out,
        json!({
            "reload": ["ReloadRepositoryLocationStatus.SUCCESS", null, null],
            "reload_bogus": ["ReloadRepositoryLocationStatus.FAILURE", "RepositoryLocationNotFound", "Location bogus does not exist."],
            "shutdown": ["ShutdownRepositoryLocationStatus.SUCCESS"],
            "shutdown_bogus": ["ShutdownRepositoryLocationStatus.FAILURE", "Location bogus does not exist."],
        })
    );
}

#[test]
fn with_the_daemon_runs_reach_success_failure_and_canceled() {
    let s = setup();
    let _daemon = start_daemon(&s.instance, &s.workspace);
    let out = py(
        &s,
        r#"
out({
    "ok": client.submit_job_execution("one_op_job"),
    "fail": client.submit_job_execution("failing_job"),
    "sleepy": client.submit_job_execution("sleepy_job", run_config={"ops": {"sleeper": {"config": {"seconds": 60.0}}}}),
})
"#,
    );
    let ok = out["ok"].as_str().unwrap();
    let fail = out["fail"].as_str().unwrap();
    let sleepy = out["sleepy"].as_str().unwrap();
    wait_status(&s, ok, "SUCCESS");
    wait_status(&s, fail, "FAILURE");
    wait_status(&s, sleepy, "STARTED");
    py(&s, &format!("client.terminate_run({sleepy:?}); out(None)"));
    wait_status(&s, sleepy, "CANCELED");
}

#[test]
fn the_client_signs_in_with_a_bearer_token_and_each_role_may_what_it_may() {
    let setup = setup();
    let launch = r#"
try:
    out({"run_id": client.submit_job_execution("one_op_job", repository_location_name="demo")})
except DagsterGraphQLClientError as e:
    out({"error": str(e), "cause": str(e.__cause__)})
"#;
    // Without a token, nothing: the webserver answers 401.
    let refused = py_as(&setup, None, launch);
    let text = refused.to_string();
    assert!(refused.get("error").is_some(), "{refused}");
    assert!(text.contains("UNAUTHENTICATED"), "{text}");
    // A viewer may read, not launch.
    let viewer = create_token(&setup.instance, "dashboard", "viewer");
    let refused = py_as(&setup, Some(&viewer), launch).to_string();
    assert!(refused.contains("UnauthorizedError"), "{refused}");
    assert!(refused.contains("launch_pipeline_execution"), "{refused}");
    // A launcher may launch, and terminate the run it launched.
    let launcher = create_token(&setup.instance, "ci", "launcher");
    let launched = py_as(&setup, Some(&launcher), launch);
    let run_id = launched["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{launched}"));
    let terminated = py_as(
        &setup,
        Some(&launcher),
        &format!("client.terminate_run({run_id:?}); out('ok')"),
    );
    assert_eq!(terminated, json!("ok"));
    // Every mutation is in the audit log, with who did it.
    let audit = setup
        .instance
        .command("sluice")
        .args(["audit"])
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.contains("dashboard (viewer)  launchPipelineExecution  denied"),
        "{audit}"
    );
    assert!(
        audit.contains("ci (launcher)  launchPipelineExecution  ok"),
        "{audit}"
    );
    assert!(audit.contains("ci (launcher)  terminateRun"), "{audit}");
}
