//! The app over real HTTP and websockets: the client's transport, malformed requests,
//! GraphiQL, version info, and log subscriptions in both websocket protocols.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;

use std::time::Duration;

use common::{Harness, client, submit_vars};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sluice_core::events::{EventType, RunEvent};
use sluice_storage::prelude::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn serve(h: &Harness) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = sluice_graphql::router(h.schema.clone(), sluice_graphql::QueryLimits::default());
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("127.0.0.1:{}", addr.port())
}

async fn post(addr: &str, content_type: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_client_transport_works_and_bad_requests_get_graphql_errors() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    // The client's request, as it sends it.
    let body = json!({"query": client::SUBMIT_RUN, "variables": submit_vars("demo", "one_op_job", json!({}), None)});
    let (status, text) = post(&addr, "application/json", body.to_string()).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["data"]["launchPipelineExecution"]["__typename"],
        "LaunchRunSuccess"
    );
    // No variables key at all.
    let (status, text) = post(
        &addr,
        "application/json",
        json!({"query": client::GET_JOB_NAMES}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("RepositoryConnection"));
    // Variables as a JSON string (the dagster-graphql CLI does this).
    let body = json!({"query": client::GET_RUN_STATUS, "variables": "{\"runId\": \"nope\"}"});
    let (status, text) = post(&addr, "application/json", body.to_string()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("RunNotFoundError"));
    // application/graphql.
    let (status, text) = post(&addr, "application/graphql", "{ version }".into()).await;
    assert_eq!(status, 200);
    assert!(text.contains("version"));

    // Malformed: every answer is JSON with errors, status 400.
    for (content_type, body) in [
        ("application/json", "{not json".to_owned()),
        (
            "application/json",
            json!({"query": "{ version"}).to_string(),
        ),
        (
            "application/json",
            json!({"query": "{ nosuchField }"}).to_string(),
        ),
        ("application/json", json!({"variables": {}}).to_string()),
        (
            "application/json",
            json!({"query": "{ version }", "variables": "{bad"}).to_string(),
        ),
        ("application/json", "[1, 2]".to_owned()),
    ] {
        let (status, text) = post(&addr, content_type, body.clone()).await;
        assert_eq!(status, 400, "{body}: {text}");
        let answer: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert!(!answer["errors"].as_array().unwrap().is_empty(), "{text}");
    }
}

#[tokio::test]
async fn get_serves_graphiql_queries_health_and_server_info() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("http://{addr}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("graphiql.min.js"));
    let script = http
        .get(format!("http://{addr}/graphiql.js"))
        .send()
        .await
        .unwrap();
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("GraphiQL.createFetcher")
    );

    let answer: Value = http
        .get(format!("http://{addr}/graphql?query=%7B%20version%20%7D"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["data"]["version"].is_string());

    let info = http
        .get(format!("http://{addr}/server_info"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(info.contains("dagster_webserver"), "{info}");
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

const SUBSCRIBE: &str = "subscription Logs($runId: ID!, $cursor: String) { pipelineRunLogs(runId: $runId, cursor: $cursor) { __typename ... on PipelineRunLogsSubscriptionSuccess { run { runId status } messages { __typename ... on MessageEvent { eventType message } } hasMorePastEvents cursor } ... on PipelineRunLogsSubscriptionFailure { missingRunId message } } }";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: &str, protocol: &str) -> Ws {
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"]
            .to_str()
            .unwrap(),
        protocol
    );
    ws
}

/// The next JSON message that is not a keep-alive.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = msg {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] != "ka" {
                return value;
            }
        }
    }
}

/// The next message about subscription `id` (messages of stopped ones may still arrive).
async fn next_for(ws: &mut Ws, id: &str) -> Value {
    loop {
        let msg = next(ws).await;
        if msg["id"] == id {
            return msg;
        }
    }
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn log_subscription_streams_past_and_new_events_over_legacy_graphql_ws() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let run_id = h.launch("one_op_job", json!({})).await;

    let mut ws = connect(&addr, "graphql-ws").await;
    send(&mut ws, json!({"type": "connection_init", "payload": {}})).await;
    assert_eq!(next(&mut ws).await["type"], "connection_ack");
    send(
        &mut ws,
        json!({"type": "start", "id": "1", "payload": {"query": SUBSCRIBE, "variables": {"runId": run_id}, "operation_name": "Logs"}}),
    )
    .await;
    let first = next(&mut ws).await;
    assert_eq!(first["type"], "data");
    assert_eq!(first["id"], "1");
    let payload = &first["payload"]["data"]["pipelineRunLogs"];
    assert_eq!(payload["__typename"], "PipelineRunLogsSubscriptionSuccess");
    assert_eq!(payload["run"]["status"], "QUEUED");
    assert_eq!(payload["hasMorePastEvents"], false);
    assert_eq!(
        payload["messages"],
        json!([{"__typename": "RunEnqueuedEvent", "eventType": "RUN_ENQUEUED", "message": ""}])
    );

    // New events arrive as they are stored.
    h.storage
        .store_events(&[
            RunEvent::new(&run_id, EventType::RunStarting, "starting"),
            RunEvent::new(&run_id, EventType::RunStart, "started"),
        ])
        .await
        .unwrap();
    let mut types = Vec::new();
    while types.len() < 2 {
        let msg = next(&mut ws).await;
        for m in msg["payload"]["data"]["pipelineRunLogs"]["messages"]
            .as_array()
            .unwrap()
        {
            types.push(m["eventType"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(types, ["RUN_STARTING", "RUN_START"]);
    send(&mut ws, json!({"type": "stop", "id": "1"})).await;

    // An unknown run: one failure message, then complete.
    send(
        &mut ws,
        json!({"type": "start", "id": "2", "payload": {"query": SUBSCRIBE, "variables": {"runId": "nope"}}}),
    )
    .await;
    let msg = next_for(&mut ws, "2").await;
    assert_eq!(
        msg["payload"]["data"]["pipelineRunLogs"],
        json!({"__typename": "PipelineRunLogsSubscriptionFailure", "missingRunId": "nope", "message": "Could not load run with id nope"})
    );
    assert_eq!(
        next_for(&mut ws, "2").await,
        json!({"type": "complete", "id": "2"})
    );

    // A document that does not validate is an error message.
    send(
        &mut ws,
        json!({"type": "start", "id": "3", "payload": {"query": "subscription { nosuch }"}}),
    )
    .await;
    let msg = next_for(&mut ws, "3").await;
    assert_eq!(msg["type"], "error", "{msg}");
}

#[tokio::test]
async fn log_subscription_also_speaks_graphql_transport_ws() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let run_id = h.launch("one_op_job", json!({})).await;
    let mut ws = connect(&addr, "graphql-transport-ws").await;
    send(&mut ws, json!({"type": "connection_init"})).await;
    assert_eq!(next(&mut ws).await["type"], "connection_ack");
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "a", "payload": {"query": SUBSCRIBE, "variables": {"runId": run_id, "cursor": "HEAD"}}}),
    )
    .await;
    // From HEAD nothing is replayed: the first message is the next stored event (stored
    // once the subscription has certainly started).
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.storage
        .store_events(&[RunEvent::new(&run_id, EventType::RunStarting, "starting")])
        .await
        .unwrap();
    let msg = next(&mut ws).await;
    assert_eq!(msg["type"], "next");
    assert_eq!(
        msg["payload"]["data"]["pipelineRunLogs"]["messages"],
        json!([{"__typename": "RunStartingEvent", "eventType": "RUN_STARTING", "message": "starting"}])
    );
}
