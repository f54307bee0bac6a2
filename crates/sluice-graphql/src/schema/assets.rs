//! Assets as Dagster's GraphQL shows them: `AssetNode` (an asset's definition in a
//! location, with its graph neighbours and materializations), `Asset` (an asset of the
//! catalog: defined, materialized, or both), their queries, and `wipeAssets` /
//! `reportRunlessAssetEvents`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Union};
use sluice_core::asset::AssetKey as CoreKey;
use sluice_core::events::EventRecord;
use sluice_core::snapshot::{AssetCheckSnapshot, AssetSnapshot, REPOSITORY_NAME};
use sluice_service::page_limit;
use sluice_storage::MaterializationsFilter;

use crate::schema::errors::{
    AssetNotFoundError, PythonError, UnauthorizedError, UnsupportedOperationError,
};
use crate::schema::events::{
    AssetCheckEvaluation, DefinitionTag, MaterializationEvent, MetadataEntryInterface,
    ObservationEvent, typed_metadata_entries,
};
use crate::schema::inputs::{AssetKeyInput, PipelineSelector};
use crate::schema::partitions::{self, DimensionPartitionKeys, PartitionDefinition};
use crate::schema::runs::{AssetKey, Run};
use crate::schema::service;
use crate::schema::workspace::{LoadedLocation, Repository, ResourceRequirement};

/// The assets one loaded location defines, indexed for the resolvers of one request.
pub struct LocationAssets {
    location: LoadedLocation,
    by_key: HashMap<CoreKey, usize>,
    children: HashMap<CoreKey, Vec<CoreKey>>,
}

impl LocationAssets {
    fn new(location: LoadedLocation) -> Self {
        let assets = &location.snapshot.assets;
        let by_key = assets
            .iter()
            .enumerate()
            .map(|(i, a)| (a.key.clone(), i))
            .collect();
        let mut children: HashMap<CoreKey, Vec<CoreKey>> = HashMap::new();
        for a in assets {
            for dep in &a.deps {
                children.entry(dep.clone()).or_default().push(a.key.clone());
            }
        }
        Self {
            location,
            by_key,
            children,
        }
    }

    fn node(self: &Arc<Self>, key: &CoreKey) -> Option<AssetNode> {
        self.by_key.get(key).map(|&i| AssetNode {
            assets: Arc::clone(self),
            index: i,
        })
    }

    fn nodes(self: &Arc<Self>) -> impl Iterator<Item = AssetNode> + '_ {
        (0..self.location.snapshot.assets.len()).map(|i| AssetNode {
            assets: Arc::clone(self),
            index: i,
        })
    }
}

/// The assets of every loaded location of the workspace.
async fn workspace_assets(ctx: &Context<'_>) -> Vec<Arc<LocationAssets>> {
    service(ctx)
        .workspace()
        .locations()
        .await
        .iter()
        .filter_map(LoadedLocation::of)
        .filter(|l| !l.snapshot.assets.is_empty())
        .map(|l| Arc::new(LocationAssets::new(l)))
        .collect()
}

/// The definition of `key`, from the first location that defines it.
async fn find_node(ctx: &Context<'_>, key: &CoreKey) -> Option<AssetNode> {
    workspace_assets(ctx).await.iter().find_map(|l| l.node(key))
}

fn core_key(input: &AssetKeyInput) -> Option<CoreKey> {
    CoreKey::new(input.path.iter().cloned()).ok()
}

/// Dagster's string form of a key in ids and cursors: its path as a JSON list.
fn key_id(key: &CoreKey) -> String {
    serde_json::to_string(key.path()).unwrap_or_default()
}

fn materialization_events(records: Vec<EventRecord>) -> Vec<MaterializationEvent> {
    wrap_events(records, MaterializationEvent)
}

/// Stored asset events as GraphQL events of type `T` (they belong to no job).
fn wrap_events<T>(
    records: Vec<EventRecord>,
    wrap: fn(crate::schema::events::EventBase) -> T,
) -> Vec<T> {
    records
        .into_iter()
        .map(|record| {
            wrap(crate::schema::events::EventBase {
                record,
                job_name: String::new(),
            })
        })
        .collect()
}

/// The asset events the GraphQL arguments ask for.
fn events_filter(
    partitions: Option<Vec<String>>,
    before_timestamp_millis: Option<String>,
    after_timestamp_millis: Option<String>,
    limit: Option<i32>,
) -> async_graphql::Result<MaterializationsFilter> {
    Ok(MaterializationsFilter {
        partitions: partitions.unwrap_or_default(),
        before_timestamp: millis_to_seconds(before_timestamp_millis.as_deref())?,
        after_timestamp: millis_to_seconds(after_timestamp_millis.as_deref())?,
        limit: page_limit(limit)?,
        ..Default::default()
    })
}

