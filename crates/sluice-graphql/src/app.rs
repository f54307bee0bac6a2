//! The webserver's axum app.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /graphql` | a GraphQL request: JSON `{query, variables, operationName}` (variables may be a JSON string), or `application/graphql` |
//! | `GET /graphql` | GraphiQL for a browser (`Accept: text/html`); a websocket upgrade for subscriptions (`graphql-ws`, the legacy protocol Dagster speaks, or `graphql-transport-ws`); otherwise a request from the query string |
//! | `GET /healthz` | `ok` |
//! | `GET /server_info`, `GET /dagit_info` | versions, with the keys the `dagster-graphql` CLI looks for |
//!
//! Every GraphQL answer is JSON with `data` and/or `errors`: malformed requests and
//! documents get a GraphQL error (status 400), never an HTML page.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;
use std::time::Duration;

use async_graphql::{Request as GqlRequest, Variables};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::Message;
use axum::extract::{FromRequestParts, Query, State, WebSocketUpgrade};
use axum::http::header::{ACCEPT, CONTENT_TYPE, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt, future};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::schema::SluiceSchema;

/// How long requests in flight may take to finish once the webserver is asked to stop.
const GRACE: Duration = Duration::from_secs(2);

/// The legacy Apollo subprotocol Dagster's webserver and UI use.
const LEGACY_WS: &str = "graphql-ws";
/// The `graphql-ws` library's subprotocol (GraphiQL uses it).
const TRANSPORT_WS: &str = "graphql-transport-ws";

/// The app: GraphQL, GraphiQL, subscriptions, health and version info.
pub fn router(schema: SluiceSchema) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/server_info", get(server_info))
        .route("/dagit_info", get(server_info))
        .with_state(schema)
}

/// Serve `app` (this crate's [`router`], usually merged with the UI's) on `listener`
/// until `shutdown` is cancelled, then give requests in flight a moment (open
/// subscriptions and live logs never end by themselves).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let stopping = shutdown.clone();
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stopping.cancelled().await })
        .into_future();
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(GRACE).await;
    };
    tokio::select! {
        served = serve => served,
        () = grace => Ok(()),
    }
}

async fn server_info() -> Response {
    let version = env!("CARGO_PKG_VERSION");
    axum::Json(json!({
        "dagster_webserver_version": version,
        "dagster_version": version,
        "dagster_graphql_version": version,
        "sluice_version": version,
    }))
    .into_response()
}

fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"data": null, "errors": [{"message": message.into()}]});
    (status, axum::Json(body)).into_response()
}

/// Variables given as an object, null, or a JSON string holding an object; otherwise
/// the answer that refuses them.
fn parse_variables(raw: Option<Value>) -> Result<Variables, Box<Response>> {
    match raw {
        None | Some(Value::Null) => Ok(Variables::default()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Variables::default()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) => Ok(Variables::from_json(v)),
            Ok(Value::Null) => Ok(Variables::default()),
            _ => Err(Box::new(error_response(
                StatusCode::BAD_REQUEST,
                format!(
                    "Malformed GraphQL variables. Passed as string but not valid JSON:\n{text}"
                ),
            ))),
        },
        Some(v @ Value::Object(_)) => Ok(Variables::from_json(v)),
        Some(other) => Err(Box::new(error_response(
            StatusCode::BAD_REQUEST,
            format!("GraphQL variables must be an object, got {other}"),
        ))),
    }
}

async fn execute(schema: &SluiceSchema, request: GqlRequest) -> Response {
    let response = schema.execute(request).await;
    // Documents that do not parse or validate produce no data at all.
    let status = if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // Serialized directly, so that fields keep the order of the selection.
    match serde_json::to_vec(&response) {
        Ok(body) => (status, [(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the response: {e}"),
        ),
    }
}

async fn graphql_post(
    State(schema): State<SluiceSchema>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.contains("application/graphql") {
        let query = String::from_utf8_lossy(&body).into_owned();
        return execute(&schema, GqlRequest::new(query)).await;
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format!("GraphQL request is invalid JSON: {e}"),
            );
        }
    };
    let Value::Object(mut payload) = payload else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "GraphQL request must be a JSON object with a \"query\"",
        );
    };
    let Some(Value::String(query)) = payload.remove("query") else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "No GraphQL query found in the request",
        );
    };
    let variables = match parse_variables(payload.remove("variables")) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    let mut request = GqlRequest::new(query).variables(variables);
    if let Some(Value::String(name)) = payload.remove("operationName") {
        request = request.operation_name(name);
    }
    execute(&schema, request).await
}

