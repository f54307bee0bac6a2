//! Jobs: the list by location, a job's page with its op graph, and the launchpad (run
//! config editor pre-filled from the config schema, errors shown with their paths before
//! launching, tags).

use std::collections::HashMap;

use axum::extract::{Extension, Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use sluice_core::run::{CODE_LOCATION_TAG, PARTITION_TAG};
use sluice_core::snapshot::{JobSnapshot, REPOSITORY_NAME};
use sluice_service::Error as ServiceError;
use sluice_service::access::Caller;
use sluice_service::{FoundJob, JobSelector, LaunchRequest, parse_run_config, run_config_yaml};
use sluice_storage::RunsFilter;

use crate::Ui;
use crate::access::launch_tags;
use crate::dag::{Graph, Node, svg};
use crate::error::UiResult;
use crate::layout::{Section, empty, page, run_status};
use crate::runs::{job_href, path_segment};

/// Partition keys a partitioned job's launchpad suggests (the newest).
const PARTITIONS_OFFERED: usize = 500;

/// `GET /jobs`.
pub(crate) async fn list(State(ui): State<Ui>) -> UiResult<Markup> {
    let mut locations = ui.workspace().locations().await;
    locations.sort_by(|a, b| a.name.cmp(&b.name));
    let body = html! {
        h1 { "Jobs" }
        @if locations.is_empty() {
            (empty("No code locations.", html! { "Add one to " code { "workspace.yaml" } " and restart, or see " a href="/deployment" { "Deployment" } "." }))
        }
        @for location in &locations {
            section aria-labelledby={ "loc-" (path_segment(&location.name)) } {
                h2 id={ "loc-" (path_segment(&location.name)) } { (location.name) }
                @match location.snapshot() {
                    None => p.error-message { "This location is not loaded; see " a href="/deployment" { "Deployment" } " for why." },
                    Some(snapshot) if snapshot.jobs.is_empty() => p.muted { "No jobs in this location." },
                    Some(snapshot) => {
                        div.table-wrap { table {
                            thead { tr { th scope="col" { "Job" } th scope="col" { "Description" } th scope="col" { "Ops" } th scope="col" { "Latest run" } th scope="col" {} } }
                            tbody {
                                @for job in visible_jobs(&snapshot.jobs) {
                                    (job_row(&ui, &location.name, job).await?)
                                }
                            }
                        } }
                    }
                }
            }
        }
    };
    Ok(page("Jobs", Section::Jobs, body))
}

/// The jobs a person launches (not the hidden asset job).
fn visible_jobs(jobs: &[JobSnapshot]) -> impl Iterator<Item = &JobSnapshot> {
    jobs.iter().filter(|j| !j.name.starts_with("__"))
}

async fn job_row(ui: &Ui, location: &str, job: &JobSnapshot) -> UiResult<Markup> {
    let latest = ui
        .runs(&sluice_service::RunsQuery {
            filter: RunsFilter {
                job_name: Some(job.name.clone()),
                tags: [(CODE_LOCATION_TAG.to_owned(), location.to_owned())].into(),
                ..RunsFilter::default()
            },
            cursor: None,
            limit: Some(1),
        })
        .await?
        .into_iter()
        .next();
    let href = job_href(location, &job.name);
    Ok(html! {
        tr {
            td { a href=(href) { (job.name) } }
            td { (job.description.as_deref().unwrap_or("")) }
            td { (job.nodes.len()) }
            td {
                @match &latest {
                    Some(run) => a href={ "/runs/" (run.run_id) } { (run_status(run.status)) },
                    None => span.muted { "Never run" },
                }
            }
            td { a href={ (href) "/launchpad" } { "Launchpad" } }
        }
    })
}

async fn find(ui: &Ui, location: &str, job: &str) -> UiResult<FoundJob> {
    Ok(ui
        .find_job(&JobSelector {
            location: location.to_owned(),
            repository: REPOSITORY_NAME.to_owned(),
            job: job.to_owned(),
        })
        .await?)
}

/// A job's op graph: each node invocation, with an edge for every input and `after`.
fn op_graph(job: &JobSnapshot) -> Graph {
    let index: HashMap<&str, usize> = job
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.alias.as_str(), i))
        .collect();
    let nodes = job
        .nodes
        .iter()
        .map(|n| Node {
            label: n.alias.clone(),
            detail: (n.alias != n.op_name).then(|| n.op_name.clone()),
            href: None,
            class: "op",
        })
        .collect();
    let mut edges = Vec::new();
    for (to, node) in job.nodes.iter().enumerate() {
        let sources = node
            .inputs
            .iter()
            .map(|i| i.node.as_str())
            .chain(node.after.iter().map(String::as_str));
        for source in sources {
            if let Some(&from) = index.get(source) {
                edges.push((from, to));
            }
        }
    }
    Graph { nodes, edges }
}

