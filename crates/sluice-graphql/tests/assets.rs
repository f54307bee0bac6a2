//! Assets over GraphQL, in Dagster's shapes: the demo location's asset graph, the
//! catalog and its latest materializations, runless reports, wiping, and `launchRun`
//! with an asset selection.

mod common;

use common::Harness;
use serde_json::{Value, json};
use sluice_core::asset::AssetKey;
use sluice_core::events::{AssetMaterialization, EventData, EventType, RunEvent};
use sluice_core::metadata::MetadataValue;
use sluice_storage::Storage;

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
    assert_eq!(nodes.len(), 3, "{nodes:#?}");
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
        ["warehouse/daily_revenue"]
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
            "raw/orders",
            "staging/orders",
            "warehouse/daily_revenue"
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
        json!([{"id": "[\"staging\",\"orders\"]"}, {"id": "[\"warehouse\",\"daily_revenue\"]"}])
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
