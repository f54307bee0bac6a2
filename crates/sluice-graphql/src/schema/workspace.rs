//! The workspace as Dagster shows it: locations, repositories, jobs (`Pipeline`/`Job`),
//! their ops (`Solid`), modes and resources, and the legacy 0.11 location list.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Interface, Object, SimpleObject, Union};
use sluice_codeserver::{Location, LocationState};
use sluice_core::config::ConfigType as CoreType;
use sluice_core::snapshot::{
    IoSnapshot, LocationSnapshot, NodeSnapshot, OpSnapshot, REPOSITORY_NAME,
};

use crate::schema::config::ConfigTypeField;
use crate::schema::errors::{DagsterTypeNotFoundError, PythonError};
use crate::schema::events::MetadataEntryInterface;
use crate::schema::runs::Run;
use crate::schema::{py_err, service};
use sluice_service::config_errors::FieldInfo;
use sluice_service::{FoundJob, RunsQuery, page_limit};

/// A `key: value` pair describing a location or repository.
#[derive(SimpleObject, Clone, Debug)]
pub struct RepositoryMetadata {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

fn location_metadata(location: &Location) -> Vec<RepositoryMetadata> {
    vec![RepositoryMetadata {
        key: "url".to_owned(),
        value: location.client.url().to_owned(),
    }]
}

/// Where a repository comes from.
#[derive(Clone, Debug)]
pub struct RepositoryOrigin {
    /// The location.
    pub location: String,
    /// Its metadata.
    pub metadata: Vec<RepositoryMetadata>,
}

#[Object]
impl RepositoryOrigin {
    pub(crate) async fn id(&self) -> String {
        format!("{}.{REPOSITORY_NAME}", self.location)
    }
    pub(crate) async fn repository_location_name(&self) -> &str {
        &self.location
    }
    pub(crate) async fn repository_name(&self) -> &str {
        REPOSITORY_NAME
    }
    pub(crate) async fn repository_location_metadata(&self) -> &[RepositoryMetadata] {
        &self.metadata
    }
}

/// A library and its version.
#[derive(SimpleObject, Clone, Debug)]
pub struct DagsterLibraryVersion {
    /// The library.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A location whose snapshot is loaded.
#[derive(Clone, Debug)]
pub struct LoadedLocation {
    /// The location.
    pub location: Location,
    /// Its snapshot.
    pub snapshot: Arc<LocationSnapshot>,
}

impl LoadedLocation {
    /// The location if it is loaded.
    pub fn of(location: &Location) -> Option<Self> {
        match &location.state {
            LocationState::Loaded(s) => Some(Self {
                location: location.clone(),
                snapshot: s.clone(),
            }),
            LocationState::Failed(_) => None,
        }
    }

    fn jobs(&self) -> Vec<JobRef> {
        let mut names: Vec<(&str, usize)> = self
            .snapshot
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.name.as_str(), i))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|(_, i)| JobRef::new(self.location.clone(), self.snapshot.clone(), i))
            .collect()
    }
}

/// A loaded code location.
#[derive(Clone, Debug)]
pub struct RepositoryLocation(pub LoadedLocation);

#[Object]
impl RepositoryLocation {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.location.name.clone())
    }
    pub(crate) async fn name(&self) -> &str {
        &self.0.location.name
    }
    pub(crate) async fn is_reload_supported(&self) -> bool {
        true
    }
    pub(crate) async fn environment_path(&self) -> Option<String> {
        None
    }
    pub(crate) async fn repositories(&self) -> Vec<Repository> {
        vec![Repository(self.0.clone())]
    }
    pub(crate) async fn server_id(&self) -> Option<String> {
        Some(self.0.location.client.url().to_owned())
    }
    pub(crate) async fn dagster_library_versions(&self) -> Option<Vec<DagsterLibraryVersion>> {
        Some(vec![DagsterLibraryVersion {
            name: "sluice".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }])
    }
    /// Legacy (Dagster 0.11): always LOADED for a location that has a snapshot.
    pub(crate) async fn load_status(&self) -> RepositoryLocationLoadStatus {
        RepositoryLocationLoadStatus::Loaded
    }
}

/// The one repository of a location (`__repository__`).
#[derive(Clone, Debug)]
pub struct Repository(pub LoadedLocation);

#[Object]
impl Repository {
    pub(crate) async fn id(&self) -> ID {
        ID(format!("{}.{REPOSITORY_NAME}", self.0.location.name))
    }
    pub(crate) async fn name(&self) -> &str {
        REPOSITORY_NAME
    }
    pub(crate) async fn location(&self) -> RepositoryLocation {
        RepositoryLocation(self.0.clone())
    }
    /// The location's jobs, by name.
    pub(crate) async fn pipelines(&self) -> Vec<Pipeline> {
        self.0.jobs().into_iter().map(Pipeline).collect()
    }
    /// The location's jobs, by name.
    pub(crate) async fn jobs(&self) -> Vec<Job> {
        self.0.jobs().into_iter().map(Job).collect()
    }
    /// The location's schedules, by name.
    pub(crate) async fn schedules(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::schema::instigation::Schedule>> {
        let found = crate::schema::service(ctx)
            .instigators(
                &self.0.location.name,
                REPOSITORY_NAME,
                sluice_storage::InstigatorType::Schedule,
            )
            .await
            .map_err(crate::schema::py_err)?;
        Ok(found
            .into_iter()
            .map(|i| crate::schema::instigation::Schedule(Arc::new(i)))
            .collect())
    }
    /// The location's sensors, by name, optionally of one type.
    pub(crate) async fn sensors(
        &self,
        ctx: &Context<'_>,
        sensor_type: Option<crate::schema::instigation::SensorType>,
    ) -> async_graphql::Result<Vec<crate::schema::instigation::Sensor>> {
        use crate::schema::instigation::SensorType;
        let found = crate::schema::service(ctx)
            .instigators(
                &self.0.location.name,
                REPOSITORY_NAME,
                sluice_storage::InstigatorType::Sensor,
            )
            .await
            .map_err(crate::schema::py_err)?;
        Ok(found
            .into_iter()
            .filter(|i| match &i.definition {
                sluice_service::instigators::InstigatorDefinition::Sensor(s) => {
                    sensor_type.is_none_or(|t| t == SensorType::of(s))
                }
                sluice_service::instigators::InstigatorDefinition::Schedule(_) => false,
            })
            .map(|i| crate::schema::instigation::Sensor(Arc::new(i)))
            .collect())
    }
    pub(crate) async fn origin(&self) -> RepositoryOrigin {
        RepositoryOrigin {
            location: self.0.location.name.clone(),
            metadata: location_metadata(&self.0.location),
        }
    }
    pub(crate) async fn asset_manifest(&self) -> Option<crate::schema::scalars::GenericScalar> {
        None
    }
    pub(crate) async fn display_metadata(&self) -> Vec<RepositoryMetadata> {
        location_metadata(&self.0.location)
    }
}

/// A job of a loaded location. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobRef(Arc<JobRefInner>);

#[derive(Debug)]
struct JobRefInner {
    location: Location,
    snapshot: Arc<LocationSnapshot>,
    index: usize,
}

impl JobRef {
    fn new(location: Location, snapshot: Arc<LocationSnapshot>, index: usize) -> Self {
        Self(Arc::new(JobRefInner {
            location,
            snapshot,
            index,
        }))
    }

