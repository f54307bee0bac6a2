//! The code-location protocol: versioned, serde-typed messages over HTTP/JSON.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /v1/health` | [`Health`] |
//! | `GET /v1/snapshot` | [`sluice_core::snapshot::LocationSnapshot`] |
//! | `POST /v1/runs/launch` with [`LaunchRun`] | [`RunLaunched`] |
//! | `POST /v1/runs/terminate` with [`TerminateRun`] | [`TerminateResult`] |
//!
//! Every failure is answered with a non-2xx status and an [`ErrorBody`].

use serde::{Deserialize, Serialize};

/// The protocol version; it is part of every path (`/v1/...`).
pub const PROTOCOL_VERSION: u32 = 1;

/// A code server's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub version: u32,
    pub location_name: String,
    /// Runs whose worker this code server started and that are still running.
    pub running_runs: usize,
}

/// Launch the stored run `run_id` in a new run worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchRun {
    pub run_id: String,
}

/// A run worker was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLaunched {
    pub run_id: String,
    /// The worker's process id.
    pub pid: u32,
}

/// Stop the run `run_id`: its worker is asked to cancel, and the run ends CANCELED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateRun {
    pub run_id: String,
}

/// Whether a termination request reached a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateResult {
    pub run_id: String,
    /// True when this code server runs the run's worker and signalled it.
    pub signalled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a failed request is answered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// A stable name for the kind of failure (`RunNotFound`, `BadRequest`, ...).
    pub kind: String,
    pub message: String,
}