fn millis_to_seconds(millis: Option<&str>) -> async_graphql::Result<Option<f64>> {
    millis
        .map(|m| {
            m.parse::<f64>().map(|ms| ms / 1000.0).map_err(|_| {
                async_graphql::Error::new(format!("\"{m}\" is not a timestamp in milliseconds"))
            })
        })
        .transpose()
}

async fn materializations(
    ctx: &Context<'_>,
    key: &CoreKey,
    filter: MaterializationsFilter,
) -> async_graphql::Result<Vec<MaterializationEvent>> {
    asset_events(ctx, key, filter, MaterializationEvent).await
}

/// The observations of `key` that `filter` selects (its `observations` is set here).
async fn observations(
    ctx: &Context<'_>,
    key: &CoreKey,
    filter: MaterializationsFilter,
) -> async_graphql::Result<Vec<ObservationEvent>> {
    let filter = MaterializationsFilter {
        observations: true,
        ..filter
    };
    asset_events(ctx, key, filter, ObservationEvent).await
}

async fn asset_events<T>(
    ctx: &Context<'_>,
    key: &CoreKey,
    filter: MaterializationsFilter,
    wrap: fn(crate::schema::events::EventBase) -> T,
) -> async_graphql::Result<Vec<T>> {
    let records = service(ctx)
        .asset_materializations(key, &filter)
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    Ok(wrap_events(records, wrap))
}

/// A person or team owning an asset.
#[derive(Union, Clone, Debug)]
pub enum AssetOwner {
    /// A person, by email.
    UserAssetOwner(UserAssetOwner),
    /// A team.
    TeamAssetOwner(TeamAssetOwner),
}

/// A person owning an asset.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserAssetOwner {
    /// Their email.
    pub email: String,
}

/// A team owning an asset.
#[derive(SimpleObject, Clone, Debug)]
pub struct TeamAssetOwner {
    /// The team.
    pub team: String,
}

/// An asset as a location defines it.
#[derive(Clone)]
pub struct AssetNode {
    assets: Arc<LocationAssets>,
    index: usize,
}

impl AssetNode {
    fn snapshot(&self) -> &AssetSnapshot {
        &self.assets.location.snapshot.assets[self.index]
    }

    fn neighbours(&self, keys: &[CoreKey]) -> Vec<AssetDependency> {
        keys.iter()
            .filter_map(|k| self.assets.node(k))
            .map(|asset| AssetDependency { asset })
            .collect()
    }

    fn children(&self) -> &[CoreKey] {
        self.assets
            .children
            .get(&self.snapshot().key)
            .map_or(&[], Vec::as_slice)
    }
}

