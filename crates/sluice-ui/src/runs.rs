//! Runs: the list (filters, cursor paging), a run's page (status, times, tags, config,
//! step timeline, event log followed live) and its actions (terminate, re-execute,
//! delete).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Extension, Form, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::{Stream, StreamExt};
use maud::{Markup, html};
use serde::Deserialize;
use sluice_core::events::{EventData, EventRecord, EventType, LogLevel, now_timestamp};
use sluice_core::run::{Run, RunStatus};
use sluice_service::access::Caller;
use sluice_service::run_stats::{RunTimes, StepStats, StepStatus, step_stats};
use sluice_service::{
    FoundJob, ReexecuteRequest, ReexecutionStrategy, RunsQuery, TerminateOutcome, TerminatePolicy,
    run_config_yaml,
};
use sluice_storage::RunsFilter;

use crate::Ui;
use crate::access::launch_tags;
use crate::error::{UiError, UiResult};
use crate::format::{duration, elapsed, maybe_time, short_id, time};
use crate::layout::{
    Section, badge, confirmed_action, empty, notice, page, run_status, script_data,
};

/// Runs on one page of the list.
const PAGE_SIZE: usize = 50;
/// Events shown on one page of a run's log.
const LOG_PAGE_SIZE: usize = 5000;
/// Tags shown in a row of the runs list (the rest are on the run's page).
const TAGS_IN_LIST: usize = 3;

/// Parsed query string: every value of every key, in order.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<String>) -> Self {
        let raw = raw.unwrap_or_default();
        Self(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        )
    }

    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.trim())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim())
    }

    /// The query string with `key` set to `value` (or removed), for paging links. A
    /// change of filter starts again from the first page (the cursor is dropped).
    fn with(&self, key: &str, value: Option<&str>) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let kept = |k: &str| k != key && k != "done" && (key == "cursor" || k != "cursor");
        for (k, v) in self.0.iter().filter(|(k, _)| kept(k)) {
            out.append_pair(k, v);
        }
        if let Some(value) = value {
            out.append_pair(key, value);
        }
        out.finish()
    }
}

/// The runs list's filter, as the form and the URL carry it.
struct ListFilter {
    statuses: Vec<RunStatus>,
    job: Option<String>,
    tags: BTreeMap<String, String>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    /// The viewer's offset from UTC in minutes east (sent by `sluice.js`), for dates.
    offset_minutes: i32,
}

impl ListFilter {
    fn parse(params: &Params) -> UiResult<Self> {
        let statuses = params
            .all("status")
            .map(|s| {
                RunStatus::parse(s).ok_or_else(|| {
                    UiError::BadRequest(format!(
                        "Unknown run status {s:?} in the filter; use one of {}.",
                        RunStatus::ALL.map(RunStatus::as_str).join(", ")
                    ))
                })
            })
            .collect::<UiResult<_>>()?;
        let mut tags = BTreeMap::new();
        for tag in params.all("tag") {
            let (key, value) = tag.split_once('=').ok_or_else(|| {
                UiError::BadRequest(format!(
                    "Tag filter {tag:?} is not key=value (for example dagster/schedule_name=daily)."
                ))
            })?;
            tags.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        let date = |key: &str| {
            params
                .get(key)
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                        UiError::BadRequest(format!(
                            "The {key:?} date {d:?} is not a date like 2026-01-31."
                        ))
                    })
                })
                .transpose()
        };
        let offset_minutes = match params.get("tz") {
            None => 0,
            Some(tz) => tz
                .parse::<i32>()
                .ok()
                .filter(|m| (-18 * 60..=18 * 60).contains(m))
                .ok_or_else(|| {
                    UiError::BadRequest(format!("The timezone offset {tz:?} is not minutes."))
                })?,
        };
        Ok(Self {
            statuses,
            job: params.get("job").map(str::to_owned),
            tags,
            from: date("from")?,
            to: date("to")?,
            offset_minutes,
        })
    }

    /// Midnight at the start of `date` in the viewer's timezone, as Unix seconds.
    fn midnight(&self, date: chrono::NaiveDate) -> f64 {
        let utc = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        (utc - i64::from(self.offset_minutes) * 60) as f64
    }

    fn storage_filter(&self) -> RunsFilter {
        RunsFilter {
            job_name: self.job.clone(),
            statuses: self.statuses.clone(),
            tags: self.tags.clone(),
            // Exclusive bounds: from the start of `from` to the end of `to`.
            created_after: self.from.map(|d| self.midnight(d) - 0.000_001),
            created_before: self.to.map(|d| self.midnight(d) + 86_400.0),
            ..RunsFilter::default()
        }
    }
}