    /// The job of a lookup.
    pub fn from_found(found: &FoundJob) -> Self {
        let index = found
            .snapshot
            .jobs
            .iter()
            .position(|j| j.name == found.job().name)
            .unwrap_or(0);
        Self::new(found.location.clone(), found.snapshot.clone(), index)
    }

    fn job(&self) -> &sluice_core::snapshot::JobSnapshot {
        &self.0.snapshot.jobs[self.0.index]
    }

    fn node(&self, i: usize) -> &NodeSnapshot {
        &self.job().nodes[i]
    }

    fn node_index(&self, alias: &str) -> Option<usize> {
        self.job().nodes.iter().position(|n| n.alias == alias)
    }

    fn op(&self, name: &str) -> Option<&OpSnapshot> {
        self.job().op(name)
    }

    fn op_of(&self, node: usize) -> Option<&OpSnapshot> {
        self.op(&self.node(node).op_name)
    }

    /// A stable id for the job.
    pub fn id(&self) -> String {
        format!(
            "{}.{REPOSITORY_NAME}.{}",
            self.0.location.name,
            self.job().name
        )
    }

    /// A snapshot id: a hash of the job's snapshot.
    pub fn snapshot_id(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(self.job())
            .unwrap_or_default()
            .hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// Input (or output) `j` of node `i`'s op.
    fn io(&self, i: usize, j: usize, input: bool) -> IoSnapshot {
        self.op_of(i)
            .and_then(|o| {
                if input {
                    o.inputs.get(j)
                } else {
                    o.outputs.get(j)
                }
            })
            .cloned()
            .unwrap_or_else(|| IoSnapshot {
                name: String::new(),
                type_name: "Any".to_owned(),
                fan_in: false,
                is_required: true,
            })
    }

    pub(crate) fn node_count(&self) -> usize {
        self.job().nodes.len()
    }

    pub(crate) fn node_alias(&self, i: usize) -> String {
        self.node(i).alias.clone()
    }

    /// Each declared input of node `i` with the nodes it reads from.
    pub(crate) fn node_input_sources(&self, i: usize) -> Vec<(String, Vec<usize>)> {
        let Some(op) = self.op_of(i) else {
            return Vec::new();
        };
        op.inputs
            .iter()
            .map(|decl| {
                let upstream = self
                    .node(i)
                    .inputs
                    .iter()
                    .filter(|s| s.input == decl.name)
                    .filter_map(|s| self.node_index(&s.node))
                    .collect();
                (decl.name.clone(), upstream)
            })
            .collect()
    }

    pub(crate) fn node_output_names(&self, i: usize) -> Vec<String> {
        self.op_of(i)
            .map(|o| o.outputs.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default()
    }

    fn loaded(&self) -> LoadedLocation {
        LoadedLocation {
            location: self.0.location.clone(),
            snapshot: self.0.snapshot.clone(),
        }
    }

    fn solids(&self) -> Vec<Solid> {
        (0..self.job().nodes.len())
            .map(|i| Solid(self.clone(), i))
            .collect()
    }

    fn modes(&self) -> Vec<Mode> {
        vec![Mode(self.clone())]
    }

    fn tags(&self) -> Vec<PipelineTag> {
        self.job()
            .tags
            .iter()
            .map(|(k, v)| PipelineTag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    }

    fn type_names(&self) -> BTreeSet<String> {
        self.job()
            .ops
            .iter()
            .flat_map(|o| o.inputs.iter().chain(o.outputs.iter()))
            .map(|io| io.type_name.clone())
            .collect()
    }

    fn dagster_types(&self) -> Vec<DagsterTypeInterface> {
        self.type_names()
            .into_iter()
            .map(|name| DagsterTypeInterface::RegularDagsterType(RegularDagsterType(name)))
            .collect()
    }

    fn dagster_type_or_error(&self, name: String) -> DagsterTypeOrError {
        if self.type_names().contains(&name) {
            DagsterTypeOrError::RegularDagsterType(RegularDagsterType(name))
        } else {
            DagsterTypeOrError::DagsterTypeNotFoundError(DagsterTypeNotFoundError {
                message: format!("Type {name} not found in pipeline {}.", self.job().name),
                dagster_type_name: name,
            })
        }
    }

    fn solid_handles(&self, parent: Option<String>) -> Vec<SolidHandle> {
        if parent.is_some() {
            return Vec::new();
        }
        (0..self.job().nodes.len())
            .map(|i| SolidHandle(Solid(self.clone(), i)))
            .collect()
    }

    fn solid_handle(&self, handle_id: &str) -> Option<SolidHandle> {
        self.node_index(handle_id)
            .map(|i| SolidHandle(Solid(self.clone(), i)))
    }

    pub(crate) async fn runs(
        &self,
        ctx: &Context<'_>,
        cursor: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<Run>> {
        let mut query = RunsQuery {
            cursor,
            limit: page_limit(limit)?,
            ..Default::default()
        };
        query.filter.job_name = Some(self.job().name.clone());
        let runs = service(ctx).runs(&query).await.map_err(py_err)?;
        Ok(runs.into_iter().map(Run).collect())
    }
}

macro_rules! pipeline_like {
    // Several objects with the same extra fields (Dagster's `Pipeline` and `Job`).
    ([$($(#[$doc:meta])* $name:ident),+ $(,)?] $extra:tt) => {
        $(pipeline_like!($(#[$doc])* $name $extra);)+
    };
    ($(#[$doc:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub JobRef);

        #[Object]
        impl $name {
            pub(crate) async fn id(&self) -> ID {
                ID(self.0.id())
            }
            pub(crate) async fn name(&self) -> &str {
                &self.0.job().name
            }
            pub(crate) async fn description(&self) -> Option<String> {
                self.0.job().description.clone()
            }
            /// The job's op invocations.
            pub(crate) async fn solids(&self) -> Vec<Solid> {
                self.0.solids()
            }
            pub(crate) async fn solid_handle(&self, #[graphql(name = "handleID")] handle_id: String) -> Option<SolidHandle> {
                self.0.solid_handle(&handle_id)
            }
            pub(crate) async fn solid_handles(&self, #[graphql(name = "parentHandleID")] parent_handle_id: Option<String>) -> Vec<SolidHandle> {
                self.0.solid_handles(parent_handle_id)
            }
            pub(crate) async fn modes(&self) -> Vec<Mode> {
                self.0.modes()
            }
            pub(crate) async fn owners(&self) -> Vec<DefinitionOwner> {
                Vec::new()
            }
            pub(crate) async fn pipeline_snapshot_id(&self) -> String {
                self.0.snapshot_id()
            }
            pub(crate) async fn dagster_types(&self) -> Vec<DagsterTypeInterface> {
                self.0.dagster_types()
            }
            pub(crate) async fn dagster_type_or_error(&self, dagster_type_name: String) -> DagsterTypeOrError {
                self.0.dagster_type_or_error(dagster_type_name)
            }
            pub(crate) async fn tags(&self) -> Vec<PipelineTag> {
                self.0.tags()
            }
            pub(crate) async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
                Vec::new()
            }
            /// The job's runs, newest first.
            #[graphql(complexity = "crate::limits::page_complexity(limit, child_complexity)")]
            pub(crate) async fn runs(&self, ctx: &Context<'_>, cursor: Option<String>, limit: Option<i32>) -> async_graphql::Result<Vec<Run>> {
                self.0.runs(ctx, cursor, limit).await
            }
            pub(crate) async fn parent_snapshot_id(&self) -> Option<String> {
                None
            }
            pub(crate) async fn graph_name(&self) -> &str {
                &self.0.job().name
            }
            pub(crate) async fn run_tags(&self) -> Vec<PipelineTag> {
                Vec::new()
            }
            pub(crate) async fn external_job_source(&self) -> Option<String> {
                None
            }
            $($extra)*
        }
    };
}

pipeline_like!(
    [
        /// A job (Dagster's legacy name for it).
        Pipeline,
        /// A job.
        Job,
    ]
    {
        pub(crate) async fn presets(&self) -> Vec<PipelinePreset> {
            Vec::new()
        }
        pub(crate) async fn is_job(&self) -> bool {
            true
        }
        pub(crate) async fn is_asset_job(&self) -> bool {
            false
        }
        pub(crate) async fn repository(&self) -> Repository {
            Repository(self.0.loaded())
        }
        pub(crate) async fn has_launch_execution_permission(&self, ctx: &Context<'_>) -> bool {
            crate::access::caller(ctx).may(sluice_service::access::Permission::LaunchRun)
        }
        pub(crate) async fn has_launch_reexecution_permission(&self, ctx: &Context<'_>) -> bool {
            crate::access::caller(ctx).may(sluice_service::access::Permission::ReexecuteRun)
        }
        pub(crate) async fn node_names(&self) -> Vec<String> {
            self.0.job().nodes.iter().map(|n| n.alias.clone()).collect()
        }
    }
);

pipeline_like!(
    /// The snapshot of the job a run executes.
    PipelineSnapshot {
        pub(crate) async fn solid_selection(&self) -> Option<Vec<String>> {
            None
        }
    }
);

/// A job, a subset of one, or a graph: something made of ops.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "SolidContainer",
    field(name = "id", ty = "ID"),
    field(name = "name", ty = "String"),
    field(name = "description", ty = "Option<String>"),
    field(name = "solids", ty = "Vec<Solid>"),
    field(
        name = "solid_handle",
        ty = "Option<SolidHandle>",
        arg(name = "handle_i_d", ty = "String")
    ),
    field(
        name = "solid_handles",
        ty = "Vec<SolidHandle>",
        arg(name = "parent_handle_i_d", ty = "Option<String>")
    ),
    field(name = "modes", ty = "Vec<Mode>")
)]
pub enum SolidContainerInterface {
    /// A graph used as an op.
    CompositeSolidDefinition(CompositeSolidDefinition),
    /// A graph.
    Graph(Graph),
    /// A job.
    Pipeline(Pipeline),
    /// A job.
    Job(Job),
    /// A run's job.
    PipelineSnapshot(PipelineSnapshot),
}

/// What every job snapshot has.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "IPipelineSnapshot",
    field(name = "name", ty = "String"),
    field(name = "description", ty = "Option<String>"),
    field(name = "owners", ty = "Vec<DefinitionOwner>"),
    field(name = "pipeline_snapshot_id", ty = "String"),
    field(name = "dagster_types", ty = "Vec<DagsterTypeInterface>"),
    field(
        name = "dagster_type_or_error",
        ty = "DagsterTypeOrError",
        arg(name = "dagster_type_name", ty = "String")
    ),
    field(name = "solids", ty = "Vec<Solid>"),
    field(name = "modes", ty = "Vec<Mode>"),
    field(
        name = "solid_handles",
        ty = "Vec<SolidHandle>",
        arg(name = "parent_handle_i_d", ty = "Option<String>")
    ),
    field(
        name = "solid_handle",
        ty = "Option<SolidHandle>",
        arg(name = "handle_i_d", ty = "String")
    ),
    field(name = "tags", ty = "Vec<PipelineTag>"),
    field(name = "metadata_entries", ty = "Vec<MetadataEntryInterface>"),
    field(
        name = "runs",
        ty = "Vec<Run>",
        arg(name = "cursor", ty = "Option<String>"),
        arg(name = "limit", ty = "Option<i32>")
    ),
    field(name = "parent_snapshot_id", ty = "Option<String>"),
    field(name = "graph_name", ty = "String")
)]
pub enum IPipelineSnapshotInterface {
    /// A job.
    Pipeline(Pipeline),
    /// A job.
    Job(Job),
    /// A run's job.
    PipelineSnapshot(PipelineSnapshot),
}

/// A job that a run refers to but that the workspace does not define (any more).
#[derive(SimpleObject, Clone, Debug)]
pub struct UnknownPipeline {
    /// The job's name.
    #[graphql(owned)]
    pub name: String,
    /// Always null: Sluice runs whole jobs.
    #[graphql(owned)]
    pub solid_selection: Option<Vec<String>>,
}

/// The job of a run: its snapshot, or only its name.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineReference",
    field(name = "name", ty = "String"),
    field(name = "solid_selection", ty = "Option<Vec<String>>")
)]
pub enum PipelineReference {
    /// The job is in the workspace.
    PipelineSnapshot(PipelineSnapshot),
    /// It is not.
    UnknownPipeline(UnknownPipeline),
}

/// An owner of a definition.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserDefinitionOwner {
    /// The owner's email.
    pub email: String,
}

/// A team owning a definition.
#[derive(SimpleObject, Clone, Debug)]
pub struct TeamDefinitionOwner {
    /// The team.
    pub team: String,
}

/// Who owns a definition.
#[derive(Union, Clone, Debug)]
pub enum DefinitionOwner {
    /// A person.
    UserDefinitionOwner(UserDefinitionOwner),
    /// A team.
    TeamDefinitionOwner(TeamDefinitionOwner),
}

/// A tag of a job or run.
#[derive(SimpleObject, Clone, Debug)]
pub struct PipelineTag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A preset (Sluice jobs have none).
#[derive(SimpleObject, Clone, Debug)]
pub struct PipelinePreset {
    /// Name.
    pub name: String,
    /// Op selection.
    pub solid_selection: Option<Vec<String>>,
    /// Run config.
    pub run_config_yaml: String,
    /// Mode.
    pub mode: String,
    /// Tags.
    pub tags: Vec<PipelineTag>,
}

/// The one mode of a job (`default`): its resources.
#[derive(Clone, Debug)]
pub struct Mode(JobRef);

#[Object]
impl Mode {
    pub(crate) async fn id(&self) -> String {
        format!("{}-default", self.0.id())
    }
    pub(crate) async fn name(&self) -> &str {
        "default"
    }
    pub(crate) async fn description(&self) -> Option<String> {
        None
    }
    /// The resources the job's ops need.
    pub(crate) async fn resources(&self) -> Vec<Resource> {
        let needed: BTreeSet<&str> = self
            .0
            .job()
            .ops
            .iter()
            .flat_map(|o| o.required_resource_keys.iter().map(String::as_str))
            .collect();
        needed
            .into_iter()
            .filter_map(|k| self.0.0.snapshot.resource(k))
            .map(|r| Resource {
                name: r.key.clone(),
                description: r.description.clone(),
                config_field: Some(ConfigTypeField(FieldInfo {
                    name: "config".to_owned(),
                    required: r.default_config.is_none()
                        && r.config_schema
                            .as_ref()
                            .is_some_and(CoreType::requires_value),
                    ty: r.config_schema.clone().unwrap_or(CoreType::Any),
                    default: r.default_config.clone(),
                    description: None,
                })),
            })
            .collect()
    }
    pub(crate) async fn loggers(&self) -> Vec<Logger> {
        Vec::new()
    }
}

/// A resource of a mode.
#[derive(SimpleObject, Clone, Debug)]
pub struct Resource {
    /// Its key.
    pub name: String,
    /// What it is.
    pub description: Option<String>,
    /// Its config.
    pub config_field: Option<ConfigTypeField>,
}

/// A logger of a mode (Sluice has none to configure).
#[derive(SimpleObject, Clone, Debug)]
pub struct Logger {
    /// Name.
    pub name: String,
    /// What it is.
    pub description: Option<String>,
    /// Its config.
    pub config_field: Option<ConfigTypeField>,
}

/// An op invocation in a job.
#[derive(Clone, Debug)]
pub struct Solid(JobRef, usize);

#[Object]
impl Solid {
    pub(crate) async fn name(&self) -> &str {
        &self.0.node(self.1).alias
    }
    pub(crate) async fn definition(&self) -> ISolidDefinitionInterface {
        ISolidDefinitionInterface::SolidDefinition(SolidDefinition(
            self.0.clone(),
            self.0.node(self.1).op_name.clone(),
        ))
    }
    pub(crate) async fn inputs(&self) -> Vec<Input> {
        let n = self.0.op_of(self.1).map_or(0, |o| o.inputs.len());
        (0..n).map(|i| Input(self.0.clone(), self.1, i)).collect()
    }
    pub(crate) async fn outputs(&self) -> Vec<Output> {
        let n = self.0.op_of(self.1).map_or(0, |o| o.outputs.len());
        (0..n).map(|i| Output(self.0.clone(), self.1, i)).collect()
    }
    pub(crate) async fn is_dynamic_mapped(&self) -> bool {
        false
    }
}

/// A node's handle.
#[derive(Clone, Debug)]
pub struct SolidHandle(Solid);

#[Object]
impl SolidHandle {
    #[graphql(name = "handleID")]
    pub(crate) async fn handle_id(&self) -> &str {
        &self.0.0.node(self.0.1).alias
    }
    pub(crate) async fn solid(&self) -> Solid {
        self.0.clone()
    }
    pub(crate) async fn parent(&self) -> Option<SolidHandle> {
        None
    }
    /// The step's stats in the job's latest runs (5 unless `limit` says otherwise).
    pub(crate) async fn step_stats(
        &self,
        ctx: &Context<'_>,
        limit: Option<i32>,
    ) -> Option<SolidStepStatsOrError> {
        let job = &self.0.0;
        let alias = job.node_alias(self.0.1);
        let mut query = RunsQuery {
            limit: Some(page_limit(limit).ok()?.unwrap_or(5)),
            ..Default::default()
        };
        query.filter.job_name = Some(job.job().name.clone());
        let unavailable = |e: sluice_service::Error| {
            SolidStepStatsOrError::SolidStepStatusUnavailableError(
                crate::schema::errors::SolidStepStatusUnavailableError {
                    message: e.to_string(),
                },
            )
        };
        let service = service(ctx);
        let runs = match service.runs(&query).await {
            Ok(runs) => runs,
            Err(e) => return Some(unavailable(e)),
        };
        let mut nodes = Vec::new();
        for run in runs {
            let events = match service.run_events(&run.run_id).await {
                Ok(events) => events,
                Err(e) => return Some(unavailable(e)),
            };
            nodes.extend(
                crate::schema::runs::RunStepStats::of(&run.run_id, &events)
                    .into_iter()
                    .filter(|s| s.step_key == alias),
            );
        }
        Some(SolidStepStatsOrError::SolidStepStatsConnection(
            SolidStepStatsConnection { nodes },
        ))
    }
}

/// A `key: value` metadata item of an op.
#[derive(SimpleObject, Clone, Debug)]
pub struct MetadataItemDefinition {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A resource an op needs.
#[derive(SimpleObject, Clone, Debug)]
pub struct ResourceRequirement {
    /// Its key.
    pub resource_key: String,
}

fn io_type(io: &IoSnapshot) -> DagsterTypeInterface {
    let inner = RegularDagsterType(io.type_name.clone());
    if io.fan_in {
        DagsterTypeInterface::ListDagsterType(ListDagsterType(inner))
    } else {
        DagsterTypeInterface::RegularDagsterType(inner)
    }
}

/// An op.
#[derive(Clone, Debug)]
pub struct SolidDefinition(JobRef, String);

impl SolidDefinition {
    fn op(&self) -> Option<&OpSnapshot> {
        self.0.op(&self.1)
    }
}

#[Object]
impl SolidDefinition {
    pub(crate) async fn name(&self) -> &str {
        &self.1
    }
    pub(crate) async fn description(&self) -> Option<String> {
        self.op().and_then(|o| o.description.clone())
    }
    pub(crate) async fn metadata(&self) -> Vec<MetadataItemDefinition> {
        self.op()
            .map(|o| {
                o.tags
                    .iter()
                    .map(|(k, v)| MetadataItemDefinition {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    pub(crate) async fn input_definitions(&self) -> Vec<InputDefinition> {
        self.op()
            .map(|o| o.inputs.iter().cloned().map(InputDefinition).collect())
            .unwrap_or_default()
    }
    pub(crate) async fn output_definitions(&self) -> Vec<OutputDefinition> {
        self.op()
            .map(|o| o.outputs.iter().cloned().map(OutputDefinition).collect())
            .unwrap_or_default()
    }
    pub(crate) async fn pools(&self) -> Vec<String> {
        Vec::new()
    }
    pub(crate) async fn config_field(&self) -> Option<ConfigTypeField> {
        let schema = self.op()?.config_schema.clone()?;
        Some(ConfigTypeField(FieldInfo {
            name: "config".to_owned(),
            required: schema.requires_value(),
            ty: schema,
            default: None,
            description: None,
        }))
    }
    pub(crate) async fn required_resources(&self) -> Vec<ResourceRequirement> {
        self.op()
            .map(|o| {
                o.required_resource_keys
                    .iter()
                    .map(|k| ResourceRequirement {
                        resource_key: k.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    pub(crate) async fn pool(&self) -> Option<String> {
        None
    }
}

/// What every op definition has.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "ISolidDefinition",
    field(name = "name", ty = "String"),
    field(name = "description", ty = "Option<String>"),
    field(name = "metadata", ty = "Vec<MetadataItemDefinition>"),
    field(name = "input_definitions", ty = "Vec<InputDefinition>"),
    field(name = "output_definitions", ty = "Vec<OutputDefinition>"),
    field(name = "pools", ty = "Vec<String>")
)]
pub enum ISolidDefinitionInterface {
    /// An op.
    SolidDefinition(SolidDefinition),
    /// A graph used as an op.
    CompositeSolidDefinition(CompositeSolidDefinition),
}

/// A graph used as an op. Sluice jobs are flat graphs of ops, so no field returns one;
/// the type is here because Dagster's clients name it in fragments.
#[derive(Clone, Debug)]
pub struct CompositeSolidDefinition(JobRef);

#[Object]
impl CompositeSolidDefinition {
    pub(crate) async fn name(&self) -> String {
        self.0.job().name.clone()
    }
    pub(crate) async fn description(&self) -> Option<String> {
        self.0.job().description.clone()
    }
    pub(crate) async fn metadata(&self) -> Vec<MetadataItemDefinition> {
        Vec::new()
    }
    pub(crate) async fn input_definitions(&self) -> Vec<InputDefinition> {
        Vec::new()
    }
    pub(crate) async fn output_definitions(&self) -> Vec<OutputDefinition> {
        Vec::new()
    }
    pub(crate) async fn pools(&self) -> Vec<String> {
        Vec::new()
    }
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id())
    }
    pub(crate) async fn solids(&self) -> Vec<Solid> {
        self.0.solids()
    }
    pub(crate) async fn solid_handle(
        &self,
        #[graphql(name = "handleID")] handle_id: String,
    ) -> Option<SolidHandle> {
        self.0.solid_handle(&handle_id)
    }
    pub(crate) async fn solid_handles(
        &self,
        #[graphql(name = "parentHandleID")] parent_handle_id: Option<String>,
    ) -> Vec<SolidHandle> {
        self.0.solid_handles(parent_handle_id)
    }
    pub(crate) async fn modes(&self) -> Vec<Mode> {
        self.0.modes()
    }
    pub(crate) async fn input_mappings(&self) -> Vec<InputMapping> {
        Vec::new()
    }
    pub(crate) async fn output_mappings(&self) -> Vec<OutputMapping> {
        Vec::new()
    }
}

/// A graph. No field returns one in Sluice; kept for Dagster's schema.
#[derive(Clone, Debug)]
pub struct Graph(JobRef);

#[Object]
impl Graph {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id())
    }
    pub(crate) async fn name(&self) -> String {
        self.0.job().name.clone()
    }
    pub(crate) async fn description(&self) -> Option<String> {
        self.0.job().description.clone()
    }
    pub(crate) async fn solids(&self) -> Vec<Solid> {
        self.0.solids()
    }
    pub(crate) async fn solid_handle(
        &self,
        #[graphql(name = "handleID")] handle_id: String,
    ) -> Option<SolidHandle> {
        self.0.solid_handle(&handle_id)
    }
    pub(crate) async fn solid_handles(
        &self,
        #[graphql(name = "parentHandleID")] parent_handle_id: Option<String>,
    ) -> Vec<SolidHandle> {
        self.0.solid_handles(parent_handle_id)
    }
    pub(crate) async fn modes(&self) -> Vec<Mode> {
        self.0.modes()
    }
}

/// An input of a graph mapped to an input inside it.
#[derive(SimpleObject, Clone, Debug)]
pub struct InputMapping {
    /// The inner input.
    pub mapped_input: Input,
    /// The graph's input.
    pub definition: InputDefinition,
}

/// An output of a graph mapped from an output inside it.
#[derive(SimpleObject, Clone, Debug)]
pub struct OutputMapping {
    /// The inner output.
    pub mapped_output: Output,
    /// The graph's output.
    pub definition: OutputDefinition,
}

/// Step stats of one node across recent runs, or why there are none.
#[derive(Union, Clone, Debug)]
pub enum SolidStepStatsOrError {
    /// The stats.
    SolidStepStatsConnection(SolidStepStatsConnection),
    /// Not available.
    SolidStepStatusUnavailableError(crate::schema::errors::SolidStepStatusUnavailableError),
}

/// Step stats of one node, newest run first.
#[derive(SimpleObject, Clone, Debug)]
pub struct SolidStepStatsConnection {
    /// One per run that ran the step.
    pub nodes: Vec<crate::schema::runs::RunStepStats>,
}

/// An input an op declares.
#[derive(Clone, Debug)]
pub struct InputDefinition(IoSnapshot);

#[Object]
impl InputDefinition {
    pub(crate) async fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) async fn description(&self) -> Option<String> {
        None
    }
    #[graphql(name = "type")]
    pub(crate) async fn ty(&self) -> DagsterTypeInterface {
        io_type(&self.0)
    }
    pub(crate) async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
        Vec::new()
    }
}

/// An output an op declares.
#[derive(Clone, Debug)]
pub struct OutputDefinition(IoSnapshot);

#[Object]
impl OutputDefinition {
    pub(crate) async fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) async fn description(&self) -> Option<String> {
        None
    }
    pub(crate) async fn is_dynamic(&self) -> Option<bool> {
        Some(false)
    }
    #[graphql(name = "type")]
    pub(crate) async fn ty(&self) -> DagsterTypeInterface {
        io_type(&self.0)
    }
    pub(crate) async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
        Vec::new()
    }
}

/// An input of a node, with the outputs it reads.
#[derive(Clone, Debug)]
pub struct Input(JobRef, usize, usize);

#[Object]
impl Input {
    pub(crate) async fn solid(&self) -> Solid {
        Solid(self.0.clone(), self.1)
    }
    pub(crate) async fn definition(&self) -> InputDefinition {
        InputDefinition(self.0.io(self.1, self.2, true))
    }
    pub(crate) async fn depends_on(&self) -> Vec<Output> {
        let Some(input) = self.0.op_of(self.1).and_then(|o| o.inputs.get(self.2)) else {
            return Vec::new();
        };
        self.0
            .node(self.1)
            .inputs
            .iter()
            .filter(|s| s.input == input.name)
            .filter_map(|s| {
                let upstream = self.0.node_index(&s.node)?;
                let out = self
                    .0
                    .op_of(upstream)?
                    .outputs
                    .iter()
                    .position(|o| o.name == s.output)?;
                Some(Output(self.0.clone(), upstream, out))
            })
            .collect()
    }
    pub(crate) async fn is_dynamic_collect(&self) -> bool {
        false
    }
}

/// An output of a node, with the inputs that read it.
#[derive(Clone, Debug)]
pub struct Output(JobRef, usize, usize);

#[Object]
impl Output {
    pub(crate) async fn solid(&self) -> Solid {
        Solid(self.0.clone(), self.1)
    }
    pub(crate) async fn definition(&self) -> OutputDefinition {
        OutputDefinition(self.0.io(self.1, self.2, false))
    }
    pub(crate) async fn depended_by(&self) -> Vec<Input> {
        let Some(output) = self.0.op_of(self.1).and_then(|o| o.outputs.get(self.2)) else {
            return Vec::new();
        };
        let alias = &self.0.node(self.1).alias;
        let mut inputs = Vec::new();
        for (i, node) in self.0.job().nodes.iter().enumerate() {
            let Some(op) = self.0.op_of(i) else { continue };
            for (j, decl) in op.inputs.iter().enumerate() {
                if node
                    .inputs
                    .iter()
                    .any(|s| s.input == decl.name && &s.node == alias && s.output == output.name)
                {
                    inputs.push(Input(self.0.clone(), i, j));
                }
            }
        }
        inputs
    }
}

/// The resolvers every kind of `DagsterType` shares; each kind says whether it is
/// nullable or a list and adds its own (`innerTypes`, `ofType`).
macro_rules! dagster_type_object {
    ($name:ident { is_nullable: $nullable:expr, is_list: $list:expr, $($extra:tt)* }) => {
        #[Object]
        impl $name {
            pub(crate) async fn key(&self) -> String {
                self.display()
            }
            pub(crate) async fn name(&self) -> Option<String> {
                Some(self.display())
            }
            pub(crate) async fn display_name(&self) -> String {
                self.display()
            }
            pub(crate) async fn description(&self) -> Option<String> {
                None
            }
            pub(crate) async fn is_builtin(&self) -> bool {
                false
            }
            pub(crate) async fn is_nothing(&self) -> bool {
                false
            }
            pub(crate) async fn input_schema_type(
                &self,
            ) -> Option<crate::schema::config::ConfigTypeInterface> {
                None
            }
            pub(crate) async fn output_schema_type(
                &self,
            ) -> Option<crate::schema::config::ConfigTypeInterface> {
                None
            }
            pub(crate) async fn metadata_entries(&self) -> Vec<MetadataEntryInterface> {
                Vec::new()
            }
            pub(crate) async fn is_nullable(&self) -> bool {
                $nullable
            }
            pub(crate) async fn is_list(&self) -> bool {
                $list
            }
            $($extra)*
        }
    };
}

/// A Rust type of an input or output.
#[derive(Clone, Debug)]
pub struct RegularDagsterType(String);

impl RegularDagsterType {
    fn display(&self) -> String {
        self.0.clone()
    }
}

dagster_type_object!(RegularDagsterType {
    is_nullable: false,
    is_list: false,
    pub(crate) async fn inner_types(&self) -> Vec<DagsterTypeInterface> {
        Vec::new()
    }
});

/// A list of a type (a fan-in input).
#[derive(Clone, Debug)]
pub struct ListDagsterType(RegularDagsterType);

impl ListDagsterType {
    fn display(&self) -> String {
        format!("[{}]", self.0.0)
    }
}

dagster_type_object!(ListDagsterType {
    is_nullable: false,
    is_list: true,
    pub(crate) async fn inner_types(&self) -> Vec<DagsterTypeInterface> {
        vec![DagsterTypeInterface::RegularDagsterType(self.0.clone())]
    }
    pub(crate) async fn of_type(&self) -> DagsterTypeInterface {
        DagsterTypeInterface::RegularDagsterType(self.0.clone())
    }
});

/// An optional type.
#[derive(Clone, Debug)]
pub struct NullableDagsterType(RegularDagsterType);

impl NullableDagsterType {
    fn display(&self) -> String {
        format!("{}?", self.0.0)
    }
}

dagster_type_object!(NullableDagsterType {
    is_nullable: true,
    is_list: false,
    pub(crate) async fn inner_types(&self) -> Vec<DagsterTypeInterface> {
        vec![DagsterTypeInterface::RegularDagsterType(self.0.clone())]
    }
    pub(crate) async fn of_type(&self) -> DagsterTypeInterface {
        DagsterTypeInterface::RegularDagsterType(self.0.clone())
    }
});

/// The type of an input or output.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "DagsterType",
    field(name = "key", ty = "String"),
    field(name = "name", ty = "Option<String>"),
    field(name = "display_name", ty = "String"),
    field(name = "description", ty = "Option<String>"),
    field(name = "is_nullable", ty = "bool"),
    field(name = "is_list", ty = "bool"),
    field(name = "is_builtin", ty = "bool"),
    field(name = "is_nothing", ty = "bool"),
    field(
        name = "input_schema_type",
        ty = "Option<crate::schema::config::ConfigTypeInterface>"
    ),
    field(
        name = "output_schema_type",
        ty = "Option<crate::schema::config::ConfigTypeInterface>"
    ),
    field(name = "inner_types", ty = "Vec<DagsterTypeInterface>"),
    field(name = "metadata_entries", ty = "Vec<MetadataEntryInterface>")
)]
pub enum DagsterTypeInterface {
    /// A plain type.
    RegularDagsterType(RegularDagsterType),
    /// A list.
    ListDagsterType(ListDagsterType),
    /// An optional.
    NullableDagsterType(NullableDagsterType),
}

/// A type that wraps another.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "WrappingDagsterType",
    field(name = "of_type", ty = "DagsterTypeInterface")
)]
pub enum WrappingDagsterTypeInterface {
    /// A list.
    ListDagsterType(ListDagsterType),
    /// An optional.
    NullableDagsterType(NullableDagsterType),
}

/// A type, or why there is none.
#[derive(Union, Clone, Debug)]
pub enum DagsterTypeOrError {
    /// The type.
    RegularDagsterType(RegularDagsterType),
    /// Unknown job.
    PipelineNotFoundError(crate::schema::errors::PipelineNotFoundError),
    /// Unknown type.
    DagsterTypeNotFoundError(DagsterTypeNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// An op or asset selection that cannot be honoured.
#[derive(Clone, Debug)]
pub struct InvalidSubsetError {
    /// Why.
    pub message: String,
    /// The job.
    pub pipeline: JobRef,
}

#[Object]
impl InvalidSubsetError {
    pub(crate) async fn message(&self) -> &str {
        &self.message
    }
    pub(crate) async fn pipeline(&self) -> Pipeline {
        Pipeline(self.pipeline.clone())
    }
}

/// A config type the job does not have.
#[derive(Clone, Debug)]
pub struct ConfigTypeNotFoundError {
    /// Why.
    pub message: String,
    /// The job.
    pub pipeline: JobRef,
    /// The type asked for.
    pub config_type_name: String,
}

#[Object]
impl ConfigTypeNotFoundError {
    pub(crate) async fn message(&self) -> &str {
        &self.message
    }
    pub(crate) async fn pipeline(&self) -> Pipeline {
        Pipeline(self.pipeline.clone())
    }
    pub(crate) async fn config_type_name(&self) -> &str {
        &self.config_type_name
    }
}

/// Whether a location has been loaded.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RepositoryLocationLoadStatus {
    /// Loading.
    Loading,
    /// Loaded (successfully or not).
    Loaded,
}

/// Where a location's definitions come from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DefinitionsSource {
    /// A code server.
    CodeServer,
    /// A connection.
    Connection,
}

/// A permission of the caller.
#[derive(SimpleObject, Clone, Debug)]
pub struct Permission {
    /// The permission.
    pub permission: String,
    /// Whether granted.
    pub value: bool,
    /// Why not.
    pub disabled_reason: Option<String>,
}

/// The caller's permissions, in Dagster's shape.
pub(crate) fn permissions(caller: &sluice_service::access::Caller) -> Vec<Permission> {
    sluice_service::access::Permission::ALL
        .into_iter()
        .map(|p| {
            let (value, disabled_reason) = crate::access::granted(caller, p);
            Permission {
                permission: p.name().to_owned(),
                value,
                disabled_reason,
            }
        })
        .collect()
}

/// A feature flag of a location.
#[derive(SimpleObject, Clone, Debug)]
pub struct FeatureFlag {
    /// The flag.
    pub name: String,
    /// Whether on.
    pub enabled: bool,
}

/// State of definitions (Sluice keeps none).
#[derive(SimpleObject, Clone, Debug)]
pub struct DefsStateInfo {
    /// Entries.
    pub key_state_info: Vec<DefsStateInfoEntry>,
}

/// One entry of [`DefsStateInfo`].
#[derive(SimpleObject, Clone, Debug)]
pub struct DefsStateInfoEntry {
    /// Name.
    pub name: String,
    /// Info.
    pub info: Option<DefsKeyStateInfo>,
}

/// The state of one key.
#[derive(SimpleObject, Clone, Debug)]
pub struct DefsKeyStateInfo {
    /// Version.
    pub version: String,
    /// When created.
    pub create_timestamp: f64,
    /// How managed.
    pub management_type: DefsStateManagementType,
}

/// How definitions state is managed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DefsStateManagementType {
    /// Versioned state storage.
    VersionedStateStorage,
    /// Local files.
    LocalFilesystem,
    /// Legacy snapshots.
    LegacyCodeServerSnapshots,
}

