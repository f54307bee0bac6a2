//! Automation: schedules and sensors (state, on/off, next ticks, cursor, tick history)
//! and backfills (progress per partition, cancel, resume).

use std::collections::BTreeMap;

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use sluice_core::events::{datetime_to_timestamp, now_timestamp, timestamp_to_datetime};
use sluice_core::run::{PARTITION_TAG, RunStatus};
use sluice_core::schedule::CronSchedule;
use sluice_core::snapshot::REPOSITORY_NAME;
use sluice_service::instigators::{Instigator, InstigatorDefinition};
use sluice_storage::{
    BACKFILL_ID_TAG, Backfill, BackfillStatus, BackfillsFilter, InstigatorStatus, InstigatorType,
    Tick, TickStatus, TicksFilter,
};

use crate::Ui;
use crate::error::{UiError, UiResult};
use crate::format::{duration, maybe_time, short_id, time};
use crate::layout::{Section, badge, confirmed_action, empty, page, run_status};
use crate::runs::{job_href, path_segment};

/// Ticks shown on a schedule's or sensor's page.
const TICK_HISTORY: usize = 50;
/// Backfills on the list.
const BACKFILL_PAGE: usize = 100;

/// Every schedule and sensor of the loaded locations.
async fn all_instigators(ui: &Ui) -> UiResult<Vec<Instigator>> {
    let mut all = Vec::new();
    let mut locations = ui.workspace().locations().await;
    locations.sort_by(|a, b| a.name.cmp(&b.name));
    for location in locations.iter().filter(|l| l.snapshot().is_some()) {
        for kind in [InstigatorType::Schedule, InstigatorType::Sensor] {
            all.extend(
                ui.instigators(&location.name, REPOSITORY_NAME, kind)
                    .await?,
            );
        }
    }
    Ok(all)
}

fn instigator_href(instigator: &Instigator) -> String {
    format!(
        "/automation/{}/{}",
        path_segment(&instigator.location.name),
        path_segment(instigator.name())
    )
}

fn tick_status(status: TickStatus) -> Markup {
    match status {
        TickStatus::Started => badge("running", "Started"),
        TickStatus::Skipped => badge("skipped", "Skipped"),
        TickStatus::Success => badge("success", "Requested runs"),
        TickStatus::Failure => badge("failure", "Failed"),
    }
}

fn targets(instigator: &Instigator) -> Markup {
    let location = &instigator.location.name;
    let jobs: Vec<&String> = match &instigator.definition {
        InstigatorDefinition::Schedule(s) => vec![&s.job_name],
        InstigatorDefinition::Sensor(s) => s.job_names.iter().collect(),
    };
    html! {
        @for (i, job) in jobs.iter().enumerate() {
            @if i > 0 { ", " }
            @if job.starts_with("__") { "assets" } @else { a href=(job_href(location, job)) { (job) } }
        }
    }
}

fn cadence(instigator: &Instigator) -> String {
    match &instigator.definition {
        InstigatorDefinition::Schedule(s) => format!(
            "{} ({})",
            s.cron_schedule,
            s.execution_timezone.as_deref().unwrap_or("UTC")
        ),
        InstigatorDefinition::Sensor(s) => {
            format!("every {}", duration(s.minimum_interval_seconds as f64))
        }
    }
}

/// The on/off switch: a form that posts the opposite state.
fn switch_form(instigator: &Instigator, back: &str) -> Markup {
    let on = instigator.status() == InstigatorStatus::Running;
    let action = if on { "stop" } else { "start" };
    let label = format!(
        "{} {} is {}; turn it {}",
        if instigator.kind() == "schedule" {
            "Schedule"
        } else {
            "Sensor"
        },
        instigator.name(),
        if on { "on" } else { "off" },
        if on { "off" } else { "on" }
    );
    html! {
        form.inline method="post" action={ (instigator_href(instigator)) "/" (action) } {
            input type="hidden" name="back" value=(back);
            button.toggle type="submit" aria-pressed=(on) aria-label=(label) title=(label) {
                span.knob {} (if on { "On" } else { "Off" })
            }
        }
    }
}

