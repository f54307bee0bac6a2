//! The code server: serves a location's snapshot and launches and terminates run
//! workers (one process per run: this same binary with `execute-run --run-id ID`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sluice_core::Definitions;
use sluice_core::events::{ErrorInfo, EventData, EventType, LogLevel, RunEvent};
use sluice_core::run::{Run, RunStatus};
use sluice_core::snapshot::LocationSnapshot;
use sluice_storage::Storage;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::evaluation;
use crate::fork_server::ForkServerClient;
use crate::protocol::{
    ErrorBody, EvaluateSchedule, EvaluateSensor, Evaluation, Health, LaunchRun, PROTOCOL_VERSION,
    RunLaunched, TerminateResult, TerminateRun,
};

/// How to start a run worker: a program and the arguments that come before
/// `execute-run --run-id ID` (e.g. `--location NAME`).
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The program to run (the location's user-code binary).
    pub program: PathBuf,
    /// The arguments before `execute-run --run-id ID`.
    pub args: Vec<String>,
}

/// How a code server starts its run workers: one process per run either way.
pub enum WorkerLauncher {
    /// Execute the user-code binary again with `execute-run --run-id ID`.
    Exec(WorkerCommand),
    /// Fork a process that has the location loaded already (see [`crate::fork_server`]).
    Fork(ForkServerClient),
}

/// A started worker: its pid, and its exit status once it ends.
type StartedWorker = (
    u32,
    Pin<Box<dyn Future<Output = std::io::Result<ExitStatus>> + Send>>,
);

/// A code server for one location.
pub struct CodeServer {
    location_name: String,
    defs: Definitions,
    snapshot: LocationSnapshot,
    snapshot_id: String,
    storage: Arc<dyn Storage>,
    launcher: WorkerLauncher,
    /// Workers started here and still running: run id → process id.
    running: Mutex<HashMap<String, u32>>,
    /// Cancelled by `POST /v1/shutdown`.
    stop_requested: CancellationToken,
}

/// A request the code server refuses, answered as an [`ErrorBody`].
#[derive(Debug)]
pub struct ServerError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ServerError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            kind: self.kind.to_owned(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ServerError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", rejection.body_text())
    }
}

impl CodeServer {
    /// A code server for `defs`, known as `location_name`.
    pub fn new(
        location_name: &str,
        defs: &Definitions,
        storage: Arc<dyn Storage>,
        launcher: WorkerLauncher,
    ) -> Arc<Self> {
        let snapshot = defs.snapshot(location_name);
        let snapshot_id = snapshot_id(&snapshot);
        Arc::new(Self {
            location_name: location_name.to_owned(),
            defs: defs.clone(),
            snapshot,
            snapshot_id,
            storage,
            launcher,
            running: Mutex::new(HashMap::new()),
            stop_requested: CancellationToken::new(),
        })
    }

    /// The id of the snapshot this server serves (see [`Health::snapshot_id`]).
    pub fn snapshot_id(&self) -> &str {
        &self.snapshot_id
    }

