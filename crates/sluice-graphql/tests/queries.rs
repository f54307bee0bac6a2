//! Queries and mutations beyond the client's documents: runs, event logs, the workspace
//! (current and legacy shapes), jobs, config schemas, the instance, re-execution,
//! deletion and termination of started runs.

#![allow(clippy::unwrap_used, unreachable_pub)]

mod common;

use common::{Harness, client, dead_url, submit_vars};
use serde_json::{Value, json};
use sluice_codeserver::CodeServerClient;
use sluice_core::events::{ErrorInfo, EventData, EventType, LogLevel, RunEvent};
use sluice_core::run::RunStatus;
use sluice_storage::DaemonHeartbeat;
use sluice_storage::prelude::*;

const LAUNCH: &str = r#"
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess {
      run { __typename id runId status jobName pipelineName mode tags { key value } runConfigYaml runConfig
            repositoryOrigin { repositoryLocationName repositoryName } canTerminate }
    }
    ... on RunConfigValidationInvalid {
      pipelineName
      errors {
        __typename message path reason
        stack { entries { __typename
          ... on EvaluationStackPathEntry { fieldName }
          ... on EvaluationStackListItemEntry { listIndex } } }
        ... on MissingFieldConfigError { field { name isRequired configTypeKey } }
        ... on FieldNotDefinedConfigError { fieldName }
        ... on FieldsNotDefinedConfigError { fieldNames }
        ... on RuntimeMismatchConfigError { valueRep }
        ... on SelectorTypeConfigError { incomingFields }
      }
    }
    ... on PipelineNotFoundError { message pipelineName repositoryName repositoryLocationName }
    ... on InvalidSubsetError { message pipeline { name } }
    ... on PythonError { message className stack }
    ... on Error { message }
  }
}"#;

fn launch_vars(job: &str, config: Value) -> Value {
    json!({"executionParams": {
        "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": job},
        "runConfigData": config
    }})
}

fn stack(error: &Value) -> Vec<String> {
    error["stack"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["__typename"].as_str().unwrap() {
            "EvaluationStackPathEntry" => e["fieldName"].as_str().unwrap().to_owned(),
            _ => format!("[{}]", e["listIndex"]),
        })
        .collect()
}

#[tokio::test]
async fn launch_run_returns_the_whole_run() {
    let h = Harness::new().await;
    let data = h.data(LAUNCH, launch_vars("one_op_job", json!({}))).await;
    let run = &data["launchRun"]["run"];
    assert_eq!(data["launchRun"]["__typename"], "LaunchRunSuccess");
    assert_eq!(run["__typename"], "Run");
    assert_eq!(run["id"], run["runId"]);
    assert_eq!(run["status"], "QUEUED");
    assert_eq!(run["jobName"], "one_op_job");
    assert_eq!(run["pipelineName"], "one_op_job");
    assert_eq!(run["mode"], "default");
    assert_eq!(run["runConfigYaml"], "{}\n");
    assert_eq!(run["runConfig"], json!({}));
    assert_eq!(run["canTerminate"], true);
    assert_eq!(
        run["repositoryOrigin"],
        json!({"repositoryLocationName": "demo", "repositoryName": "__repository__"})
    );
    assert_eq!(
        run["tags"],
        json!([{"key": "dagster/code_location", "value": "demo"}])
    );

    // Run config as a YAML document.
    let yaml = "ops:\n  use_config:\n    config:\n      n: 4\n";
    let data = h.data(LAUNCH, launch_vars("config_job", json!(yaml))).await;
    let run = &data["launchRun"]["run"];
    assert_eq!(run["runConfig"]["ops"]["use_config"]["config"]["n"], 4);
    assert_eq!(run["runConfigYaml"], yaml);
}

