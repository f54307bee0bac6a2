//! Schedules and sensors over GraphQL, in Dagster's shapes: listing, states, ticks,
//! dry runs, and start/stop/reset/cursor mutations that outlive the process.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;

use common::Harness;
use serde_json::{Value, json};
use sluice_core::events::ErrorInfo;
use sluice_storage::prelude::*;
use sluice_storage::{InstigatorKey, InstigatorType, NewTick, TickResult, TickStatus};

const REPO: &str = "__repository__";

fn repo() -> Value {
    json!({"repositoryLocationName": "demo", "repositoryName": REPO})
}

fn schedule_selector(name: &str) -> Value {
    json!({"repositoryLocationName": "demo", "repositoryName": REPO, "scheduleName": name})
}

fn sensor_selector(name: &str) -> Value {
    json!({"repositoryLocationName": "demo", "repositoryName": REPO, "sensorName": name})
}

const SCHEDULES: &str = r#"
query Schedules($repositorySelector: RepositorySelector!, $scheduleStatus: InstigationStatus) {
  schedulesOrError(repositorySelector: $repositorySelector, scheduleStatus: $scheduleStatus) {
    __typename
    ... on Schedules {
      results {
        id name cronSchedule pipelineName executionTimezone description defaultStatus canReset mode
        scheduleState { id selectorId status instigationType repositoryLocationName
          typeSpecificData { __typename ... on ScheduleData { cronSchedule startTimestamp } } }
        futureTicks(cursor: 1767225600, limit: 3) {
          cursor
          results { timestamp evaluationResult { runRequests { runKey jobName runConfigYaml tags { key value } } skipReason error { message } } }
        }
      }
    }
    ... on RepositoryNotFoundError { message repositoryLocationName }
  }
}"#;

const SCHEDULE_STATE: &str = r#"
query Schedule($scheduleSelector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $scheduleSelector) {
    __typename
    ... on Schedule { id canReset scheduleState { status } }
    ... on ScheduleNotFoundError { message scheduleName }
  }
}"#;

const SCHEDULE_MUTATION_RESULT: &str = r#"
    __typename
    ... on ScheduleStateResult { scheduleState { id status } }
    ... on ScheduleNotFoundError { message scheduleName }
    ... on PythonError { message className }
"#;

fn schedule_mutation(field: &str, args: &str, params: &str) -> String {
    format!("mutation M{params} {{ {field}({args}) {{ {SCHEDULE_MUTATION_RESULT} }} }}")
}

