//! Config types (what a launchpad shows), run config schemas and validation results.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use async_graphql::{Context, Enum, Interface, Object, SimpleObject, Union};
use sluice_core::config::{ConfigType as CoreType, PathSegment};

use crate::schema::errors::{PipelineNotFoundError, PythonError};
use crate::schema::scalars::{GenericScalar, RunConfigData};
use crate::schema::service;
use crate::schema::workspace::InvalidSubsetError;
use sluice_service::Error as ServiceError;
use sluice_service::config_errors::{
    ConfigErrorDetail, ConfigErrorView, EvaluationReason, FieldInfo,
};
use sluice_service::{FoundJob, parse_run_config, run_config_yaml};

fn short_hash(ty: &CoreType) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(ty).unwrap_or_default().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The alternatives of a one-of type that is a selector: each a shape with one field.
fn selector_fields(
    alternatives: &[CoreType],
) -> Option<BTreeMap<String, sluice_core::config::ConfigField>> {
    let mut fields = BTreeMap::new();
    for alt in alternatives {
        match alt {
            CoreType::Shape { fields: f, .. } if f.len() == 1 => {
                let (name, field) = f.iter().next()?;
                let mut field = field.clone();
                field.required = false;
                fields.insert(name.clone(), field);
            }
            _ => return None,
        }
    }
    Some(fields)
}

/// Dagster's key of a config type: `Int`, `Shape.<hash>`, `Array.<inner>`, ...
pub fn type_key(ty: &CoreType) -> String {
    match ty {
        CoreType::Any => "Any".to_owned(),
        CoreType::Bool => "Bool".to_owned(),
        CoreType::Int => "Int".to_owned(),
        CoreType::Float => "Float".to_owned(),
        CoreType::String => "String".to_owned(),
        CoreType::Enum { .. } => format!("Enum.{}", short_hash(ty)),
        CoreType::Array { items } => format!("Array.{}", type_key(items)),
        CoreType::Noneable { inner } => format!("Noneable.{}", type_key(inner)),
        CoreType::Shape {
            permissive: true, ..
        } => format!("Permissive.{}", short_hash(ty)),
        CoreType::Shape { .. } => format!("Shape.{}", short_hash(ty)),
        CoreType::Map { values } => format!("Map.String.{}", type_key(values)),
        CoreType::OneOf { alternatives } if selector_fields(alternatives).is_some() => {
            format!("Selector.{}", short_hash(ty))
        }
        CoreType::OneOf { .. } => format!("OneOf.{}", short_hash(ty)),
    }
}

