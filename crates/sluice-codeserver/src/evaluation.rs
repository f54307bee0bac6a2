//! Schedule and sensor evaluation in the code server, the only process that runs user
//! code. Each evaluation runs as its own task under a time limit; an error, a panic or a
//! timeout becomes [`Evaluation::Failed`], and so does a run request that names an
//! unknown job or carries invalid config: the daemon records a failed tick and goes on.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::Definitions;
use sluice_core::asset::{ASSET_JOB_NAME, AssetKey};
use sluice_core::events::{ErrorInfo, timestamp_to_datetime};
use sluice_core::executor::human_ms;
use sluice_core::resource::{ResourceDefinition, Resources};
use sluice_core::run_config;
use sluice_core::run_request::{EvaluationError, TickOutcome};
use sluice_core::sensor::{SensorEvaluationContext, SensorInput};

use crate::protocol::{EvaluateSchedule, EvaluateSensor, Evaluation};

/// Evaluate the schedule `request` names; `None` when there is no such schedule.
pub async fn evaluate_schedule(
    defs: &Definitions,
    request: EvaluateSchedule,
) -> Option<Evaluation> {
    let schedule = defs.schedule(&request.schedule_name)?.clone();
    let what = format!("schedule \"{}\"", schedule.name());
    let job = schedule.job_name().to_owned();
    let time = timestamp_to_datetime(request.scheduled_time);
    let resources = defs.standalone_resources(schedule.required_resources());
    let outcome = guarded(&what, request.timeout_seconds, async move {
        with_resources(resources, |resources| {
            schedule.evaluate_with(time, resources)
        })
        .await
    })
    .await;
    let targets = Targets {
        jobs: std::slice::from_ref(&job),
        assets: None,
    };
    Some(finish(defs, &what, targets, outcome))
}

/// Evaluate the sensor `request` names; `None` when there is no such sensor.
pub async fn evaluate_sensor(defs: &Definitions, request: EvaluateSensor) -> Option<Evaluation> {
    let sensor = defs.sensor(&request.sensor_name)?.clone();
    let what = format!("sensor \"{}\"", sensor.name());
    let ctx = SensorEvaluationContext::new(
        sensor.name(),
        timestamp_to_datetime(request.evaluation_time),
    )
    .with_cursor(request.cursor)
    .with_last_tick(
        request.last_tick_time.map(timestamp_to_datetime),
        request.last_run_key,
    );
    let input = SensorInput {
        run_status_changes: request.run_status_changes,
        asset_events: request.asset_events,
    };
    let evaluated = sensor.clone();
    let resources = defs.standalone_resources(sensor.required_resources());
    let outcome = guarded(&what, request.timeout_seconds, async move {
        with_resources(resources, |resources| {
            evaluated.evaluate(ctx.with_resources(resources), input)
        })
        .await
    })
    .await;
    let targets = Targets {
        jobs: sensor.jobs(),
        assets: sensor.target_assets(),
    };
    Some(finish(defs, &what, targets, outcome))
}

/// Set up `wanted` for one evaluation, run `evaluate` with them, and tear them down,
/// whatever the evaluation's outcome.
async fn with_resources<Fut>(
    wanted: Vec<(String, ResourceDefinition, serde_json::Value)>,
    evaluate: impl FnOnce(Arc<Resources>) -> Fut,
) -> Result<TickOutcome, EvaluationError>
where
    Fut: Future<Output = Result<TickOutcome, EvaluationError>>,
{
    let resources = Resources::setup(wanted, None).await.map_err(|(key, e)| {
        EvaluationError::msg(format!("resource \"{key}\" could not be set up: {e}"))
    })?;
    let resources = Arc::new(resources);
    // Torn down however the evaluation ends: returned, failed, or aborted at its limit.
    let _teardown = TeardownOnDrop(Arc::clone(&resources));
    evaluate(resources).await
}

/// Tears the resources down, in a task of its own, when dropped.
struct TeardownOnDrop(Arc<Resources>);

