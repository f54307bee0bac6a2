//! The instance: how runs are queued and launched, and the daemon's health.

use async_graphql::{Context, Object, SimpleObject};

use crate::schema::errors::PythonError;
use crate::schema::{py_err, service};
use sluice_service::DaemonStatus as CoreStatus;

/// The Sluice instance.
pub struct Instance;

#[Object]
impl Instance {
    async fn id(&self) -> &str {
        "Instance"
    }
    /// A description of the instance (its directory).
    async fn info(&self, ctx: &Context<'_>) -> Option<String> {
        Some(format!(
            "instance_home: {}\nrun_coordinator: QueuedRunCoordinator (sluice-daemon)\nrun_launcher: CodeServerRunLauncher\n",
            service(ctx).home().display()
        ))
    }
    async fn run_launcher(&self) -> Option<RunLauncher> {
        Some(RunLauncher {
            name: "CodeServerRunLauncher".to_owned(),
        })
    }
    /// Runs are queued and launched by the daemon.
    async fn run_queuing_supported(&self) -> bool {
        true
    }
    /// Null: the daemon owns the queue's limits.
    async fn run_queue_config(&self) -> Option<RunQueueConfig> {
        None
    }
    async fn executable_path(&self) -> String {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
    async fn daemon_health(&self) -> DaemonHealth {
        DaemonHealth
    }
    async fn has_info(&self) -> bool {
        true
    }
    async fn auto_materialize_paused(&self) -> bool {
        true
    }
    async fn supports_concurrency_limits(&self) -> bool {
        false
    }
    async fn min_concurrency_limit_value(&self) -> i32 {
        1
    }
    async fn max_concurrency_limit_value(&self) -> i32 {
        1000
    }
    async fn concurrency_limits(&self) -> Vec<ConcurrencyKeyInfo> {
        Vec::new()
    }
    async fn concurrency_limit(&self, concurrency_key: Option<String>) -> ConcurrencyKeyInfo {
        ConcurrencyKeyInfo {
            concurrency_key: concurrency_key.unwrap_or_default(),
            slot_count: 0,
            claimed_slots: Vec::new(),
            pending_steps: Vec::new(),
            active_slot_count: 0,
            active_run_ids: Vec::new(),
            pending_step_count: 0,
            pending_step_run_ids: Vec::new(),
            assigned_step_count: 0,
            assigned_step_run_ids: Vec::new(),
            limit: None,
            using_default_limit: None,
        }
    }
    /// Whether the deployment uses automation policy sensors to materialize assets.
    async fn use_auto_materialize_sensors(&self) -> bool {
        false
    }
    async fn pool_config(&self) -> Option<PoolConfig> {
        None
    }
    async fn freshness_evaluation_enabled(&self) -> bool {
        false
    }
}

/// How runs are launched.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunLauncher {
    /// The launcher.
    pub name: String,
}

/// The run queue's limits.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunQueueConfig {
    /// How many runs may run at once.
    pub max_concurrent_runs: i32,
    /// Tag limits, as YAML.
    pub tag_concurrency_limits_yaml: Option<String>,
    /// Whether op concurrency counts.
    pub is_op_concurrency_aware: Option<bool>,
    /// Across branch deployments.
    pub max_concurrent_runs_all_branch_deployments: Option<i32>,
}

/// Pool settings.
#[derive(SimpleObject, Clone, Debug)]
pub struct PoolConfig {
    /// Granularity.
    pub pool_granularity: Option<String>,
    /// Default limit.
    pub default_pool_limit: Option<i32>,
    /// Run buffer.
    pub op_granularity_run_buffer: Option<i32>,
}

/// A concurrency key's slots (Sluice has no op concurrency limits yet).
#[derive(SimpleObject, Clone, Debug)]
#[allow(missing_docs)]
pub struct ConcurrencyKeyInfo {
    pub concurrency_key: String,
    pub slot_count: i32,
    pub claimed_slots: Vec<ClaimedConcurrencySlot>,
    pub pending_steps: Vec<PendingConcurrencyStep>,
    pub active_slot_count: i32,
    pub active_run_ids: Vec<String>,
    pub pending_step_count: i32,
    pub pending_step_run_ids: Vec<String>,
    pub assigned_step_count: i32,
    pub assigned_step_run_ids: Vec<String>,
    pub limit: Option<i32>,
    pub using_default_limit: Option<bool>,
}

/// A claimed slot.
#[derive(SimpleObject, Clone, Debug)]
#[allow(missing_docs)]
pub struct ClaimedConcurrencySlot {
    pub run_id: String,
    pub step_key: String,
}

/// A step waiting for a slot.
#[derive(SimpleObject, Clone, Debug)]
#[allow(missing_docs)]
pub struct PendingConcurrencyStep {
    pub run_id: String,
    pub step_key: String,
    pub enqueued_timestamp: f64,
    pub assigned_timestamp: Option<f64>,
    pub priority: Option<i32>,
}

/// The daemon's health, from its heartbeats in storage.
pub struct DaemonHealth;

#[Object]
impl DaemonHealth {
    async fn id(&self) -> &str {
        "daemonHealth"
    }
    /// One daemon loop's status.
    async fn daemon_status(
        &self,
        ctx: &Context<'_>,
        daemon_type: Option<String>,
    ) -> async_graphql::Result<DaemonStatus> {
        let status = service(ctx)
            .daemon_status(daemon_type.as_deref().unwrap_or_default())
            .await
            .map_err(py_err)?;
        Ok(DaemonStatus(status))
    }
    /// Every required loop, and any other that sent a heartbeat.
    async fn all_daemon_statuses(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<DaemonStatus>> {
        let statuses = service(ctx).daemon_statuses().await.map_err(py_err)?;
        Ok(statuses.into_iter().map(DaemonStatus).collect())
    }
}

/// One daemon loop's health.
pub struct DaemonStatus(CoreStatus);

#[Object]
impl DaemonStatus {
    async fn daemon_type(&self) -> &str {
        &self.0.daemon_type
    }
    async fn id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.daemon_type.clone())
    }
    async fn required(&self) -> bool {
        self.0.required
    }
    async fn healthy(&self) -> Option<bool> {
        Some(self.0.healthy)
    }
    async fn last_heartbeat_time(&self) -> Option<f64> {
        self.0.last_heartbeat_time
    }
    async fn last_heartbeat_errors(&self) -> Vec<PythonError> {
        self.0
            .errors
            .iter()
            .map(|e| PythonError::new("DaemonError", e.clone()))
            .collect()
    }
}
