//! Assets as the webserver's pages see them: definitions from the loaded locations'
//! snapshots joined with what storage knows of their materializations, and the one
//! action on them, materializing a selection (of partitions).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use sluice_core::asset::{ASSET_JOB_NAME, AssetKey};
use sluice_core::events::{
    AssetMaterialization, AssetObservation, EventData, EventRecord, EventType, RunEvent,
};
use sluice_core::run::{PARTITION_TAG, Run, RunStatus};
use sluice_core::snapshot::{AssetSnapshot, LocationSnapshot, REPOSITORY_NAME};
use sluice_storage::{
    AssetEntry, Backfill, MaterializationsFilter, RunsFilter, partitions_context,
};

use crate::backfills::{BackfillPartitions, BackfillRequest, BackfillTarget};
use crate::error::{Error, Result};
use crate::{JobSelector, LaunchRequest, Service};

/// How many failed runs of an asset's jobs are read to find its failed partitions.
const FAILED_RUNS_READ: usize = 1000;

/// An asset a loaded location defines.
#[derive(Clone, Debug)]
pub struct DefinedAsset {
    /// Its location.
    pub location: String,
    /// The location's snapshot.
    pub snapshot: Arc<LocationSnapshot>,
    index: usize,
}

impl DefinedAsset {
    /// Its definition.
    pub fn definition(&self) -> &AssetSnapshot {
        &self.snapshot.assets[self.index]
    }

    /// Its key.
    pub fn key(&self) -> &AssetKey {
        &self.definition().key
    }
}

/// Whether an asset's latest materialization reflects its upstream assets'.
#[derive(Clone, Debug, PartialEq)]
pub enum Freshness {
    /// Never materialized (or wiped).
    Missing,
    /// Materialized after every upstream asset's latest materialization.
    Fresh,
    /// These upstream assets were materialized after it.
    Stale(Vec<AssetKey>),
}

/// An asset of the catalog: defined, materialized, or both.
#[derive(Clone, Debug)]
pub struct CatalogAsset {
    /// Its key.
    pub key: AssetKey,
    /// Its definition, if a loaded location has one.
    pub defined: Option<DefinedAsset>,
    /// Its latest materialization, if any.
    pub latest: Option<AssetEntry>,
    /// Whether that materialization reflects its upstream assets'.
    pub freshness: Freshness,
}

/// An asset's neighbourhood: the asset, what it reads from and what reads it, a given
/// number of steps each way.
#[derive(Clone, Debug, Default)]
pub struct Lineage {
    /// The assets, the one asked for first.
    pub assets: Vec<CatalogAsset>,
    /// `(upstream, downstream)` indices into `assets`.
    pub edges: Vec<(usize, usize)>,
}

/// Where a partition of an asset stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionState {
    /// Materialized, and no run of it failed since.
    Materialized,
    /// Its latest run failed after its latest materialization, if any.
    Failed,
    /// Never materialized.
    Missing,
}

/// Every partition of an asset and where it stands, in the partitioning's order.
#[derive(Clone, Debug, Default)]
pub struct PartitionHealth {
    /// `(key, state)`.
    pub partitions: Vec<(String, PartitionState)>,
}

impl PartitionHealth {
    /// How many partitions are in `state`.
    pub fn count(&self, state: PartitionState) -> usize {
        self.partitions.iter().filter(|(_, s)| *s == state).count()
    }
}

/// What materializing started.
#[derive(Clone, Debug)]
pub enum Materialization {
    /// One run, of unpartitioned assets or of one partition.
    Run(Run),
    /// A backfill over several partitions.
    Backfill(Backfill),
}

impl Service {
    /// Every asset the loaded locations define; a key two locations define is the first's.
    pub async fn defined_assets(&self) -> Vec<DefinedAsset> {
        let mut seen = HashSet::new();
        let mut defined = Vec::new();
        for location in self.workspace().locations().await {
            let Some(snapshot) = location.snapshot() else {
                continue;
            };
            for (index, asset) in snapshot.assets.iter().enumerate() {
                if seen.insert(asset.key.clone()) {
                    defined.push(DefinedAsset {
                        location: location.name.clone(),
                        snapshot: Arc::clone(snapshot),
                        index,
                    });
                }
            }
        }
        defined
    }