/// `GET /jobs/{location}/{job}`.
async fn job_page(ui: &Ui, location: &str, job_name: &str) -> UiResult<Markup> {
    let found = find(ui, location, job_name).await?;
    let job = found.job();
    let href = job_href(location, job_name);
    let body = html! {
        p.crumbs { a href="/jobs" { "Jobs" } " / " (location) }
        h1 { (job.name) }
        @if let Some(description) = &job.description { p { (description) } }
        div.actions {
            a.button.primary href={ (href) "/launchpad" } { "Open launchpad" }
            a.button href={ "/runs?job=" (path_segment(job_name)) } { "Runs of this job" }
        }
        @if !job.tags.is_empty() {
            p { @for (k, v) in &job.tags { span.tag { (k) "=" (v) } " " } }
        }
        section aria-labelledby="graph-title" {
            h2 #graph-title { "Op graph " span.muted { "(" (job.nodes.len()) " ops)" } }
            @if job.nodes.is_empty() {
                (empty("This job has no ops.", html! {}))
            } @else {
                div.graph-wrap { (svg(&op_graph(job), &format!("Op graph of {}", job.name))) }
            }
        }
    };
    Ok(page(&job.name, Section::Jobs, body))
}

/// `GET /jobs/{location}/{job}`.
pub(crate) async fn job(
    State(ui): State<Ui>,
    Path((location, job)): Path<(String, String)>,
) -> UiResult<Markup> {
    job_page(&ui, &location, &job).await
}

/// What the launchpad shows: the texts as typed and what is wrong with them.
struct Launchpad<'a> {
    found: &'a FoundJob,
    location: &'a str,
    config: String,
    tags: String,
    /// The partition typed, for a partitioned job.
    partition: String,
    /// The job's partition keys, newest first (empty when it is not partitioned).
    partition_keys: Vec<String>,
    problems: Problems,
}

/// The keys a partitioned job's launchpad offers, newest first; none for another job.
async fn partition_keys(ui: &Ui, found: &FoundJob) -> UiResult<Vec<String>> {
    let Some(partitions) = &found.job().partitions else {
        return Ok(Vec::new());
    };
    let now = ui.partitions_context([partitions]).await?;
    let mut keys = partitions
        .keys(&now)
        .map_err(|error| ServiceError::Partition {
            job: found.job().name.clone(),
            error,
        })?;
    keys.reverse();
    keys.truncate(PARTITIONS_OFFERED);
    Ok(keys)
}

/// What stops a launch, each with where it is.
#[derive(Default)]
struct Problems {
    /// The config document does not parse.
    syntax: Option<String>,
    /// `(path, message)` for each config error.
    config: Vec<(String, String)>,
    /// Malformed tag lines.
    tags: Vec<String>,
    /// The launch itself failed.
    launch: Option<String>,
}

impl Problems {
    fn is_empty(&self) -> bool {
        self.syntax.is_none()
            && self.config.is_empty()
            && self.tags.is_empty()
            && self.launch.is_none()
    }
}

