//! The daemon's signs of life: one heartbeat per daemon loop.

use async_trait::async_trait;

use crate::error::Result;

/// The latest sign of life of one daemon loop.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonHeartbeat {
    /// The loop, with Dagster's names: `QUEUED_RUN_COORDINATOR`, `MONITORING`, `SCHEDULER`,
    /// `SENSOR`, `BACKFILL`.
    pub daemon_type: String,
    /// The daemon process.
    pub daemon_id: String,
    /// Unix seconds.
    pub timestamp: f64,
    /// The loop's recent errors, newest first.
    pub errors: Vec<String>,
}

/// The heartbeats of the daemon's loops, which the instance's health is read from.
#[async_trait]
pub trait DaemonStorage: Send + Sync {
    /// Record a daemon loop's heartbeat, replacing its previous one.
    async fn record_daemon_heartbeat(&self, heartbeat: &DaemonHeartbeat) -> Result<()>;

    /// The latest heartbeat of each daemon loop, by type.
    async fn daemon_heartbeats(&self) -> Result<Vec<DaemonHeartbeat>>;

    /// Forget the heartbeats of loops whose last beat is older than `before` (Unix
    /// seconds): loops that no daemon runs any more. Returns how many.
    async fn prune_daemon_heartbeats(&self, before: f64) -> Result<u64>;
}
