//! Assets over GraphQL, in Dagster's shapes: the demo location's asset graph, the
//! catalog and its latest materializations, runless reports, wiping, and `launchRun`
//! with an asset selection.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;

use common::Harness;
use serde_json::{Value, json};
use sluice_core::asset::AssetKey;
use sluice_core::events::{AssetMaterialization, EventData, EventType, RunEvent};
use sluice_core::metadata::MetadataValue;
use sluice_core::run::{NewRun, RunPartitions};
use sluice_storage::prelude::*;
use sluice_storage::{BACKFILL_ID_TAG, BackfillRuns, BackfillStatus};

const ASSET_NODES: &str = r#"
query {
  assetNodes {
    id assetKey { path } groupName description opName opNames jobNames opVersion
    isMaterializable isExecutable isPartitioned
    dependencyKeys { path } dependedByKeys { path }
    dependencies { asset { assetKey { path } } }
    owners { __typename ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    metadataEntries { __typename label ... on TableSchemaMetadataEntry { schema { columns { name type } } } }
    repository { name location { name } }
    hasAssetChecks
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking description assetKey { path } } } }
  }
}"#;

fn key_paths(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            k["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

#[tokio::test]
async fn asset_nodes_show_the_demo_graph() {
    let h = Harness::new().await;
    let data = h.data(ASSET_NODES, json!({})).await;
    let nodes = data["assetNodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 7, "{nodes:#?}");
    let staging = nodes
        .iter()
        .find(|n| n["opName"] == "staging__orders")
        .unwrap();
    assert_eq!(staging["id"], r#"demo.__repository__.["staging","orders"]"#);
    assert_eq!(staging["groupName"], "staging");
    assert_eq!(staging["opVersion"], "1");
    assert_eq!(staging["isMaterializable"], true);
    assert_eq!(key_paths(&staging["dependencyKeys"]), ["raw/orders"]);
    assert_eq!(
        key_paths(&staging["dependedByKeys"]),
        ["warehouse/daily_revenue"]
    );
    assert_eq!(
        staging["dependencies"][0]["asset"]["assetKey"]["path"],
        json!(["raw", "orders"])
    );
    let jobs: Vec<&str> = staging["jobNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_str().unwrap())
        .collect();
    assert_eq!(jobs, ["__ASSET_JOB", "refresh_staging"]);
    assert_eq!(
        staging["metadataEntries"][0]["schema"]["columns"][2]["type"],
        "bigint"
    );
    assert_eq!(staging["repository"]["location"]["name"], "demo");
    assert_eq!(staging["hasAssetChecks"], true);
    assert_eq!(
        staging["assetChecksOrError"]["checks"][0],
        json!({"name": "no_negative_amounts", "blocking": true,
               "description": "Staging holds no order with a non-positive amount.",
               "assetKey": {"path": ["staging", "orders"]}})
    );
    let raw = nodes.iter().find(|n| n["opName"] == "raw__orders").unwrap();
    assert_eq!(
        raw["owners"][0],
        json!({"__typename": "TeamAssetOwner", "team": "shop"})
    );

    // By group, by job, by key.
    let q = r#"query($g: AssetGroupSelector, $p: PipelineSelector, $k: [AssetKeyInput!]) {
        assetNodes(group: $g, pipeline: $p, assetKeys: $k) { assetKey { path } } }"#;
    let by_group = h
        .data(
            q,
            json!({"g": {"groupName": "warehouse", "repositoryName": "__repository__", "repositoryLocationName": "demo"}}),
        )
        .await;
    assert_eq!(
        key_paths(
            &by_group["assetNodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["assetKey"].clone())
                .collect::<Value>()
        ),
        [
            "warehouse/daily_order_counts",
            "warehouse/daily_revenue",
            "warehouse/monthly_revenue"
        ]
    );
    let by_job = h
        .data(
            q,
            json!({"p": {"pipelineName": "refresh_staging", "repositoryName": "__repository__", "repositoryLocationName": "demo"}}),
        )
        .await;
    assert_eq!(by_job["assetNodes"].as_array().unwrap().len(), 2);
    let missing = h
        .data(
            r#"query { assetNodeOrError(assetKey: {path: ["nowhere"]}) { __typename ... on AssetNotFoundError { message } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        missing["assetNodeOrError"],
        json!({"__typename": "AssetNotFoundError", "message": "Asset key nowhere not found."})
    );
}

fn materialization(run_id: &str, key: &str, partition: Option<&str>, rows: i64) -> RunEvent {
    let mut m = AssetMaterialization::new(AssetKey::parse(key).unwrap());
    m.partition = partition.map(str::to_owned);
    m.metadata
        .insert("row_count".into(), MetadataValue::Int(rows));
    RunEvent::new(run_id, EventType::AssetMaterialization, "materialized")
        .step(AssetKey::parse(key).unwrap().op_name())
        .data(EventData::Materialization(Box::new(m)))
}

#[tokio::test]
async fn the_catalog_reports_wipes_and_latest_materializations() {
    let h = Harness::new().await;
    h.storage
        .store_events(&[
            materialization("r1", "staging/orders", None, 3),
            materialization("r2", "staging/orders", None, 4),
        ])
        .await
        .unwrap();
    let report = h
        .data(
            r#"mutation { reportRunlessAssetEvents(eventParams: {eventType: ASSET_MATERIALIZATION,
                assetKey: {path: ["external", "feed"]}, partitionKeys: ["2024-01-01", "2024-01-02"],
                description: "loaded by the vendor"}) {
                __typename ... on ReportRunlessAssetEventsSuccess { assetKey { path } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        report["reportRunlessAssetEvents"]["__typename"],
        "ReportRunlessAssetEventsSuccess"
    );

    let catalog = h
        .data(
            r#"query { assetsOrError { __typename ... on AssetConnection { cursor nodes { id key { path } definition { opName } } } } }"#,
            json!({}),
        )
        .await;
    let nodes = catalog["assetsOrError"]["nodes"].as_array().unwrap();
    let keys: Vec<String> = key_paths(&nodes.iter().map(|n| n["key"].clone()).collect::<Value>());
    assert_eq!(
        keys,
        [
            "external/feed",
            "raw/daily_orders",
            "raw/orders",
            "spatial/datasets",
            "staging/orders",
            "warehouse/daily_order_counts",
            "warehouse/daily_revenue",
            "warehouse/monthly_revenue"
        ]
    );
    assert_eq!(nodes[0]["definition"], Value::Null);
    let page = h
        .data(
            r#"query($c: String) { assetsOrError(cursor: $c, limit: 2) { ... on AssetConnection { nodes { id } } } }"#,
            json!({"c": nodes[1]["id"]}),
        )
        .await;
    assert_eq!(
        page["assetsOrError"]["nodes"],
        json!([{"id": "[\"raw\",\"orders\"]"}, {"id": "[\"spatial\",\"datasets\"]"}])
    );

    let latest = h
        .data(
            r#"query { assetsLatestInfo(assetKeys: [{path: ["staging", "orders"]}, {path: ["raw", "orders"]}]) {
                assetKey { path } latestMaterialization { runId partition
                  metadataEntries { label ... on IntMetadataEntry { intValue } } } } }"#,
            json!({}),
        )
        .await;
    let info = latest["assetsLatestInfo"].as_array().unwrap();
    assert_eq!(info[0]["latestMaterialization"]["runId"], "r2");
    assert_eq!(
        info[0]["latestMaterialization"]["metadataEntries"][0],
        json!({"label": "row_count", "intValue": 4})
    );
    assert_eq!(info[1]["latestMaterialization"], Value::Null);

    let by_partition = h
        .data(
            r#"query { assetOrError(assetKey: {path: ["external", "feed"]}) { __typename ... on Asset {
                assetMaterializations(partitions: ["2024-01-02"]) { partition runId description }
                latestMaterializationTimestamp } } }"#,
            json!({}),
        )
        .await;
    let asset = &by_partition["assetOrError"];
    assert_eq!(asset["__typename"], "Asset");
    assert_eq!(
        asset["assetMaterializations"],
        json!([{"partition": "2024-01-02", "runId": "", "description": null}])
    );
    assert!(asset["latestMaterializationTimestamp"].as_f64().unwrap() > 1.0e12);

    // A runless observation is an observation, not a materialization.
    let observed = h
        .data(
            r#"mutation { reportRunlessAssetEvents(eventParams: {eventType: ASSET_OBSERVATION,
                assetKey: {path: ["external", "feed"]}, partitionKeys: ["2024-01-03"]}) { __typename } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        observed["reportRunlessAssetEvents"]["__typename"],
        "ReportRunlessAssetEventsSuccess"
    );
    let observations = h
        .data(
            r#"query { assetOrError(assetKey: {path: ["external", "feed"]}) { ... on Asset {
                assetObservations { __typename partition assetKey { path } }
                assetMaterializations { partition } } } }"#,
            json!({}),
        )
        .await;
    let asset = &observations["assetOrError"];
    assert_eq!(
        asset["assetObservations"],
        json!([{"__typename": "ObservationEvent", "partition": "2024-01-03", "assetKey": {"path": ["external", "feed"]}}])
    );
    assert_eq!(asset["assetMaterializations"].as_array().unwrap().len(), 2);

    let history = h
        .data(
            r#"query { assetNodes(assetKeys: [{path: ["staging", "orders"]}]) { assetMaterializations(limit: 5) { runId } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        history["assetNodes"][0]["assetMaterializations"],
        json!([{"runId": "r2"}, {"runId": "r1"}])
    );

    let wiped = h
        .data(
            r#"mutation { wipeAssets(assetPartitionRanges: [{assetKey: {path: ["external", "feed"]}}]) {
                __typename ... on AssetWipeSuccess { assetPartitionRanges { assetKey { path } partitionRange { start } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(wiped["wipeAssets"]["__typename"], "AssetWipeSuccess");
    let gone = h
        .data(
            r#"query { assetOrError(assetKey: {path: ["external", "feed"]}) { __typename } }"#,
            json!({}),
        )
        .await;
    assert_eq!(gone["assetOrError"]["__typename"], "AssetNotFoundError");
}

const LAUNCH: &str = r#"
mutation($p: ExecutionParams!) {
  launchRun(executionParams: $p) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on InvalidSubsetError { message }
  }
}"#;

fn asset_launch(job: &str, keys: Value) -> Value {
    json!({"p": {
        "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__",
                     "pipelineName": job, "assetSelection": keys},
    }})
}