    /// The catalog: every defined asset, then every materialized one no location
    /// defines, each with its latest materialization and freshness, by key.
    pub async fn asset_catalog(&self) -> Result<Vec<CatalogAsset>> {
        let defined = self.defined_assets().await;
        let entries = self.storage().asset_entries(None).await?;
        Ok(catalog(defined, entries))
    }

    /// Where each partition of `asset` stands; `None` when it is not partitioned.
    pub async fn asset_partition_health(
        &self,
        asset: &DefinedAsset,
    ) -> Result<Option<PartitionHealth>> {
        let definition = asset.definition();
        let Some(partitions) = &definition.partitions else {
            return Ok(None);
        };
        let now = partitions_context(self.storage().as_ref(), [partitions]).await?;
        let keys = partitions.keys(&now).map_err(|error| Error::Partition {
            job: ASSET_JOB_NAME.to_owned(),
            error,
        })?;
        let materialized: HashMap<String, f64> = self
            .storage()
            .latest_materializations_by_partition(&definition.key)
            .await?
            .into_iter()
            .map(|(partition, record)| (partition, record.event.timestamp))
            .collect();
        let mut last_failure: HashMap<String, f64> = HashMap::new();
        for job in &definition.job_names {
            let filter = RunsFilter {
                job_name: Some(job.clone()),
                statuses: vec![RunStatus::Failure],
                ..RunsFilter::default()
            };
            let runs = self
                .storage()
                .list_runs(&filter, None, Some(FAILED_RUNS_READ))
                .await?;
            for run in runs.iter().filter(|r| runs_asset(r, definition)) {
                if let Some(partition) = run.tags.get(PARTITION_TAG) {
                    let at = last_failure.entry(partition.clone()).or_default();
                    *at = at.max(run.update_time);
                }
            }
        }
        let state = |key: &String| match (materialized.get(key), last_failure.get(key)) {
            (Some(done), Some(failed)) if failed > done => PartitionState::Failed,
            (Some(_), _) => PartitionState::Materialized,
            (None, Some(_)) => PartitionState::Failed,
            (None, None) => PartitionState::Missing,
        };
        Ok(Some(PartitionHealth {
            partitions: keys
                .into_iter()
                .map(|k| {
                    let s = state(&k);
                    (k, s)
                })
                .collect(),
        }))
    }

    /// Materialize `keys` (all from one location): one run through the location's
    /// asset job, or, for several `partitions`, a backfill with a run per partition.
    pub async fn materialize(
        &self,
        keys: &[AssetKey],
        partitions: &[String],
        tags: Vec<(String, String)>,
    ) -> Result<Materialization> {
        let defined = self.defined_assets().await;
        let mut location = None;
        for key in keys {
            let asset = defined.iter().find(|a| a.key() == key).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "asset \"{key}\" is not defined in any loaded code location"
                ))
            })?;
            match location {
                None => location = Some(asset.location.clone()),
                Some(ref l) if *l != asset.location => {
                    return Err(Error::InvalidArgument(format!(
                        "assets of code locations \"{l}\" and \"{}\" cannot be materialized in one run",
                        asset.location
                    )));
                }
                Some(_) => {}
            }
        }
        let Some(location) = location else {
            return Err(Error::InvalidArgument(
                "choose at least one asset to materialize".to_owned(),
            ));
        };
        let paths: Vec<Vec<String>> = keys.iter().map(|k| k.path().to_vec()).collect();
        if partitions.len() > 1 {
            let backfill = self
                .launch_backfill(BackfillRequest {
                    target: BackfillTarget::Assets(paths),
                    partitions: BackfillPartitions::Keys(partitions.to_vec()),
                    tags,
                    run_config: Value::Object(Default::default()),
                    title: None,
                    description: None,
                })
                .await?;
            return Ok(Materialization::Backfill(backfill));
        }
        let mut request = LaunchRequest::new(
            JobSelector {
                location,
                repository: REPOSITORY_NAME.to_owned(),
                job: ASSET_JOB_NAME.to_owned(),
            },
            Value::Object(Default::default()),
        );
        request.asset_selection = Some(paths);
        request.tags = tags;
        if let Some(partition) = partitions.first() {
            request
                .tags
                .push((PARTITION_TAG.to_owned(), partition.clone()));
        }
        Ok(Materialization::Run(self.launch_run(request).await?))
    }
}

