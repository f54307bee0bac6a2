//! `sluice dev`: one command starts the code servers, the webserver and the daemon; a
//! run launched over GraphQL succeeds; Ctrl-C stops every process it started.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_e2e::{
    Instance, alive, children, demo_workspace as workspace, graphql, start_dev, wait_until_finished,
};

/// Press Ctrl-C: SIGINT to `sluice dev`'s whole process group, as a terminal does; its
/// exit status.
fn ctrl_c(dev: &mut Child) -> std::process::ExitStatus {
    // SAFETY: signalling the process group created for this `sluice dev`.
    unsafe { libc::kill(-(dev.id() as libc::pid_t), libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = dev.try_wait().expect("wait for sluice dev") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "sluice dev did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    assert_eq!(wait_until_finished(&url, &run_id).await, "SUCCESS");
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

#[tokio::test]
async fn reexecution_from_failure_reuses_what_succeeded() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let (mut dev, url) = start_dev(&instance, &workspace);
    let gate = instance.home.path().join("gate-open");
    let launched = graphql(
        &url,
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { ... on LaunchRunSuccess { run { runId } } } }",
        json!({"p": {
            "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": "gated_job"},
            "runConfigData": {"ops": {"gate": {"config": {"path": gate.display().to_string()}}}},
        }}),
    )
    .await;
    let parent = launched["launchRun"]["run"]["runId"]
        .as_str()
        .expect("run id")
        .to_owned();
    assert_eq!(wait_until_finished(&url, &parent).await, "FAILURE");

    // The gate opens; only gate and report run again, on produce's stored output.
    std::fs::write(&gate, "").expect("open the gate");
    let data = graphql(
        &url,
        "mutation($r: ReexecutionParams) { launchRunReexecution(reexecutionParams: $r) { __typename ... on LaunchRunSuccess { run { runId stepKeysToExecute } } ... on PythonError { message } } }",
        json!({"r": {"parentRunId": parent, "strategy": "FROM_FAILURE"}}),
    )
    .await;
    let run = &data["launchRunReexecution"]["run"];
    assert_eq!(
        run["stepKeysToExecute"],
        json!(["gate", "report"]),
        "{data}"
    );
    let child = run["runId"].as_str().expect("run id").to_owned();
    assert_eq!(wait_until_finished(&url, &child).await, "SUCCESS");

    let logs = graphql(
        &url,
        "query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { __typename ... on MessageEvent { stepKey } ... on LoadedInputEvent { inputName upstreamStepKey } } } } }",
        json!({"id": child}),
    )
    .await;
    let events = logs["logsForRun"]["events"].as_array().expect("events");
    assert!(
        !events.iter().any(|e| e["stepKey"] == "produce"),
        "produce ran again: {logs}"
    );
    assert!(
        events.iter().any(|e| e["__typename"] == "LoadedInputEvent"
            && e["stepKey"] == "gate"
            && e["upstreamStepKey"] == "produce"),
        "{logs}"
    );
    let stored = instance.home.path().join("storage").join(&child);
    assert_eq!(
        std::fs::read_to_string(stored.join("gate/result")).expect("gate's output is stored"),
        "42"
    );

    // A run that succeeded has nothing to re-execute from failure.
    let data = graphql(
        &url,
        "mutation($r: ReexecutionParams) { launchRunReexecution(reexecutionParams: $r) { __typename ... on PythonError { message } } }",
        json!({"r": {"parentRunId": child, "strategy": "FROM_FAILURE"}}),
    )
    .await;
    assert_eq!(
        data["launchRunReexecution"]["__typename"], "PythonError",
        "{data}"
    );
    ctrl_c(&mut dev);
}