async fn graphql_get(
    State(schema): State<SluiceSchema>,
    Query(params): Query<HashMap<String, String>>,
    parts: Parts,
) -> Response {
    let headers = &parts.headers;
    let is_upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket(schema, parts).await;
    }
    if let Some(query) = params.get("query") {
        let variables = match parse_variables(params.get("variables").cloned().map(Value::String)) {
            Ok(v) => v,
            Err(response) => return *response,
        };
        let mut request = GqlRequest::new(query.clone()).variables(variables);
        if let Some(name) = params.get("operationName").filter(|n| !n.is_empty()) {
            request = request.operation_name(name.clone());
        }
        return execute(&schema, request).await;
    }
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return Html(GRAPHIQL_PAGE).into_response();
    }
    error_response(
        StatusCode::BAD_REQUEST,
        "No GraphQL query found in the request",
    )
}

/// Pick the subprotocol: the first of ours the client offered (the legacy one first, as
/// Dagster's UI uses it), or the legacy one when the client offered none.
fn pick_protocol(headers: &HeaderMap) -> &'static str {
    let offered: Vec<String> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    [LEGACY_WS, TRANSPORT_WS]
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p))
        .unwrap_or(LEGACY_WS)
}

async fn websocket(schema: SluiceSchema, mut parts: Parts) -> Response {
    let chosen = pick_protocol(&parts.headers);
    // async-graphql reads the protocol from the header; make it say what we chose.
    let mut protocol_parts = parts.clone();
    protocol_parts
        .headers
        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(chosen));
    let protocol = match GraphQLProtocol::from_request_parts(&mut protocol_parts, &()).await {
        Ok(p) => p,
        Err(status) => return error_response(status, "unsupported websocket subprotocol"),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let legacy = chosen == LEGACY_WS;
    upgrade
        .protocols([LEGACY_WS, TRANSPORT_WS])
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            // In the legacy protocol, Dagster answers a subscription that fails before its
            // first result (a document that does not validate) with an `error` message
            // carrying one error; async-graphql sends a `data` message with errors.
            let mut started = HashSet::new();
            let sink = sink.with(move |msg: Message| {
                let msg = if legacy {
                    legacy_error_message(msg, &mut started)
                } else {
                    msg
                };
                future::ready(Ok::<_, axum::Error>(msg))
            });
            GraphQLWebSocket::new_with_pair(sink, stream, schema, protocol)
                .serve()
                .await
        })
}

/// Turn a legacy `data` message that carries only errors, sent before any result of its
/// subscription, into Dagster's `error` message.
fn legacy_error_message(msg: Message, started: &mut HashSet<String>) -> Message {
    let Message::Text(text) = &msg else {
        return msg;
    };
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return msg;
    };
    let id = value["id"].as_str().unwrap_or_default().to_owned();
    match value["type"].as_str() {
        Some("data") if !started.contains(&id) => {
            let payload = &value["payload"];
            match payload["errors"].as_array() {
                Some(errors) if payload["data"].is_null() && !errors.is_empty() => {
                    let error = json!({"type": "error", "id": id, "payload": errors[0]});
                    Message::Text(error.to_string().into())
                }
                _ => {
                    started.insert(id);
                    msg
                }
            }
        }
        Some("complete") => {
            started.remove(&id);
            msg
        }
        _ => msg,
    }
}

const GRAPHIQL_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Sluice GraphQL</title>
  <link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css">
</head>
<body style="margin: 0">
  <div id="graphiql" style="height: 100vh"></div>
  <script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
  <script>
    const url = window.location.origin + window.location.pathname;
    const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: url.replace(/^http/, "ws") });
    ReactDOM.createRoot(document.getElementById("graphiql"))
      .render(React.createElement(GraphiQL, { fetcher }));
  </script>
</body>
</html>
"#;
