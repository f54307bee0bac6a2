//! What one request may cost (issue 22, finding 6 and the echo of finding 8), over real
//! HTTP: every limit refuses with an error that names its setting, and nothing runs.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod common;

use common::Harness;
use serde_json::{Value, json};
use sluice_graphql::QueryLimits;

async fn serve(h: &Harness, limits: QueryLimits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let schema = sluice_graphql::build_schema(h.service.clone(), limits);
    let app = sluice_graphql::router(schema, limits);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{}/graphql", addr.port())
}

async fn post(url: &str, query: &str) -> (u16, usize, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(json!({"query": query}).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, body.len(), serde_json::from_slice(&body).unwrap())
}

fn first_error(answer: &Value) -> String {
    answer["errors"][0]["message"].as_str().unwrap().to_owned()
}

/// `count` aliases of `runsOrError(limit: LIMIT)`.
fn aliased_runs(count: usize, limit: i32) -> String {
    let fields: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "r{i}: runsOrError(limit: {limit}) {{ ... on Runs {{ results {{ runId status tags {{ key value }} }} }} }}"
            )
        })
        .collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn four_hundred_aliases_are_refused_before_anything_runs() {
    let h = Harness::new().await;
    let url = serve(&h, QueryLimits::default()).await;
    let query = aliased_runs(400, 1000);
    assert!(query.len() > 30_000, "the finding's 38 KB request");
    let (status, size, answer) = post(&url, &query).await;
    assert_eq!(status, 400);
    assert!(answer["data"].is_null());
    let message = first_error(&answer);
    assert!(message.contains("400 aliased fields"), "{message}");
    assert!(
        message.contains("webserver.graphql.max_aliases"),
        "{message}"
    );
    assert!(size < 1_000, "the refusal is small: {size} bytes");
}

#[tokio::test]
async fn large_pages_are_refused_by_their_complexity() {
    let h = Harness::new().await;
    let url = serve(&h, QueryLimits::default()).await;
    // Under the alias limit, but 90 pages of a thousand runs.
    let (status, _, answer) = post(&url, &aliased_runs(90, 1000)).await;
    assert_eq!(status, 400);
    let message = first_error(&answer);
    assert!(message.contains("too complex"), "{message}");
    assert!(
        message.contains("webserver.graphql.max_complexity"),
        "{message}"
    );
    // The same selection with pages the UI asks for is fine.
    let (status, _, answer) = post(&url, &aliased_runs(10, 25)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("errors").is_none(), "{answer}");
}

#[tokio::test]
async fn a_deep_document_is_refused_without_echoing_it() {
    let h = Harness::new().await;
    let url = serve(&h, QueryLimits::default()).await;
    let depth = 50_000;
    let query = format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth));
    let (status, size, answer) = post(&url, &query).await;
    assert_eq!(status, 400);
    assert!(!first_error(&answer).is_empty());
    assert!(
        size < 2_000,
        "the error echoes {size} bytes of a {} byte query",
        query.len()
    );
    // Deep but well-formed: refused by depth, and named.
    let nested = "{ runsOrError { ... on Runs { results { runId } } } }";
    let (status, _, _) = post(&url, nested).await;
    assert_eq!(status, 200);
    let limits = QueryLimits {
        max_depth: 2,
        ..QueryLimits::default()
    };
    let url = serve(&h, limits).await;
    let (status, _, answer) = post(&url, nested).await;
    assert_eq!(status, 400);
    let message = first_error(&answer);
    assert!(message.contains("nested too deep"), "{message}");
    assert!(message.contains("webserver.graphql.max_depth"), "{message}");
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused() {
    let h = Harness::new().await;
    let limits = QueryLimits {
        max_response_bytes: 64,
        ..QueryLimits::default()
    };
    let url = serve(&h, limits).await;
    let (status, _, answer) = post(&url, "{ version }").await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, answer) = post(
        &url,
        "{ a: version b: version c: version d: version e: version }",
    )
    .await;
    assert_eq!(status, 413);
    let message = first_error(&answer);
    assert!(
        message.contains("webserver.graphql.max_response_bytes"),
        "{message}"
    );
}