/// `GET /automation`.
pub(crate) async fn list(State(ui): State<Ui>) -> UiResult<Markup> {
    let instigators = all_instigators(&ui).await?;
    let now = now_timestamp();
    let mut rows = Vec::with_capacity(instigators.len());
    for instigator in &instigators {
        let last = ui
            .ticks(
                &instigator.selector_id(),
                &TicksFilter {
                    limit: Some(1),
                    ..TicksFilter::default()
                },
            )
            .await?;
        rows.push((instigator, last.into_iter().next()));
    }
    let body = html! {
        h1 { "Automation" }
        p { a href="/backfills" { "Backfills →" } }
        @if instigators.is_empty() {
            (empty("No schedules or sensors.", html! { "Define them in a code location's " code { "Definitions" } "; they appear here once the location is loaded." }))
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Location" } th scope="col" { "Target" }
                    th scope="col" { "Cadence" } th scope="col" { "State" } th scope="col" { "Next tick" } th scope="col" { "Last tick" }
                } }
                tbody {
                    @for (instigator, last) in &rows {
                        tr {
                            td { a href=(instigator_href(instigator)) { (instigator.name()) } }
                            td { (instigator.kind()) }
                            td { (instigator.location.name) }
                            td { (targets(instigator)) }
                            td.mono { (cadence(instigator)) }
                            td { (switch_form(instigator, "/automation")) }
                            td { (maybe_time(instigator.next_tick_time(now))) }
                            td {
                                @if let Some(tick) = last {
                                    (tick_status(tick.result.status)) " " (time(tick.timestamp))
                                } @else { span.muted { "None yet" } }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(page("Automation", Section::Automation, body))
}

async fn find(ui: &Ui, location: &str, name: &str) -> UiResult<Instigator> {
    for kind in [InstigatorType::Schedule, InstigatorType::Sensor] {
        if let Some(found) = ui.instigator(location, REPOSITORY_NAME, name, kind).await? {
            return Ok(found);
        }
    }
    Err(UiError::NotFound(format!(
        "No schedule or sensor named {name:?} in code location {location:?}."
    )))
}

/// `GET /automation/{location}/{name}`.
pub(crate) async fn instigator(
    State(ui): State<Ui>,
    Path((location, name)): Path<(String, String)>,
) -> UiResult<Markup> {
    let instigator = find(&ui, &location, &name).await?;
    let ticks = ui
        .ticks(
            &instigator.selector_id(),
            &TicksFilter {
                limit: Some(TICK_HISTORY),
                ..TicksFilter::default()
            },
        )
        .await?;
    let now = now_timestamp();
    let next_ticks: Vec<f64> = match &instigator.definition {
        InstigatorDefinition::Schedule(s) if instigator.status() == InstigatorStatus::Running => {
            CronSchedule::parse(&s.cron_schedule, s.execution_timezone.as_deref())
                .map(|cron| {
                    cron.ticks_after(timestamp_to_datetime(now))
                        .take(5)
                        .map(datetime_to_timestamp)
                        .collect()
                })
                .unwrap_or_default()
        }
        _ => instigator.next_tick_time(now).into_iter().collect(),
    };
    let href = instigator_href(&instigator);
    let description = match &instigator.definition {
        InstigatorDefinition::Schedule(s) => s.description.clone(),
        InstigatorDefinition::Sensor(s) => s.description.clone(),
    };
    let body = html! {
        p.crumbs { a href="/automation" { "Automation" } " / " (location) }
        h1 { (instigator.name()) " " span.muted { "(" (instigator.kind()) ")" } }
        @if let Some(d) = description { p { (d) } }
        dl.facts {
            dt { "State" } dd { (switch_form(&instigator, &href)) }
            dt { "Target" } dd { (targets(&instigator)) }
            dt { "Cadence" } dd.mono { (cadence(&instigator)) }
            @if let InstigatorDefinition::Sensor(_) = &instigator.definition {
                dt { "Cursor" } dd {
                    @match instigator.state.as_ref().and_then(|s| s.cursor.as_deref()) {
                        Some(cursor) => code.cursor { (cursor) },
                        None => span.muted { "None" },
                    }
                }
            }
            dt { @if next_ticks.len() > 1 { "Next ticks" } @else { "Next tick" } }
            dd {
                @if next_ticks.is_empty() { span.muted { "None while it is off" } }
                @for (i, t) in next_ticks.iter().enumerate() { @if i > 0 { ", " } (time(*t)) }
            }
        }
        section aria-labelledby="ticks-title" {
            h2 #ticks-title { "Ticks" }
            @if ticks.is_empty() {
                (empty("No ticks yet.", html! { "Ticks appear once it is on and the daemon evaluates it." }))
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Result" } th scope="col" { "Runs" } th scope="col" { "Details" } } }
                    tbody { @for tick in &ticks { (tick_row(tick)) } }
                } }
            }
        }
    };
    Ok(page(instigator.name(), Section::Automation, body))
}

fn tick_row(tick: &Tick) -> Markup {
    html! {
        tr {
            td { (time(tick.timestamp)) }
            td { (tick_status(tick.result.status)) }
            td {
                @for run_id in &tick.result.run_ids {
                    a.mono href={ "/runs/" (run_id) } { (short_id(run_id)) } " "
                }
            }
            td {
                @if let Some(reason) = &tick.result.skip_reason { (reason) }
                @if let Some(error) = &tick.result.error { pre.error-detail { (error.to_string()) } }
            }
        }
    }
}

/// The on/off form.
#[derive(Debug, Deserialize)]
pub(crate) struct SwitchForm {
    #[serde(default)]
    back: Option<String>,
}

/// `POST /automation/{location}/{name}/{start|stop}`.
pub(crate) async fn switch(
    State(ui): State<Ui>,
    Path((location, name, action)): Path<(String, String, String)>,
    Form(form): Form<SwitchForm>,
) -> UiResult<Response> {
    let status = match action.as_str() {
        "start" => InstigatorStatus::Running,
        "stop" => InstigatorStatus::Stopped,
        other => {
            return Err(UiError::NotFound(format!(
                "No action {other:?}: use start or stop."
            )));
        }
    };
    let instigator = find(&ui, &location, &name).await?;
    if instigator.status() != status {
        ui.set_instigator_status(&instigator, Some(status)).await?;
    }
    // Only back to a page of this UI.
    let back = form
        .back
        .filter(|b| b.starts_with("/automation"))
        .unwrap_or_else(|| instigator_href(&instigator));
    Ok(Redirect::to(&back).into_response())
}

fn backfill_status(status: BackfillStatus) -> Markup {
    match status {
        BackfillStatus::Requested => badge("running", "In progress"),
        BackfillStatus::Completed | BackfillStatus::CompletedSuccess => {
            badge("success", "Completed")
        }
        BackfillStatus::CompletedFailed => badge("failure", "Completed with failures"),
        BackfillStatus::Failed | BackfillStatus::Failing => badge("failure", "Failed"),
        BackfillStatus::Canceled => badge("canceled", "Canceled"),
        BackfillStatus::Canceling => badge("canceled", "Canceling"),
    }
}

/// Partitions by the status of their latest run (`None`: no run yet).
fn tally(
    backfill: &Backfill,
    latest: &BTreeMap<String, RunStatus>,
) -> Vec<(&'static str, &'static str, usize)> {
    let mut counts = [0usize; 5];
    for partition in &backfill.spec.partition_names {
        let slot = match latest.get(partition) {
            Some(RunStatus::Success) => 0,
            Some(RunStatus::Failure) => 1,
            Some(RunStatus::Canceled | RunStatus::Canceling) => 2,
            Some(_) => 3,
            None => 4,
        };
        counts[slot] += 1;
    }
    [
        ("success", "succeeded"),
        ("failure", "failed"),
        ("canceled", "canceled"),
        ("running", "in progress"),
        ("queued", "not started"),
    ]
    .into_iter()
    .zip(counts)
    .map(|((class, word), n)| (class, word, n))
    .collect()
}

fn progress_bar(counts: &[(&'static str, &'static str, usize)]) -> Markup {
    let total: usize = counts.iter().map(|c| c.2).sum::<usize>().max(1);
    let label = counts
        .iter()
        .filter(|c| c.2 > 0)
        .map(|(_, word, n)| format!("{n} {word}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        div.health role="img" aria-label=(label) title=(label) {
            @for (class, _, n) in counts {
                @if *n > 0 {
                    span class={ "seg " (class) } style=(format!("width:{:.3}%", *n as f64 * 100.0 / total as f64)) {}
                }
            }
        }
        span.muted.small { (label) }
    }
}

/// `GET /backfills`.
pub(crate) async fn backfills(State(ui): State<Ui>) -> UiResult<Markup> {
    let backfills = ui
        .backfills(&BackfillsFilter {
            limit: Some(BACKFILL_PAGE),
            ..BackfillsFilter::default()
        })
        .await?;
    let mut rows = Vec::with_capacity(backfills.len());
    for backfill in &backfills {
        let latest = ui.backfill_partition_statuses(backfill).await?;
        rows.push((backfill, tally(backfill, &latest)));
    }
    let body = html! {
        p.crumbs { a href="/automation" { "Automation" } }
        h1 { "Backfills" }
        @if backfills.is_empty() {
            (empty("No backfills.", html! { "Launch one over GraphQL (" code { "launchPartitionBackfill" } ") or from a partitioned asset." }))
        } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Backfill" } th scope="col" { "Job" } th scope="col" { "Status" } th scope="col" { "Partitions" } th scope="col" { "Created" } } }
                tbody {
                    @for (backfill, counts) in &rows {
                        tr {
                            td { a.mono href={ "/backfills/" (backfill.id()) } { (backfill.id()) } }
                            td { (backfill.spec.title.as_deref().unwrap_or(&backfill.spec.job_name)) }
                            td { (backfill_status(backfill.status)) }
                            td.wide { (progress_bar(counts)) }
                            td { (time(backfill.create_timestamp)) }
                        }
                    }
                }
            } }
        }
    };
    Ok(page("Backfills", Section::Automation, body))
}

