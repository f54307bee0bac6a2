//! The webserver's axum app.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /graphql` | a GraphQL request: `application/json` `{query, variables, operationName}` (variables may be a JSON string), or `application/graphql` |
//! | `GET /graphql` | GraphiQL for a browser (`Accept: text/html`); a websocket upgrade for subscriptions (`graphql-ws`, the legacy protocol Dagster speaks, or `graphql-transport-ws`); otherwise a query (never a mutation) from the query string |
//! | `GET /graphiql.js` | GraphiQL's start-up script |
//! | `GET /healthz` | `ok` |
//! | `GET /server_info`, `GET /dagit_info` | versions, with the keys the `dagster-graphql` CLI looks for |
//!
//! Every GraphQL answer is JSON with `data` and/or `errors`: malformed requests and
//! documents get a GraphQL error (status 400), never an HTML page.
//!
//! A page on another site can make a visitor's browser send a `GET`, or a `POST` whose
//! body is `text/plain` or a form, without asking first. So a mutation runs only from a
//! `POST` whose body is JSON or GraphQL, which a browser sends cross-site only after a
//! CORS preflight this app never grants. (Websockets, which browsers open to anywhere,
//! are checked by the webserver's guard, in `sluice-web`.)

use std::collections::{HashMap, HashSet};

use async_graphql::{Request as GqlRequest, Variables};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::Message;
use axum::extract::{Extension, FromRequestParts, Query, State, WebSocketUpgrade};
use axum::http::header::{
    ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt, future};
use serde_json::{Value, json};

use sluice_service::access::Caller;

use crate::limits::QueryLimits;
use crate::schema::SluiceSchema;

/// The legacy Apollo subprotocol Dagster's webserver and UI use.
const LEGACY_WS: &str = "graphql-ws";
/// The `graphql-ws` library's subprotocol (GraphiQL uses it).
const TRANSPORT_WS: &str = "graphql-transport-ws";

/// The longest error message an answer repeats; a longer one (a document that does not
/// parse quotes it) is cut.
const MAX_ERROR_MESSAGE: usize = 1_000;

/// What every handler shares: the schema, and the largest answer it may send.
#[derive(Clone)]
struct App {
    schema: SluiceSchema,
    limits: QueryLimits,
}

/// The app: GraphQL, GraphiQL, subscriptions, health and version info. `limits` should be
/// the ones the schema was built with: the app enforces their response size.
pub fn router(schema: SluiceSchema, limits: QueryLimits) -> Router {
    let app = App { schema, limits };
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphiql.js", get(graphiql_script))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/server_info", get(server_info))
        .route("/dagit_info", get(server_info))
        .with_state(app)
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

async fn execute(app: &App, request: GqlRequest) -> Response {
    let mut response = app.schema.execute(request).await;
    for error in &mut response.errors {
        explain_limit(&mut error.message, &app.limits);
        shorten(&mut error.message);
    }
    // Documents that do not parse or validate produce no data at all, and errors that
    // belong to no field; a field that fails (a refused mutation, say) is answered 200.
    let before_execution = response.errors.iter().all(|e| e.path.is_empty());
    let status = if response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && before_execution
    {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // Serialized directly, so that fields keep the order of the selection.
    match serde_json::to_vec(&response) {
        Ok(body) if body.len() > app.limits.max_response_bytes => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The answer is {} bytes, over the limit of {} \
                 (webserver.graphql.max_response_bytes in sluice.yaml): ask for fewer results",
                body.len(),
                app.limits.max_response_bytes
            ),
        ),
        Ok(body) => (status, [(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the response: {e}"),
        ),
    }
}

/// Name the limit, and its setting, in async-graphql's own refusals.
fn explain_limit(message: &mut String, limits: &QueryLimits) {
    let (limit, setting) = match message.as_str() {
        "Query is too complex." => (limits.max_complexity, "max_complexity"),
        "Query is nested too deep." => (limits.max_depth, "max_depth"),
        _ => return,
    };
    message.push_str(&format!(
        " The limit is {limit} (webserver.graphql.{setting} in sluice.yaml): select fewer \
         fields, or ask for fewer items with `limit`."
    ));
}

/// Cut `message` to [`MAX_ERROR_MESSAGE`] bytes (at a character boundary), saying so.
fn shorten(message: &mut String) {
    if message.len() > MAX_ERROR_MESSAGE {
        let mut end = MAX_ERROR_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let cut = message.len() - end;
        message.truncate(end);
        message.push_str(&format!("… ({cut} more bytes)"));
    }
}

async fn graphql_post(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = Caller::of(caller.as_deref());
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => {}
        "application/graphql" => {
            let query = String::from_utf8_lossy(&body).into_owned();
            return execute(&app, GqlRequest::new(query).data(caller)).await;
        }
        _ => {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "A GraphQL POST must be application/json or application/graphql, not {:?}",
                    if content_type.is_empty() {
                        "(none)"
                    } else {
                        content_type
                    }
                ),
            );
        }
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
    let mut request = GqlRequest::new(query).variables(variables).data(caller);
    if let Some(Value::String(name)) = payload.remove("operationName") {
        request = request.operation_name(name);
    }
    execute(&app, request).await
}