/// Poll `query` until `done` holds of its data (at most 30 s); that data.
async fn wait_for(
    url: &str,
    query: &str,
    variables: Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data = graphql(url, query, variables.clone()).await;
        if done(&data) {
            return data;
        }
        assert!(Instant::now() < deadline, "not reached in 30 s: {data}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Start the demo's sensor `name` through GraphQL; its selector, as query variables.
async fn start_sensor(url: &str, name: &str) -> Value {
    let selector = json!({"s": {"repositoryLocationName": "demo",
        "repositoryName": "__repository__", "sensorName": name}});
    let started = graphql(
        url,
        "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { \
         ... on Sensor { sensorState { status } } } }",
        selector.clone(),
    )
    .await;
    assert_eq!(started["startSensor"]["sensorState"]["status"], "RUNNING");
    selector
}

#[tokio::test]
async fn a_started_sensor_turns_new_files_into_runs_once() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let inbox = instance.home.path().join("demo_inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "12345").unwrap();
    let (mut dev, url) = start_dev(&instance, &workspace);
    let selector = start_sensor(&url, "new_files").await;

    // The daemon evaluates it through the code server; the run goes through the queue.
    let runs_query = "{ runsOrError(filter: {tags: [{key: \"dagster/sensor_name\", value: \"new_files\"}]}) { \
                      ... on Runs { results { runId status jobName tags { key value } runConfig } } } }";
    let finished = |d: &Value| {
        d["runsOrError"]["results"]
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0]["status"] == "SUCCESS")
    };
    let data = wait_for(&url, runs_query, json!({}), finished).await;
    let run = &data["runsOrError"]["results"][0];
    assert_eq!(run["jobName"], "config_job");
    assert_eq!(
        run["runConfig"],
        json!({"ops": {"use_config": {"config": {"n": 5, "label": "a.csv"}}}})
    );
    let tag = |key: &str| {
        run["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .map(|t| t["value"].clone())
    };
    assert_eq!(tag("dagster/run_key"), Some(json!("a.csv")));
    assert!(tag("dagster/tick").is_some());

    // Its tick is in the history, with the run; later ticks request nothing new.
    let ticks_query = "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { \
                       ... on Sensor { sensorState { ticks { status runIds runKeys skipReason } } } } }";
    let skipped_since = |d: &Value| {
        d["sensorOrError"]["sensorState"]["ticks"]
            .as_array()
            .is_some_and(|t| t.len() >= 2 && t[0]["status"] == "SKIPPED")
    };
    let data = wait_for(&url, ticks_query, selector, skipped_since).await;
    let ticks = data["sensorOrError"]["sensorState"]["ticks"]
        .as_array()
        .unwrap();
    let success = ticks
        .iter()
        .find(|t| t["status"] == "SUCCESS")
        .expect("a SUCCESS tick");
    assert_eq!(success["runKeys"], json!(["a.csv"]));
    assert_eq!(success["runIds"], json!([run["runId"]]));
    let again = graphql(&url, runs_query, json!({})).await;
    assert_eq!(again["runsOrError"]["results"].as_array().unwrap().len(), 1);
    assert!(ctrl_c(&mut dev).success());
}

/// Run `sluice ARGS` against the instance and workspace; its exit status and output.
fn sluice(instance: &Instance, args: &[&str]) -> (bool, String) {
    let out = instance
        .command("sluice")
        .args(args)
        .output()
        .expect("run sluice");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_cli_lists_starts_stops_and_resets_schedules_and_sensors() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let w = workspace.to_str().unwrap();
    let (ok, text) = sluice(&instance, &["schedule", "list", "-w", w]);
    assert!(ok, "{text}");
    assert!(
        text.contains("STOPPED  demo  one_op_every_minute  \"* * * * *\" UTC → one_op_job"),
        "{text}"
    );
    let (ok, text) = sluice(
        &instance,
        &["schedule", "start", "one_op_every_minute", "-w", w],
    );
    assert!(ok, "{text}");
    assert!(text.contains("is running"), "{text}");
    let (_, text) = sluice(&instance, &["schedule", "list", "-w", w]);
    assert!(
        text.starts_with("RUNNING"),
        "stored across processes: {text}"
    );
    let (ok, text) = sluice(
        &instance,
        &["schedule", "start", "one_op_every_minute", "-w", w],
    );
    assert!(!ok && text.contains("already running"), "{text}");
    let (ok, text) = sluice(
        &instance,
        &["schedule", "reset", "one_op_every_minute", "-w", w],
    );
    assert!(ok && text.contains("is stopped"), "{text}");

    let (ok, text) = sluice(
        &instance,
        &["sensor", "cursor", "new_files", "--set", "17", "-w", w],
    );
    assert!(ok, "{text}");
    let (_, text) = sluice(&instance, &["sensor", "list", "-w", w]);
    assert!(
        text.contains("new_files  every 5 s → config_job  cursor 17"),
        "{text}"
    );
    let (ok, text) = sluice(&instance, &["sensor", "stop", "nope", "-w", w]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("no sensor named \"nope\"; the workspace has: new_files"),
        "{text}"
    );
    let (ok, text) = sluice(
        &instance,
        &["schedule", "list", "-w", w, "--location", "elsewhere"],
    );
    assert!(
        !ok && text.contains("no code location \"elsewhere\""),
        "{text}"
    );
}

#[test]
fn the_cli_adds_lists_and_deletes_dynamic_partitions() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let w = workspace.to_str().unwrap();
    let (ok, text) = sluice(
        &instance,
        &["partition", "add", "datasets", "parcels", "roads", "-w", w],
    );
    assert!(
        ok && text.contains("Added 2 partition(s) to \"datasets\"."),
        "{text}"
    );
    // All or nothing: one known key refuses the whole request.
    let (ok, text) = sluice(
        &instance,
        &["partition", "add", "datasets", "rivers", "roads", "-w", w],
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("nothing was added")
            && text.contains(
                "Partition roads already exists in dynamic partitions definition datasets."
            ),
        "{text}"
    );
    let (ok, text) = sluice(&instance, &["partition", "list", "datasets", "-w", w]);
    assert!(ok, "{text}");
    assert_eq!(text, "parcels\nroads\n");
    let (ok, text) = sluice(
        &instance,
        &["partition", "delete", "datasets", "parcels", "-w", w],
    );
    assert!(ok && text.contains("Deleted 1 partition(s)"), "{text}");
    let (_, text) = sluice(&instance, &["partition", "list", "datasets", "-w", w]);
    assert_eq!(text, "roads\n");
    let (ok, text) = sluice(&instance, &["partition", "list", "rivers", "-w", w]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "no code location uses dynamic partitions \"rivers\"; the sets in use: datasets"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_backfill_materializes_each_partition_under_dev() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let (mut dev, url) = start_dev(&instance, &workspace);
    let days = ["2026-01-01", "2026-01-02", "2026-01-03"];
    let backfill = run_backfill(&url, &["raw", "daily_orders"], &days).await;
    assert_eq!(backfill["status"], "COMPLETED_SUCCESS", "{backfill:#}");
    assert_eq!(
        backfill["partitionStatusCounts"],
        json!([{"runStatus": "SUCCESS", "count": 3}])
    );
    let materialized = graphql(
        &url,
        r#"{ assetNodeOrError(assetKey: {path: ["raw", "daily_orders"]}) { ... on AssetNode {
            latestMaterializationByPartition(partitions: ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]) { partition } } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        materialized["assetNodeOrError"]["latestMaterializationByPartition"],
        json!([{"partition": "2026-01-01"}, {"partition": "2026-01-02"}, {"partition": "2026-01-03"}, null])
    );

    // An asset whose backfill policy is a single run: one run over the three days,
    // reading each day of raw/daily_orders, materializing each.
    let backfill = run_backfill(&url, &["warehouse", "daily_order_counts"], &days).await;
    assert_eq!(backfill["status"], "COMPLETED_SUCCESS", "{backfill:#}");
    let runs = backfill["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{backfill:#}");
    let tags = &runs[0]["tags"];
    for (key, value) in [
        ("dagster/asset_partition_range_start", "2026-01-01"),
        ("dagster/asset_partition_range_end", "2026-01-03"),
    ] {
        assert!(
            tags.as_array()
                .unwrap()
                .contains(&json!({"key": key, "value": value})),
            "{tags:#}"
        );
    }
    assert_eq!(
        backfill["partitionStatusCounts"],
        json!([{"runStatus": "SUCCESS", "count": 3}])
    );
    let materialized = graphql(
        &url,
        r#"{ assetNodeOrError(assetKey: {path: ["warehouse", "daily_order_counts"]}) { ... on AssetNode {
            latestMaterializationByPartition(partitions: ["2026-01-01", "2026-01-03"]) {
                partition runId metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }"#,
        json!({}),
    )
    .await;
    let latest = &materialized["assetNodeOrError"]["latestMaterializationByPartition"];
    assert_eq!(latest[0]["partition"], "2026-01-01", "{latest:#}");
    assert_eq!(latest[1]["runId"], runs[0]["runId"], "{latest:#}");
    assert!(
        latest[1]["metadataEntries"]
            .as_array()
            .unwrap()
            .contains(&json!({"label": "days", "intValue": 3})),
        "{latest:#}"
    );
    assert!(ctrl_c(&mut dev).success());
}