/// `GET /runs`.
pub(crate) async fn list(State(ui): State<Ui>, RawQuery(query): RawQuery) -> UiResult<Markup> {
    let params = Params::parse(query);
    let filter = ListFilter::parse(&params)?;
    let cursor = params.get("cursor").map(str::to_owned);
    let mut runs = ui
        .runs(&RunsQuery {
            filter: filter.storage_filter(),
            cursor: cursor.clone(),
            limit: Some(PAGE_SIZE + 1),
        })
        .await?;
    let has_more = runs.len() > PAGE_SIZE;
    runs.truncate(PAGE_SIZE);
    let jobs = job_locations(&ui).await;
    let now = now_timestamp();
    let filtered = !filter.statuses.is_empty()
        || filter.job.is_some()
        || !filter.tags.is_empty()
        || filter.from.is_some()
        || filter.to.is_some();
    let body = html! {
        h1 { "Runs" }
        (notice(done_notice(params.get("done"))))
        (filter_form(&filter, &jobs))
        @if runs.is_empty() {
            @if filtered || cursor.is_some() {
                (empty("No runs match these filters.", html! {
                    a href="/runs" { "Clear the filters" } " to see every run."
                }))
            } @else {
                (empty("No runs yet.", html! {
                    "Launch one from a job's " a href="/jobs" { "launchpad" }
                    ", or switch on a schedule or sensor under " a href="/automation" { "Automation" } "."
                }))
            }
        } @else {
            div.table-wrap {
                table.runs {
                    thead { tr {
                        th scope="col" { "Run" } th scope="col" { "Job" } th scope="col" { "Status" }
                        th scope="col" { "Created" } th scope="col" { "Duration" } th scope="col" { "Tags" }
                    } }
                    tbody {
                        @for run in &runs {
                            (run_row(run, &jobs, &params, now))
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages of runs" {
            @if cursor.is_some() {
                a href={ "/runs?" (params.with("cursor", None)) } { "← Newest" }
            }
            @if has_more && let Some(last) = runs.last() {
                a href={ "/runs?" (params.with("cursor", Some(&last.run_id))) } rel="next" { "Older →" }
            }
        }
    };
    Ok(page("Runs", Section::Runs, body))
}

/// Every job of the workspace with its location, for links and the job filter.
async fn job_locations(ui: &Ui) -> BTreeMap<String, String> {
    let mut jobs = BTreeMap::new();
    for location in ui.workspace().locations().await {
        if let Some(snapshot) = location.snapshot() {
            for job in &snapshot.jobs {
                jobs.entry(job.name.clone())
                    .or_insert_with(|| location.name.clone());
            }
        }
    }
    jobs
}

fn job_link(job: &str, location: Option<&str>, jobs: &BTreeMap<String, String>) -> Markup {
    match location.or_else(|| jobs.get(job).map(String::as_str)) {
        Some(location) => html! { a href=(job_href(location, job)) { (job) } },
        None => html! { (job) },
    }
}

/// The address of a job's page.
pub(crate) fn job_href(location: &str, job: &str) -> String {
    format!("/jobs/{}/{}", path_segment(location), path_segment(job))
}

/// A name as one segment of a URL path.
pub(crate) fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn filter_form(filter: &ListFilter, jobs: &BTreeMap<String, String>) -> Markup {
    html! {
        form.filters method="get" action="/runs" aria-label="Filter runs" {
            fieldset.statuses {
                legend { "Status" }
                @for status in [RunStatus::Queued, RunStatus::Started, RunStatus::Success, RunStatus::Failure, RunStatus::Canceled] {
                    label {
                        input type="checkbox" name="status" value=(status.as_str())
                            checked[filter.statuses.contains(&status)];
                        " " (run_status(status))
                    }
                }
            }
            label {
                "Job "
                input type="text" name="job" list="job-names" value=[filter.job.as_deref()]
                    placeholder="any job";
            }
            datalist #job-names {
                @for job in jobs.keys() { option value=(job) {} }
            }
            label {
                "Tag "
                input type="text" name="tag" placeholder="key=value"
                    value=[filter.tags.iter().next().map(|(k, v)| format!("{k}={v}"))];
            }
            @for (k, v) in filter.tags.iter().skip(1) {
                input type="hidden" name="tag" value={ (k) "=" (v) };
            }
            label { "From " input type="date" name="from" value=[filter.from.map(|d| d.to_string())]; }
            label { "To " input type="date" name="to" value=[filter.to.map(|d| d.to_string())]; }
            input type="hidden" name="tz" data-timezone-offset value=(filter.offset_minutes);
            button type="submit" { "Filter" }
            a href="/runs" { "Clear" }
        }
    }
}

fn run_row(run: &Run, jobs: &BTreeMap<String, String>, params: &Params, now: f64) -> Markup {
    let shown_tags: Vec<_> = run
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with(".sluice/"))
        .collect();
    html! {
        tr {
            td { a.mono href={ "/runs/" (run.run_id) } title=(run.run_id) { (short_id(&run.run_id)) } }
            td { (job_link(&run.job_name, run.location_name.as_deref(), jobs)) }
            td { (run_status(run.status)) }
            td { (time(run.create_time)) }
            td { (elapsed(run.start_time, run.end_time.or(run.status.is_finished().then_some(run.update_time)), now)) }
            td.tags {
                @for (k, v) in shown_tags.iter().take(TAGS_IN_LIST) {
                    a.tag href={ "/runs?" (params.with("tag", Some(&format!("{k}={v}")))) }
                        title={ "Only runs tagged " (k) "=" (v) } { (k) "=" (v) }
                }
                @if shown_tags.len() > TAGS_IN_LIST {
                    span.muted { " +" (shown_tags.len() - TAGS_IN_LIST) }
                }
            }
        }
    }
}

fn done_notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "terminated" => "Termination requested: the run stops within a second.",
        "reexecuted" => "Re-execution launched: this is the new run.",
        "launched" => "Run launched.",
        "deleted" => "Run deleted, with its events and stored outputs.",
        _ => return None,
    })
}