/// The types directly inside `ty`.
fn children(ty: &CoreType) -> Vec<CoreType> {
    match ty {
        CoreType::Array { items } => vec![(**items).clone()],
        CoreType::Noneable { inner } => vec![(**inner).clone()],
        CoreType::Map { values } => vec![CoreType::String, (**values).clone()],
        CoreType::Shape { fields, .. } => fields.values().map(|f| f.ty.clone()).collect(),
        CoreType::OneOf { alternatives } => match selector_fields(alternatives) {
            Some(fields) => fields.into_values().map(|f| f.ty).collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Every type inside `ty` (not `ty` itself), each once, by key.
fn recursive_types(ty: &CoreType) -> Vec<CoreType> {
    let mut seen = BTreeMap::new();
    let mut stack = children(ty);
    while let Some(t) = stack.pop() {
        let key = type_key(&t);
        if seen.contains_key(&key) {
            continue;
        }
        stack.extend(children(&t));
        seen.insert(key, t);
    }
    seen.into_values().collect()
}

/// A config type as a GraphQL value of the `ConfigType` interface.
pub fn config_type(ty: &CoreType) -> ConfigTypeInterface {
    let data = TypeData {
        ty: ty.clone(),
        key: type_key(ty),
    };
    match ty {
        CoreType::Any | CoreType::Bool | CoreType::Int | CoreType::Float | CoreType::String => {
            ConfigTypeInterface::RegularConfigType(RegularConfigType(data))
        }
        CoreType::Enum { .. } => ConfigTypeInterface::EnumConfigType(EnumConfigType(data)),
        CoreType::Array { .. } => ConfigTypeInterface::ArrayConfigType(ArrayConfigType(data)),
        CoreType::Noneable { .. } => {
            ConfigTypeInterface::NullableConfigType(NullableConfigType(data))
        }
        CoreType::Shape { .. } => {
            ConfigTypeInterface::CompositeConfigType(CompositeConfigType(data))
        }
        CoreType::Map { .. } => ConfigTypeInterface::MapConfigType(MapConfigType(data)),
        CoreType::OneOf { alternatives } if selector_fields(alternatives).is_some() => {
            ConfigTypeInterface::CompositeConfigType(CompositeConfigType(data))
        }
        CoreType::OneOf { .. } => ConfigTypeInterface::RegularConfigType(RegularConfigType(data)),
    }
}

/// Every type of a schema, the root included, each once.
pub fn all_config_types(root: &CoreType) -> Vec<ConfigTypeInterface> {
    let mut types = vec![config_type(root)];
    types.extend(recursive_types(root).iter().map(config_type));
    types
}

#[derive(Clone, Debug)]
struct TypeData {
    ty: CoreType,
    key: String,
}

macro_rules! config_type_object {
    ($(#[$doc:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(TypeData);

        #[Object]
        impl $name {
            pub(crate) async fn key(&self) -> String {
                self.0.key.clone()
            }
            pub(crate) async fn description(&self) -> Option<String> {
                None
            }
            /// Every type inside this one.
            pub(crate) async fn recursive_config_types(&self) -> Vec<ConfigTypeInterface> {
                recursive_types(&self.0.ty).iter().map(config_type).collect()
            }
            /// The keys of the type parameters of a generic type (list, optional, map).
            pub(crate) async fn type_param_keys(&self) -> Vec<String> {
                match &self.0.ty {
                    CoreType::Array { items } => vec![type_key(items)],
                    CoreType::Noneable { inner } => vec![type_key(inner)],
                    CoreType::Map { values } => vec!["String".to_owned(), type_key(values)],
                    _ => Vec::new(),
                }
            }
            pub(crate) async fn is_selector(&self) -> bool {
                matches!(&self.0.ty, CoreType::OneOf { .. })
            }
            $($extra)*
        }
    };
}

config_type_object!(
    /// A list of one type.
    ArrayConfigType {
        pub(crate) async fn of_type(&self) -> ConfigTypeInterface {
            match &self.0.ty {
                CoreType::Array { items } => config_type(items),
                other => config_type(other),
            }
        }
    }
);

config_type_object!(
    /// A type or null.
    NullableConfigType {
        pub(crate) async fn of_type(&self) -> ConfigTypeInterface {
            match &self.0.ty {
                CoreType::Noneable { inner } => config_type(inner),
                other => config_type(other),
            }
        }
    }
);

config_type_object!(
    /// An object with declared fields (or a selector: exactly one of its fields).
    CompositeConfigType {
        pub(crate) async fn fields(&self) -> Vec<ConfigTypeField> {
            let fields = match &self.0.ty {
                CoreType::Shape { fields, .. } => fields.clone(),
                CoreType::OneOf { alternatives } => selector_fields(alternatives).unwrap_or_default(),
                _ => BTreeMap::new(),
            };
            fields
                .into_iter()
                .map(|(name, f)| ConfigTypeField(FieldInfo {
                    name,
                    ty: f.ty,
                    required: f.required,
                    default: f.default,
                    description: f.description,
                }))
                .collect()
        }
    }
);

config_type_object!(
    /// One of a fixed set of strings.
    EnumConfigType {
        pub(crate) async fn values(&self) -> Vec<EnumConfigValue> {
            match &self.0.ty {
                CoreType::Enum { values } => values
                    .iter()
                    .map(|v| EnumConfigValue { value: v.clone(), description: None })
                    .collect(),
                _ => Vec::new(),
            }
        }
        pub(crate) async fn given_name(&self) -> String {
            self.0.key.clone()
        }
    }
);

config_type_object!(
    /// A scalar (`Int`, `String`, ...) or `Any`.
    RegularConfigType {
        pub(crate) async fn given_name(&self) -> String {
            match &self.0.ty {
                CoreType::OneOf { .. } => "Any".to_owned(),
                _ => self.0.key.clone(),
            }
        }
    }
);

config_type_object!(
    /// A scalar or an object (Sluice has none; kept for Dagster's schema).
    ScalarUnionConfigType {
        pub(crate) async fn scalar_type(&self) -> ConfigTypeInterface {
            config_type(&CoreType::Any)
        }
        pub(crate) async fn non_scalar_type(&self) -> ConfigTypeInterface {
            config_type(&CoreType::Any)
        }
        pub(crate) async fn scalar_type_key(&self) -> String {
            "Any".to_owned()
        }
        pub(crate) async fn non_scalar_type_key(&self) -> String {
            "Any".to_owned()
        }
    }
);

config_type_object!(
    /// An object with any string keys and values of one type.
    MapConfigType {
        pub(crate) async fn key_type(&self) -> ConfigTypeInterface {
            config_type(&CoreType::String)
        }
        pub(crate) async fn value_type(&self) -> ConfigTypeInterface {
            match &self.0.ty {
                CoreType::Map { values } => config_type(values),
                other => config_type(other),
            }
        }
        pub(crate) async fn key_label_name(&self) -> Option<String> {
            None
        }
    }
);

/// A value of an enum config type.
#[derive(SimpleObject, Clone, Debug)]
pub struct EnumConfigValue {
    /// The value.
    pub value: String,
    /// What it means.
    pub description: Option<String>,
}

/// A config type.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "ConfigType",
    field(name = "key", ty = "String"),
    field(name = "description", ty = "Option<String>"),
    field(name = "recursive_config_types", ty = "Vec<ConfigTypeInterface>"),
    field(name = "type_param_keys", ty = "Vec<String>"),
    field(name = "is_selector", ty = "bool")
)]
pub enum ConfigTypeInterface {
    /// A list.
    ArrayConfigType(ArrayConfigType),
    /// An optional.
    NullableConfigType(NullableConfigType),
    /// An object or selector.
    CompositeConfigType(CompositeConfigType),
    /// An enum.
    EnumConfigType(EnumConfigType),
    /// A scalar.
    RegularConfigType(RegularConfigType),
    /// A scalar union.
    ScalarUnionConfigType(ScalarUnionConfigType),
    /// A map.
    MapConfigType(MapConfigType),
}

/// A config type that wraps another (list, optional).
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "WrappingConfigType",
    field(name = "of_type", ty = "ConfigTypeInterface")
)]
pub enum WrappingConfigTypeInterface {
    /// A list.
    ArrayConfigType(ArrayConfigType),
    /// An optional.
    NullableConfigType(NullableConfigType),
}