/// A location, or why it could not be loaded.
#[derive(Union, Clone, Debug)]
pub enum RepositoryLocationOrLoadError {
    /// Loaded.
    RepositoryLocation(RepositoryLocation),
    /// Its load error.
    PythonError(PythonError),
}

/// A location's load error, as Dagster reports user code that fails to load.
/// A location that loaded, but whose newer version did not, reports that version's
/// error (the last version that loaded still serves runs and the daemon meanwhile).
pub fn load_error(location: &Location) -> Option<PythonError> {
    let message = location.load_error()?;
    Some(match &location.state {
        LocationState::Failed(_) => PythonError::new(
            "DagsterUserCodeUnreachableError",
            format!(
                "Could not load code location \"{}\": {message}",
                location.name
            ),
        ),
        LocationState::Loaded(_) => PythonError::new(
            "DagsterUserCodeLoadError",
            format!(
                "The latest code of location \"{}\" did not load; the last version that loaded still serves: {message}",
                location.name
            ),
        ),
    })
}

/// A location of the workspace.
#[derive(Clone, Debug)]
pub struct WorkspaceLocationEntry(pub Location);

#[Object]
impl WorkspaceLocationEntry {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.name.clone())
    }
    pub(crate) async fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) async fn location_or_load_error(&self) -> Option<RepositoryLocationOrLoadError> {
        if let Some(error) = load_error(&self.0) {
            return Some(RepositoryLocationOrLoadError::PythonError(error));
        }
        Some(match LoadedLocation::of(&self.0) {
            Some(loaded) => {
                RepositoryLocationOrLoadError::RepositoryLocation(RepositoryLocation(loaded))
            }
            None => {
                RepositoryLocationOrLoadError::PythonError(PythonError::new("Error", "not loaded"))
            }
        })
    }
    pub(crate) async fn load_status(&self) -> RepositoryLocationLoadStatus {
        RepositoryLocationLoadStatus::Loaded
    }
    pub(crate) async fn display_metadata(&self) -> Vec<RepositoryMetadata> {
        location_metadata(&self.0)
    }
    pub(crate) async fn updated_timestamp(&self) -> f64 {
        self.0.updated_at
    }
    pub(crate) async fn version_key(&self) -> String {
        format!("{}", self.0.updated_at)
    }
    pub(crate) async fn defs_state_info(&self) -> Option<DefsStateInfo> {
        None
    }
    pub(crate) async fn permissions(&self, ctx: &Context<'_>) -> Vec<Permission> {
        permissions(&crate::access::caller(ctx))
    }
    pub(crate) async fn feature_flags(&self) -> Vec<FeatureFlag> {
        Vec::new()
    }
    pub(crate) async fn definitions_source(&self) -> DefinitionsSource {
        DefinitionsSource::CodeServer
    }
}

