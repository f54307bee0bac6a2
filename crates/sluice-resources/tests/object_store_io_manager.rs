//! The object-store IO manager against a local directory and against a real
//! S3-compatible server: moto, which `tests/run.sh` starts (see
//! `tests/services/s3.sh`) and names in `$SLUICE_TEST_S3_ENDPOINT`.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use serde_json::json;
use sluice_core::events::{EventType, MemorySink, RunEvent};
use sluice_core::executor::{self, RunContext};
use sluice_core::io_manager::{IoManager, IoManagerError, OutputKey};
use sluice_core::metadata::MetadataValue;
use sluice_core::plan::ExecutionPlan;
use sluice_core::prelude::*;
use sluice_core::run_config;
use sluice_resources::{ObjectStoreIoManager, Table};

/// A new bucket on the moto server, and the options to reach it.
async fn bucket(name: &str) -> (String, Vec<(&'static str, String)>) {
    let (endpoint, bucket) = common::create_bucket(name).await;
    let options = vec![
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true".to_owned()),
        ("aws_region", "us-east-1".to_owned()),
        ("aws_access_key_id", "testing".to_owned()),
        ("aws_secret_access_key", "testing".to_owned()),
        ("aws_virtual_hosted_style_request", "false".to_owned()),
    ];
    (bucket, options)
}

fn orders_table(amounts: &[i64]) -> Table {
    let customers: Vec<String> = (0..amounts.len()).map(|i| format!("c{i}")).collect();
    RecordBatch::try_from_iter([
        ("customer", Arc::new(StringArray::from(customers)) as _),
        (
            "amount_cents",
            Arc::new(Int64Array::from(amounts.to_vec())) as _,
        ),
    ])
    .unwrap()
    .into()
}

/// `raw/orders` (an Arrow table) → `staging/orders` (the positive amounts, a table) →
/// `warehouse/revenue` (their total, JSON).
fn pipeline() -> Definitions {
    let raw = AssetDefinition::builder("raw/orders")
        .compute(|_, _| async { Ok(orders_table(&[1200, -300, 800])) });
    let staging = AssetDefinition::builder("staging/orders")
        .input_named::<Table>("raw", "raw/orders")
        .compute(|_, inputs| async move {
            let raw: Arc<Table> = inputs.get_arc("raw")?;
            let amounts = raw
                .batch()
                .column_by_name("amount_cents")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .expect("an amount column")
                .clone();
            let kept: Vec<i64> = amounts.iter().flatten().filter(|a| *a > 0).collect();
            Ok(orders_table(&kept))
        });
    let revenue = AssetDefinition::builder("warehouse/revenue")
        .input_named::<Table>("orders", "staging/orders")
        .compute(|_, inputs| async move {
            let orders: Arc<Table> = inputs.get_arc("orders")?;
            let column = orders.batch().column_by_name("amount_cents").unwrap();
            let amounts = column.as_any().downcast_ref::<Int64Array>().unwrap();
            assert_eq!(amounts.null_count(), 0);
            Ok(amounts.iter().flatten().sum::<i64>())
        });
    Definitions::builder()
        .assets([raw, staging, revenue])
        .asset_job(define_asset_job(
            "warehouse_only",
            AssetSelection::parse("warehouse/revenue").unwrap(),
        ))
        .build()
        .expect("valid definitions")
}

async fn run(defs: &Definitions, job: &str, io: Arc<dyn IoManager>) -> (RunStatus, Vec<RunEvent>) {
    let job = defs.job(job).expect("job exists");
    let config = run_config::resolve(defs, job, &json!({})).expect("valid config");
    let sink = Arc::new(MemorySink::default());
    let status = executor::execute(
        &ExecutionPlan::for_job(job),
        config,
        RunContext {
            io_manager: Some(io),
            ..RunContext::new("run-1", sink.clone())
        },
    )
    .await;
    (status, sink.events())
}

fn output_of<T: sluice_core::op::OutputValue>() -> sluice_core::op::OutputDefinition {
    let op = OpDefinition::builder("make")
        .output::<T>("result")
        .compute(|_, _| async { Err(OpError::msg("not run")) });
    op.output("result").unwrap().clone()
}

/// Values of both formats go in and come back, at the documented paths; a key never
/// stored is `NotStored`.
fn round_trips(io: &ObjectStoreIoManager, url: &str) {
    let table_output = output_of::<Table>();
    let json_output = output_of::<Vec<u32>>();
    let asset = AssetKey::parse("warehouse/orders").unwrap();
    let key = OutputKey::Asset {
        key: &asset,
        partition: Some("2026-01-05"),
    };
    let table = orders_table(&[5, 6, 7]);
    let metadata = io
        .handle_output(key, &table_output, &(Arc::new(table.clone()) as _))
        .unwrap();
    assert_eq!(
        metadata["uri"],
        MetadataValue::Url(format!("{url}/warehouse/orders/2026-01-05.parquet"))
    );
    assert_eq!(metadata["dagster/row_count"], MetadataValue::Int(3));
    let loaded = io.load_input(key, &table_output).unwrap();
    assert_eq!(loaded.downcast_ref::<Table>(), Some(&table));

    let step = OutputKey::Step {
        run_id: "r1",
        step_key: "make",
        output_name: "result",
    };
    let metadata = io
        .handle_output(step, &json_output, &(Arc::new(vec![1u32, 2]) as _))
        .unwrap();
    assert_eq!(
        metadata["uri"],
        MetadataValue::Url(format!("{url}/r1/make/result.json"))
    );
    assert_eq!(metadata["bytes"], MetadataValue::Int(5));
    let loaded = io.load_input(step, &json_output).unwrap();
    assert_eq!(loaded.downcast_ref::<Vec<u32>>(), Some(&vec![1, 2]));

    let never = AssetKey::parse("warehouse/customers").unwrap();
    let missing = OutputKey::Asset {
        key: &never,
        partition: None,
    };
    let error = io.load_input(missing, &json_output).unwrap_err();
    assert!(matches!(error, IoManagerError::NotStored { .. }), "{error}");
}

#[test]
fn a_local_directory_keeps_tables_as_parquet_and_values_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let io = ObjectStoreIoManager::from_url(&url, Vec::<(String, String)>::new()).unwrap();
    round_trips(&io, &url);
    let parquet = std::fs::read(dir.path().join("warehouse/orders/2026-01-05.parquet")).unwrap();
    assert_eq!(
        &parquet[..4],
        b"PAR1",
        "a Parquet file other tools can read"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("r1/make/result.json")).unwrap(),
        "[1,2]"
    );
}

