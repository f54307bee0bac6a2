//! Support for end-to-end tests: the built binaries, and instances (SQLite in a
//! temporary directory, or a fresh Postgres database) to run them against.
//!
//! The binaries must be built first (`cargo build --bins`); `tests/run.sh` does that.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use sluice_core::run::{NewRun, Run};
use sluice_storage::prelude::*;
use sluice_storage::{SqlStorage, StorageConfig};
use sqlx::Connection;

/// The path of a workspace binary next to this test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --bins` (tests/run.sh does)",
        path.display()
    );
    path
}

/// The Postgres server the tests use: `SLUICE_TEST_POSTGRES_URL`, or the role and
/// database that `tests/services/postgres.sh` creates.
pub fn postgres_admin_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://sluice:sluice@127.0.0.1:5432/sluice_test".to_owned())
}

/// A Sluice instance for one test: its home directory, and a Postgres database of its own
/// when the test asks for Postgres.
pub struct Instance {
    /// `$SLUICE_HOME`, removed when the instance is dropped.
    pub home: tempfile::TempDir,
    /// The instance's own Postgres database, when it is on Postgres.
    pub postgres_url: Option<String>,
}

impl Instance {
    /// An instance on SQLite in a fresh temporary directory.
    pub fn sqlite() -> Self {
        Self {
            home: tempfile::tempdir().expect("temporary directory"),
            postgres_url: None,
        }
    }

    /// An instance on a freshly created Postgres database. Fails (never skips) when the
    /// server is unreachable.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("sluice_e2e_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "Postgres is not reachable at {admin} ({e}); start it with tests/services/postgres.sh"
            )
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("SLUICE_TEST_POSTGRES_URL must end with /DATABASE"),
        };
        Self {
            home: tempfile::tempdir().expect("temporary directory"),
            postgres_url: Some(url),
        }
    }

    /// A command for binary `name` running against this instance.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.env("SLUICE_HOME", self.home.path())
            .env_remove("SLUICE_POSTGRES_URL")
            .env_remove("SLUICE_LOCATION");
        if let Some(url) = &self.postgres_url {
            cmd.env("SLUICE_POSTGRES_URL", url);
        }
        cmd
    }

    /// Run `sluice-user-code` with `args` and wait for it.
    pub fn user_code(&self, args: &[&str]) -> Output {
        self.command("sluice-user-code")
            .args(args)
            .output()
            .expect("run sluice-user-code")
    }

    /// The instance's storage, opened from this test.
    pub async fn storage(&self) -> Arc<SqlStorage> {
        let config = match &self.postgres_url {
            Some(url) => StorageConfig::Postgres { url: url.clone() },
            None => StorageConfig::Sqlite {
                path: self.home.path().join("sluice.db"),
            },
        };
        sluice_storage::open(&config)
            .await
            .expect("open instance storage")
    }

    /// Store a new run of `job` with `config` (NOT_STARTED, for a code server to launch).
    pub async fn new_run(&self, job: &str, config: serde_json::Value) -> Run {
        let run = NewRun {
            run_config: config,
            ..NewRun::new(job)
        };
        self.storage()
            .await
            .create_run(&run)
            .await
            .expect("store the run")
    }

    /// Wait until the stored run satisfies `done` (20 s at most); the run.
    pub async fn wait_for(&self, run_id: &str, done: impl Fn(&Run) -> bool) -> Run {
        let storage = self.storage().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let run = storage
                .get_run(run_id)
                .await
                .expect("read the run")
                .expect("the run exists");
            if done(&run) {
                return run;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run_id} stuck in {}",
                run.status
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// A process started by a test, killed when dropped.
pub struct Running {
    /// The process.
    pub child: std::process::Child,
    /// The `http://host:port` it announced.
    pub url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    /// Start `sluice-user-code serve` on a free port and wait until it listens.
    pub fn code_server(&self) -> Running {
        self.code_server_with(&[])
    }

    /// [`Instance::code_server`] with more `serve` arguments.
    pub fn code_server_with(&self, args: &[&str]) -> Running {
        let mut command = self.command("sluice-user-code");
        command.args(["serve", "--port", "0"]).args(args);
        let (child, url) = spawn_announcing(&mut command, "listening on ");
        Running { child, url }
    }
}

/// Spawn `command` with its standard error piped, and wait for the line that contains
/// `marker`; returns the child and the rest of that line after the marker. The child's
/// later output is drained, so that it never blocks on a full pipe.
pub fn spawn_announcing(command: &mut Command, marker: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let announced = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{command:?} exited before printing \"{marker}\""))
            .expect("read stderr");
        if let Some(at) = line.find(marker) {
            break line[at + marker.len()..].trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, announced)
}

