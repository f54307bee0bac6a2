//! Software-defined assets: definitions, asset jobs, and materializing through the
//! executor and the filesystem IO manager.

#![allow(clippy::unwrap_used)]

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
use sluice_core::partition::PartitionsContext;
use sluice_core::plan::ExecutionPlan;
use sluice_core::prelude::*;
use sluice_core::run::{
    PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, PARTITION_TAG, RunStatus,
};
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
            partitions: Some(partitions_context()),
            keep_every_output: false,
        },
    )
    .await;
    (status, sink.events())
}

/// An ad hoc materialization of `selection`: a run of the implicit asset job that
/// executes only the selected assets' steps.
async fn materialize(
    defs: &Definitions,
    selection: &str,
    io: Arc<dyn IoManager>,
) -> (RunStatus, Vec<RunEvent>) {
    let steps = defs
        .asset_steps(&AssetSelection::parse(selection).unwrap())
        .unwrap();
    let reexecution = Reexecution {
        step_keys: steps.into_iter().collect(),
        source_runs: Vec::new(),
    };
    run(defs, ASSET_JOB_NAME, io, &[], Some(reexecution)).await
}

/// The time runs of these tests happen at, and the dynamic partitions that exist then.
fn partitions_context() -> PartitionsContext {
    PartitionsContext::at("2024-06-01T00:00:00Z".parse().unwrap())
        .with_dynamic("datasets", vec!["parcels".into(), "roads".into()])
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
    let (status, events) = materialize(&defs, "staging/orders", io.clone()).await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(materializations(&events), [("staging/orders".into(), None)]);
}

#[tokio::test]
async fn a_partitioned_run_materializes_its_partition() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let daily = AssetDefinition::builder("events/daily")
        .partitions(PartitionsDefinition::daily("2024-01-01").timezone("Europe/Berlin"))
        .compute(|ctx, _| async move {
            let window = ctx.partition_time_window().expect("a time window");
            Ok(format!(
                "{} {}",
                ctx.partition_key().unwrap_or("none"),
                window.start.to_rfc3339()
            ))
        });
    // An unpartitioned asset in the same run is materialized whole.
    let config = AssetDefinition::builder("events/config")
        .compute(|ctx, _| async move { Ok(ctx.partition_key().is_none()) });
    let defs = Definitions::builder()
        .assets([daily, config])
        .build()
        .unwrap();
    assert_eq!(
        defs.job(ASSET_JOB_NAME)
            .unwrap()
            .partitions()
            .map(ToString::to_string)
            .as_deref(),
        Some("Daily, starting 2024-01-01 Europe/Berlin."),
        "the one partitioning of the location's assets"
    );
    let (status, events) = run(
        &defs,
        ASSET_JOB_NAME,
        io,
        &[(PARTITION_TAG, "2024-03-10")],
        None,
    )
    .await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    let mut found = materializations(&events);
    found.sort();
    assert_eq!(
        found,
        [
            ("events/config".into(), None),
            ("events/daily".into(), Some("2024-03-10".into()))
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("events/daily/2024-03-10")).unwrap(),
        "\"2024-03-10 2024-03-10T00:00:00+01:00\""
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("events/config")).unwrap(),
        "true"
    );
}