#[tokio::test]
async fn config_errors_carry_their_kind_reason_and_stack() {
    let h = Harness::new().await;
    // Missing required field.
    let data = h
        .data(
            LAUNCH,
            launch_vars("config_job", json!({"ops": {"use_config": {"config": {}}}})),
        )
        .await;
    let result = &data["launchRun"];
    assert_eq!(result["__typename"], "RunConfigValidationInvalid");
    assert_eq!(result["pipelineName"], "config_job");
    let e = &result["errors"][0];
    assert_eq!(e["__typename"], "MissingFieldConfigError");
    assert_eq!(e["reason"], "MISSING_REQUIRED_FIELD");
    assert_eq!(e["path"], json!([]));
    assert_eq!(stack(e), ["ops", "use_config", "config"]);
    assert_eq!(
        e["field"],
        json!({"name": "n", "isRequired": true, "configTypeKey": "Int"})
    );

    // Undefined field, then two undefined fields at one level.
    let data = h
        .data(
            LAUNCH,
            launch_vars(
                "config_job",
                json!({"ops": {"use_config": {"config": {"n": 1, "zzz": 2}}}}),
            ),
        )
        .await;
    let e = &data["launchRun"]["errors"][0];
    assert_eq!(e["__typename"], "FieldNotDefinedConfigError");
    assert_eq!(e["reason"], "FIELD_NOT_DEFINED");
    assert_eq!(e["fieldName"], "zzz");
    assert_eq!(stack(e), ["ops", "use_config", "config"]);
    let data = h
        .data(
            LAUNCH,
            launch_vars(
                "config_job",
                json!({"ops": {"use_config": {"config": {"n": 1, "zzz": 2, "yyy": 3}}}}),
            ),
        )
        .await;
    let errors = data["launchRun"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["__typename"], "FieldsNotDefinedConfigError");
    assert_eq!(errors[0]["reason"], "FIELDS_NOT_DEFINED");
    assert_eq!(errors[0]["fieldNames"], json!(["yyy", "zzz"]));

    // Wrong type.
    let data = h
        .data(
            LAUNCH,
            launch_vars(
                "config_job",
                json!({"ops": {"use_config": {"config": {"n": "abc"}}}}),
            ),
        )
        .await;
    let e = &data["launchRun"]["errors"][0];
    assert_eq!(e["__typename"], "RuntimeMismatchConfigError");
    assert_eq!(e["reason"], "RUNTIME_TYPE_MISMATCH");
    assert_eq!(e["valueRep"], "'abc'");
    assert_eq!(stack(e), ["ops", "use_config", "config", "n"]);

    // An op that does not exist, with the others.
    let data = h
        .data(
            LAUNCH,
            launch_vars(
                "config_job",
                json!({"ops": {"use_config": {"config": {"n": "x"}}, "bogus_op": {}}}),
            ),
        )
        .await;
    let kinds: Vec<&str> = data["launchRun"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["__typename"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["FieldNotDefinedConfigError", "RuntimeMismatchConfigError"]
    );
}

#[tokio::test]
async fn unknown_jobs_bad_selectors_and_selections_are_typed_errors() {
    let h = Harness::new().await;
    let data = h.data(LAUNCH, launch_vars("nosuch_job", json!({}))).await;
    assert_eq!(
        data["launchRun"],
        json!({
            "__typename": "PipelineNotFoundError",
            "message": "Could not find Pipeline demo.__repository__.nosuch_job",
            "pipelineName": "nosuch_job",
            "repositoryName": "__repository__",
            "repositoryLocationName": "demo"
        })
    );
    // A repository other than __repository__.
    let vars = json!({"executionParams": {"selector": {
        "repositoryLocationName": "demo", "repositoryName": "other", "pipelineName": "one_op_job"}}});
    let data = h.data(LAUNCH, vars).await;
    assert_eq!(data["launchRun"]["__typename"], "PipelineNotFoundError");
    // No job name at all.
    let vars = json!({"executionParams": {"selector": {
        "repositoryLocationName": "demo", "repositoryName": "__repository__"}}});
    let data = h.data(LAUNCH, vars).await;
    assert_eq!(data["launchRun"]["__typename"], "PythonError");
    // An op selection.
    let vars = json!({"executionParams": {"selector": {
        "repositoryLocationName": "demo", "repositoryName": "__repository__",
        "pipelineName": "failing_job", "solidSelection": ["boom"]}}});
    let data = h.data(LAUNCH, vars).await;
    assert_eq!(data["launchRun"]["__typename"], "InvalidSubsetError");
    assert_eq!(data["launchRun"]["pipeline"]["name"], "failing_job");
    // The client's document sends only __typename for InvalidSubsetError.
    let mut vars = submit_vars("demo", "failing_job", json!({}), None);
    vars["executionParams"]["selector"]["solidSelection"] = json!(["nope"]);
    let data = h.data(client::SUBMIT_RUN, vars).await;
    assert_eq!(
        data["launchPipelineExecution"],
        json!({"__typename": "InvalidSubsetError"})
    );
    assert_eq!(h.storage.count_runs(&Default::default()).await.unwrap(), 0);
}

const RUNS: &str = r#"
query Runs($filter: RunsFilter, $cursor: String, $limit: Int) {
  runsOrError(filter: $filter, cursor: $cursor, limit: $limit) {
    __typename
    ... on Runs { count results { runId jobName status tags { key value } } }
    ... on PythonError { message }
    ... on InvalidPipelineRunsFilterError { message }
  }
}"#;

fn run_ids(data: &Value) -> Vec<String> {
    data["runsOrError"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn runs_are_filtered_counted_and_paged_newest_first() {
    let h = Harness::new().await;
    let a = h.launch("one_op_job", json!({})).await;
    let b = h.launch("failing_job", json!({})).await;
    let vars = submit_vars(
        "demo",
        "one_op_job",
        json!({}),
        Some(json!([{"key": "team", "value": "x"}])),
    );
    let data = h.data(client::SUBMIT_RUN, vars).await;
    let c = data["launchPipelineExecution"]["run"]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    h.data(client::TERMINATE_RUN, json!({"runId": b})).await;

    let data = h.data(RUNS, json!({})).await;
    assert_eq!(data["runsOrError"]["count"], 3);
    assert_eq!(run_ids(&data), [c.as_str(), b.as_str(), a.as_str()]);

    let data = h.data(RUNS, json!({"limit": 1})).await;
    assert_eq!(run_ids(&data), [c.as_str()]);
    assert_eq!(data["runsOrError"]["count"], 3, "count ignores the limit");
    let data = h.data(RUNS, json!({"cursor": c, "limit": 1})).await;
    assert_eq!(run_ids(&data), [b.as_str()]);
    let data = h.data(RUNS, json!({"cursor": b, "limit": 5})).await;
    assert_eq!(run_ids(&data), [a.as_str()]);

    let data = h
        .data(RUNS, json!({"filter": {"pipelineName": "one_op_job"}}))
        .await;
    assert_eq!(run_ids(&data), [c.as_str(), a.as_str()]);
    let data = h
        .data(RUNS, json!({"filter": {"statuses": ["CANCELED"]}}))
        .await;
    assert_eq!(run_ids(&data), [b.as_str()]);
    let data = h
        .data(
            RUNS,
            json!({"filter": {"statuses": ["QUEUED", "CANCELED"]}}),
        )
        .await;
    assert_eq!(data["runsOrError"]["count"], 3);
    let data = h
        .data(
            RUNS,
            json!({"filter": {"tags": [{"key": "team", "value": "x"}]}}),
        )
        .await;
    assert_eq!(run_ids(&data), [c.as_str()]);
    let data = h
        .data(RUNS, json!({"filter": {"runIds": [a.clone(), "unknown"]}}))
        .await;
    assert_eq!(run_ids(&data), [a.as_str()]);
    let data = h
        .data(RUNS, json!({"filter": {"createdAfter": 0.0}, "limit": 2}))
        .await;
    assert_eq!(data["runsOrError"]["count"], 3);
    assert_eq!(run_ids(&data).len(), 2);
    let data = h
        .data(RUNS, json!({"filter": {"createdBefore": 1.0}}))
        .await;
    assert_eq!(data["runsOrError"]["count"], 0);

    // What a document selects through fragments is read, and only that.
    let data = h
        .data(
            "query { runsOrError { ...Counted } } fragment Counted on Runs { count }",
            json!({}),
        )
        .await;
    assert_eq!(data["runsOrError"], json!({"count": 3}));
    let data = h
        .data(
            "query { runsOrError(limit: 1) { ... on PipelineRuns { results { runId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(run_ids(&data), [c.as_str()]);

    // An unknown cursor is an error inside the union, not a failed request.
    let data = h.data(RUNS, json!({"cursor": "nope"})).await;
    assert_eq!(data["runsOrError"]["__typename"], "PythonError");
}

const LOGS: &str = r#"
query Logs($r: ID!, $c: String, $l: Int) {
  logsForRun(runId: $r, afterCursor: $c, limit: $l) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events { __typename
        ... on MessageEvent { runId message timestamp level stepKey solidHandleID eventType }
        ... on RunEvent { pipelineName }
        ... on ErrorEvent { error { message className cause { message } } }
        ... on ExecutionStepUpForRetryEvent { secondsToWait }
        ... on ExecutionStepOutputEvent { outputName typeCheck { success } }
        ... on DisplayableEvent { metadataEntries { __typename label ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } } }
      }
    }
    ... on RunNotFoundError { runId message }
    ... on PythonError { message }
  }
}"#;

#[tokio::test]
async fn logs_for_run_pages_with_cursors_and_types_each_event() {
    let h = Harness::new().await;
    let run_id = h.launch("failing_job", json!({})).await;
    let mut start = RunEvent::new(&run_id, EventType::RunStart, "Started execution of run.");
    start.timestamp = 1_700_000_000.123;
    let events = vec![
        start,
        RunEvent::new(&run_id, EventType::StepStart, "Started boom.").step("boom"),
        RunEvent::new(&run_id, EventType::Log, "hello from boom")
            .step("boom")
            .level(LogLevel::Info),
        RunEvent::new(&run_id, EventType::StepUpForRetry, "retrying")
            .step("boom")
            .data(EventData::Retry {
                error: ErrorInfo::new("OpError", "flaky"),
                attempt: 1,
                max_retries: 2,
                delay_seconds: 0.5,
            }),
        RunEvent::new(&run_id, EventType::StepFailure, "boom failed")
            .step("boom")
            .data(EventData::Failure {
                error: ErrorInfo {
                    message: "boom".into(),
                    kind: "OpError".into(),
                    cause: Some(Box::new(ErrorInfo::new("Cause", "disk full"))),
                },
            }),
        RunEvent::new(&run_id, EventType::EngineEvent, "Started process.").data(
            EventData::Engine {
                metadata: json!({"pid": 42, "host": "h"}),
            },
        ),
        RunEvent::new(&run_id, EventType::RunFailure, "Run failed."),
    ];
    h.storage.store_events(&events).await.unwrap();

    let data = h.data(LOGS, json!({"r": run_id})).await;
    let conn = &data["logsForRun"];
    assert_eq!(conn["__typename"], "EventConnection");
    assert_eq!(conn["hasMore"], false);
    let types: Vec<&str> = conn["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["__typename"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "RunEnqueuedEvent",
            "RunStartEvent",
            "ExecutionStepStartEvent",
            "LogMessageEvent",
            "ExecutionStepUpForRetryEvent",
            "ExecutionStepFailureEvent",
            "EngineEvent",
            "RunFailureEvent"
        ]
    );
    let ev = &conn["events"];
    assert_eq!(ev[0]["pipelineName"], "failing_job");
    assert_eq!(ev[0]["level"], "INFO");
    assert_eq!(ev[1]["timestamp"], "1700000000123");
    assert_eq!(ev[1]["eventType"], "RUN_START");
    assert_eq!(ev[2]["stepKey"], "boom");
    assert_eq!(ev[2]["solidHandleID"], "boom");
    assert_eq!(
        ev[3]["eventType"],
        Value::Null,
        "log lines have no event type"
    );
    assert_eq!(ev[3]["message"], "hello from boom");
    assert_eq!(ev[4]["secondsToWait"], 0.5);
    assert_eq!(ev[5]["error"]["message"], "boom");
    assert_eq!(ev[5]["error"]["className"], "OpError");
    assert_eq!(ev[5]["error"]["cause"]["message"], "disk full");
    assert_eq!(
        ev[6]["metadataEntries"],
        json!([
            {"__typename": "IntMetadataEntry", "label": "pid", "intValue": 42},
            {"__typename": "TextMetadataEntry", "label": "host", "text": "h"},
        ])
    );

    // Pages of three, following the cursor.
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let data = h
            .data(LOGS, json!({"r": run_id, "c": cursor, "l": 3}))
            .await;
        let conn = &data["logsForRun"];
        let page = conn["events"].as_array().unwrap();
        seen.extend(
            page.iter()
                .map(|e| e["__typename"].as_str().unwrap().to_owned()),
        );
        cursor = Some(conn["cursor"].as_str().unwrap().to_owned());
        if conn["hasMore"] == false {
            break;
        }
        assert_eq!(page.len(), 3);
    }
    assert_eq!(seen, types);
    // Past the end: nothing, and the same cursor.
    let data = h
        .data(LOGS, json!({"r": run_id, "c": cursor, "l": 3}))
        .await;
    assert_eq!(data["logsForRun"]["events"], json!([]));
    assert_eq!(data["logsForRun"]["cursor"].as_str(), cursor.as_deref());

    let data = h.data(LOGS, json!({"r": "nope"})).await;
    assert_eq!(
        data["logsForRun"],
        json!({"__typename": "RunNotFoundError", "runId": "nope", "message": "Pipeline run nope could not be found."})
    );
    let data = h.data(LOGS, json!({"r": run_id, "c": "garbage!"})).await;
    assert_eq!(data["logsForRun"]["__typename"], "PythonError");
}

