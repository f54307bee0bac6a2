//! Assets: the catalog by group with search; an asset's page (its definition, latest
//! materialization and metadata, history, checks, partitions and lineage); and
//! materializing a selection of assets, or of an asset's partitions.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use sluice_core::asset::AssetKey;
use sluice_core::events::{EventRecord, now_timestamp};
use sluice_core::metadata::{Metadata, MetadataValue};
use sluice_service::access::Caller;
use sluice_service::assets::{
    CatalogAsset, DefinedAsset, Freshness, Lineage, Materialization, PartitionHealth,
    PartitionState, lineage,
};
use sluice_storage::MaterializationsFilter;

use crate::Ui;
use crate::access::launch_tags;
use crate::dag::{Graph, Node, svg};
use crate::error::{UiError, UiResult};
use crate::format::{count, duration, short_id, time};
use crate::layout::{Section, badge, empty, page};
use crate::runs::{Params, job_href, path_segment};

/// Materializations listed on an asset's page.
const HISTORY: usize = 25;
/// How far the lineage graph reaches each way, unless asked otherwise.
const DEFAULT_DEPTH: usize = 1;
/// The deepest lineage the page offers.
const MAX_DEPTH: usize = 6;
/// What `partitions` says to choose every missing and failed partition.
const MISSING: &str = "@missing";

/// `/assets/<key path>`: a stable link to an asset.
pub(crate) fn asset_href(key: &AssetKey) -> String {
    let mut href = String::from("/assets");
    for part in key.path() {
        href.push('/');
        href.push_str(&path_segment(part));
    }
    href
}

/// How fresh an asset is, by colour and by word.
fn freshness_badge(freshness: &Freshness) -> Markup {
    let (class, word) = freshness_words(freshness);
    badge(class, word)
}

fn freshness_words(freshness: &Freshness) -> (&'static str, &'static str) {
    match freshness {
        Freshness::Missing => ("queued", "Never materialized"),
        Freshness::Fresh => ("success", "Fresh"),
        Freshness::Stale(_) => ("warning", "Stale"),
    }
}

/// Whether a person can materialize the asset from here (it is defined and computed,
/// not a source).
fn materializable(asset: &CatalogAsset) -> bool {
    asset
        .defined
        .as_ref()
        .is_some_and(|d| !d.definition().is_source && d.definition().op_name.is_some())
}

/// `GET /assets?q=...`: the catalog, by group.
pub(crate) async fn catalog(State(ui): State<Ui>, RawQuery(query): RawQuery) -> UiResult<Markup> {
    let params = Params::parse(query);
    let search = params.get("q").unwrap_or_default().to_lowercase();
    let catalog = ui.asset_catalog().await?;
    let total = catalog.len();
    let mut groups: BTreeMap<&str, Vec<&CatalogAsset>> = BTreeMap::new();
    for asset in &catalog {
        let group = asset
            .defined
            .as_ref()
            .map_or("(not defined in any location)", |d| {
                d.definition().group.as_str()
            });
        let description = asset
            .defined
            .as_ref()
            .and_then(|d| d.definition().description.as_deref())
            .unwrap_or_default();
        let matches = search.is_empty()
            || asset.key.to_string().to_lowercase().contains(&search)
            || group.to_lowercase().contains(&search)
            || description.to_lowercase().contains(&search);
        if matches {
            groups.entry(group).or_default().push(asset);
        }
    }
    let shown: usize = groups.values().map(Vec::len).sum();
    let now = now_timestamp();
    let body = html! {
        h1 { "Assets" }
        form.filters method="get" action="/assets" role="search" {
            label { "Search " input type="search" name="q" value=(search) placeholder="key, group or description"; }
            button type="submit" { "Search" }
            @if !search.is_empty() { a href="/assets" { "Clear" } }
        }
        @if total == 0 {
            (empty("No assets yet.", html! {
                "Define assets in a code location, then reload it on the "
                a href="/deployment" { "Deployment" } " page. Materialized assets appear here too."
            }))
        } @else if shown == 0 {
            (empty("No asset matches this search.", html! { a href="/assets" { "Show every asset" } }))
        } @else {
            p.muted { (count(shown, "asset", "assets")) " in " (count(groups.len(), "group", "groups")) }
            form method="post" action="/assets" {
                @for (group, assets) in &groups {
                    section aria-label={ "Group " (group) } {
                        h2 { (group) " " span.muted { "(" (assets.len()) ")" } }
                        div.table-wrap {
                            table {
                                thead { tr {
                                    th { span.visually-hidden { "Select" } }
                                    th { "Asset" } th { "Description" } th { "Latest materialization" } th { "Freshness" } th { "Location" }
                                } }
                                tbody {
                                    @for asset in assets { (catalog_row(asset, now)) }
                                }
                            }
                        }
                    }
                }
                div.actions {
                    button.primary type="submit" { "Materialize selected" }
                }
            }
        }
    };
    Ok(page("Assets", Section::Assets, body))
}