/// `GET /jobs/{location}/{job}/launchpad`.
pub(crate) async fn launchpad(
    State(ui): State<Ui>,
    Path((location, job)): Path<(String, String)>,
) -> UiResult<Markup> {
    let found = find(&ui, &location, &job).await?;
    let config = run_config_yaml(&found.config_scaffold());
    let pad = Launchpad {
        found: &found,
        location: &location,
        config,
        tags: String::new(),
        partition: String::new(),
        partition_keys: partition_keys(&ui, &found).await?,
        problems: Problems::default(),
    };
    Ok(launchpad_page(&pad))
}

fn launchpad_page(pad: &Launchpad<'_>) -> Markup {
    let job = pad.found.job();
    let href = job_href(pad.location, &job.name);
    let body = html! {
        p.crumbs { a href="/jobs" { "Jobs" } " / " (pad.location) " / " a href=(href) { (job.name) } }
        h1 { "Launchpad: " (job.name) }
        form.launchpad method="post" action={ (href) "/launchpad" } data-check={ (href) "/launchpad/check" } {
            div.editor {
                label for="config" { "Run config " span.muted { "(YAML or JSON)" } }
                textarea #config name="config" rows="20" spellcheck="false" autocapitalize="off"
                    aria-describedby="config-problems" { (pad.config) }
            }
            div #config-problems aria-live="polite" { (problems_panel(&pad.problems)) }
            @if pad.found.job().partitions.is_some() {
                div.editor {
                    label for="partition" { "Partition" }
                    input #partition type="text" name="partition" value=(pad.partition) list="partition-keys"
                        required placeholder=(pad.partition_keys.first().map_or("", String::as_str));
                    datalist #partition-keys {
                        @for key in &pad.partition_keys { option value=(key) {} }
                    }
                }
            }
            div.editor {
                label for="tags" { "Tags " span.muted { "(one key=value a line)" } }
                textarea #tags name="tags" rows="3" spellcheck="false" { (pad.tags) }
            }
            div.actions {
                button.primary type="submit" name="action" value="launch" { "Launch run" }
                button type="submit" name="action" value="check" { "Check config" }
            }
        }
        details {
            summary { "Config schema" }
            pre.config { (serde_json::to_string_pretty(&pad.found.config_schema()).unwrap_or_default()) }
        }
    };
    page(&format!("Launchpad: {}", job.name), Section::Jobs, body)
}

fn problems_panel(problems: &Problems) -> Markup {
    html! {
        @if problems.is_empty() {
            p.ok { "The config is valid." }
        } @else {
            div.problems role="alert" {
                @if let Some(syntax) = &problems.syntax {
                    p { strong { "The config does not parse: " } (syntax) }
                }
                @if !problems.config.is_empty() {
                    p { strong { (problems.config.len()) " config " (if problems.config.len() == 1 { "error" } else { "errors" }) ":" } }
                    ul {
                        @for (path, message) in &problems.config {
                            li { code.path { (path) } " " (message) }
                        }
                    }
                }
                @for tag in &problems.tags { p { (tag) } }
                @if let Some(launch) = &problems.launch { p { strong { "The run was not launched: " } (launch) } }
            }
        }
    }
}

/// The launchpad's form.
#[derive(Debug, Deserialize)]
pub(crate) struct LaunchForm {
    #[serde(default)]
    config: String,
    #[serde(default)]
    tags: String,
    /// The partition to run, for a partitioned job.
    #[serde(default)]
    partition: String,
    #[serde(default)]
    action: Option<String>,
}

