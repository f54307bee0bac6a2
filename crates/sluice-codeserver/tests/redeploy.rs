//! A `code_server:` location whose server is redeployed with other code (what `docker
//! compose restart user-code` does after a new image is built): the supervisor notices
//! by the snapshot id within ten seconds and loads the new definitions, with no restart
//! of the process that supervises it (the webserver, the daemon).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_codeserver::server::serve;
use sluice_codeserver::workspace::WorkspaceFile;
use sluice_codeserver::{CodeServer, Supervisor, WorkerCommand, WorkerLauncher, Workspace};
use sluice_core::Definitions;
use sluice_core::prelude::*;
use sluice_storage::StorageConfig;
use tokio_util::sync::CancellationToken;

/// Definitions with one job per name.
fn definitions(jobs: &[&str]) -> Definitions {
    let op = OpDefinition::builder("noop").compute(|_ctx, _inputs| async move { Ok(()) });
    let mut defs = Definitions::builder();
    for name in jobs {
        let mut job = JobDefinition::builder(*name);
        job.add(&op);
        defs = defs.job(job.build());
    }
    defs.build().expect("valid definitions")
}

/// Serve `jobs` as location `acme` on `port` until the token is cancelled.
async fn deploy(
    port: u16,
    jobs: &[&str],
    home: &std::path::Path,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let storage = sluice_storage::open(&StorageConfig::Sqlite {
        path: home.join("sluice.db"),
    })
    .await
    .expect("storage");
    let launcher = WorkerLauncher::Exec(WorkerCommand {
        program: "/bin/false".into(),
        args: Vec::new(),
    });
    let server = CodeServer::new("acme", &definitions(jobs), storage, launcher);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let stop = CancellationToken::new();
    let serving = tokio::spawn(serve(listener, Arc::clone(&server), stop.clone()));
    let handle = tokio::spawn(async move {
        serving.await.expect("serve").expect("serve");
    });
    (stop, handle)
}

async fn jobs(workspace: &Workspace) -> Vec<String> {
    let location = workspace.location("acme").await.expect("listed");
    location
        .snapshot()
        .map(|s| {
            s.jobs
                .iter()
                .map(|j| j.name.clone())
                .filter(|n| !n.starts_with("__"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeployed_code_server_is_reloaded_by_its_snapshot_id() {
    let home = tempfile::tempdir().expect("temporary directory");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("address").port()
    };
    let (stop, first) = deploy(port, &["ingest"], home.path()).await;
    let file = WorkspaceFile::parse(
        &format!(
            "load_from:\n  - code_server: {{host: 127.0.0.1, port: {port}, location_name: acme}}\n"
        ),
        "workspace.yaml",
    )
    .expect("workspace");
    let workspace = Workspace::default();
    let supervisor = Supervisor::start(&file, home.path(), &workspace).await;
    assert_eq!(jobs(&workspace).await, ["ingest"]);

    // Redeployed with a second job, on the same address.
    stop.cancel();
    first.await.expect("first server stopped");
    let redeployed = Instant::now();
    let (stop, second) = deploy(port, &["ingest", "report"], home.path()).await;
    while jobs(&workspace).await != ["ingest", "report"] {
        assert!(
            redeployed.elapsed() < Duration::from_secs(10),
            "the new code was not loaded within 10 s: {:?}",
            workspace.location("acme").await.map(|l| l.state)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("reloaded {:?} after the redeployment", redeployed.elapsed());
    supervisor.stop().await;
    stop.cancel();
    second.await.expect("second server stopped");
}
