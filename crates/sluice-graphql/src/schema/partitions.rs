//! Partitions as Dagster's GraphQL shows them: an asset's `partitionDefinition` and
//! keys, and the dynamic partitions mutations `addDynamicPartition` and
//! `deleteDynamicPartitions`.

use async_graphql::{Context, Enum, Object, SimpleObject, Union};
use sluice_core::partition::{PartitionsContext, PartitionsDefinition};

use crate::schema::errors::{PythonError, UnauthorizedError, UnsupportedOperationError};
use crate::schema::inputs::RepositorySelector;
use crate::schema::service;
use sluice_service::Error as ServiceError;

/// The kind of a partitioning.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum PartitionDefinitionType {
    /// Hourly, daily, weekly or monthly windows.
    TimeWindow,
    /// A fixed list of keys.
    Static,
    /// Two dimensions.
    Multipartitioned,
    /// Keys added and deleted at runtime.
    Dynamic,
}

impl From<&PartitionsDefinition> for PartitionDefinitionType {
    fn from(def: &PartitionsDefinition) -> Self {
        match def {
            PartitionsDefinition::Static { .. } => Self::Static,
            PartitionsDefinition::TimeWindow(_) => Self::TimeWindow,
            PartitionsDefinition::Dynamic { .. } => Self::Dynamic,
            PartitionsDefinition::Multi(_) => Self::Multipartitioned,
        }
    }
}

/// How an asset is partitioned.
pub struct PartitionDefinition(pub PartitionsDefinition);

/// The name Dagster gives the one dimension of a single-dimension partitioning.
const DEFAULT_DIMENSION: &str = "default";

#[Object]
impl PartitionDefinition {
    /// `Daily, starting 2024-01-01 UTC.`, `'a', 'b'`, ...
    async fn description(&self) -> String {
        self.0.to_string()
    }
    /// Its kind.
    #[graphql(name = "type")]
    async fn kind(&self) -> PartitionDefinitionType {
        (&self.0).into()
    }
    /// Each dimension (one, named `default`, unless multi-partitioned).
    async fn dimension_types(&self) -> Vec<DimensionDefinitionType> {
        dimensions(&self.0)
            .into_iter()
            .enumerate()
            .map(|(i, (name, def))| DimensionDefinitionType {
                name: name.to_owned(),
                description: def.to_string(),
                kind: def.into(),
                // A time dimension is the primary one; otherwise the first.
                is_primary_dimension: match &self.0 {
                    PartitionsDefinition::Multi(multi) => {
                        let time = multi
                            .dimensions
                            .iter()
                            .position(|d| d.partitions.as_time_window().is_some());
                        time.unwrap_or(0) == i
                    }
                    _ => true,
                },
                dynamic_partitions_definition_name: match def {
                    PartitionsDefinition::Dynamic { name } => Some(name.clone()),
                    _ => None,
                },
            })
            .collect()
    }
    /// The dynamic set's name, for dynamic partitions.
    async fn name(&self) -> Option<&str> {
        match &self.0 {
            PartitionsDefinition::Dynamic { name } => Some(name),
            _ => None,
        }
    }
    /// The key format, for time windows.
    async fn fmt(&self) -> Option<&str> {
        self.0.as_time_window().map(|t| t.fmt.as_str())
    }
}

/// The dimensions of a partitioning, by name.
fn dimensions(def: &PartitionsDefinition) -> Vec<(&str, &PartitionsDefinition)> {
    match def {
        PartitionsDefinition::Multi(multi) => multi
            .dimensions
            .iter()
            .map(|d| (d.name.as_str(), &d.partitions))
            .collect(),
        other => vec![(DEFAULT_DIMENSION, other)],
    }
}

/// One dimension of a partitioning.
#[derive(SimpleObject, Clone, Debug)]
pub struct DimensionDefinitionType {
    /// The dimension's name (`default` for a single dimension).
    pub name: String,
    /// The dimension's partitioning, described.
    pub description: String,
    /// Its kind.
    #[graphql(name = "type")]
    pub kind: PartitionDefinitionType,
    /// Whether it is the primary dimension (the time dimension, else the first).
    pub is_primary_dimension: bool,
    /// The dynamic set's name, for a dynamic dimension.
    pub dynamic_partitions_definition_name: Option<String>,
}

/// The keys of one dimension.
#[derive(SimpleObject, Clone, Debug)]
pub struct DimensionPartitionKeys {
    /// The dimension's name.
    pub name: String,
    /// Its keys.
    pub partition_keys: Vec<String>,
    /// Its kind.
    #[graphql(name = "type")]
    pub kind: PartitionDefinitionType,
}

/// What the keys of `def` depend on now, with the dynamic sets read from storage.
pub async fn partitions_context(
    ctx: &Context<'_>,
    def: &PartitionsDefinition,
) -> async_graphql::Result<PartitionsContext> {
    service(ctx)
        .partitions_context([def])
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))
}

/// Every key of `def`, now.
pub async fn partition_keys(
    ctx: &Context<'_>,
    def: &PartitionsDefinition,
) -> async_graphql::Result<Vec<String>> {
    let now = partitions_context(ctx, def).await?;
    def.keys(&now)
        .map_err(|e| async_graphql::Error::new(e.to_string()))
}

