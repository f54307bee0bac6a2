//! The seven documents `dagster_graphql.DagsterGraphQLClient` sends, verbatim, and the
//! shapes it reads from the answers.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;

use common::{Harness, client, submit_vars};
use serde_json::json;
use sluice_core::events::EventType;
use sluice_core::run::RunStatus;
use sluice_storage::prelude::*;

#[tokio::test]
async fn get_job_names_lists_every_job_of_every_loaded_location() {
    let h = Harness::new().await;
    let data = h.data(client::GET_JOB_NAMES, json!({})).await;
    let repos = &data["repositoriesOrError"];
    assert_eq!(repos["__typename"], "RepositoryConnection");
    let nodes = repos["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["name"], "__repository__");
    assert_eq!(nodes[0]["location"], json!({"name": "demo"}));
    let names: Vec<&str> = nodes[0]["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "__ASSET_JOB",
            "chain_100",
            "config_job",
            "daily_orders_job",
            "failing_job",
            "fanout_500",
            "flaky_job",
            "gated_job",
            "one_op_job",
            "refresh_staging",
            "sleepy_job"
        ]
    );
    // Only what was selected comes back.
    assert_eq!(nodes[0].as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn submit_run_queues_the_run_with_its_config_and_tags() {
    let h = Harness::new().await;
    let vars = submit_vars(
        "demo",
        "config_job",
        json!({"ops": {"use_config": {"config": {"n": 3}}}}),
        Some(json!([{"key": "a", "value": "b"}])),
    );
    let data = h.data(client::SUBMIT_RUN, vars).await;
    let result = &data["launchPipelineExecution"];
    assert_eq!(result["__typename"], "LaunchRunSuccess");
    assert_eq!(result.as_object().unwrap().len(), 2, "{result}");
    let run_id = result["run"]["runId"].as_str().unwrap();
    let run = h.run(run_id).await;
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.job_name, "config_job");
    assert_eq!(run.location_name.as_deref(), Some("demo"));
    assert_eq!(run.run_config["ops"]["use_config"]["config"]["n"], 3);
    assert_eq!(run.tags.get("a").map(String::as_str), Some("b"));
    assert_eq!(
        run.tags.get("dagster/code_location").map(String::as_str),
        Some("demo")
    );
    let events = h.storage.events_for_run(run_id, None, None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.event_type, EventType::RunEnqueued);
}

#[tokio::test]
async fn submit_run_reports_every_config_error_as_the_client_reads_them() {
    let h = Harness::new().await;
    let data = h
        .data(
            client::SUBMIT_RUN,
            submit_vars("demo", "config_job", json!({}), None),
        )
        .await;
    let result = &data["launchPipelineExecution"];
    assert_eq!(result["__typename"], "RunConfigValidationInvalid");
    let errors = result["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{result:#}");
    assert_eq!(errors[0]["__typename"], "MissingFieldConfigError");
    assert_eq!(errors[0]["reason"], "MISSING_REQUIRED_FIELD");
    assert_eq!(errors[0]["path"], json!([]));
    assert!(errors[0]["message"].as_str().unwrap().contains("config"));
    // The client selects exactly these four fields.
    assert_eq!(errors[0].as_object().unwrap().len(), 4);

    let config = json!({"ops": {"use_config": {"config": {"n": "abc", "zzz": 2}}}});
    let data = h
        .data(
            client::SUBMIT_RUN,
            submit_vars("demo", "config_job", config, None),
        )
        .await;
    let errors = data["launchPipelineExecution"]["errors"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["__typename"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("FieldNotDefinedConfigError", "FIELD_NOT_DEFINED"),
            ("RuntimeMismatchConfigError", "RUNTIME_TYPE_MISMATCH"),
        ]
    );
    // Nothing was stored.
    assert_eq!(h.storage.count_runs(&Default::default()).await.unwrap(), 0);
}

#[tokio::test]
async fn submit_run_of_an_unknown_job_or_location_is_pipeline_not_found() {
    let h = Harness::new().await;
    for (location, job, message) in [
        (
            "demo",
            "nosuch",
            "Could not find Pipeline demo.__repository__.nosuch",
        ),
        (
            "bogus",
            "one_op_job",
            "Could not find Pipeline bogus.__repository__.one_op_job",
        ),
    ] {
        let data = h
            .data(
                client::SUBMIT_RUN,
                submit_vars(location, job, json!({}), None),
            )
            .await;
        assert_eq!(
            data["launchPipelineExecution"],
            json!({"__typename": "PipelineNotFoundError", "message": message})
        );
    }
}

#[tokio::test]
async fn get_run_status_reads_the_status_through_the_pipeline_run_interface() {
    let h = Harness::new().await;
    let run_id = h.launch("one_op_job", json!({})).await;
    let data = h
        .data(client::GET_RUN_STATUS, json!({"runId": run_id}))
        .await;
    assert_eq!(
        data["pipelineRunOrError"],
        json!({"__typename": "Run", "status": "QUEUED"})
    );
    let missing = "00000000-0000-0000-0000-000000000000";
    let data = h
        .data(client::GET_RUN_STATUS, json!({"runId": missing}))
        .await;
    assert_eq!(
        data["pipelineRunOrError"],
        json!({
            "__typename": "RunNotFoundError",
            "message": format!("Pipeline run {missing} could not be found.")
        })
    );
}

#[tokio::test]
async fn terminate_run_cancels_a_queued_run_and_refuses_a_finished_one() {
    let h = Harness::new().await;
    let run_id = h.launch("one_op_job", json!({})).await;
    let data = h
        .data(client::TERMINATE_RUN, json!({"runId": run_id}))
        .await;
    assert_eq!(
        data["terminateRun"],
        json!({"__typename": "TerminateRunSuccess", "run": {"runId": run_id}})
    );
    let run = h.run(&run_id).await;
    assert_eq!(run.status, RunStatus::Canceled);
    let events = h.storage.events_for_run(&run_id, None, None).await.unwrap();
    assert_eq!(
        events.last().unwrap().event.event_type,
        EventType::RunCanceled
    );

    let data = h
        .data(client::TERMINATE_RUN, json!({"runId": run_id}))
        .await;
    assert_eq!(
        data["terminateRun"],
        json!({
            "__typename": "TerminateRunFailure",
            "message": format!("Run {run_id} could not be terminated due to having status CANCELED.")
        })
    );
    let data = h
        .data(client::TERMINATE_RUN, json!({"runId": "nope"}))
        .await;
    assert_eq!(
        data["terminateRun"],
        json!({"__typename": "RunNotFoundError", "runId": "nope"})
    );
}

#[tokio::test]
async fn terminate_runs_answers_once_per_id_in_order() {
    let h = Harness::new().await;
    let queued = h.launch("one_op_job", json!({})).await;
    let canceled = h.launch("one_op_job", json!({})).await;
    h.data(client::TERMINATE_RUN, json!({"runId": canceled}))
        .await;
    let data = h
        .data(
            client::TERMINATE_RUNS,
            json!({"runIds": [queued, canceled, "nope"]}),
        )
        .await;
    let results = &data["terminateRuns"];
    assert_eq!(results["__typename"], "TerminateRunsResult");
    assert_eq!(
        results["terminateRunResults"],
        json!([
            {"__typename": "TerminateRunSuccess", "run": {"runId": queued}},
            {"__typename": "TerminateRunFailure", "message": format!("Run {canceled} could not be terminated due to having status CANCELED.")},
            {"__typename": "RunNotFoundError", "runId": "nope", "message": "Pipeline run nope could not be found."},
        ])
    );
}

#[tokio::test]
async fn reload_and_shutdown_answer_for_known_and_unknown_locations() {
    let h = Harness::new().await;
    let data = h
        .data(client::RELOAD, json!({"repositoryLocationName": "demo"}))
        .await;
    assert_eq!(
        data["reloadRepositoryLocation"],
        json!({
            "__typename": "WorkspaceLocationEntry",
            "name": "demo",
            "locationOrLoadError": {
                "__typename": "RepositoryLocation",
                "isReloadSupported": true,
                "repositories": [{"name": "__repository__"}]
            }
        })
    );
    let data = h
        .data(client::RELOAD, json!({"repositoryLocationName": "bogus"}))
        .await;
    assert_eq!(
        data["reloadRepositoryLocation"],
        json!({"__typename": "RepositoryLocationNotFound", "message": "Location bogus does not exist."})
    );
    let data = h
        .data(client::SHUTDOWN, json!({"repositoryLocationName": "demo"}))
        .await;
    assert_eq!(
        data["shutdownRepositoryLocation"],
        json!({"__typename": "ShutdownRepositoryLocationSuccess"})
    );
    let data = h
        .data(client::SHUTDOWN, json!({"repositoryLocationName": "bogus"}))
        .await;
    assert_eq!(
        data["shutdownRepositoryLocation"],
        json!({"__typename": "RepositoryLocationNotFound", "message": "Location bogus does not exist."})
    );
}