/// Whether `run` executes the step that materializes `asset`.
fn runs_asset(run: &Run, asset: &AssetSnapshot) -> bool {
    match (&run.step_keys_to_execute, &asset.op_name) {
        (Some(steps), Some(op)) => steps.iter().any(|s| s == op),
        _ => true,
    }
}

/// The catalog of `defined` assets and materialized `entries`, by key.
fn catalog(defined: Vec<DefinedAsset>, entries: Vec<AssetEntry>) -> Vec<CatalogAsset> {
    let mut latest: HashMap<AssetKey, AssetEntry> =
        entries.into_iter().map(|e| (e.key.clone(), e)).collect();
    let materialized_at: HashMap<AssetKey, f64> = latest
        .iter()
        .filter_map(|(k, e)| Some((k.clone(), e.last_materialization_timestamp?)))
        .collect();
    let mut assets: BTreeMap<AssetKey, CatalogAsset> = BTreeMap::new();
    for asset in defined {
        let key = asset.key().clone();
        let own = materialized_at.get(&key).copied();
        let freshness = match own {
            None => Freshness::Missing,
            Some(own) => {
                let newer: Vec<AssetKey> = asset
                    .definition()
                    .deps
                    .iter()
                    .filter(|dep| materialized_at.get(*dep).is_some_and(|&t| t > own))
                    .cloned()
                    .collect();
                if newer.is_empty() {
                    Freshness::Fresh
                } else {
                    Freshness::Stale(newer)
                }
            }
        };
        assets.insert(
            key.clone(),
            CatalogAsset {
                latest: latest.remove(&key),
                key,
                defined: Some(asset),
                freshness,
            },
        );
    }
    for (key, entry) in latest {
        let freshness = match entry.last_materialization_timestamp {
            Some(_) => Freshness::Fresh,
            None => Freshness::Missing,
        };
        assets.insert(
            key.clone(),
            CatalogAsset {
                key,
                defined: None,
                latest: Some(entry),
                freshness,
            },
        );
    }
    assets.into_values().collect()
}