#[tokio::test]
async fn launch_run_materializes_an_asset_selection() {
    let h = Harness::new().await;
    let data = h
        .data(
            LAUNCH,
            asset_launch("__ASSET_JOB", json!([{"path": ["staging", "orders"]}])),
        )
        .await;
    let result = &data["launchRun"];
    assert_eq!(result["__typename"], "LaunchRunSuccess", "{result:#}");
    let run = h.run(result["run"]["runId"].as_str().unwrap()).await;
    assert_eq!(run.job_name, "__ASSET_JOB");
    assert_eq!(
        run.step_keys_to_execute,
        Some(vec![
            "staging__orders".to_owned(),
            "staging__orders_no_negative_amounts".to_owned()
        ])
    );

    for (job, keys, message) in [
        (
            "__ASSET_JOB",
            json!([{"path": ["ghost"]}]),
            "asset \"ghost\" is not defined in location \"demo\"",
        ),
        (
            "refresh_staging",
            json!([{"path": ["raw", "orders"]}]),
            "asset \"raw/orders\" is not materialized by job \"refresh_staging\"",
        ),
    ] {
        let data = h.data(LAUNCH, asset_launch(job, keys)).await;
        assert_eq!(data["launchRun"]["__typename"], "InvalidSubsetError");
        let text = data["launchRun"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{text}");
    }
}

const PARTITIONED: &str = r#"
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      isPartitioned
      partitionDefinition {
        description type name fmt
        dimensionTypes { name type isPrimaryDimension dynamicPartitionsDefinitionName }
      }
      partitionKeys
      partitionKeysByDimension(startIdx: 1, endIdx: 3) { name type partitionKeys }
    }
  }
}"#;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn partitioned_assets_show_their_definition_and_keys() {
    let h = Harness::new().await;
    let daily = h
        .data(PARTITIONED, json!({"path": ["raw", "daily_orders"]}))
        .await;
    let node = &daily["assetNodeOrError"];
    assert_eq!(node["isPartitioned"], true);
    let def = &node["partitionDefinition"];
    assert_eq!(def["description"], "Daily, starting 2026-01-01 UTC.");
    assert_eq!(def["type"], "TIME_WINDOW");
    assert_eq!(def["fmt"], "%Y-%m-%d");
    assert_eq!(def["name"], Value::Null);
    assert_eq!(def["dimensionTypes"][0]["name"], "default");
    assert_eq!(def["dimensionTypes"][0]["isPrimaryDimension"], true);
    let keys = strings(&node["partitionKeys"]);
    assert_eq!(keys[0], "2026-01-01");
    // One key per day that has ended.
    let today = sluice_core::chrono::Utc::now().date_naive();
    let first = sluice_core::chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_eq!(keys.len() as i64, (today - first).num_days());
    assert_eq!(
        node["partitionKeysByDimension"],
        json!([{"name": "default", "type": "TIME_WINDOW", "partitionKeys": ["2026-01-02", "2026-01-03"]}])
    );

    let unpartitioned = h
        .data(PARTITIONED, json!({"path": ["raw", "orders"]}))
        .await;
    let node = &unpartitioned["assetNodeOrError"];
    assert_eq!(node["isPartitioned"], false);
    assert_eq!(node["partitionDefinition"], Value::Null);
    assert_eq!(node["partitionKeys"], json!([]));
}