/// The log filter of a run page: one step, and the lowest level shown.
#[derive(Debug, Default)]
struct LogFilter {
    step: Option<String>,
    level: Option<String>,
    /// The log page starts after this event (paging through very long logs).
    after: Option<i64>,
    /// A notice to show (after an action).
    done: Option<String>,
}

impl LogFilter {
    fn from_params(params: &Params) -> UiResult<Self> {
        let after = params
            .get("after")
            .map(|a| {
                a.parse::<i64>().map_err(|_| {
                    UiError::BadRequest(format!("The log position {a:?} is not an event id."))
                })
            })
            .transpose()?;
        let filter = Self {
            step: params.get("step").map(str::to_owned),
            level: params.get("level").map(str::to_owned),
            after,
            done: params.get("done").map(str::to_owned),
        };
        filter.min_level()?;
        Ok(filter)
    }

    fn min_level(&self) -> UiResult<Option<LogLevel>> {
        self.level
            .as_deref()
            .map(|l| {
                LOG_LEVELS
                    .into_iter()
                    .find(|level| level.as_str().eq_ignore_ascii_case(l))
                    .ok_or_else(|| {
                        UiError::BadRequest(format!(
                            "Unknown log level {l:?}; use DEBUG, INFO, WARNING, ERROR or CRITICAL."
                        ))
                    })
            })
            .transpose()
    }

