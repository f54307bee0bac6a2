//! `sluice-user-code` as a user runs it: each demo job, exit codes, invalid input, and
//! what ends up in instance storage (SQLite and Postgres).

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_core::events::EventType;
use sluice_core::run::{Run, RunStatus};
use sluice_e2e::{Instance, stderr};
use sluice_storage::RunsFilter;
use sluice_storage::prelude::*;

async fn only_run(instance: &Instance) -> Run {
    let runs = instance
        .storage()
        .await
        .list_runs(&RunsFilter::default(), None, None)
        .await
        .expect("list runs");
    assert_eq!(runs.len(), 1, "expected exactly one run, got {runs:?}");
    runs.into_iter().next().unwrap()
}

async fn event_types(instance: &Instance, run_id: &str) -> Vec<(Option<String>, EventType)> {
    instance
        .storage()
        .await
        .events_for_run(run_id, None, None)
        .await
        .expect("read events")
        .into_iter()
        .map(|r| (r.event.step_key, r.event.event_type))
        .collect()
}

/// Assert that step `step` has an event of type `t`.
fn assert_event(events: &[(Option<String>, EventType)], step: &str, t: EventType) {
    assert!(
        events
            .iter()
            .any(|(s, e)| s.as_deref() == Some(step) && *e == t),
        "no {t} for step {step} in {events:?}"
    );
}

fn count(events: &[(Option<String>, EventType)], t: EventType) -> usize {
    events.iter().filter(|(_, e)| *e == t).count()
}

/// Execute `job` with `args` on a fresh instance; check the exit code and stored status.
async fn execute(
    instance: &Instance,
    job: &str,
    args: &[&str],
    exit: i32,
    status: RunStatus,
) -> Run {
    let mut all = vec!["job", "execute", "-j", job];
    all.extend_from_slice(args);
    let out = instance.user_code(&all);
    assert_eq!(out.status.code(), Some(exit), "{job}: {}", stderr(&out));
    let run = only_run(instance).await;
    assert_eq!(run.status, status, "{job}");
    assert_eq!(run.location_name.as_deref(), Some("demo"));
    assert!(
        run.start_time.is_some() && run.end_time.is_some(),
        "{run:?}"
    );
    run
}

#[tokio::test]
async fn demo_jobs_run_to_their_expected_ends() {
    let i = Instance::sqlite();
    let run = execute(&i, "one_op_job", &[], 0, RunStatus::Success).await;
    let events = event_types(&i, &run.run_id).await;
    let lifecycle: Vec<EventType> = events
        .iter()
        .filter(|(s, _)| s.is_none())
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(
        lifecycle,
        [
            EventType::RunStarting,
            EventType::RunStart,
            EventType::RunSuccess
        ]
    );

    let i = Instance::sqlite();
    let run = execute(&i, "chain_100", &[], 0, RunStatus::Success).await;
    assert_eq!(
        count(&event_types(&i, &run.run_id).await, EventType::StepSuccess),
        100
    );

    let i = Instance::sqlite();
    let run = execute(&i, "fanout_500", &[], 0, RunStatus::Success).await;
    assert_eq!(
        count(&event_types(&i, &run.run_id).await, EventType::StepSuccess),
        501
    );

    let i = Instance::sqlite();
    let run = execute(&i, "flaky_job", &[], 0, RunStatus::Success).await;
    let events = event_types(&i, &run.run_id).await;
    assert_eq!(count(&events, EventType::StepUpForRetry), 2);
    assert_eq!(count(&events, EventType::StepRestarted), 2);

    let i = Instance::sqlite();
    let run = execute(
        &i,
        "sleepy_job",
        &["-c", "ops: {sleeper: {config: {seconds: 0.05}}}"],
        0,
        RunStatus::Success,
    )
    .await;
    assert_eq!(
        run.run_config,
        json!({"ops": {"sleeper": {"config": {"seconds": 0.05}}}})
    );

    let i = Instance::sqlite();
    let run = execute(&i, "failing_job", &[], 1, RunStatus::Failure).await;
    let events = event_types(&i, &run.run_id).await;
    assert_event(&events, "boom", EventType::StepFailure);
    assert_event(&events, "after", EventType::StepSkipped);
    assert_eq!(events.last().map(|e| e.1), Some(EventType::RunFailure));
}