/// Backfill `partitions` of the asset at `path`, and return the backfill once it is no
/// longer REQUESTED: its status, runs (with tags) and counts of partitions by run status.
async fn run_backfill(url: &str, path: &[&str], partitions: &[&str]) -> Value {
    let launched = graphql(
        url,
        r#"mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } } }"#,
        json!({"p": {"assetSelection": [{"path": path}], "partitionNames": partitions}}),
    )
    .await;
    let id = launched["launchPartitionBackfill"]["backfillId"]
        .as_str()
        .unwrap_or_else(|| panic!("launch failed: {launched}"))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let read = graphql(
            url,
            r#"query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
                status runs { runId status tags { key value } } partitionStatusCounts { runStatus count } } } }"#,
            json!({"id": id}),
        )
        .await;
        let b = read["partitionBackfillOrError"].clone();
        if b["status"] != "REQUESTED" {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "the backfill did not finish: {b:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_asset_sensor_rebuilds_downstream_assets_after_a_materialization() {
    let instance = Instance::sqlite();
    let workspace = workspace(&instance);
    let (mut dev, url) = start_dev(&instance, &workspace);
    start_sensor(&url, "raw_orders_updated").await;

    // Materialize raw/orders ad hoc; the sensor sees it and rebuilds staging+.
    let launched = graphql(
        &url,
        r#"mutation { launchRun(executionParams: {selector: {repositoryLocationName: "demo",
            repositoryName: "__repository__", jobName: "__ASSET_JOB",
            assetSelection: [{path: ["raw", "orders"]}]}}) {
            __typename ... on LaunchRunSuccess { run { runId } } } }"#,
        json!({}),
    )
    .await;
    let raw_run = launched["launchRun"]["run"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("launch failed: {launched}"))
        .to_owned();
    assert_eq!(wait_until_finished(&url, &raw_run).await, "SUCCESS");

    let runs_query = "{ runsOrError(filter: {tags: [{key: \"dagster/sensor_name\", value: \"raw_orders_updated\"}]}) { \
                      ... on Runs { results { runId status jobName stepKeysToExecute } } } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let data = graphql(&url, runs_query, json!({})).await;
        let results = data["runsOrError"]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(run) = results.iter().find(|r| r["status"] == "SUCCESS") {
            assert_eq!(results.len(), 1, "one run for one materialization: {data}");
            break run.clone();
        }
        assert!(Instant::now() < deadline, "no sensor run succeeded: {data}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(run["jobName"], "__ASSET_JOB");
    let steps = run["stepKeysToExecute"].as_array().unwrap();
    assert!(
        steps.contains(&json!("staging__orders"))
            && steps.contains(&json!("warehouse__daily_revenue"))
            && !steps.contains(&json!("raw__orders")),
        "only staging+ is rebuilt: {steps:?}"
    );
    let latest = graphql(
        &url,
        r#"{ assetsLatestInfo(assetKeys: [{path: ["warehouse", "daily_revenue"]}]) {
            latestMaterialization { runId } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        latest["assetsLatestInfo"][0]["latestMaterialization"]["runId"],
        run["runId"]
    );
    assert!(ctrl_c(&mut dev).success());
}