/// Parse and validate the form's config: the document, or what is wrong with it.
fn check(found: &FoundJob, text: &str, problems: &mut Problems) -> Option<Value> {
    let document = match parse_run_config(Some(Value::String(text.to_owned()))) {
        Ok(document) => document,
        Err(e) => {
            problems.syntax = Some(match e {
                ServiceError::RunConfigDocument(e) => e.to_string(),
                other => other.to_string(),
            });
            return None;
        }
    };
    match found.validate(&document) {
        Ok(()) => Some(document),
        Err(ServiceError::InvalidRunConfig { errors, .. }) => {
            problems.config = errors
                .iter()
                .map(|e| {
                    let path = e
                        .stack
                        .iter()
                        .map(|s| match s {
                            sluice_core::config::PathSegment::Field(f) => format!(":{f}"),
                            sluice_core::config::PathSegment::Index(i) => format!("[{i}]"),
                        })
                        .collect::<String>();
                    (format!("root{path}"), e.message.clone())
                })
                .collect();
            None
        }
        Err(other) => {
            problems.launch = Some(other.to_string());
            None
        }
    }
}

/// Tags from `key=value` lines (blank lines ignored).
fn parse_tags(text: &str, problems: &mut Problems) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                tags.push((k.trim().to_owned(), v.trim().to_owned()))
            }
            _ => problems
                .tags
                .push(format!("Tag line {}: {line:?} is not key=value.", n + 1)),
        }
    }
    tags
}

/// `POST /jobs/{location}/{job}/launchpad`: check the config, or launch a run with it.
pub(crate) async fn launch(
    State(ui): State<Ui>,
    caller: Option<Extension<Caller>>,
    Path((location, job)): Path<(String, String)>,
    Form(form): Form<LaunchForm>,
) -> UiResult<Response> {
    let found = find(&ui, &location, &job).await?;
    let mut problems = Problems::default();
    let document = check(&found, &form.config, &mut problems);
    let tags = parse_tags(&form.tags, &mut problems);
    if let (Some(document), true, Some("launch")) =
        (document, problems.is_empty(), form.action.as_deref())
    {
        let mut request = LaunchRequest::new(
            JobSelector {
                location: location.clone(),
                repository: REPOSITORY_NAME.to_owned(),
                job: job.clone(),
            },
            document,
        );
        request.tags = tags;
        request.tags.extend(launch_tags(caller.as_deref()));
        let partition = form.partition.trim();
        if !partition.is_empty() {
            request
                .tags
                .push((PARTITION_TAG.to_owned(), partition.to_owned()));
        }
        match ui.launch_run(request).await {
            Ok(run) => {
                return Ok(
                    Redirect::to(&format!("/runs/{}?done=launched", run.run_id)).into_response()
                );
            }
            Err(e) => problems.launch = Some(e.to_string()),
        }
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let pad = Launchpad {
        found: &found,
        location: &location,
        config: form.config,
        tags: form.tags,
        partition: form.partition,
        partition_keys: partition_keys(&ui, &found).await?,
        problems,
    };
    Ok((status, launchpad_page(&pad)).into_response())
}

/// `POST /jobs/{location}/{job}/launchpad/check`: the problems panel for a config as
/// typed (the script asks for it while the config is edited).
pub(crate) async fn check_config(
    State(ui): State<Ui>,
    Path((location, job)): Path<(String, String)>,
    Form(form): Form<LaunchForm>,
) -> UiResult<Markup> {
    let found = find(&ui, &location, &job).await?;
    let mut problems = Problems::default();
    check(&found, &form.config, &mut problems);
    parse_tags(&form.tags, &mut problems);
    Ok(problems_panel(&problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lines_are_key_value_and_bad_lines_are_named() {
        let mut problems = Problems::default();
        let tags = parse_tags("team=data\n\n owner = ana \nnonsense\n=x", &mut problems);
        assert_eq!(
            tags,
            [
                ("team".to_owned(), "data".to_owned()),
                ("owner".to_owned(), "ana".to_owned())
            ]
        );
        assert_eq!(problems.tags.len(), 2);
        assert!(
            problems.tags[0].starts_with("Tag line 4"),
            "{:?}",
            problems.tags
        );
    }
}