#[tokio::test]
async fn run_or_error_shows_stats_steps_plan_and_pipeline() {
    let h = Harness::new().await;
    let run_id = h.launch("failing_job", json!({})).await;
    h.storage
        .store_events(&[
            RunEvent::new(&run_id, EventType::RunStarting, ""),
            RunEvent::new(&run_id, EventType::RunStart, ""),
            RunEvent::new(&run_id, EventType::StepStart, "").step("boom"),
            RunEvent::new(&run_id, EventType::StepFailure, "").step("boom"),
            RunEvent::new(&run_id, EventType::StepSkipped, "").step("after"),
            RunEvent::new(&run_id, EventType::RunFailure, ""),
        ])
        .await
        .unwrap();
    let query = r#"query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
        status canTerminate startTime endTime creationTime updateTime stepKeysToExecute
        pipeline { __typename name ... on PipelineSnapshot { solids { name } } }
        stats { __typename ... on RunStatsSnapshot { id stepsSucceeded stepsFailed enqueuedTime launchTime startTime endTime } }
        stepStats { stepKey status attempts { startTime endTime } }
        executionPlan { steps { key kind inputs { name dependsOn { key } } outputs { name } } }
        eventConnection(limit: 2) { hasMore events { __typename } }
    } } }"#;
    let data = h.data(query, json!({"id": run_id})).await;
    let run = &data["runOrError"];
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["canTerminate"], false);
    assert!(run["startTime"].is_f64() && run["endTime"].is_f64() && run["creationTime"].is_f64());
    assert_eq!(run["pipeline"]["__typename"], "PipelineSnapshot");
    assert_eq!(
        run["pipeline"]["solids"],
        json!([{"name": "boom"}, {"name": "after"}])
    );
    let stats = &run["stats"];
    assert_eq!(stats["id"], format!("stats-{run_id}"));
    assert_eq!(stats["stepsFailed"], 1);
    assert!(stats["enqueuedTime"].is_f64() && stats["launchTime"].is_f64());
    assert_eq!(run["stepStats"][0]["stepKey"], "boom");
    assert_eq!(run["stepStats"][0]["status"], "FAILURE");
    assert_eq!(run["stepStats"][1]["status"], "SKIPPED");
    let steps = &run["executionPlan"]["steps"];
    assert_eq!(steps[1]["key"], "after");
    assert_eq!(steps[1]["kind"], "COMPUTE");
    assert_eq!(steps[1]["inputs"][0]["dependsOn"], json!([{"key": "boom"}]));
    assert_eq!(run["eventConnection"]["hasMore"], true);
}