/// A field of a composite config type.
#[derive(Clone, Debug)]
pub struct ConfigTypeField(pub FieldInfo);

#[Object]
impl ConfigTypeField {
    pub(crate) async fn name(&self) -> &str {
        &self.0.name
    }
    pub(crate) async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    pub(crate) async fn config_type(&self) -> ConfigTypeInterface {
        config_type(&self.0.ty)
    }
    pub(crate) async fn config_type_key(&self) -> String {
        type_key(&self.0.ty)
    }
    pub(crate) async fn is_required(&self) -> bool {
        self.0.required
    }
    pub(crate) async fn is_secret(&self) -> bool {
        false
    }
    pub(crate) async fn default_value_as_json(&self) -> Option<String> {
        self.0.default.as_ref().map(|v| v.to_string())
    }
}

/// Dagster's evaluation error reasons.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[allow(clippy::enum_variant_names)]
pub enum EvaluationErrorReason {
    /// A value of the wrong type.
    RuntimeTypeMismatch,
    /// A required field is missing.
    MissingRequiredField,
    /// Several required fields are missing.
    MissingRequiredFields,
    /// An undeclared field.
    FieldNotDefined,
    /// Several undeclared fields.
    FieldsNotDefined,
    /// A selector without exactly one field.
    SelectorFieldError,
}

impl From<EvaluationReason> for EvaluationErrorReason {
    fn from(r: EvaluationReason) -> Self {
        match r {
            EvaluationReason::RuntimeTypeMismatch => Self::RuntimeTypeMismatch,
            EvaluationReason::MissingRequiredField => Self::MissingRequiredField,
            EvaluationReason::MissingRequiredFields => Self::MissingRequiredFields,
            EvaluationReason::FieldNotDefined => Self::FieldNotDefined,
            EvaluationReason::FieldsNotDefined => Self::FieldsNotDefined,
            EvaluationReason::SelectorFieldError => Self::SelectorFieldError,
        }
    }
}

/// Where in the config document an error is.
#[derive(SimpleObject, Clone, Debug)]
pub struct EvaluationStack {
    /// From the root down.
    pub entries: Vec<EvaluationStackEntry>,
}

