//! Definition validation and run config validation, as a code location author sees them.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use sluice_core::DefinitionProblem;
use sluice_core::config::ConfigErrorReason;
use sluice_core::prelude::*;
use sluice_core::run_config::{self, RunConfigError};

fn source(name: &str) -> OpDefinition {
    OpDefinition::builder(name)
        .output::<i64>("result")
        .compute(|_, _| async { Ok(1) })
}

fn add_one() -> OpDefinition {
    OpDefinition::builder("add_one")
        .input::<i64>("x")
        .output::<i64>("result")
        .compute(|_, inputs| async move { Ok(inputs.get::<i64>("x")? + 1) })
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BillingConfig {
    target_date: String,
    dry_run: Option<bool>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LimitConfig {
    limit: u8,
}

fn configured(name: &str) -> OpDefinition {
    OpDefinition::builder(name)
        .config::<BillingConfig>()
        .compute(|ctx, _| async move {
            let _: BillingConfig = ctx.config()?;
            Ok(())
        })
}

fn problems(result: Result<Definitions, DefinitionError>) -> Vec<DefinitionProblem> {
    match result {
        Ok(_) => panic!("expected definition problems"),
        Err(e) => e.problems,
    }
}

#[test]
fn every_graph_problem_is_reported_at_once() {
    let mut bad = JobDefinition::builder("bad");
    let a = bad.add(&source("a"));
    bad.node(&source("a")).add(); // duplicate alias
    bad.node(&add_one()).alias("no_input").add(); // unconnected input
    bad.node(&add_one())
        .alias("bad_output")
        .input("x", a.output("nope"))
        .add();
    bad.node(&add_one())
        .alias("bad_node")
        .input("x", OutputRef::new("ghost", "result"))
        .add();
    bad.node(&add_one())
        .alias("bad_input")
        .input("x", a.output("result"))
        .input("y", a.output("result"))
        .add();
    bad.node(&add_one())
        .alias("two_sources")
        .input("x", a.output("result"))
        .input("x", a.output("result"))
        .add();
    let text = OpDefinition::builder("text")
        .output::<String>("result")
        .compute(|_, _| async { Ok(String::new()) });
    let t = bad.add(&text);
    bad.node(&add_one())
        .alias("typed")
        .input("x", t.output("result"))
        .add();
    let needs_db = OpDefinition::builder("needs_db")
        .required_resource("db")
        .compute(|_, _| async { Ok(()) });
    bad.add(&needs_db);

    let mut cyclic = JobDefinition::builder("cyclic");
    cyclic
        .node(&add_one())
        .alias("p")
        .input("x", OutputRef::new("q", "result"))
        .add();
    cyclic
        .node(&add_one())
        .alias("q")
        .input("x", OutputRef::new("p", "result"))
        .add();

    let mut dup = JobDefinition::builder("cyclic");
    dup.add(&source("s"));

    let found = problems(
        Definitions::builder()
            .job(bad.build())
            .job(cyclic.build())
            .job(dup.build())
            .resource("r", ResourceDefinition::value(1))
            .resource("r", ResourceDefinition::value(2))
            .build(),
    );
    let has = |pred: &dyn Fn(&DefinitionProblem) -> bool| found.iter().any(pred);
    use DefinitionProblem as P;
    assert!(has(
        &|p| matches!(p, P::DuplicateNode { job, node } if job == "bad" && node == "a")
    ));
    assert!(has(
        &|p| matches!(p, P::UnconnectedInput { node, input, .. } if node == "no_input" && input == "x")
    ));
    assert!(has(
        &|p| matches!(p, P::UnknownOutput { node, output, referenced_by, .. }
        if node == "a" && output == "nope" && referenced_by == "bad_output")
    ));
    assert!(has(
        &|p| matches!(p, P::UnknownNode { node, referenced_by, .. } if node == "ghost" && referenced_by == "bad_node")
    ));
    assert!(has(
        &|p| matches!(p, P::UnknownInput { node, input, .. } if node == "bad_input" && input == "y")
    ));
    assert!(has(
        &|p| matches!(p, P::MultipleSources { node, .. } if node == "two_sources")
    ));
    assert!(has(
        &|p| matches!(p, P::TypeMismatch { node, expected, found, .. }
        if node == "typed" && expected == "i64" && found.contains("String"))
    ));
    assert!(has(
        &|p| matches!(p, P::MissingResource { job, node, key } if job == "bad" && node == "needs_db" && key == "db")
    ));
    assert!(has(
        &|p| matches!(p, P::Cycle { job, nodes } if job == "cyclic" && nodes.len() == 3)
    ));
    assert!(has(
        &|p| matches!(p, P::DuplicateJob { job } if job == "cyclic")
    ));
    assert!(has(
        &|p| matches!(p, P::DuplicateResource { key } if key == "r")
    ));

    // The rendered error lists every problem, one per line, each naming its job.
    let err = DefinitionError {
        problems: found.clone(),
    };
    let rendered = err.to_string();
    assert_eq!(rendered.lines().count(), found.len() + 1, "{rendered}");
    assert!(
        rendered.contains("job \"cyclic\" has a cycle: "),
        "{rendered}"
    );
}

#[test]
fn bad_default_configs_are_definition_errors() {
    let mut job = JobDefinition::builder("billing")
        .default_run_config(json!({"ops": {"bill": {"config": {"target_date": 5}}}}));
    job.add(&configured("bill"));
    let found = problems(Definitions::builder().job(job.build()).build());
    assert!(
        matches!(&found[..], [DefinitionProblem::InvalidDefaultConfig { job, errors }]
            if job == "billing" && errors[0].full_path().to_string() == "root:ops:bill:config:target_date"),
        "{found:?}"
    );
}

#[test]
fn a_schedules_fixed_run_config_is_checked_at_load() {
    let mut job = JobDefinition::builder("billing");
    job.add(&configured("bill"));
    let schedule = |name: &str, config| {
        ScheduleDefinition::builder(name, "billing", "0 6 * * *")
            .run_config(config)
            .build()
    };
    let found = problems(
        Definitions::builder()
            .job(job.build())
            .schedules([
                schedule(
                    "good",
                    json!({"ops": {"bill": {"config": {"target_date": "2026-12-01"}}}}),
                ),
                schedule(
                    "bad",
                    json!({"ops": {"bill": {"config": {"target_date": 5}}}}),
                ),
            ])
            .build(),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    let message = found[0].to_string();
    assert!(
        message.starts_with("schedule \"bad\": its run config for job \"billing\" is invalid")
            && message.contains("target_date"),
        "{message}"
    );
}

/// A provider's part of a location: one job, and optionally a schedule of it.
fn provider(job_name: &str, with_schedule: bool) -> DefinitionsBuilder {
    let mut job = JobDefinition::builder(job_name);
    job.add(&source("extract"));
    let defs = Definitions::builder().job(job.build());
    if with_schedule {
        defs.schedule(
            ScheduleDefinition::builder(format!("{job_name}_daily"), job_name, "0 6 * * *").build(),
        )
    } else {
        defs
    }
}

#[test]
fn providers_merge_and_every_clash_is_named() {
    let merged = Definitions::builder()
        .include(provider("gocardless_sync", true))
        .include(provider("warehouse_load", false))
        .build()
        .unwrap();
    let jobs: Vec<&str> = merged.jobs().map(|j| j.name()).collect();
    assert!(
        jobs.contains(&"gocardless_sync") && jobs.contains(&"warehouse_load"),
        "{jobs:?}"
    );
    assert!(merged.schedule("gocardless_sync_daily").is_some());

    // The same job and the same resource from two providers, and two IO managers.
    let clashing = |p: DefinitionsBuilder| {
        p.resource("api", ResourceDefinition::value(1_u8))
            .io_manager(IoManagerDefinition::fs())
    };
    let found = problems(
        Definitions::builder()
            .include(clashing(provider("sync", true)))
            .include(clashing(provider("sync", true)))
            .build(),
    );
    let messages: Vec<String> = found.iter().map(ToString::to_string).collect();
    for expected in [
        "job \"sync\"",
        "resource key \"api\"",
        "sync_daily",
        "IO manager",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "no problem names {expected}: {messages:?}"
        );
    }
}

fn billing_defs() -> Definitions {
    let mut job = JobDefinition::builder("billing");
    job.add(&configured("bill_storage_credits"));
    job.add(&configured("bill_compute"));
    let limited = OpDefinition::builder("limited")
        .config::<LimitConfig>()
        .compute(|_, _| async { Ok(()) });
    job.add(&limited);
    job.add(&source("plain"));
    Definitions::builder().job(job.build()).build().unwrap()
}

fn resolve(
    defs: &Definitions,
    config: serde_json::Value,
) -> Result<run_config::ResolvedRunConfig, RunConfigError> {
    run_config::resolve(defs, defs.job("billing").unwrap(), &config)
}

fn paths(err: &RunConfigError) -> Vec<(String, ConfigErrorReason)> {
    let mut v: Vec<_> = err
        .errors
        .iter()
        .map(|e| (e.full_path().to_string(), e.reason))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn run_config_errors_have_paths_and_reasons() {
    let defs = billing_defs();
    let err = resolve(
        &defs,
        json!({
            "ops": {
                "bill_storage_credits": {"config": {"target_date": 20240101, "bogus": 1}},
                "bill_compute": {"config": {}},
                "limited": {"config": {"limit": 300}},
                "plain": {"config": {"x": 1}},
                "nonexistent": {"config": {}}
            },
            "resources": {"db": {"config": {}}},
            "execution": {"config": {"max_concurrent": 0}},
            "loggers": {}
        }),
    )
    .unwrap_err();
    use ConfigErrorReason::*;
    assert_eq!(
        paths(&err),
        vec![
            (
                "root:execution:config:max_concurrent".into(),
                RuntimeTypeMismatch
            ),
            ("root:loggers".into(), FieldNotDefined),
            (
                "root:ops:bill_compute:config:target_date".into(),
                MissingRequiredField
            ),
            (
                "root:ops:bill_storage_credits:config:bogus".into(),
                FieldNotDefined
            ),
            (
                "root:ops:bill_storage_credits:config:target_date".into(),
                RuntimeTypeMismatch
            ),
            ("root:ops:limited:config".into(), RuntimeTypeMismatch),
            ("root:ops:nonexistent".into(), FieldNotDefined),
            ("root:ops:plain:config".into(), FieldNotDefined),
            ("root:resources:db".into(), FieldNotDefined),
        ]
    );
    // Dagster-style messages name the entry and the path of the object that holds it.
    let missing = err
        .errors
        .iter()
        .find(|e| e.reason == MissingRequiredField)
        .unwrap();
    assert_eq!(missing.path.to_string(), "root:ops:bill_compute:config");
    assert!(
        missing.message.contains("\"target_date\""),
        "{}",
        missing.message
    );
    assert!(
        err.to_string()
            .starts_with("run config for job \"billing\" is invalid (9 errors)")
    );
}

#[test]
fn missing_op_config_is_reported_per_op() {
    let defs = billing_defs();
    let err = resolve(&defs, json!({})).unwrap_err();
    use ConfigErrorReason::*;
    assert_eq!(
        paths(&err),
        vec![
            ("root:ops:bill_compute:config".into(), MissingRequiredField),
            (
                "root:ops:bill_storage_credits:config".into(),
                MissingRequiredField
            ),
            ("root:ops:limited:config".into(), MissingRequiredField),
        ]
    );
}

#[test]
fn star_config_applies_to_every_op_that_accepts_it() {
    let defs = billing_defs();
    let ok = resolve(
        &defs,
        json!({"ops": {
            "*": {"config": {"target_date": "2024-01-01"}},
            "bill_compute": {"config": {"target_date": "2024-02-01", "dry_run": true}},
            "limited": {"config": {"limit": 3}}
        }}),
    )
    .unwrap();
    assert_eq!(
        ok.op_configs["bill_storage_credits"],
        json!({"target_date": "2024-01-01"})
    );
    // An op's own entry wins over "*".
    assert_eq!(ok.op_configs["bill_compute"]["target_date"], "2024-02-01");
    assert_eq!(ok.op_configs["limited"], json!({"limit": 3}));
    assert!(!ok.op_configs.contains_key("plain"));

    // An op that needs config and cannot take "*" is told why.
    let err = resolve(
        &defs,
        json!({"ops": {"*": {"config": {"target_date": "2024-01-01"}}}}),
    )
    .unwrap_err();
    assert!(
        err.errors.iter().any(|e| e
            .message
            .contains("op \"limited\" cannot take the \"*\" config")
            && e.path.to_string() == "root:ops:*:config"),
        "{err}"
    );

    // "*" that no op accepts is an error, not silently ignored.
    let err = resolve(
        &defs,
        json!({"ops": {
            "*": {"config": {"typo_date": "x"}},
            "bill_compute": {"config": {"target_date": "d"}},
            "bill_storage_credits": {"config": {"target_date": "d"}},
            "limited": {"config": {"limit": 1}}
        }}),
    )
    .unwrap_err();
    assert_eq!(
        paths(&err),
        vec![(
            "root:ops:*:config".into(),
            ConfigErrorReason::FieldNotDefined
        )]
    );
}

#[test]
fn resources_and_execution_config_resolve() {
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct DbConfig {
        url: String,
    }
    struct Db;
    impl ConfigurableResource for Db {
        type Config = DbConfig;
        async fn setup(_: DbConfig, _: &InitResourceContext) -> Result<Self, ResourceError> {
            Ok(Db)
        }
    }
    let op = OpDefinition::builder("query")
        .required_resource("db")
        .compute(|_, _| async { Ok(()) });
    let mut job = JobDefinition::builder("billing");
    job.add(&op);
    let defs = Definitions::builder()
        .job(job.build())
        .resource("db", ResourceDefinition::new::<Db>())
        .build()
        .unwrap();
    let err = resolve(&defs, json!({})).unwrap_err();
    assert_eq!(
        paths(&err),
        vec![(
            "root:resources:db:config".into(),
            ConfigErrorReason::MissingRequiredField
        )]
    );
    let ok = resolve(
        &defs,
        json!({"resources": {"db": {"config": {"url": "postgres://x"}}}, "execution": {"config": {"max_concurrent": 3}}}),
    )
    .unwrap();
    assert_eq!(ok.resources[0].0, "db");
    assert_eq!(ok.max_concurrent, Some(3));
}

#[test]
fn snapshots_round_trip_and_validate_like_live_definitions() {
    use sluice_core::run_config::ConfigShape;
    use sluice_core::snapshot::LocationSnapshot;
    let defs = billing_defs();
    let snapshot = defs.snapshot("billing_location");
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: LocationSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    let job = back.job("billing").unwrap();
    assert_eq!(job.nodes.len(), 4);
    assert_eq!(
        job.op("limited").unwrap().config_schema,
        defs.job("billing")
            .unwrap()
            .node("limited")
            .unwrap()
            .op
            .config_schema()
            .cloned()
    );

    let live = ConfigShape::of_job(&defs, defs.job("billing").unwrap());
    let from_snapshot = ConfigShape::of_snapshot(&back, job);
    for config in [
        json!({}),
        json!({"ops": {"*": {"config": {"target_date": "d"}}, "limited": {"config": {"limit": 2}}}}),
        json!({"ops": {"bill_compute": {"config": {"target_date": 1}}, "ghost": {}}, "loggers": {}}),
    ] {
        assert_eq!(
            live.validate(&config),
            from_snapshot.validate(&config),
            "{config}"
        );
    }
    // Without the Rust type at hand, a snapshot cannot see range errors; live definitions do.
    let over = json!({"ops": {"*": {"config": {"target_date": "d"}}, "limited": {"config": {"limit": 300}}}});
    assert!(live.validate(&over).is_err());
    assert!(from_snapshot.validate(&over).is_ok());

    // The document schema names every op and the execution section.
    let ConfigType::Shape { fields, .. } = live.schema() else {
        panic!("root is a shape")
    };
    let ConfigType::Shape { fields: ops, .. } = &fields["ops"].ty else {
        panic!("ops is a shape")
    };
    assert_eq!(
        ops.keys().collect::<Vec<_>>(),
        ["bill_compute", "bill_storage_credits", "limited", "plain"]
    );
    assert!(fields["ops"].required);
    assert!(!fields["execution"].required);
}

#[test]
fn schedules_and_sensors_are_checked_with_everything_else() {
    let mut job = JobDefinition::builder("billing");
    job.add(&source("one"));
    let sensor = |name: &str| {
        SensorDefinition::builder(name)
            .job("billing")
            .evaluation_fn(|_| async { Ok(SensorResult::skip("nothing")) })
    };
    let err = Definitions::builder()
        .job(job.build())
        .schedule(ScheduleDefinition::builder("nightly", "billing", "0 0 * *").build())
        .schedule(
            ScheduleDefinition::builder("berlin", "billing", "@daily")
                .execution_timezone("Europe/Berlinn")
                .build(),
        )
        .schedule(ScheduleDefinition::builder("lost", "no_such_job", "@hourly").build())
        .sensor(sensor("nightly").build())
        .sensor(SensorDefinition::builder("empty").job("billing").build())
        .sensor(
            sensor("eager")
                .minimum_interval(std::time::Duration::ZERO)
                .build(),
        )
        .sensor(sensor("wrong_job").job("nope").build())
        .build()
        .unwrap_err();
    let text = err.to_string();
    for expected in [
        "schedule \"nightly\": invalid cron expression \"0 0 * *\"",
        "schedule \"berlin\": unknown timezone \"Europe/Berlinn\"",
        "schedule \"lost\" targets job \"no_such_job\", which is not defined",
        "\"nightly\" is defined more than once",
        "sensor \"empty\" has no evaluation function",
        "sensor \"eager\": minimum_interval must be at least one second",
        "sensor \"wrong_job\" targets job \"nope\"",
    ] {
        assert!(text.contains(expected), "missing «{expected}» in:\n{text}");
    }
    assert_eq!(err.problems.len(), 7, "{text}");
}