    fn matches(&self, record: &EventRecord, min_level: Option<LogLevel>) -> bool {
        let e = &record.event;
        self.step
            .as_deref()
            .is_none_or(|s| e.step_key.as_deref() == Some(s))
            && min_level.is_none_or(|min| level_rank(e.level) >= level_rank(min))
    }
}

const LOG_LEVELS: [LogLevel; 5] = [
    LogLevel::Debug,
    LogLevel::Info,
    LogLevel::Warning,
    LogLevel::Error,
    LogLevel::Critical,
];

fn level_rank(level: LogLevel) -> usize {
    LOG_LEVELS.iter().position(|l| *l == level).unwrap_or(0)
}

/// `GET /runs/{id}`.
pub(crate) async fn run(
    State(ui): State<Ui>,
    Path(run_id): Path<String>,
    RawQuery(query): RawQuery,
) -> UiResult<Markup> {
    let params = Params::parse(query);
    let filter = LogFilter::from_params(&params)?;
    let min_level = filter.min_level()?;
    let run = ui.run(&run_id).await?;
    let events = ui.run_events(&run_id).await?;
    let job = ui.job_of_run(&run).await;
    let location = job
        .as_ref()
        .map(|j| j.location.name.clone())
        .or(run.location_name.clone());
    let planned = planned_steps(&run, job.as_ref());
    let now = now_timestamp();
    let steps = step_stats(&events);
    let times = RunTimes::of(&events);
    let shown: Vec<&EventRecord> = events
        .iter()
        .filter(|r| filter.after.is_none_or(|a| r.storage_id > a))
        .filter(|r| filter.matches(r, min_level))
        .take(LOG_PAGE_SIZE + 1)
        .collect();
    let log_truncated = shown.len() > LOG_PAGE_SIZE;
    let shown = &shown[..shown.len().min(LOG_PAGE_SIZE)];
    let last_id = events.last().map_or(-1, |e| e.storage_id);
    let live = !run.status.is_finished() && !log_truncated;
    let mut live_url = format!("/runs/{}/live?after={last_id}", run.run_id);
    if let Some(step) = &filter.step {
        live_url.push_str(&format!("&step={}", path_segment(step)));
    }
    if let Some(level) = min_level {
        live_url.push_str(&format!("&level={}", level.as_str()));
    }
    let title = format!("Run {}", short_id(&run.run_id));
    let body = html! {
        (notice(done_notice(filter.done.as_deref())))
        div.run-header {
            h1 { "Run " span.mono { (run.run_id) } }
            p #run-status { (run_status(run.status)) }
        }
        dl.facts {
            dt { "Job" } dd { (match &location { Some(l) => html! { a href=(job_href(l, &run.job_name)) { (run.job_name) } }, None => html! { (run.job_name) } }) }
            dt { "Created" } dd { (time(run.create_time)) }
            dt { "Started" } dd { (maybe_time(run.start_time.or(times.started))) }
            dt { "Ended" } dd { (maybe_time(run.end_time.or(times.ended))) }
            dt { "Duration" } dd { (elapsed(run.start_time.or(times.started), run.end_time.or(times.ended), now)) }
            @if let Some(parent) = &run.parent_run_id {
                dt { "Re-executes" } dd { a.mono href={ "/runs/" (parent) } { (short_id(parent)) } }
            }
        }
        (actions(&run))
        section aria-labelledby="steps-title" {
            h2 #steps-title { "Steps" }
            div #timeline { (timeline(&steps, &planned, times, now)) }
        }
        section aria-labelledby="log-title" {
            h2 #log-title { "Event log" }
            (log_filter_form(&run.run_id, &filter, min_level, &steps))
            @if live {
                (script_data("live-log", &serde_json::json!({ "url": live_url })))
                p.live-indicator #live-indicator { "Following the log live." }
            }
            div.table-wrap.log-wrap {
                table.log #log {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Step" } th scope="col" { "Level" } th scope="col" { "Event" } th scope="col" { "Message" } } }
                    tbody #log-rows {
                        @for record in shown { (event_row(record)) }
                    }
                }
            }
            @if shown.is_empty() && !live {
                (empty("No events match this filter.", html! { a href={ "/runs/" (run.run_id) } { "Show every event" } }))
            }
            @if log_truncated && let Some(last) = shown.last() {
                p { a href={ "/runs/" (run.run_id) "?" (params.with("after", Some(&last.storage_id.to_string()))) } { "Next events →" } }
            }
        }
        section aria-labelledby="config-title" {
            h2 #config-title { "Config" }
            pre.config { (run_config_yaml(&run.run_config)) }
        }
        section aria-labelledby="tags-title" {
            h2 #tags-title { "Tags" }
            @if run.tags.is_empty() {
                p.muted { "No tags." }
            } @else {
                table.tags-table {
                    @for (k, v) in &run.tags {
                        tr { th scope="row" { (k) } td { a href={ "/runs?tag=" (path_segment(&format!("{k}={v}"))) } { (v) } } }
                    }
                }
            }
        }
    };
    Ok(page(&title, Section::Runs, body))
}

