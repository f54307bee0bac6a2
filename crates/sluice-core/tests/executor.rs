//! The in-process executor, observed through the events it emits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_core::events::{EventData, EventType, MemorySink, RunEvent};
use sluice_core::executor::{self, RunContext};
use sluice_core::plan::ExecutionPlan;
use sluice_core::prelude::*;
use sluice_core::run::RunStatus;
use sluice_core::run_config;
use tokio_util::sync::CancellationToken;

struct Outcome {
    status: RunStatus,
    events: Vec<RunEvent>,
    elapsed: Duration,
}

impl Outcome {
    fn types(&self, step: &str) -> Vec<EventType> {
        self.events
            .iter()
            .filter(|e| e.step_key.as_deref() == Some(step))
            .map(|e| e.event_type)
            .collect()
    }

    fn run_events(&self) -> Vec<EventType> {
        self.events
            .iter()
            .filter(|e| e.step_key.is_none())
            .map(|e| e.event_type)
            .collect()
    }
}

async fn run_job(
    defs: &Definitions,
    job: &str,
    config: serde_json::Value,
    cancel: CancellationToken,
) -> Outcome {
    execute_job(defs, job, config, "test-run", cancel, None, None).await
}

/// Runs `job` of `defs` with `config` as run `run_id`, with the IO manager and the
/// re-execution given.
async fn execute_job(
    defs: &Definitions,
    job: &str,
    config: serde_json::Value,
    run_id: &str,
    cancel: CancellationToken,
    io_manager: Option<Arc<dyn sluice_core::io_manager::IoManager>>,
    reexecution: Option<executor::Reexecution>,
) -> Outcome {
    let job = defs.job(job).expect("job exists");
    let resolved = run_config::resolve(defs, job, &config).expect("valid config");
    let sink = Arc::new(MemorySink::default());
    let started = Instant::now();
    let status = executor::execute(
        &ExecutionPlan::for_job(job),
        resolved,
        RunContext {
            run_id: run_id.into(),
            tags: Default::default(),
            events: sink.clone(),
            cancel,
            io_manager,
            reexecution,
            partitions: None,
            keep_every_output: false,
        },
    )
    .await;
    Outcome {
        status,
        events: sink.events(),
        elapsed: started.elapsed(),
    }
}

fn defs_of(job: JobDefinition) -> Definitions {
    Definitions::builder()
        .job(job)
        .build()
        .expect("valid definitions")
}