const ADD_PARTITION: &str = r#"
mutation($key: String!, $set: String!) {
  addDynamicPartition(partitionKey: $key, partitionsDefName: $set,
      repositorySelector: {repositoryLocationName: "demo", repositoryName: "__repository__"}) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on DuplicateDynamicPartitionError { message partitionsDefName partitionName }
    ... on PythonError { message className }
  }
}"#;

const LAUNCH_PARTITION: &str = r#"
mutation($p: ExecutionParams!) {
  launchRun(executionParams: $p) {
    __typename
    ... on LaunchRunSuccess { run { runId tags { key value } } }
    ... on PythonError { message className }
  }
}"#;

fn partition_launch(path: &[&str], partition: Option<&str>) -> Value {
    let tags: Vec<Value> = partition
        .map(|p| json!({"key": "dagster/partition", "value": p}))
        .into_iter()
        .collect();
    json!({"p": {
        "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__",
                     "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": path}]},
        "executionMetadata": {"tags": tags},
    }})
}

#[tokio::test]
async fn dynamic_partitions_are_added_once_and_runs_name_existing_partitions() {
    let h = Harness::new().await;
    let add = |key: &str, set: &str| {
        let vars = json!({"key": key, "set": set});
        let h = &h;
        async move { h.data(ADD_PARTITION, vars).await["addDynamicPartition"].clone() }
    };
    let added = add("parcels", "datasets").await;
    assert_eq!(
        added,
        json!({"__typename": "AddDynamicPartitionSuccess", "partitionsDefName": "datasets", "partitionKey": "parcels"})
    );
    let again = add("parcels", "datasets").await;
    assert_eq!(again["__typename"], "DuplicateDynamicPartitionError");
    assert_eq!(
        again["message"],
        "Partition parcels already exists in dynamic partitions definition datasets."
    );
    let unknown = add("x", "rivers").await;
    assert_eq!(unknown["__typename"], "PythonError");
    assert_eq!(
        unknown["message"],
        "code location \"demo\" has no dynamic partitions definition named \"rivers\" (it has: datasets)"
    );
    let bad = add("a|b", "datasets").await;
    assert_eq!(bad["__typename"], "PythonError");
    assert!(
        bad["message"].as_str().unwrap().contains("it contains '|'"),
        "{bad}"
    );
    add("roads", "datasets").await;
    let keys = h
        .data(PARTITIONED, json!({"path": ["spatial", "datasets"]}))
        .await;
    let node = &keys["assetNodeOrError"];
    assert_eq!(strings(&node["partitionKeys"]), ["parcels", "roads"]);
    assert_eq!(node["partitionDefinition"]["name"], "datasets");
    assert_eq!(
        node["partitionDefinition"]["dimensionTypes"][0]["dynamicPartitionsDefinitionName"],
        "datasets"
    );

    // Launching: the partition tag alone chooses the partition, and must exist.
    let launched = h
        .data(
            LAUNCH_PARTITION,
            partition_launch(&["spatial", "datasets"], Some("roads")),
        )
        .await;
    assert_eq!(
        launched["launchRun"]["__typename"], "LaunchRunSuccess",
        "{launched:#}"
    );
    for (path, partition, message) in [
        (
            &["spatial", "datasets"][..],
            Some("rivers"),
            "job \"__ASSET_JOB\": partition \"rivers\" does not exist in Dynamic partitions: \"datasets\"",
        ),
        (
            &["raw", "daily_orders"][..],
            Some("2025-12-31"),
            "job \"__ASSET_JOB\": partition \"2025-12-31\" does not exist in Daily, starting 2026-01-01 UTC.",
        ),
        (
            &["raw", "daily_orders"][..],
            None,
            "job \"__ASSET_JOB\": the run has no partition (tag dagster/partition), but the asset is partitioned: Daily, starting 2026-01-01 UTC.",
        ),
        (
            &["raw", "orders"][..],
            Some("2026-01-05"),
            "job \"__ASSET_JOB\": the run's assets are not partitioned, but it names partition \"2026-01-05\"",
        ),
    ] {
        let data = h
            .data(LAUNCH_PARTITION, partition_launch(path, partition))
            .await;
        assert_eq!(data["launchRun"]["__typename"], "PythonError", "{data:#}");
        assert_eq!(data["launchRun"]["message"], message);
        assert_eq!(
            data["launchRun"]["className"],
            "DagsterUnknownPartitionError"
        );
    }
    let launched = h
        .data(
            LAUNCH_PARTITION,
            partition_launch(&["raw", "daily_orders"], Some("2026-01-05")),
        )
        .await;
    assert_eq!(launched["launchRun"]["__typename"], "LaunchRunSuccess");

    let deleted = h
        .data(
            r#"mutation { deleteDynamicPartitions(partitionKeys: ["parcels"], partitionsDefName: "datasets",
                repositorySelector: {repositoryLocationName: "demo", repositoryName: "__repository__"}) {
                __typename ... on DeleteDynamicPartitionsSuccess { partitionsDefName } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        deleted["deleteDynamicPartitions"]["__typename"],
        "DeleteDynamicPartitionsSuccess"
    );
    let keys = h
        .data(PARTITIONED, json!({"path": ["spatial", "datasets"]}))
        .await;
    assert_eq!(
        strings(&keys["assetNodeOrError"]["partitionKeys"]),
        ["roads"]
    );
}

