//! The database goes away mid-run: every connection to Postgres is cut and refused for
//! two seconds (a restart, as the processes see it) while runs execute, then comes back.
//! No run is lost, none runs twice, and every run ends, those that cannot with a reason.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_e2e::{Instance, demo_workspace, graphql, start_dev};
use sluice_storage::RunsFilter;
use sluice_storage::prelude::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP proxy in front of Postgres that can cut every connection and refuse new ones.
struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (accept_down, accept_connections) = (down.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accept_down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut client = client;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                accept_connections.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            addr,
            down,
            connections,
        }
    }

    /// Drop every connection, and refuse new ones until [`restore`](Self::restore).
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

const RUNS: usize = 40;

// Several threads: the proxy must keep serving while `start_dev` waits for `sluice dev`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_survive_the_database_going_away_mid_run() {
    crate::repeat("database", one_trial).await;
}

async fn one_trial() {
    let direct = Instance::postgres().await;
    let url = direct.postgres_url.clone().unwrap();
    let (upstream, database) = {
        let rest = url.split_once('@').unwrap().1;
        let (host, db) = rest.split_once('/').unwrap();
        (host.to_owned(), db.to_owned())
    };
    let proxy = Proxy::start(upstream).await;
    let proxied = Instance {
        home: tempfile::tempdir().unwrap(),
        postgres_url: Some(format!(
            "postgres://sluice:sluice@{}/{database}",
            proxy.addr
        )),
    };
    std::fs::write(
        proxied.home.path().join("sluice.yaml"),
        "run_coordinator:\n  max_concurrent_runs: 8\nrun_monitoring:\n  poll_interval_seconds: 0.2\n  heartbeat_timeout_seconds: 4\n",
    )
    .unwrap();
    let workspace = demo_workspace(&proxied);
    let (_dev, graphql_url) = start_dev(&proxied, &workspace);
    let params = json!({"p": {
        "selector": {"repositoryLocationName": "demo", "repositoryName": "__repository__", "jobName": "sleepy_job"},
        "runConfigData": {"ops": {"sleeper": {"config": {"seconds": 0.5}}}},
    }});
    for _ in 0..RUNS {
        graphql(
            &graphql_url,
            "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename } }",
            params.clone(),
        )
        .await;
    }
    // Mid-run: some runs going, most queued.
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();

    // Read through the direct connection: the test's view is not cut.
    let storage = direct.storage().await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let runs = loop {
        let runs = storage
            .list_runs(&RunsFilter::default(), None, None)
            .await
            .unwrap();
        if runs.len() == RUNS && runs.iter().all(|r| r.status.is_finished()) {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "not every run ended: {:?}",
            runs.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let failed = crate::check_runs(storage.as_ref(), &runs).await;
    eprintln!(
        "{} of {RUNS} runs succeeded; failed: {failed:#?}",
        RUNS - failed.len()
    );
}