fn catalog_row(asset: &CatalogAsset, now: f64) -> Markup {
    let key = asset.key.to_string();
    let definition = asset.defined.as_ref().map(DefinedAsset::definition);
    html! {
        tr {
            td {
                @if materializable(asset) {
                    input type="checkbox" name="key" value=(key) aria-label={ "Select " (key) };
                }
            }
            td { a.mono href=(asset_href(&asset.key)) { (key) }
                @if definition.is_some_and(|d| d.partitions.is_some()) { " " span.tag { "partitioned" } } }
            td.muted { (definition.and_then(|d| d.description.as_deref()).unwrap_or_default()) }
            td { (latest_cell(asset, now)) }
            td { (freshness_badge(&asset.freshness)) }
            td { (asset.defined.as_ref().map(|d| d.location.as_str()).unwrap_or("–")) }
        }
    }
}

fn latest_cell(asset: &CatalogAsset, now: f64) -> Markup {
    let latest = asset.latest.as_ref();
    html! {
        @match latest.and_then(|l| l.last_materialization_timestamp) {
            Some(at) => {
                (time(at)) " " span.muted.small { "(" (duration((now - at).max(0.0))) " ago)" }
                @if let Some(run) = latest.and_then(|l| l.last_run_id.as_deref()).filter(|r| !r.is_empty()) {
                    " · " a.mono href={ "/runs/" (run) } { (short_id(run)) }
                }
            }
            None => span.muted { "–" },
        }
    }
}