#[Object]
impl AssetNode {
    /// `location.repository.["part", ...]`.
    async fn id(&self) -> ID {
        ID(format!(
            "{}.{REPOSITORY_NAME}.{}",
            self.assets.location.location.name,
            key_id(&self.snapshot().key)
        ))
    }
    async fn asset_key(&self) -> AssetKey {
        AssetKey::from(&self.snapshot().key)
    }
    async fn group_name(&self) -> &str {
        &self.snapshot().group
    }
    async fn description(&self, character_limit: Option<i32>) -> Option<String> {
        let d = self.snapshot().description.as_deref()?;
        Some(
            match character_limit.and_then(|l| usize::try_from(l).ok()) {
                Some(limit) => d.chars().take(limit).collect(),
                None => d.to_owned(),
            },
        )
    }
    async fn op_name(&self) -> Option<&str> {
        self.snapshot().op_name.as_deref()
    }
    async fn op_names(&self) -> Vec<String> {
        self.snapshot().op_name.iter().cloned().collect()
    }
    async fn op_version(&self) -> Option<&str> {
        self.snapshot().code_version.as_deref()
    }
    async fn graph_name(&self) -> Option<String> {
        None
    }
    async fn compute_kind(&self) -> Option<&str> {
        self.snapshot()
            .tags
            .get("dagster/compute_kind")
            .map(String::as_str)
    }
    async fn kinds(&self) -> Vec<String> {
        let tags = &self.snapshot().tags;
        tags.keys()
            .filter_map(|k| k.strip_prefix("dagster/kind/"))
            .map(str::to_owned)
            .collect()
    }
    async fn job_names(&self) -> &[String] {
        &self.snapshot().job_names
    }
    async fn is_executable(&self) -> bool {
        !self.snapshot().is_source
    }
    async fn is_materializable(&self) -> bool {
        !self.snapshot().is_source
    }
    /// Whether it is an observable source asset.
    async fn is_observable(&self) -> bool {
        self.snapshot().is_observable
    }
    async fn is_partitioned(&self) -> bool {
        self.snapshot().partitions.is_some()
    }
    /// How a backfill groups its partitions into runs; null: one per run.
    async fn backfill_policy(&self) -> Option<partitions::BackfillPolicy> {
        self.snapshot().backfill_policy.map(Into::into)
    }
    async fn partition_definition(&self) -> Option<PartitionDefinition> {
        self.snapshot().partitions.clone().map(PartitionDefinition)
    }
    /// Every partition key, now (none for an unpartitioned asset).
    async fn partition_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        match &self.snapshot().partitions {
            Some(def) => partitions::partition_keys(ctx, def).await,
            None => Ok(Vec::new()),
        }
    }
    /// The keys of each dimension, from `startIdx` to `endIdx` (excluded).
    async fn partition_keys_by_dimension(
        &self,
        ctx: &Context<'_>,
        start_idx: Option<i32>,
        end_idx: Option<i32>,
    ) -> async_graphql::Result<Vec<DimensionPartitionKeys>> {
        match &self.snapshot().partitions {
            Some(def) => partitions::keys_by_dimension(ctx, def, start_idx, end_idx).await,
            None => Ok(Vec::new()),
        }
    }
    async fn is_virtual(&self) -> bool {
        false
    }
    async fn is_auto_created_stub(&self) -> bool {
        false
    }
    async fn dependency_keys(&self) -> Vec<AssetKey> {
        self.snapshot().deps.iter().map(AssetKey::from).collect()
    }
    async fn depended_by_keys(&self) -> Vec<AssetKey> {
        self.children().iter().map(AssetKey::from).collect()
    }
    async fn dependencies(&self) -> Vec<AssetDependency> {
        self.neighbours(&self.snapshot().deps)
    }
    async fn depended_by(&self) -> Vec<AssetDependency> {
        self.neighbours(self.children())
    }
    async fn owners(&self) -> Vec<AssetOwner> {
        self.snapshot()
            .owners
            .iter()
            .map(|o| match o.strip_prefix("team:") {
                Some(team) => AssetOwner::TeamAssetOwner(TeamAssetOwner {
                    team: team.to_owned(),
                }),
                None => AssetOwner::UserAssetOwner(UserAssetOwner { email: o.clone() }),
            })
            .collect()
    }
    async fn tags(&self) -> Vec<DefinitionTag> {
        self.snapshot()
            .tags
            .iter()
            .map(|(key, value)| DefinitionTag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
    async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
        typed_metadata_entries(&self.snapshot().metadata)
    }
    async fn required_resources(&self) -> Vec<ResourceRequirement> {
        self.snapshot()
            .required_resource_keys
            .iter()
            .map(|k| ResourceRequirement {
                resource_key: k.clone(),
            })
            .collect()
    }
    async fn repository(&self) -> Repository {
        Repository(self.assets.location.clone())
    }
    async fn has_materialize_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::LaunchRun)
    }
    async fn has_wipe_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::WipeAssets)
    }
    async fn has_report_runless_asset_event_permission(&self, ctx: &Context<'_>) -> bool {
        crate::access::caller(ctx).may(sluice_service::access::Permission::ReportAssetEvents)
    }
    async fn has_asset_checks(&self) -> bool {
        !self.snapshot().checks.is_empty()
    }
    /// Its checks.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn asset_checks_or_error(
        &self,
        limit: Option<i32>,
        _pipeline: Option<PipelineSelector>,
    ) -> async_graphql::Result<AssetChecksOrError> {
        let limit = page_limit(limit)?.unwrap_or(usize::MAX);
        Ok(AssetChecksOrError::AssetChecks(AssetChecks {
            checks: (0..self.snapshot().checks.len())
                .take(limit)
                .map(|i| AssetCheck {
                    node: self.clone(),
                    index: i,
                })
                .collect(),
        }))
    }
    /// Materializations, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn asset_materializations(
        &self,
        ctx: &Context<'_>,
        partitions: Option<Vec<String>>,
        before_timestamp_millis: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<MaterializationEvent>> {
        let filter = events_filter(partitions, before_timestamp_millis, None, limit)?;
        materializations(ctx, &self.snapshot().key, filter).await
    }
    /// Observations (of an observable source asset), newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn asset_observations(
        &self,
        ctx: &Context<'_>,
        partitions: Option<Vec<String>>,
        before_timestamp_millis: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<ObservationEvent>> {
        let filter = events_filter(partitions, before_timestamp_millis, None, limit)?;
        observations(ctx, &self.snapshot().key, filter).await
    }

    /// The latest materialization of each partition asked for (null where none).
    async fn latest_materialization_by_partition(
        &self,
        ctx: &Context<'_>,
        partitions: Option<Vec<String>>,
    ) -> async_graphql::Result<Vec<Option<MaterializationEvent>>> {
        let mut latest = service(ctx)
            .latest_materializations_by_partition(&self.snapshot().key)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        let wanted = partitions.unwrap_or_else(|| latest.keys().cloned().collect());
        Ok(wanted
            .iter()
            .map(|p| {
                latest
                    .remove(p)
                    .and_then(|r| materialization_events(vec![r]).pop())
            })
            .collect())
    }
}

