//! `backfills`: each backfill, its partitions and how far their submission has got.

use sea_orm::entity::prelude::*;

/// A row of `backfills`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backfills")]
pub struct Model {
    /// Creation order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The public id.
    #[sea_orm(unique)]
    pub backfill_id: String,
    /// A `BackfillStatus` name.
    pub status: String,
    /// The code location.
    pub location_name: String,
    /// The job of each run.
    pub job_name: String,
    /// JSON list of asset keys, for an asset backfill.
    #[sea_orm(column_type = "Text", nullable)]
    pub asset_selection: Option<String>,
    /// JSON list of the steps each run executes.
    #[sea_orm(column_type = "Text", nullable)]
    pub step_keys: Option<String>,
    /// JSON list of partition keys.
    #[sea_orm(column_type = "Text")]
    pub partition_names: String,
    /// JSON: how many consecutive partitions each run takes; NULL: one per run.
    #[sea_orm(column_type = "Text", nullable)]
    pub runs: Option<String>,
    /// How many partitions have their run.
    pub submitted: i64,
    /// Whether it re-runs an earlier backfill's failures.
    pub from_failure: bool,
    /// JSON object.
    #[sea_orm(column_type = "Text")]
    pub tags: String,
    /// JSON run config.
    #[sea_orm(column_type = "Text")]
    pub run_config: String,
    /// A title to show.
    #[sea_orm(column_type = "Text", nullable)]
    pub title: Option<String>,
    /// A description to show.
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// JSON `ErrorInfo`.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// Unix seconds.
    #[sea_orm(column_type = "Double")]
    pub create_timestamp: f64,
    /// Unix seconds.
    #[sea_orm(column_type = "Double", nullable)]
    pub end_timestamp: Option<f64>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
