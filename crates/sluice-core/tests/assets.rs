//! Software-defined assets: definitions, asset jobs, and materializing through the
//! executor and the filesystem IO manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use sluice_core::asset::{
    ASSET_JOB_NAME, AssetDefinition, AssetKey, AssetSelection, define_asset_job,
};
use sluice_core::events::{EventData, EventType, MemorySink, RunEvent};
use sluice_core::executor::{self, Reexecution, RunContext};
use sluice_core::io_manager::{FsIoManager, IoManager};
use sluice_core::metadata::MetadataValue;
use sluice_core::plan::ExecutionPlan;
use sluice_core::prelude::*;
use sluice_core::run::{PARTITION_TAG, RunStatus};
use sluice_core::{DefinitionProblem, run_config};
use tokio_util::sync::CancellationToken;

/// Fail unless `text` contains each of `parts`.
fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is not in: {text}");
    }
}

fn key(text: &str) -> AssetKey {
    AssetKey::parse(text).unwrap()
}

/// raw/orders → staging/orders → warehouse/revenue, with warehouse failing while `broken`.
fn pipeline(broken: Arc<AtomicBool>) -> Definitions {
    let raw = AssetDefinition::builder("raw/orders")
        .group("raw")
        .compute(|_, _| async { Ok(vec![12_i64, -1, 30]) });
    let staging = AssetDefinition::builder("staging/orders")
        .group("staging")
        .code_version("2")
        .input::<Vec<i64>>("raw/orders")
        .compute(|ctx, inputs| async move {
            let orders: Vec<i64> = inputs.get("orders")?;
            let valid: Vec<i64> = orders.into_iter().filter(|o| *o > 0).collect();
            ctx.add_output_metadata("row_count", valid.len() as i64);
            Ok(valid)
        });
    let warehouse = AssetDefinition::builder("warehouse/revenue")
        .group("warehouse")
        .input_named::<Vec<i64>>("orders", "staging/orders")
        .compute(move |_, inputs| {
            let broken = broken.load(Ordering::SeqCst);
            async move {
                if broken {
                    return Err(OpError::msg("the warehouse is down"));
                }
                Ok(inputs.get::<Vec<i64>>("orders")?.iter().sum::<i64>())
            }
        });
    Definitions::builder()
        .assets([raw, staging, warehouse])
        .asset_job(define_asset_job(
            "warehouse_only",
            AssetSelection::parse("group:warehouse").unwrap(),
        ))
        .build()
        .expect("valid definitions")
}

async fn run(
    defs: &Definitions,
    job: &str,
    io: Arc<dyn IoManager>,
    tags: &[(&str, &str)],
    reexecution: Option<Reexecution>,
) -> (RunStatus, Vec<RunEvent>) {
    let job = defs.job(job).expect("job exists");
    let resolved = run_config::resolve(defs, job, &json!({})).expect("valid config");
    let sink = Arc::new(MemorySink::default());
    let status = executor::execute(
        &ExecutionPlan::for_job(job),
        resolved,
        RunContext {
            run_id: "run".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            events: sink.clone(),
            cancel: CancellationToken::new(),
            io_manager: Some(io),
            reexecution,
        },
    )
    .await;
    (status, sink.events())
}

fn materializations(events: &[RunEvent]) -> Vec<(String, Option<String>)> {
    events
        .iter()
        .filter_map(RunEvent::materialization)
        .map(|m| (m.asset_key.to_string(), m.partition.clone()))
        .collect()
}

#[test]
fn asset_problems_name_the_assets() {
    let a = |k: &str, deps: &[&str]| {
        deps.iter()
            .fold(AssetDefinition::builder(k), |b, d| b.dep(d))
            .compute(|_, _| async { Ok(0_i64) })
    };
    let err = Definitions::builder()
        .assets([
            a("x", &["y"]),
            a("y", &["x"]),
            a("x", &[]),
            a("z", &["nowhere"]),
        ])
        .build()
        .unwrap_err();
    assert_mentions(
        &err.to_string(),
        &[
            "asset \"x\" is defined more than once",
            "asset \"z\" depends on \"nowhere\", which is not defined",
        ],
    );

    let err = Definitions::builder()
        .assets([a("raw//bad", &[]), a("ok", &[])])
        .asset_job(define_asset_job(
            "missing",
            AssetSelection::parse("ok+ or ghost").unwrap(),
        ))
        .build()
        .unwrap_err();
    let problems = err.problems;
    assert!(
        matches!(&problems[0], DefinitionProblem::InvalidAssetKey { .. }),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.to_string()
            == "asset job \"missing\": the selection names asset \"ghost\", which is not defined"),
        "{problems:?}"
    );

    let source = AssetDefinition::source("upstream/feed").build_source();
    let err = Definitions::builder()
        .asset(source)
        .asset_job(define_asset_job(
            "only_sources",
            AssetSelection::keys([key("upstream/feed")]),
        ))
        .build()
        .unwrap_err();
    assert_eq!(
        err.problems,
        [DefinitionProblem::EmptyAssetJob {
            job: "only_sources".into()
        }]
    );
}