#[tokio::test]
async fn workspace_repositories_and_jobs_describe_the_location() {
    let h = Harness::new().await;
    let data = h
        .data(
            r#"{ workspaceOrError { __typename ... on Workspace { id locationEntries {
                id name loadStatus updatedTimestamp versionKey definitionsSource permissions { permission value }
                locationOrLoadError { __typename ... on RepositoryLocation { id name repositories { name pipelines { name } } } } } } }
                locationStatusesOrError { __typename ... on WorkspaceLocationStatusEntries { entries { id name loadStatus } } }
                repositoryOrError(repositorySelector: {repositoryLocationName: "demo", repositoryName: "__repository__"}) { __typename ... on Repository { name jobs { name } } }
                missing: repositoryOrError(repositorySelector: {repositoryLocationName: "bogus", repositoryName: "nope"}) { __typename ... on RepositoryNotFoundError { message } }
                version }"#,
            json!({}),
        )
        .await;
    let entry = &data["workspaceOrError"]["locationEntries"][0];
    assert_eq!(data["workspaceOrError"]["id"], "Workspace");
    assert_eq!(entry["name"], "demo");
    assert_eq!(entry["loadStatus"], "LOADED");
    assert_eq!(entry["definitionsSource"], "CODE_SERVER");
    assert_eq!(
        entry["locationOrLoadError"]["__typename"],
        "RepositoryLocation"
    );
    assert_eq!(
        entry["locationOrLoadError"]["repositories"][0]["pipelines"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    assert_eq!(
        data["locationStatusesOrError"]["entries"][0],
        json!({"id": "location_status:demo", "name": "demo", "loadStatus": "LOADED"})
    );
    assert_eq!(
        data["repositoryOrError"]["jobs"].as_array().unwrap().len(),
        11
    );
    assert_eq!(
        data["missing"],
        json!({"__typename": "RepositoryNotFoundError", "message": "Could not find Repository bogus.nope"})
    );
    assert!(data["version"].is_string());

    let selector = json!({"s": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "pipelineName": "failing_job"}});
    let data = h
        .data(
            r#"query($s: PipelineSelector!) { pipelineOrError(params: $s) { __typename ... on Pipeline {
                id name isJob description tags { key value } pipelineSnapshotId graphName
                modes { name resources { name } }
                solids { name definition { __typename name ... on SolidDefinition { configField { name } }
                         inputDefinitions { name type { displayName } } outputDefinitions { name } }
                         inputs { definition { name } dependsOn { solid { name } definition { name } } }
                         outputs { dependedBy { solid { name } } } }
                solidHandles { handleID solid { name } }
                solidHandle(handleID: "boom") { handleID }
                repository { name location { name } } } } }"#,
            selector,
        )
        .await;
    let p = &data["pipelineOrError"];
    assert_eq!(p["__typename"], "Pipeline");
    assert_eq!(p["isJob"], true);
    assert_eq!(p["modes"][0]["name"], "default");
    assert_eq!(p["solids"][0]["name"], "boom");
    assert_eq!(
        p["solids"][0]["definition"]["__typename"],
        "SolidDefinition"
    );
    assert_eq!(
        p["solids"][0]["outputs"][0]["dependedBy"],
        json!([{"solid": {"name": "after"}}])
    );
    assert_eq!(
        p["solids"][1]["inputs"][0]["dependsOn"][0]["solid"]["name"],
        "boom"
    );
    assert_eq!(p["solidHandle"]["handleID"], "boom");
    assert_eq!(p["repository"]["location"]["name"], "demo");

    let data = h
        .data(
            r#"{ pipelineOrError(params: {repositoryLocationName: "demo", repositoryName: "__repository__", pipelineName: "zz"}) { __typename ... on PipelineNotFoundError { message } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data["pipelineOrError"]["message"],
        "Could not find Pipeline demo.__repository__.zz"
    );
}