impl Drop for TeardownOnDrop {
    fn drop(&mut self) {
        let resources = Arc::clone(&self.0);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for (key, e) in resources.teardown().await {
                    tracing::warn!(resource = %key, "teardown after an evaluation failed: {e}");
                }
            });
        }
    }
}

/// Run `evaluation` as a task with a time limit; its failures, panics and overruns as
/// an [`ErrorInfo`] naming `what`.
async fn guarded(
    what: &str,
    timeout_seconds: f64,
    evaluation: impl Future<Output = Result<TickOutcome, EvaluationError>> + Send + 'static,
) -> Result<TickOutcome, ErrorInfo> {
    let limit = Duration::try_from_secs_f64(timeout_seconds).unwrap_or(Duration::from_secs(60));
    let task = tokio::spawn(evaluation);
    let abort = task.abort_handle();
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(Ok(outcome))) => Ok(outcome),
        Ok(Ok(Err(error))) => Err(ErrorInfo::from_error("EvaluationError", &error)),
        Ok(Err(join)) if join.is_panic() => Err(ErrorInfo::from_panic(
            &format!("{what} panicked"),
            &*join.into_panic(),
        )),
        Ok(Err(_)) => Err(ErrorInfo::new(
            "Canceled",
            format!("the evaluation of {what} was canceled"),
        )),
        Err(_) => {
            abort.abort();
            Err(ErrorInfo::new(
                "Timeout",
                format!(
                    "{what} did not finish its evaluation within {}",
                    human_ms(limit.as_secs_f64() * 1000.0)
                ),
            ))
        }
    }
}

/// What a schedule or sensor may request runs of: jobs, or the assets of an asset
/// selection (in runs of the asset job). A sensor that targets neither may name any job.
#[derive(Clone, Copy)]
struct Targets<'a> {
    jobs: &'a [String],
    assets: Option<&'a [AssetKey]>,
}

