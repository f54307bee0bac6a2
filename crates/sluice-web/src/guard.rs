//! The guard in front of every route: which hosts the webserver answers to, which pages
//! may act on it from a browser, and the security headers of every answer.
//!
//! A browser lets any page send a form `POST` or open a websocket to any address, the
//! visitor's own `localhost` included, and attaches the visitor's cookies. Two checks
//! close that door:
//!
//! - **Host.** A request must name an allowed host. On a loopback address only the
//!   loopback names are, so a page whose own name an attacker re-points at 127.0.0.1
//!   (DNS rebinding) reaches nothing: its requests still say `Host: evil.example`.
//! - **Origin.** A request that can change something (any method but `GET`, `HEAD` and
//!   `OPTIONS`) and every websocket upgrade must come from the webserver's own origin
//!   or an allowed one, when it names its origin at all. Browsers always do for these;
//!   scripts and the Python client do not, and pass.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERRER_POLICY, UPGRADE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::settings::WebSettings;

/// The policy of every page that does not set its own: scripts, styles and connections
/// from this origin only (inline `style` attributes allowed, for bars drawn to scale),
/// no plugins, no framing, forms posted back here.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Which hosts and origins the webserver accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    hosts: Allowed,
    origins: Allowed,
}

/// A list of lower-case names, or anything.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Any,
    Only(Vec<String>),
}

impl Allowed {
    fn from_list(list: &[String], normalize: impl Fn(&str) -> String) -> Self {
        if list.iter().any(|entry| entry.trim() == "*") {
            Self::Any
        } else {
            Self::Only(list.iter().map(|entry| normalize(entry.trim())).collect())
        }
    }

    fn allows(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// Why the guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The `Host` header is missing or names a host not allowed.
    #[error(
        "This webserver does not answer to the host {0:?}. Add it to webserver.allowed_hosts in sluice.yaml if it is yours."
    )]
    Host(String),
    /// A browser sent the request from another site's page.
    #[error(
        "This request was sent from the page of another site ({0}) and was refused. Add the origin to webserver.allowed_origins in sluice.yaml if it is yours."
    )]
    Origin(String),
}

impl Guard {
    /// The guard for a webserver listening on `bound` with `settings`.
    pub fn new(settings: &WebSettings, bound: SocketAddr) -> Self {
        let hosts = match &settings.allowed_hosts {
            Some(list) => Allowed::from_list(list, |h| h.to_ascii_lowercase()),
            None if bound.ip().is_loopback() => Allowed::Only(
                ["localhost", "127.0.0.1", "::1"]
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
            None => Allowed::Any,
        };
        let origins = Allowed::from_list(&settings.allowed_origins, |o| {
            o.trim_end_matches('/').to_ascii_lowercase()
        });
        Self { hosts, origins }
    }

    /// Whether the guard answers to any host (no defence against DNS rebinding).
    pub fn any_host(&self) -> bool {
        self.hosts == Allowed::Any
    }

    /// Check a request's method and headers.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !self.hosts.allows(host_name(&host)) {
            return Err(Refusal::Host(host));
        }
        let acts = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            || headers.contains_key(UPGRADE);
        if acts && let Some(origin) = headers.get(ORIGIN) {
            let origin = origin.to_str().unwrap_or("null").to_ascii_lowercase();
            let own = origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority == host);
            if !own && !self.origins.allows(&origin) {
                return Err(Refusal::Origin(origin));
            }
        }
        Ok(())
    }
}

/// The host name of a `Host` header's value: without its port, an IPv6 address without
/// its brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(name, _)| name);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The middleware: refuse what the guard refuses, and add the security headers to
/// every answer.
pub(crate) async fn guard(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = match guard.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(%refusal, path = %request.uri().path(), "request refused");
            refused(request.uri().path(), &refusal)
        }
    };
    let headers = response.headers_mut();
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        );
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// The answer to a refused request: a GraphQL error on the GraphQL endpoint, text
/// elsewhere.
fn refused(path: &str, refusal: &Refusal) -> Response {
    let message = refusal.to_string();
    if path.starts_with("/graphql") {
        let body = json!({"data": null, "errors": [{"message": message}]});
        (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
    } else {
        (StatusCode::FORBIDDEN, format!("{message}\n")).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn loopback() -> Guard {
        Guard::new(
            &WebSettings::default(),
            "127.0.0.1:3000".parse().expect("addr"),
        )
    }

    #[test]
    fn host_names_lose_their_port_and_brackets() {
        assert_eq!(host_name("localhost:3000"), "localhost");
        assert_eq!(host_name("[::1]:3000"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("a.test"), "a.test");
    }

    #[test]
    fn on_loopback_only_loopback_names_are_answered() {
        let guard = loopback();
        for host in [
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "LOCALHOST",
        ] {
            assert_eq!(
                guard.check(&Method::GET, &headers(&[("host", host)])),
                Ok(())
            );
        }
        let rebound = headers(&[
            ("host", "evil.example:3000"),
            ("origin", "http://evil.example:3000"),
        ]);
        assert_eq!(
            guard.check(&Method::POST, &rebound),
            Err(Refusal::Host("evil.example:3000".into()))
        );
        assert!(
            guard.check(&Method::GET, &HeaderMap::new()).is_err(),
            "no Host"
        );
    }

    #[test]
    fn a_wildcard_bind_answers_any_host_unless_told_otherwise() {
        let any = Guard::new(
            &WebSettings::default(),
            "0.0.0.0:3000".parse().expect("addr"),
        );
        assert!(any.any_host());
        let settings = WebSettings {
            allowed_hosts: Some(vec!["Dagster.Example.com".into()]),
            ..WebSettings::default()
        };
        let named = Guard::new(&settings, "0.0.0.0:3000".parse().expect("addr"));
        assert_eq!(
            named.check(&Method::GET, &headers(&[("host", "dagster.example.com")])),
            Ok(())
        );
        assert!(
            named
                .check(&Method::GET, &headers(&[("host", "other.example")]))
                .is_err()
        );
    }

    #[test]
    fn actions_from_other_origins_are_refused_and_allowed_ones_pass() {
        let settings = WebSettings {
            allowed_origins: vec!["https://status.example.com/".into()],
            ..WebSettings::default()
        };
        let guard = Guard::new(&settings, "127.0.0.1:3000".parse().expect("addr"));
        let from = |origin: &str| headers(&[("host", "localhost:3000"), ("origin", origin)]);
        assert_eq!(
            guard.check(&Method::POST, &from("http://localhost:3000")),
            Ok(())
        );
        assert_eq!(
            guard.check(&Method::POST, &from("https://status.example.com")),
            Ok(())
        );
        assert_eq!(
            guard.check(&Method::POST, &from("http://evil.example")),
            Err(Refusal::Origin("http://evil.example".into()))
        );
        // Another port of the same host is another origin.
        assert!(
            guard
                .check(&Method::POST, &from("http://localhost:8080"))
                .is_err()
        );
        assert!(guard.check(&Method::POST, &from("null")).is_err());
        // A read may come from anywhere; a websocket may not.
        assert_eq!(
            guard.check(&Method::GET, &from("http://evil.example")),
            Ok(())
        );
        let mut upgrade = from("http://evil.example");
        upgrade.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(guard.check(&Method::GET, &upgrade).is_err());
        // Scripts name no origin.
        assert_eq!(
            guard.check(&Method::POST, &headers(&[("host", "localhost:3000")])),
            Ok(())
        );
    }
}
