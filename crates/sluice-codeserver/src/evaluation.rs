//! Schedule and sensor evaluation in the code server, the only process that runs user
//! code. Each evaluation runs as its own task under a time limit; an error, a panic or a
//! timeout becomes [`Evaluation::Failed`], and so does a run request that names an
//! unknown job or carries invalid config: the daemon records a failed tick and goes on.

use std::time::Duration;

use sluice_core::Definitions;
use sluice_core::events::{ErrorInfo, timestamp_to_datetime};
use sluice_core::executor::human_ms;
use sluice_core::run_config;
use sluice_core::run_request::{EvaluationError, TickOutcome};
use sluice_core::sensor::SensorEvaluationContext;

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
    let outcome = guarded(&what, request.timeout_seconds, async move {
        schedule.evaluate(time).await
    })
    .await;
    Some(finish(defs, &what, std::slice::from_ref(&job), outcome))
}

/// Evaluate the sensor `request` names; `None` when there is no such sensor.
pub async fn evaluate_sensor(defs: &Definitions, request: EvaluateSensor) -> Option<Evaluation> {
    let sensor = defs.sensor(&request.sensor_name)?.clone();
    let what = format!("sensor \"{}\"", sensor.name());
    let jobs = sensor.jobs().to_vec();
    let ctx = SensorEvaluationContext::new(
        sensor.name(),
        timestamp_to_datetime(request.evaluation_time),
    )
    .with_cursor(request.cursor)
    .with_last_tick(
        request.last_tick_time.map(timestamp_to_datetime),
        request.last_run_key,
    );
    let changes = request.run_status_changes;
    let outcome = guarded(&what, request.timeout_seconds, async move {
        sensor.evaluate(ctx, changes).await
    })
    .await;
    Some(finish(defs, &what, &jobs, outcome))
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

/// Check every run request: it names (or defaults to) one of `jobs` that this location
/// defines, and its config is valid for that job. The first bad request fails the whole
/// evaluation, so that no part of a tick is launched on a mistake.
fn finish(
    defs: &Definitions,
    what: &str,
    jobs: &[String],
    outcome: Result<TickOutcome, ErrorInfo>,
) -> Evaluation {
    let mut outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return Evaluation::Failed(error),
    };
    for (index, request) in outcome.run_requests.iter_mut().enumerate() {
        let name = match &request.run_key {
            Some(key) => format!("run request {} (run key \"{key}\")", index + 1),
            None => format!("run request {}", index + 1),
        };
        let job_name = match (&request.job_name, jobs) {
            (Some(job), _) => job.clone(),
            (None, [only]) => only.clone(),
            (None, []) => {
                return Evaluation::Failed(ErrorInfo::new(
                    "InvalidRunRequest",
                    format!("{what}: {name} names no job, and the {what} targets none"),
                ));
            }
            (None, _) => {
                return Evaluation::Failed(ErrorInfo::new(
                    "InvalidRunRequest",
                    format!(
                        "{what}: {name} names no job, and the {what} targets several ({})",
                        jobs.join(", ")
                    ),
                ));
            }
        };
        if !jobs.is_empty() && !jobs.contains(&job_name) {
            return Evaluation::Failed(ErrorInfo::new(
                "InvalidRunRequest",
                format!(
                    "{what}: {name} is for job \"{job_name}\", which the {what} does not target ({})",
                    jobs.join(", ")
                ),
            ));
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
        Definitions::builder()
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
}
