//! The webserver against another site's page, over real HTTP and websockets: each
//! attack of issue 22's first finding, refused, while the webserver's own pages and
//! scripts (which name no origin) still work.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod common;

use common::{Server, open};
use serde_json::{Value, json};
use sluice_core::run::RunStatus;
use sluice_web::WebSettings;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TERMINATE: &str = "mutation T($id: String!) { terminateRun(runId: $id) { __typename } }";

fn terminate_body(run_id: &str) -> String {
    json!({"query": TERMINATE, "variables": {"id": run_id}}).to_string()
}

#[tokio::test]
async fn a_websocket_from_another_site_is_refused() {
    let server = Server::start(open()).await;
    let connect = |origin: &str| {
        let mut request = format!("ws://{}/graphql", server.addr)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", "graphql-ws".parse().unwrap());
        headers.insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    match connect("http://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("a cross-site websocket was not refused: {other:?}"),
    }
    // The webserver's own pages may.
    let own = format!("http://{}", server.addr);
    assert!(connect(&own).await.is_ok());
}

#[tokio::test]
async fn a_mutation_needs_a_json_post() {
    let server = Server::start(open()).await;
    let run_id = server.queued_run().await;
    let client = reqwest::Client::new();
    // The "simple request" a cross-site form or fetch sends without preflight.
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let mut request = client
            .post(server.url("/graphql"))
            .body(terminate_body(&run_id));
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
        let answer: Value = response.json().await.unwrap();
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("application/json"), "{message}");
    }
    // A mutation in a link.
    let query = format!("mutation {{ terminateRun(runId: \"{run_id}\") {{ __typename }} }}");
    let response = client.get(server.query_url(&query)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        server.status(&run_id).await,
        RunStatus::Queued,
        "nothing was done"
    );
    // A query in a link still works.
    let response = client
        .get(server.query_url("{ version }"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // And a script's JSON POST acts.
    let response = client
        .post(server.url("/graphql"))
        .header("content-type", "application/json; charset=utf-8")
        .body(terminate_body(&run_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.status(&run_id).await, RunStatus::Canceled);
}

#[tokio::test]
async fn a_rebound_host_and_a_foreign_origin_cannot_post() {
    let server = Server::start(open()).await;
    let run_id = server.queued_run().await;
    let client = reqwest::Client::new();
    let port = server.addr.port();
    let terminate = server.url(&format!("/runs/{run_id}/terminate"));
    // DNS rebinding: the attacker's name now points here, so Host and Origin agree.
    let rebound = client
        .post(&terminate)
        .header("host", format!("evil.example:{port}"))
        .header("origin", format!("http://evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    assert!(rebound.text().await.unwrap().contains("evil.example"));
    // A form on another site.
    let foreign = client
        .post(&terminate)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert_eq!(server.status(&run_id).await, RunStatus::Queued);
    // The page's own form.
    let own = client
        .post(&terminate)
        .header("origin", format!("http://127.0.0.1:{port}"))
        .send()
        .await
        .unwrap();
    assert!(own.status().is_success() || own.status().is_redirection());
    assert_eq!(server.status(&run_id).await, RunStatus::Canceled);
}

#[tokio::test]
async fn allowed_hosts_and_origins_come_from_the_settings() {
    let settings = WebSettings {
        allowed_hosts: Some(vec!["orchestrator.internal".into()]),
        allowed_origins: vec!["https://status.example.com".into()],
        ..open()
    };
    let server = Server::start(settings).await;
    let client = reqwest::Client::new();
    let ask = |host: &str| {
        client
            .post(server.url("/graphql"))
            .header("host", host.to_owned())
            .header("origin", "https://status.example.com")
            .header("content-type", "application/json")
            .body(json!({"query": "{ version }"}).to_string())
            .send()
    };
    assert_eq!(ask("orchestrator.internal").await.unwrap().status(), 200);
    assert_eq!(ask("127.0.0.1").await.unwrap().status(), 403);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = Server::start(open()).await;
    let client = reqwest::Client::new();
    for path in [
        "/runs",
        "/graphql?query=%7Bversion%7D",
        "/healthz",
        "/no-such-page",
    ] {
        let response = client.get(server.url(path)).send().await.unwrap();
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
    // GraphiQL keeps its own policy, which lets it load its scripts and no others.
    let page = client
        .get(server.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("https://unpkg.com"), "{policy}");
    assert!(
        !page.text().await.unwrap().contains("createFetcher"),
        "no inline script"
    );
    let script = client.get(server.url("/graphiql.js")).send().await.unwrap();
    assert!(script.text().await.unwrap().contains("createFetcher"));
}