/// A list index in an evaluation stack.
#[derive(SimpleObject, Clone, Debug)]
pub struct EvaluationStackListItemEntry {
    /// The index.
    pub list_index: i32,
}

/// A field in an evaluation stack.
#[derive(SimpleObject, Clone, Debug)]
pub struct EvaluationStackPathEntry {
    /// The field.
    pub field_name: String,
}

/// A map key in an evaluation stack.
#[derive(SimpleObject, Clone, Debug)]
pub struct EvaluationStackMapKeyEntry {
    /// The key.
    pub map_key: GenericScalar,
}

/// A map value in an evaluation stack.
#[derive(SimpleObject, Clone, Debug)]
pub struct EvaluationStackMapValueEntry {
    /// The key of the value.
    pub map_key: GenericScalar,
}

/// One step of an evaluation stack.
#[derive(Union, Clone, Debug)]
pub enum EvaluationStackEntry {
    /// A list index.
    EvaluationStackListItemEntry(EvaluationStackListItemEntry),
    /// A field.
    EvaluationStackPathEntry(EvaluationStackPathEntry),
    /// A map key.
    EvaluationStackMapKeyEntry(EvaluationStackMapKeyEntry),
    /// A map value.
    EvaluationStackMapValueEntry(EvaluationStackMapValueEntry),
}

fn stack(view: &ConfigErrorView) -> EvaluationStack {
    EvaluationStack {
        entries: view
            .stack
            .iter()
            .map(|s| match s {
                PathSegment::Field(name) => {
                    EvaluationStackEntry::EvaluationStackPathEntry(EvaluationStackPathEntry {
                        field_name: name.clone(),
                    })
                }
                PathSegment::Index(i) => EvaluationStackEntry::EvaluationStackListItemEntry(
                    EvaluationStackListItemEntry {
                        list_index: i32::try_from(*i).unwrap_or(i32::MAX),
                    },
                ),
            })
            .collect(),
    }
}

macro_rules! config_error_object {
    ($(#[$doc:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(ConfigErrorView);

        #[Object]
        impl $name {
            pub(crate) async fn message(&self) -> String {
                self.0.message.clone()
            }
            /// Always empty, as in Dagster: the location is in `stack` and `message`.
            pub(crate) async fn path(&self) -> Vec<String> {
                Vec::new()
            }
            pub(crate) async fn stack(&self) -> EvaluationStack {
                stack(&self.0)
            }
            pub(crate) async fn reason(&self) -> EvaluationErrorReason {
                self.0.reason.into()
            }
            $($extra)*
        }
    };
}

config_error_object!(
    /// A field that the type does not declare.
    FieldNotDefinedConfigError {
        pub(crate) async fn field_name(&self) -> String {
            match &self.0.detail {
                ConfigErrorDetail::FieldNotDefined(name) => name.clone(),
                _ => String::new(),
            }
        }
    }
);

config_error_object!(
    /// Several fields that the type does not declare.
    FieldsNotDefinedConfigError {
        pub(crate) async fn field_names(&self) -> Vec<String> {
            match &self.0.detail {
                ConfigErrorDetail::FieldsNotDefined(names) => names.clone(),
                _ => Vec::new(),
            }
        }
    }
);

config_error_object!(
    /// A required field that is missing.
    MissingFieldConfigError {
        pub(crate) async fn field(&self) -> ConfigTypeField {
            match &self.0.detail {
                ConfigErrorDetail::MissingField(f) => ConfigTypeField(f.clone()),
                _ => ConfigTypeField(FieldInfo {
                    name: String::new(),
                    ty: CoreType::Any,
                    required: true,
                    default: None,
                    description: None,
                }),
            }
        }
    }
);

config_error_object!(
    /// Several required fields that are missing.
    MissingFieldsConfigError {
        pub(crate) async fn fields(&self) -> Vec<ConfigTypeField> {
            match &self.0.detail {
                ConfigErrorDetail::MissingFields(fields) => {
                    fields.iter().cloned().map(ConfigTypeField).collect()
                }
                _ => Vec::new(),
            }
        }
    }
);

config_error_object!(
    /// A value of the wrong type.
    RuntimeMismatchConfigError {
        pub(crate) async fn value_rep(&self) -> Option<String> {
            match &self.0.detail {
                ConfigErrorDetail::RuntimeMismatch(rep) => rep.clone(),
                _ => None,
            }
        }
    }
);

config_error_object!(
    /// A selector given no field or several.
    SelectorTypeConfigError {
        pub(crate) async fn incoming_fields(&self) -> Vec<String> {
            match &self.0.detail {
                ConfigErrorDetail::Selector(fields) => fields.clone(),
                _ => Vec::new(),
            }
        }
    }
);

/// A run config error.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineConfigValidationError",
    field(name = "message", ty = "String"),
    field(name = "path", ty = "Vec<String>"),
    field(name = "stack", ty = "EvaluationStack"),
    field(name = "reason", ty = "EvaluationErrorReason")
)]
pub enum PipelineConfigValidationErrorInterface {
    /// Undeclared field.
    FieldNotDefinedConfigError(FieldNotDefinedConfigError),
    /// Undeclared fields.
    FieldsNotDefinedConfigError(FieldsNotDefinedConfigError),
    /// Missing field.
    MissingFieldConfigError(MissingFieldConfigError),
    /// Missing fields.
    MissingFieldsConfigError(MissingFieldsConfigError),
    /// Wrong type.
    RuntimeMismatchConfigError(RuntimeMismatchConfigError),
    /// Selector misuse.
    SelectorTypeConfigError(SelectorTypeConfigError),
}