#[tokio::test]
async fn schedules_are_listed_with_their_state_and_future_ticks() {
    let h = Harness::new().await;
    let data = h
        .data(SCHEDULES, json!({"repositorySelector": repo()}))
        .await;
    let list = &data["schedulesOrError"];
    assert_eq!(list["__typename"], "Schedules");
    let s = &list["results"][0];
    assert_eq!(s["name"], "one_op_every_minute");
    assert_eq!(s["cronSchedule"], "* * * * *");
    assert_eq!(s["pipelineName"], "one_op_job");
    assert_eq!(s["executionTimezone"], "UTC");
    assert_eq!(s["defaultStatus"], "STOPPED");
    assert_eq!(s["scheduleState"]["status"], "STOPPED");
    assert_eq!(s["scheduleState"]["instigationType"], "SCHEDULE");
    assert_eq!(s["scheduleState"]["selectorId"], s["id"]);
    assert_eq!(s["canReset"], false);
    // The three minutes after 2026-01-01T00:00:00Z, each evaluated by the code server.
    let ticks = &s["futureTicks"];
    let times: Vec<f64> = ticks["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["timestamp"].as_f64().unwrap())
        .collect();
    assert_eq!(times, [1767225660.0, 1767225720.0, 1767225780.0]);
    assert_eq!(ticks["cursor"], 1767225780.0);
    let request = &ticks["results"][0]["evaluationResult"]["runRequests"][0];
    assert_eq!(request["jobName"], "one_op_job");
    assert_eq!(request["runConfigYaml"], "{}\n");

    // Filtered by status, and for a repository that does not exist.
    let running = h
        .data(
            SCHEDULES,
            json!({"repositorySelector": repo(), "scheduleStatus": "RUNNING"}),
        )
        .await;
    assert_eq!(running["schedulesOrError"]["results"], json!([]));
    let missing = h
        .data(
            SCHEDULES,
            json!({"repositorySelector": {"repositoryLocationName": "nowhere", "repositoryName": REPO}}),
        )
        .await;
    assert_eq!(
        missing["schedulesOrError"]["__typename"],
        "RepositoryNotFoundError"
    );
}

#[tokio::test]
async fn a_schedule_is_started_stopped_and_reset_and_the_choice_is_stored() {
    let h = Harness::new().await;
    let start = schedule_mutation(
        "startSchedule",
        "scheduleSelector: $s",
        "($s: ScheduleSelector!)",
    );
    let vars = json!({"s": schedule_selector("one_op_every_minute")});
    let started = h.data(&start, vars.clone()).await;
    let state = &started["startSchedule"]["scheduleState"];
    assert_eq!(state["status"], "RUNNING");
    let id = state["id"].as_str().unwrap().to_owned();
    // Stored: a fresh service over the same storage sees it, and may reset it.
    let seen = h
        .data(
            SCHEDULE_STATE,
            json!({"scheduleSelector": schedule_selector("one_op_every_minute")}),
        )
        .await;
    assert_eq!(
        seen["scheduleOrError"]["scheduleState"]["status"],
        "RUNNING"
    );
    assert_eq!(seen["scheduleOrError"]["canReset"], true);
    // Starting it again is refused, saying why.
    let again = h.data(&start, vars.clone()).await;
    assert_eq!(again["startSchedule"]["__typename"], "PythonError");
    assert!(
        again["startSchedule"]["message"]
            .as_str()
            .unwrap()
            .contains("already running")
    );
    // Stopped by id, as the UI does.
    let stop = schedule_mutation(
        "stopRunningSchedule",
        "scheduleOriginId: $id",
        "($id: String!)",
    );
    let stopped = h.data(&stop, json!({"id": id})).await;
    assert_eq!(
        stopped["stopRunningSchedule"]["scheduleState"]["status"],
        "STOPPED"
    );
    let unknown = h.data(&stop, json!({"id": "0000000000000000"})).await;
    assert_eq!(
        unknown["stopRunningSchedule"]["__typename"],
        "ScheduleNotFoundError"
    );
    let reset = schedule_mutation(
        "resetSchedule",
        "scheduleSelector: $s",
        "($s: ScheduleSelector!)",
    );
    let done = h.data(&reset, vars).await;
    assert_eq!(done["resetSchedule"]["scheduleState"]["status"], "STOPPED");
    let seen = h
        .data(
            SCHEDULE_STATE,
            json!({"scheduleSelector": schedule_selector("one_op_every_minute")}),
        )
        .await;
    assert_eq!(seen["scheduleOrError"]["canReset"], false);
    let missing = h
        .data(
            SCHEDULE_STATE,
            json!({"scheduleSelector": schedule_selector("nope")}),
        )
        .await;
    assert_eq!(
        missing["scheduleOrError"]["__typename"],
        "ScheduleNotFoundError"
    );
    assert_eq!(missing["scheduleOrError"]["scheduleName"], "nope");
}

const SENSOR: &str = r#"
query Sensor($sensorSelector: SensorSelector!) {
  sensorOrError(sensorSelector: $sensorSelector) {
    __typename
    ... on Sensor {
      id jobOriginId name minIntervalSeconds description sensorType defaultStatus canReset
      targets { pipelineName mode }
      nextTick { timestamp }
      sensorState {
        status runsCount
        typeSpecificData { __typename ... on SensorData { lastTickTimestamp lastRunKey lastCursor } }
        ticks(limit: 10) { id tickId status timestamp runIds runKeys skipReason cursor error { message className } }
        failures: ticks(statuses: [FAILURE]) { id }
      }
    }
    ... on SensorNotFoundError { message sensorName }
  }
}"#;

const SENSOR_RESULT: &str = r#"
    __typename
    ... on Sensor { sensorState { status typeSpecificData { ... on SensorData { lastCursor } } } }
    ... on SensorNotFoundError { sensorName }
    ... on PythonError { message }
"#;

#[tokio::test]
async fn sensor_state_cursor_and_tick_history() {
    let h = Harness::new().await;
    let vars = json!({"sensorSelector": sensor_selector("new_files")});
    let data = h.data(SENSOR, vars.clone()).await;
    let s = &data["sensorOrError"];
    assert_eq!(s["name"], "new_files");
    assert_eq!(s["minIntervalSeconds"], 5);
    assert_eq!(s["sensorType"], "STANDARD");
    assert_eq!(
        s["targets"],
        json!([{"pipelineName": "config_job", "mode": "default"}])
    );
    assert_eq!(s["sensorState"]["status"], "STOPPED");
    assert_eq!(
        s["nextTick"],
        Value::Null,
        "a stopped sensor has no next tick"
    );

    let start = format!(
        "mutation M($s: SensorSelector!) {{ startSensor(sensorSelector: $s) {{ {SENSOR_RESULT} }} }}"
    );
    let started = h
        .data(&start, json!({"s": sensor_selector("new_files")}))
        .await;
    assert_eq!(started["startSensor"]["sensorState"]["status"], "RUNNING");
    let cursor = format!(
        "mutation M($s: SensorSelector!, $c: String) {{ setSensorCursor(sensorSelector: $s, cursor: $c) {{ {SENSOR_RESULT} }} }}"
    );
    let moved = h
        .data(
            &cursor,
            json!({"s": sensor_selector("new_files"), "c": "42"}),
        )
        .await;
    assert_eq!(
        moved["setSensorCursor"]["sensorState"]["typeSpecificData"]["lastCursor"],
        "42"
    );

    // Ticks as the daemon stores them, newest first.
    let key = InstigatorKey::new("demo", "new_files", InstigatorType::Sensor);
    let mut skipped = TickResult::new(TickStatus::Skipped);
    skipped.skip_reason = Some("no new file".into());
    let mut failed = TickResult::new(TickStatus::Failure);
    failed.error = Some(ErrorInfo::new(
        "Timeout",
        "sensor \"new_files\" did not finish",
    ));
    for (timestamp, result) in [(100.0, skipped), (105.0, failed)] {
        h.storage
            .add_tick(&NewTick {
                instigator: key.clone(),
                timestamp,
                result,
            })
            .await
            .unwrap();
    }
    let data = h.data(SENSOR, vars.clone()).await;
    let state = &data["sensorOrError"]["sensorState"];
    let ticks = state["ticks"].as_array().unwrap();
    assert_eq!(ticks.len(), 2);
    assert_eq!(ticks[0]["status"], "FAILURE");
    assert_eq!(ticks[0]["error"]["className"], "Timeout");
    assert_eq!(ticks[1]["status"], "SKIPPED");
    assert_eq!(ticks[1]["skipReason"], "no new file");
    assert_eq!(state["failures"].as_array().unwrap().len(), 1);
    assert_eq!(
        state["typeSpecificData"]["lastTickTimestamp"], 105.0,
        "the last tick moved the state"
    );
    assert_eq!(
        state["typeSpecificData"]["lastCursor"], "42",
        "a failed tick keeps the cursor"
    );
    assert!(data["sensorOrError"]["nextTick"]["timestamp"].is_f64());

    // Stopped by its origin id, then reset to the code default.
    let id = data["sensorOrError"]["jobOriginId"].as_str().unwrap();
    let stop = "mutation M($id: String) { stopSensor(jobOriginId: $id) { __typename \
                ... on StopSensorMutationResult { instigationState { status } } \
                ... on PythonError { message } } }";
    let stopped = h.data(stop, json!({"id": id})).await;
    assert_eq!(
        stopped["stopSensor"]["instigationState"]["status"],
        "STOPPED"
    );
    let reset = format!(
        "mutation M($s: SensorSelector!) {{ resetSensor(sensorSelector: $s) {{ {SENSOR_RESULT} }} }}"
    );
    let done = h
        .data(&reset, json!({"s": sensor_selector("new_files")}))
        .await;
    assert_eq!(done["resetSensor"]["sensorState"]["status"], "STOPPED");
    let missing = h
        .data(&start, json!({"s": sensor_selector("no_such_sensor")}))
        .await;
    assert_eq!(missing["startSensor"]["__typename"], "SensorNotFoundError");

    // The generic state query finds it by name or by id.
    let by_name = h
        .data(
            "query Q($s: InstigationSelector!) { instigationStateOrError(instigationSelector: $s) { \
             __typename ... on InstigationState { name instigationType status } } }",
            json!({"s": {"repositoryLocationName": "demo", "repositoryName": REPO, "name": "new_files"}}),
        )
        .await;
    assert_eq!(
        by_name["instigationStateOrError"]["instigationType"],
        "SENSOR"
    );
    let states = h
        .data(
            "{ instigationStatesOrError(repositoryID: \"demo.__repository__\") { \
             ... on InstigationStates { results { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        states["instigationStatesOrError"]["results"],
        json!([{"name": "one_op_every_minute"}, {"name": "new_files"}, {"name": "raw_orders_updated"}])
    );
}

#[tokio::test]
async fn repositories_list_their_schedules_and_sensors() {
    let h = Harness::new().await;
    let data = h
        .data(
            "query Q($r: RepositorySelector!) { repositoryOrError(repositorySelector: $r) { \
             ... on Repository { schedules { name } sensors { name sensorType } \
             runStatus: sensors(sensorType: RUN_STATUS) { name } \
             assets: sensors(sensorType: ASSET) { name metadata { assetKeys { path } } \
             targets { pipelineName } \
             assetSelection { assetSelectionString assetKeys { path } assetChecks { name } } } } } }",
            json!({"r": repo()}),
        )
        .await;
    let r = &data["repositoryOrError"];
    assert_eq!(r["schedules"], json!([{"name": "one_op_every_minute"}]));
    assert_eq!(
        r["sensors"],
        json!([
            {"name": "new_files", "sensorType": "STANDARD"},
            {"name": "raw_orders_updated", "sensorType": "ASSET"},
        ])
    );
    assert_eq!(r["runStatus"], json!([]));
    // The asset sensor names what it watches, and targets the asset job.
    assert_eq!(
        r["assets"],
        json!([{
            "name": "raw_orders_updated",
            "metadata": {"assetKeys": [{"path": ["raw", "orders"]}]},
            "targets": [{"pipelineName": "__ASSET_JOB"}],
            "assetSelection": {
                "assetSelectionString": "staging/orders or warehouse/daily_revenue",
                "assetKeys": [{"path": ["staging", "orders"]}, {"path": ["warehouse", "daily_revenue"]}],
                "assetChecks": [{"name": "no_negative_amounts"}],
            },
        }])
    );
}