    /// The HTTP routes of the protocol.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/health", get(health))
            .route("/v1/snapshot", get(snapshot))
            .route("/v1/runs/launch", post(launch))
            .route("/v1/runs/terminate", post(terminate))
            .route("/v1/schedules/evaluate", post(evaluate_schedule))
            .route("/v1/sensors/evaluate", post(evaluate_sensor))
            .route("/v1/shutdown", post(shutdown))
            .fallback(|| async {
                ServerError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!(
                        "no such endpoint; this code server speaks protocol v{PROTOCOL_VERSION}"
                    ),
                )
            })
            .with_state(self)
    }

    fn not_found(&self, kind: &'static str, what: &str, name: &str) -> ServerError {
        ServerError::new(
            StatusCode::NOT_FOUND,
            kind,
            format!(
                "code location \"{}\" has no {what} named \"{name}\"",
                self.location_name
            ),
        )
    }

    fn running_pid(&self, run_id: &str) -> Option<u32> {
        self.running.lock().ok()?.get(run_id).copied()
    }

    fn running_count(&self) -> usize {
        self.running.lock().map_or(0, |m| m.len())
    }

    async fn launch(self: &Arc<Self>, run_id: &str) -> Result<RunLaunched, ServerError> {
        let run = self
            .storage
            .get_run(run_id)
            .await
            .map_err(|e| {
                ServerError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StorageError",
                    e.to_string(),
                )
            })?
            .ok_or_else(|| {
                ServerError::new(
                    StatusCode::NOT_FOUND,
                    "RunNotFound",
                    format!("run {run_id} does not exist"),
                )
            })?;
        if run.status.is_finished() {
            return Err(ServerError::new(
                StatusCode::CONFLICT,
                "RunFinished",
                format!("run {run_id} already finished ({})", run.status),
            ));
        }
        if self.snapshot.job(&run.job_name).is_none() {
            return Err(ServerError::new(
                StatusCode::NOT_FOUND,
                "JobNotFound",
                format!(
                    "job \"{}\" of run {run_id} is not defined in location \"{}\"",
                    run.job_name, self.location_name
                ),
            ));
        }
        if self.running_pid(run_id).is_some() {
            return Err(ServerError::new(
                StatusCode::CONFLICT,
                "RunAlreadyLaunched",
                format!("run {run_id} already has a worker"),
            ));
        }
        let (pid, exited) = self.start_worker(&run).await.map_err(|reason| {
            ServerError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "WorkerSpawnFailed",
                reason,
            )
        })?;
        if let Ok(mut running) = self.running.lock() {
            running.insert(run_id.to_owned(), pid);
        }
        let server = Arc::clone(self);
        let run_id_owned = run_id.to_owned();
        tokio::spawn(async move {
            let status = exited.await;
            if let Ok(mut running) = server.running.lock() {
                running.remove(&run_id_owned);
            }
            server.after_worker_exit(&run_id_owned, status).await;
        });
        Ok(RunLaunched {
            run_id: run_id.to_owned(),
            pid,
        })
    }

    /// Start a worker process for `run`, the configured way. A forked worker is handed
    /// the run as read here; an executed one reads it from storage.
    async fn start_worker(&self, run: &Run) -> Result<StartedWorker, String> {
        let run_id = run.run_id.as_str();
        match &self.launcher {
            WorkerLauncher::Exec(command) => {
                let mut child = tokio::process::Command::new(&command.program)
                    .args(&command.args)
                    .args(["execute-run", "--run-id", run_id])
                    .stdin(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", command.program.display()))?;
                let pid = child.id().unwrap_or_default();
                Ok((pid, Box::pin(async move { child.wait().await })))
            }
            WorkerLauncher::Fork(fork_server) => {
                let payload = serde_json::to_vec(run).map_err(|e| e.to_string())?;
                let worker = fork_server
                    .launch(run_id, &payload)
                    .await
                    .map_err(|e| e.to_string())?;
                let exited = async move {
                    worker.exited.await.map_err(|_| {
                        std::io::Error::other("the fork server exited before the worker did")
                    })
                };
                Ok((worker.pid, Box::pin(exited)))
            }
        }
    }

    /// A worker that died without finishing its run (killed, crashed) leaves the run
    /// unfinished: record the failure, so that nobody waits for it. A worker that exited
    /// with an error of its own (status 1) has recorded it, unless it never got to start
    /// the run (the database was unreachable, say): then the run is still STARTING. (A
    /// STARTED run may be another attempt's, so it is left to run monitoring.) While
    /// storage is unreachable, this keeps trying for a minute.
    async fn after_worker_exit(
        &self,
        run_id: &str,
        status: std::io::Result<std::process::ExitStatus>,
    ) {
        let own_error = match &status {
            Ok(s) if matches!(s.code(), Some(0 | 130)) => return,
            Ok(s) => s.code() == Some(1),
            Err(_) => false,
        };
        let how = match &status {
            Ok(s) => s.to_string(),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let Some(Some(run)) = retry_storage("read the run", || self.storage.get_run(run_id)).await
        else {
            return;
        };
        let unfinished = if own_error {
            matches!(
                run.status,
                RunStatus::NotStarted | RunStatus::Queued | RunStatus::Starting
            )
        } else {
            !run.status.is_finished()
        };
        if !unfinished {
            return;
        }
        let message = if own_error {
            format!(
                "Run worker for run {run_id} failed before it could start the run ({how}); the code server's log says why."
            )
        } else {
            format!("Run worker for run {run_id} exited unexpectedly ({how}).")
        };
        tracing::warn!(run_id, "{message}");
        let error = ErrorInfo::new("RunWorkerDied", message.clone());
        let events = [
            RunEvent::new(run_id, EventType::EngineEvent, message.clone())
                .level(LogLevel::Error)
                .data(EventData::Failure {
                    error: error.clone(),
                }),
            RunEvent::new(run_id, EventType::RunFailure, message)
                .data(EventData::Failure { error }),
        ];
        let stored = retry_storage("record the failure of a dead worker", || {
            self.storage.store_events(&events)
        })
        .await;
        if stored.is_none() {
            tracing::error!(run_id, "gave up recording the failure of a dead worker");
        }
    }

    fn terminate(&self, run_id: &str) -> TerminateResult {
        let Some(pid) = self.running_pid(run_id) else {
            return TerminateResult {
                run_id: run_id.to_owned(),
                signalled: false,
                message: Some("no worker for this run is running in this code server".to_owned()),
            };
        };
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return TerminateResult {
                run_id: run_id.to_owned(),
                signalled: false,
                message: Some(format!("worker pid {pid} is out of range")),
            };
        };
        // SAFETY: kill(2) with a pid of a child we started and still track.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        TerminateResult {
            run_id: run_id.to_owned(),
            signalled: rc == 0,
            message: (rc != 0).then(|| std::io::Error::last_os_error().to_string()),
        }
    }
}