fn actions(run: &Run) -> Markup {
    let id = &run.run_id;
    let can_terminate = matches!(
        run.status,
        RunStatus::Queued | RunStatus::Started | RunStatus::Starting
    );
    let failed = matches!(run.status, RunStatus::Failure | RunStatus::Canceled);
    html! {
        div.actions role="group" aria-label="Run actions" {
            @if can_terminate {
                (confirmed_action("Terminate", "Terminate this run? Steps in progress are stopped.", &format!("/runs/{id}/terminate"), &[], true))
            }
            @if run.status.is_finished() {
                (confirmed_action("Re-execute all", "Launch a new run of every step of this job, with this run's config and tags?", &format!("/runs/{id}/reexecute"), &[("strategy", "all")], false))
                @if failed {
                    (confirmed_action("Re-execute from failure", "Launch a new run of the steps that failed or did not run, reusing the outputs of those that succeeded?", &format!("/runs/{id}/reexecute"), &[("strategy", "from_failure")], false))
                }
                (confirmed_action("Delete", "Delete this run, its events and its stored outputs? This cannot be undone.", &format!("/runs/{id}/delete"), &[], true))
            }
        }
    }
}

fn log_filter_form(
    run_id: &str,
    filter: &LogFilter,
    min_level: Option<LogLevel>,
    steps: &[StepStats],
) -> Markup {
    html! {
        form.filters.log-filter method="get" action={ "/runs/" (run_id) } aria-label="Filter the event log" {
            label {
                "Step "
                select name="step" data-autosubmit {
                    option value="" { "All steps" }
                    @for s in steps {
                        option value=(s.step_key) selected[filter.step.as_deref() == Some(s.step_key.as_str())] { (s.step_key) }
                    }
                }
            }
            label {
                "Level "
                select name="level" data-autosubmit {
                    option value="" { "All levels" }
                    @for level in LOG_LEVELS {
                        option value=(level.as_str()) selected[min_level == Some(level)] { (level.as_str()) " and above" }
                    }
                }
            }
            noscript { button type="submit" { "Filter" } }
        }
    }
}