/// The assets of `catalog` within `depth` steps of `key` either way (upstream of
/// upstream, downstream of downstream), `key`'s first; `None` when `key` is not in it.
/// `catalog` is [`Service::asset_catalog`]'s.
pub fn lineage(catalog: &[CatalogAsset], key: &AssetKey, depth: usize) -> Option<Lineage> {
    let index: HashMap<&AssetKey, usize> = catalog
        .iter()
        .enumerate()
        .map(|(i, a)| (&a.key, i))
        .collect();
    let start = *index.get(key)?;
    let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); catalog.len()];
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); catalog.len()];
    for (i, asset) in catalog.iter().enumerate() {
        let deps = asset.defined.iter().flat_map(|d| &d.definition().deps);
        for dep in deps {
            if let Some(&j) = index.get(dep) {
                upstream[i].push(j);
                downstream[j].push(i);
            }
        }
    }
    let mut chosen: Vec<usize> = vec![start];
    let mut position: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    for neighbours in [&upstream, &downstream] {
        let mut queue = VecDeque::from([(start, 0)]);
        while let Some((node, distance)) = queue.pop_front() {
            if distance == depth {
                continue;
            }
            for &next in &neighbours[node] {
                if let std::collections::hash_map::Entry::Vacant(slot) = position.entry(next) {
                    slot.insert(chosen.len());
                    chosen.push(next);
                    queue.push_back((next, distance + 1));
                }
            }
        }
    }
    let mut edges = Vec::new();
    for (to, &node) in chosen.iter().enumerate() {
        for from in upstream[node].iter().filter_map(|u| position.get(u)) {
            edges.push((*from, to));
        }
    }
    Some(Lineage {
        assets: chosen.into_iter().map(|i| catalog[i].clone()).collect(),
        edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> AssetKey {
        AssetKey::parse(name).unwrap()
    }

    fn asset(name: &str, deps: &[&str]) -> AssetSnapshot {
        serde_json::from_value(serde_json::json!({
            "key": key(name),
            "group": "default",
            "deps": deps.iter().map(|d| key(d)).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn defined(assets: Vec<AssetSnapshot>) -> Vec<DefinedAsset> {
        let snapshot = Arc::new(LocationSnapshot {
            version: 1,
            location_name: "here".into(),
            jobs: Vec::new(),
            resources: Vec::new(),
            schedules: Vec::new(),
            sensors: Vec::new(),
            assets,
        });
        (0..snapshot.assets.len())
            .map(|index| DefinedAsset {
                location: "here".into(),
                snapshot: Arc::clone(&snapshot),
                index,
            })
            .collect()
    }

    fn entry(name: &str, at: f64) -> AssetEntry {
        AssetEntry {
            key: key(name),
            last_materialization_event_id: Some(1),
            last_run_id: Some("r".into()),
            last_materialization_timestamp: Some(at),
        }
    }

    /// raw → staging → warehouse, and raw → audit.
    fn flow() -> Vec<DefinedAsset> {
        defined(vec![
            asset("raw", &[]),
            asset("staging", &["raw"]),
            asset("warehouse", &["staging"]),
            asset("audit", &["raw"]),
        ])
    }

    #[test]
    fn an_asset_is_stale_when_an_upstream_asset_was_materialized_after_it() {
        let catalog = catalog(
            flow(),
            vec![
                entry("raw", 30.0),
                entry("staging", 20.0),
                entry("warehouse", 25.0),
            ],
        );
        let freshness: BTreeMap<String, Freshness> = catalog
            .iter()
            .map(|a| (a.key.to_string(), a.freshness.clone()))
            .collect();
        assert_eq!(freshness["raw"], Freshness::Fresh);
        assert_eq!(freshness["staging"], Freshness::Stale(vec![key("raw")]));
        assert_eq!(freshness["warehouse"], Freshness::Fresh);
        assert_eq!(freshness["audit"], Freshness::Missing);
    }

    #[test]
    fn a_materialized_asset_no_location_defines_stays_in_the_catalog() {
        let catalog = catalog(flow(), vec![entry("gone", 5.0)]);
        let gone = catalog.iter().find(|a| a.key == key("gone")).unwrap();
        assert!(gone.defined.is_none());
        assert_eq!(gone.freshness, Freshness::Fresh);
        assert_eq!(catalog.len(), 5);
    }

    #[test]
    fn lineage_goes_as_deep_as_asked_both_ways() {
        let catalog = catalog(flow(), vec![]);
        let names =
            |l: &Lineage| -> Vec<String> { l.assets.iter().map(|a| a.key.to_string()).collect() };
        let one = lineage(&catalog, &key("staging"), 1).unwrap();
        assert_eq!(names(&one), ["staging", "raw", "warehouse"]);
        assert_eq!(one.edges.len(), 2);
        let two = lineage(&catalog, &key("warehouse"), 2).unwrap();
        assert_eq!(names(&two), ["warehouse", "staging", "raw"]);
        let three = lineage(&catalog, &key("warehouse"), 3).unwrap();
        assert_eq!(
            names(&three),
            ["warehouse", "staging", "raw"],
            "audit is a sibling"
        );
        let zero = lineage(&catalog, &key("raw"), 0).unwrap();
        assert_eq!(names(&zero), ["raw"]);
        assert!(zero.edges.is_empty());
        assert!(lineage(&catalog, &key("nowhere"), 1).is_none());
    }
}

/// A runless asset event to record (Dagster's `reportRunlessAssetEvents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunlessEventKind {
    /// An ASSET_MATERIALIZATION.
    Materialization,
    /// An ASSET_OBSERVATION.
    Observation,
}

/// What the asset index and the event log say about assets.
impl Service {
    /// The asset index's entries for `keys` (every asset that has one when `None`).
    pub async fn asset_entries(&self, keys: Option<&[AssetKey]>) -> Result<Vec<AssetEntry>> {
        Ok(self.storage().asset_entries(keys).await?)
    }

    /// The latest materialization event of each of `keys` that has one.
    pub async fn latest_materializations(
        &self,
        keys: &[AssetKey],
    ) -> Result<HashMap<AssetKey, EventRecord>> {
        let entries = self.storage().asset_entries(Some(keys)).await?;
        let ids: Vec<i64> = entries
            .iter()
            .filter_map(|e| e.last_materialization_event_id)
            .collect();
        Ok(self
            .storage()
            .events_by_id(&ids)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.event.materialization()?.asset_key.clone(), r)))
            .collect())
    }

    /// Materializations of `key` that `filter` selects, newest first.
    pub async fn asset_materializations(
        &self,
        key: &AssetKey,
        filter: &MaterializationsFilter,
    ) -> Result<Vec<EventRecord>> {
        Ok(self.storage().asset_materializations(key, filter).await?)
    }

    /// The latest materialization of each partition of `key`, by partition key.
    pub async fn latest_materializations_by_partition(
        &self,
        key: &AssetKey,
    ) -> Result<BTreeMap<String, EventRecord>> {
        Ok(self
            .storage()
            .latest_materializations_by_partition(key)
            .await?)
    }

    /// The latest `limit` evaluations of the checks of `key` (only `check_name`'s when
    /// given), newest first.
    pub async fn asset_check_evaluations(
        &self,
        key: &AssetKey,
        check_name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>> {
        Ok(self
            .storage()
            .asset_check_evaluations(key, check_name, limit)
            .await?)
    }

    /// Wipe every materialization of `keys` from the asset index.
    pub async fn wipe_assets(&self, keys: &[AssetKey]) -> Result<()> {
        self.storage().wipe_assets(keys).await?;
        tracing::info!(count = keys.len(), "assets wiped");
        Ok(())
    }

    /// Wipe the materializations of `partitions` of `key`, all in one transaction.
    pub async fn wipe_asset_partitions(&self, key: &AssetKey, partitions: &[String]) -> Result<()> {
        self.storage()
            .wipe_asset_partitions(key, partitions)
            .await?;
        tracing::info!(asset = %key, count = partitions.len(), "asset partitions wiped");
        Ok(())
    }

    /// Record that `key` was materialized or observed outside any run, once per
    /// partition (once, unpartitioned, when `partitions` is empty), as Dagster's
    /// runless events: events with an empty run id.
    pub async fn report_runless_asset_events(
        &self,
        kind: RunlessEventKind,
        key: &AssetKey,
        partitions: Vec<Option<String>>,
        description: Option<String>,
    ) -> Result<()> {
        let partitions = if partitions.is_empty() {
            vec![None]
        } else {
            partitions
        };
        let events: Vec<RunEvent> = partitions
            .into_iter()
            .map(|partition| {
                let description = description.clone();
                match kind {
                    RunlessEventKind::Observation => RunEvent::new(
                        "",
                        EventType::AssetObservation,
                        format!("Reported observation of asset \"{key}\"."),
                    )
                    .data(EventData::Observation(Box::new(AssetObservation {
                        asset_key: key.clone(),
                        partition,
                        data_version: None,
                        metadata: Default::default(),
                        description,
                    }))),
                    RunlessEventKind::Materialization => {
                        let mut m = AssetMaterialization::new(key.clone());
                        m.partition = partition;
                        m.description = description;
                        RunEvent::new(
                            "",
                            EventType::AssetMaterialization,
                            format!("Reported materialization of asset \"{key}\"."),
                        )
                        .data(EventData::Materialization(Box::new(m)))
                    }
                }
            })
            .collect();
        self.storage().store_events(&events).await?;
        Ok(())
    }
}