#[tokio::test]
async fn run_config_schema_describes_and_validates_config() {
    let h = Harness::new().await;
    let data = h
        .data(
            r#"query($s: PipelineSelector!) {
              runConfigSchemaOrError(selector: $s) { __typename ... on RunConfigSchema {
                rootDefaultYaml
                rootConfigType { __typename key ... on CompositeConfigType { fields { name isRequired configTypeKey } } }
                allConfigTypes { __typename key }
                valid: isRunConfigValid(runConfigData: {ops: {use_config: {config: {n: 1}}}}) { __typename ... on PipelineConfigValidationValid { pipelineName } }
                invalid: isRunConfigValid(runConfigData: {}) { __typename ... on RunConfigValidationInvalid { errors { __typename reason } } }
              } }
              isPipelineConfigValid(pipeline: $s, mode: "default", runConfigData: {ops: {use_config: {config: {n: "x"}}}}) {
                __typename ... on RunConfigValidationInvalid { pipelineName errors { __typename } } }
              badMode: runConfigSchemaOrError(selector: $s, mode: "other") { __typename ... on ModeNotFoundError { message mode } }
            }"#,
            json!({"s": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "pipelineName": "config_job"}}),
        )
        .await;
    let schema = &data["runConfigSchemaOrError"];
    assert_eq!(schema["__typename"], "RunConfigSchema");
    assert_eq!(schema["rootDefaultYaml"], "{}\n");
    let root = &schema["rootConfigType"];
    assert_eq!(root["__typename"], "CompositeConfigType");
    let fields: Vec<&str> = root["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["execution", "ops", "resources"]);
    let keys: Vec<&str> = schema["allConfigTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"Int") && keys.contains(&"String"),
        "{keys:?}"
    );
    assert_eq!(
        schema["valid"],
        json!({"__typename": "PipelineConfigValidationValid", "pipelineName": "config_job"})
    );
    assert_eq!(
        schema["invalid"]["__typename"],
        "RunConfigValidationInvalid"
    );
    assert_eq!(
        data["isPipelineConfigValid"],
        json!({"__typename": "RunConfigValidationInvalid", "pipelineName": "config_job", "errors": [{"__typename": "RuntimeMismatchConfigError"}]})
    );
    assert_eq!(
        data["badMode"],
        json!({"__typename": "ModeNotFoundError", "message": "Mode other not found in pipeline config_job.", "mode": "other"})
    );
}