/// The step timeline: a row per step with its attempts drawn to scale between the run's
/// start and its end (or now).
fn timeline(steps: &[StepStats], planned: &[String], times: RunTimes, now: f64) -> Markup {
    let start = times
        .started
        .or_else(|| steps.iter().filter_map(|s| s.start_time).reduce(f64::min));
    let waiting: Vec<&String> = planned
        .iter()
        .filter(|key| !steps.iter().any(|s| &s.step_key == *key))
        .collect();
    if steps.is_empty() && waiting.is_empty() {
        return empty(
            "No steps have started yet.",
            html! { "Steps appear here as the run executes them." },
        );
    }
    let end = times.ended.unwrap_or(now);
    let span = start.map(|s| (end - s).max(0.001));
    let percent = |t: f64| match (start, span) {
        (Some(s), Some(span)) => ((t - s) / span * 100.0).clamp(0.0, 100.0),
        _ => 0.0,
    };
    html! {
        table.timeline {
            thead { tr { th scope="col" { "Step" } th scope="col" { "Status" } th scope="col" { "Duration" } th scope="col" { "When" } } }
            tbody {
                @for step in steps {
                    tr {
                        th scope="row" { span.mono { (step.step_key) } }
                        td { (step_status(step.status)) }
                        td { (elapsed(step.start_time, step.end_time, now)) }
                        td.bar-cell {
                            div.bars {
                                @for (i, attempt) in step.attempts.iter().enumerate() {
                                    @let left = percent(attempt.start);
                                    @let right = percent(attempt.end.unwrap_or(end));
                                    @let class = if attempt.retried { "retried" } else { step_class(step.status) };
                                    span class={ "bar " (class) }
                                        style=(format!("left:{left:.2}%;width:{:.2}%", (right - left).max(0.4)))
                                        title=(format!("Attempt {}: {}{}", i + 1,
                                            attempt.end.map_or("running".to_owned(), |e| duration(e - attempt.start)),
                                            if attempt.retried { ", then retried" } else { "" })) {}
                                }
                            }
                        }
                    }
                }
                @for key in waiting {
                    tr {
                        th scope="row" { span.mono { (key) } }
                        td { (badge("queued", "Waiting")) }
                        td { span.muted { "–" } }
                        td.bar-cell { div.bars {} }
                    }
                }
            }
        }
    }
}

fn step_class(status: Option<StepStatus>) -> &'static str {
    match status {
        Some(StepStatus::Success) => "success",
        Some(StepStatus::Failure) => "failure",
        Some(StepStatus::Skipped) => "skipped",
        Some(StepStatus::InProgress) => "running",
        None => "queued",
    }
}

fn step_status(status: Option<StepStatus>) -> Markup {
    badge(
        step_class(status),
        status.map_or("Waiting", StepStatus::label),
    )
}

fn level_class(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "muted",
        LogLevel::Info => "queued",
        LogLevel::Warning => "warning",
        LogLevel::Error | LogLevel::Critical => "failure",
    }
}

/// One event of the log, as the page and the live stream render it.
fn event_row(record: &EventRecord) -> Markup {
    let e = &record.event;
    let error = match &e.data {
        EventData::Failure { error } | EventData::Retry { error, .. } => Some(error),
        _ => None,
    };
    html! {
        tr id={ "e" (record.storage_id) } data-level=(e.level.as_str()) data-type=(e.event_type.to_string()) {
            td.nowrap { (time(e.timestamp)) }
            td.mono { (e.step_key.as_deref().unwrap_or("")) }
            td { (badge(level_class(e.level), e.level.as_str())) }
            td.mono { (e.event_type.to_string()) }
            td.message {
                (e.message)
                @if let Some(error) = error {
                    pre.error-detail { (error.to_string()) }
                }
            }
        }
    }
}