impl From<ConfigErrorView> for PipelineConfigValidationErrorInterface {
    fn from(v: ConfigErrorView) -> Self {
        match v.detail {
            ConfigErrorDetail::MissingField(_) => {
                Self::MissingFieldConfigError(MissingFieldConfigError(v))
            }
            ConfigErrorDetail::MissingFields(_) => {
                Self::MissingFieldsConfigError(MissingFieldsConfigError(v))
            }
            ConfigErrorDetail::FieldNotDefined(_) => {
                Self::FieldNotDefinedConfigError(FieldNotDefinedConfigError(v))
            }
            ConfigErrorDetail::FieldsNotDefined(_) => {
                Self::FieldsNotDefinedConfigError(FieldsNotDefinedConfigError(v))
            }
            ConfigErrorDetail::RuntimeMismatch(_) => {
                Self::RuntimeMismatchConfigError(RuntimeMismatchConfigError(v))
            }
            ConfigErrorDetail::Selector(_) => {
                Self::SelectorTypeConfigError(SelectorTypeConfigError(v))
            }
        }
    }
}

/// The run config is invalid; every error is listed.
#[derive(SimpleObject, Clone, Debug)]
pub struct RunConfigValidationInvalid {
    /// The job.
    #[graphql(owned)]
    pub pipeline_name: String,
    /// Every error.
    #[graphql(owned)]
    pub errors: Vec<PipelineConfigValidationErrorInterface>,
}

impl RunConfigValidationInvalid {
    /// The result for a job's errors.
    pub fn new(job: String, errors: Vec<ConfigErrorView>) -> Self {
        Self {
            pipeline_name: job,
            errors: errors.into_iter().map(Into::into).collect(),
        }
    }
}

/// Dagster's interface of an invalid run config result.
#[derive(Interface, Clone, Debug)]
#[graphql(
    name = "PipelineConfigValidationInvalid",
    field(name = "pipeline_name", ty = "String"),
    field(name = "errors", ty = "Vec<PipelineConfigValidationErrorInterface>")
)]
pub enum PipelineConfigValidationInvalidInterface {
    /// The only implementation.
    RunConfigValidationInvalid(RunConfigValidationInvalid),
}

/// The run config is valid.
#[derive(SimpleObject, Clone, Debug)]
pub struct PipelineConfigValidationValid {
    /// The job.
    pub pipeline_name: String,
}

/// A mode the job does not have (Sluice jobs have the one mode `default`).
#[derive(SimpleObject, Clone, Debug)]
pub struct ModeNotFoundError {
    /// `Mode {mode} not found in pipeline {job}.`
    #[graphql(owned)]
    pub message: String,
    /// The mode asked for.
    #[graphql(owned)]
    pub mode: String,
}