#[tokio::test]
async fn instance_reports_daemon_health_from_heartbeats() {
    let h = Harness::new().await;
    h.storage
        .record_daemon_heartbeat(&DaemonHeartbeat {
            daemon_type: "QUEUED_RUN_COORDINATOR".into(),
            daemon_id: "d1".into(),
            timestamp: sluice_core::events::now_timestamp(),
            errors: vec!["slow".into()],
        })
        .await
        .unwrap();
    let data = h
        .data(
            r#"{ instance { id runQueuingSupported runLauncher { name } hasInfo info
                daemonHealth { id allDaemonStatuses { daemonType id required healthy lastHeartbeatTime lastHeartbeatErrors { message } }
                               daemonStatus(daemonType: "QUEUED_RUN_COORDINATOR") { daemonType healthy } } } }"#,
            json!({}),
        )
        .await;
    let instance = &data["instance"];
    assert_eq!(instance["id"], "Instance");
    assert_eq!(instance["runQueuingSupported"], true);
    assert!(instance["runLauncher"]["name"].is_string());
    let statuses = instance["daemonHealth"]["allDaemonStatuses"]
        .as_array()
        .unwrap();
    let coordinator = statuses
        .iter()
        .find(|s| s["daemonType"] == "QUEUED_RUN_COORDINATOR")
        .unwrap();
    assert_eq!(coordinator["healthy"], true);
    assert_eq!(coordinator["required"], true);
    assert_eq!(
        coordinator["lastHeartbeatErrors"],
        json!([{"message": "slow"}])
    );
    let scheduler = statuses
        .iter()
        .find(|s| s["daemonType"] == "SCHEDULER")
        .unwrap();
    assert_eq!(scheduler["healthy"], false);
    assert_eq!(scheduler["lastHeartbeatTime"], Value::Null);
    assert_eq!(
        instance["daemonHealth"]["daemonStatus"],
        json!({"daemonType": "QUEUED_RUN_COORDINATOR", "healthy": true})
    );
}

const REEXECUTE: &str = r#"
mutation($e: ExecutionParams, $r: ReexecutionParams) {
  launchRunReexecution(executionParams: $e, reexecutionParams: $r) {
    __typename
    ... on LaunchRunSuccess { run { runId status rootRunId parentRunId jobName tags { key value } runConfig stepKeysToExecute } }
    ... on PythonError { message className }
    ... on Error { message }
  }
}"#;

