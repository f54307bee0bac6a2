//! Schedules: a job launched at the times a cron expression names, in a timezone.
//!
//! ```
//! use sluice_core::prelude::*;
//! use serde_json::json;
//!
//! let billing = ScheduleDefinition::builder("monthly_billing", "billing_job", "@monthly")
//!     .execution_timezone("Europe/Berlin")
//!     .default_status(DefaultScheduleStatus::Running)
//!     .run_config_fn(|ctx| json!({"ops": {"bill": {"config": {
//!         "period": ctx.scheduled_execution_time().format("%Y-%m").to_string()
//!     }}}}))
//!     .build();
//! assert_eq!(billing.cron_schedule(), "@monthly");
//! ```
//!
//! Times are evaluated the way Vixie cron (and Dagster) does across daylight saving
//! changes: a time the clocks skip runs once, at the first minute after the jump; a time
//! the clocks repeat runs once, at its first occurrence; an hourly expression keeps
//! firing every real hour.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::resource::Resources;

use crate::run_request::{DefaultStatus, EvaluationError, RunRequest, SkipReason, TickOutcome};

/// A cron expression or timezone that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The expression does not parse.
    #[error(
        "invalid cron expression \"{expression}\": {reason}; expected 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly"
    )]
    Expression {
        /// The expression.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The expression parses but names no real date (`0 0 30 2 *`).
    #[error("cron expression \"{expression}\" never matches a real date")]
    NeverMatches {
        /// The expression.
        expression: String,
    },
    /// The timezone is not an IANA name.
    #[error(
        "unknown timezone \"{timezone}\"; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
    )]
    Timezone {
        /// The timezone as given.
        timezone: String,
    },
}

/// A parsed cron expression in a timezone: the times a schedule fires.
#[derive(Clone)]
pub struct CronSchedule {
    expression: String,
    timezone: Tz,
    cron: croner::Cron,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CronSchedule({:?} in {})",
            self.expression, self.timezone
        )
    }
}

impl CronSchedule {
    /// Parse a 5-field expression (or an `@` alias), evaluated in the IANA `timezone`
    /// (UTC when `None`).
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Self, CronError> {
        let timezone = match timezone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| CronError::Timezone {
                timezone: name.to_owned(),
            })?,
        };
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser
            .parse(expression.trim())
            .map_err(|e| CronError::Expression {
                expression: expression.to_owned(),
                reason: describe(&e),
            })?;
        let schedule = Self {
            expression: expression.to_owned(),
            timezone,
            cron,
        };
        if schedule.next_after(DateTime::UNIX_EPOCH).is_none() {
            return Err(CronError::NeverMatches {
                expression: expression.to_owned(),
            });
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The timezone the expression is read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first time strictly after `after` that the schedule fires.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.ticks_after(after).next()
    }

    /// The times the schedule fires after `after`, in order.
    pub fn ticks_after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + use<> {
        // croner's iterator yields both passes of a repeated wall-clock hour when it starts
        // before the clocks go back, but a search that starts inside the first pass finds
        // only later wall-clock times. Near a change of offset, start early and skip.
        let window = chrono::Duration::hours(3);
        let offset =
            |t: DateTime<Utc>| self.timezone.offset_from_utc_datetime(&t.naive_utc()).fix();
        let start = if offset(after - window) == offset(after + window) {
            after
        } else {
            after - window
        };
        self.cron
            .clone()
            .iter_after(start.with_timezone(&self.timezone))
            .map(|t| t.with_timezone(&Utc))
            .skip_while(move |t| *t <= after)
    }

    /// The times the schedule fires in `(after, until]`, the most recent `limit` of them.
    pub fn due_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        // Walk back from `until` first, so that a long downtime costs `limit` steps rather
        // than one per missed tick; then list forwards, which sees repeated hours exactly.
        let mut from = until;
        for _ in 0..limit {
            match self
                .cron
                .find_previous_occurrence(&from.with_timezone(&self.timezone), true)
            {
                Ok(t) if t.with_timezone(&Utc) > after => {
                    from = t.with_timezone(&Utc) - chrono::Duration::seconds(1);
                }
                _ => break,
            }
        }
        let mut due: Vec<DateTime<Utc>> = self
            .ticks_after(from.max(after))
            .take_while(|t| *t <= until)
            .collect();
        let extra = due.len().saturating_sub(limit);
        due.drain(..extra);
        due
    }

    /// `t` as a wall-clock time in the schedule's timezone.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.timezone)
    }
}