#[test]
fn asset_jobs_wire_what_they_select() {
    let defs = pipeline(Arc::default());
    let all = defs.job(ASSET_JOB_NAME).expect("the implicit asset job");
    let names: Vec<&str> = all.nodes().iter().map(|n| n.alias.as_str()).collect();
    assert_eq!(
        names,
        ["raw__orders", "staging__orders", "warehouse__revenue"]
    );
    assert_eq!(all.node("staging__orders").unwrap().inputs.len(), 1);
    let only = defs.job("warehouse_only").unwrap();
    assert_eq!(only.nodes().len(), 1);
    assert!(
        only.nodes()[0].inputs.is_empty(),
        "staging is loaded, not wired"
    );
    assert_eq!(
        defs.asset_steps(&AssetSelection::parse("staging/orders+").unwrap())
            .unwrap(),
        ["staging__orders", "warehouse__revenue"]
    );
    assert_eq!(defs.asset_graph().nodes().count(), 3);
}

#[tokio::test]
async fn materializations_are_stored_and_loaded_by_asset_key() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let broken = Arc::new(AtomicBool::new(false));
    let defs = pipeline(Arc::clone(&broken));

    // Nothing stored yet: the warehouse job cannot load staging, and says which asset.
    let (status, events) = run(&defs, "warehouse_only", io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Failure);
    let failure = events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    assert!(
        failure
            .message
            .contains("asset \"staging/orders\" is not stored (it was never materialized)"),
        "{}",
        failure.message
    );

    let (status, events) = run(&defs, ASSET_JOB_NAME, io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success);
    assert_eq!(
        materializations(&events),
        [
            ("raw/orders".into(), None),
            ("staging/orders".into(), None),
            ("warehouse/revenue".into(), None)
        ]
    );
    let staging = events
        .iter()
        .filter_map(RunEvent::materialization)
        .find(|m| m.asset_key == key("staging/orders"))
        .unwrap();
    assert_eq!(staging.metadata["row_count"], MetadataValue::Int(2));
    assert!(matches!(staging.metadata["path"], MetadataValue::Path(_)));
    assert_eq!(staging.code_version.as_deref(), Some("2"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("warehouse/revenue")).unwrap(),
        "42"
    );

    // A failed materialization leaves the last good value in place.
    broken.store(true, Ordering::SeqCst);
    let (status, events) = run(&defs, "warehouse_only", io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Failure);
    assert!(materializations(&events).is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("warehouse/revenue")).unwrap(),
        "42"
    );

    // The warehouse alone, after a fix, loads staging from storage.
    broken.store(false, Ordering::SeqCst);
    let (status, events) = run(&defs, "warehouse_only", io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success);
    let loaded = events
        .iter()
        .find(|e| e.event_type == EventType::LoadedInput)
        .unwrap();
    assert!(
        matches!(&loaded.data, EventData::LoadedInput { upstream_step_key, .. } if upstream_step_key == "staging__orders"),
        "{loaded:?}"
    );

    // Ad hoc: a selection of the implicit asset job, its upstream loaded by key.
    let steps = defs
        .asset_steps(&AssetSelection::parse("staging/orders").unwrap())
        .unwrap();
    let (status, events) = run(
        &defs,
        ASSET_JOB_NAME,
        io.clone(),
        &[],
        Some(Reexecution {
            step_keys: steps.into_iter().collect(),
            source_runs: Vec::new(),
        }),
    )
    .await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(materializations(&events), [("staging/orders".into(), None)]);
}

#[tokio::test]
async fn a_partitioned_run_materializes_its_partition() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let daily = AssetDefinition::builder("events/daily")
        .compute(|ctx, _| async move { Ok(ctx.partition_key().unwrap_or("none").to_owned()) });
    let defs = Definitions::builder().asset(daily).build().unwrap();
    let (status, events) = run(
        &defs,
        ASSET_JOB_NAME,
        io,
        &[(PARTITION_TAG, "2024-03-10")],
        None,
    )
    .await;
    assert_eq!(status, RunStatus::Success);
    assert_eq!(
        materializations(&events),
        [("events/daily".into(), Some("2024-03-10".into()))]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("events/daily/2024-03-10")).unwrap(),
        "\"2024-03-10\""
    );
}

