//! The HTTP API resource against a real HTTP server started here: retries on 5xx, 429
//! (honouring Retry-After) and timeouts, pagination of three kinds, polling, auth
//! headers, and clear errors for what cannot work.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use sluice_core::config::StringSource;
use sluice_resources::http::{
    HttpApiConfig, HttpApiResource, HttpAuth, HttpError, Pages, Pagination, Poll,
};

#[derive(Default)]
struct Counters {
    flaky: AtomicU32,
    limited: AtomicU32,
    slow: AtomicU32,
    jobs: AtomicU32,
}

type Params = Query<HashMap<String, String>>;

/// Pages 1 to 3 hold two numbered items each; later pages are empty.
async fn numbered(Query(q): Params) -> Json<Value> {
    let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let items: Vec<u64> = if page <= 3 {
        vec![page * 10 + 1, page * 10 + 2]
    } else {
        vec![]
    };
    Json(json!({"data": items, "team": q.get("team")}))
}

/// Three pages chained by cursor.
async fn cursor(Query(q): Params) -> Json<Value> {
    match q.get("after").map(String::as_str) {
        None => Json(json!({"items": ["a", "b"], "next": "c1"})),
        Some("c1") => Json(json!({"items": ["c"], "next": "c2"})),
        _ => Json(json!({"items": ["d"], "next": null})),
    }
}

/// Pages that link to the next by a relative URL; the body is a bare list's wrapper.
async fn linked(Query(q): Params) -> Json<Value> {
    match q.get("p").map(String::as_str) {
        None => Json(json!({"results": [1, 2], "links": {"next": "linked?p=2"}})),
        _ => Json(json!({"results": [3], "links": {"next": null}})),
    }
}

async fn flaky(State(c): State<Arc<Counters>>) -> Response {
    if c.flaky.fetch_add(1, Ordering::SeqCst) < 2 {
        (StatusCode::SERVICE_UNAVAILABLE, "warming up").into_response()
    } else {
        Json(json!({"ok": true})).into_response()
    }
}

async fn limited(State(c): State<Arc<Counters>>) -> Response {
    if c.limited.fetch_add(1, Ordering::SeqCst) == 0 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response()
    } else {
        Json(json!({"ok": true})).into_response()
    }
}

async fn slow(State(c): State<Arc<Counters>>) -> Json<Value> {
    c.slow.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    Json(json!({"late": true}))
}

async fn secure(headers: HeaderMap) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match (bearer, key) {
        (Some("Bearer s3cr3t"), _) | (_, Some("k3y")) => {
            Json(json!({"user": "ada"})).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            "{\"error\": \"no valid credentials\"}",
        )
            .into_response(),
    }
}

async fn job(State(c): State<Arc<Counters>>, Path(id): Path<String>) -> Json<Value> {
    let n = c.jobs.fetch_add(1, Ordering::SeqCst);
    let status = if n >= 2 { "done" } else { "running" };
    Json(json!({"id": id, "status": status}))
}

/// The test server's base URL, and its counters.
async fn serve() -> (String, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/v1/numbered", get(numbered))
        .route("/v1/cursor", get(cursor))
        .route("/v1/linked", get(linked))
        .route("/v1/flaky", get(flaky))
        .route("/v1/limited", get(limited))
        .route("/v1/slow", get(slow))
        .route("/v1/secure", get(secure))
        .route("/v1/jobs/{id}", get(job))
        .route("/v1/text", get(|| async { "not json" }))
        .with_state(Arc::clone(&counters));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), counters)
}

fn fast(base: &str) -> HttpApiConfig {
    HttpApiConfig {
        backoff_seconds: 0.01,
        max_backoff_seconds: 0.05,
        ..HttpApiConfig::new(base)
    }
}

#[tokio::test]
async fn retries_what_is_worth_retrying_and_reports_the_rest() {
    let (base, counters) = serve().await;
    let api = HttpApiResource::new(fast(&base)).unwrap();

    // Two 503s, then success, within the default three retries.
    let ok: Value = api.get_json("flaky", &[]).await.unwrap();
    assert_eq!(ok, json!({"ok": true}));
    assert_eq!(counters.flaky.load(Ordering::SeqCst), 3);

    // A 429 waits for its Retry-After (1 s), not the short backoff.
    let started = Instant::now();
    let ok: Value = api.get_json("/limited", &[]).await.unwrap();
    assert_eq!(ok, json!({"ok": true}));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // A 4xx is not retried, and its body is quoted.
    let err = api
        .get_json::<Value>("secure", &[("token", "hidden")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Status {
                status: StatusCode::UNAUTHORIZED,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "GET {base}/secure answered 401 Unauthorized after 1 attempt(s): {{\"error\": \"no valid credentials\"}}"
        ),
        "the query is not shown"
    );

    // Timeouts are retried, then reported.
    let impatient = HttpApiResource::new(HttpApiConfig {
        timeout_seconds: 0.2,
        max_retries: 1,
        ..fast(&base)
    })
    .unwrap();
    let started = Instant::now();
    let err = impatient.get_json::<Value>("slow", &[]).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no hang past the timeout"
    );
    assert_eq!(counters.slow.load(Ordering::SeqCst), 2);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "GET {base}/slow failed after 2 attempt(s): timed out"
        )),
        "{text}"
    );

    // Nothing listens: a clear error, quickly.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let nowhere = HttpApiResource::new(HttpApiConfig {
        max_retries: 2,
        ..fast(&format!("http://{closed}/api"))
    })
    .unwrap();
    let err = nowhere.get_json::<Value>("x", &[]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "GET http://{closed}/api/x failed after 3 attempt(s): cannot connect"
        )),
        "{text}"
    );

    // A body that is not JSON.
    let err = api.get_json::<Value>("text", &[]).await.unwrap_err();
    assert!(matches!(err, HttpError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("not json"), "{err}");
}

