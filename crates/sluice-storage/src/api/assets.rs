//! The asset catalog: which assets were materialized, their latest materialization (of
//! each partition, too), their history, their check evaluations, and wiping them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sluice_core::asset::AssetKey;
use sluice_core::events::EventRecord;

use crate::error::Result;

/// An asset of the catalog: one that was materialized (or reported) at least once and
/// not wiped since.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetEntry {
    /// The asset.
    pub key: AssetKey,
    /// The event of its latest materialization.
    pub last_materialization_event_id: Option<i64>,
    /// The run of its latest materialization (empty for a runless report).
    pub last_run_id: Option<String>,
    /// When it was last materialized (Unix seconds).
    pub last_materialization_timestamp: Option<f64>,
}

/// Which materializations (or observations) of an asset to list, and in which order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaterializationsFilter {
    /// Only these partitions (none: every partition, and unpartitioned ones).
    pub partitions: Vec<String>,
    /// Only events stored before this event id (a cursor).
    pub before_id: Option<i64>,
    /// Only events stored after this event id (an asset sensor's cursor).
    pub after_id: Option<i64>,
    /// Oldest first, instead of newest first.
    pub oldest_first: bool,
    /// Observations (of a source asset) instead of materializations.
    pub observations: bool,
    /// Only events after this time (Unix seconds, exclusive).
    pub after_timestamp: Option<f64>,
    /// Only events before this time (Unix seconds, exclusive).
    pub before_timestamp: Option<f64>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// The asset catalog, kept up to date as materializations are stored
/// ([`EventStorage::store_events`](crate::EventStorage::store_events)).
///
/// Every method that writes does so in one transaction: it happens completely or not
/// at all.
#[async_trait]
pub trait AssetStorage: Send + Sync {
    /// The asset catalog: every asset with a materialization, or only `keys` of them.
    async fn asset_entries(&self, keys: Option<&[AssetKey]>) -> Result<Vec<AssetEntry>>;

    /// The latest materialization of `key`: one indexed read, whatever its history.
    async fn latest_materialization(&self, key: &AssetKey) -> Result<Option<EventRecord>>;

    /// The latest materialization of each materialized partition of `key`.
    async fn latest_materializations_by_partition(
        &self,
        key: &AssetKey,
    ) -> Result<BTreeMap<String, EventRecord>>;

    /// Materializations of `key`, newest first.
    async fn asset_materializations(
        &self,
        key: &AssetKey,
        filter: &MaterializationsFilter,
    ) -> Result<Vec<EventRecord>>;

    /// Evaluations of the checks of `key` (only `check_name`'s, if given), newest first,
    /// at most `limit`.
    async fn asset_check_evaluations(
        &self,
        key: &AssetKey,
        check_name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>>;

    /// Forget `keys`: they leave the catalog and their past materializations stop
    /// counting (the events stay in their runs' logs). Unknown keys are ignored.
    async fn wipe_assets(&self, keys: &[AssetKey]) -> Result<()>;

    /// Forget `partitions` of `key`: they leave the asset's partitions, their past
    /// materializations stop counting, and the asset's latest materialization becomes
    /// the latest one left (none left: the asset leaves the catalog). Unknown
    /// partitions are ignored.
    async fn wipe_asset_partitions(&self, key: &AssetKey, partitions: &[String]) -> Result<()>;
}
