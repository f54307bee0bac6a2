//! Test support: the schema over an instance and the demo location's code server, both
//! from the end-to-end support crate (`tests/support`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Request, Variables};
use serde_json::Value;
use sluice_codeserver::Workspace;
use sluice_core::run::{Run, RunStatus};
use sluice_e2e::{Instance, Running};
use sluice_graphql::{QueryLimits, SluiceSchema, build_schema};
use sluice_service::Service;
use sluice_storage::SqlStorage;
use sluice_storage::prelude::*;

/// The client's documents, exactly as they go over the wire.
pub mod client {
    pub const GET_JOB_NAMES: &str = include_str!("../fixtures/client/get_job_names.graphql");
    pub const SUBMIT_RUN: &str = include_str!("../fixtures/client/submit_run.graphql");
    pub const GET_RUN_STATUS: &str = include_str!("../fixtures/client/get_run_status.graphql");
    pub const TERMINATE_RUN: &str = include_str!("../fixtures/client/terminate_run.graphql");
    pub const TERMINATE_RUNS: &str = include_str!("../fixtures/client/terminate_runs.graphql");
    pub const RELOAD: &str = include_str!("../fixtures/client/reload_code_location.graphql");
    pub const SHUTDOWN: &str = include_str!("../fixtures/client/shutdown_code_location.graphql");
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An instance, a workspace and the schema over them.
pub struct Harness {
    pub instance: Instance,
    pub storage: Arc<SqlStorage>,
    pub service: Arc<Service>,
    pub schema: SluiceSchema,
    pub code_server: Running,
}

impl Harness {
    /// The demo location, as `demo`.
    pub async fn new() -> Self {
        Self::with_extra_locations(Vec::new()).await
    }

    /// The demo location plus `extra` (name, URL) locations.
    pub async fn with_extra_locations(extra: Vec<(String, String)>) -> Self {
        let instance = Instance::sqlite();
        let storage = instance.storage().await;
        let code_server = instance.code_server();
        let mut urls = vec![("demo".to_owned(), code_server.url.clone())];
        urls.extend(extra);
        let workspace = Workspace::connect(urls).await;
        let service = Arc::new(Service::new(
            storage.clone(),
            workspace,
            instance.home.path().to_owned(),
        ));
        let schema = build_schema(service.clone(), QueryLimits::default());
        Self {
            instance,
            storage,
            service,
            schema,
            code_server,
        }
    }

    /// Execute a document; the whole response (`data` and `errors`) as JSON.
    pub async fn exec(&self, query: &str, variables: Value) -> Value {
        exec(&self.schema, query, variables).await
    }

    /// Execute a document that must succeed; its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.exec(query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Launch `job` with `config` through the client's document; the new run's id.
    pub async fn launch(&self, job: &str, config: Value) -> String {
        let data = self
            .data(client::SUBMIT_RUN, submit_vars("demo", job, config, None))
            .await;
        let result = &data["launchPipelineExecution"];
        assert_eq!(result["__typename"], "LaunchRunSuccess", "{result:#}");
        result["run"]["runId"].as_str().expect("runId").to_owned()
    }

    /// The stored run.
    pub async fn run(&self, run_id: &str) -> Run {
        self.storage
            .get_run(run_id)
            .await
            .expect("storage")
            .expect("run exists")
    }

    /// Wait until the run satisfies `done` (20 s at most).
    pub async fn wait_for(&self, run_id: &str, done: impl Fn(&Run) -> bool) -> Run {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let run = self.run(run_id).await;
            if done(&run) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} stuck in {}",
                run.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until the run has this status.
    pub async fn wait_status(&self, run_id: &str, status: RunStatus) -> Run {
        self.wait_for(run_id, |r| r.status == status).await
    }
}

/// Execute a document against a schema.
pub async fn exec(schema: &SluiceSchema, query: &str, variables: Value) -> Value {
    let request = Request::new(query).variables(Variables::from_json(variables));
    let response = schema.execute(request).await;
    serde_json::to_value(&response).expect("response is JSON")
}

/// The variables the client sends with `GraphQLClientSubmitRun`.
pub fn submit_vars(location: &str, job: &str, config: Value, tags: Option<Value>) -> Value {
    let metadata = match tags {
        Some(tags) => serde_json::json!({"tags": tags}),
        None => serde_json::json!({}),
    };
    serde_json::json!({
        "executionParams": {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": "__repository__",
                "pipelineName": job,
                "solidSelection": null,
                "assetSelection": null
            },
            "runConfigData": config,
            "mode": "default",
            "executionMetadata": metadata
        }
    })
}