/// The workspace: every location.
#[derive(Clone, Debug)]
pub struct Workspace(pub Vec<Location>);

#[Object]
impl Workspace {
    pub(crate) async fn id(&self) -> &str {
        "Workspace"
    }
    pub(crate) async fn location_entries(&self) -> Vec<WorkspaceLocationEntry> {
        self.0.iter().cloned().map(WorkspaceLocationEntry).collect()
    }
}

/// A location's load status.
#[derive(Clone, Debug)]
pub struct WorkspaceLocationStatusEntry(pub Location);

#[Object]
impl WorkspaceLocationStatusEntry {
    pub(crate) async fn id(&self) -> ID {
        ID(format!("location_status:{}", self.0.name))
    }
    pub(crate) async fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) async fn load_status(&self) -> RepositoryLocationLoadStatus {
        RepositoryLocationLoadStatus::Loaded
    }
    pub(crate) async fn update_timestamp(&self) -> f64 {
        self.0.updated_at
    }
    pub(crate) async fn version_key(&self) -> String {
        format!("{}", self.0.updated_at)
    }
    pub(crate) async fn permissions(&self, ctx: &Context<'_>) -> Vec<Permission> {
        permissions(&crate::access::caller(ctx))
    }
}

/// Every location's load status.
#[derive(SimpleObject, Clone, Debug)]
pub struct WorkspaceLocationStatusEntries {
    /// One per location.
    pub entries: Vec<WorkspaceLocationStatusEntry>,
}