const LAUNCH_BACKFILL: &str = r#"
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PartitionKeysNotFoundError { message partitionKeys }
    ... on PartitionSetNotFoundError { message partitionSetName }
    ... on PythonError { message }
  }
}"#;

const BACKFILL: &str = r#"
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status partitionNames numPartitions numCancelable isAssetBackfill
      assetSelection { path } jobName partitionSetName title
      tags { key value } runs { runId } partitionStatusCounts { runStatus count }
    }
    ... on BackfillNotFoundError { message backfillId }
  }
}"#;

#[tokio::test]
async fn backfills_are_launched_over_existing_partitions_and_canceled_once() {
    let h = Harness::new().await;
    let days: Vec<String> = (1..=10).map(|d| format!("2026-01-{d:02}")).collect();
    let launch = |vars: Value| {
        let h = &h;
        async move {
            h.data(LAUNCH_BACKFILL, json!({"p": vars})).await["launchPartitionBackfill"].clone()
        }
    };
    let launched = launch(json!({
        "assetSelection": [{"path": ["raw", "daily_orders"]}],
        "partitionNames": days,
        "title": "January",
        "tags": [{"key": "team", "value": "shop"}],
    }))
    .await;
    assert_eq!(
        launched["__typename"], "LaunchBackfillSuccess",
        "{launched:#}"
    );
    let id = launched["backfillId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 8);

    let read = h.data(BACKFILL, json!({"id": id})).await;
    let b = &read["partitionBackfillOrError"];
    assert_eq!(b["__typename"], "PartitionBackfill");
    assert_eq!(b["status"], "REQUESTED");
    assert_eq!(b["numPartitions"], 10);
    assert_eq!(b["partitionNames"][9], "2026-01-10");
    assert_eq!(b["isAssetBackfill"], true);
    assert_eq!(
        b["assetSelection"],
        json!([{"path": ["raw", "daily_orders"]}])
    );
    assert_eq!(b["jobName"], "__ASSET_JOB");
    assert_eq!(b["partitionSetName"], Value::Null);
    assert_eq!(b["title"], "January");
    assert!(
        b["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "team", "value": "shop"})),
        "{b:#}"
    );
    assert_eq!(b["runs"], json!([]), "the daemon submits the runs");

    // Partitions and partition sets that do not exist.
    let unknown = launch(json!({
        "assetSelection": [{"path": ["raw", "daily_orders"]}],
        "partitionNames": ["2026-01-02", "2025-12-31", "someday"],
    }))
    .await;
    assert_eq!(unknown["__typename"], "PartitionKeysNotFoundError");
    assert_eq!(unknown["partitionKeys"], json!(["2025-12-31", "someday"]));
    assert_eq!(
        unknown["message"],
        "partitions 2025-12-31, someday do not exist in Daily, starting 2026-01-01 UTC."
    );
    let no_set = launch(json!({
        "selector": {"partitionSetName": "one_op_job_partition_set",
                     "repositorySelector": {"repositoryLocationName": "demo", "repositoryName": "__repository__"}},
        "allPartitions": true,
    }))
    .await;
    assert_eq!(no_set["__typename"], "PythonError", "{no_set:#}");
    assert_eq!(
        no_set["message"],
        "job \"one_op_job\" is not partitioned; a backfill needs partitions"
    );
    let ghost = launch(json!({
        "selector": {"partitionSetName": "ghost_partition_set",
                     "repositorySelector": {"repositoryLocationName": "demo", "repositoryName": "__repository__"}},
        "allPartitions": true,
    }))
    .await;
    assert_eq!(ghost["__typename"], "PartitionSetNotFoundError");
    assert_eq!(ghost["partitionSetName"], "ghost_partition_set");
    let unpartitioned = launch(json!({
        "assetSelection": [{"path": ["raw", "orders"]}],
        "allPartitions": true,
    }))
    .await;
    assert_eq!(unpartitioned["__typename"], "PythonError");
    // A partition named twice is backfilled once.
    let twice = launch(json!({
        "assetSelection": [{"path": ["raw", "daily_orders"]}],
        "partitionNames": ["2026-01-02", "2026-01-03", "2026-01-02"],
    }))
    .await;
    let read = h.data(BACKFILL, json!({"id": twice["backfillId"]})).await;
    assert_eq!(
        read["partitionBackfillOrError"]["partitionNames"],
        json!(["2026-01-02", "2026-01-03"])
    );

    // Cancel once; resume only what is canceled.
    let cancel = r#"mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) {
        __typename ... on CancelBackfillSuccess { backfillId } ... on PythonError { message } } }"#;
    let resume = r#"mutation($id: String!) { resumePartitionBackfill(backfillId: $id) {
        __typename ... on PythonError { message } } }"#;
    let first = h.data(cancel, json!({"id": id})).await;
    assert_eq!(
        first["cancelPartitionBackfill"],
        json!({"__typename": "CancelBackfillSuccess", "backfillId": id})
    );
    let again = h.data(cancel, json!({"id": id})).await;
    assert_eq!(
        again["cancelPartitionBackfill"]["message"],
        format!(
            "backfill {id} is CANCELING; only a backfill that is REQUESTED can become CANCELING"
        )
    );
    let early = h.data(resume, json!({"id": id})).await;
    assert_eq!(
        early["resumePartitionBackfill"]["__typename"],
        "PythonError"
    );
    let listed = h
        .data(
            r#"query { partitionBackfillsOrError(status: CANCELING) { ... on PartitionBackfills { results { id status } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        listed["partitionBackfillsOrError"]["results"],
        json!([{"id": id, "status": "CANCELING"}])
    );
    let missing = h.data(BACKFILL, json!({"id": "nosuchid"})).await;
    assert_eq!(
        missing["partitionBackfillOrError"],
        json!({"__typename": "BackfillNotFoundError", "message": "Backfill nosuchid could not be found.", "backfillId": "nosuchid"})
    );
}

