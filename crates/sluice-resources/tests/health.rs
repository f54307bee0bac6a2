//! Health checks, as `sluice-user-code resources check` runs them: each resource set up
//! from its config, asked for its health and torn down, against the real servers that
//! tests/run.sh starts; and each one's failure, a clear message within its timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use sluice_core::resource::ResourceDefinition;
use sluice_resources::http::HttpApiResource;
use sluice_resources::mongo::MongoResource;
use sluice_resources::postgis::PostGisResource;
use sluice_resources::postgres::PostgresResource;
use sluice_resources::s3::S3Resource;

/// `check` of a resource of type `R` with `config`, within 20 s.
async fn check<R: sluice_core::resource::ConfigurableResource>(
    config: Value,
) -> Result<(), String> {
    let started = Instant::now();
    let result = ResourceDefinition::new::<R>()
        .check("under_test", config)
        .await
        .map_err(|e| e.to_string());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    result
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn every_resource_reports_its_health() {
    let pg = common::postgres_url();
    check::<PostgresResource>(json!({"url": pg})).await.unwrap();
    check::<PostGisResource>(json!({"postgres": {"url": pg}}))
        .await
        .unwrap();
    let port = closed_port();
    let err = check::<PostgresResource>(
        json!({"url": format!("postgres://sluice:secret@127.0.0.1:{port}/x")}),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(&format!(
            "cannot connect to postgres://sluice@127.0.0.1:{port}/x"
        )),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");

    let mongo = std::env::var("SLUICE_TEST_MONGO_URI").expect(
        "SLUICE_TEST_MONGO_URI is not set: tests/run.sh starts a server (tests/services/mongo.sh)",
    );
    check::<MongoResource>(json!({"uri": mongo, "database": "health"}))
        .await
        .unwrap();
    let err = check::<MongoResource>(json!({
        "uri": format!("mongodb://127.0.0.1:{port}/"), "database": "health",
        "server_selection_timeout_seconds": 1.0
    }))
    .await
    .unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");

    let (endpoint, bucket) = common::create_bucket("health").await;
    let s3 = |bucket: &str| {
        json!({
            "url": format!("s3://{bucket}"), "endpoint": endpoint, "allow_http": true,
            "region": "us-east-1", "access_key_id": "test", "secret_access_key": "test",
            "timeout_seconds": 2.0, "max_retries": 0
        })
    };
    check::<S3Resource>(s3(&bucket)).await.unwrap();
    let err = check::<S3Resource>(s3("no-such-bucket-here"))
        .await
        .unwrap_err();
    assert!(err.contains("no-such-bucket-here"), "{err}");

    // An API with a health endpoint, and one whose health endpoint fails.
    let app = Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route(
            "/v2/health",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let api = |path: &str, health: Option<&str>| {
        let mut config = json!({"base_url": format!("http://{address}/{path}"), "max_retries": 0});
        if let Some(health) = health {
            config["health_path"] = json!(health);
        }
        config
    };
    check::<HttpApiResource>(api("v1", Some("health")))
        .await
        .unwrap();
    // Without a health path, any answer (a 404 here) shows the server is up.
    check::<HttpApiResource>(api("v1", None)).await.unwrap();
    let err = check::<HttpApiResource>(api("v2", Some("health")))
        .await
        .unwrap_err();
    assert!(err.contains("answered 503 Service Unavailable"), "{err}");
    let err = check::<HttpApiResource>(json!({
        "base_url": format!("http://127.0.0.1:{port}/"), "max_retries": 0, "connect_timeout_seconds": 1.0
    }))
    .await
    .unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");

    // Config that cannot be read is reported as such.
    let err = check::<PostgresResource>(json!({"url": pg, "pool": 3}))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("invalid config:") && err.contains("pool"),
        "{err}"
    );
}
