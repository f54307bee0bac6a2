//! The instance's health: the daemon loops and their heartbeats.

use sluice_core::events::now_timestamp;
use sluice_storage::DaemonHeartbeat;

use crate::Service;
use crate::error::Result;

/// The daemon loops a Sluice deployment needs, with Dagster's names.
pub const REQUIRED_DAEMONS: [&str; 4] =
    ["SENSOR", "BACKFILL", "SCHEDULER", "QUEUED_RUN_COORDINATOR"];

/// A daemon whose last heartbeat is older than this is unhealthy (as Dagster's default).
pub const DAEMON_HEARTBEAT_TOLERANCE_SECONDS: f64 = 300.0;

/// A daemon loop's health, as the instance reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonStatus {
    /// The loop, e.g. `QUEUED_RUN_COORDINATOR`.
    pub daemon_type: String,
    /// Whether a deployment needs it.
    pub required: bool,
    /// Whether it sent a heartbeat recently.
    pub healthy: bool,
    /// Its last heartbeat (Unix seconds).
    pub last_heartbeat_time: Option<f64>,
    /// Its recent errors, newest first.
    pub errors: Vec<String>,
}

impl Service {
    /// Daemon health: every required loop, and any other loop that sent a heartbeat.
    pub async fn daemon_statuses(&self) -> Result<Vec<DaemonStatus>> {
        let heartbeats = self.storage.daemon_heartbeats().await?;
        let now = now_timestamp();
        let status = |daemon_type: &str, beat: Option<&DaemonHeartbeat>| DaemonStatus {
            daemon_type: daemon_type.to_owned(),
            required: REQUIRED_DAEMONS.contains(&daemon_type),
            healthy: beat.is_some_and(|b| now - b.timestamp <= DAEMON_HEARTBEAT_TOLERANCE_SECONDS),
            last_heartbeat_time: beat.map(|b| b.timestamp),
            errors: beat.map(|b| b.errors.clone()).unwrap_or_default(),
        };
        let mut statuses: Vec<DaemonStatus> = REQUIRED_DAEMONS
            .iter()
            .map(|t| status(t, heartbeats.iter().find(|b| b.daemon_type == *t)))
            .collect();
        for beat in heartbeats
            .iter()
            .filter(|b| !REQUIRED_DAEMONS.contains(&b.daemon_type.as_str()))
        {
            statuses.push(status(&beat.daemon_type, Some(beat)));
        }
        Ok(statuses)
    }

    /// One daemon loop's health (unknown loops are reported as not required and unhealthy).
    pub async fn daemon_status(&self, daemon_type: &str) -> Result<DaemonStatus> {
        let statuses = self.daemon_statuses().await?;
        Ok(statuses
            .into_iter()
            .find(|s| s.daemon_type == daemon_type)
            .unwrap_or_else(|| DaemonStatus {
                daemon_type: daemon_type.to_owned(),
                required: false,
                healthy: false,
                last_heartbeat_time: None,
                errors: Vec::new(),
            }))
    }
}
