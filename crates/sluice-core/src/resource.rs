//! Resources: connections and clients that ops use, configured once per run, injected by
//! key, set up before the first step and torn down after the last.
//!
//! ```
//! use sluice_core::prelude::*;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct GreeterConfig { greeting: String }
//!
//! struct Greeter { greeting: String }
//!
//! impl ConfigurableResource for Greeter {
//!     type Config = GreeterConfig;
//!     async fn setup(config: GreeterConfig, _ctx: &InitResourceContext) -> Result<Self, ResourceError> {
//!         Ok(Greeter { greeting: config.greeting })
//!     }
//! }
//!
//! let greeter = ResourceDefinition::new::<Greeter>();
//! assert!(greeter.config_schema().is_some());
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigType;
use crate::op::OpError;

/// A resource failed to set up or tear down.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ResourceError {
    /// What went wrong.
    pub message: String,
    /// The error that caused it, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ResourceError {
    /// An error with `message` and no cause.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with `message`, keeping `err` as its cause.
    pub fn wrap(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(err)),
        }
    }
}

/// What a resource sees while it is set up.
#[derive(Debug, Clone)]
pub struct InitResourceContext {
    /// The key the resource is bound to.
    pub resource_key: String,
    /// The run it is set up for, if any (sensors set up resources outside runs).
    pub run_id: Option<String>,
}

/// A resource with its own config schema (Dagster's `ConfigurableResource`).
pub trait ConfigurableResource: Sized + Send + Sync + 'static {
    /// The resource's config; unknown fields are errors (use `deny_unknown_fields`).
    type Config: DeserializeOwned + JsonSchema + Send;

    /// Build the resource from its config, once per run.
    fn setup(
        config: Self::Config,
        ctx: &InitResourceContext,
    ) -> impl Future<Output = Result<Self, ResourceError>> + Send;

    /// Release what the resource holds, after the run's last step, even a failed one.
    fn teardown(&self) -> impl Future<Output = Result<(), ResourceError>> + Send {
        async { Ok(()) }
    }

    /// Whether what the resource talks to is there and answers (a ping, `SELECT 1`),
    /// for `sluice-user-code resources check`. Set-up success is the default answer.
    fn health_check(&self) -> impl Future<Output = Result<(), ResourceError>> + Send {
        async { Ok(()) }
    }

    /// Why this build of the resource cannot work (a cargo feature it needs is off,
    /// say), and how to get one that does. A location that binds it then fails to load
    /// with this message, before any run asks for it.
    fn unavailable() -> Option<String> {
        None
    }
}

type Teardown = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), ResourceError>> + Send>;

struct Instance {
    value: Arc<dyn Any + Send + Sync>,
    teardown: Option<Teardown>,
}

type CheckFn = Arc<
    dyn Fn(Value, InitResourceContext) -> BoxFuture<'static, Result<(), ResourceError>>
        + Send
        + Sync,
>;

type SetupFn = Arc<
    dyn Fn(Value, InitResourceContext) -> BoxFuture<'static, Result<Instance, ResourceError>>
        + Send
        + Sync,
>;

/// A resource as bound in [`crate::Definitions`]: how to build it and its config schema.
#[derive(Clone)]
pub struct ResourceDefinition {
    type_name: &'static str,
    description: Option<String>,
    config_schema: Option<ConfigType>,
    default_config: Option<Value>,
    unavailable: Option<String>,
    setup: SetupFn,
    check: CheckFn,
}

impl fmt::Debug for ResourceDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceDefinition")
            .field("type", &self.type_name)
            .field("default_config", &self.default_config)
            .finish_non_exhaustive()
    }
}

