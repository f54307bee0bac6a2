//! `runs`: one row per run.

use sea_orm::entity::prelude::*;

/// A row of `runs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "runs")]
pub struct Model {
    /// Creation order; the pagination key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The run's id (a UUID).
    #[sea_orm(unique)]
    pub run_id: String,
    /// The job the run executes.
    pub job_name: String,
    /// The code location of the job, when known.
    pub location_name: Option<String>,
    /// Dagster status value, e.g. `QUEUED`.
    pub status: String,
    /// The run config as JSON text.
    #[sea_orm(column_type = "Text")]
    pub run_config: String,
    /// The run this one re-executes.
    pub parent_run_id: Option<String>,
    /// The first run of a re-execution chain.
    pub root_run_id: Option<String>,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub create_time: f64,
    /// Unix seconds of the last status change.
    #[sea_orm(column_type = "Double")]
    pub update_time: f64,
    /// Unix seconds of RUN_START.
    #[sea_orm(column_type = "Double", nullable)]
    pub start_time: Option<f64>,
    /// Unix seconds of the run's end.
    #[sea_orm(column_type = "Double", nullable)]
    pub end_time: Option<f64>,
    /// Unix seconds of the run worker's last heartbeat.
    #[sea_orm(column_type = "Double", nullable)]
    pub heartbeat_time: Option<f64>,
    /// The queue order from the `dagster/priority` tag, highest first.
    pub priority: i64,
    /// JSON list of the step keys a re-execution runs; NULL: every step.
    #[sea_orm(column_type = "Text", nullable)]
    pub step_keys_to_execute: Option<String>,
}

/// No declared relations: tags and events refer to runs by `run_id`, without foreign keys.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