/// A check of an asset.
#[derive(Clone)]
pub struct AssetCheck {
    node: AssetNode,
    index: usize,
}

impl AssetCheck {
    fn snapshot(&self) -> &AssetCheckSnapshot {
        &self.node.snapshot().checks[self.index]
    }
}

#[Object]
impl AssetCheck {
    async fn name(&self) -> &str {
        &self.snapshot().name
    }
    async fn asset_key(&self) -> AssetKey {
        AssetKey::from(&self.node.snapshot().key)
    }
    async fn description(&self) -> Option<&str> {
        self.snapshot().description.as_deref()
    }
    async fn job_names(&self) -> &[String] {
        &self.node.snapshot().job_names
    }
    async fn blocking(&self) -> bool {
        self.snapshot().blocking
    }
    async fn additional_asset_keys(&self) -> Vec<AssetKey> {
        Vec::new()
    }
    /// Its latest evaluation.
    async fn execution_for_latest_materialization(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AssetCheckExecution>> {
        let found = service(ctx)
            .asset_check_evaluations(&self.node.snapshot().key, Some(&self.snapshot().name), 1)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(found.into_iter().next().map(AssetCheckExecution))
    }
}

/// The checks of an asset.
#[derive(SimpleObject, Clone)]
pub struct AssetChecks {
    /// The checks.
    pub checks: Vec<AssetCheck>,
}

/// The checks of an asset, or why not.
#[derive(Union, Clone)]
pub enum AssetChecksOrError {
    /// The checks.
    AssetChecks(AssetChecks),
}

/// How an evaluation of a check ended.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AssetCheckExecutionResolvedStatus {
    /// Running.
    InProgress,
    /// Passed.
    Succeeded,
    /// Did not pass.
    Failed,
    /// The check itself failed.
    ExecutionFailed,
    /// Not run.
    Skipped,
}

/// One evaluation of a check (a stored ASSET_CHECK_EVALUATION event).
#[derive(Clone)]
pub struct AssetCheckExecution(EventRecord);

#[Object]
impl AssetCheckExecution {
    async fn id(&self) -> String {
        self.0.storage_id.to_string()
    }
    async fn run_id(&self) -> &str {
        &self.0.event.run_id
    }
    async fn status(&self) -> AssetCheckExecutionResolvedStatus {
        match self.0.event.check_evaluation() {
            Some(c) if c.passed => AssetCheckExecutionResolvedStatus::Succeeded,
            _ => AssetCheckExecutionResolvedStatus::Failed,
        }
    }
    async fn evaluation(&self) -> AssetCheckEvaluation {
        AssetCheckEvaluation::of(&self.0)
    }
    /// Unix seconds.
    async fn timestamp(&self) -> f64 {
        self.0.event.timestamp
    }
    async fn partition(&self) -> Option<&str> {
        self.0.event.check_evaluation()?.partition.as_deref()
    }
    async fn step_key(&self) -> Option<&str> {
        self.0.event.step_key.as_deref()
    }
    async fn run(&self, ctx: &Context<'_>) -> Option<Run> {
        service(ctx).run(&self.0.event.run_id).await.ok().map(Run)
    }
}

/// An upstream or downstream asset.
#[derive(SimpleObject, Clone)]
pub struct AssetDependency {
    /// The asset.
    pub asset: AssetNode,
}

/// An asset of the catalog: defined in the workspace, materialized, or both.
#[derive(Clone)]
pub struct Asset {
    key: CoreKey,
}