/// Standard error of a finished command, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A workspace file naming the code server at `url` as location `demo`.
pub fn code_server_workspace(instance: &Instance, url: &str) -> PathBuf {
    let (host, port) = url
        .trim_start_matches("http://")
        .rsplit_once(':')
        .expect("host:port");
    let path = instance.home.path().join("workspace.yaml");
    std::fs::write(
        &path,
        format!(
            "load_from:\n  - code_server: {{host: \"{host}\", port: {port}, location_name: demo}}\n"
        ),
    )
    .expect("write workspace.yaml");
    path
}

/// A workspace whose one location, the bundled `demo`, is started by command, as the
/// root workspace.yaml does.
pub fn demo_workspace(instance: &Instance) -> PathBuf {
    let path = instance.home.path().join("workspace.yaml");
    let text = format!(
        "load_from:\n  - command:\n      executable: {}\n      args: [--location, demo]\n      location_name: demo\n",
        bin("sluice-user-code").display()
    );
    std::fs::write(&path, text).expect("write workspace.yaml");
    path
}

/// A child started in its own process group (`Command::process_group(0)`), killed with
/// its whole group when dropped, so that a failing test leaves nothing behind (`sluice
/// dev`'s code servers, chromedriver's browser).
pub struct ProcessGroup(pub std::process::Child);

/// `sluice dev` and its process group.
pub type Dev = ProcessGroup;

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: signalling the process group created for this child.
        unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for ProcessGroup {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for ProcessGroup {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

/// Start `sluice-daemon run` on `instance` and `workspace`, in its own process group,
/// its output discarded.
pub fn start_daemon(instance: &Instance, workspace: &std::path::Path) -> ProcessGroup {
    use std::os::unix::process::CommandExt;
    let child = instance
        .command("sluice-daemon")
        .args(["run", "-w"])
        .arg(workspace)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start sluice-daemon");
    ProcessGroup(child)
}

/// Start `sluice dev` on a free port in its own process group; the GraphQL URL it prints.
pub fn start_dev(instance: &Instance, workspace: &std::path::Path) -> (Dev, String) {
    use std::os::unix::process::CommandExt;
    let mut command = instance.command("sluice");
    command
        .args(["dev", "-p", "0", "-w"])
        .arg(workspace)
        .process_group(0);
    let (child, url) = spawn_announcing(&mut command, "GraphQL: ");
    (ProcessGroup(child), url)
}

/// POST a GraphQL document to `url`; its `data`, which must come without errors.
pub async fn graphql(url: &str, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON answer");
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"].clone()
}

/// Wait (30 s at most) until run `run_id` is finished, asking GraphQL at `url`; its
/// status.
pub async fn wait_until_finished(url: &str, run_id: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let data = graphql(
            url,
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
            serde_json::json!({"id": run_id}),
        )
        .await;
        match data["runOrError"]["status"].as_str() {
            Some(s @ ("SUCCESS" | "FAILURE" | "CANCELED")) => return s.to_owned(),
            _ => assert!(
                std::time::Instant::now() < deadline,
                "run not done in 30 s: {data}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Child processes of `pid`, whichever of its threads started them.
pub fn children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether process `pid` runs (a zombie, exited but not yet reaped, does not).
pub fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

/// A run whose config, tags and log carry inline secrets, for the tests that check that
/// no output shows them.
pub mod secrets {
    use serde_json::json;
    use sluice_core::events::{ErrorInfo, EventData, EventType, RunEvent};
    use sluice_core::run::NewRun;
    use sluice_storage::Storage;

    /// An inline secret in the run's config (`password`).
    pub const SECRET: &str = "S3CRET-inline-value";
    /// An inline secret in the run's tags (`api_token`).
    pub const TOKEN: &str = "tok-S3CRET-tag";

    /// Store a run of the demo's `one_op_job` whose config and tags carry [`SECRET`] and
    /// [`TOKEN`], and whose failure repeats the secret; its id.
    pub async fn run_with_secrets(storage: &dyn Storage) -> String {
        let run = NewRun {
            run_config: json!({"resources": {"warehouse": {"config": {
                "user": "loader", "password": SECRET, "api_token": {"env": "API_TOKEN"}
            }}}}),
            tags: [
                ("api_token".to_owned(), TOKEN.to_owned()),
                ("team".to_owned(), "data".to_owned()),
            ]
            .into(),
            location_name: Some("demo".to_owned()),
            ..NewRun::new("one_op_job")
        };
        let run = storage.create_run(&run).await.expect("store the run");
        let failure = RunEvent::new(
            &run.run_id,
            EventType::RunFailure,
            format!("could not connect as loader with password {SECRET}"),
        )
        .data(EventData::Failure {
            error: ErrorInfo::new("ConnectionError", format!("auth failed for {SECRET}")),
        });
        storage
            .store_events(&[failure])
            .await
            .expect("store the event");
        run.run_id
    }
}