impl ResourceDefinition {
    /// A resource of type `R`, configured by each run's config
    /// (`resources: {<key>: {config: ...}}`).
    pub fn new<R: ConfigurableResource>() -> Self {
        let setup: SetupFn = Arc::new(|config: Value, ctx: InitResourceContext| {
            Box::pin(async move {
                let config = R::Config::deserialize(config)
                    .map_err(|e| ResourceError::msg(format!("invalid config: {e}")))?;
                let resource = Arc::new(R::setup(config, &ctx).await?);
                let for_teardown = Arc::clone(&resource);
                let teardown: Teardown =
                    Box::new(move || Box::pin(async move { for_teardown.teardown().await }));
                Ok(Instance {
                    value: resource,
                    teardown: Some(teardown),
                })
            })
        });
        let check: CheckFn = Arc::new(|config: Value, ctx: InitResourceContext| {
            Box::pin(async move {
                let config = R::Config::deserialize(config)
                    .map_err(|e| ResourceError::msg(format!("invalid config: {e}")))?;
                let resource = R::setup(config, &ctx).await?;
                let health = resource.health_check().await;
                let teardown = resource.teardown().await;
                health?;
                teardown.map_err(|e| ResourceError::msg(format!("teardown: {e}")))
            })
        });
        Self {
            type_name: std::any::type_name::<R>(),
            description: None,
            config_schema: Some(ConfigType::of::<R::Config>()),
            default_config: None,
            unavailable: R::unavailable(),
            setup,
            check,
        }
    }

    /// A resource of type `R` with the config given here; a run's config may still
    /// replace it.
    pub fn configured<R: ConfigurableResource>(config: R::Config) -> Self
    where
        R::Config: Serialize,
    {
        let mut def = Self::new::<R>();
        // Serializing a plain config struct cannot fail; if it did, the resource would
        // simply ask for its config in the run config, and validation would say so.
        def.default_config = serde_json::to_value(&config).ok();
        def
    }

    /// A ready-made value shared by every run, with no config.
    pub fn value<T: Send + Sync + 'static>(value: T) -> Self {
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        Self {
            type_name: std::any::type_name::<T>(),
            description: None,
            config_schema: None,
            default_config: None,
            unavailable: None,
            check: Arc::new(|_, _| Box::pin(async { Ok(()) })),
            setup: Arc::new(move |_, _| {
                let value = Arc::clone(&value);
                Box::pin(async move {
                    Ok(Instance {
                        value,
                        teardown: None,
                    })
                })
            }),
        }
    }

    /// A description, shown in the UI.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The resource's description, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The Rust type name of the resource.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The schema of the resource's config; `None` for a ready-made value.
    pub fn config_schema(&self) -> Option<&ConfigType> {
        self.config_schema.as_ref()
    }

    /// The config it was bound with ([`configured`](Self::configured)); `None` if the run
    /// config must give it.
    pub fn default_config(&self) -> Option<&Value> {
        self.default_config.as_ref()
    }

    /// Set the resource up with `config`, ask for its health, and tear it down: what
    /// `sluice-user-code resources check` reports for each resource.
    pub async fn check(&self, key: &str, config: Value) -> Result<(), ResourceError> {
        let ctx = InitResourceContext {
            resource_key: key.to_owned(),
            run_id: None,
        };
        (self.check)(config, ctx).await
    }

    /// The config a resource gets outside runs (sensors, schedules, checks): the one it
    /// was bound with, or what its schema fills in by itself.
    pub fn standalone_config(&self) -> Value {
        match (&self.default_config, &self.config_schema) {
            (Some(config), _) => config.clone(),
            (None, Some(schema)) if schema.requires_value() => Value::Null,
            (None, Some(_)) => Value::Object(Default::default()),
            (None, None) => Value::Null,
        }
    }

    /// Why this build cannot provide the resource ([`ConfigurableResource::unavailable`]).
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }
}

/// The resources of one run, set up and ready.
#[derive(Default)]
pub struct Resources {
    values: HashMap<String, Arc<dyn Any + Send + Sync>>,
    teardowns: Mutex<Vec<(String, Teardown)>>,
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Resources {
    /// Set up each `(key, definition, config)` in order. If one fails, those already set
    /// up are torn down and the failing key is returned with its error.
    pub async fn setup(
        wanted: Vec<(String, ResourceDefinition, Value)>,
        run_id: Option<&str>,
    ) -> Result<Self, (String, ResourceError)> {
        let mut resources = Resources::default();
        for (key, def, config) in wanted {
            let ctx = InitResourceContext {
                resource_key: key.clone(),
                run_id: run_id.map(str::to_owned),
            };
            match (def.setup)(config, ctx).await {
                Ok(instance) => {
                    resources.values.insert(key.clone(), instance.value);
                    if let Some(t) = instance.teardown
                        && let Ok(mut list) = resources.teardowns.lock()
                    {
                        list.push((key, t));
                    }
                }
                Err(e) => {
                    for (k, err) in resources.teardown().await {
                        tracing::warn!(resource = %k, "teardown after failed setup: {err}");
                    }
                    return Err((key, e));
                }
            }
        }
        Ok(resources)
    }

    /// The resource bound to `key`, as type `R`.
    pub fn get<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, OpError> {
        let value = self.values.get(key).ok_or_else(|| OpError::Resource {
            key: key.to_owned(),
            problem: "not available to this op; declare it with .required_resource()".to_owned(),
        })?;
        Arc::clone(value)
            .downcast::<R>()
            .map_err(|_| OpError::Resource {
                key: key.to_owned(),
                problem: format!("is not a {}", std::any::type_name::<R>()),
            })
    }

    /// [`get`](Self::get) for a sensor or schedule evaluation, whose errors are
    /// [`EvaluationError`](crate::run_request::EvaluationError)s.
    pub fn for_evaluation<R: Send + Sync + 'static>(
        &self,
        key: &str,
    ) -> Result<Arc<R>, crate::run_request::EvaluationError> {
        self.get(key)
            .map_err(|e| crate::run_request::EvaluationError::msg(e.to_string()))
    }