async fn graphql_get(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
    parts: Parts,
) -> Response {
    let caller = Caller::of(parts.extensions.get::<Caller>());
    let headers = &parts.headers;
    let is_upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket(app.schema, parts, caller).await;
    }
    if let Some(query) = params.get("query") {
        let variables = match parse_variables(params.get("variables").cloned().map(Value::String)) {
            Ok(v) => v,
            Err(response) => return *response,
        };
        let operation = params.get("operationName").filter(|n| !n.is_empty());
        if let Some(kind) = acting_operation(query, operation.map(String::as_str)) {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("A {kind} can only be sent with POST, as application/json"),
            );
        }
        let mut request = GqlRequest::new(query.clone())
            .variables(variables)
            .data(caller);
        if let Some(name) = operation {
            request = request.operation_name(name.clone());
        }
        return execute(&app, request).await;
    }
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return (
            [(CONTENT_SECURITY_POLICY, GRAPHIQL_POLICY)],
            Html(GRAPHIQL_PAGE),
        )
            .into_response();
    }
    error_response(
        StatusCode::BAD_REQUEST,
        "No GraphQL query found in the request",
    )
}

/// The kind of the operation a `GET` would run, when it is one that acts (a mutation, or
/// a subscription, which only a websocket serves). A document that does not parse, or
/// names no operation it holds, is left for execution to answer.
fn acting_operation(query: &str, name: Option<&str>) -> Option<&'static str> {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let document = async_graphql::parser::parse_query(query).ok()?;
    let kind = match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => operation.node.ty,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?.node.ty,
        // Several operations and none named: execution refuses it.
        (DocumentOperations::Multiple(_), None) => return None,
    };
    match kind {
        OperationType::Query => None,
        OperationType::Mutation => Some("mutation"),
        OperationType::Subscription => Some("subscription"),
    }
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

async fn websocket(schema: SluiceSchema, mut parts: Parts, caller: Caller) -> Response {
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
            let mut data = async_graphql::Data::default();
            data.insert(caller);
            GraphQLWebSocket::new_with_pair(sink, stream, schema, protocol)
                .with_data(data)
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

async fn graphiql_script() -> Response {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        GRAPHIQL_SCRIPT,
    )
        .into_response()
}

/// GraphiQL's page loads React and GraphiQL from unpkg; nothing else may run.
const GRAPHIQL_POLICY: &str = "default-src 'none'; script-src 'self' https://unpkg.com; \
    style-src https://unpkg.com 'unsafe-inline'; font-src https://unpkg.com data:; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

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
  <script src="/graphiql.js"></script>
</body>
</html>
"#;

const GRAPHIQL_SCRIPT: &str = r#"const url = window.location.origin + "/graphql";
const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: url.replace(/^http/, "ws") });
ReactDOM.createRoot(document.getElementById("graphiql"))
  .render(React.createElement(GraphiQL, { fetcher }));
"#;
