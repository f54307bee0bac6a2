//! Deployment: the code locations (loaded or why not, reload) and the daemon's loops
//! (last heartbeat, recent errors).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use sluice_codeserver::LocationState;

use crate::Ui;
use crate::error::UiResult;
use crate::format::{count, maybe_time};
use crate::layout::{Section, badge, empty, page};
use crate::runs::path_segment;

/// `GET /deployment`.
pub(crate) async fn overview(State(ui): State<Ui>) -> UiResult<Markup> {
    let mut locations = ui.workspace().locations().await;
    locations.sort_by(|a, b| a.name.cmp(&b.name));
    let daemons = ui.daemon_statuses().await?;
    let body = html! {
        h1 { "Deployment" }
        section aria-labelledby="locations-title" {
            h2 #locations-title { "Code locations" }
            @if locations.is_empty() {
                (empty("No code locations.", html! { "Add one to " code { "workspace.yaml" } " and restart." }))
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Location" } th scope="col" { "Status" } th scope="col" { "Definitions" } th scope="col" { "Code server" } th scope="col" {} } }
                    tbody {
                        @for location in &locations {
                            tr id={ "location-" (path_segment(&location.name)) } {
                                td { (location.name) }
                                @match &location.state {
                                    LocationState::Loaded(snapshot) => {
                                        td { @if location.newer_version_error.is_some() { (badge("failure", "Newer code failed to load")) } @else { (badge("success", "Loaded")) } }
                                        td {
                                             @if let Some(error) = &location.newer_version_error {
                                                 p { "The last version that loaded still serves." }
                                                 pre.error-detail role="alert" { (error) }
                                             }
                                             (count(snapshot.jobs.iter().filter(|j| !j.name.starts_with("__")).count(), "job", "jobs")) ", "
                                             (count(snapshot.assets.len(), "asset", "assets")) ", "
                                             (count(snapshot.schedules.len(), "schedule", "schedules")) ", "
                                             (count(snapshot.sensors.len(), "sensor", "sensors")) }
                                    }
                                    LocationState::Failed(reason) => {
                                        td { (badge("failure", "Failed to load")) }
                                        td { pre.error-detail role="alert" { (reason) } }
                                    }
                                }
                                td.mono { (location.client.url()) }
                                td {
                                    form.inline method="post" action={ "/deployment/locations/" (path_segment(&location.name)) "/reload" } {
                                        button type="submit" aria-label={ "Reload " (location.name) } { "Reload" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section aria-labelledby="daemons-title" {
            h2 #daemons-title { "Daemons" }
            div.table-wrap { table {
                thead { tr { th scope="col" { "Loop" } th scope="col" { "Health" } th scope="col" { "Last heartbeat" } th scope="col" { "Recent errors" } } }
                tbody {
                    @for daemon in &daemons {
                        tr {
                            td.mono { (daemon.daemon_type) }
                            td {
                                @if daemon.healthy { (badge("success", "Running")) }
                                @else if daemon.last_heartbeat_time.is_some() { (badge("failure", "Not running")) }
                                @else { (badge("queued", "Never seen")) }
                                @if !daemon.required { " " span.muted { "(optional)" } }
                            }
                            td { (maybe_time(daemon.last_heartbeat_time)) }
                            td {
                                @if daemon.errors.is_empty() { span.muted { "None" } }
                                @for error in &daemon.errors { pre.error-detail { (error) } }
                            }
                        }
                    }
                }
            } }
            @if daemons.iter().all(|d| d.last_heartbeat_time.is_none()) {
                p.muted { "No daemon has sent a heartbeat: start " code { "sluice-daemon run" } " (" code { "sluice dev" } " runs one for you)." }
            }
        }
    };
    Ok(page("Deployment", Section::Deployment, body))
}

/// `POST /deployment/locations/{name}/reload`.
pub(crate) async fn reload(State(ui): State<Ui>, Path(name): Path<String>) -> UiResult<Response> {
    ui.reload_location(&name).await?;
    Ok(Redirect::to(&format!("/deployment#location-{}", path_segment(&name))).into_response())
}