#[tokio::test]
async fn s3_keeps_outputs_between_runs() {
    let (bucket, options) = bucket("outputs").await;
    let url = format!("s3://{bucket}/sluice");
    let io = Arc::new(ObjectStoreIoManager::from_url(&url, options.clone()).unwrap());
    // Called from async code, as the executor does.
    round_trips(&io, &url);

    // A run of every asset, then a run of the warehouse alone that loads staging from S3.
    let defs = pipeline();
    let (status, events) = run(&defs, "warehouse_only", io.clone()).await;
    assert_eq!(status, RunStatus::Failure, "staging was never materialized");
    let failure = events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    assert!(
        failure
            .message
            .contains("asset \"staging/orders\" is not stored"),
        "{}",
        failure.message
    );
    let (status, events) = run(&defs, ASSET_JOB_NAME, io.clone()).await;
    assert_eq!(status, RunStatus::Success);
    let staging = events
        .iter()
        .filter_map(RunEvent::materialization)
        .find(|m| m.asset_key.to_string() == "staging/orders")
        .unwrap();
    assert_eq!(
        staging.metadata["uri"],
        MetadataValue::Url(format!("{url}/staging/orders.parquet"))
    );
    assert_eq!(staging.metadata["dagster/row_count"], MetadataValue::Int(2));

    // A fresh IO manager (another run worker) reads what the first one wrote.
    let other: Arc<dyn IoManager> =
        Arc::new(ObjectStoreIoManager::from_url(&url, options).unwrap());
    let (status, events) = run(&defs, "warehouse_only", other.clone()).await;
    assert_eq!(status, RunStatus::Success);
    assert!(
        events.iter().any(|e| e.event_type == EventType::LoadedInput
            && e.message.contains("asset \"staging/orders\"")),
        "staging is loaded from S3"
    );
    let revenue = AssetKey::parse("warehouse/revenue").unwrap();
    let total = other
        .load_input(
            OutputKey::Asset {
                key: &revenue,
                partition: None,
            },
            &output_of::<i64>(),
        )
        .unwrap();
    assert_eq!(total.downcast_ref::<i64>(), Some(&2000));
}

#[tokio::test]
async fn bad_stores_are_errors_that_name_the_store() {
    let error = ObjectStoreIoManager::from_url("ftp://example/x", Vec::<(String, String)>::new())
        .unwrap_err();
    assert!(
        matches!(error, IoManagerError::Setup(_))
            && error.to_string().contains("\"ftp://example/x\""),
        "{error}"
    );

    // A bucket that does not exist: writing fails with the store's reason and location.
    let (_, options) = bucket("exists").await;
    let url = "s3://no-such-bucket/prefix";
    let io = ObjectStoreIoManager::from_url(url, options).unwrap();
    let asset = AssetKey::parse("raw/orders").unwrap();
    let key = OutputKey::Asset {
        key: &asset,
        partition: None,
    };
    let error = io
        .handle_output(key, &output_of::<Vec<u32>>(), &(Arc::new(vec![1u32]) as _))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, IoManagerError::Storage { .. })
            && text.contains("asset \"raw/orders\"")
            && text.contains("s3://no-such-bucket/prefix/raw/orders.json"),
        "{text}"
    );
}