/// `GET /runs/{id}/live?after=N&step=..&level=..`: the run's events after `N` as
/// server-sent events, each batch an `events` message of log rows; a `steps` message
/// with the step timeline when steps change; `end` once the run has finished. Each
/// `events` message carries the id of the last event it covers, so that a browser
/// reconnecting (with `Last-Event-ID`) resumes after it instead of repeating rows.
pub(crate) async fn live(
    State(ui): State<Ui>,
    Path(run_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> UiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let params = Params::parse(query);
    let filter = LogFilter::from_params(&params)?;
    let min_level = filter.min_level()?;
    let run = ui.run(&run_id).await?;
    let job = ui.job_of_run(&run).await;
    let planned = planned_steps(&run, job.as_ref());
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let after = resumed.or(filter.after).unwrap_or(-1);
    let mut lifecycle: Vec<EventRecord> = Vec::new();
    let events = Arc::clone(&ui)
        .follow_events(run_id, None)
        .map(move |batch| {
            // `None` after the last message: the stream ends there.
            let mut messages = Vec::new();
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    messages.push(Some(Event::default().event("error").data(e.to_string())));
                    messages.push(None);
                    return futures::stream::iter(messages);
                }
            };
            let rows: Vec<&EventRecord> = batch
                .events
                .iter()
                .filter(|r| r.storage_id > after && filter.matches(r, min_level))
                .collect();
            if !rows.is_empty() {
                let html = html! { @for r in rows { (event_row(r)) } };
                let mut message = Event::default().event("events").data(html.into_string());
                if let Some(last) = batch.after {
                    message = message.id(last.to_string());
                }
                messages.push(Some(message));
            }
            let before = lifecycle.len();
            lifecycle.extend(
                batch
                    .events
                    .iter()
                    .filter(|r| is_lifecycle(r.event.event_type))
                    .cloned(),
            );
            if lifecycle.len() > before && !batch.more {
                let now = now_timestamp();
                let steps = step_stats(&lifecycle);
                let times = RunTimes::of(&lifecycle);
                let timeline = timeline(&steps, &planned, times, now).into_string();
                messages.push(Some(Event::default().event("steps").data(timeline)));
                if let Some(status) = lifecycle
                    .iter()
                    .rev()
                    .find_map(|r| run_status_after(r.event.event_type))
                {
                    let badge = run_status(status).into_string();
                    messages.push(Some(Event::default().event("status").data(badge)));
                    if status.is_finished() {
                        messages.push(Some(Event::default().event("end").data(status.as_str())));
                        messages.push(None);
                    }
                }
            }
            futures::stream::iter(messages)
        })
        .flatten()
        .take_while(|message| futures::future::ready(message.is_some()))
        .filter_map(futures::future::ready)
        .map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The steps `run` is to execute: its subset, else every node of its job (none when
/// the job is no longer loaded).
fn planned_steps(run: &Run, job: Option<&FoundJob>) -> Vec<String> {
    match (&run.step_keys_to_execute, job) {
        (Some(keys), _) => keys.clone(),
        (None, Some(job)) => job.job().nodes.iter().map(|n| n.alias.clone()).collect(),
        (None, None) => Vec::new(),
    }
}

fn is_lifecycle(t: EventType) -> bool {
    run_status_after(t).is_some()
        || matches!(
            t,
            EventType::StepStart
                | EventType::StepSuccess
                | EventType::StepFailure
                | EventType::StepUpForRetry
                | EventType::StepRestarted
                | EventType::StepSkipped
        )
}

/// The status a run has after an event of this type, for the run-level events.
fn run_status_after(t: EventType) -> Option<RunStatus> {
    Some(match t {
        EventType::RunEnqueued => RunStatus::Queued,
        EventType::RunStarting => RunStatus::Starting,
        EventType::RunStart => RunStatus::Started,
        EventType::RunSuccess => RunStatus::Success,
        EventType::RunFailure => RunStatus::Failure,
        EventType::RunCanceling => RunStatus::Canceling,
        EventType::RunCanceled => RunStatus::Canceled,
        _ => return None,
    })
}

/// `POST /runs/{id}/terminate`.
pub(crate) async fn terminate(
    State(ui): State<Ui>,
    Path(run_id): Path<String>,
) -> UiResult<Response> {
    match ui
        .terminate_run(&run_id, TerminatePolicy::SafeTerminate)
        .await?
    {
        TerminateOutcome::Terminated(_) => {
            Ok(Redirect::to(&format!("/runs/{run_id}?done=terminated")).into_response())
        }
        TerminateOutcome::Refused { message, .. } => Err(UiError::BadRequest(message)),
    }
}

/// The re-execute form.
#[derive(Debug, Deserialize)]
pub(crate) struct ReexecuteForm {
    strategy: String,
}

/// `POST /runs/{id}/reexecute` with `strategy=all` or `strategy=from_failure`.
pub(crate) async fn reexecute(
    State(ui): State<Ui>,
    caller: Option<Extension<Caller>>,
    Path(run_id): Path<String>,
    Form(form): Form<ReexecuteForm>,
) -> UiResult<Response> {
    let strategy = match form.strategy.as_str() {
        "all" => ReexecutionStrategy::AllSteps,
        "from_failure" => ReexecutionStrategy::FromFailure,
        other => {
            return Err(UiError::BadRequest(format!(
                "Unknown re-execution strategy {other:?}; use all or from_failure."
            )));
        }
    };
    let run = ui
        .reexecute(ReexecuteRequest {
            parent_run_id: run_id,
            strategy,
            extra_tags: launch_tags(caller.as_deref()),
            use_parent_run_tags: true,
        })
        .await?;
    Ok(Redirect::to(&format!("/runs/{}?done=reexecuted", run.run_id)).into_response())
}

/// `POST /runs/{id}/delete`.
pub(crate) async fn delete(State(ui): State<Ui>, Path(run_id): Path<String>) -> UiResult<Response> {
    let run = ui.run(&run_id).await?;
    if !run.status.is_finished() {
        return Err(UiError::BadRequest(format!(
            "Run {run_id} is {}; terminate it before deleting it.",
            run.status
        )));
    }
    ui.delete_run(&run_id).await?;
    Ok(Redirect::to("/runs?done=deleted").into_response())
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn a_new_filter_starts_from_the_first_page_and_paging_keeps_the_filter() {
        let params = Params::parse(Some("job=etl&cursor=r1&done=launched".into()));
        assert_eq!(
            params.with("tag", Some("team=data")),
            "job=etl&tag=team%3Ddata"
        );
        assert_eq!(params.with("cursor", Some("r2")), "job=etl&cursor=r2");
        let extreme = Params::parse(Some("tz=-2147483648".into()));
        assert!(
            ListFilter::parse(&extreme).is_err(),
            "an absurd offset is refused"
        );
    }

    #[test]
    fn the_list_filter_reads_the_query_and_refuses_nonsense() {
        let params = Params::parse(Some(
            "status=FAILURE&status=SUCCESS&job=etl&tag=team%3Ddata&from=2026-01-02&tz=60".into(),
        ));
        let filter = ListFilter::parse(&params).unwrap();
        assert_eq!(filter.statuses, [RunStatus::Failure, RunStatus::Success]);
        let storage = filter.storage_filter();
        assert_eq!(storage.job_name.as_deref(), Some("etl"));
        assert_eq!(storage.tags["team"], "data");
        // Midnight in UTC+1 is 23:00 UTC the day before.
        let after = storage.created_after.unwrap();
        assert!((after - 1_767_308_400.0).abs() < 0.001, "{after}");
        assert!(
            params.with("cursor", Some("abc")).ends_with("cursor=abc"),
            "{}",
            params.with("cursor", Some("abc"))
        );
        for bad in ["status=DONE", "tag=nokey", "from=yesterday", "tz=east"] {
            let err = ListFilter::parse(&Params::parse(Some(bad.into()))).err();
            assert!(matches!(err, Some(UiError::BadRequest(_))), "{bad}");
        }
        assert!(LogFilter::from_params(&Params::parse(Some("level=LOUD".into()))).is_err());
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