fn describe(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    match e {
        E::EmptyPattern => "it is empty".to_owned(),
        E::InvalidPattern(m) => m.trim_end_matches('.').to_owned(),
        E::ComponentError(m) => m.trim_end_matches('.').to_lowercase(),
        other => other.to_string(),
    }
}

/// What a schedule's functions see: the time it is evaluated for.
#[derive(Debug, Clone)]
pub struct ScheduleEvaluationContext {
    schedule_name: String,
    scheduled_execution_time: DateTime<Tz>,
    resources: Arc<Resources>,
}

impl ScheduleEvaluationContext {
    /// The context of an evaluation of `schedule_name` for the tick at
    /// `scheduled_execution_time`, with no resources.
    pub fn new(schedule_name: impl Into<String>, scheduled_execution_time: DateTime<Tz>) -> Self {
        Self {
            schedule_name: schedule_name.into(),
            scheduled_execution_time,
            resources: Arc::default(),
        }
    }

    /// The resource bound to `key` (declared with
    /// [`required_resource`](ScheduleBuilder::required_resource)), as type `R`.
    pub fn resource<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, EvaluationError> {
        self.resources.for_evaluation(key)
    }

    /// The schedule's name.
    pub fn schedule_name(&self) -> &str {
        &self.schedule_name
    }

    /// The tick's time, in the schedule's execution timezone.
    pub fn scheduled_execution_time(&self) -> DateTime<Tz> {
        self.scheduled_execution_time
    }
}

type RunConfigFn = Arc<dyn Fn(&ScheduleEvaluationContext) -> Value + Send + Sync>;
type TagsFn = Arc<dyn Fn(&ScheduleEvaluationContext) -> BTreeMap<String, String> + Send + Sync>;
type ShouldExecuteFn = Arc<dyn Fn(&ScheduleEvaluationContext) -> bool + Send + Sync>;
type ExecutionFn = Arc<
    dyn Fn(ScheduleEvaluationContext) -> BoxFuture<'static, Result<TickOutcome, EvaluationError>>
        + Send
        + Sync,
>;

/// A job on a cron schedule (Dagster's `ScheduleDefinition`).
#[derive(Clone)]
pub struct ScheduleDefinition {
    name: String,
    job_name: String,
    cron_schedule: String,
    execution_timezone: Option<String>,
    description: Option<String>,
    default_status: DefaultStatus,
    run_config: Option<Value>,
    tags: BTreeMap<String, String>,
    run_config_fn: Option<RunConfigFn>,
    tags_fn: Option<TagsFn>,
    should_execute: Option<ShouldExecuteFn>,
    execution_fn: Option<ExecutionFn>,
    /// Resources each evaluation sets up (with their standalone config).
    required_resources: Vec<String>,
}

impl fmt::Debug for ScheduleDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleDefinition")
            .field("name", &self.name)
            .field("job_name", &self.job_name)
            .field("cron_schedule", &self.cron_schedule)
            .field("execution_timezone", &self.execution_timezone)
            .finish_non_exhaustive()
    }
}