#[tokio::test]
async fn reexecution_of_all_steps_queues_a_run_in_the_parents_group() {
    let h = Harness::new().await;
    let vars = submit_vars(
        "demo",
        "config_job",
        json!({"ops": {"use_config": {"config": {"n": 2}}}}),
        Some(json!([{"key": "k", "value": "v"}])),
    );
    let data = h.data(client::SUBMIT_RUN, vars).await;
    let parent = data["launchPipelineExecution"]["run"]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {"parentRunId": parent, "strategy": "ALL_STEPS", "extraTags": [{"key": "x", "value": "y"}]}}),
        )
        .await;
    let run = &data["launchRunReexecution"]["run"];
    assert_eq!(
        data["launchRunReexecution"]["__typename"],
        "LaunchRunSuccess"
    );
    assert_eq!(run["status"], "QUEUED");
    assert_eq!(run["parentRunId"], parent.as_str());
    assert_eq!(run["rootRunId"], parent.as_str());
    assert_eq!(run["runConfig"]["ops"]["use_config"]["config"]["n"], 2);
    let tags: std::collections::BTreeMap<String, String> = run["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(tags["k"], "v");
    assert_eq!(tags["x"], "y");
    assert_eq!(tags["dagster/parent_run_id"], parent);
    assert_eq!(tags["dagster/root_run_id"], parent);

    // A re-execution of the re-execution keeps the root.
    let child = run["runId"].as_str().unwrap().to_owned();
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {"parentRunId": child, "strategy": "ALL_STEPS"}}),
        )
        .await;
    let run = &data["launchRunReexecution"]["run"];
    assert_eq!(run["parentRunId"], child.as_str());
    assert_eq!(run["rootRunId"], parent.as_str());

    assert_eq!(
        run["stepKeysToExecute"],
        Value::Null,
        "ALL_STEPS runs every step"
    );

    // FROM_FAILURE: only of a failed or canceled run, for the steps that did not
    // succeed (here every step: the parent was canceled before it started).
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {"parentRunId": parent, "strategy": "FROM_FAILURE"}}),
        )
        .await;
    assert_eq!(data["launchRunReexecution"]["__typename"], "PythonError");
    assert!(
        data["launchRunReexecution"]["message"]
            .as_str()
            .unwrap()
            .contains("not failed or canceled")
    );
    h.data(client::TERMINATE_RUN, json!({"runId": parent}))
        .await;
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {"parentRunId": parent, "strategy": "FROM_FAILURE"}}),
        )
        .await;
    let run = &data["launchRunReexecution"]["run"];
    assert_eq!(run["stepKeysToExecute"], json!(["use_config"]), "{data}");
    assert_eq!(run["parentRunId"], parent.as_str());
    let resume = run["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "dagster/is_resume_retry" && t["value"] == "true");
    assert!(resume, "{run}");

    // Unknown parents and missing params are errors.
    let data = h
        .data(
            REEXECUTE,
            json!({"r": {"parentRunId": "nope", "strategy": "ALL_STEPS"}}),
        )
        .await;
    assert_eq!(
        data["launchRunReexecution"]["message"],
        "Could not find parent run with id: nope"
    );
    let data = h.data(REEXECUTE, json!({})).await;
    assert_eq!(data["launchRunReexecution"]["__typename"], "PythonError");
}

#[tokio::test]
async fn delete_run_removes_it_once() {
    let h = Harness::new().await;
    let run_id = h.launch("one_op_job", json!({})).await;
    let query = r#"mutation($id: String!) { deleteRun(runId: $id) { __typename
        ... on DeletePipelineRunSuccess { runId } ... on RunNotFoundError { message } } }"#;
    let data = h.data(query, json!({"id": run_id})).await;
    assert_eq!(
        data["deleteRun"],
        json!({"__typename": "DeletePipelineRunSuccess", "runId": run_id})
    );
    let data = h
        .data(
            &query.replace("deleteRun", "deletePipelineRun"),
            json!({"id": run_id}),
        )
        .await;
    assert_eq!(data["deletePipelineRun"]["__typename"], "RunNotFoundError");
    assert!(h.storage.get_run(&run_id).await.unwrap().is_none());
}

#[tokio::test]
async fn terminating_a_started_run_asks_its_code_server_to_stop_it() {
    let h = Harness::new().await;
    let run_id = h
        .launch(
            "sleepy_job",
            json!({"ops": {"sleeper": {"config": {"seconds": 60.0}}}}),
        )
        .await;
    // What the daemon does: launch the queued run through the code server.
    CodeServerClient::from_url(&h.code_server.url)
        .launch_run(&run_id)
        .await
        .unwrap();
    h.wait_status(&run_id, RunStatus::Started).await;
    // STARTED: refused while STARTING is not terminable, accepted now.
    let data = h
        .data(client::TERMINATE_RUN, json!({"runId": run_id}))
        .await;
    assert_eq!(data["terminateRun"]["__typename"], "TerminateRunSuccess");
    let run = h.wait_status(&run_id, RunStatus::Canceled).await;
    assert!(run.end_time.is_some());
    let events = h.storage.events_for_run(&run_id, None, None).await.unwrap();
    let types: Vec<EventType> = events.iter().map(|e| e.event.event_type).collect();
    assert!(types.contains(&EventType::RunCanceling), "{types:?}");
    assert_eq!(types.last(), Some(&EventType::RunCanceled));
}

