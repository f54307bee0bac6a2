//! Rules the service layer keeps whatever the entry point: a request may not set a tag
//! Sluice sets itself, and a run's inline secrets never leave it.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;

use common::{Harness, client, submit_vars};
use serde_json::{Value, json};
use sluice_e2e::secrets::{SECRET, TOKEN, run_with_secrets};
use sluice_storage::RunsFilter;
use sluice_storage::prelude::*;

const LAUNCH_BACKFILL: &str = r#"
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message className }
  }
}"#;

const REEXECUTE: &str = r#"
mutation($r: ReexecutionParams) {
  launchRunReexecution(reexecutionParams: $r) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message className }
  }
}"#;

async fn run_count(h: &Harness) -> u64 {
    h.storage.count_runs(&RunsFilter::default()).await.unwrap()
}

fn assert_refused(result: &Value, tag: &str) {
    assert_eq!(result["__typename"], "PythonError", "{result:#}");
    assert_eq!(result["className"], "DagsterInvalidTagsError", "{result:#}");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains(&format!("\"{tag}\"")), "{message}");
}

#[tokio::test]
async fn every_entry_point_refuses_a_request_that_sets_a_system_tag() {
    let h = Harness::new().await;
    // Queued only (no daemon here): enough to re-execute all its steps.
    let parent = h.launch("one_op_job", json!({})).await;
    let before = run_count(&h).await;

    // launchRun (the Python client's document), with a system tag among its tags.
    let tags = json!([
        {"key": "team", "value": "data"},
        {"key": "dagster/code_location", "value": "elsewhere"}
    ]);
    let data = h
        .exec(
            client::SUBMIT_RUN,
            submit_vars("demo", "one_op_job", json!({}), Some(tags)),
        )
        .await;
    let result = &data["data"]["launchPipelineExecution"];
    assert_eq!(result["__typename"], "PythonError", "{data:#}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("\"dagster/code_location\""),
        "{result:#}"
    );

    // A re-execution's extra tags.
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {
                "parentRunId": parent,
                "strategy": "ALL_STEPS",
                "extraTags": [{"key": "dagster/root_run_id", "value": "someone-else"}]
            }}),
        )
        .await;
    assert_refused(&data["launchRunReexecution"], "dagster/root_run_id");

    // A backfill's tags.
    let data = h
        .data(
            LAUNCH_BACKFILL,
            json!({"p": {
                "assetSelection": [{"path": ["raw", "daily_orders"]}],
                "partitionNames": ["2026-01-01"],
                "tags": [{"key": "dagster/backfill", "value": "mine"}]
            }}),
        )
        .await;
    assert_refused(&data["launchPartitionBackfill"], "dagster/backfill");

    assert_eq!(run_count(&h).await, before, "nothing was stored");
    assert!(
        h.storage
            .backfills(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Tags a user is meant to set, and a re-execution's own ids repeated as Dagster's
    // clients send them, are accepted; the system tags are Sluice's.
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {
                "parentRunId": parent,
                "strategy": "ALL_STEPS",
                "extraTags": [
                    {"key": "dagster/priority", "value": "5"},
                    {"key": "dagster/parent_run_id", "value": parent}
                ]
            }}),
        )
        .await;
    let child = data["launchRunReexecution"]["run"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("{data:#}"))
        .to_owned();
    let child = h.run(&child).await;
    assert_eq!(child.tags["dagster/priority"], "5");
    assert_eq!(child.tags["dagster/parent_run_id"], parent);
    assert_eq!(child.tags["dagster/root_run_id"], parent);
    assert_eq!(child.tags["dagster/code_location"], "demo");
}

#[tokio::test]
async fn graphql_never_shows_an_inline_secret() {
    let h = Harness::new().await;
    let run_id = run_with_secrets(h.storage.as_ref()).await;
    let data = h
        .data(
            r#"query($id: ID!) {
              runOrError(runId: $id) { ... on Run { runConfigYaml runConfig tags { key value } } }
              runsOrError { ... on Runs { results { runId runConfigYaml tags { key value } } } }
              logsForRun(runId: $id) { ... on EventConnection { events {
                ... on MessageEvent { message }
                ... on RunFailureEvent { error { message } }
              } } }
            }"#,
            json!({"id": run_id}),
        )
        .await;
    let text = data.to_string();
    assert!(!text.contains(SECRET), "{data:#}");
    assert!(!text.contains(TOKEN), "{data:#}");
    let yaml = data["runOrError"]["runConfigYaml"].as_str().unwrap();
    assert!(yaml.contains("password"), "{yaml}");
    assert!(yaml.contains("user: loader"), "{yaml}");
    assert!(yaml.contains("API_TOKEN"), "{yaml}");
    let events = data["logsForRun"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "could not connect as loader with password ••••"),
        "{events:#?}"
    );

    // The stored run keeps its real config: a worker or a re-execution reads it.
    assert_eq!(
        h.run(&run_id).await.run_config["resources"]["warehouse"]["config"]["password"],
        SECRET
    );
}