#[tokio::test]
async fn no_output_shows_an_inline_secret() {
    use sluice_e2e::secrets::{SECRET, TOKEN, run_with_secrets};
    let instance = Instance::sqlite();
    let run_id = run_with_secrets(instance.storage().await.as_ref()).await;
    let workspace = workspace(&instance);
    let (mut dev, url) = start_dev(&instance, &workspace);
    let ui = url.trim_end_matches("/graphql");
    let page = |path: String| async move {
        reqwest::get(path)
            .await
            .expect("GET")
            .text()
            .await
            .expect("body")
    };
    let run_page = page(format!("{ui}/runs/{run_id}")).await;
    let runs_page = page(format!("{ui}/runs")).await;
    let graphql_text = graphql(
        &url,
        "query($id: ID!) { runOrError(runId: $id) { ... on Run { runConfigYaml tags { key value } } } }",
        json!({"id": run_id}),
    )
    .await
    .to_string();
    let (shown, show) = sluice(&instance, &["run", "show", &run_id]);
    let (logged, logs) = sluice(&instance, &["run", "logs", &run_id]);
    let (listed, list) = sluice(&instance, &["run", "list"]);
    assert!(shown && logged && listed, "{show}\n{logs}\n{list}");
    for (output, text) in [
        ("UI run page", &run_page),
        ("UI runs list", &runs_page),
        ("GraphQL", &graphql_text),
        ("sluice run show", &show),
        ("sluice run logs", &logs),
        ("sluice run list", &list),
    ] {
        assert!(!text.contains(SECRET), "{output} shows the secret:\n{text}");
        assert!(!text.contains(TOKEN), "{output} shows the token:\n{text}");
    }
    assert!(run_page.contains("password"), "the key is still shown");
    assert!(
        show.contains("password") && show.contains("user: loader"),
        "{show}"
    );
    assert!(logs.contains("with password ••••"), "{logs}");
    assert!(ctrl_c(&mut dev).success());
}