/// Whether a run config is valid.
#[derive(Union, Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum PipelineConfigValidationResult {
    /// Bad selection.
    InvalidSubsetError(InvalidSubsetError),
    /// Valid.
    PipelineConfigValidationValid(PipelineConfigValidationValid),
    /// Invalid.
    RunConfigValidationInvalid(RunConfigValidationInvalid),
    /// Unknown job.
    PipelineNotFoundError(PipelineNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// Validate `raw` for `found`.
pub fn validation_result(
    found: &FoundJob,
    raw: Option<serde_json::Value>,
) -> PipelineConfigValidationResult {
    let config = match parse_run_config(raw) {
        Ok(c) => c,
        Err(e) => return PipelineConfigValidationResult::PythonError(e.into()),
    };
    match found.validate(&config) {
        Ok(()) => PipelineConfigValidationResult::PipelineConfigValidationValid(
            PipelineConfigValidationValid {
                pipeline_name: found.job().name.clone(),
            },
        ),
        Err(ServiceError::InvalidRunConfig { job, errors }) => {
            PipelineConfigValidationResult::RunConfigValidationInvalid(
                RunConfigValidationInvalid::new(job, errors),
            )
        }
        Err(e) => PipelineConfigValidationResult::PythonError(e.into()),
    }
}

impl From<ServiceError> for PipelineConfigValidationResult {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::JobNotFound {
                location,
                repository,
                job,
            } => Self::PipelineNotFoundError(PipelineNotFoundError::new(
                &location,
                &repository,
                &job,
            )),
            other => Self::PythonError(other.into()),
        }
    }
}

/// A job's run config schema.
pub struct RunConfigSchema(pub FoundJob);

/// The config types of a job's run config, for a launchpad: the root type, every type,
/// validation of a document, and the default document.
#[Object]
impl RunConfigSchema {
    /// The type of the whole run config document.
    pub(crate) async fn root_config_type(&self) -> ConfigTypeInterface {
        config_type(&self.0.config_schema())
    }

    /// Every type in the document's schema.
    pub(crate) async fn all_config_types(&self) -> Vec<ConfigTypeInterface> {
        all_config_types(&self.0.config_schema())
    }

    /// Validate a run config document.
    pub(crate) async fn is_run_config_valid(
        &self,
        run_config_data: Option<RunConfigData>,
    ) -> PipelineConfigValidationResult {
        validation_result(&self.0, run_config_data.map(|d| d.0))
    }

    /// The job's default run config, as YAML.
    pub(crate) async fn root_default_yaml(&self) -> String {
        match &self.0.job().default_run_config {
            Some(config) => run_config_yaml(config),
            None => "{}\n".to_owned(),
        }
    }
}

/// A config type, or why there is none (no field returns it; kept for Dagster's schema).
#[derive(Union, Clone, Debug)]
pub enum ConfigTypeOrError {
    /// An enum.
    EnumConfigType(EnumConfigType),
    /// An object.
    CompositeConfigType(CompositeConfigType),
    /// A scalar.
    RegularConfigType(RegularConfigType),
    /// Unknown job.
    PipelineNotFoundError(PipelineNotFoundError),
    /// Unknown type.
    ConfigTypeNotFoundError(crate::schema::workspace::ConfigTypeNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// A run config schema, or why there is none.
#[derive(Union)]
pub enum RunConfigSchemaOrError {
    /// The schema.
    RunConfigSchema(RunConfigSchema),
    /// Unknown job.
    PipelineNotFoundError(PipelineNotFoundError),
    /// Bad selection.
    InvalidSubsetError(InvalidSubsetError),
    /// Unknown mode.
    ModeNotFoundError(ModeNotFoundError),
    /// Failure.
    PythonError(PythonError),
}

/// Look up the schema of the job `selector` names.
pub async fn run_config_schema(
    ctx: &Context<'_>,
    selector: sluice_service::JobSelector,
    mode: Option<String>,
) -> RunConfigSchemaOrError {
    let found = match service(ctx).find_job(&selector).await {
        Ok(f) => f,
        Err(ServiceError::JobNotFound {
            location,
            repository,
            job,
        }) => {
            return RunConfigSchemaOrError::PipelineNotFoundError(PipelineNotFoundError::new(
                &location,
                &repository,
                &job,
            ));
        }
        Err(e) => return RunConfigSchemaOrError::PythonError(e.into()),
    };
    if let Some(mode) = mode.filter(|m| m != "default") {
        return RunConfigSchemaOrError::ModeNotFoundError(ModeNotFoundError {
            message: format!("Mode {mode} not found in pipeline {}.", found.job().name),
            mode,
        });
    }
    RunConfigSchemaOrError::RunConfigSchema(RunConfigSchema(found))
}