#[Object]
impl Asset {
    /// The key's path as a JSON list.
    async fn id(&self) -> String {
        key_id(&self.key)
    }
    async fn key(&self) -> AssetKey {
        AssetKey::from(&self.key)
    }
    /// Its definition, from the first location that defines it.
    async fn definition(&self, ctx: &Context<'_>) -> Option<AssetNode> {
        find_node(ctx, &self.key).await
    }
    /// Materializations, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn asset_materializations(
        &self,
        ctx: &Context<'_>,
        partitions: Option<Vec<String>>,
        before_timestamp_millis: Option<String>,
        after_timestamp_millis: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<MaterializationEvent>> {
        let filter = events_filter(
            partitions,
            before_timestamp_millis,
            after_timestamp_millis,
            limit,
        )?;
        materializations(ctx, &self.key, filter).await
    }
    /// Observations, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn asset_observations(
        &self,
        ctx: &Context<'_>,
        partitions: Option<Vec<String>>,
        before_timestamp_millis: Option<String>,
        after_timestamp_millis: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<ObservationEvent>> {
        let filter = events_filter(
            partitions,
            before_timestamp_millis,
            after_timestamp_millis,
            limit,
        )?;
        observations(ctx, &self.key, filter).await
    }
    /// When it was last materialized, in milliseconds.
    async fn latest_materialization_timestamp(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<f64>> {
        let entries = service(ctx)
            .asset_entries(Some(std::slice::from_ref(&self.key)))
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(entries
            .first()
            .and_then(|e| e.last_materialization_timestamp)
            .map(|t| t * 1000.0))
    }
    async fn has_definition_or_record(&self) -> bool {
        true
    }
}

/// The assets something targets (Dagster's `AssetSelection` object): a sensor's asset
/// selection, resolved to keys when the definitions were built.
#[derive(Clone)]
pub struct AssetSelectionTarget {
    /// The selected keys.
    pub keys: Vec<CoreKey>,
    /// The checks of those assets: (check name, asset).
    pub checks: Vec<(String, CoreKey)>,
}

#[Object(name = "AssetSelection")]
impl AssetSelectionTarget {
    /// The keys as a selection string Sluice parses (`raw/orders or staging/orders`).
    async fn asset_selection_string(&self) -> Option<String> {
        let keys: Vec<String> = self.keys.iter().map(ToString::to_string).collect();
        Some(keys.join(" or "))
    }
    async fn asset_keys(&self) -> Vec<AssetKey> {
        self.keys.iter().map(AssetKey::from).collect()
    }
    async fn asset_checks(&self) -> Vec<crate::schema::runs::AssetCheckhandle> {
        self.checks
            .iter()
            .map(|(name, key)| crate::schema::runs::AssetCheckhandle {
                name: name.clone(),
                asset_key: AssetKey::from(key),
            })
            .collect()
    }
    async fn assets(&self) -> Vec<Asset> {
        self.keys
            .iter()
            .map(|key| Asset { key: key.clone() })
            .collect()
    }
    async fn assets_or_error(&self) -> AssetsOrError {
        AssetsOrError::AssetConnection(AssetConnection {
            nodes: self
                .keys
                .iter()
                .map(|key| Asset { key: key.clone() })
                .collect(),
            cursor: None,
        })
    }
}

/// A page of assets.
#[derive(SimpleObject, Clone)]
pub struct AssetConnection {
    /// The assets, by key.
    pub nodes: Vec<Asset>,
    /// The last key of the page, to pass as `cursor` for the next.
    pub cursor: Option<String>,
}

/// Assets, or why not.
#[derive(Union, Clone)]
pub enum AssetsOrError {
    /// The assets.
    AssetConnection(AssetConnection),
    /// Failure.
    PythonError(PythonError),
}

/// An asset, or why there is none.
#[derive(Union, Clone)]
pub enum AssetOrError {
    /// The asset.
    Asset(Asset),
    /// Unknown key.
    AssetNotFoundError(AssetNotFoundError),
}

/// An asset's definition, or why there is none.
#[derive(Union, Clone)]
pub enum AssetNodeOrError {
    /// The definition.
    AssetNode(AssetNode),
    /// Unknown key.
    AssetNotFoundError(AssetNotFoundError),
}

/// What is latest about an asset.
#[derive(Clone)]
pub struct AssetLatestInfo {
    key: CoreKey,
    latest: Option<EventRecord>,
}

#[Object]
impl AssetLatestInfo {
    async fn id(&self) -> ID {
        ID(key_id(&self.key))
    }
    async fn asset_key(&self) -> AssetKey {
        AssetKey::from(&self.key)
    }
    async fn latest_materialization(&self) -> Option<MaterializationEvent> {
        materialization_events(self.latest.clone().into_iter().collect()).pop()
    }
    /// Runs not started yet that would materialize it (not tracked yet: empty).
    async fn unstarted_run_ids(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runs in progress that would materialize it (not tracked yet: empty).
    async fn in_progress_run_ids(&self) -> Vec<String> {
        Vec::new()
    }
    /// The run of the latest materialization.
    async fn latest_run(&self, ctx: &Context<'_>) -> Option<Run> {
        let run_id = &self.latest.as_ref()?.event.run_id;
        service(ctx).run(run_id).await.ok().map(Run)
    }
}

/// An asset group of a location.
#[derive(InputObject, Clone, Debug)]
pub struct AssetGroupSelector {
    /// The group.
    pub group_name: String,
    /// The repository.
    pub repository_name: String,
    /// The location.
    pub repository_location_name: String,
}

/// The asset queries.
#[derive(Default)]
pub struct AssetQuery;

#[Object]
impl AssetQuery {
    /// The definitions of assets, filtered by group, by job, or by key.
    async fn asset_nodes(
        &self,
        ctx: &Context<'_>,
        group: Option<AssetGroupSelector>,
        pipeline: Option<PipelineSelector>,
        asset_keys: Option<Vec<AssetKeyInput>>,
        #[graphql(default_with = "Some(false)")] _load_materializations: Option<bool>,
    ) -> Vec<AssetNode> {
        let keys: Option<BTreeSet<CoreKey>> =
            asset_keys.map(|ks| ks.iter().filter_map(core_key).collect());
        let mut nodes = Vec::new();
        for location in workspace_assets(ctx).await {
            let name = &location.location.location.name;
            if let Some(g) = &group
                && (&g.repository_location_name != name || g.repository_name != REPOSITORY_NAME)
            {
                continue;
            }
            if let Some(p) = &pipeline
                && (&p.repository_location_name != name || p.repository_name != REPOSITORY_NAME)
            {
                continue;
            }
            if let Some(keys) = &keys {
                nodes.extend(keys.iter().filter_map(|k| location.node(k)));
                continue;
            }
            nodes.extend(location.nodes().filter(|n| {
                let a = n.snapshot();
                group.as_ref().is_none_or(|g| a.group == g.group_name)
                    && pipeline
                        .as_ref()
                        .is_none_or(|p| a.job_names.contains(&p.pipeline_name))
            }));
        }
        nodes
    }