/// `GET /backfills/{id}`.
pub(crate) async fn backfill(State(ui): State<Ui>, Path(id): Path<String>) -> UiResult<Markup> {
    let backfill = ui.backfill(&id).await?;
    let latest = ui.backfill_partition_statuses(&backfill).await?;
    let counts = tally(&backfill, &latest);
    let job = &backfill.spec.job_name;
    let body = html! {
        p.crumbs { a href="/automation" { "Automation" } " / " a href="/backfills" { "Backfills" } }
        h1 { "Backfill " span.mono { (backfill.id()) } }
        dl.facts {
            dt { "Status" } dd { (backfill_status(backfill.status)) }
            dt { "Job" } dd { @if job.starts_with("__") { "assets" } @else { a href=(job_href(&backfill.spec.location_name, job)) { (job) } } }
            dt { "Created" } dd { (time(backfill.create_timestamp)) }
            dt { "Ended" } dd { (maybe_time(backfill.end_timestamp)) }
            dt { "Runs submitted" } dd { (backfill.submitted) " of " (backfill.spec.partition_names.len()) " partitions" }
        }
        @if let Some(error) = &backfill.error { pre.error-detail role="alert" { (error.to_string()) } }
        div.actions {
            @if backfill.status == BackfillStatus::Requested {
                (confirmed_action("Cancel", "Cancel this backfill? No more runs are submitted and its runs are stopped.", &format!("/backfills/{id}/cancel"), &[], true))
            }
            @if backfill.status == BackfillStatus::Failed || (backfill.status == BackfillStatus::Canceled && !backfill.pending().is_empty()) {
                (confirmed_action("Resume", "Resume this backfill: submit the runs of its remaining partitions?", &format!("/backfills/{id}/resume"), &[], false))
            }
        }
        (progress_bar(&counts))
        section aria-labelledby="partitions-title" {
            h2 #partitions-title { "Partitions" }
            ul.partitions {
                @for partition in &backfill.spec.partition_names {
                    li {
                        @match latest.get(partition) {
                            Some(status) => a href={ "/runs?tag=" (path_segment(&format!("{BACKFILL_ID_TAG}={id}"))) "&tag=" (path_segment(&format!("{PARTITION_TAG}={partition}"))) } {
                                span.mono { (partition) } " " (run_status(*status))
                            },
                            None => { span.mono { (partition) } " " (badge("queued", "Not started")) },
                        }
                    }
                }
            }
        }
    };
    Ok(page(&format!("Backfill {id}"), Section::Automation, body))
}

/// `POST /backfills/{id}/{cancel|resume}`.
pub(crate) async fn backfill_action(
    State(ui): State<Ui>,
    Path((id, action)): Path<(String, String)>,
) -> UiResult<Response> {
    match action.as_str() {
        "cancel" => ui.cancel_backfill(&id).await?,
        "resume" => ui.resume_backfill(&id).await?,
        other => {
            return Err(UiError::NotFound(format!(
                "No action {other:?}: use cancel or resume."
            )));
        }
    };
    Ok(Redirect::to(&format!("/backfills/{id}")).into_response())
}