/// Legacy (Dagster 0.11): a location that failed to load.
#[derive(Clone, Debug)]
pub struct RepositoryLocationLoadFailure(pub Location);

#[Object]
impl RepositoryLocationLoadFailure {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.name.clone())
    }
    pub(crate) async fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) async fn error(&self) -> PythonError {
        load_error(&self.0).unwrap_or_else(|| PythonError::new("Error", "not loaded"))
    }
    pub(crate) async fn load_status(&self) -> RepositoryLocationLoadStatus {
        RepositoryLocationLoadStatus::Loaded
    }
}

/// Legacy (Dagster 0.11): a location that is loading.
#[derive(SimpleObject, Clone, Debug)]
pub struct RepositoryLocationLoading {
    /// Its name.
    pub id: ID,
    /// Its name.
    pub name: String,
}

/// Legacy (Dagster 0.11): a location or its load failure.
#[derive(Union, Clone, Debug)]
pub enum RepositoryLocationOrLoadFailure {
    /// Loaded.
    RepositoryLocation(RepositoryLocation),
    /// Failed.
    RepositoryLocationLoadFailure(RepositoryLocationLoadFailure),
    /// Loading.
    RepositoryLocationLoading(RepositoryLocationLoading),
}

/// Legacy (Dagster 0.11): every location.
#[derive(SimpleObject, Clone, Debug)]
pub struct RepositoryLocationConnection {
    /// One per location.
    pub nodes: Vec<RepositoryLocationOrLoadFailure>,
}

impl RepositoryLocationConnection {
    /// The legacy list of `locations`.
    pub fn new(locations: &[Location]) -> Self {
        Self {
            nodes: locations
                .iter()
                .map(|l| match LoadedLocation::of(l) {
                    Some(loaded) if l.load_error().is_none() => {
                        RepositoryLocationOrLoadFailure::RepositoryLocation(RepositoryLocation(
                            loaded,
                        ))
                    }
                    _ => RepositoryLocationOrLoadFailure::RepositoryLocationLoadFailure(
                        RepositoryLocationLoadFailure(l.clone()),
                    ),
                })
                .collect(),
        }
    }
}