impl ScheduleDefinition {
    /// A schedule named `name` that runs `job_name` at the times `cron_schedule` names.
    pub fn builder(
        name: impl Into<String>,
        job_name: impl Into<String>,
        cron_schedule: impl Into<String>,
    ) -> ScheduleBuilder {
        ScheduleBuilder(ScheduleDefinition {
            name: name.into(),
            job_name: job_name.into(),
            cron_schedule: cron_schedule.into(),
            execution_timezone: None,
            description: None,
            default_status: DefaultStatus::Stopped,
            run_config: None,
            tags: BTreeMap::new(),
            run_config_fn: None,
            tags_fn: None,
            should_execute: None,
            execution_fn: None,
            required_resources: Vec::new(),
        })
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run config every run gets, when it is fixed (set with `.run_config(...)`,
    /// and neither computed per tick nor left to an execution function).
    pub fn static_run_config(&self) -> Option<&Value> {
        if self.run_config_fn.is_some() || self.execution_fn.is_some() {
            return None;
        }
        self.run_config.as_ref()
    }

    /// The job it requests runs of.
    pub fn job_name(&self) -> &str {
        &self.job_name
    }

    /// The cron expression as written.
    pub fn cron_schedule(&self) -> &str {
        &self.cron_schedule
    }

    /// The IANA timezone, when one was set (UTC otherwise).
    pub fn execution_timezone(&self) -> Option<&str> {
        self.execution_timezone.as_deref()
    }

    /// The schedule's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The resource keys each evaluation sets up.
    pub fn required_resources(&self) -> &[String] {
        &self.required_resources
    }

    /// Whether the schedule runs before anyone starts or stops it.
    pub fn default_status(&self) -> DefaultStatus {
        self.default_status
    }

    /// The static tags every run of this schedule carries.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// The expression and timezone, parsed.
    pub fn cron(&self) -> Result<CronSchedule, CronError> {
        CronSchedule::parse(&self.cron_schedule, self.execution_timezone.as_deref())
    }

    /// Decide what to launch for the tick at `scheduled_time`: nothing if
    /// `should_execute` says so, else what the execution function returns, else one run
    /// with the schedule's config and tags.
    pub async fn evaluate(
        &self,
        scheduled_time: DateTime<Utc>,
    ) -> Result<TickOutcome, EvaluationError> {
        self.evaluate_with(scheduled_time, Arc::default()).await
    }

    /// [`evaluate`](Self::evaluate), the functions seeing `resources` (those of
    /// [`required_resources`](Self::required_resources), set up by the caller).
    pub async fn evaluate_with(
        &self,
        scheduled_time: DateTime<Utc>,
        resources: Arc<Resources>,
    ) -> Result<TickOutcome, EvaluationError> {
        let timezone = self
            .cron()
            .map_err(|e| EvaluationError::msg(e.to_string()))?
            .timezone();
        let mut ctx = ScheduleEvaluationContext::new(
            &self.name,
            timezone.from_utc_datetime(&scheduled_time.naive_utc()),
        );
        ctx.resources = resources;
        if let Some(should_execute) = &self.should_execute
            && !should_execute(&ctx)
        {
            return Ok(TickOutcome {
                skip_reason: Some(SkipReason::new(format!(
                    "should_execute of schedule \"{}\" returned false",
                    self.name
                ))),
                ..TickOutcome::default()
            });
        }
        if let Some(execute) = &self.execution_fn {
            return execute(ctx).await;
        }
        let mut request = RunRequest::new();
        if let Some(config) = &self.run_config {
            request.run_config = config.clone();
        }
        if let Some(config_fn) = &self.run_config_fn {
            request.run_config = config_fn(&ctx);
        }
        request.tags = self.tags.clone();
        if let Some(tags_fn) = &self.tags_fn {
            request.tags.extend(tags_fn(&ctx));
        }
        Ok(TickOutcome {
            run_requests: vec![request],
            ..TickOutcome::default()
        })
    }
}

/// Builds a [`ScheduleDefinition`]; the expression and timezone are checked when the
/// schedule joins a [`Definitions`](crate::Definitions).
#[must_use]
pub struct ScheduleBuilder(ScheduleDefinition);

impl ScheduleBuilder {
    /// An IANA timezone name (`"America/New_York"`); UTC when not set.
    pub fn execution_timezone(mut self, timezone: impl Into<String>) -> Self {
        self.0.execution_timezone = Some(timezone.into());
        self
    }

    /// A description, shown in the UI.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.0.description = Some(description.into());
        self
    }

    /// Whether the schedule runs before anyone starts it (stopped by default).
    pub fn default_status(mut self, status: DefaultStatus) -> Self {
        self.0.default_status = status;
        self
    }

    /// The run config of every run.
    pub fn run_config(mut self, config: Value) -> Self {
        self.0.run_config = Some(config);
        self
    }

    /// Compute each run's config from the tick (overrides [`run_config`](Self::run_config)).
    pub fn run_config_fn(
        mut self,
        f: impl Fn(&ScheduleEvaluationContext) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.0.run_config_fn = Some(Arc::new(f));
        self
    }

    /// A tag on every run.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.tags.insert(key.into(), value.into());
        self
    }

