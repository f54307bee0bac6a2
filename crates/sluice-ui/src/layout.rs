//! The frame of every page (head, navigation, main) and the small pieces pages share:
//! status badges, empty states, confirmed actions, notices. Also serves the stylesheet
//! and the script, which are compiled into the binary.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sluice_core::run::RunStatus;

use crate::error::UiError;

const STYLESHEET: &str = include_str!("../static/sluice.css");
const SCRIPT: &str = include_str!("../static/sluice.js");

/// A fingerprint of the static files, put in their URLs so that browsers may cache them
/// for good and still see a new version at once.
static VERSION: LazyLock<String> =
    LazyLock::new(|| sluice_core::hash::fnv1a_hex(STYLESHEET.bytes().chain(SCRIPT.bytes())));

/// `GET /static/{file}`: the stylesheet or the script.
pub(crate) async fn static_file(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "sluice.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "sluice.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return UiError::NotFound(format!("No static file {file:?}.")).into_response(),
    };
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

/// The part of the UI a page belongs to (highlighted in the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Runs,
    Assets,
    Jobs,
    Automation,
    Deployment,
    /// Error pages.
    None,
}

const NAVIGATION: [(Section, &str, &str); 5] = [
    (Section::Runs, "/runs", "Runs"),
    (Section::Assets, "/assets", "Assets"),
    (Section::Jobs, "/jobs", "Jobs"),
    (Section::Automation, "/automation", "Automation"),
    (Section::Deployment, "/deployment", "Deployment"),
];

/// A whole page: `title` in the tab, `body` in `<main>`.
pub(crate) fn page(title: &str, section: Section, body: Markup) -> Markup {
    let version = VERSION.as_str();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Sluice" }
                link rel="stylesheet" href={ "/static/sluice.css?v=" (version) };
                script src={ "/static/sluice.js?v=" (version) } defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/runs" { "Sluice" }
                    nav aria-label="Main" {
                        @for (s, href, label) in NAVIGATION {
                            a href=(href) aria-current=[(s == section).then_some("page")] { (label) }
                        }
                        a href="/graphql" { "GraphQL" }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// A run status, by colour and by word.
pub(crate) fn run_status(status: RunStatus) -> Markup {
    let (class, word) = match status {
        RunStatus::Queued => ("queued", "Queued"),
        RunStatus::NotStarted => ("queued", "Not started"),
        RunStatus::Starting => ("running", "Starting"),
        RunStatus::Started => ("running", "Running"),
        RunStatus::Success => ("success", "Success"),
        RunStatus::Failure => ("failure", "Failure"),
        RunStatus::Canceling => ("canceled", "Canceling"),
        RunStatus::Canceled => ("canceled", "Canceled"),
    };
    badge(class, word)
}

/// A coloured word; `class` is one of the status colours of the stylesheet
/// (`success`, `failure`, `running`, `queued`, `canceled`, `skipped`, `muted`).
pub(crate) fn badge(class: &str, word: &str) -> Markup {
    html! { span class={ "badge " (class) } data-status=(class) { (word) } }
}

/// What an empty list says: what it would show and what to do about it.
pub(crate) fn empty(what: &str, hint: Markup) -> Markup {
    html! {
        div.empty {
            p { strong { (what) } }
            p { (hint) }
        }
    }
}

/// An action behind a confirmation, without JavaScript: the button opens a question
/// whose own button posts `form` to `action`.
pub(crate) fn confirmed_action(
    label: &str,
    question: &str,
    action: &str,
    fields: &[(&str, &str)],
    danger: bool,
) -> Markup {
    html! {
        details.confirm {
            summary.button.danger[danger] { (label) }
            form method="post" action=(action) {
                p { (question) }
                @for (name, value) in fields {
                    input type="hidden" name=(name) value=(value);
                }
                button type="submit" .danger[danger] { "Yes, " (label.to_lowercase()) }
            }
        }
    }
}

/// A one-line message at the top of a page after an action (`?notice=...`).
pub(crate) fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

/// A JSON value written into a page for the script, escaped so it cannot end the
/// `<script>` element it sits in.
pub(crate) fn script_data(id: &str, value: &serde_json::Value) -> Markup {
    let json = value.to_string().replace('<', "\\u003c");
    html! { script type="application/json" id=(id) { (PreEscaped(json)) } }
}