/// Daily events, the day before's total (previous-window mapping), a weekly roll-up of
/// seven days (an input of partitions), and a per-dataset asset on dynamic partitions.
fn partitioned() -> Definitions {
    let daily = || PartitionsDefinition::daily("2024-01-01");
    let events = AssetDefinition::builder("events")
        .partitions(daily())
        .compute(|ctx, _| async move {
            let day: i64 = ctx.partition_key().unwrap()[8..].parse().unwrap();
            Ok(day)
        });
    let doubled = AssetDefinition::builder("doubled")
        .partitions(daily())
        .input::<i64>("events")
        .compute(|_, inputs| async move { Ok(inputs.get::<i64>("events")? * 2) });
    let yesterday = AssetDefinition::builder("yesterday")
        .partitions(daily())
        .input::<i64>("events")
        .partition_mapping("events", PartitionMapping::time_window(-1, -1))
        .compute(|_, inputs| async move { inputs.get::<i64>("events") });
    let weekly = AssetDefinition::builder("weekly")
        .partitions(PartitionsDefinition::weekly("2024-01-01"))
        .input_partitions::<i64>("days", "events")
        .compute(|ctx, inputs| async move {
            let days = inputs.get_ref::<PartitionValues<i64>>("days")?;
            ctx.add_output_metadata("days", days.len() as i64);
            Ok(days.values().map(|v| **v).sum::<i64>())
        });
    let weekly_single = AssetDefinition::builder("weekly_single")
        .partitions(PartitionsDefinition::weekly("2024-01-01"))
        .input::<i64>("events")
        .compute(|_, inputs| async move { inputs.get::<i64>("events") });
    let per_dataset = AssetDefinition::builder("per_dataset")
        .partitions(PartitionsDefinition::dynamic("datasets"))
        .compute(|ctx, _| async move { Ok(ctx.partition_key().unwrap().len() as i64) });
    Definitions::builder()
        .assets([
            events,
            doubled,
            yesterday,
            weekly,
            weekly_single,
            per_dataset,
        ])
        .asset_job(define_asset_job(
            "daily_job",
            AssetSelection::keys([key("events"), key("doubled")]),
        ))
        .build()
        .expect("valid definitions")
}

#[tokio::test]
async fn partition_mappings_choose_what_each_partition_reads() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let defs = partitioned();
    let daily_job = defs.job("daily_job").unwrap();
    assert_eq!(
        daily_job.partitions(),
        Some(&PartitionsDefinition::daily("2024-01-01").into())
    );
    // Same partitioning, identity: the value passes in memory.
    assert_eq!(
        daily_job.node("doubled").unwrap().inputs[0].1.node,
        "events"
    );
    let materialize = |day: &str| {
        let (defs, io, day) = (defs.clone(), Arc::clone(&io), day.to_owned());
        async move { run(&defs, "daily_job", io, &[(PARTITION_TAG, &day)], None).await }
    };
    for day in 6..=14 {
        let (status, events) = materialize(&format!("2024-01-{day:02}")).await;
        assert_eq!(status, RunStatus::Success, "{events:#?}");
    }
    let read = |path: &str| std::fs::read_to_string(dir.path().join(path)).unwrap();
    assert_eq!(read("doubled/2024-01-09"), "18");

    // One asset's step of __ASSET_JOB, for one partition.
    let step = |asset: &str, partition: &str| {
        let (defs, io) = (defs.clone(), Arc::clone(&io));
        let only = Reexecution {
            step_keys: [asset.to_owned()].into(),
            source_runs: Vec::new(),
        };
        let partition = partition.to_owned();
        async move {
            run(
                &defs,
                ASSET_JOB_NAME,
                io,
                &[(PARTITION_TAG, &partition)],
                Some(only),
            )
            .await
        }
    };
    let failure_of = |events: &[RunEvent]| {
        events
            .iter()
            .find(|e| e.event_type == EventType::StepFailure)
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    // The previous day.
    let (status, events) = step("yesterday", "2024-01-10").await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(read("yesterday/2024-01-10"), "9");
    assert!(events.iter().any(|e| e.message
        == "Loaded input \"events\" using input manager \"io_manager\", from partition \"2024-01-09\" of asset \"events\"."));

    // The week starting Sunday 2024-01-07 reads its seven days.
    let (status, events) = step("weekly", "2024-01-07").await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(read("weekly/2024-01-07"), (7..=13).sum::<i64>().to_string());

    // A week whose days were not all materialized fails, naming the missing day.
    let (status, events) = step("weekly", "2024-01-14").await;
    assert_eq!(status, RunStatus::Failure);
    assert_mentions(
        &failure_of(&events),
        &["partition \"2024-01-15\" of asset \"events\" is not stored"],
    );

    // One value cannot hold seven days.
    let (status, events) = step("weekly_single", "2024-01-07").await;
    assert_eq!(status, RunStatus::Failure);
    assert_mentions(
        &failure_of(&events),
        &[
            "takes one partition of asset \"events\"",
            "names 7 (2024-01-07, 2024-01-08",
            "declare it with input_partitions",
        ],
    );

    // Dynamic partitions.
    let (status, events) = step("per_dataset", "parcels").await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(read("per_dataset/parcels"), "7");

    // A partitioned asset in a run without a partition fails before it computes.
    let (status, events) = run(
        &defs,
        ASSET_JOB_NAME,
        Arc::clone(&io),
        &[],
        Some(Reexecution {
            step_keys: ["per_dataset".to_owned()].into(),
            source_runs: Vec::new(),
        }),
    )
    .await;
    assert_eq!(status, RunStatus::Failure);
    assert_mentions(
        &failure_of(&events),
        &[
            "the run has no partition (tag dagster/partition), but the asset is partitioned: Dynamic partitions: \"datasets\"",
        ],
    );
}