/// How long, and how often, a code server retries storage it cannot reach.
const STORAGE_RETRY_FOR: Duration = Duration::from_secs(60);
const STORAGE_RETRY_EVERY: Duration = Duration::from_secs(1);

/// Run `op` until it succeeds, for [`STORAGE_RETRY_FOR`] at most; `None` if it never did.
async fn retry_storage<T, F, Fut>(what: &str, mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sluice_storage::StorageError>>,
{
    let deadline = tokio::time::Instant::now() + STORAGE_RETRY_FOR;
    loop {
        match op().await {
            Ok(value) => return Some(value),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!("cannot {what}, retrying: {e}");
                tokio::time::sleep(STORAGE_RETRY_EVERY).await;
            }
            Err(e) => {
                tracing::error!("cannot {what}: {e}");
                return None;
            }
        }
    }
}

async fn health(State(server): State<Arc<CodeServer>>) -> Json<Health> {
    Json(Health {
        version: PROTOCOL_VERSION,
        location_name: server.location_name.clone(),
        running_runs: server.running_count(),
        snapshot_id: server.snapshot_id.clone(),
    })
}

async fn shutdown(State(server): State<Arc<CodeServer>>) -> Json<Health> {
    tracing::info!(location = %server.location_name, "shutdown requested");
    server.stop_requested.cancel();
    health(State(server)).await
}

async fn snapshot(State(server): State<Arc<CodeServer>>) -> Json<LocationSnapshot> {
    Json(server.snapshot.clone())
}

async fn launch(
    State(server): State<Arc<CodeServer>>,
    body: Result<Json<LaunchRun>, JsonRejection>,
) -> Result<Json<RunLaunched>, ServerError> {
    let Json(request) = body?;
    server.launch(&request.run_id).await.map(Json)
}

async fn terminate(
    State(server): State<Arc<CodeServer>>,
    body: Result<Json<TerminateRun>, JsonRejection>,
) -> Result<Json<TerminateResult>, ServerError> {
    let Json(request) = body?;
    Ok(Json(server.terminate(&request.run_id)))
}

async fn evaluate_schedule(
    State(server): State<Arc<CodeServer>>,
    body: Result<Json<EvaluateSchedule>, JsonRejection>,
) -> Result<Json<Evaluation>, ServerError> {
    let Json(request) = body?;
    let name = request.schedule_name.clone();
    evaluation::evaluate_schedule(&server.defs, request)
        .await
        .map(Json)
        .ok_or_else(|| server.not_found("ScheduleNotFound", "schedule", &name))
}

async fn evaluate_sensor(
    State(server): State<Arc<CodeServer>>,
    body: Result<Json<EvaluateSensor>, JsonRejection>,
) -> Result<Json<Evaluation>, ServerError> {
    let Json(request) = body?;
    let name = request.sensor_name.clone();
    evaluation::evaluate_sensor(&server.defs, request)
        .await
        .map(Json)
        .ok_or_else(|| server.not_found("SensorNotFound", "sensor", &name))
}

/// Serve `server` on `listener` until `shutdown` is cancelled or a client asks it to
/// stop (`POST /v1/shutdown`); then stop listening and return once the runs its workers
/// execute have finished. A code server that is replaced by a new version (`sluice
/// dev`'s reload, a redeployment) is stopped this way, so runs in flight finish on the
/// code that started them and their workers' exits are still watched.
pub async fn serve(
    listener: TcpListener,
    server: Arc<CodeServer>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let requested = server.stop_requested.clone();
    axum::serve(listener, Arc::clone(&server).router())
        .with_graceful_shutdown(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = requested.cancelled() => {}
            }
        })
        .await?;
    let mut waited = false;
    while server.running_count() > 0 {
        if !waited {
            tracing::info!(
                location = %server.location_name,
                runs = server.running_count(),
                "waiting for the runs in progress to finish"
            );
            waited = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A stable id of `snapshot`: a hash of its JSON, in hex, the same in every process.
fn snapshot_id(snapshot: &LocationSnapshot) -> String {
    sluice_core::hash::fnv1a_hex(serde_json::to_vec(snapshot).unwrap_or_default())
}