fn sleeper(name: &str, ms: u64) -> OpDefinition {
    OpDefinition::builder(name)
        .output::<u64>("result")
        .compute(move |_, _| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_steps_run_in_parallel() {
    let mut job = JobDefinition::builder("parallel");
    job.node(&sleeper("a", 200)).add();
    job.node(&sleeper("b", 200)).alias("b").add();
    let out = run_job(
        &defs_of(job.build()),
        "parallel",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Success);
    assert!(
        out.elapsed < Duration::from_millis(330),
        "two 200 ms steps took {:?}; they did not run in parallel",
        out.elapsed
    );
    // With max_concurrent 1 they run one after the other.
    let mut job = JobDefinition::builder("serial");
    job.node(&sleeper("a", 100)).add();
    job.node(&sleeper("b", 100)).alias("b").add();
    let out = run_job(
        &defs_of(job.build()),
        "serial",
        json!({"execution": {"config": {"max_concurrent": 1}}}),
        CancellationToken::new(),
    )
    .await;
    assert!(
        out.elapsed >= Duration::from_millis(200),
        "{:?}",
        out.elapsed
    );
}

#[tokio::test]
async fn outputs_flow_downstream_and_events_have_dagster_names() {
    let start = OpDefinition::builder("start")
        .output::<i64>("result")
        .compute(|ctx, _| async move {
            ctx.info("starting the chain");
            Ok(0)
        });
    let step = OpDefinition::builder("step")
        .input::<i64>("x")
        .output::<i64>("result")
        .compute(|_, inputs| async move { Ok(inputs.get::<i64>("x")? + 1) });
    let seen = Arc::new(AtomicU32::new(0));
    let seen2 = Arc::clone(&seen);
    let end = OpDefinition::builder("end")
        .input::<i64>("x")
        .compute(move |_, inputs| {
            let seen = Arc::clone(&seen2);
            async move {
                seen.store(inputs.get::<i64>("x")? as u32, Ordering::SeqCst);
                Ok(())
            }
        });
    let mut job = JobDefinition::builder("chain");
    let mut prev = job.add(&start);
    for i in 0..10 {
        prev = job
            .node(&step)
            .alias(format!("step_{i}"))
            .input("x", prev.output("result"))
            .add();
    }
    job.node(&end).input("x", prev.output("result")).add();
    let out = run_job(
        &defs_of(job.build()),
        "chain",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(seen.load(Ordering::SeqCst), 10);
    assert_eq!(
        out.run_events(),
        vec![EventType::RunStart, EventType::RunSuccess]
    );
    assert_eq!(
        out.types("start"),
        vec![
            EventType::StepStart,
            EventType::Log,
            EventType::StepOutput,
            EventType::StepSuccess
        ]
    );
    assert_eq!(
        out.types("end"),
        vec![EventType::StepStart, EventType::StepSuccess]
    );
}

#[tokio::test]
async fn retries_follow_the_policy_and_are_recorded() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let flaky = OpDefinition::builder("flaky")
        .retry_policy(RetryPolicy::new(3).with_delay(Duration::from_millis(10)))
        .output::<u32>("result")
        .compute(move |ctx, _| {
            let c = Arc::clone(&c);
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                if ctx.retry_number() < 2 {
                    Err(OpError::msg(format!(
                        "attempt {} failed",
                        ctx.retry_number() + 1
                    )))
                } else {
                    Ok(ctx.retry_number())
                }
            }
        });
    let mut job = JobDefinition::builder("flaky_job");
    job.add(&flaky);
    let out = run_job(
        &defs_of(job.build()),
        "flaky_job",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    use EventType::*;
    assert_eq!(
        out.types("flaky"),
        vec![
            StepStart,
            StepUpForRetry,
            StepRestarted,
            StepUpForRetry,
            StepRestarted,
            StepOutput,
            StepSuccess
        ]
    );
    let retry = out
        .events
        .iter()
        .find(|e| e.event_type == StepUpForRetry)
        .unwrap();
    assert!(
        matches!(&retry.data, EventData::Retry { error, attempt: 1, max_retries: 3, .. } if error.message == "attempt 1 failed"),
        "{:?}",
        retry.data
    );
}

#[tokio::test]
async fn fatal_errors_are_not_retried_and_retry_requests_are() {
    let fatal = OpDefinition::builder("fatal")
        .retry_policy(RetryPolicy::new(5))
        .compute(|_, _| async { Err(OpError::fatal("bad data, retrying will not help")) });
    let asks = OpDefinition::builder("asks").compute(|ctx, _| async move {
        if ctx.retry_number() == 0 {
            Err(OpError::RetryRequested {
                message: "not ready".into(),
                max_retries: 1,
                delay: Duration::ZERO,
            })
        } else {
            Ok(())
        }
    });
    let mut job = JobDefinition::builder("j");
    job.add(&fatal);
    job.add(&asks);
    let out = run_job(
        &defs_of(job.build()),
        "j",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Failure);
    assert_eq!(
        out.types("fatal"),
        vec![EventType::StepStart, EventType::StepFailure]
    );
    assert_eq!(
        out.types("asks"),
        vec![
            EventType::StepStart,
            EventType::StepUpForRetry,
            EventType::StepRestarted,
            EventType::StepSuccess
        ]
    );
}

#[tokio::test]
async fn timeouts_fail_the_step() {
    let slow = OpDefinition::builder("slow")
        .timeout(Duration::from_millis(50))
        .compute(|_, _| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        });
    let mut job = JobDefinition::builder("j");
    job.add(&slow);
    let out = run_job(
        &defs_of(job.build()),
        "j",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Failure);
    assert!(out.elapsed < Duration::from_secs(2));
    let failure = out
        .events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    assert!(
        matches!(&failure.data, EventData::Failure { error } if error.kind == "Timeout"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_failure_skips_what_depends_on_it_and_nothing_else() {
    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Refused;
    let boom = OpDefinition::builder("boom")
        .output::<i64>("result")
        .compute(|_, _| async {
            Err::<i64, _>(Refused).context("could not reach the billing API")
        });
    let after = OpDefinition::builder("after")
        .input::<i64>("x")
        .output::<i64>("result")
        .compute(|_, i| async move { i.get::<i64>("x") });
    let mut job = JobDefinition::builder("failing_job");
    let b = job.add(&boom);
    let a = job.node(&after).input("x", b.output("result")).add();
    job.node(&after)
        .alias("after_after")
        .input("x", a.output("result"))
        .add();
    job.add(&sleeper("independent", 20));
    let out = run_job(
        &defs_of(job.build()),
        "failing_job",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Failure);
    assert_eq!(out.types("after"), vec![EventType::StepSkipped]);
    assert_eq!(out.types("after_after"), vec![EventType::StepSkipped]);
    assert_eq!(
        out.types("independent").last(),
        Some(&EventType::StepSuccess)
    );
    let failure = out
        .events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    let EventData::Failure { error } = &failure.data else {
        panic!()
    };
    let chain: Vec<&str> = error.chain().map(|e| e.message.as_str()).collect();
    assert_eq!(
        chain,
        ["could not reach the billing API", "connection refused"]
    );
    let run_failure = out.events.last().unwrap();
    assert_eq!(run_failure.event_type, EventType::RunFailure);
    assert!(
        run_failure.message.contains("[\"boom\"]"),
        "{}",
        run_failure.message
    );
}

#[tokio::test]
async fn panics_are_step_failures() {
    let p = OpDefinition::builder("panics").compute(|_, _| async { panic!("index out of bounds") });
    let mut job = JobDefinition::builder("j");
    job.add(&p);
    let out = run_job(
        &defs_of(job.build()),
        "j",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Failure);
    let failure = out
        .events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .unwrap();
    assert!(
        failure.message.contains("index out of bounds"),
        "{}",
        failure.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_running_steps_and_starts_no_more() {
    let mut job = JobDefinition::builder("sleepy");
    let s = job.add(&sleeper("sleeper", 10_000));
    job.node(
        &OpDefinition::builder("later")
            .input::<u64>("x")
            .compute(|_, _| async { Ok(()) }),
    )
    .input("x", s.output("result"))
    .add();
    let defs = defs_of(job.build());
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.cancel();
    });
    let out = run_job(&defs, "sleepy", json!({}), cancel).await;
    assert_eq!(out.status, RunStatus::Canceled);
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    assert_eq!(
        out.types("sleeper"),
        vec![EventType::StepStart, EventType::StepFailure]
    );
    assert!(out.types("later").is_empty());
    assert_eq!(
        out.events.last().unwrap().event_type,
        EventType::RunCanceled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_in_keeps_declaration_order_whatever_finishes_first() {
    let collect = OpDefinition::builder("collect")
        .fan_in_input::<u64>("xs")
        .output::<Vec<u64>>("result")
        .compute(|_, i| async move { i.get::<Vec<u64>>("xs") });
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let check = OpDefinition::builder("check")
        .input::<Vec<u64>>("v")
        .compute(move |_, i| {
            let s = Arc::clone(&s2);
            async move {
                *s.lock().unwrap() = i.get::<Vec<u64>>("v")?;
                Ok(())
            }
        });
    let mut job = JobDefinition::builder("fan_in");
    let slow = job.node(&sleeper("s", 120)).alias("slow").add();
    let mid = job.node(&sleeper("s", 60)).alias("mid").add();
    let fast = job.node(&sleeper("s", 1)).alias("fast").add();
    let c = job
        .node(&collect)
        .input("xs", slow.output("result"))
        .input("xs", mid.output("result"))
        .input("xs", fast.output("result"))
        .add();
    job.node(&check).input("v", c.output("result")).add();
    let out = run_job(
        &defs_of(job.build()),
        "fan_in",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(*seen.lock().unwrap(), vec![120, 60, 1]);
}

#[tokio::test]
async fn ordering_dependencies_wait_without_data() {
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mk = |name: &'static str| {
        let order = Arc::clone(&order);
        OpDefinition::builder(name).compute(move |_, _| {
            let order = Arc::clone(&order);
            async move {
                tokio::time::sleep(Duration::from_millis(if name == "load" { 50 } else { 0 }))
                    .await;
                order.lock().unwrap().push(name);
                Ok(())
            }
        })
    };
    let mut job = JobDefinition::builder("ordered");
    let load = job.add(&mk("load"));
    job.node(&mk("cleanup")).after(&load).add();
    let out = run_job(
        &defs_of(job.build()),
        "ordered",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(*order.lock().unwrap(), vec!["load", "cleanup"]);
}

#[tokio::test]
async fn unyielded_optional_outputs_skip_their_consumers_only() {
    let branch = OpDefinition::builder("branch")
        .optional_output::<i64>("yes")
        .optional_output::<i64>("no")
        .compute(|_, _| async { Ok(Outputs::new().with("yes", 1i64)) });
    let take = OpDefinition::builder("take")
        .input::<i64>("x")
        .compute(|_, _| async { Ok(()) });
    let mut job = JobDefinition::builder("branching");
    let b = job.add(&branch);
    job.node(&take)
        .alias("on_yes")
        .input("x", b.output("yes"))
        .add();
    job.node(&take)
        .alias("on_no")
        .input("x", b.output("no"))
        .add();
    let out = run_job(
        &defs_of(job.build()),
        "branching",
        json!({}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(out.types("on_yes").last(), Some(&EventType::StepSuccess));
    assert_eq!(out.types("on_no"), vec![EventType::StepSkipped]);
}

#[tokio::test]
async fn resources_are_set_up_once_and_torn_down_after_a_failure() {
    static SETUPS: AtomicU32 = AtomicU32::new(0);
    static TEARDOWNS: AtomicU32 = AtomicU32::new(0);
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct ConnConfig {
        name: String,
    }
    struct Conn(String);
    impl ConfigurableResource for Conn {
        type Config = ConnConfig;
        async fn setup(c: ConnConfig, _: &InitResourceContext) -> Result<Self, ResourceError> {
            SETUPS.fetch_add(1, Ordering::SeqCst);
            Ok(Conn(c.name))
        }
        async fn teardown(&self) -> Result<(), ResourceError> {
            TEARDOWNS.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let use_conn = OpDefinition::builder("use_conn")
        .required_resource("conn")
        .compute(|ctx, _| async move {
            let conn = ctx.resource::<Conn>("conn")?;
            if conn.0 == "fail" {
                return Err(OpError::msg("failing on purpose"));
            }
            Ok(())
        });
    let mut job = JobDefinition::builder("j");
    job.add(&use_conn);
    job.node(&use_conn).alias("again").add();
    let defs = Definitions::builder()
        .job(job.build())
        .resource(
            "conn",
            ResourceDefinition::configured::<Conn>(ConnConfig { name: "ok".into() }),
        )
        .build()
        .unwrap();
    let out = run_job(&defs, "j", json!({}), CancellationToken::new()).await;
    assert_eq!(out.status, RunStatus::Success);
    assert_eq!(
        (
            SETUPS.load(Ordering::SeqCst),
            TEARDOWNS.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    let out = run_job(
        &defs,
        "j",
        json!({"resources": {"conn": {"config": {"name": "fail"}}}}),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(out.status, RunStatus::Failure);
    assert_eq!(
        (
            SETUPS.load(Ordering::SeqCst),
            TEARDOWNS.load(Ordering::SeqCst)
        ),
        (2, 2)
    );
}

/// A job whose middle step fails until `gate_open` is set: produce → gate → report.
fn gated_job(
    gate_open: Arc<std::sync::atomic::AtomicBool>,
    produced: Arc<AtomicU32>,
) -> Definitions {
    let produce = OpDefinition::builder("produce")
        .output::<i64>("result")
        .compute(move |_, _| {
            let produced = Arc::clone(&produced);
            async move {
                produced.fetch_add(1, Ordering::SeqCst);
                Ok(21)
            }
        });
    let gate = OpDefinition::builder("gate")
        .input::<i64>("value")
        .output::<i64>("result")
        .compute(move |_, inputs| {
            let open = gate_open.load(Ordering::SeqCst);
            async move {
                if !open {
                    return Err(OpError::msg("the gate is closed"));
                }
                Ok(inputs.get::<i64>("value")? * 2)
            }
        });
    let report = OpDefinition::builder("report")
        .input::<i64>("value")
        .output::<String>("result")
        .compute(|_, inputs| async move { Ok(format!("value {}", inputs.get::<i64>("value")?)) });
    let mut job = JobDefinition::builder("gated");
    let p = job.node(&produce).add();
    let g = job.node(&gate).input("value", p.output("result")).add();
    job.node(&report).input("value", g.output("result")).add();
    defs_of(job.build())
}

async fn run_with(
    defs: &Definitions,
    run_id: &str,
    io: Arc<dyn sluice_core::io_manager::IoManager>,
    reexecution: Option<executor::Reexecution>,
) -> Outcome {
    execute_job(
        defs,
        "gated",
        json!({}),
        run_id,
        CancellationToken::new(),
        Some(io),
        reexecution,
    )
    .await
}

/// The default IO manager over a fresh temporary directory.
fn fs_io_manager() -> (tempfile::TempDir, Arc<sluice_core::io_manager::FsIoManager>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let io = Arc::new(sluice_core::io_manager::FsIoManager::new(dir.path()));
    (dir, io)
}

fn reexecute(steps: &[&str], sources: &[&str]) -> Option<executor::Reexecution> {
    Some(executor::Reexecution {
        step_keys: steps.iter().map(|s| s.to_string()).collect(),
        source_runs: sources.iter().map(|s| s.to_string()).collect(),
    })
}

#[tokio::test]
async fn reexecution_from_failure_loads_what_succeeded_and_runs_the_rest() {
    let (dir, io) = fs_io_manager();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let produced = Arc::new(AtomicU32::new(0));
    let defs = gated_job(Arc::clone(&open), Arc::clone(&produced));

    let first = run_with(&defs, "first", io.clone(), None).await;
    assert_eq!(first.status, RunStatus::Failure);
    assert_eq!(
        first.types("produce"),
        [
            EventType::StepStart,
            EventType::StepOutput,
            EventType::HandledOutput,
            EventType::StepSuccess
        ]
    );
    assert_eq!(first.types("report"), [EventType::StepSkipped]);
    assert!(dir.path().join("first/produce/result").is_file());

    // The gate opens; the re-execution runs gate and report, and reuses produce.
    open.store(true, Ordering::SeqCst);
    let second = run_with(
        &defs,
        "second",
        io.clone(),
        reexecute(&["gate", "report"], &["first"]),
    )
    .await;
    assert_eq!(second.status, RunStatus::Success, "{:#?}", second.events);
    assert!(
        second.types("produce").is_empty(),
        "produce is not executed again"
    );
    assert_eq!(produced.load(Ordering::SeqCst), 1);
    let loaded = second
        .events
        .iter()
        .find(|e| e.event_type == EventType::LoadedInput)
        .expect("a LOADED_INPUT event");
    assert_eq!(loaded.step_key.as_deref(), Some("gate"));
    assert!(matches!(
        &loaded.data,
        EventData::LoadedInput { upstream_step_key, upstream_run_id, .. }
            if upstream_step_key == "produce" && upstream_run_id == "first"
    ));
    let gate = std::fs::read(dir.path().join("second/gate/result")).expect("stored");
    assert_eq!(gate, b"42");
    // Nothing consumes report's output: nothing could load it, so it is not stored.
    assert!(!dir.path().join("second/report").exists());

    // Re-executing only report from the second run finds gate's output there, and
    // would find produce's in the first.
    let third = run_with(
        &defs,
        "third",
        io.clone(),
        reexecute(&["report"], &["second", "first"]),
    )
    .await;
    assert_eq!(third.status, RunStatus::Success);
    assert_eq!(third.types("gate"), Vec::<EventType>::new());
}

#[tokio::test]
async fn reexecution_without_stored_outputs_or_with_unknown_steps_fails_clearly() {
    let (_dir, io) = fs_io_manager();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let defs = gated_job(open, Arc::new(AtomicU32::new(0)));

    // Nothing was stored for run "gone": gate fails naming what is missing; report skips.
    let missing = run_with(
        &defs,
        "r",
        io.clone(),
        reexecute(&["gate", "report"], &["gone"]),
    )
    .await;
    assert_eq!(missing.status, RunStatus::Failure);
    assert_eq!(
        missing.types("gate"),
        [EventType::StepStart, EventType::StepFailure]
    );
    let failure = missing
        .events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .expect("failure");
    assert!(
        failure
            .message
            .contains("\"result\" of step \"produce\" was not stored"),
        "{}",
        failure.message
    );
    assert_eq!(missing.types("report"), [EventType::StepSkipped]);

    let unknown = run_with(&defs, "u", io, reexecute(&["gate", "nope"], &["gone"])).await;
    assert_eq!(unknown.status, RunStatus::Failure);
    let end = unknown.events.last().expect("events");
    assert_eq!(end.event_type, EventType::RunFailure);
    assert!(end.message.contains("\"nope\""), "{}", end.message);
}

#[tokio::test]
async fn a_reexecution_of_unknown_steps_fails_before_any_resource_is_set_up() {
    static SETUPS: AtomicU32 = AtomicU32::new(0);
    struct Watched;
    impl ConfigurableResource for Watched {
        type Config = ();
        async fn setup(_: (), _: &InitResourceContext) -> Result<Self, ResourceError> {
            SETUPS.fetch_add(1, Ordering::SeqCst);
            Ok(Watched)
        }
    }
    let use_it = OpDefinition::builder("use_it")
        .required_resource("watched")
        .compute(|ctx, _| async move {
            ctx.resource::<Watched>("watched")?;
            Ok(())
        });
    let mut job = JobDefinition::builder("watched_job");
    job.add(&use_it);
    let defs = Definitions::builder()
        .job(job.build())
        .resource("watched", ResourceDefinition::new::<Watched>())
        .build()
        .unwrap();
    let run = |reexecution| {
        execute_job(
            &defs,
            "watched_job",
            json!({}),
            "reexecution",
            CancellationToken::new(),
            None,
            reexecution,
        )
    };

    let out = run(reexecute(&["use_it", "nope"], &["earlier"])).await;
    assert_eq!(out.status, RunStatus::Failure);
    assert_eq!(
        SETUPS.load(Ordering::SeqCst),
        0,
        "a re-execution of unknown steps set up a resource"
    );
    assert_eq!(
        out.run_events(),
        [EventType::RunStart, EventType::RunFailure]
    );
    assert_eq!(out.events.len(), 2, "{:#?}", out.events);
    let end = &out.events[1];
    assert_eq!(
        end.message,
        "Execution of run for \"watched_job\" failed: steps [\"nope\"] are not in the job."
    );
    assert!(
        matches!(&end.data, EventData::Failure { error } if error.kind == "UnknownSteps"),
        "{:?}",
        end.data
    );

    // The same re-execution of known steps sets the resource up, once.
    let out = run(reexecute(&["use_it"], &["earlier"])).await;
    assert_eq!(out.status, RunStatus::Success, "{:#?}", out.events);
    assert_eq!(SETUPS.load(Ordering::SeqCst), 1);
}
