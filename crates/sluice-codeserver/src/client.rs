//! The client of the code-location protocol, used by the webserver and the daemon.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_core::snapshot::LocationSnapshot;

use crate::protocol::{
    ErrorBody, EvaluateSchedule, EvaluateSensor, Evaluation, Health, LaunchRun, RunLaunched,
    TerminateResult, TerminateRun,
};

/// A request to a code server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request or its answer did not get through (no server, a timeout, a reset).
    #[error("code server at {url} is unreachable: {source}")]
    Unreachable {
        /// The code server's URL.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The code server answered with an error.
    #[error("code server at {url} refused the request ({status}, {kind}): {message}")]
    Refused {
        /// The code server's URL.
        url: String,
        /// The HTTP status of the answer.
        status: u16,
        /// The failure's kind, as the [`ErrorBody`] names it (`RunNotFound`, ...).
        kind: String,
        /// The code server's message.
        message: String,
    },
    /// The answer is not a message of this protocol version.
    #[error("code server at {url} answered something that is not the Sluice protocol: {detail}")]
    Garbage {
        /// The code server's URL.
        url: String,
        /// What could not be read, and how big the answer was.
        detail: String,
    },
}

impl ClientError {
    /// The failure's kind as the code server named it, if it answered at all.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Refused { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// A client for one code server.
#[derive(Debug, Clone)]
pub struct CodeServerClient {
    base: String,
    http: reqwest::Client,
}

impl CodeServerClient {
    /// A client for the code server at `host:port`.
    pub fn new(host: &str, port: u16) -> Self {
        Self::from_url(&format!("http://{host}:{port}"))
    }

    /// A client for the code server at `url` (e.g. `http://127.0.0.1:4000`).
    pub fn from_url(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            base: url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The code server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Ask the code server for its health (`GET /v1/health`).
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call(self.http.get(self.endpoint("/v1/health"))).await
    }

    /// The snapshot of the location the code server serves (`GET /v1/snapshot`).
    pub async fn snapshot(&self) -> Result<LocationSnapshot, ClientError> {
        self.call(self.http.get(self.endpoint("/v1/snapshot")))
            .await
    }

    /// Ask the code server to stop (`POST /v1/shutdown`): it stops listening at once
    /// and exits when the runs it started have finished.
    pub async fn shutdown(&self) -> Result<Health, ClientError> {
        self.call(self.http.post(self.endpoint("/v1/shutdown")))
            .await
    }

    /// Start a run worker for the stored run `run_id` (`POST /v1/runs/launch`).
    pub async fn launch_run(&self, run_id: &str) -> Result<RunLaunched, ClientError> {
        self.post(
            "/v1/runs/launch",
            &LaunchRun {
                run_id: run_id.to_owned(),
            },
        )
        .await
    }

    /// Ask the worker of run `run_id` to cancel it (`POST /v1/runs/terminate`).
    pub async fn terminate_run(&self, run_id: &str) -> Result<TerminateResult, ClientError> {
        self.post(
            "/v1/runs/terminate",
            &TerminateRun {
                run_id: run_id.to_owned(),
            },
        )
        .await
    }

    /// Evaluate a schedule for one tick. The request waits a little longer than the
    /// evaluation's own time limit, so that a code server stuck in user code still
    /// answers as a timeout here.
    pub async fn evaluate_schedule(
        &self,
        request: &EvaluateSchedule,
    ) -> Result<Evaluation, ClientError> {
        self.evaluate("/v1/schedules/evaluate", request, request.timeout_seconds)
            .await
    }

    /// Evaluate a sensor once (see [`evaluate_schedule`](Self::evaluate_schedule)).
    pub async fn evaluate_sensor(
        &self,
        request: &EvaluateSensor,
    ) -> Result<Evaluation, ClientError> {
        self.evaluate("/v1/sensors/evaluate", request, request.timeout_seconds)
            .await
    }

    async fn evaluate<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        timeout_seconds: f64,
    ) -> Result<Evaluation, ClientError> {
        let wait = Duration::try_from_secs_f64(timeout_seconds).unwrap_or(Duration::from_secs(60))
            + Duration::from_secs(5);
        self.call(self.http.post(self.endpoint(path)).timeout(wait).json(body))
            .await
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(self.http.post(self.endpoint(path)).json(body))
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let url = self.base.clone();
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Garbage {
                url,
                detail: format!("{e} (in a {status} answer of {} bytes)", bytes.len()),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Refused {
                url,
                status: status.as_u16(),
                kind: body.kind,
                message: body.message,
            }),
            Err(_) => Err(ClientError::Garbage {
                url,
                detail: format!(
                    "status {status} with body {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            }),
        }
    }
}
