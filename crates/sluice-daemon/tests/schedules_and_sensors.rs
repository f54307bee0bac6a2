//! The scheduler and the sensor daemon against real storage and a real code server (in
//! this process, over HTTP), driven by a set clock: hours and daylight saving changes
//! pass in milliseconds.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sluice_codeserver::{CodeServer, WorkerCommand, WorkerLauncher, Workspace};
use sluice_core::events::{
    AssetMaterialization, EventData, EventType, RunEvent, datetime_to_timestamp,
};
use sluice_core::prelude::*;
use sluice_core::run::{NewRun, Run, SCHEDULE_NAME_TAG, SENSOR_NAME_TAG, TICK_TAG};
use sluice_daemon::{Scheduler, SchedulesConfig, SensorDaemon, SensorsConfig};
use sluice_storage::{
    DynamicPartitionsAction, DynamicPartitionsResult, InstigatedRun, InstigatorKey,
    InstigatorStatus, InstigatorType, NewTick, RunsFilter, Storage, StorageConfig, Tick,
    TickResult, TickStatus, TicksFilter, Wakeup,
};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Report {
    day: String,
}

fn job(name: &str) -> JobDefinition {
    let op = OpDefinition::builder("report")
        .config::<Report>()
        .compute(|_, _| async { Ok(()) });
    let mut job = JobDefinition::builder(name).tag("team", "billing");
    job.add(&op);
    job.build()
}

fn report_config(day: &str) -> serde_json::Value {
    json!({"ops": {"report": {"config": {"day": day}}}})
}