    /// The definition of one asset.
    async fn asset_node_or_error(
        &self,
        ctx: &Context<'_>,
        asset_key: AssetKeyInput,
    ) -> AssetNodeOrError {
        let node = match core_key(&asset_key) {
            Some(key) => find_node(ctx, &key).await,
            None => None,
        };
        match node {
            Some(node) => AssetNodeOrError::AssetNode(node),
            None => AssetNodeOrError::AssetNotFoundError(AssetNotFoundError::new(&asset_key.path)),
        }
    }

    /// The assets of the catalog (defined or materialized), by key.
    #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
    async fn assets_or_error(
        &self,
        ctx: &Context<'_>,
        prefix: Option<Vec<String>>,
        asset_keys: Option<Vec<AssetKeyInput>>,
        cursor: Option<String>,
        limit: Option<i32>,
    ) -> AssetsOrError {
        let entries = match service(ctx).asset_entries(None).await {
            Ok(entries) => entries,
            Err(e) => return AssetsOrError::PythonError(e.into()),
        };
        let mut keys: BTreeMap<String, CoreKey> = BTreeMap::new();
        for location in workspace_assets(ctx).await {
            for a in &location.location.snapshot.assets {
                keys.insert(a.key.to_string(), a.key.clone());
            }
        }
        for e in entries {
            keys.insert(e.key.to_string(), e.key);
        }
        let wanted: Option<BTreeSet<CoreKey>> =
            asset_keys.map(|ks| ks.iter().filter_map(core_key).collect());
        let after = cursor
            .as_deref()
            .and_then(|c| serde_json::from_str::<Vec<String>>(c).ok())
            .and_then(|path| CoreKey::new(path).ok());
        let limit = match page_limit(limit) {
            Ok(limit) => limit.unwrap_or(usize::MAX),
            Err(e) => return AssetsOrError::PythonError(e.into()),
        };
        let nodes: Vec<Asset> = keys
            .into_values()
            .filter(|k| prefix.as_ref().is_none_or(|p| k.path().starts_with(p)))
            .filter(|k| wanted.as_ref().is_none_or(|w| w.contains(k)))
            .filter(|k| after.as_ref().is_none_or(|a| k.to_string() > a.to_string()))
            .take(limit)
            .map(|key| Asset { key })
            .collect();
        let cursor = nodes.last().map(|a| key_id(&a.key));
        AssetsOrError::AssetConnection(AssetConnection { nodes, cursor })
    }

    /// One asset of the catalog.
    async fn asset_or_error(&self, ctx: &Context<'_>, asset_key: AssetKeyInput) -> AssetOrError {
        let not_found =
            || AssetOrError::AssetNotFoundError(AssetNotFoundError::new(&asset_key.path));
        let Some(key) = core_key(&asset_key) else {
            return not_found();
        };
        if find_node(ctx, &key).await.is_some() {
            return AssetOrError::Asset(Asset { key });
        }
        match service(ctx)
            .asset_entries(Some(std::slice::from_ref(&key)))
            .await
        {
            Ok(entries) if !entries.is_empty() => AssetOrError::Asset(Asset { key }),
            _ => not_found(),
        }
    }

