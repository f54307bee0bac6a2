//! The GraphQL schema, mirroring Dagster's names, arguments, nullability, unions and
//! interfaces for what Sluice implements.

pub mod assets;
pub mod backfills;
pub mod config;
pub mod errors;
pub mod events;
pub mod inputs;
pub mod instance;
pub mod instigation;
pub mod mutation;
pub mod partition_sets;
pub mod partitions;
pub mod query;
pub mod runs;
pub mod scalars;
pub mod subscription;
pub mod workspace;

use std::sync::Arc;

use async_graphql::Context;

use sluice_service::Error as ServiceError;
use sluice_service::Service;

use crate::limits::{AliasLimit, QueryLimits};

/// The root of all queries: runs, workspace and instigators, and assets.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    query::Query,
    assets::AssetQuery,
    backfills::BackfillQuery,
    partition_sets::PartitionSetQuery,
);

/// The root of all mutations.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mutation::Mutation,
    assets::AssetMutation,
    partitions::PartitionMutation,
    backfills::BackfillMutation,
);

/// The schema type.
pub type SluiceSchema = async_graphql::Schema<QueryRoot, MutationRoot, subscription::Subscription>;

/// Build the schema over `service`, refusing documents over `limits`.
pub fn build_schema(service: Arc<Service>, limits: QueryLimits) -> SluiceSchema {
    builder()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(AliasLimit(limits.max_aliases))
        .extension(crate::access::Authorize)
        .data(service)
        .finish()
}

/// The schema in SDL (GraphQL's schema language).
pub fn sdl() -> String {
    builder().finish().sdl()
}

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, subscription::Subscription> {
    async_graphql::Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        subscription::Subscription,
    )
    // Interfaces that clients name in fragments though no field returns them.
    .register_output_type::<errors::ErrorInterface>()
    .register_output_type::<errors::PipelineRunNotFoundErrorInterface>()
    .register_output_type::<errors::PipelineRunConflictInterface>()
    .register_output_type::<config::PipelineConfigValidationInvalidInterface>()
    .register_output_type::<config::WrappingConfigTypeInterface>()
    .register_output_type::<mutation::LaunchPipelineRunSuccess>()
    .register_output_type::<mutation::TerminatePipelineExecutionSuccess>()
    .register_output_type::<mutation::TerminatePipelineExecutionFailure>()
    .register_output_type::<runs::PipelineRun>()
    .register_output_type::<runs::RunsFeedEntry>()
    .register_output_type::<runs::PipelineRuns>()
    .register_output_type::<runs::PipelineRunStatsSnapshot>()
    .register_output_type::<runs::PipelineRunStepStats>()
    .register_output_type::<events::MessageEvent>()
    .register_output_type::<events::StepEvent>()
    .register_output_type::<events::RunEvent>()
    .register_output_type::<events::ErrorEvent>()
    .register_output_type::<events::MarkerEvent>()
    .register_output_type::<events::DisplayableEvent>()
    .register_output_type::<workspace::SolidContainerInterface>()
    .register_output_type::<workspace::IPipelineSnapshotInterface>()
    .register_output_type::<workspace::WrappingDagsterTypeInterface>()
    .register_output_type::<config::ConfigTypeOrError>()
}

/// The service behind a resolver.
pub(crate) fn service<'a>(ctx: &Context<'a>) -> &'a Service {
    ctx.data_unchecked::<Arc<Service>>()
}

/// A service error as a GraphQL field error (for fields whose type has no error member).
pub(crate) fn py_err(e: ServiceError) -> async_graphql::Error {
    async_graphql::Error::new(e.to_string())
}

/// The runs `filter` selects, newest first, as GraphQL runs (for fields whose type has
/// no error member).
pub(crate) async fn list_runs(
    ctx: &Context<'_>,
    filter: &sluice_storage::RunsFilter,
    cursor: Option<&str>,
    limit: Option<usize>,
) -> async_graphql::Result<Vec<runs::Run>> {
    let query = sluice_service::RunsQuery {
        filter: filter.clone(),
        cursor: cursor.map(str::to_owned),
        limit,
    };
    let runs = service(ctx)
        .runs(&query)
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    Ok(runs.into_iter().map(runs::Run).collect())
}

/// A run, or why there is none.
pub(crate) async fn run_or_error(ctx: &Context<'_>, run_id: &str) -> runs::RunOrError {
    match service(ctx).run(run_id).await {
        Ok(run) => runs::RunOrError::Run(runs::Run(run)),
        Err(ServiceError::RunNotFound(id)) => {
            runs::RunOrError::RunNotFoundError(errors::RunNotFoundError::new(&id))
        }
        Err(e) => runs::RunOrError::PythonError(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_has_dagsters_names_interfaces_and_unions() {
        let sdl = super::sdl();
        for line in [
            "type Run implements PipelineRun & RunsFeedEntry {",
            "assetNodes(group: AssetGroupSelector, pipeline: PipelineSelector, assetKeys: [AssetKeyInput!], loadMaterializations: Boolean = false): [AssetNode!]!",
            "union AssetWipeMutationResult = AssetNotFoundError | UnauthorizedError | PythonError | UnsupportedOperationError | AssetWipeSuccess",
            "union AssetOwner = UserAssetOwner | TeamAssetOwner",
            "type RunNotFoundError implements Error & PipelineRunNotFoundError {",
            "type LaunchRunSuccess implements LaunchPipelineRunSuccess {",
            "type RunConflict implements Error & PipelineRunConflict {",
            "type RunConfigValidationInvalid implements PipelineConfigValidationInvalid {",
            "type MissingFieldConfigError implements PipelineConfigValidationError {",
            "union LaunchRunResult = LaunchRunSuccess | InvalidStepError | InvalidOutputError | RunConfigValidationInvalid | PipelineNotFoundError | RunConflict | UnauthorizedError | PythonError | InvalidSubsetError | PresetNotFoundError | ConflictingExecutionParamsError | NoModeProvidedError",
            "union TerminateRunResult = TerminateRunSuccess | TerminateRunFailure | RunNotFoundError | UnauthorizedError | PythonError",
            "\tpipelineRunOrError(runId: ID!): RunOrError!",
            "\tterminateRun(runId: String!, terminatePolicy: TerminateRunPolicy): TerminateRunResult!",
            "\tterminateRuns(runIds: [String!]!, terminatePolicy: TerminateRunPolicy): TerminateRunsResultOrError!",
            "): PipelineRunLogsSubscriptionPayload!",
            "\tsolidHandle(handleID: String!): SolidHandle",
            "\tsolidHandleID: String",
            "scalar RunConfigData",
            "scalar GenericScalar",
        ] {
            assert!(sdl.contains(line), "missing from the schema: {line}");
        }
    }
}
