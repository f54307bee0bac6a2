//! Secrets from the environment: a token given as `{env: NAME}` in run config is read when
//! the resource is set up, reaches the API, and appears in nothing the run stores; a
//! missing variable fails the run before any step, naming it.
//!
//! The only test of this binary, so that setting the variable races with nothing.

#![allow(clippy::unwrap_used)]

mod common;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sluice_core::events::EventType;
use sluice_core::prelude::*;
use sluice_resources::http::HttpApiResource;

const TOKEN_VAR: &str = "SLUICE_TEST_REPORTS_TOKEN";
const TOKEN: &str = "tok-5f2e9c";

async fn secure(headers: HeaderMap) -> Response {
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(v) if v == format!("Bearer {TOKEN}") => Json(json!({"user": "ada"})).into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

fn definitions() -> Definitions {
    let fetch = OpDefinition::builder("fetch_user")
        .required_resource("reports_api")
        .output::<String>("result")
        .compute(|ctx, _| async move {
            let api = ctx.resource::<HttpApiResource>("reports_api")?;
            let me: Value = api.get_json("me", &[]).await.context("fetch the user")?;
            Ok(me["user"].as_str().unwrap_or_default().to_owned())
        });
    let mut job = JobDefinition::builder("report_job");
    job.add(&fetch);
    Definitions::builder()
        .job(job.build())
        .resource("reports_api", ResourceDefinition::new::<HttpApiResource>())
        .build()
        .unwrap()
}

async fn run(defs: &Definitions, config: &Value) -> (RunStatus, String) {
    let (status, events) = common::execute_job(defs, "report_job", config, "secret-run").await;
    assert_eq!(
        events.iter().any(|e| e.event_type == EventType::StepStart),
        status == RunStatus::Success,
        "steps start only when the resource could be set up"
    );
    (status, serde_json::to_string(&events).unwrap())
}

fn run_config(base: &str, var: &str) -> Value {
    json!({"resources": {"reports_api": {"config": {
        "base_url": base,
        "auth": {"bearer": {"token": {"env": var}}},
        "max_retries": 0,
    }}}})
}

#[test]
fn a_token_from_the_environment_is_used_and_never_stored() {
    // SAFETY: the only test of this binary sets the variable before any other thread
    // exists that could read the environment.
    unsafe { std::env::set_var(TOKEN_VAR, TOKEN) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = Router::new().route("/api/me", get(secure));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let defs = definitions();

        let config = run_config(&base, TOKEN_VAR);
        let (status, events) = run(&defs, &config).await;
        assert_eq!(status, RunStatus::Success, "{events}");
        assert!(!events.contains(TOKEN), "the token is in the events: {events}");
        assert!(config.to_string().contains(TOKEN_VAR));
        assert!(!config.to_string().contains(TOKEN));

        let unset = "SLUICE_TEST_UNSET_TOKEN_4C1D";
        let (status, events) = run(&defs, &run_config(&base, unset)).await;
        assert_eq!(status, RunStatus::Failure);
        assert!(
            events.contains(&format!(
                "Resource \\\"reports_api\\\" failed to set up: environment variable \\\"{unset}\\\" is not set"
            )),
            "{events}"
        );
    });
}