#[tokio::test]
async fn invalid_config_is_refused_with_every_error_and_nothing_is_stored() {
    let i = Instance::sqlite();
    let out = i.user_code(&["job", "execute", "-j", "config_job"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("root:ops:use_config:config (MISSING_REQUIRED_FIELD)"),
        "{err}"
    );

    let out = i.user_code(&[
        "job",
        "execute",
        "-j",
        "config_job",
        "-c",
        r#"{"ops": {"use_config": {"config": {"n": "seven", "colour": "red"}}}, "resources": {"db": {}}}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "root:ops:use_config:config:n (RUNTIME_TYPE_MISMATCH)",
        "root:ops:use_config:config:colour (FIELD_NOT_DEFINED)",
        "root:resources:db (FIELD_NOT_DEFINED)",
        "(3 errors)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }

    let out = i.user_code(&["job", "execute", "-j", "config_job", "-c", "ops: [unclosed"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("invalid run config: inline config, line 2, column 1: did not find expected"),
        "{}",
        stderr(&out)
    );

    let storage = i.storage().await;
    assert_eq!(storage.count_runs(&RunsFilter::default()).await.unwrap(), 0);
}

#[tokio::test]
async fn job_execute_refuses_a_tag_that_sluice_sets_itself() {
    let i = Instance::sqlite();
    let out = i.user_code(&[
        "job",
        "execute",
        "-j",
        "one_op_job",
        "--tag",
        "team=data",
        "--tag",
        "dagster/run_key=mine",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("tag \"dagster/run_key\" is set by Sluice"),
        "{}",
        stderr(&out)
    );
    let storage = i.storage().await;
    assert_eq!(storage.count_runs(&RunsFilter::default()).await.unwrap(), 0);
}

#[tokio::test]
async fn unknown_job_location_and_bad_tags_are_input_errors() {
    let i = Instance::sqlite();
    let out = i.user_code(&["job", "execute", "-j", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("job \"nope\" not found in code location \"demo\""),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("one_op_job"));

    let out = i.user_code(&["--location", "elsewhere", "job", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("this binary has: demo"),
        "{}",
        stderr(&out)
    );

    let out = i.user_code(&[
        "job",
        "execute",
        "-j",
        "one_op_job",
        "--tag",
        "no-equals-sign",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected KEY=VALUE"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn config_files_merge_and_tags_are_stored() {
    let i = Instance::sqlite();
    let file = i.home.path().join("run.yaml");
    std::fs::write(&file, "ops:\n  use_config:\n    config:\n      n: 41\n").unwrap();
    let out = i.user_code(&[
        "job",
        "execute",
        "-j",
        "config_job",
        "-c",
        file.to_str().unwrap(),
        "-c",
        r#"{"ops": {"use_config": {"config": {"label": "from json"}}}}"#,
        "--tag",
        "team=billing",
        "--tag",
        "dagster/priority=5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("LOG - label: from json"),
        "{}",
        stderr(&out)
    );
    let run = only_run(&i).await;
    assert_eq!(
        run.run_config,
        json!({"ops": {"use_config": {"config": {"n": 41, "label": "from json"}}}})
    );
    let filter = RunsFilter {
        tags: [("team".to_owned(), "billing".to_owned())].into(),
        ..RunsFilter::default()
    };
    let found = i
        .storage()
        .await
        .list_runs(&filter, None, None)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].tags["dagster/priority"], "5");
}

#[tokio::test]
async fn ctrl_c_cancels_the_run_and_keeps_its_events() {
    let i = Instance::sqlite();
    let child = i
        .command("sluice-user-code")
        .args([
            "job",
            "execute",
            "-j",
            "sleepy_job",
            "-c",
            "ops: {sleeper: {config: {seconds: 30}}}",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the step is running, as stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let storage = i.storage().await;
        let runs = storage
            .list_runs(&RunsFilter::default(), None, None)
            .await
            .unwrap();
        if let Some(run) = runs.first() {
            let events = event_types(&i, &run.run_id).await;
            if events.iter().any(|(_, t)| *t == EventType::StepStart) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let interrupted = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("send SIGINT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(interrupted.elapsed() < Duration::from_secs(5));
    let run = only_run(&i).await;
    assert_eq!(run.status, RunStatus::Canceled);
    let events = event_types(&i, &run.run_id).await;
    assert_event(&events, "sleeper", EventType::StepFailure);
    assert_eq!(events.last().map(|e| e.1), Some(EventType::RunCanceled));
}

#[tokio::test]
async fn job_execute_stores_runs_in_postgres() {
    let i = Instance::postgres().await;
    let out = i.user_code(&["job", "execute", "-j", "one_op_job"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = i.user_code(&["job", "execute", "-j", "failing_job"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let storage = i.storage().await;
    let runs = storage
        .list_runs(&RunsFilter::default(), None, None)
        .await
        .unwrap();
    let statuses: Vec<(&str, RunStatus)> = runs
        .iter()
        .map(|r| (r.job_name.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("failing_job", RunStatus::Failure),
            ("one_op_job", RunStatus::Success)
        ]
    );
    let events = event_types(&i, &runs[0].run_id).await;
    assert_event(&events, "after", EventType::StepSkipped);
}

#[tokio::test]
async fn definitions_validate_and_job_list() {
    let i = Instance::sqlite();
    let out = i.user_code(&["definitions", "validate"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("\"demo\" is valid: 7 assets, 11 jobs, 0 resources, 1 schedules, 2 sensors")
    );
    let out = i.user_code(&["job", "list"]);
    let jobs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        jobs,
        [
            "__ASSET_JOB",
            "chain_100",
            "config_job",
            "daily_orders_job",
            "failing_job",
            "fanout_500",
            "flaky_job",
            "gated_job",
            "one_op_job",
            "refresh_staging",
            "sleepy_job"
        ]
    );
}

#[tokio::test]
async fn asset_materialize_stores_values_and_indexes_materializations() {
    let i = Instance::sqlite();
    // Staging alone cannot load raw orders that were never materialized.
    let out = i.user_code(&["asset", "materialize", "--select", "staging/orders"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("asset \"raw/orders\" is not stored (it was never materialized)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = i.user_code(&[
        "asset",
        "materialize",
        "--select",
        "*warehouse/daily_revenue",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Now staging alone loads raw orders from storage.
    let out = i.user_code(&["asset", "materialize", "--select", "group:staging"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let storage = i.storage().await;
    let key = |k: &str| sluice_core::asset::AssetKey::parse(k).unwrap();
    let latest = storage
        .latest_materialization(&key("warehouse/daily_revenue"))
        .await
        .unwrap()
        .expect("materialized");
    let m = latest.event.materialization().unwrap();
    assert_eq!(
        m.metadata["revenue_cents"],
        sluice_core::metadata::MetadataValue::Int(6240)
    );
    // The checks ran with their assets: the WARN one on raw orders found the refund.
    for (asset, check, passed) in [
        ("raw/orders", "amounts_positive", false),
        ("staging/orders", "no_negative_amounts", true),
    ] {
        let found = storage
            .asset_check_evaluations(&key(asset), Some(check), 1)
            .await
            .unwrap();
        assert_eq!(
            found[0].event.check_evaluation().unwrap().passed,
            passed,
            "{check}"
        );
    }
    let history = storage
        .asset_materializations(&key("staging/orders"), &Default::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 2);

    for (select, message) in [
        (
            "ghost",
            "the selection names asset \"ghost\", which is not defined",
        ),
        ("raw/ord ers", "selection \"raw/ord ers\""),
    ] {
        let out = i.user_code(&["asset", "materialize", "--select", select]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

#[tokio::test]
async fn asset_materialize_takes_a_partition_that_exists() {
    let i = Instance::sqlite();
    let materialize = |select: &str, partition: Option<&str>| {
        let mut args = vec!["asset", "materialize", "--select", select];
        args.extend(partition.map(|p| ["--partition", p]).into_iter().flatten());
        i.user_code(&args)
    };
    for day in ["2026-01-05", "2026-01-06"] {
        let out = materialize("raw/daily_orders", Some(day));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let storage = i.storage().await;
    let key = sluice_core::asset::AssetKey::parse("raw/daily_orders").unwrap();
    let latest = storage
        .latest_materializations_by_partition(&key)
        .await
        .unwrap();
    assert_eq!(
        latest.keys().collect::<Vec<_>>(),
        ["2026-01-05", "2026-01-06"]
    );

    for (select, partition, message) in [
        (
            "raw/daily_orders",
            Some("2025-12-31"),
            "job \"__ASSET_JOB\": partition \"2025-12-31\" does not exist in Daily, starting 2026-01-01 UTC.",
        ),
        (
            "raw/daily_orders",
            None,
            "the run has no partition (tag dagster/partition), but the asset is partitioned",
        ),
        (
            "spatial/datasets",
            Some("parcels"),
            "partition \"parcels\" does not exist in Dynamic partitions: \"datasets\"",
        ),
        (
            "raw/daily_orders or spatial/datasets",
            Some("2026-01-05"),
            "the assets of one run must share a partitioning, not Daily, starting 2026-01-01 UTC.; Dynamic partitions: \"datasets\"",
        ),
    ] {
        let out = materialize(select, partition);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    // Nothing was stored for the refused runs.
    assert_eq!(
        storage
            .list_runs(&Default::default(), None, None)
            .await
            .unwrap()
            .len(),
        2
    );
}