#[tokio::test]
async fn a_single_run_backfill_runs_each_range_of_consecutive_partitions_once() {
    let h = Harness::new().await;
    let policy = h
        .data(
            r#"{ assetNodeOrError(assetKey: {path: ["warehouse", "daily_order_counts"]}) {
                ... on AssetNode { backfillPolicy { maxPartitionsPerRun policyType description } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        policy["assetNodeOrError"]["backfillPolicy"],
        json!({"maxPartitionsPerRun": null, "policyType": "SINGLE_RUN",
               "description": "Backfills all partitions in one run"})
    );
    let launched = h
        .data(
            LAUNCH_BACKFILL,
            json!({"p": {"assetSelection": [{"path": ["warehouse", "daily_order_counts"]}],
                         "partitionNames": ["2026-01-05", "2026-01-01", "2026-01-02", "2026-01-03", "2026-01-07"]}}),
        )
        .await;
    let id = launched["launchPartitionBackfill"]["backfillId"]
        .as_str()
        .unwrap_or_else(|| panic!("{launched:#}"))
        .to_owned();
    // In the partitioning's order; a run per range of consecutive days.
    let stored = h.storage.backfill(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.spec.partition_names,
        [
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-05",
            "2026-01-07"
        ]
    );
    assert_eq!(stored.spec.runs, BackfillRuns::Ranges(vec![3, 1, 1]));

    // A run over a range is launched with its two tags, which must name a range.
    let range_launch = |tags: &[(&str, &str)]| {
        let mut vars = partition_launch(&["warehouse", "daily_order_counts"], None);
        vars["p"]["executionMetadata"]["tags"] = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        vars
    };
    let start = "dagster/asset_partition_range_start";
    let end = "dagster/asset_partition_range_end";
    let ok = h
        .data(
            LAUNCH_PARTITION,
            range_launch(&[(start, "2026-01-01"), (end, "2026-01-04")]),
        )
        .await;
    assert_eq!(ok["launchRun"]["__typename"], "LaunchRunSuccess", "{ok:#}");
    for (tags, message) in [
        (
            &[(start, "2026-01-04"), (end, "2026-01-01")][..],
            "job \"__ASSET_JOB\": partition range starts at \"2026-01-04\", after its end \"2026-01-01\"",
        ),
        (
            &[(start, "2026-01-01")][..],
            "job \"__ASSET_JOB\": a run names one partition (dagster/partition) or a range (both dagster/asset_partition_range_start and _end), not tags dagster/asset_partition_range_start",
        ),
        (
            &[(start, "2025-12-01"), (end, "2026-01-01")][..],
            "job \"__ASSET_JOB\": partition \"2025-12-01\" does not exist in Daily, starting 2026-01-01 UTC.",
        ),
    ] {
        let data = h.data(LAUNCH_PARTITION, range_launch(tags)).await;
        assert_eq!(data["launchRun"]["message"], message, "{data:#}");
    }

    // The daemon's runs: the range fails, the single days succeed.
    let mut run_ids = Vec::new();
    for keys in stored.pending_runs() {
        let mut tags: std::collections::BTreeMap<String, String> =
            [(BACKFILL_ID_TAG.to_owned(), id.clone())].into();
        tags.extend(RunPartitions::of_keys(keys).unwrap().tags());
        let run = h
            .storage
            .create_run(&NewRun {
                tags,
                ..NewRun::new("__ASSET_JOB")
            })
            .await
            .unwrap();
        let end = if keys.len() > 1 {
            EventType::RunFailure
        } else {
            EventType::RunSuccess
        };
        let events: Vec<RunEvent> = [EventType::RunStart, end]
            .into_iter()
            .map(|t| RunEvent::new(&run.run_id, t, ""))
            .collect();
        h.storage.store_events(&events).await.unwrap();
        run_ids.push(run.run_id);
    }
    h.storage
        .set_backfill_status(&id, BackfillStatus::CompletedFailed, None)
        .await
        .unwrap();
    let read = h
        .data(
            r#"query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
                partitionStatusCounts { runStatus count }
                partitionStatuses { results { partitionName runId runStatus } } } } }"#,
            json!({"id": id}),
        )
        .await;
    let b = &read["partitionBackfillOrError"];
    assert_eq!(
        b["partitionStatusCounts"],
        json!([{"runStatus": "FAILURE", "count": 3}, {"runStatus": "SUCCESS", "count": 2}])
    );
    let statuses = b["partitionStatuses"]["results"].as_array().unwrap();
    assert_eq!(statuses.len(), 5);
    assert_eq!(
        statuses[1],
        json!({"partitionName": "2026-01-02", "runId": run_ids[0], "runStatus": "FAILURE"})
    );

    // Re-executing the failures runs the failed range again, as one run.
    let again = h
        .data(
            r#"mutation($id: String!) { reexecutePartitionBackfill(reexecutionParams: {parentRunId: $id, strategy: FROM_FAILURE}) {
                __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"#,
            json!({"id": id}),
        )
        .await;
    let child = again["reexecutePartitionBackfill"]["backfillId"]
        .as_str()
        .unwrap_or_else(|| panic!("{again:#}"));
    let child = h.storage.backfill(child).await.unwrap().unwrap();
    assert_eq!(
        child.spec.partition_names,
        ["2026-01-01", "2026-01-02", "2026-01-03"]
    );
    assert_eq!(child.spec.runs, BackfillRuns::Ranges(vec![3]));
}