#[tokio::test]
async fn paginates_by_page_number_cursor_and_next_link() {
    let (base, _) = serve().await;
    let api = HttpApiResource::new(fast(&base)).unwrap();
    let numbered = api
        .paginate(
            "numbered",
            &[("team", "billing")],
            &Pages::new(
                "/data",
                Pagination::PageNumber {
                    param: "page".into(),
                    first: 1,
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(numbered, [11, 12, 21, 22, 31, 32].map(|n| json!(n)));
    let by_cursor = api
        .paginate(
            "cursor",
            &[],
            &Pages::new(
                "/items",
                Pagination::Cursor {
                    param: "after".into(),
                    cursor: "/next".into(),
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(by_cursor, ["a", "b", "c", "d"].map(|s| json!(s)));
    let linked = api
        .paginate(
            "linked",
            &[],
            &Pages::new(
                "/results",
                Pagination::NextUrl {
                    next: "/links/next".into(),
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(linked, [1, 2, 3].map(|n| json!(n)));

    // A wrong items pointer and a page limit are errors, not silence.
    let err = api
        .paginate(
            "cursor",
            &[],
            &Pages::new(
                "/nope",
                Pagination::Cursor {
                    param: "after".into(),
                    cursor: "/next".into(),
                },
            ),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no array of items at \"/nope\""),
        "{err}"
    );
    let mut capped = Pages::new(
        "/data",
        Pagination::PageNumber {
            param: "page".into(),
            first: 1,
        },
    );
    capped.max_pages = 2;
    let err = api.paginate("numbered", &[], &capped).await.unwrap_err();
    assert!(err.to_string().contains("more than 2 pages"), "{err}");
}

#[tokio::test]
async fn polls_until_the_api_reports_the_job_done() {
    let (base, _) = serve().await;
    let api = HttpApiResource::new(fast(&base)).unwrap();
    let every = Poll {
        max_attempts: 5,
        interval: Duration::from_millis(20),
    };
    let check = |_| {
        let api = api.clone();
        async move {
            let job: Value = api.get_json("jobs/r-1", &[]).await?;
            Ok((job["status"] == "done").then_some(job))
        }
    };
    let done = api.poll_until("report r-1", every, check).await.unwrap();
    assert_eq!(done, json!({"id": "r-1", "status": "done"}));

    let never = Poll {
        max_attempts: 3,
        interval: Duration::from_millis(10),
    };
    let err = api
        .poll_until("report r-2", never, |_| async {
            Ok::<Option<()>, HttpError>(None)
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("report r-2 was not done after 3 checks"),
        "{err}"
    );
}

#[tokio::test]
async fn authenticates_with_a_bearer_token_or_an_api_key_header() {
    let (base, _) = serve().await;
    let bearer = HttpApiResource::new(HttpApiConfig {
        auth: Some(HttpAuth::Bearer {
            token: StringSource::from("s3cr3t"),
        }),
        ..fast(&base)
    })
    .unwrap();
    let me: Value = bearer.get_json("secure", &[]).await.unwrap();
    assert_eq!(me["user"], "ada");
    let keyed = HttpApiResource::new(HttpApiConfig {
        auth: Some(HttpAuth::ApiKey {
            header: "X-API-Key".into(),
            key: StringSource::from("k3y"),
        }),
        ..fast(&base)
    })
    .unwrap();
    let me: Value = keyed.get_json("secure", &[]).await.unwrap();
    assert_eq!(me["user"], "ada");

    // Config that cannot work is refused when the resource is made, naming the field.
    for (config, message) in [
        (
            HttpApiConfig::new("not a url"),
            "base_url \"not a url\" is not a URL",
        ),
        (
            HttpApiConfig::new("ftp://files.example.com"),
            "is not an http(s) URL",
        ),
        (
            HttpApiConfig {
                timeout_seconds: -1.0,
                ..fast(&base)
            },
            "timeout_seconds must be a non-negative number of seconds",
        ),
        (
            HttpApiConfig {
                auth: Some(HttpAuth::ApiKey {
                    header: "bad header".into(),
                    key: StringSource::from("k"),
                }),
                ..fast(&base)
            },
            "API key header \"bad header\"",
        ),
    ] {
        let err = HttpApiResource::new(config).unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
}
