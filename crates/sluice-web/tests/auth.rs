//! Authentication and roles over real HTTP (issue 22, finding 2): with tokens on, no
//! request without a valid token reaches GraphQL or the UI; each role may what it may,
//! in GraphQL and in the UI alike; the UI signs in with a token and keeps it in an
//! HttpOnly, SameSite=Strict cookie; a revoked token lets no one in.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod common;

use common::Server;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sluice_core::run::RunStatus;
use sluice_service::access::Role;
use sluice_web::{Authentication, WebSettings};

fn tokens() -> WebSettings {
    WebSettings {
        authentication: Some(Authentication::Tokens),
        ..WebSettings::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn graphql(
    server: &Server,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut request = client()
        .post(server.url("/graphql"))
        .header("content-type", "application/json")
        .body(json!({"query": query, "variables": variables}).to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

const LAUNCH: &str = "mutation { launchRun(executionParams: {selector: {repositoryLocationName: \"demo\", repositoryName: \"__repository__\", jobName: \"one_op_job\"}}) { __typename ... on LaunchRunSuccess { run { runId tags { key value } } } } }";
const PERMISSIONS: &str = "{ permissions { permission value disabledReason } }";

fn permission(answer: &Value, name: &str) -> bool {
    answer["data"]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["permission"] == name)
        .unwrap_or_else(|| panic!("no {name}: {answer}"))["value"]
        .as_bool()
        .unwrap()
}

#[tokio::test]
async fn without_a_valid_token_nothing_is_answered_but_health() {
    let server = Server::start(tokens()).await;
    let (status, answer) = graphql(&server, None, "{ version }", json!({})).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let (status, _) = graphql(&server, Some("sluice_0000"), "{ version }", json!({})).await;
    assert_eq!(status, 401);
    let page = client()
        .get(server.url("/runs?status=QUEUED"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(
        page.headers()["location"],
        "/signin?next=%2Fruns%3Fstatus%3DQUEUED"
    );
    let run_id = server.queued_run().await;
    let post = client()
        .post(server.url(&format!("/runs/{run_id}/terminate")))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
    assert_eq!(server.status(&run_id).await, RunStatus::Queued);
    for open in ["/healthz", "/server_info", "/signin"] {
        let response = client().get(server.url(open)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{open}");
    }
    // A revoked token is refused from then on.
    let created = server
        .service
        .create_token("ops", Role::Admin)
        .await
        .unwrap();
    let (status, _) = graphql(&server, Some(&created.secret), "{ version }", json!({})).await;
    assert_eq!(status, 200);
    server
        .service
        .revoke_token(&created.token.token_id)
        .await
        .unwrap();
    let (status, _) = graphql(&server, Some(&created.secret), "{ version }", json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn each_role_may_what_it_may_and_every_mutation_is_audited() {
    let server = Server::start(tokens()).await;
    let token = |name: &'static str, role| {
        let service = server.service.clone();
        async move { service.create_token(name, role).await.unwrap().secret }
    };
    let viewer = token("dashboard", Role::Viewer).await;
    let launcher = token("ci", Role::Launcher).await;
    let editor = token("data-team", Role::Editor).await;

    // The viewer reads, and is told what it may not do.
    let (_, answer) = graphql(&server, Some(&viewer), PERMISSIONS, json!({})).await;
    assert!(!permission(&answer, "launch_pipeline_execution"));
    let (status, refused) = graphql(&server, Some(&viewer), LAUNCH, json!({})).await;
    assert_eq!(status, 200);
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "UnauthorizedError: dashboard (role viewer) may not launch_pipeline_execution"
        ),
        "{message}"
    );
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHORIZED");

    // The launcher launches; its run says who launched it.
    let (_, answer) = graphql(&server, Some(&launcher), PERMISSIONS, json!({})).await;
    assert!(permission(&answer, "launch_pipeline_execution"));
    assert!(!permission(&answer, "delete_pipeline_run"));
    let (_, launched) = graphql(&server, Some(&launcher), LAUNCH, json!({})).await;
    let run = &launched["data"]["launchRun"]["run"];
    let run_id = run["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("{launched}"))
        .to_owned();
    assert!(
        run["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "dagster/user", "value": "ci"}))
    );
    // It may not terminate someone else's run, only its own.
    let other = server.queued_run().await;
    let terminate = "mutation($id: String!) { terminateRun(runId: $id) { __typename ... on UnauthorizedError { message } } }";
    let (_, answer) = graphql(&server, Some(&launcher), terminate, json!({"id": other})).await;
    assert_eq!(
        answer["data"]["terminateRun"]["__typename"], "UnauthorizedError",
        "{answer}"
    );
    assert_eq!(server.status(&other).await, RunStatus::Queued);
    let (_, answer) = graphql(&server, Some(&launcher), terminate, json!({"id": run_id})).await;
    assert_eq!(
        answer["data"]["terminateRun"]["__typename"], "TerminateRunSuccess",
        "{answer}"
    );
    // Reloading a location is for admins.
    let reload =
        "mutation { reloadRepositoryLocation(repositoryLocationName: \"demo\") { __typename } }";
    let (_, answer) = graphql(&server, Some(&editor), reload, json!({})).await;
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("reload_repository_location")
    );
    let (_, answer) = graphql(&server, Some(&editor), terminate, json!({"id": other})).await;
    assert_eq!(
        answer["data"]["terminateRun"]["__typename"],
        "TerminateRunSuccess"
    );

    // Who did what, allowed or not, with the arguments.
    let audit = server.service.audit_log(20).await.unwrap();
    let line = |actor: &str, action: &str, outcome: &str| {
        audit
            .iter()
            .any(|e| e.actor == actor && e.action == action && e.outcome == outcome)
    };
    assert!(line("dashboard", "launchRun", "denied"), "{audit:#?}");
    assert!(line("ci", "launchRun", "ok"), "{audit:#?}");
    assert!(
        line("ci", "terminateRun", "UnauthorizedError"),
        "{audit:#?}"
    );
    assert!(
        line("data-team", "reloadRepositoryLocation", "denied"),
        "{audit:#?}"
    );
    let terminated = audit
        .iter()
        .find(|e| e.actor == "data-team" && e.action == "terminateRun")
        .unwrap();
    assert!(terminated.target.contains(&other), "{}", terminated.target);
}

#[tokio::test]
async fn the_ui_signs_in_with_a_token_into_a_strict_cookie() {
    let server = Server::start(tokens()).await;
    let viewer = server
        .service
        .create_token("dashboard", Role::Viewer)
        .await
        .unwrap()
        .secret;
    let editor = server
        .service
        .create_token("data-team", Role::Editor)
        .await
        .unwrap()
        .secret;
    let sign_in = |token: String| {
        let url = server.url("/signin");
        async move {
            client()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}&next=%2Fruns"))
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = sign_in("sluice_nope".into()).await;
    assert_eq!(wrong.status(), 401);
    let signed_in = sign_in(viewer.clone()).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/runs");
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in ["sluice_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = client()
        .get(server.url("/runs"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // The viewer's actions are refused, and nothing happens.
    let run_id = server.queued_run().await;
    let delete = |session: String| {
        let url = server.url(&format!("/runs/{run_id}/terminate"));
        async move {
            client()
                .post(url)
                .header("cookie", session)
                .send()
                .await
                .unwrap()
        }
    };
    let refused = delete(session).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("may not terminate_pipeline_execution")
    );
    assert_eq!(server.status(&run_id).await, RunStatus::Queued);
    // The editor's go through.
    let editor_cookie = sign_in(editor).await.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let done = delete(editor_cookie.split(';').next().unwrap().to_owned()).await;
    assert!(done.status().is_redirection(), "{}", done.status());
    assert_eq!(server.status(&run_id).await, RunStatus::Canceled);
    let audit = server.service.audit_log(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.actor == "dashboard" && e.outcome == "denied")
    );
    assert!(audit.iter().any(|e| e.actor == "data-team"
        && e.action == "ui /runs/{id}/terminate"
        && e.outcome == "ok"));
}