    /// Compute tags from the tick, added to the static ones.
    pub fn tags_fn(
        mut self,
        f: impl Fn(&ScheduleEvaluationContext) -> BTreeMap<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.0.tags_fn = Some(Arc::new(f));
        self
    }

    /// Skip a tick when this returns false.
    pub fn should_execute(
        mut self,
        f: impl Fn(&ScheduleEvaluationContext) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.0.should_execute = Some(Arc::new(f));
        self
    }

    /// A resource the execution function uses ([`ScheduleEvaluationContext::resource`]);
    /// set up before each evaluation with the config it is bound with, torn down after.
    pub fn required_resource(mut self, key: impl Into<String>) -> Self {
        self.0.required_resources.push(key.into());
        self
    }

    /// Decide each tick's run requests (or skip) in code, like Dagster's `@schedule`
    /// function. Replaces the static and computed config and tags.
    pub fn execution_fn<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ScheduleEvaluationContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TickOutcome, EvaluationError>> + Send + 'static,
    {
        self.0.execution_fn = Some(Arc::new(move |ctx| Box::pin(f(ctx))));
        self
    }

    /// The schedule; its expression and timezone are checked with the other definitions.
    pub fn build(self) -> ScheduleDefinition {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(schedule: &CronSchedule, t: DateTime<Utc>) -> String {
        schedule.local(t).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn a_time_the_clocks_skip_runs_once_just_after_the_jump() {
        // New York springs forward at 02:00 on 2025-03-09: 02:30 does not exist.
        let s = CronSchedule::parse("30 2 * * *", Some("America/New_York")).unwrap();
        let ticks: Vec<String> = s
            .ticks_after(utc("2025-03-07T12:00:00Z"))
            .take(4)
            .map(|t| local(&s, t))
            .collect();
        assert_eq!(
            ticks,
            [
                "2025-03-08 02:30 EST",
                "2025-03-09 03:00 EDT",
                "2025-03-10 02:30 EDT",
                "2025-03-11 02:30 EDT"
            ]
        );
    }

    #[test]
    fn a_time_the_clocks_repeat_runs_once() {
        // New York falls back at 02:00 on 2025-11-02: 01:30 happens twice.
        let s = CronSchedule::parse("30 1 * * *", Some("America/New_York")).unwrap();
        let ticks: Vec<String> = s
            .ticks_after(utc("2025-11-01T12:00:00Z"))
            .take(2)
            .map(|t| local(&s, t))
            .collect();
        assert_eq!(ticks, ["2025-11-02 01:30 EDT", "2025-11-03 01:30 EST"]);
    }

    #[test]
    fn hourly_keeps_every_real_hour_across_both_changes() {
        let s = CronSchedule::parse("@hourly", Some("America/New_York")).unwrap();
        let fall: Vec<DateTime<Utc>> = s.ticks_after(utc("2025-11-02T04:30:00Z")).take(3).collect();
        // 01:00 EDT, 01:00 EST, 02:00 EST: one real hour apart each.
        assert_eq!(fall[1] - fall[0], chrono::Duration::hours(1));
        assert_eq!(fall[2] - fall[1], chrono::Duration::hours(1));
        // From inside the first pass of the repeated hour, the second pass comes next.
        let next = s.next_after(utc("2025-11-02T05:30:00Z")).unwrap();
        assert_eq!(local(&s, next), "2025-11-02 01:00 EST");
        let spring = s.due_between(utc("2025-03-09T05:30:00Z"), utc("2025-03-09T08:30:00Z"), 10);
        let shown: Vec<String> = spring.iter().map(|t| local(&s, *t)).collect();
        assert_eq!(
            shown,
            [
                "2025-03-09 01:00 EST",
                "2025-03-09 03:00 EDT",
                "2025-03-09 04:00 EDT"
            ]
        );
    }

    #[test]
    fn due_between_keeps_only_the_most_recent_ticks() {
        let s = CronSchedule::parse("5 * * * *", None).unwrap();
        let due = s.due_between(utc("2026-01-01T00:00:00Z"), utc("2026-01-03T00:00:00Z"), 2);
        assert_eq!(
            due,
            [utc("2026-01-02T22:05:00Z"), utc("2026-01-02T23:05:00Z")]
        );
        // The bound itself is due; the start is not.
        let due = s.due_between(utc("2026-01-01T00:05:00Z"), utc("2026-01-01T01:05:00Z"), 5);
        assert_eq!(due, [utc("2026-01-01T01:05:00Z")]);
    }

    #[test]
    fn aliases_and_named_fields_parse() {
        for (alias, expected) in [
            ("@daily", "2026-01-02T00:00:00Z"),
            ("@weekly", "2026-01-04T00:00:00Z"),
            ("@monthly", "2026-02-01T00:00:00Z"),
            ("0 3 * * MON", "2026-01-05T03:00:00Z"),
        ] {
            let s = CronSchedule::parse(alias, Some("UTC")).unwrap();
            assert_eq!(
                s.next_after(utc("2026-01-01T00:00:00Z")),
                Some(utc(expected)),
                "{alias}"
            );
        }
    }

    #[test]
    fn bad_expressions_and_timezones_say_what_is_wrong() {
        let e = CronSchedule::parse("0 0 * *", None).unwrap_err();
        assert!(e.to_string().contains("\"0 0 * *\""), "{e}");
        assert!(e.to_string().contains("5 fields"), "{e}");
        let e = CronSchedule::parse("61 * * * *", None).unwrap_err();
        assert!(matches!(e, CronError::Expression { .. }), "{e}");
        let e = CronSchedule::parse("* * * * * *", None).unwrap_err();
        assert!(matches!(e, CronError::Expression { .. }), "{e}");
        let e = CronSchedule::parse("0 0 31 2 *", None).unwrap_err();
        assert_eq!(
            e,
            CronError::NeverMatches {
                expression: "0 0 31 2 *".into()
            }
        );
        let e = CronSchedule::parse("@daily", Some("Mars/Olympus")).unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
    }

    #[tokio::test]
    async fn evaluation_computes_config_from_the_tick_and_honours_should_execute() {
        let schedule = ScheduleDefinition::builder("s", "job", "0 0 * * *")
            .execution_timezone("Europe/Berlin")
            .tag("team", "billing")
            .run_config_fn(|ctx| {
                serde_json::json!({"date": ctx.scheduled_execution_time().format("%Y-%m-%d %H:%M").to_string()})
            })
            .build();
        let outcome = schedule
            .evaluate(utc("2026-01-01T23:00:00Z"))
            .await
            .unwrap();
        assert_eq!(outcome.run_requests.len(), 1);
        assert_eq!(
            outcome.run_requests[0].run_config,
            serde_json::json!({"date": "2026-01-02 00:00"})
        );
        assert_eq!(outcome.run_requests[0].tags["team"], "billing");

        let weekdays = ScheduleDefinition::builder("w", "job", "@daily")
            .should_execute(|ctx| {
                use chrono::Datelike;
                ctx.scheduled_execution_time()
                    .weekday()
                    .number_from_monday()
                    <= 5
            })
            .build();
        // 2026-01-03 is a Saturday.
        let outcome = weekdays
            .evaluate(utc("2026-01-03T00:00:00Z"))
            .await
            .unwrap();
        assert!(outcome.run_requests.is_empty());
        assert!(outcome.skip_reason.unwrap().0.contains("should_execute"));
    }
}
