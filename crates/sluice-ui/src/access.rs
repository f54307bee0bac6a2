//! Who may use the UI's actions, and signing in.
//!
//! The webserver authenticates every request and puts its [`Caller`] in the request's
//! extensions. [`authorize`] checks each action (`POST`) against the permission its route
//! needs, as GraphQL does for mutations, refuses it with 403 when the caller's role lacks
//! it, and writes it to the audit log either way. `/signin` takes a token and keeps it in
//! an HttpOnly, SameSite=Strict session cookie ([`SESSION_COOKIE`]), `Secure` when the
//! page came over TLS.

use axum::extract::{Form, MatchedPath, Query, Request, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use sluice_service::access::{Caller, Permission, USER_TAG};

use crate::Ui;
use crate::layout::{Section, page};

/// The cookie that carries a signed-in browser's token.
pub const SESSION_COOKIE: &str = "sluice_session";

/// How long a browser stays signed in.
const SESSION_SECONDS: u64 = 12 * 60 * 60;

/// The permission a `POST` route needs; `None` for those that change nothing.
fn route_permission(route: &str) -> Option<Permission> {
    Some(match route {
        "/runs/{id}/terminate" => Permission::TerminateRun,
        "/runs/{id}/reexecute" => Permission::ReexecuteRun,
        "/runs/{id}/delete" => Permission::DeleteRun,
        "/assets" | "/jobs/{location}/{job}/launchpad" => Permission::LaunchRun,
        "/automation/{location}/{name}/{action}" => Permission::StartSchedule,
        "/backfills/{id}/{action}" => Permission::CancelBackfill,
        "/deployment/locations/{name}/reload" => Permission::ReloadLocation,
        _ => return None,
    })
}

/// The tags a run launched from the UI gets: who launched it.
pub(crate) fn launch_tags(caller: Option<&Caller>) -> Vec<(String, String)> {
    Caller::of(caller).run_tags()
}

/// The middleware: check and audit every action.
pub(crate) async fn authorize(
    State(ui): State<Ui>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let permission = route
        .as_ref()
        .filter(|_| request.method() == Method::POST)
        .and_then(|r| route_permission(r.as_str()));
    let Some(permission) = permission else {
        return next.run(request).await;
    };
    let caller = Caller::of(request.extensions().get::<Caller>());
    let path = request.uri().path().to_owned();
    let action = format!("ui {}", route.as_ref().map_or("", |r| r.as_str()));
    let mut allowed = caller.may(permission);
    if allowed && permission == Permission::TerminateRun && !caller.may_terminate(None) {
        // A launcher terminates only the runs it launched.
        let run_id = path
            .trim_start_matches("/runs/")
            .trim_end_matches("/terminate");
        allowed = match ui.run(run_id).await {
            Ok(run) => caller.may_terminate(run.tags.get(USER_TAG).map(String::as_str)),
            Err(_) => true, // the handler says the run does not exist
        };
    }
    if !allowed {
        ui.audit(&caller, &action, &path, "denied").await;
        let message = caller.refusal(permission).to_string();
        let body = html! {
            h1 { "Not allowed" }
            p.error-message role="alert" { (message) }
            p { "Ask an admin for a token with a role that may." }
        };
        return (
            StatusCode::FORBIDDEN,
            page("Not allowed", Section::None, body),
        )
            .into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    let outcome = if status.is_success() || status.is_redirection() {
        "ok".to_owned()
    } else {
        format!("error: {status}")
    };
    ui.audit(&caller, &action, &path, &outcome).await;
    response
}

/// Where to go after signing in: a path of this site only.
#[derive(Debug, Deserialize)]
pub(crate) struct SigninQuery {
    next: Option<String>,
}

fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/runs",
    }
}

fn signin_page(next: &str, error: Option<&str>) -> maud::Markup {
    page(
        "Sign in",
        Section::None,
        html! {
            h1 { "Sign in" }
            @if let Some(error) = error { p.error-message role="alert" { (error) } }
            form method="post" action="/signin" {
                input type="hidden" name="next" value=(next);
                label { "API token " input type="password" name="token" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
            p.muted { "An admin creates tokens with " code { "sluice token create --name NAME --role ROLE" } "." }
        },
    )
}

/// `GET /signin`.
pub(crate) async fn signin_form(Query(next): Query<SigninQuery>) -> maud::Markup {
    signin_page(safe_next(next.next.as_deref()), None)
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct SigninForm {
    token: String,
    next: Option<String>,
}

/// `POST /signin`: check the token, keep it in the session cookie.
pub(crate) async fn signin(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_owned();
    match ui.authenticate(form.token.trim()).await {
        Ok(caller) => {
            ui.audit(&caller, "ui sign in", "", "ok").await;
            let secure = headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}",
                form.token.trim(),
                if secure { "; Secure" } else { "" }
            );
            redirect_with_cookie(&next, &cookie)
        }
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            signin_page(&next, Some(&e.to_string())),
        )
            .into_response(),
    }
}

/// `POST /signout`: forget the session cookie.
pub(crate) async fn signout() -> Response {
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    redirect_with_cookie("/signin", &cookie)
}

fn redirect_with_cookie(to: &str, cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(to) = HeaderValue::from_str(to) {
        headers.insert(LOCATION, to);
    }
    if let Ok(cookie) = HeaderValue::from_str(cookie) {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_returns_only_to_this_site() {
        assert_eq!(safe_next(Some("/runs/abc")), "/runs/abc");
        assert_eq!(safe_next(Some("//evil.example/x")), "/runs");
        assert_eq!(safe_next(Some("https://evil.example")), "/runs");
        assert_eq!(safe_next(Some("/\\evil.example")), "/runs");
        assert_eq!(safe_next(None), "/runs");
    }

    #[test]
    fn every_action_needs_a_permission() {
        assert_eq!(
            route_permission("/runs/{id}/delete"),
            Some(Permission::DeleteRun)
        );
        assert_eq!(
            route_permission("/deployment/locations/{name}/reload"),
            Some(Permission::ReloadLocation)
        );
        assert_eq!(
            route_permission("/jobs/{location}/{job}/launchpad/check"),
            None
        );
    }
}