/// The first failure message among `events`: a step's, else the run's.
fn failure_of(events: &[RunEvent]) -> String {
    let of = |t: EventType| events.iter().find(|e| e.event_type == t);
    of(EventType::StepFailure)
        .or_else(|| of(EventType::RunFailure))
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_range_run_materializes_every_partition_of_its_range_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let daily = || PartitionsDefinition::daily("2024-01-01");
    type Seen = (Vec<String>, Option<String>, String, String);
    let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
    let recorded = Arc::clone(&seen);
    let load = AssetDefinition::builder("load")
        .partitions(daily())
        .backfill_policy(BackfillPolicy::single_run())
        .compute(move |ctx, _| {
            let window = ctx.partition_time_window().expect("a time window");
            recorded.lock().unwrap().push((
                ctx.partition_keys().to_vec(),
                ctx.partition_key().map(str::to_owned),
                window.start.to_rfc3339(),
                window.end.to_rfc3339(),
            ));
            async { Ok(()) }
        });
    // Reads each day of its range through the IO manager.
    let rollup = AssetDefinition::builder("rollup")
        .partitions(daily())
        .backfill_policy(BackfillPolicy::single_run())
        .input_partitions::<()>("days", "load")
        .compute(|ctx, inputs| async move {
            let days = inputs.get_ref::<PartitionValues<()>>("days")?;
            ctx.add_output_metadata("days", days.len() as i64);
            Ok(())
        });
    let valued = AssetDefinition::builder("valued")
        .partitions(daily())
        .compute(|_, _| async { Ok(1_i64) });
    // Partitioned otherwise, and first in the location: a range run of the asset job
    // takes the partitioning of the assets it executes, not this one's.
    let monthly = AssetDefinition::builder("a_monthly")
        .partitions(PartitionsDefinition::monthly("2024-01-01"))
        .compute(|_, _| async { Ok(()) });
    let defs = Definitions::builder()
        .assets([monthly, load, rollup, valued])
        .asset_job(define_asset_job(
            "loads",
            AssetSelection::keys([key("load"), key("rollup")]),
        ))
        .build()
        .unwrap();
    let range = [
        (PARTITION_RANGE_START_TAG, "2024-01-03"),
        (PARTITION_RANGE_END_TAG, "2024-01-05"),
    ];
    let (status, events) = run(&defs, "loads", Arc::clone(&io), &range, None).await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    let days = ["2024-01-03", "2024-01-04", "2024-01-05"];
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            days.map(String::from).to_vec(),
            None,
            "2024-01-03T00:00:00+00:00".to_owned(),
            "2024-01-06T00:00:00+00:00".to_owned()
        )],
        "one step, seeing the whole range"
    );
    let expected: Vec<(String, Option<String>)> = ["load", "rollup"]
        .iter()
        .flat_map(|a| days.map(|d| (a.to_string(), Some(d.to_owned()))))
        .collect();
    assert_eq!(materializations(&events), expected);
    let rollup_days = events
        .iter()
        .filter_map(RunEvent::materialization)
        .filter(|m| m.asset_key == key("rollup"))
        .map(|m| m.metadata.get("days").cloned())
        .collect::<Vec<_>>();
    assert_eq!(rollup_days, vec![Some(MetadataValue::Int(3)); 3]);
    for day in days {
        assert!(dir.path().join("load").join(day).exists(), "load/{day}");
    }

    // An asset whose value is not () cannot be stored per partition of a range.
    let only_valued = Reexecution {
        step_keys: ["valued".to_owned()].into(),
        source_runs: Vec::new(),
    };
    let (status, events) = run(
        &defs,
        ASSET_JOB_NAME,
        Arc::clone(&io),
        &range,
        Some(only_valued),
    )
    .await;
    assert_eq!(status, RunStatus::Failure);
    assert_mentions(
        &failure_of(&events),
        &[
            "asset \"valued\" cannot materialize 3 partitions (\"2024-01-03\" to \"2024-01-05\") in one run",
            "output \"result\" is a i64",
            "returns ()",
        ],
    );

    let only_load = Reexecution {
        step_keys: ["load".to_owned()].into(),
        source_runs: Vec::new(),
    };
    let (status, events) = run(
        &defs,
        ASSET_JOB_NAME,
        Arc::clone(&io),
        &range,
        Some(only_load),
    )
    .await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(materializations(&events).len(), 3);

    // Bad tags fail the run before any step, naming what is wrong.
    let (status, events) = run(
        &defs,
        "loads",
        Arc::clone(&io),
        &[range[0], (PARTITION_TAG, "2024-01-03")],
        None,
    )
    .await;
    assert_eq!(status, RunStatus::Failure);
    assert_mentions(
        &failure_of(&events),
        &["not tags dagster/partition, dagster/asset_partition_range_start"],
    );
    let (status, events) = run(
        &defs,
        "loads",
        Arc::clone(&io),
        &[
            (PARTITION_RANGE_START_TAG, "2024-01-05"),
            (PARTITION_RANGE_END_TAG, "2024-01-03"),
        ],
        None,
    )
    .await;
    assert_eq!(status, RunStatus::Failure);
    assert_mentions(
        &failure_of(&events),
        &["partition range starts at \"2024-01-05\", after its end \"2024-01-03\""],
    );
    assert!(!events.iter().any(|e| e.event_type == EventType::StepStart));
}