/// raw → staging → warehouse with a blocking check on staging, a WARN check on raw, and
/// staging's content chosen by `bad`.
fn checked(bad: Arc<AtomicBool>) -> Definitions {
    use sluice_core::asset::{AssetCheckDefinition, AssetCheckResult, AssetCheckSeverity};
    let raw = AssetDefinition::builder("raw").compute(|_, _| async { Ok(vec![1_i64, -2]) });
    let staging = AssetDefinition::builder("staging")
        .input::<Vec<i64>>("raw")
        .compute(move |_, inputs| {
            let bad = bad.load(Ordering::SeqCst);
            async move {
                let raw: Vec<i64> = inputs.get("raw")?;
                Ok(raw
                    .into_iter()
                    .filter(|v| bad || *v > 0)
                    .collect::<Vec<i64>>())
            }
        });
    let warehouse = AssetDefinition::builder("warehouse")
        .input::<Vec<i64>>("staging")
        .compute(|_, inputs| async move { Ok(inputs.get::<Vec<i64>>("staging")?.len() as i64) });
    let warn_on_raw = AssetCheckDefinition::builder("raw_positive", "raw").compute(
        |_, v: Arc<Vec<i64>>| async move {
            Ok(AssetCheckResult::new(v.iter().all(|x| *x > 0))
                .severity(AssetCheckSeverity::Warn)
                .metadata("rows", v.len() as i64))
        },
    );
    let blocking = AssetCheckDefinition::builder("staging_positive", "staging")
        .blocking(true)
        .compute(|_, v: Arc<Vec<i64>>| async move {
            Ok(AssetCheckResult::new(v.iter().all(|x| *x > 0)))
        });
    Definitions::builder()
        .assets([raw, staging, warehouse])
        .asset_checks([warn_on_raw, blocking])
        .build()
        .expect("valid definitions")
}

fn check_results(events: &[RunEvent]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(RunEvent::check_evaluation)
        .map(|c| (c.check_name.clone(), c.passed))
        .collect()
}

#[tokio::test]
async fn checks_run_after_their_asset_and_a_blocking_failure_stops_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let bad = Arc::new(AtomicBool::new(false));
    let defs = checked(Arc::clone(&bad));
    let job = defs.job(ASSET_JOB_NAME).unwrap();
    let names: Vec<&str> = job.nodes().iter().map(|n| n.alias.as_str()).collect();
    assert_eq!(
        names,
        [
            "raw",
            "staging",
            "warehouse",
            "raw_raw_positive",
            "staging_staging_positive"
        ]
    );
    assert_eq!(
        job.node("warehouse").unwrap().after,
        ["staging_staging_positive"]
    );

    // The WARN check fails without failing the run; the blocking one passes.
    let (status, events) = run(&defs, ASSET_JOB_NAME, io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success);
    let mut results = check_results(&events);
    results.sort();
    assert_eq!(
        results,
        [
            ("raw_positive".into(), false),
            ("staging_positive".into(), true)
        ]
    );
    assert_eq!(materializations(&events).len(), 3);

    // Bad staging: the blocking check fails its step, and the warehouse is skipped.
    bad.store(true, Ordering::SeqCst);
    let (status, events) = run(&defs, ASSET_JOB_NAME, io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Failure);
    let skipped: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type == EventType::StepSkipped)
        .filter_map(|e| e.step_key.as_deref())
        .collect();
    assert_eq!(skipped, ["warehouse"]);
    let failure = events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    assert!(
        failure
            .message
            .contains("blocking check \"staging_positive\" of asset \"staging\" failed"),
        "{}",
        failure.message
    );

    // Selecting an asset runs its checks too; a check alone loads the asset's value.
    let steps = defs
        .asset_steps(&AssetSelection::parse("raw").unwrap())
        .unwrap();
    assert_eq!(steps, ["raw", "raw_raw_positive"]);

    let err = Definitions::builder()
        .asset(AssetDefinition::builder("a").compute(|_, _| async { Ok(1_i64) }))
        .asset_checks([
            sluice_core::asset::AssetCheckDefinition::builder("c", "ghost").compute(
                |_, _: Arc<i64>| async { Ok(sluice_core::asset::AssetCheckResult::new(true)) },
            ),
            sluice_core::asset::AssetCheckDefinition::builder("c", "a").compute(
                |_, _: Arc<i64>| async { Ok(sluice_core::asset::AssetCheckResult::new(true)) },
            ),
            sluice_core::asset::AssetCheckDefinition::builder("c", "a").compute(
                |_, _: Arc<i64>| async { Ok(sluice_core::asset::AssetCheckResult::new(true)) },
            ),
        ])
        .build()
        .unwrap_err();
    assert_mentions(
        &err.to_string(),
        &[
            "check \"c\" is of asset \"ghost\", which is not defined",
            "asset \"a\" has more than one check named \"c\"",
        ],
    );
}