/// A running instance: storage, and a code server for `defs` in a workspace.
struct Instance {
    _home: tempfile::TempDir,
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    queue: Wakeup,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Instance {
    async fn start(defs: Definitions) -> Self {
        let home = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = sluice_storage::open(&StorageConfig::Sqlite {
            path: home.path().join("sluice.db"),
        })
        .await
        .unwrap();
        // Runs are only queued here; nothing launches them.
        let launcher = WorkerLauncher::Exec(WorkerCommand {
            program: "/bin/false".into(),
            args: vec![],
        });
        let server = CodeServer::new("demo", &defs, Arc::clone(&storage), launcher);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(sluice_codeserver::server::serve(
            listener,
            server,
            shutdown.clone(),
        ));
        let workspace = Workspace::connect(vec![("demo".into(), url)]).await;
        let queue = Wakeup::run_queue(home.path());
        Self {
            _home: home,
            storage,
            workspace,
            queue,
            shutdown,
        }
    }

    fn scheduler(&self, max_catchup_runs: usize) -> Scheduler {
        Scheduler::new(
            Arc::clone(&self.storage),
            self.workspace.clone(),
            SchedulesConfig {
                max_catchup_runs,
                ..SchedulesConfig::default()
            },
            self.queue.clone(),
        )
    }

    fn sensors(&self) -> SensorDaemon {
        SensorDaemon::new(
            Arc::clone(&self.storage),
            self.workspace.clone(),
            SensorsConfig {
                evaluation_timeout_seconds: 0.5,
                ..SensorsConfig::default()
            },
            self.queue.clone(),
        )
    }

    async fn runs(&self) -> Vec<Run> {
        let mut runs = self
            .storage
            .list_runs(&RunsFilter::default(), None, None)
            .await
            .unwrap();
        runs.reverse();
        runs
    }

    async fn ticks(&self, name: &str) -> Vec<Tick> {
        let selector = InstigatorKey::new("demo", name, InstigatorType::Sensor).selector_id();
        self.storage
            .ticks(Some(&selector), &TicksFilter::default())
            .await
            .unwrap()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn schedule_defs(cron: &str, timezone: &str) -> Definitions {
    Definitions::builder()
        .job(job("report_job"))
        .schedule(
            ScheduleDefinition::builder("nightly", "report_job", cron)
                .execution_timezone(timezone)
                .default_status(DefaultScheduleStatus::Running)
                .run_config_fn(|ctx| {
                    report_config(
                        &ctx.scheduled_execution_time()
                            .format("%Y-%m-%d %H:%M %Z")
                            .to_string(),
                    )
                })
                .build(),
        )
        .build()
        .unwrap()
}

/// Run a scheduler pass every 20 minutes from `from` to `to`; the local times of the
/// runs queued.
async fn passes_every_20_minutes(
    instance: &Instance,
    scheduler: &Scheduler,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<String> {
    let mut now = from;
    while now <= to {
        scheduler.pass(now).await.unwrap();
        now += chrono::Duration::minutes(20);
    }
    instance
        .runs()
        .await
        .iter()
        .map(|r| {
            r.run_config["ops"]["report"]["config"]["day"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_skipped_time_runs_once_and_a_repeated_time_runs_once() {
    // 02:30 does not exist in New York on 2025-03-09; it runs once, at 03:00 EDT.
    let instance = Instance::start(schedule_defs("30 2 * * *", "America/New_York")).await;
    let scheduler = instance.scheduler(1);
    let days = passes_every_20_minutes(
        &instance,
        &scheduler,
        utc("2025-03-08T00:00:00Z"),
        utc("2025-03-10T12:00:00Z"),
    )
    .await;
    assert_eq!(
        days,
        [
            "2025-03-08 02:30 EST",
            "2025-03-09 03:00 EDT",
            "2025-03-10 02:30 EDT"
        ]
    );
    // 01:30 happens twice on 2025-11-02; it runs once.
    let instance = Instance::start(schedule_defs("30 1 * * *", "America/New_York")).await;
    let scheduler = instance.scheduler(1);
    let days = passes_every_20_minutes(
        &instance,
        &scheduler,
        utc("2025-11-01T12:00:00Z"),
        utc("2025-11-03T12:00:00Z"),
    )
    .await;
    assert_eq!(days, ["2025-11-02 01:30 EDT", "2025-11-03 01:30 EST"]);
}

#[tokio::test]
async fn schedule_runs_carry_dagster_tags_and_catch_up_after_downtime() {
    let instance = Instance::start(schedule_defs("5 * * * *", "UTC")).await;
    let scheduler = instance.scheduler(1);
    // First seen at 10:00: nothing from before counts.
    let pass = scheduler.pass(utc("2026-01-01T10:00:00Z")).await.unwrap();
    assert!(pass.ticks.is_empty());
    assert_eq!(pass.next_tick, Some(utc("2026-01-01T10:05:00Z")));
    scheduler.pass(utc("2026-01-01T10:05:00Z")).await.unwrap();
    let runs = instance.runs().await;
    assert_eq!(runs.len(), 1);
    let tags = &runs[0].tags;
    assert_eq!(tags[SCHEDULE_NAME_TAG], "nightly");
    assert_eq!(tags["dagster/run_key"], "2026-01-01T10:05:00Z");
    assert_eq!(tags["team"], "billing", "the job's tags come along");
    assert_eq!(tags["dagster/code_location"], "demo");
    assert!(tags[TICK_TAG].parse::<i64>().is_ok());
    assert_eq!(runs[0].status, RunStatus::Queued);
    // The same time again launches nothing.
    scheduler.pass(utc("2026-01-01T10:05:30Z")).await.unwrap();
    assert_eq!(instance.runs().await.len(), 1);

    // Down from 10:06 to 15:30: five ticks missed; the default launches the last one.
    let pass = scheduler.pass(utc("2026-01-01T15:30:00Z")).await.unwrap();
    let times: Vec<DateTime<Utc>> = pass.ticks.iter().map(|t| t.1).collect();
    assert_eq!(times, [utc("2026-01-01T15:05:00Z")]);
    // With max_catchup_runs 3, the three most recent of the next gap.
    let scheduler = instance.scheduler(3);
    let pass = scheduler.pass(utc("2026-01-01T20:30:00Z")).await.unwrap();
    let times: Vec<DateTime<Utc>> = pass.ticks.iter().map(|t| t.1).collect();
    assert_eq!(
        times,
        [
            utc("2026-01-01T18:05:00Z"),
            utc("2026-01-01T19:05:00Z"),
            utc("2026-01-01T20:05:00Z")
        ]
    );
    assert_eq!(instance.runs().await.len(), 5);
}

#[tokio::test]
async fn a_daemon_killed_between_tick_and_launch_launches_each_time_once() {
    let instance = Instance::start(schedule_defs("0 * * * *", "UTC")).await;
    let key = InstigatorKey::new("demo", "nightly", InstigatorType::Schedule);
    let storage = &instance.storage;
    storage
        .ensure_instigator(&key, datetime_to_timestamp(utc("2026-01-01T09:30:00Z")))
        .await
        .unwrap();
    // A daemon stored the 10:00 tick, then died before creating its run.
    let ten = datetime_to_timestamp(utc("2026-01-01T10:00:00Z"));
    let abandoned = storage
        .add_tick(&NewTick {
            instigator: key.clone(),
            timestamp: ten,
            result: TickResult::new(TickStatus::Started),
        })
        .await
        .unwrap();
    // Another stored the 11:00 tick and created its run, then died before ending it.
    let eleven = datetime_to_timestamp(utc("2026-01-01T11:00:00Z"));
    let half_done = storage
        .add_tick(&NewTick {
            instigator: key.clone(),
            timestamp: eleven,
            result: TickResult::new(TickStatus::Started),
        })
        .await
        .unwrap();
    let mut run = NewRun::new("report_job");
    run.tags.insert(TICK_TAG.into(), half_done.id.to_string());
    let created = storage
        .create_instigated_run(&run, &[], &key.selector_id(), "2026-01-01T11:00:00Z")
        .await
        .unwrap();
    let InstigatedRun::Created(first) = created else {
        panic!("the key was new");
    };

    // A new daemon catches up on both.
    let scheduler = instance.scheduler(5);
    let pass = scheduler.pass(utc("2026-01-01T11:30:00Z")).await.unwrap();
    assert_eq!(pass.ticks.len(), 2);
    let runs = instance.runs().await;
    assert_eq!(runs.len(), 2, "one run per scheduled time");
    let ticks = storage
        .ticks(Some(&key.selector_id()), &TicksFilter::default())
        .await
        .unwrap();
    assert_eq!(
        ticks.len(),
        2,
        "the started ticks were resumed, not duplicated"
    );
    let by_id = |id: i64| ticks.iter().find(|t| t.id == id).unwrap();
    assert_eq!(by_id(abandoned.id).result.status, TickStatus::Success);
    assert_eq!(by_id(half_done.id).result.status, TickStatus::Success);
    assert_eq!(by_id(half_done.id).result.run_ids, vec![first.run_id]);
    // And a third daemon finds nothing to do.
    instance
        .scheduler(5)
        .pass(utc("2026-01-01T11:45:00Z"))
        .await
        .unwrap();
    assert_eq!(instance.runs().await.len(), 2);
}

/// A sensor that counts: each evaluation requests the run after its cursor.
fn counting_sensor(name: &str, stop_at: u32) -> SensorDefinition {
    SensorDefinition::builder(name)
        .job("report_job")
        .minimum_interval(Duration::from_secs(30))
        .default_status(DefaultSensorStatus::Running)
        .evaluation_fn(move |ctx| async move {
            let seen: u32 = ctx
                .cursor()
                .map_or(Ok(0), str::parse)
                .map_err(|e| EvaluationError::wrap("the cursor is not a number", e))?;
            if seen >= stop_at {
                return Ok(SensorResult::skip(format!("all {stop_at} done")));
            }
            let next = seen + 1;
            Ok(SensorResult::requests(vec![
                RunRequest::new()
                    .run_key(format!("item-{next}"))
                    .run_config(report_config(&format!("item {next}"))),
            ])
            .cursor(next.to_string()))
        })
        .build()
}

#[tokio::test]
async fn sensors_move_their_cursor_and_honour_run_keys_across_restarts() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let defs = Definitions::builder()
        .job(job("report_job"))
        .sensor(counting_sensor("counter", 2))
        .sensor(
            SensorDefinition::builder("same_key")
                .job("report_job")
                .default_status(DefaultSensorStatus::Running)
                .evaluation_fn(|_| async {
                    CALLS.fetch_add(1, Ordering::SeqCst);
                    Ok(SensorResult::requests(vec![
                        RunRequest::new()
                            .run_key("only-once")
                            .run_config(report_config("once")),
                    ]))
                })
                .build(),
        )
        .sensor(
            SensorDefinition::builder("off")
                .job("report_job")
                .evaluation_fn(|_| async { Ok(SensorResult::skip("never")) })
                .build(),
        )
        .build()
        .unwrap();
    let instance = Instance::start(defs).await;
    let t0 = utc("2026-01-01T00:00:00Z");
    let evaluated = instance.sensors().pass(t0).await.unwrap();
    let names: Vec<&str> = evaluated.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["counter", "same_key"],
        "a stopped sensor is left alone"
    );
    // Within the interval nothing is evaluated again.
    let again = instance
        .sensors()
        .pass(t0 + chrono::Duration::seconds(10))
        .await
        .unwrap();
    assert!(again.is_empty());
    // A new daemon (a restart) goes on from the stored cursor.
    for minute in 1..=3 {
        instance
            .sensors()
            .pass(t0 + chrono::Duration::minutes(minute))
            .await
            .unwrap();
    }
    let runs = instance.runs().await;
    let keys: Vec<&str> = runs
        .iter()
        .map(|r| r.tags["dagster/run_key"].as_str())
        .collect();
    assert_eq!(keys, ["item-1", "only-once", "item-2"]);
    assert!(runs.iter().all(|r| r.tags.contains_key(SENSOR_NAME_TAG)));
    assert_eq!(CALLS.load(Ordering::SeqCst), 4, "evaluated every time");
    let counter = instance.ticks("counter").await;
    let statuses: Vec<TickStatus> = counter.iter().rev().map(|t| t.result.status).collect();
    assert_eq!(
        statuses,
        [
            TickStatus::Success,
            TickStatus::Success,
            TickStatus::Skipped,
            TickStatus::Skipped
        ]
    );
    assert_eq!(counter[0].result.skip_reason.as_deref(), Some("all 2 done"));
    // A tick that returns no cursor keeps the one stored.
    assert_eq!(counter[0].result.cursor, None);
    let state = instance
        .storage
        .instigator_state(&counter[0].selector_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.cursor.as_deref(), Some("2"));
    // A key used before launches nothing: those ticks are skipped, saying why.
    let same = instance.ticks("same_key").await;
    let statuses: Vec<TickStatus> = same.iter().rev().map(|t| t.result.status).collect();
    assert_eq!(
        statuses,
        [
            TickStatus::Success,
            TickStatus::Skipped,
            TickStatus::Skipped,
            TickStatus::Skipped
        ]
    );
    let reason = same[0].result.skip_reason.as_deref().unwrap();
    assert!(reason.contains("only-once"), "{reason}");

    // Started by a person, the stopped one runs; stopped again, it does not.
    let off = InstigatorKey::new("demo", "off", InstigatorType::Sensor);
    instance
        .storage
        .set_instigator_status(&off, Some(InstigatorStatus::Running), 0.0)
        .await
        .unwrap();
    let evaluated = instance
        .sensors()
        .pass(t0 + chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert!(evaluated.iter().any(|(n, _)| n == "off"));
}

#[tokio::test]
async fn a_failing_sensor_fails_its_own_tick_and_the_others_go_on() {
    let bad = |name: &str, f: fn() -> Result<SensorResult, EvaluationError>| {
        SensorDefinition::builder(name)
            .job("report_job")
            .default_status(DefaultSensorStatus::Running)
            .evaluation_fn(move |_| async move { f() })
            .build()
    };
    let defs = Definitions::builder()
        .job(job("report_job"))
        .job(job("other_job"))
        .sensor(bad("errors", || {
            Err(EvaluationError::msg("the API answered 503"))
        }))
        .sensor(bad("panics", || panic!("unexpected payload")))
        .sensor(bad("unknown_job", || {
            Ok(SensorResult::requests(vec![RunRequest::new().job("nope")]))
        }))
        .sensor(bad("bad_config", || {
            Ok(SensorResult::requests(vec![RunRequest::new().run_config(
                json!({"ops": {"report": {"config": {"days": 3}}}}),
            )]))
        }))
        .sensor(
            SensorDefinition::builder("slow")
                .job("report_job")
                .default_status(DefaultSensorStatus::Running)
                .evaluation_fn(|_| async {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    Ok(SensorResult::skip("too late"))
                })
                .build(),
        )
        .sensor(counting_sensor("fine", 1))
        .build()
        .unwrap();
    let instance = Instance::start(defs).await;
    let started = std::time::Instant::now();
    let ticks: BTreeMap<String, Tick> = instance
        .sensors()
        .pass(utc("2026-01-01T00:00:00Z"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the slow one was cut off"
    );
    let error = |name: &str| {
        let tick = &ticks[name];
        assert_eq!(tick.result.status, TickStatus::Failure, "{name}");
        tick.result.error.clone().unwrap()
    };
    assert_eq!(error("errors").message, "the API answered 503");
    assert!(error("panics").message.contains("unexpected payload"));
    assert!(error("unknown_job").message.contains("\"nope\""));
    let config = error("bad_config");
    assert_eq!(config.kind, "RunConfigValidationInvalid");
    assert!(config.message.contains("days"), "{}", config.message);
    assert_eq!(error("slow").kind, "Timeout");
    assert_eq!(ticks["fine"].result.status, TickStatus::Success);
    assert_eq!(instance.runs().await.len(), 1, "only the good sensor's run");
}

#[tokio::test]
async fn a_request_that_sets_a_system_tag_fails_its_tick_and_queues_nothing() {
    let tagged = |name: &str, tag: &'static str| {
        SensorDefinition::builder(name)
            .job("report_job")
            .default_status(DefaultSensorStatus::Running)
            .evaluation_fn(move |_| async move {
                Ok(SensorResult::requests(vec![
                    RunRequest::new()
                        .run_config(report_config("2026-01-01"))
                        .tag("team", "ops")
                        .tag(tag, "mine"),
                ]))
            })
            .build()
    };
    let defs = Definitions::builder()
        .job(job("report_job"))
        .sensor(tagged("names_itself", SENSOR_NAME_TAG))
        .sensor(tagged("moves_location", "dagster/code_location"))
        .build()
        .unwrap();
    let instance = Instance::start(defs).await;
    let ticks: BTreeMap<String, Tick> = instance
        .sensors()
        .pass(utc("2026-01-01T00:00:00Z"))
        .await
        .unwrap()
        .into_iter()
        .collect();
    for (sensor, tag) in [
        ("names_itself", SENSOR_NAME_TAG),
        ("moves_location", "dagster/code_location"),
    ] {
        let tick = &ticks[sensor];
        assert_eq!(tick.result.status, TickStatus::Failure, "{sensor}");
        let error = tick.result.error.clone().unwrap();
        assert_eq!(error.kind, "DagsterInvalidTagsError", "{sensor}");
        assert!(
            error.message.contains(&format!("\"{tag}\"")),
            "{sensor}: {}",
            error.message
        );
    }
    assert!(instance.runs().await.is_empty(), "no run was queued");
}

#[tokio::test]
async fn a_run_status_sensor_sees_each_run_once() {
    let defs = Definitions::builder()
        .job(job("report_job"))
        .job(job("alert_job"))
        .sensor(
            SensorDefinition::run_status(
                "on_failure",
                Some(RunStatus::Failure),
                |ctx| async move {
                    Ok(vec![
                        RunRequest::new()
                            .job("alert_job")
                            .run_key(ctx.run.run_id.clone())
                            .run_config(report_config(&ctx.run.run_id)),
                    ])
                },
            )
            .monitored_jobs(["report_job"])
            .job("alert_job")
            .default_status(DefaultSensorStatus::Running)
            .build(),
        )
        .build()
        .unwrap();
    let instance = Instance::start(defs).await;
    let storage = &instance.storage;
    let ended = |job: &str, end: EventType| {
        let storage = Arc::clone(storage);
        let job = job.to_owned();
        async move {
            let run = storage.create_run(&NewRun::new(job)).await.unwrap();
            storage
                .store_events(&[
                    RunEvent::new(&run.run_id, EventType::RunStart, ""),
                    RunEvent::new(&run.run_id, end, ""),
                ])
                .await
                .unwrap();
            run.run_id
        }
    };
    // A failure before the sensor's first evaluation is history: not seen.
    ended("report_job", EventType::RunFailure).await;
    let t0 = utc("2026-01-01T00:00:00Z");
    let sensors = instance.sensors();
    sensors.pass(t0).await.unwrap();
    let failed = ended("report_job", EventType::RunFailure).await;
    ended("report_job", EventType::RunSuccess).await;
    ended("alert_job", EventType::RunFailure).await;
    let mut now = t0;
    for _ in 0..3 {
        now += chrono::Duration::minutes(1);
        sensors.pass(now).await.unwrap();
    }
    let alerts: Vec<Run> = instance
        .runs()
        .await
        .into_iter()
        .filter(|r| r.job_name == "alert_job" && r.tags.contains_key(SENSOR_NAME_TAG))
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "one failed run of a monitored job, seen once"
    );
    assert_eq!(alerts[0].tags["dagster/run_key"], failed);

    // A cursor set by hand that is not an event id fails the tick, saying so.
    let key = InstigatorKey::new("demo", "on_failure", InstigatorType::Sensor);
    storage
        .set_instigator_cursor(&key, Some("yesterday"), 0.0)
        .await
        .unwrap();
    let ticks = sensors
        .pass(now + chrono::Duration::minutes(1))
        .await
        .unwrap();
    let error = ticks[0].1.result.error.clone().expect("a failed tick");
    assert_eq!(error.kind, "InvalidCursor");
    assert!(error.message.contains("\"yesterday\""), "{}", error.message);
}

/// A dataset per new file: each evaluation adds the files it finds (the cursor counts
/// them) as dynamic partitions and requests a run for each.
fn dataset_defs() -> Definitions {
    const FILES: [&str; 3] = ["parcels", "roads", "rivers"];
    let dataset = AssetDefinition::builder("spatial/dataset")
        .partitions(PartitionsDefinition::dynamic("datasets"))
        .compute(|ctx, _| async move { Ok(ctx.partition_key().unwrap_or_default().len()) });
    let arrivals = SensorDefinition::builder("arrivals")
        .job("datasets_job")
        .default_status(DefaultSensorStatus::Running)
        .evaluation_fn(|ctx| async move {
            let seen: usize = ctx.cursor().map_or(0, |c| c.parse().unwrap_or(0));
            let new: Vec<&str> = FILES.iter().skip(seen).take(2).copied().collect();
            if new.is_empty() {
                return Ok(SensorResult::skip("no new file"));
            }
            let requests = new
                .iter()
                .map(|f| RunRequest::new().run_key(*f).partition_key(*f))
                .collect();
            Ok(SensorResult::requests(requests)
                .dynamic_partitions_request(DynamicPartitionsRequest::add("datasets", new.clone()))
                .cursor((seen + new.len()).to_string()))
        })
        .build();
    // Requests a partition nobody added, then changes a set the location does not use
    // (a failed tick keeps the cursor, so the calls are counted here).
    static CONFUSED: AtomicUsize = AtomicUsize::new(0);
    let confused = SensorDefinition::builder("confused")
        .job("datasets_job")
        .default_status(DefaultSensorStatus::Running)
        .evaluation_fn(|_| async move {
            Ok(match CONFUSED.fetch_add(1, Ordering::SeqCst) {
                0 => SensorResult::requests(vec![RunRequest::new().partition_key("lakes")]),
                _ => SensorResult::skip("")
                    .dynamic_partitions_request(DynamicPartitionsRequest::add("regions", ["eu"])),
            })
        })
        .build();
    // Only deletes.
    let cleanup =
        SensorDefinition::builder("cleanup")
            .job("datasets_job")
            .evaluation_fn(|_| async {
                Ok(SensorResult::skip("").dynamic_partitions_request(
                    DynamicPartitionsRequest::delete("datasets", ["roads"]),
                ))
            })
            .build();
    Definitions::builder()
        .asset(dataset)
        .asset_job(define_asset_job(
            "datasets_job",
            AssetSelection::parse("spatial/dataset").unwrap(),
        ))
        .sensor(arrivals)
        .sensor(confused)
        .sensor(cleanup)
        .build()
        .unwrap()
}

#[tokio::test]
async fn sensors_add_dynamic_partitions_and_request_runs_for_them() {
    let instance = Instance::start(dataset_defs()).await;
    let t0 = utc("2026-01-01T00:00:00Z");
    instance.sensors().pass(t0).await.unwrap();
    instance
        .sensors()
        .pass(t0 + chrono::Duration::minutes(1))
        .await
        .unwrap();
    let datasets = || async {
        instance
            .storage
            .dynamic_partition_keys("datasets")
            .await
            .unwrap()
    };
    assert_eq!(datasets().await, ["parcels", "roads", "rivers"]);
    let runs = instance.runs().await;
    let partitions: Vec<&str> = runs
        .iter()
        .map(|r| r.tags["dagster/partition"].as_str())
        .collect();
    assert_eq!(partitions, ["parcels", "roads", "rivers"]);
    assert!(runs.iter().all(|r| r.job_name == "datasets_job"));
    // Each tick records what it added.
    let added: Vec<Vec<String>> = instance
        .ticks("arrivals")
        .await
        .iter()
        .rev()
        .map(|t| {
            let [result] = t.result.dynamic_partitions.as_slice() else {
                panic!("one request per tick: {t:?}");
            };
            assert_eq!(result.action, DynamicPartitionsAction::Add);
            result.partition_keys.clone()
        })
        .collect();
    assert_eq!(added, [vec!["parcels", "roads"], vec!["rivers"]]);

    // The unknown partition failed its tick, and queued nothing; so did the unknown set.
    let confused = instance.ticks("confused").await;
    let errors: Vec<String> = confused
        .iter()
        .rev()
        .map(|t| {
            assert_eq!(t.result.status, TickStatus::Failure);
            t.result.error.as_ref().unwrap().message.clone()
        })
        .collect();
    assert_eq!(
        errors,
        [
            "run request for job \"datasets_job\": partition \"lakes\" does not exist in Dynamic partitions: \"datasets\"",
            "the evaluation changes dynamic partitions \"regions\", which code location \"demo\" does not use",
        ]
    );

    // A tick that only deletes keys succeeds.
    instance
        .storage
        .set_instigator_status(
            &InstigatorKey::new("demo", "cleanup", InstigatorType::Sensor),
            Some(InstigatorStatus::Running),
            datetime_to_timestamp(t0),
        )
        .await
        .unwrap();
    instance
        .sensors()
        .pass(t0 + chrono::Duration::minutes(2))
        .await
        .unwrap();
    let cleanup = &instance.ticks("cleanup").await[0].result;
    assert_eq!(cleanup.status, TickStatus::Success);
    assert_eq!(
        cleanup.dynamic_partitions,
        [DynamicPartitionsResult {
            partitions_def_name: "datasets".into(),
            action: DynamicPartitionsAction::Delete,
            partition_keys: vec!["roads".into()],
            skipped_partition_keys: Vec::new(),
        }]
    );
    assert_eq!(datasets().await, ["parcels", "rivers"]);
    assert_eq!(instance.runs().await.len(), 3);
}

/// `raw/orders` feeds `staging/orders`, both partitioned by region; `other/feed` is an
/// asset of another location.
fn asset_sensor_defs() -> Definitions {
    let regions = PartitionsDefinition::static_keys(["eu", "us", "ap"]);
    let raw = AssetDefinition::builder("raw/orders")
        .partitions(regions.clone())
        .compute(|_, _| async { Ok(()) });
    let staging = AssetDefinition::builder("staging/orders")
        .partitions(regions)
        .dep("raw/orders")
        .compute(|_, _| async { Ok(()) });
    // Each new partition of raw orders refreshes the same partition of staging.
    let on_raw = SensorDefinition::asset("on_raw", key("raw/orders"), |ctx| async move {
        let partition = ctx.materialization().unwrap().partition.clone().unwrap();
        Ok(vec![
            RunRequest::new()
                .run_key(ctx.event.storage_id.to_string())
                .partition_key(partition),
        ])
    })
    .asset_selection(AssetSelection::parse("staging/orders").unwrap())
    .default_status(DefaultSensorStatus::Running)
    .build();
    // One report once both raw orders and the feed have been updated.
    let both = SensorDefinition::multi_asset(
        "both",
        [key("raw/orders"), key("other/feed")],
        |ctx| async move {
            if !ctx.all_updated() {
                return Ok(SensorResult::skip("waiting for both"));
            }
            ctx.advance_all();
            Ok(SensorResult::requests(vec![
                RunRequest::new().run_config(report_config("today")),
            ]))
        },
    )
    .job("report_job")
    .default_status(DefaultSensorStatus::Running)
    .build();
    Definitions::builder()
        .asset(raw)
        .asset(staging)
        .job(job("report_job"))
        .sensor(on_raw)
        .sensor(both)
        .build()
        .unwrap()
}

fn key(k: &str) -> AssetKey {
    AssetKey::parse(k).unwrap()
}

/// Store a run that materialized `partition` of `asset`.
async fn materialize(storage: &Arc<dyn Storage>, asset: &str, partition: Option<&str>) {
    let run = storage.create_run(&NewRun::new("elsewhere")).await.unwrap();
    let mut materialization = AssetMaterialization::new(key(asset));
    materialization.partition = partition.map(str::to_owned);
    let event = RunEvent::new(&run.run_id, EventType::AssetMaterialization, "")
        .data(EventData::Materialization(Box::new(materialization)));
    storage.store_events(&[event]).await.unwrap();
}

#[tokio::test]
async fn asset_sensors_see_each_materialization_once_and_request_assets() {
    let instance = Instance::start(asset_sensor_defs()).await;
    let storage = &instance.storage;
    let sensors = instance.sensors();
    let mut now = utc("2026-01-01T00:00:00Z");
    let mut pass = || {
        now += chrono::Duration::minutes(1);
        sensors.pass(now)
    };
    // Before the first evaluation: only the latest materialization counts.
    materialize(storage, "raw/orders", Some("ap")).await;
    materialize(storage, "raw/orders", Some("eu")).await;
    pass().await.unwrap();
    materialize(storage, "raw/orders", Some("us")).await;
    materialize(storage, "raw/orders", Some("ap")).await;
    materialize(storage, "other/feed", None).await;
    pass().await.unwrap();
    let quiet = pass().await.unwrap();

    let runs: Vec<Run> = instance
        .runs()
        .await
        .into_iter()
        .filter(|r| r.tags.contains_key(SENSOR_NAME_TAG))
        .collect();
    let refreshes: Vec<&Run> = runs
        .iter()
        .filter(|r| r.tags[SENSOR_NAME_TAG] == "on_raw")
        .collect();
    let partitions: Vec<&str> = refreshes
        .iter()
        .map(|r| r.tags["dagster/partition"].as_str())
        .collect();
    assert_eq!(partitions, ["eu", "us", "ap"]);
    for run in &refreshes {
        assert_eq!(run.job_name, ASSET_JOB_NAME);
        assert_eq!(
            run.step_keys_to_execute.as_deref(),
            Some([key("staging/orders").op_name()].as_slice()),
            "only the selected asset is materialized"
        );
    }
    let reports: Vec<&Run> = runs
        .iter()
        .filter(|r| r.tags[SENSOR_NAME_TAG] == "both")
        .collect();
    assert_eq!(reports.len(), 1, "one report, once both were updated");
    assert_eq!(reports[0].job_name, "report_job");

    // Nothing new: the daemon skips without asking user code, and keeps the cursors.
    for (name, tick) in &quiet {
        assert_eq!(tick.result.status, TickStatus::Skipped, "{name}");
    }
    let on_raw = quiet.iter().find(|(n, _)| n == "on_raw").unwrap();
    assert_eq!(
        on_raw.1.result.skip_reason.as_deref(),
        Some("no new materialization of raw/orders")
    );
    let cursor: serde_json::Value =
        serde_json::from_str(on_raw.1.result.cursor.as_deref().unwrap()).unwrap();
    assert!(cursor["raw/orders"].as_i64().unwrap() > 0, "{cursor}");

    // A cursor set by hand that is not an asset cursor fails the tick, saying so.
    let selector = InstigatorKey::new("demo", "on_raw", InstigatorType::Sensor);
    storage
        .set_instigator_cursor(&selector, Some("12"), 0.0)
        .await
        .unwrap();
    let ticks = pass().await.unwrap();
    let (_, tick) = ticks.iter().find(|(n, _)| n == "on_raw").unwrap();
    let error = tick.result.error.clone().expect("a failed tick");
    assert_eq!(error.kind, "InvalidCursor");
    assert!(error.message.contains("\"12\""), "{}", error.message);
}