#[tokio::test]
async fn partition_sets_list_a_partitioned_jobs_partitions_and_their_latest_runs() {
    let h = Harness::new().await;
    let repo = json!({"repositoryLocationName": "demo", "repositoryName": "__repository__"});
    // Two runs of one day, the later one failed, and one of another day.
    for (day, status) in [
        ("2026-01-02", sluice_core::run::RunStatus::Success),
        ("2026-01-02", sluice_core::run::RunStatus::Failure),
        ("2026-01-03", sluice_core::run::RunStatus::Queued),
    ] {
        let mut run = sluice_core::run::NewRun::new("daily_orders_job");
        run.status = status;
        run.tags.insert("dagster/partition".into(), day.into());
        h.storage.create_run(&run).await.unwrap();
    }
    let sets = h
        .data(
            "query($r: RepositorySelector!, $job: String!) {
               sets: partitionSetsOrError(repositorySelector: $r, pipelineName: $job) {
                 __typename ... on PartitionSets { results { name pipelineName mode } } }
               none: partitionSetsOrError(repositorySelector: $r, pipelineName: \"one_op_job\") {
                 ... on PartitionSets { results { name } } }
               ghost: partitionSetsOrError(repositorySelector: $r, pipelineName: \"ghost\") {
                 __typename } }",
            json!({"r": repo, "job": "daily_orders_job"}),
        )
        .await;
    assert_eq!(
        sets["sets"]["results"],
        json!([{"name": "daily_orders_job_partition_set", "pipelineName": "daily_orders_job", "mode": "default"}])
    );
    assert_eq!(sets["none"]["results"], json!([]), "not partitioned");
    assert_eq!(sets["ghost"]["__typename"], "PipelineNotFoundError");

    let set = h
        .data(
            "query($r: RepositorySelector!, $name: String!) {
               partitionSetOrError(repositorySelector: $r, partitionSetName: $name) {
                 __typename
                 ... on PartitionSet {
                   first: partitionsOrError(limit: 2) { ... on Partitions { results { name } } }
                   next: partitionsOrError(cursor: \"2026-01-02\", limit: 1) { ... on Partitions { results { name } } }
                   day: partition(partitionName: \"2026-01-02\") {
                     name partitionSetName status
                     tagsOrError { ... on PartitionTags { results { key value } } }
                     runs { status } }
                   never: partition(partitionName: \"1999-01-01\") { name }
                   partitionStatusesOrError { ... on PartitionStatuses { results { partitionName runStatus } } }
                 } } }",
            json!({"r": repo, "name": "daily_orders_job_partition_set"}),
        )
        .await;
    let set = &set["partitionSetOrError"];
    assert_eq!(set["__typename"], "PartitionSet", "{set:#}");
    assert_eq!(
        set["first"]["results"],
        json!([{"name": "2026-01-01"}, {"name": "2026-01-02"}])
    );
    assert_eq!(set["next"]["results"], json!([{"name": "2026-01-03"}]));
    let day = &set["day"];
    assert_eq!(day["status"], "FAILURE", "the latest run counts");
    assert_eq!(
        day["runs"],
        json!([{"status": "FAILURE"}, {"status": "SUCCESS"}])
    );
    assert_eq!(
        day["tagsOrError"]["results"][0],
        json!({"key": "dagster/partition", "value": "2026-01-02"})
    );
    assert_eq!(set["never"], Value::Null);
    assert_eq!(
        set["partitionStatusesOrError"]["results"],
        json!([
            {"partitionName": "2026-01-02", "runStatus": "FAILURE"},
            {"partitionName": "2026-01-03", "runStatus": "QUEUED"},
        ])
    );

    let missing = h
        .data(
            "query($r: RepositorySelector!) {
               a: partitionSetOrError(repositorySelector: $r, partitionSetName: \"one_op_job_partition_set\") {
                 __typename ... on PartitionSetNotFoundError { partitionSetName } }
               b: partitionSetOrError(repositorySelector: $r, partitionSetName: \"nonsense\") { __typename } }",
            json!({"r": repo}),
        )
        .await;
    assert_eq!(missing["a"]["__typename"], "PartitionSetNotFoundError");
    assert_eq!(missing["a"]["partitionSetName"], "one_op_job_partition_set");
    assert_eq!(missing["b"]["__typename"], "PartitionSetNotFoundError");

    // A backfill of the set shows the set, and the latest of its runs per partition.
    let launched = h
        .data(
            "mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
               ... on LaunchBackfillSuccess { backfillId } } }",
            json!({"p": {
                "selector": {"partitionSetName": "daily_orders_job_partition_set", "repositorySelector": repo},
                "partitionNames": ["2026-01-04", "2026-01-05"],
            }}),
        )
        .await;
    let id = launched["launchPartitionBackfill"]["backfillId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut run = sluice_core::run::NewRun::new("daily_orders_job");
    run.status = sluice_core::run::RunStatus::Started;
    run.tags
        .insert("dagster/partition".into(), "2026-01-04".into());
    run.tags.insert("dagster/backfill".into(), id.clone());
    h.storage.create_run(&run).await.unwrap();
    let backfill = h
        .data(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
               partitionSet { name pipelineName }
               partitionStatuses { results { partitionName runStatus } } } } }",
            json!({"id": id}),
        )
        .await;
    let b = &backfill["partitionBackfillOrError"];
    assert_eq!(
        b["partitionSet"],
        json!({"name": "daily_orders_job_partition_set", "pipelineName": "daily_orders_job"})
    );
    assert_eq!(
        b["partitionStatuses"]["results"],
        json!([{"partitionName": "2026-01-04", "runStatus": "STARTED"}])
    );
}

