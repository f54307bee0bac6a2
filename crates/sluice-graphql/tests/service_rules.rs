//! Rules the service layer keeps whatever the entry point: a request may not set a tag
//! Sluice sets itself nor pass the limits on tags, pages hold at least one item, and a
//! run's inline secrets never leave it.

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

/// Launch `one_op_job` with `tags` through the Python client's document; the result,
/// which must be an error.
async fn launch_refused(h: &Harness, tags: Value) -> Value {
    let data = h
        .exec(
            client::SUBMIT_RUN,
            submit_vars("demo", "one_op_job", json!({}), Some(tags)),
        )
        .await;
    let result = data["data"]["launchPipelineExecution"].clone();
    assert_eq!(result["__typename"], "PythonError", "{data:#}");
    result
}

/// Launch a backfill of one day of `raw/daily_orders` with `tags`; the data.
async fn launch_daily_orders_backfill(h: &Harness, tags: Value) -> Value {
    h.data(
        LAUNCH_BACKFILL,
        json!({"p": {
            "assetSelection": [{"path": ["raw", "daily_orders"]}],
            "partitionNames": ["2026-01-01"],
            "tags": tags
        }}),
    )
    .await
}

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
    let result = launch_refused(&h, tags).await;
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
    let data =
        launch_daily_orders_backfill(&h, json!([{"key": "dagster/backfill", "value": "mine"}]))
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

#[tokio::test]
async fn a_huge_tag_is_refused_and_nothing_is_stored() {
    let h = Harness::new().await;
    let tags = json!([{"key": "note", "value": "x".repeat(1 << 20)}]);
    let result = launch_refused(&h, tags).await;
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains("\"note\" is 1048576 bytes long"),
        "{message}"
    );
    assert_eq!(run_count(&h).await, 0);
}

#[tokio::test]
async fn pages_must_hold_at_least_one_item() {
    let h = Harness::new().await;
    let run_id = h.launch("one_op_job", json!({})).await;
    for limit in [-1, 0] {
        let data = h
            .data(
                "query($l: Int) { runsOrError(limit: $l) { __typename ... on PythonError { message className } } }",
                json!({"l": limit}),
            )
            .await;
        let result = &data["runsOrError"];
        assert_eq!(result["__typename"], "PythonError", "{data:#}");
        assert_eq!(result["className"], "InvalidArgumentError");
        assert_eq!(
            result["message"],
            format!("limit must be at least 1, got {limit}")
        );
        let data = h
            .data(
                "query($id: ID!, $l: Int) { logsForRun(runId: $id, limit: $l) { __typename ... on PythonError { message } } }",
                json!({"id": run_id, "l": limit}),
            )
            .await;
        assert_eq!(data["logsForRun"]["__typename"], "PythonError", "{data:#}");
    }
    // A page of one says honestly whether more follow, so a pager advances to the end.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let data = h
            .data(
                "query($id: ID!, $c: String) { logsForRun(runId: $id, afterCursor: $c, limit: 1) { ... on EventConnection { events { __typename } cursor hasMore } } }",
                json!({"id": run_id, "c": cursor}),
            )
            .await;
        let page = &data["logsForRun"];
        seen += page["events"].as_array().unwrap().len();
        cursor = page["cursor"].as_str().map(str::to_owned);
        if !page["hasMore"].as_bool().unwrap() {
            break;
        }
        assert!(seen < 100, "the pager does not advance");
    }
    assert!(seen >= 1);
}

#[tokio::test]
async fn a_backfill_shows_no_inline_secret_and_its_reexecution_keeps_it() {
    let h = Harness::new().await;
    let tags = json!([{"key": "api_token", "value": TOKEN}, {"key": "team", "value": "data"}]);
    let data = launch_daily_orders_backfill(&h, tags).await;
    let id = data["launchPartitionBackfill"]["backfillId"]
        .as_str()
        .unwrap_or_else(|| panic!("{data:#}"))
        .to_owned();
    let shown = h
        .data(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { tags { key value } } } partitionBackfillsOrError { ... on PartitionBackfills { results { tags { key value } } } } }",
            json!({"id": id}),
        )
        .await
        .to_string();
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(
        shown.contains("api_token") && shown.contains("\"data\""),
        "{shown}"
    );
    // Stored whole: a re-execution of the backfill carries the real value on.
    let stored = h.storage.backfill(&id).await.unwrap().unwrap();
    assert_eq!(stored.spec.tags["api_token"], TOKEN);
    let again = h.service.reexecute_backfill(&id, false).await.unwrap();
    assert!(!again.spec.tags["api_token"].contains(TOKEN));
    let again = h.storage.backfill(again.id()).await.unwrap().unwrap();
    assert_eq!(again.spec.tags["api_token"], TOKEN);
}