    /// Evaluations of one check of an asset, newest first.
    #[graphql(complexity = "crate::limits::page_complexity(Some(limit), child_complexity)")]
    async fn asset_check_executions(
        &self,
        ctx: &Context<'_>,
        asset_key: AssetKeyInput,
        check_name: String,
        partition: Option<String>,
        limit: i32,
        _cursor: Option<String>,
    ) -> async_graphql::Result<Vec<AssetCheckExecution>> {
        let Some(key) = core_key(&asset_key) else {
            return Ok(Vec::new());
        };
        let limit = page_limit(Some(limit))?.unwrap_or(usize::MAX);
        let found = service(ctx)
            .asset_check_evaluations(&key, Some(&check_name), limit)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(found
            .into_iter()
            .filter(|r| match (&partition, r.event.check_evaluation()) {
                (None, _) => true,
                (Some(p), Some(c)) => c.partition.as_deref().unwrap_or("") == p,
                (Some(_), None) => false,
            })
            .map(AssetCheckExecution)
            .collect())
    }

    /// What is latest about each asset asked for.
    async fn assets_latest_info(
        &self,
        ctx: &Context<'_>,
        asset_keys: Vec<AssetKeyInput>,
    ) -> async_graphql::Result<Vec<AssetLatestInfo>> {
        let keys: Vec<CoreKey> = asset_keys.iter().filter_map(core_key).collect();
        let mut by_key = service(ctx)
            .latest_materializations(&keys)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(keys
            .into_iter()
            .map(|key| AssetLatestInfo {
                latest: by_key.remove(&key),
                key,
            })
            .collect())
    }
}

/// An asset event type.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AssetEventType {
    /// A materialization.
    AssetMaterialization,
    /// An observation.
    AssetObservation,
}

/// A runless asset event to report.
#[derive(InputObject, Clone, Debug)]
pub struct ReportRunlessAssetEventsParams {
    /// Which event.
    pub event_type: AssetEventType,
    /// The asset.
    pub asset_key: AssetKeyInput,
    /// The partitions (one event each); none for an unpartitioned asset.
    pub partition_keys: Option<Vec<Option<String>>>,
    /// What happened.
    pub description: Option<String>,
}

/// Runless events were reported.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReportRunlessAssetEventsSuccess {
    /// The asset.
    pub asset_key: AssetKey,
}

/// The outcome of `reportRunlessAssetEvents`.
#[derive(Union, Clone, Debug)]
pub enum ReportRunlessAssetEventsResult {
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
    /// Reported.
    ReportRunlessAssetEventsSuccess(ReportRunlessAssetEventsSuccess),
}

/// The partition keys of the defined asset `key` from each range's start to its end
/// (both included), or why not: an asset that is not defined or not partitioned, or an
/// end that is not one of its partitions.
async fn partitions_in_ranges(
    ctx: &Context<'_>,
    key: &CoreKey,
    ranges: &[PartitionRangeSelector],
) -> Result<Vec<String>, String> {
    let node = find_node(ctx, key)
        .await
        .ok_or_else(|| format!("asset \"{key}\" is not defined, so its partitions are unknown"))?;
    let def = node
        .snapshot()
        .partitions
        .clone()
        .ok_or_else(|| format!("asset \"{key}\" is not partitioned"))?;
    let all = partitions::partition_keys(ctx, &def)
        .await
        .map_err(|e| e.message)?;
    let at = |name: &str| {
        all.iter().position(|k| k == name).ok_or_else(|| {
            format!("partition \"{name}\" does not exist in {def} (asset \"{key}\")")
        })
    };
    let mut names = Vec::new();
    for range in ranges {
        let (start, end) = (at(&range.start)?, at(&range.end)?);
        if start > end {
            return Err(format!(
                "the range {}...{} of asset \"{key}\" ends before it starts",
                range.start, range.end
            ));
        }
        names.extend(all[start..=end].iter().cloned());
    }
    Ok(names)
}

/// Partitions of an asset to wipe.
#[derive(InputObject, Clone, Debug)]
pub struct PartitionsByAssetSelector {
    /// The asset.
    pub asset_key: AssetKeyInput,
    /// Its partitions; none for all of them.
    pub partitions: Option<PartitionsSelector>,
}

/// A selection of partitions.
#[derive(InputObject, Clone, Debug)]
pub struct PartitionsSelector {
    /// One range.
    pub range: Option<PartitionRangeSelector>,
    /// Several ranges.
    pub ranges: Option<Vec<PartitionRangeSelector>>,
}

/// A range of partitions, both ends included.
#[derive(InputObject, Clone, Debug)]
pub struct PartitionRangeSelector {
    /// The first.
    pub start: String,
    /// The last.
    pub end: String,
}