#[test]
fn partitioning_problems_name_the_assets() {
    let daily = AssetDefinition::builder("daily")
        .partitions(PartitionsDefinition::daily("2024-01-01"))
        .compute(|_, _| async { Ok(1_i64) });
    let hourly = AssetDefinition::builder("hourly")
        .partitions(PartitionsDefinition::hourly("2024-01-01-00:00"))
        .compute(|_, _| async { Ok(1_i64) });
    let total = AssetDefinition::builder("total")
        .input::<i64>("daily")
        .partition_mapping("hourly", PartitionMapping::LastPartition)
        .compute(|_, _| async { Ok(1_i64) });
    let bad = AssetDefinition::builder("bad")
        .partitions(PartitionsDefinition::daily("2024-01-01").timezone("Nowhere/Land"))
        .input_partitions::<i64>("parts", "unpartitioned")
        .compute(|_, _| async { Ok(1_i64) });
    let unpartitioned =
        AssetDefinition::builder("unpartitioned").compute(|_, _| async { Ok(1_i64) });
    let err = Definitions::builder()
        .assets([daily, hourly, total, bad, unpartitioned])
        .asset_job(define_asset_job(
            "mixed",
            AssetSelection::keys([key("daily"), key("hourly")]),
        ))
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert_mentions(
        &text,
        &[
            "asset \"bad\": time-window partitions \"Daily, starting 2024-01-01 Nowhere/Land.\": unknown timezone \"Nowhere/Land\"",
            "asset \"total\": its partition mapping from \"hourly\" cannot apply: it is not an upstream asset",
            "asset \"total\": its partition mapping from \"daily\" cannot apply: input \"daily\" takes one value, but an unpartitioned asset reads every partition; declare it with input_partitions",
            "asset \"bad\": its partition mapping from \"unpartitioned\" cannot apply: input \"parts\" reads partitions, but the upstream asset is not partitioned",
            "asset job \"mixed\" mixes 2 partitionings (Daily, starting 2024-01-01 UTC.; Hourly, starting 2024-01-01-00:00 UTC.)",
        ],
    );
    assert_eq!(err.problems.len(), 5, "{text}");
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

/// An API sync that writes accounts and transactions in one computation, a report of
/// the transactions downstream, and a check of the accounts.
fn sync_pipeline(calls: Arc<std::sync::atomic::AtomicUsize>) -> Definitions {
    let sync = multi_asset("gocardless_sync")
        .group("gocardless")
        .output::<Vec<String>>("accounts", "source/gocardless/accounts")
        .output::<Vec<i64>>("transactions", "source/gocardless/transactions")
        .compute(move |ctx, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                ctx.add_output_metadata("synced_by", "test");
                Ok(Outputs::new()
                    .with("accounts", vec!["acc-1".to_owned(), "acc-2".to_owned()])
                    .with("transactions", vec![1200_i64, 800]))
            }
        });
    let report = AssetDefinition::builder("reports/spend")
        .input_named::<Vec<i64>>("transactions", "source/gocardless/transactions")
        .compute(|_, inputs| async move {
            let amounts: Vec<i64> = inputs.get("transactions")?;
            Ok(amounts.iter().sum::<i64>())
        });
    let check = sluice_core::asset::AssetCheckDefinition::builder(
        "two_accounts",
        "source/gocardless/accounts",
    )
    .compute(|_, accounts: Arc<Vec<String>>| async move {
        Ok(sluice_core::asset::AssetCheckResult::new(
            accounts.len() == 2,
        ))
    });
    Definitions::builder()
        .assets(sync)
        .asset(report)
        .asset_check(check)
        .asset_job(define_asset_job(
            "report_only",
            AssetSelection::parse("reports/spend").unwrap(),
        ))
        .build()
        .expect("valid definitions")
}