/// Check every run request: it names (or defaults to) a job it may target that this
/// location defines, asks only for assets it may target, and its config is valid for
/// that job. The first bad request fails the whole evaluation, so that no part of a tick
/// is launched on a mistake.
fn finish(
    defs: &Definitions,
    what: &str,
    targets: Targets<'_>,
    outcome: Result<TickOutcome, ErrorInfo>,
) -> Evaluation {
    let invalid =
        |message: String| Evaluation::Failed(ErrorInfo::new("InvalidRunRequest", message));
    let jobs = targets.jobs;
    let mut outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return Evaluation::Failed(error),
    };
    for (index, request) in outcome.run_requests.iter_mut().enumerate() {
        let name = match &request.run_key {
            Some(key) => format!("run request {} (run key \"{key}\")", index + 1),
            None => format!("run request {}", index + 1),
        };
        let job_name = match (&request.job_name, jobs, targets.assets) {
            (Some(job), _, _) => job.clone(),
            (None, [only], _) => only.clone(),
            (None, [], Some(_)) => ASSET_JOB_NAME.to_owned(),
            (None, [], None) => {
                return invalid(format!(
                    "{what}: {name} names no job, and the {what} targets none"
                ));
            }
            (None, _, _) => {
                return invalid(format!(
                    "{what}: {name} names no job, and the {what} targets several ({})",
                    jobs.join(", ")
                ));
            }
        };
        if !jobs.is_empty() && !jobs.contains(&job_name) {
            return invalid(format!(
                "{what}: {name} is for job \"{job_name}\", which the {what} does not target ({})",
                jobs.join(", ")
            ));
        }
        if let Some(assets) = targets.assets {
            if job_name != ASSET_JOB_NAME {
                return invalid(format!(
                    "{what}: {name} is for job \"{job_name}\", but the {what} targets assets; \
                     leave the job out"
                ));
            }
            match &request.asset_selection {
                None => request.asset_selection = Some(assets.to_vec()),
                Some(asked) => {
                    if let Some(key) = asked.iter().find(|k| !assets.contains(k)) {
                        return invalid(format!(
                            "{what}: {name} asks for asset \"{key}\", which the {what}'s asset \
                             selection does not include"
                        ));
                    }
                }
            }
        }
        let Some(job) = defs.job(&job_name) else {
            return Evaluation::Failed(ErrorInfo::new(
                "JobNotFound",
                format!(
                    "{what}: {name} is for job \"{job_name}\", which this location does not define"
                ),
            ));
        };
        if let Err(e) = run_config::resolve(defs, job, &request.run_config) {
            return Evaluation::Failed(ErrorInfo::new(
                "RunConfigValidationInvalid",
                format!("{what}: {name} has invalid config for job \"{job_name}\": {e}"),
            ));
        }
        request.job_name = Some(job_name);
    }
    Evaluation::Evaluated(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::prelude::*;

    fn defs() -> Definitions {
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Limit {
            limit: u32,
        }
        let op = OpDefinition::builder("work")
            .config::<Limit>()
            .compute(|_, _| async { Ok(()) });
        let mut job = JobDefinition::builder("job");
        job.add(&op);
        let sensor =
            |name: &str, f: fn(SensorEvaluationContext) -> Result<TickOutcome, EvaluationError>| {
                SensorDefinition::builder(name)
                    .job("job")
                    .evaluation_fn(move |ctx| async move { f(ctx) })
                    .build()
            };
        let asset = |key: &str| AssetDefinition::builder(key).compute(|_, _| async { Ok(()) });
        let for_assets = |name: &str, selection: &str, request: RunRequest| {
            SensorDefinition::builder(name)
                .asset_selection(AssetSelection::parse(selection).unwrap())
                .evaluation_fn(move |_| {
                    let request = request.clone();
                    async move { Ok(SensorResult::requests(vec![request])) }
                })
                .build()
        };
        let key = |k: &str| AssetKey::parse(k).unwrap();
        Definitions::builder()
            .asset(asset("raw"))
            .asset(asset("staging"))
            .sensor(for_assets(
                "assets_all",
                "raw or staging",
                RunRequest::new(),
            ))
            .sensor(for_assets(
                "assets_one",
                "raw or staging",
                RunRequest::new().asset_selection([key("staging")]),
            ))
            .sensor(for_assets(
                "assets_outside",
                "raw",
                RunRequest::new().asset_selection([key("staging")]),
            ))
            .sensor(for_assets(
                "assets_job",
                "raw",
                RunRequest::new().job("job"),
            ))
            .job(job.build())
            .sensor(sensor("good", |ctx| {
                Ok(SensorResult::requests(vec![
                    RunRequest::new()
                        .run_key("k")
                        .run_config(json!({"ops": {"work": {"config": {"limit": 3}}}})),
                ])
                .cursor(format!("{}+1", ctx.cursor().unwrap_or("0"))))
            }))
            .sensor(sensor("bad_config", |_| {
                Ok(SensorResult::requests(vec![
                    RunRequest::new()
                        .run_key("k")
                        .run_config(json!({"ops": {"work": {"config": {"limit": "many"}}}})),
                ]))
            }))
            .sensor(sensor("wrong_job", |_| {
                Ok(SensorResult::requests(vec![
                    RunRequest::new().job("elsewhere"),
                ]))
            }))
            .sensor(sensor("fails", |_| {
                Err(EvaluationError::msg("the API said 503"))
            }))
            .sensor(sensor("panics", |_| panic!("index out of bounds")))
            .sensor(
                SensorDefinition::builder("slow")
                    .job("job")
                    .evaluation_fn(|_| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        Ok(SensorResult::skip("late"))
                    })
                    .build(),
            )
            .build()
            .unwrap()
    }

    fn request(name: &str, timeout_seconds: f64) -> EvaluateSensor {
        EvaluateSensor {
            sensor_name: name.into(),
            evaluation_time: 1_767_225_600.0,
            cursor: Some("7".into()),
            last_tick_time: None,
            last_run_key: None,
            run_status_changes: vec![],
            asset_events: vec![],
            timeout_seconds,
        }
    }

    fn failure(evaluation: Option<Evaluation>) -> ErrorInfo {
        match evaluation {
            Some(Evaluation::Failed(e)) => e,
            other => panic!("expected a failed evaluation, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_good_evaluation_names_its_job_and_moves_the_cursor() {
        let defs = defs();
        match evaluate_sensor(&defs, request("good", 5.0)).await {
            Some(Evaluation::Evaluated(outcome)) => {
                assert_eq!(outcome.cursor.as_deref(), Some("7+1"));
                assert_eq!(outcome.run_requests[0].job_name.as_deref(), Some("job"));
            }
            other => panic!("{other:?}"),
        }
        assert!(evaluate_sensor(&defs, request("nope", 5.0)).await.is_none());
    }

    #[tokio::test]
    async fn a_sensor_that_targets_assets_requests_runs_of_the_asset_job() {
        async fn selection(defs: &Definitions, name: &str) -> Vec<String> {
            match evaluate_sensor(defs, request(name, 5.0)).await {
                Some(Evaluation::Evaluated(outcome)) => {
                    let request = &outcome.run_requests[0];
                    assert_eq!(request.job_name.as_deref(), Some(ASSET_JOB_NAME));
                    let keys = request.asset_selection.as_ref().unwrap();
                    keys.iter().map(ToString::to_string).collect()
                }
                other => panic!("{other:?}"),
            }
        }
        let defs = defs();
        assert_eq!(selection(&defs, "assets_all").await, ["raw", "staging"]);
        assert_eq!(selection(&defs, "assets_one").await, ["staging"]);
        let e = failure(evaluate_sensor(&defs, request("assets_outside", 5.0)).await);
        assert_eq!(e.kind, "InvalidRunRequest");
        assert!(
            e.message.contains("asks for asset \"staging\""),
            "{}",
            e.message
        );
        let e = failure(evaluate_sensor(&defs, request("assets_job", 5.0)).await);
        assert!(e.message.contains("targets assets"), "{}", e.message);
    }

    #[tokio::test]
    async fn every_kind_of_failure_is_a_failed_evaluation_that_says_why() {
        let defs = defs();
        let e = failure(evaluate_sensor(&defs, request("bad_config", 5.0)).await);
        assert_eq!(e.kind, "RunConfigValidationInvalid");
        assert!(
            e.message.contains("run request 1 (run key \"k\")"),
            "{}",
            e.message
        );
        assert!(e.message.contains("limit"), "{}", e.message);
        let e = failure(evaluate_sensor(&defs, request("wrong_job", 5.0)).await);
        assert!(e.message.contains("\"elsewhere\""), "{}", e.message);
        let e = failure(evaluate_sensor(&defs, request("fails", 5.0)).await);
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("EvaluationError", "the API said 503")
        );
        let e = failure(evaluate_sensor(&defs, request("panics", 5.0)).await);
        assert_eq!(e.kind, "Panic");
        assert!(e.message.contains("index out of bounds"), "{}", e.message);
        let started = std::time::Instant::now();
        let e = failure(evaluate_sensor(&defs, request("slow", 0.2)).await);
        assert_eq!(e.kind, "Timeout");
        assert!(e.message.contains("sensor \"slow\""), "{}", e.message);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A resource that records its setups and teardowns.
    mod counted {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};

        pub(super) static TEARDOWNS: AtomicUsize = AtomicUsize::new(0);

        #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub(super) struct InboxConfig {
            pub folder: String,
        }

        pub(super) struct Inbox {
            pub folder: String,
        }

        impl ConfigurableResource for Inbox {
            type Config = InboxConfig;
            async fn setup(
                config: InboxConfig,
                ctx: &InitResourceContext,
            ) -> Result<Self, ResourceError> {
                assert!(
                    ctx.run_id.is_none(),
                    "evaluations set resources up outside runs"
                );
                if config.folder.is_empty() {
                    return Err(ResourceError::msg("folder must not be empty"));
                }
                Ok(Inbox {
                    folder: config.folder,
                })
            }
            async fn teardown(&self) -> Result<(), ResourceError> {
                TEARDOWNS.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn sensors_and_schedules_use_their_resources_set_up_per_evaluation() {
        use counted::{Inbox, InboxConfig, TEARDOWNS};
        use std::sync::atomic::Ordering;

        let op = OpDefinition::builder("work").compute(|_, _| async { Ok(()) });
        let mut job = JobDefinition::builder("job");
        job.add(&op);
        let defs = Definitions::builder()
            .job(job.build())
            .resource(
                "inbox",
                ResourceDefinition::configured::<Inbox>(InboxConfig {
                    folder: "manifests".into(),
                }),
            )
            .resource(
                "broken",
                ResourceDefinition::configured::<Inbox>(InboxConfig {
                    folder: String::new(),
                }),
            )
            .sensor(
                SensorDefinition::builder("manifests")
                    .job("job")
                    .required_resource("inbox")
                    .evaluation_fn(|ctx| async move {
                        let inbox = ctx.resource::<Inbox>("inbox")?;
                        Ok(SensorResult::requests(vec![
                            RunRequest::new().run_key(inbox.folder.clone()),
                        ]))
                    })
                    .build(),
            )
            .sensor(
                SensorDefinition::builder("undeclared")
                    .job("job")
                    .evaluation_fn(|ctx| async move {
                        ctx.resource::<Inbox>("inbox")?;
                        Ok(SensorResult::skip("unreachable"))
                    })
                    .build(),
            )
            .sensor(
                SensorDefinition::builder("broken")
                    .job("job")
                    .required_resource("broken")
                    .evaluation_fn(|_| async { Ok(SensorResult::skip("unreachable")) })
                    .build(),
            )
            .schedule(
                ScheduleDefinition::builder("nightly", "job", "0 2 * * *")
                    .required_resource("inbox")
                    .execution_fn(|ctx| async move {
                        let inbox = ctx.resource::<Inbox>("inbox")?;
                        Ok(TickOutcome {
                            run_requests: vec![
                                RunRequest::new().tag("folder", inbox.folder.clone()),
                            ],
                            ..TickOutcome::default()
                        })
                    })
                    .build(),
            )
            .build()
            .unwrap();

        let before = TEARDOWNS.load(Ordering::SeqCst);
        match evaluate_sensor(&defs, request("manifests", 5.0)).await {
            Some(Evaluation::Evaluated(outcome)) => {
                assert_eq!(
                    outcome.run_requests[0].run_key.as_deref(),
                    Some("manifests")
                );
            }
            other => panic!("{other:?}"),
        }
        let schedule = EvaluateSchedule {
            schedule_name: "nightly".into(),
            scheduled_time: 1_767_225_600.0,
            timeout_seconds: 5.0,
        };
        match evaluate_schedule(&defs, schedule).await {
            Some(Evaluation::Evaluated(outcome)) => {
                assert_eq!(
                    outcome.run_requests[0]
                        .tags
                        .get("folder")
                        .map(String::as_str),
                    Some("manifests")
                );
            }
            other => panic!("{other:?}"),
        }
        // Teardown runs in a task of its own once the evaluation is done.
        for _ in 0..100 {
            if TEARDOWNS.load(Ordering::SeqCst) >= before + 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            TEARDOWNS.load(Ordering::SeqCst) >= before + 2,
            "torn down after each evaluation"
        );

        let e = failure(evaluate_sensor(&defs, request("undeclared", 5.0)).await);
        assert!(e.message.contains("declare it"), "{}", e.message);
        let e = failure(evaluate_sensor(&defs, request("broken", 5.0)).await);
        assert_eq!(
            e.message,
            "resource \"broken\" could not be set up: folder must not be empty"
        );

        // A sensor that requires an unbound resource does not load.
        let err = Definitions::builder()
            .sensor(
                SensorDefinition::builder("orphan")
                    .required_resource("nowhere")
                    .evaluation_fn(|_| async { Ok(SensorResult::skip("-")) })
                    .build(),
            )
            .build()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("sensor \"orphan\" requires resource \"nowhere\", which is not bound"),
            "{err}"
        );
    }
}