/// A range of partitions.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartitionRange {
    /// The first.
    pub start: String,
    /// The last.
    pub end: String,
}

/// An asset (and partitions) wiped.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetPartitionRange {
    /// The asset.
    pub asset_key: AssetKey,
    /// The partitions; null for all.
    pub partition_range: Option<PartitionRange>,
}

/// Assets were wiped.
#[derive(SimpleObject, Clone, Debug)]
pub struct AssetWipeSuccess {
    /// What was wiped.
    pub asset_partition_ranges: Vec<AssetPartitionRange>,
}

/// The outcome of `wipeAssets`.
#[derive(Union, Clone, Debug)]
pub enum AssetWipeMutationResult {
    /// Unknown asset.
    AssetNotFoundError(AssetNotFoundError),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Failure.
    PythonError(PythonError),
    /// Not available.
    UnsupportedOperationError(UnsupportedOperationError),
    /// Wiped.
    AssetWipeSuccess(AssetWipeSuccess),
}

/// The asset mutations.
#[derive(Default)]
pub struct AssetMutation;

#[Object]
impl AssetMutation {
    /// Forgets assets' materializations (the events stay in their runs' logs).
    async fn wipe_assets(
        &self,
        ctx: &Context<'_>,
        asset_partition_ranges: Vec<PartitionsByAssetSelector>,
    ) -> AssetWipeMutationResult {
        // Every selector is checked before anything is wiped.
        let mut keys = Vec::new();
        let mut partial: Vec<(CoreKey, Vec<PartitionRangeSelector>, Vec<String>)> = Vec::new();
        for selector in &asset_partition_ranges {
            let Some(key) = core_key(&selector.asset_key) else {
                return AssetWipeMutationResult::AssetNotFoundError(AssetNotFoundError::new(
                    &selector.asset_key.path,
                ));
            };
            let Some(partitions) = &selector.partitions else {
                keys.push(key);
                continue;
            };
            let ranges: Vec<PartitionRangeSelector> = partitions
                .range
                .iter()
                .chain(partitions.ranges.iter().flatten())
                .cloned()
                .collect();
            match partitions_in_ranges(ctx, &key, &ranges).await {
                Ok(names) => partial.push((key, ranges, names)),
                Err(message) => {
                    return AssetWipeMutationResult::PythonError(PythonError::new(
                        "DagsterInvalidInvocationError",
                        message,
                    ));
                }
            }
        }
        let service = service(ctx);
        let mut wiped: Vec<AssetPartitionRange> = Vec::new();
        if let Err(e) = service.wipe_assets(&keys).await {
            return AssetWipeMutationResult::PythonError(e.into());
        }
        wiped.extend(keys.iter().map(|k| AssetPartitionRange {
            asset_key: AssetKey::from(k),
            partition_range: None,
        }));
        for (key, ranges, names) in partial {
            if let Err(e) = service.wipe_asset_partitions(&key, &names).await {
                return AssetWipeMutationResult::PythonError(e.into());
            }
            wiped.extend(ranges.into_iter().map(|r| AssetPartitionRange {
                asset_key: AssetKey::from(&key),
                partition_range: Some(PartitionRange {
                    start: r.start,
                    end: r.end,
                }),
            }));
        }
        AssetWipeMutationResult::AssetWipeSuccess(AssetWipeSuccess {
            asset_partition_ranges: wiped,
        })
    }

    /// Records materializations that happened outside any run.
    async fn report_runless_asset_events(
        &self,
        ctx: &Context<'_>,
        event_params: ReportRunlessAssetEventsParams,
    ) -> ReportRunlessAssetEventsResult {
        let fail = |message: String| {
            ReportRunlessAssetEventsResult::PythonError(PythonError::new(
                "DagsterInvariantViolationError",
                message,
            ))
        };
        let Ok(key) = CoreKey::new(event_params.asset_key.path.iter().cloned()) else {
            return fail(format!(
                "{:?} is not a valid asset key",
                event_params.asset_key.path
            ));
        };
        let kind = match event_params.event_type {
            AssetEventType::AssetMaterialization => {
                sluice_service::assets::RunlessEventKind::Materialization
            }
            AssetEventType::AssetObservation => {
                sluice_service::assets::RunlessEventKind::Observation
            }
        };
        let partitions = event_params.partition_keys.unwrap_or_default();
        let reported = service(ctx)
            .report_runless_asset_events(kind, &key, partitions, event_params.description)
            .await;
        match reported {
            Ok(_) => ReportRunlessAssetEventsResult::ReportRunlessAssetEventsSuccess(
                ReportRunlessAssetEventsSuccess {
                    asset_key: AssetKey::from(&key),
                },
            ),
            Err(e) => ReportRunlessAssetEventsResult::PythonError(e.into()),
        }
    }
}