#[tokio::test]
async fn a_location_whose_code_server_is_down_is_reported_and_others_keep_working() {
    let h = Harness::with_extra_locations(vec![("down".into(), dead_url())]).await;
    let data = h
        .data(
            r#"{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
                locationOrLoadError { __typename ... on PythonError { message className } } } } }
                repositoryLocationsOrError { __typename ... on RepositoryLocationConnection { nodes { __typename
                  ... on RepositoryLocation { name loadStatus repositories { name } }
                  ... on RepositoryLocationLoadFailure { name error { message } } } } } }"#,
            json!({}),
        )
        .await;
    let entries = data["workspaceOrError"]["locationEntries"]
        .as_array()
        .unwrap();
    assert_eq!(entries.len(), 2);
    let down = entries.iter().find(|e| e["name"] == "down").unwrap();
    assert_eq!(down["locationOrLoadError"]["__typename"], "PythonError");
    assert!(
        down["locationOrLoadError"]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{down}"
    );
    let nodes = data["repositoryLocationsOrError"]["nodes"]
        .as_array()
        .unwrap();
    assert_eq!(
        nodes[0],
        json!({"__typename": "RepositoryLocation", "name": "demo", "loadStatus": "LOADED", "repositories": [{"name": "__repository__"}]})
    );
    assert_eq!(nodes[1]["__typename"], "RepositoryLocationLoadFailure");
    assert_eq!(nodes[1]["name"], "down");
    assert!(
        nodes[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("down")
    );

    // The client's discovery skips it; launching on it is an error; demo still launches.
    let data = h.data(client::GET_JOB_NAMES, json!({})).await;
    assert_eq!(
        data["repositoriesOrError"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let data = h
        .data(
            client::SUBMIT_RUN,
            submit_vars("down", "one_op_job", json!({}), None),
        )
        .await;
    assert_eq!(data["launchPipelineExecution"]["__typename"], "PythonError");
    assert!(
        data["launchPipelineExecution"]["message"]
            .as_str()
            .unwrap()
            .contains("code location \"down\" is not loaded")
    );
    h.launch("one_op_job", json!({})).await;
    // Reloading it reports the load error in the entry, as the client expects.
    let data = h
        .data(client::RELOAD, json!({"repositoryLocationName": "down"}))
        .await;
    assert_eq!(
        data["reloadRepositoryLocation"]["locationOrLoadError"]["__typename"],
        "PythonError"
    );
}

#[tokio::test]
async fn malformed_documents_are_graphql_errors() {
    let h = Harness::new().await;
    for doc in [
        "{ version",
        "{ nosuchField }",
        "{ runsOrError(limit: \"x\") { __typename } }",
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename } }",
        "{ runsOrError { ... on RunNotFoundError { message } } }",
    ] {
        let response = h.exec(doc, json!({})).await;
        let errors = response["errors"].as_array();
        assert!(errors.is_some_and(|e| !e.is_empty()), "{doc}: {response:#}");
    }
}

#[tokio::test]
async fn storage_failures_are_python_errors_inside_the_unions() {
    let h = Harness::new().await;
    let run_id = h.launch("one_op_job", json!({})).await;
    h.storage.close().await.unwrap();
    let data = h
        .data(client::GET_RUN_STATUS, json!({"runId": run_id}))
        .await;
    assert_eq!(data["pipelineRunOrError"]["__typename"], "PythonError");
    let data = h
        .data(
            client::SUBMIT_RUN,
            submit_vars("demo", "one_op_job", json!({}), None),
        )
        .await;
    assert_eq!(data["launchPipelineExecution"]["__typename"], "PythonError");
    let data = h
        .data(client::TERMINATE_RUN, json!({"runId": run_id}))
        .await;
    assert_eq!(data["terminateRun"]["__typename"], "PythonError");
    let data = h.data(RUNS, json!({})).await;
    assert_eq!(data["runsOrError"]["__typename"], "PythonError");
    let data = h.data(LOGS, json!({"r": run_id})).await;
    assert_eq!(data["logsForRun"]["__typename"], "PythonError");
    // Fields whose type has no error member answer with a GraphQL error, not a panic.
    let response = h
        .exec(
            "{ instance { daemonHealth { allDaemonStatuses { daemonType } } } }",
            json!({}),
        )
        .await;
    assert!(response["errors"].as_array().is_some_and(|e| !e.is_empty()));
}