/// The keys of each dimension of `def`, from `start` to `end` (excluded).
pub async fn keys_by_dimension(
    ctx: &Context<'_>,
    def: &PartitionsDefinition,
    start: Option<i32>,
    end: Option<i32>,
) -> async_graphql::Result<Vec<DimensionPartitionKeys>> {
    let now = partitions_context(ctx, def).await?;
    let mut found = Vec::new();
    for (name, dimension) in dimensions(def) {
        let keys = dimension
            .keys(&now)
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        let bound = |i: Option<i32>, default: usize| {
            i.and_then(|i| usize::try_from(i).ok())
                .map_or(default, |i| i.min(keys.len()))
        };
        let (from, to) = (bound(start, 0), bound(end, keys.len()));
        found.push(DimensionPartitionKeys {
            name: name.to_owned(),
            partition_keys: keys[from.min(to)..to].to_vec(),
            kind: dimension.into(),
        });
    }
    Ok(found)
}

/// A key was added.
#[derive(SimpleObject, Clone, Debug)]
pub struct AddDynamicPartitionSuccess {
    /// The set.
    pub partitions_def_name: String,
    /// The key added.
    pub partition_key: String,
}

/// The set has the key already.
#[derive(SimpleObject, Clone, Debug)]
pub struct DuplicateDynamicPartitionError {
    /// `Partition {key} already exists in dynamic partitions definition {set}.`
    pub message: String,
    /// The set.
    pub partitions_def_name: String,
    /// The key.
    pub partition_name: String,
}

/// What `addDynamicPartition` returns.
#[derive(Union, Clone, Debug)]
pub enum AddDynamicPartitionResult {
    /// Added.
    AddDynamicPartitionSuccess(AddDynamicPartitionSuccess),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Anything else: an unknown set or location, a bad key, storage.
    PythonError(PythonError),
    /// The set has the key already.
    DuplicateDynamicPartitionError(DuplicateDynamicPartitionError),
}

/// Keys were deleted.
#[derive(SimpleObject, Clone, Debug)]
pub struct DeleteDynamicPartitionsSuccess {
    /// The set.
    pub partitions_def_name: String,
}

/// What `deleteDynamicPartitions` returns.
#[derive(Union, Clone, Debug)]
pub enum DeleteDynamicPartitionsResult {
    /// Deleted (keys the set did not have are ignored).
    DeleteDynamicPartitionsSuccess(DeleteDynamicPartitionsSuccess),
    /// Not allowed.
    UnauthorizedError(UnauthorizedError),
    /// Anything else: an unknown set or location, storage.
    PythonError(PythonError),
    /// Wiping materializations with the delete.
    UnsupportedOperationError(UnsupportedOperationError),
}

/// The dynamic partitions mutations, merged into the `Mutation` root.
#[derive(Default)]
pub struct PartitionMutation;

#[Object]
impl PartitionMutation {
    /// Adds a key to a dynamic partitions set that the location uses.
    async fn add_dynamic_partition(
        &self,
        ctx: &Context<'_>,
        partition_key: String,
        partitions_def_name: String,
        repository_selector: RepositorySelector,
    ) -> AddDynamicPartitionResult {
        let added = service(ctx)
            .add_dynamic_partitions(
                &repository_selector.repository_location_name,
                &partitions_def_name,
                std::slice::from_ref(&partition_key),
            )
            .await;
        match added {
            Ok(()) => {
                AddDynamicPartitionResult::AddDynamicPartitionSuccess(AddDynamicPartitionSuccess {
                    partitions_def_name,
                    partition_key,
                })
            }
            Err(e @ ServiceError::DuplicateDynamicPartition { .. }) => {
                AddDynamicPartitionResult::DuplicateDynamicPartitionError(
                    DuplicateDynamicPartitionError {
                        message: e.to_string(),
                        partitions_def_name,
                        partition_name: partition_key,
                    },
                )
            }
            Err(e) => AddDynamicPartitionResult::PythonError(e.into()),
        }
    }

    /// Deletes keys from a dynamic partitions set that the location uses.
    async fn delete_dynamic_partitions(
        &self,
        ctx: &Context<'_>,
        partition_keys: Vec<String>,
        partitions_def_name: String,
        repository_selector: RepositorySelector,
        wipe_materializations: Option<bool>,
    ) -> DeleteDynamicPartitionsResult {
        if wipe_materializations == Some(true) {
            return DeleteDynamicPartitionsResult::UnsupportedOperationError(
                UnsupportedOperationError {
                    message: "wiping the materializations of deleted partitions is not supported yet; delete the partitions, then wipe the assets".to_owned(),
                },
            );
        }
        let deleted = service(ctx)
            .delete_dynamic_partitions(
                &repository_selector.repository_location_name,
                &partitions_def_name,
                &partition_keys,
            )
            .await;
        match deleted {
            Ok(_) => DeleteDynamicPartitionsResult::DeleteDynamicPartitionsSuccess(
                DeleteDynamicPartitionsSuccess {
                    partitions_def_name,
                },
            ),
            Err(e) => DeleteDynamicPartitionsResult::PythonError(e.into()),
        }
    }
}

/// How a backfill groups an asset's partitions into runs.
#[derive(SimpleObject, Clone, Debug)]
pub struct BackfillPolicy {
    /// At most this many partitions per run; null: all in one run.
    pub max_partitions_per_run: Option<i32>,
    /// In words.
    pub description: String,
    /// Single or multi-run.
    pub policy_type: BackfillPolicyType,
}

/// Dagster's `BackfillPolicyType`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum BackfillPolicyType {
    /// Every partition in one run.
    SingleRun,
    /// Runs of at most `maxPartitionsPerRun` partitions.
    MultiRun,
}

impl From<sluice_core::asset::BackfillPolicy> for BackfillPolicy {
    fn from(policy: sluice_core::asset::BackfillPolicy) -> Self {
        Self {
            max_partitions_per_run: policy
                .max_partitions_per_run
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            description: format!("Backfills {policy}"),
            policy_type: match policy.max_partitions_per_run {
                None => BackfillPolicyType::SingleRun,
                Some(_) => BackfillPolicyType::MultiRun,
            },
        }
    }
}
