//! Who is asking: every request is signed in before it reaches GraphQL or the UI.
//!
//! With `authentication: tokens` (the production default), a request carries an API
//! token as `Authorization: Bearer TOKEN` (scripts, Dagster's Python client with
//! `headers=`) or in the UI's session cookie, and its [`Caller`] (the token's name and
//! role) goes into the request's extensions, where GraphQL and the UI check permissions.
//! A request without a valid token is refused: 401 with a GraphQL error on `/graphql`,
//! a redirect to `/signin` for a page. Health, version info, the static files and the
//! sign-in page itself are open. With `authentication: off` every caller is anonymous
//! and may do anything: the default of `sluice dev` on a loopback address.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, LOCATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sluice_service::Service;
use sluice_service::access::Caller;

/// Whether callers must sign in (`webserver.authentication` in `sluice.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authentication {
    /// Anyone who reaches the port may do anything.
    Off,
    /// Every request needs an API token (`sluice token create`).
    Tokens,
}

/// The state of the middleware.
pub(crate) struct Auth {
    pub(crate) mode: Authentication,
    pub(crate) service: Arc<Service>,
}

/// Paths anyone may reach: health and version checks, the UI's static files, GraphiQL's
/// script, and signing in.
fn is_open(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/server_info" | "/dagit_info" | "/signin" | "/graphiql.js"
    ) || path.starts_with("/static/")
}

/// The token a request carries: its bearer token, else its session cookie.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    bearer.or_else(|| {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == sluice_ui::SESSION_COOKIE)
            .map(|(_, value)| value.to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// The middleware: sign the request in, or refuse it.
pub(crate) async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    if auth.mode == Authentication::Off {
        request.extensions_mut().insert(Caller::anonymous());
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    if is_open(&path) {
        return next.run(request).await;
    }
    let reason = match presented_token(request.headers()) {
        None => "no API token: send `Authorization: Bearer TOKEN`, or sign in".to_owned(),
        Some(token) => match auth.service.authenticate(&token).await {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                return next.run(request).await;
            }
            Err(e) => e.to_string(),
        },
    };
    if path.starts_with("/graphql") {
        let body = json!({"data": null, "errors": [{"message": reason, "extensions": {"code": "UNAUTHENTICATED"}}]});
        let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    } else if request.method() == Method::GET {
        let next = request
            .uri()
            .path_and_query()
            .map_or("/runs".to_owned(), |p| p.as_str().to_owned());
        let to = format!(
            "/signin?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(to) = HeaderValue::from_str(&to) {
            response.headers_mut().insert(LOCATION, to);
        }
        response
    } else {
        (
            StatusCode::UNAUTHORIZED,
            format!("Not signed in: {reason}\n"),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn a_token_comes_from_the_bearer_header_or_the_session_cookie() {
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer sluice_abc")])).as_deref(),
            Some("sluice_abc")
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "bearer  sluice_abc ")])).as_deref(),
            Some("sluice_abc")
        );
        assert_eq!(
            presented_token(&headers(&[("cookie", "a=b; sluice_session=sluice_x; c=d")]))
                .as_deref(),
            Some("sluice_x")
        );
        assert_eq!(
            presented_token(&headers(&[("authorization", "Basic dXNlcg==")])),
            None
        );
        assert_eq!(
            presented_token(&headers(&[("cookie", "sluice_session=")])),
            None
        );
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }

    #[test]
    fn only_health_version_static_and_sign_in_are_open() {
        for open in ["/healthz", "/server_info", "/static/sluice.css", "/signin"] {
            assert!(is_open(open), "{open}");
        }
        for closed in ["/graphql", "/runs", "/signout", "/"] {
            assert!(!is_open(closed), "{closed}");
        }
    }
}