#[tokio::test]
async fn wiping_a_range_of_partitions_keeps_the_others() {
    let h = Harness::new().await;
    let reported = h
        .data(
            r#"mutation { reportRunlessAssetEvents(eventParams: {eventType: ASSET_MATERIALIZATION,
                assetKey: {path: ["raw", "daily_orders"]},
                partitionKeys: ["2026-01-01", "2026-01-02", "2026-01-03"]}) { __typename } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        reported["reportRunlessAssetEvents"]["__typename"],
        "ReportRunlessAssetEventsSuccess"
    );
    let wipe = |ranges: Value| {
        let h = &h;
        async move {
            h.data(
                r#"mutation($r: [PartitionsByAssetSelector!]!) { wipeAssets(assetPartitionRanges: $r) {
                    __typename
                    ... on AssetWipeSuccess { assetPartitionRanges { assetKey { path } partitionRange { start end } } }
                    ... on PythonError { message } } }"#,
                json!({"r": ranges}),
            )
            .await["wipeAssets"]
                .clone()
        }
    };
    // Bad ranges wipe nothing, and say why.
    let unknown = wipe(json!([{"assetKey": {"path": ["raw", "daily_orders"]},
        "partitions": {"range": {"start": "2025-12-31", "end": "2026-01-02"}}}]))
    .await;
    assert_eq!(unknown["__typename"], "PythonError");
    assert_eq!(
        unknown["message"],
        "partition \"2025-12-31\" does not exist in Daily, starting 2026-01-01 UTC. (asset \"raw/daily_orders\")"
    );
    let unpartitioned = wipe(json!([{"assetKey": {"path": ["raw", "orders"]},
        "partitions": {"range": {"start": "a", "end": "b"}}}]))
    .await;
    assert_eq!(
        unpartitioned["message"],
        "asset \"raw/orders\" is not partitioned"
    );
    let reversed = wipe(json!([{"assetKey": {"path": ["raw", "daily_orders"]},
        "partitions": {"range": {"start": "2026-01-03", "end": "2026-01-01"}}}]))
    .await;
    assert_eq!(reversed["__typename"], "PythonError");

    let wiped = wipe(json!([{"assetKey": {"path": ["raw", "daily_orders"]},
        "partitions": {"range": {"start": "2026-01-02", "end": "2026-01-03"}}}]))
    .await;
    assert_eq!(
        wiped["assetPartitionRanges"],
        json!([{"assetKey": {"path": ["raw", "daily_orders"]},
                "partitionRange": {"start": "2026-01-02", "end": "2026-01-03"}}])
    );
    let left = h
        .data(
            r#"{ assetNodeOrError(assetKey: {path: ["raw", "daily_orders"]}) { ... on AssetNode {
                latestMaterializationByPartition(partitions: ["2026-01-01", "2026-01-02", "2026-01-03"]) { partition } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        left["assetNodeOrError"]["latestMaterializationByPartition"],
        json!([{"partition": "2026-01-01"}, null, null])
    );
}