/// `GET /assets/{key path}?depth=N`: an asset.
pub(crate) async fn asset(
    State(ui): State<Ui>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> UiResult<Markup> {
    let params = Params::parse(query);
    let key = AssetKey::parse(key.trim_end_matches('/'))
        .map_err(|e| UiError::NotFound(format!("\"{key}\" is not an asset key: {e}.")))?;
    let depth = match params.get("depth") {
        None => DEFAULT_DEPTH,
        Some(d) => d
            .parse::<usize>()
            .ok()
            .filter(|d| *d <= MAX_DEPTH)
            .ok_or_else(|| {
                UiError::BadRequest(format!(
                    "depth {d:?} is not a number of steps from 0 to {MAX_DEPTH}."
                ))
            })?,
    };
    let catalog = ui.asset_catalog().await?;
    let Some(asset) = catalog.iter().find(|a| a.key == key) else {
        return Err(UiError::NotFound(format!(
            "No asset {key}: no loaded location defines it and it was never materialized."
        )));
    };
    let lineage = lineage(&catalog, &key, depth).unwrap_or_default();
    let history = ui
        .asset_materializations(
            &key,
            &MaterializationsFilter {
                limit: Some(HISTORY),
                ..Default::default()
            },
        )
        .await?;
    let health = match &asset.defined {
        Some(defined) => ui.asset_partition_health(defined).await?,
        None => None,
    };
    let mut checks = Vec::new();
    if let Some(defined) = &asset.defined {
        for check in &defined.definition().checks {
            let last = ui
                .asset_check_evaluations(&key, Some(&check.name), 1)
                .await?;
            checks.push((check, last.into_iter().next()));
        }
    }
    let definition = asset.defined.as_ref().map(DefinedAsset::definition);
    let now = now_timestamp();
    let body = html! {
        p.crumbs { a href="/assets" { "Assets" } " / " (definition.map_or("(not defined)", |d| d.group.as_str())) }
        div.run-header {
            h1.mono { (key) }
            (freshness_badge(&asset.freshness))
        }
        @if let Freshness::Stale(newer) = &asset.freshness {
            p.muted {
                "Materialized before the latest materialization of "
                @for (i, up) in newer.iter().enumerate() {
                    @if i > 0 { ", " }
                    a.mono href=(asset_href(up)) { (up) }
                }
                "."
            }
        }
        @if let Some(d) = definition.and_then(|d| d.description.as_deref()) { p { (d) } }
        (facts(asset))
        @if materializable(asset) { (materialize_form(asset, health.as_ref())) }
        @if let Some(definition) = definition.filter(|d| !d.metadata.is_empty()) {
            section aria-labelledby="definition-metadata" {
                h2 #definition-metadata { "Definition metadata" }
                (metadata_table(&definition.metadata))
            }
        }
        section aria-labelledby="latest" {
            h2 #latest { "Latest materialization" }
            @match history.first() {
                Some(record) => (materialization(record)),
                None => (empty("Never materialized.", html! {
                    @if materializable(asset) { "Use Materialize above to compute it." }
                    @else { "It is materialized outside Sluice, or by a location that is not loaded." }
                })),
            }
        }
        @if let Some(health) = &health {
            section aria-labelledby="partitions" {
                h2 #partitions { "Partitions " span.muted { "(" (health.partitions.len()) ")" } }
                (partition_bar(health))
            }
        }
        @if !checks.is_empty() {
            section aria-labelledby="checks" {
                h2 #checks { "Checks" }
                div.table-wrap { table {
                    thead { tr { th { "Check" } th { "Description" } th { "Last result" } th { "When" } th { "Run" } } }
                    tbody {
                        @for (check, last) in &checks {
                            tr {
                                td.mono { (check.name) @if check.blocking { " " span.tag { "blocking" } } }
                                td.muted { (check.description.as_deref().unwrap_or_default()) }
                                @match last.as_ref().and_then(|r| r.event.check_evaluation().map(|e| (r, e))) {
                                    Some((record, evaluation)) => {
                                        td { @if evaluation.passed { (badge("success", "Passed")) } @else {
                                            (badge("failure", "Failed")) " " span.muted.small { (format!("{:?}", evaluation.severity).to_uppercase()) }
                                        } }
                                        td { (time(record.event.timestamp)) }
                                        td { a.mono href={ "/runs/" (record.event.run_id) } { (short_id(&record.event.run_id)) } }
                                    }
                                    None => { td { (badge("muted", "Not run yet")) } td { "–" } td { "–" } }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section aria-labelledby="lineage" {
            h2 #lineage { "Lineage" }
            form.filters method="get" action=(asset_href(&key)) {
                label { "Depth "
                    select name="depth" data-autosubmit {
                        @for d in 0..=MAX_DEPTH {
                            option value=(d) selected[d == depth] { (d) }
                        }
                    }
                }
                noscript { button type="submit" { "Show" } }
            }
            div.graph-wrap { (svg(&lineage_graph(&lineage, now), &format!("Lineage of {key}"))) }
        }
        section aria-labelledby="history" {
            h2 #history { "Materializations " span.muted { "(latest " (HISTORY) ")" } }
            @if history.is_empty() {
                (empty("No materializations.", html! {}))
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "When" } th { "Partition" } th { "Run" } th { "Metadata" } } }
                    tbody {
                        @for record in &history {
                            @if let Some(m) = record.event.materialization() {
                                tr {
                                    td { (time(record.event.timestamp)) }
                                    td.mono { (m.partition.as_deref().unwrap_or("–")) }
                                    td { (run_link(&record.event.run_id)) }
                                    td.small { (metadata_summary(&m.metadata)) }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(page(&key.to_string(), Section::Assets, body))
}

fn facts(asset: &CatalogAsset) -> Markup {
    let Some(defined) = &asset.defined else {
        return html! { p.muted { "No loaded code location defines this asset; it has materializations only." } };
    };
    let d = defined.definition();
    html! {
        dl.facts {
            dt { "Group" } dd { (d.group) }
            dt { "Location" } dd { (defined.location) }
            @if !d.owners.is_empty() { dt { "Owners" } dd { @for o in &d.owners { span.tag { (o) } } } }
            @if !d.tags.is_empty() { dt { "Tags" } dd { @for (k, v) in &d.tags { span.tag { (k) "=" (v) } } } }
            @if let Some(v) = &d.code_version { dt { "Code version" } dd.mono { (v) } }
            @if d.is_source { dt { "Kind" } dd { @if d.is_observable { "Observable source" } @else { "Source" } } }
            @if !d.job_names.is_empty() {
                dt { "Jobs" }
                dd { @for (i, job) in d.job_names.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(job_href(&defined.location, job)) { (job) }
                } }
            }
            @if !d.deps.is_empty() {
                dt { "Upstream" }
                dd { @for (i, dep) in d.deps.iter().enumerate() {
                    @if i > 0 { ", " }
                    a.mono href=(asset_href(dep)) { (dep) }
                } }
            }
        }
    }
}

/// The Materialize action: one button for an unpartitioned asset; for a partitioned one,
/// the partitions to materialize (keys and ranges), or every missing and failed one.
fn materialize_form(asset: &CatalogAsset, health: Option<&PartitionHealth>) -> Markup {
    let key = asset.key.to_string();
    html! {
        form.actions method="post" action="/assets" {
            input type="hidden" name="key" value=(key);
            @if let Some(health) = health {
                label { "Partitions "
                    input type="text" name="partitions" size="36"
                        placeholder="2026-01-01, 2026-01-03...2026-01-09"
                        aria-describedby="partitions-help";
                }
                button.primary type="submit" { "Materialize partitions" }
                @let unfinished = health.count(PartitionState::Missing) + health.count(PartitionState::Failed);
                @if unfinished > 0 {
                    button type="submit" name="missing" value="1" {
                        "Materialize " (count(unfinished, "missing or failed partition", "missing or failed partitions"))
                    }
                }
                p #partitions-help .muted.small { "Keys separated by commas; first...last for a range. Several partitions start a backfill." }
            } @else {
                button.primary type="submit" { "Materialize" }
            }
        }
    }
}

fn run_link(run_id: &str) -> Markup {
    html! {
        @if run_id.is_empty() { span.muted { "reported" } }
        @else { a.mono href={ "/runs/" (run_id) } { (short_id(run_id)) } }
    }
}

fn materialization(record: &EventRecord) -> Markup {
    let Some(m) = record.event.materialization() else {
        return html! {};
    };
    html! {
        dl.facts {
            dt { "When" } dd { (time(record.event.timestamp)) }
            dt { "Run" } dd { (run_link(&record.event.run_id)) }
            @if let Some(p) = &m.partition { dt { "Partition" } dd.mono { (p) } }
            @if let Some(v) = &m.data_version { dt { "Data version" } dd.mono { (v) } }
            @if let Some(d) = &m.description { dt { "Description" } dd { (d) } }
        }
        @if !m.metadata.is_empty() { (metadata_table(&m.metadata)) }
    }
}

/// Metadata entries, each value shown as its kind wants: links, paths, tables, JSON,
/// markdown rendered.
fn metadata_table(metadata: &Metadata) -> Markup {
    html! {
        div.table-wrap { table.metadata {
            thead { tr { th { "Label" } th { "Value" } } }
            tbody {
                @for (label, value) in metadata {
                    tr { td.mono { (label) } td { (metadata_value(value)) } }
                }
            }
        } }
    }
}

fn metadata_value(value: &MetadataValue) -> Markup {
    match value {
        MetadataValue::Text(t) => html! { (t) },
        MetadataValue::Int(i) => html! { span.mono { (i) } },
        MetadataValue::Float(f) => html! { span.mono { (f) } },
        MetadataValue::Bool(b) => html! { span.mono { (b) } },
        MetadataValue::Json(v) => html! {
            pre.json { (serde_json::to_string_pretty(v).unwrap_or_default()) }
        },
        MetadataValue::Url(u) if safe_url(u) => {
            html! { a href=(u) rel="noopener noreferrer" { (u) } }
        }
        MetadataValue::Url(u) => html! { span.mono { (u) } },
        MetadataValue::Path(p) => html! { code { (p) } },
        MetadataValue::Markdown(md) => html! { div.markdown { (markdown(md)) } },
        MetadataValue::TableSchema(columns) => html! {
            table.schema {
                thead { tr { th { "Column" } th { "Type" } th { "Description" } } }
                tbody {
                    @for c in columns {
                        tr { td.mono { (c.name) } td.mono { (c.column_type) } td.muted { (c.description.as_deref().unwrap_or_default()) } }
                    }
                }
            }
        },
    }
}

/// One line of a materialization's metadata for the history table.
fn metadata_summary(metadata: &Metadata) -> Markup {
    html! {
        @for (label, value) in metadata.iter().take(4) {
            span.tag { (label) @if let Some(short) = short_value(value) { ": " (short) } }
        }
        @if metadata.len() > 4 { span.muted { " +" (metadata.len() - 4) } }
    }
}

fn short_value(value: &MetadataValue) -> Option<String> {
    Some(match value {
        MetadataValue::Int(i) => i.to_string(),
        MetadataValue::Float(f) => f.to_string(),
        MetadataValue::Bool(b) => b.to_string(),
        MetadataValue::Text(t) | MetadataValue::Path(t) | MetadataValue::Url(t)
            if t.len() <= 40 =>
        {
            t.clone()
        }
        _ => return None,
    })
}

/// Whether a link may be followed from the page: web links only (no `javascript:`).
fn safe_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with('/')
}

/// Markdown as HTML. Raw HTML in it is shown as text and only web links are kept, so
/// that metadata cannot put script on the page.
fn markdown(text: &str) -> Markup {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
    let events = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_url(&dest_url) => Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::Borrowed(""),
                title,
                id,
            }),
            other => other,
        },
    );
    let mut html = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    PreEscaped(html)
}

/// The partitions' states as one bar: consecutive partitions in the same state make one
/// segment, named by its first and last keys, so that any number of partitions draws
/// in a few elements.
fn partition_bar(health: &PartitionHealth) -> Markup {
    let total = health.partitions.len().max(1) as f64;
    let mut runs: Vec<(PartitionState, &str, &str, usize)> = Vec::new();
    for (key, state) in &health.partitions {
        match runs.last_mut() {
            Some(last) if last.0 == *state => {
                last.2 = key;
                last.3 += 1;
            }
            _ => runs.push((*state, key, key, 1)),
        }
    }
    let counts = [
        (PartitionState::Materialized, "success", "materialized"),
        (PartitionState::Failed, "failure", "failed"),
        (PartitionState::Missing, "queued", "missing"),
    ];
    let label = counts
        .iter()
        .map(|(state, _, word)| format!("{} {word}", health.count(*state)))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        @if health.partitions.is_empty() {
            (empty("This asset has no partitions yet.", html! { "Add keys to its dynamic partitions set with " code { "sluice partition add" } "." }))
        } @else {
            div.health.partition-health role="img" aria-label=(label) {
                @for (state, first, last, n) in &runs {
                    @let (class, word) = counts.iter().find(|c| c.0 == *state).map(|c| (c.1, c.2)).unwrap_or(("queued", "missing"));
                    @let what = if first == last { format!("{first}: {word}") } else { format!("{first} … {last} ({n}): {word}") };
                    span class={ "seg " (class) } data-state=(word) title=(what)
                        style=(format!("width:{:.3}%", *n as f64 * 100.0 / total)) {}
                }
            }
            p.small {
                @for (state, class, word) in &counts {
                    (badge(class, &format!("{} {word}", health.count(*state)))) " "
                }
            }
        }
    }
}

fn lineage_graph(lineage: &Lineage, now: f64) -> Graph {
    let nodes = lineage
        .assets
        .iter()
        .map(|asset| {
            let (class, word) = freshness_words(&asset.freshness);
            let age = asset
                .latest
                .as_ref()
                .and_then(|l| l.last_materialization_timestamp)
                .map(|at| format!(" · {} ago", duration((now - at).max(0.0))));
            Node {
                label: asset.key.to_string(),
                detail: Some(format!("{word}{}", age.unwrap_or_default())),
                href: Some(asset_href(&asset.key)),
                class,
            }
        })
        .collect();
    Graph {
        nodes,
        edges: lineage.edges.clone(),
    }
}

/// `POST /assets`: materialize the form's assets (`key`, repeated), or the chosen
/// `partitions` of one: keys and `first...last` ranges, or, with `missing` set, every
/// missing and failed partition.
pub(crate) async fn materialize(
    State(ui): State<Ui>,
    caller: Option<Extension<Caller>>,
    body: String,
) -> UiResult<Response> {
    let form = Params::parse(Some(body));
    let keys = form
        .all("key")
        .map(|k| {
            AssetKey::parse(k)
                .map_err(|e| UiError::BadRequest(format!("\"{k}\" is not an asset key: {e}.")))
        })
        .collect::<UiResult<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(UiError::BadRequest(
            "Choose at least one asset to materialize (tick it in the catalog).".into(),
        ));
    }
    let mut partitions = Vec::new();
    let wanted = match form.get("missing") {
        Some(_) => Some(MISSING),
        None => form.get("partitions"),
    };
    if let Some(wanted) = wanted {
        let [key] = keys.as_slice() else {
            return Err(UiError::BadRequest(
                "Partitions can be chosen for one asset at a time.".into(),
            ));
        };
        let defined = ui
            .defined_assets()
            .await
            .into_iter()
            .find(|a| a.key() == key)
            .ok_or_else(|| UiError::NotFound(format!("No loaded location defines asset {key}.")))?;
        let health = ui
            .asset_partition_health(&defined)
            .await?
            .ok_or_else(|| UiError::BadRequest(format!("Asset {key} is not partitioned.")))?;
        partitions = choose_partitions(&health, wanted).map_err(UiError::BadRequest)?;
    }
    let to = match ui
        .materialize(&keys, &partitions, launch_tags(caller.as_deref()))
        .await?
    {
        Materialization::Run(run) => format!("/runs/{}?done=launched", run.run_id),
        Materialization::Backfill(backfill) => {
            format!("/backfills/{}", path_segment(backfill.id()))
        }
    };
    Ok(Redirect::to(&to).into_response())
}

/// The partitions `wanted` names, in the partitioning's order: `@missing` (every missing
/// or failed one), or keys and `first...last` ranges separated by commas.
fn choose_partitions(health: &PartitionHealth, wanted: &str) -> Result<Vec<String>, String> {
    let keys: Vec<&str> = health.partitions.iter().map(|(k, _)| k.as_str()).collect();
    if wanted.trim() == MISSING {
        let missing: Vec<String> = health
            .partitions
            .iter()
            .filter(|(_, s)| *s != PartitionState::Materialized)
            .map(|(k, _)| k.clone())
            .collect();
        if missing.is_empty() {
            return Err("no partition is missing or failed: every one is materialized".into());
        }
        return Ok(missing);
    }
    let position = |key: &str| {
        keys.iter().position(|k| *k == key).ok_or_else(|| {
            format!(
                "partition \"{key}\" does not exist (the first is \"{}\", the last \"{}\")",
                keys.first().unwrap_or(&""),
                keys.last().unwrap_or(&"")
            )
        })
    };
    let mut chosen = vec![false; keys.len()];
    for part in wanted.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once("...") {
            Some((first, last)) => {
                let (a, b) = (position(first.trim())?, position(last.trim())?);
                if a > b {
                    return Err(format!("range \"{part}\" ends before it starts"));
                }
                chosen[a..=b].iter_mut().for_each(|c| *c = true);
            }
            None => chosen[position(part)?] = true,
        }
    }
    if !chosen.contains(&true) {
        return Err("name at least one partition to materialize".into());
    }
    Ok(keys
        .iter()
        .zip(chosen)
        .filter(|(_, c)| *c)
        .map(|(k, _)| (*k).to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> PartitionHealth {
        PartitionHealth {
            partitions: ["a", "b", "c", "d", "e"]
                .iter()
                .zip([
                    PartitionState::Materialized,
                    PartitionState::Failed,
                    PartitionState::Missing,
                    PartitionState::Materialized,
                    PartitionState::Missing,
                ])
                .map(|(k, s)| ((*k).to_owned(), s))
                .collect(),
        }
    }

    #[test]
    fn partitions_are_chosen_by_key_range_or_state() {
        let h = health();
        assert_eq!(choose_partitions(&h, "a").unwrap(), ["a"]);
        assert_eq!(
            choose_partitions(&h, " d , b...c ").unwrap(),
            ["b", "c", "d"]
        );
        assert_eq!(choose_partitions(&h, "@missing").unwrap(), ["b", "c", "e"]);
        let unknown = choose_partitions(&h, "a, zz").unwrap_err();
        assert!(unknown.contains("\"zz\" does not exist"), "{unknown}");
        assert!(
            choose_partitions(&h, "d...b")
                .unwrap_err()
                .contains("ends before")
        );
        assert!(
            choose_partitions(&h, " , ")
                .unwrap_err()
                .contains("at least one")
        );
        let done = PartitionHealth {
            partitions: vec![("a".into(), PartitionState::Materialized)],
        };
        let nothing = choose_partitions(&done, MISSING).unwrap_err();
        assert!(nothing.contains("every one is materialized"), "{nothing}");
    }

    #[test]
    fn markdown_renders_but_carries_no_script() {
        let html = markdown("# Title\n\n**bold** [ok](https://x.test) [bad](javascript:alert(1))\n\n<script>alert(1)</script>").into_string();
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("href=\"https://x.test\""), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn the_partition_bar_draws_one_segment_per_run_of_states() {
        let many = PartitionHealth {
            partitions: (0..1000)
                .map(|i| {
                    (
                        format!("p{i:04}"),
                        if i < 600 {
                            PartitionState::Materialized
                        } else {
                            PartitionState::Missing
                        },
                    )
                })
                .collect(),
        };
        let html = partition_bar(&many).into_string();
        assert_eq!(html.matches("class=\"seg ").count(), 2, "{html}");
        assert!(html.contains("p0000 … p0599 (600): materialized"), "{html}");
        assert!(
            html.contains("600 materialized, 0 failed, 400 missing"),
            "{html}"
        );
    }

    #[test]
    fn asset_links_keep_each_part_of_the_key() {
        let key = AssetKey::parse("warehouse/daily_revenue").unwrap();
        assert_eq!(asset_href(&key), "/assets/warehouse/daily_revenue");
    }
}