#[tokio::test]
async fn a_multi_asset_materializes_each_of_its_assets_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let defs = sync_pipeline(Arc::clone(&calls));
    let job = defs.job(ASSET_JOB_NAME).unwrap();
    let names: Vec<&str> = job.nodes().iter().map(|n| n.alias.as_str()).collect();
    assert_eq!(
        names,
        [
            "gocardless_sync",
            "reports__spend",
            "source__gocardless__accounts_two_accounts"
        ],
        "one node for both assets of the multi-asset"
    );

    let (status, events) = run(&defs, ASSET_JOB_NAME, io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        materializations(&events),
        [
            ("source/gocardless/accounts".into(), None),
            ("source/gocardless/transactions".into(), None),
            ("reports/spend".into(), None),
        ]
    );
    let accounts = events
        .iter()
        .filter_map(RunEvent::materialization)
        .find(|m| m.asset_key == key("source/gocardless/accounts"))
        .unwrap();
    assert_eq!(accounts.metadata["synced_by"], MetadataValue::from("test"));
    assert!(matches!(accounts.metadata["path"], MetadataValue::Path(_)));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("source/gocardless/transactions")).unwrap(),
        "[1200,800]"
    );
    let evaluation = events
        .iter()
        .find_map(|e| e.check_evaluation())
        .expect("the check ran on the multi-asset's output");
    assert!(evaluation.passed);

    // Selecting one asset of the multi-asset runs its step once, materializing both.
    let steps = defs
        .asset_steps(&AssetSelection::parse("source/gocardless/transactions").unwrap())
        .unwrap();
    assert_eq!(steps, ["gocardless_sync"]);
    // The report alone loads the transactions stored by key.
    let (status, events) = run(&defs, "report_only", io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(materializations(&events), [("reports/spend".into(), None)]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("reports/spend")).unwrap(),
        "2000"
    );
}

