//! The code-location protocol: versioned, serde-typed messages over HTTP/JSON.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /v1/health` | [`Health`] |
//! | `GET /v1/snapshot` | [`sluice_core::snapshot::LocationSnapshot`] |
//! | `POST /v1/runs/launch` with [`LaunchRun`] | [`RunLaunched`] |
//! | `POST /v1/runs/terminate` with [`TerminateRun`] | [`TerminateResult`] |
//! | `POST /v1/schedules/evaluate` with [`EvaluateSchedule`] | [`Evaluation`] |
//! | `POST /v1/sensors/evaluate` with [`EvaluateSensor`] | [`Evaluation`] |
//! | `POST /v1/shutdown` | [`Health`], then the server stops listening |
//!
//! Every failure of a request is answered with a non-2xx status and an [`ErrorBody`].
//! A schedule or sensor whose own code fails is not a failed request: it is answered
//! with [`Evaluation::Failed`], which becomes a failed tick.

use serde::{Deserialize, Serialize};
use sluice_core::events::{ErrorInfo, EventRecord};
use sluice_core::run_request::TickOutcome;
use sluice_core::sensor::RunStatusChange;

/// The protocol version; it is part of every path (`/v1/...`).
pub const PROTOCOL_VERSION: u32 = 1;

/// A code server's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The protocol version the code server speaks ([`PROTOCOL_VERSION`]).
    pub version: u32,
    /// The code location it serves.
    pub location_name: String,
    /// Runs whose worker this code server started and that are still running.
    pub running_runs: usize,
    /// Identifies the definitions the server serves: equal for equal snapshots, so a
    /// webserver or daemon that sees it change knows the server was redeployed with
    /// other code and reloads the location.
    #[serde(default)]
    pub snapshot_id: String,
}

/// Launch the stored run `run_id` in a new run worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchRun {
    /// The run id.
    pub run_id: String,
}

/// A run worker was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLaunched {
    /// The run id.
    pub run_id: String,
    /// The worker's process id.
    pub pid: u32,
}

/// Stop the run `run_id`: its worker is asked to cancel, and the run ends CANCELED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateRun {
    /// The run id.
    pub run_id: String,
}

/// Whether a termination request reached a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminateResult {
    /// The run id.
    pub run_id: String,
    /// True when this code server runs the run's worker and signalled it.
    pub signalled: bool,
    /// Why no worker was signalled; `None` when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Evaluate a schedule for one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateSchedule {
    /// The schedule's name.
    pub schedule_name: String,
    /// The tick's time, in seconds since the epoch.
    pub scheduled_time: f64,
    /// The evaluation fails when it takes longer.
    pub timeout_seconds: f64,
}

/// Evaluate a sensor once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateSensor {
    /// The sensor's name.
    pub sensor_name: String,
    /// The daemon's time for this evaluation, in seconds since the epoch.
    pub evaluation_time: f64,
    /// The cursor the sensor's previous evaluations left; `None` before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// When the previous tick was evaluated, in seconds since the epoch; `None` before the
    /// first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tick_time: Option<f64>,
    /// The run key of the last run the sensor requested, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_key: Option<String>,
    /// For a run status sensor: the runs that changed status since its cursor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_status_changes: Vec<RunStatusChange>,
    /// For an asset sensor: the new materializations of its assets since its cursor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asset_events: Vec<EventRecord>,
    /// The evaluation fails when it takes longer.
    pub timeout_seconds: f64,
}

/// What an evaluation decided. In [`Evaluation::Evaluated`], every run request names
/// its job and carries run config valid for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evaluation {
    /// The evaluation ran: its run requests, skip reason and cursor.
    Evaluated(TickOutcome),
    /// User code failed, panicked or timed out, or requested a run that cannot be.
    Failed(ErrorInfo),
}

/// What a failed request is answered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// A stable name for the kind of failure (`RunNotFound`, `BadRequest`, ...).
    pub kind: String,
    /// What went wrong, for a person.
    pub message: String,
}