    /// Tear every resource down, last set up first. Returns the failures.
    pub async fn teardown(&self) -> Vec<(String, ResourceError)> {
        let mut failures = Vec::new();
        loop {
            let next = self.teardowns.lock().ok().and_then(|mut list| list.pop());
            let Some((key, teardown)) = next else { break };
            if let Err(e) = teardown().await {
                failures.push((key, e));
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static TEARDOWNS: AtomicUsize = AtomicUsize::new(0);

    #[derive(serde::Deserialize, Serialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct CounterConfig {
        start: i64,
    }

    struct Counter(i64);

    impl ConfigurableResource for Counter {
        type Config = CounterConfig;
        async fn setup(
            config: CounterConfig,
            _: &InitResourceContext,
        ) -> Result<Self, ResourceError> {
            if config.start < 0 {
                return Err(ResourceError::msg("start must not be negative"));
            }
            Ok(Counter(config.start))
        }
        async fn teardown(&self) -> Result<(), ResourceError> {
            TEARDOWNS.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn setup_get_and_teardown() {
        let before = TEARDOWNS.load(Ordering::SeqCst);
        let def = ResourceDefinition::configured::<Counter>(CounterConfig { start: 7 });
        let cfg = def.default_config().cloned().unwrap();
        let res = Resources::setup(
            vec![
                ("counter".into(), def, cfg),
                (
                    "name".into(),
                    ResourceDefinition::value("sluice".to_owned()),
                    Value::Null,
                ),
            ],
            Some("run"),
        )
        .await
        .unwrap();
        assert_eq!(res.get::<Counter>("counter").unwrap().0, 7);
        assert_eq!(*res.get::<String>("name").unwrap(), "sluice");
        assert!(res.get::<String>("counter").is_err());
        assert!(res.get::<String>("nope").is_err());
        assert!(res.teardown().await.is_empty());
        assert_eq!(TEARDOWNS.load(Ordering::SeqCst), before + 1);
    }

    /// A resource whose engine this build left out.
    struct Unbuilt;

    impl ConfigurableResource for Unbuilt {
        type Config = CounterConfig;
        async fn setup(_: CounterConfig, _: &InitResourceContext) -> Result<Self, ResourceError> {
            Err(ResourceError::msg("not in this build"))
        }
        fn unavailable() -> Option<String> {
            Some("build with `--features engine`".to_owned())
        }
    }

    #[test]
    fn an_unavailable_resource_fails_the_load_saying_how_to_get_it() {
        let err = crate::Definitions::builder()
            .resource("graph", ResourceDefinition::new::<Unbuilt>())
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("resource \"graph\" (")
                && err.contains(
                    "Unbuilt) is not available in this build: build with `--features engine`"
                ),
            "{err}"
        );
        assert!(
            crate::Definitions::builder()
                .resource("counter", ResourceDefinition::new::<Counter>())
                .build()
                .is_ok()
        );
    }

    #[tokio::test]
    async fn failed_setup_names_the_key() {
        let def = ResourceDefinition::new::<Counter>();
        let err = Resources::setup(
            vec![("counter".into(), def, serde_json::json!({"start": -1}))],
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.0, "counter");
        assert!(err.1.message.contains("negative"));
    }
}