#[tokio::test]
async fn an_observable_source_asset_records_its_data_version_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn IoManager> = Arc::new(FsIoManager::new(dir.path()));
    let rates = AssetDefinition::source("raw/exchange_rates")
        .description("Rates a partner drops into a bucket every morning")
        .observe(|ctx| async move {
            ctx.add_output_metadata("files", 3_i64);
            Ok(sluice_core::asset::DataVersion::new("2026-01-05T06:00"))
        });
    assert!(rates.is_source() && rates.is_observable());
    let converted = AssetDefinition::builder("staging/converted")
        .input_named::<f64>("rate", "raw/exchange_rates")
        .compute(|_, inputs| async move {
            let rate: f64 = inputs.get("rate")?;
            Ok(rate * 100.0)
        });
    let defs = Definitions::builder()
        .asset(rates)
        .asset(converted)
        .asset_job(define_asset_job(
            "observe_rates",
            AssetSelection::parse("raw/exchange_rates").unwrap(),
        ))
        .build()
        .expect("valid definitions");
    let snapshot = defs.snapshot("demo");
    let source = snapshot
        .assets
        .iter()
        .find(|a| a.key == key("raw/exchange_rates"))
        .unwrap();
    assert!(source.is_source && source.is_observable);

    let (status, events) = run(&defs, "observe_rates", io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    let observation = events
        .iter()
        .find_map(RunEvent::observation)
        .expect("an ASSET_OBSERVATION");
    assert_eq!(observation.asset_key, key("raw/exchange_rates"));
    assert_eq!(
        observation.data_version.as_deref(),
        Some("2026-01-05T06:00")
    );
    assert_eq!(observation.metadata["files"], MetadataValue::Int(3));
    assert!(materializations(&events).is_empty());
    assert!(
        !dir.path().join("raw/exchange_rates").exists(),
        "an observation stores no value"
    );

    // The downstream asset loads the source's value from storage, never from the
    // observation's output: here nothing was stored, and it says so.
    let (status, events) = materialize(&defs, "staging/converted", io.clone()).await;
    assert_eq!(status, RunStatus::Failure);
    let failure = events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    assert_mentions(
        &failure.message,
        &["asset \"raw/exchange_rates\" is not stored"],
    );
    std::fs::create_dir_all(dir.path().join("raw")).unwrap();
    std::fs::write(dir.path().join("raw/exchange_rates"), "1.5").unwrap();
    let (status, events) = run(&defs, ASSET_JOB_NAME, io.clone(), &[], None).await;
    assert_eq!(status, RunStatus::Success, "{events:#?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("staging/converted")).unwrap(),
        "150.0"
    );
}

#[test]
fn a_multi_asset_without_assets_or_with_an_output_twice_is_a_problem() {
    let empty = multi_asset("nothing").compute(|_, _| async { Ok(Outputs::new()) });
    let twice = multi_asset("twice")
        .output::<i64>("n", "a")
        .output::<i64>("n", "b")
        .compute(|_, _| async { Ok(Outputs::new()) });
    let problems = Definitions::builder()
        .assets(empty)
        .assets(twice)
        .build()
        .unwrap_err()
        .problems;
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "multi-asset \"nothing\": it declares no asset; add each with .output::<T>(name, key)",
            "multi-asset \"twice\": output \"n\" is declared twice",
        ]
    );
}
