//! [`MongoResource`]: a MongoDB client and database for ops and assets, on the official
//! `mongodb` driver, as the spatial ETL keeps its ledger of loaded datasets.
//!
//! Collections are typed ([`MongoResource::collection`]); inserts, updates with
//! operators, finds with filters, counts and aggregations are the driver's own
//! [`Collection`] methods. The resource adds what every ledger repeats: an upsert by
//! filter ([`MongoResource::upsert`]) and indexes made idempotently
//! ([`MongoResource::ensure_index`]). `bson` is re-exported for `doc!`.

use std::time::Duration;

pub use mongodb;
pub use mongodb::bson;
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_core::config::{EnvVarError, StringSource};
use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};

/// The config of a [`MongoResource`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MongoConfig {
    /// `mongodb://USER:PASSWORD@HOST:PORT/` or `mongodb+srv://…`, best from the
    /// environment (`{env: MONGO_URI}`).
    pub uri: StringSource,
    /// The database the resource works in.
    pub database: String,
    /// Seconds to wait for a server to answer, at setup and for each operation.
    #[serde(default = "default_timeout")]
    pub server_selection_timeout_seconds: f64,
}

fn default_timeout() -> f64 {
    10.0
}

impl MongoConfig {
    /// `database` at `uri`, with the default timeout.
    pub fn new(uri: impl Into<StringSource>, database: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            database: database.into(),
            server_selection_timeout_seconds: default_timeout(),
        }
    }
}

/// What went wrong with MongoDB. Messages name the server without credentials.
#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    /// The resource's config cannot be used (said why).
    #[error("invalid MongoDB config: {0}")]
    Config(String),
    /// An environment variable the config names could not be read.
    #[error(transparent)]
    EnvVar(#[from] EnvVarError),
    /// The server could not be reached.
    #[error("cannot reach MongoDB at {target}: {reason}")]
    Connect {
        /// The server and database, as `HOST:PORT/DATABASE`.
        target: String,
        /// The driver's message.
        reason: String,
    },
    /// An operation failed: `what` says which.
    #[error("{what}: {source}")]
    Operation {
        /// The operation, with its collection.
        what: String,
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },
}

impl MongoError {
    /// Whether the operation broke a unique index.
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, Self::Operation { source, .. } if is_duplicate_key(source))
    }

    fn operation(what: impl Into<String>) -> impl FnOnce(mongodb::error::Error) -> Self {
        let what = what.into();
        move |source| Self::Operation { what, source }
    }
}

/// The outcome of [`MongoResource::upsert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// No document matched; one was inserted.
    Inserted,
    /// A document matched and was changed.
    Updated,
    /// A document matched and already had these values.
    Unchanged,
}

/// A MongoDB client and one database (see the [module](self) docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct MongoResource {
    client: Client,
    database: Database,
    target: String,
    /// Kept for the process ([`crate::shared`]): teardown leaves the client running.
    shared: bool,
}

impl ConfigurableResource for MongoResource {
    type Config = MongoConfig;

    /// The process's client for this config, made (and pinged) by the first setup.
    async fn setup(config: MongoConfig, _ctx: &InitResourceContext) -> Result<Self, ResourceError> {
        let uri = config.uri.resolve().map_err(crate::resource_error)?;
        let key = format!(
            "{uri}\n{}\n{}",
            config.database, config.server_selection_timeout_seconds
        );
        let shared = crate::shared::get_or_open(
            key,
            |_| true,
            || async {
                Self::connect(&config)
                    .await
                    .map(|m| Self { shared: true, ..m })
            },
        );
        shared.await.map_err(crate::resource_error)
    }

    async fn teardown(&self) -> Result<(), ResourceError> {
        if self.shared {
            return Ok(());
        }
        self.client.clone().shutdown().await;
        Ok(())
    }

    async fn health_check(&self) -> Result<(), ResourceError> {
        self.health_check().await.map_err(crate::resource_error)
    }
}

impl MongoResource {
    /// A client for `config`, after the server has answered a ping.
    pub async fn connect(config: &MongoConfig) -> Result<Self, MongoError> {
        let uri = config.uri.resolve()?;
        let timeout = crate::seconds(
            config.server_selection_timeout_seconds,
            "server_selection_timeout_seconds",
        )
        .map_err(MongoError::Config)?;
        let mut options = ClientOptions::parse(&uri)
            .await
            .map_err(|e| MongoError::Config(format!("uri {}: {e}", shown(&uri))))?;
        let target = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
        options.app_name.get_or_insert_with(|| "sluice".to_owned());
        let client = Client::with_options(options)
            .map_err(|e| MongoError::Config(format!("uri {}: {e}", shown(&uri))))?;
        let database = client.database(&config.database);
        let resource = Self {
            client,
            database,
            target: format!("{target}/{}", config.database),
            shared: false,
        };
        resource.health_check().await.map_err(|e| match e {
            MongoError::Operation { source, .. } => MongoError::Connect {
                target: resource.target.clone(),
                reason: source.to_string(),
            },
            other => other,
        })?;
        Ok(resource)
    }

    /// The server and database, as `HOST:PORT/DATABASE`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The driver's client, for what this resource does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The configured database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Collection `name` of the database, its documents read and written as `T`
    /// (`bson::Document` for untyped ones).
    pub fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.database.collection(name)
    }

    /// Set `fields` on the document of `collection` that `filter` matches, inserting it
    /// (with the filter's fields) if there is none.
    pub async fn upsert(
        &self,
        collection: &str,
        filter: Document,
        fields: Document,
    ) -> Result<Upserted, MongoError> {
        let result = self
            .collection::<Document>(collection)
            .update_one(filter, doc! {"$set": fields})
            .upsert(true)
            .await
            .map_err(MongoError::operation(format!("upsert into {collection}")))?;
        Ok(if result.upserted_id.is_some() {
            Upserted::Inserted
        } else if result.modified_count > 0 {
            Upserted::Updated
        } else {
            Upserted::Unchanged
        })
    }

    /// Make sure `collection` has an index on `keys` (`{"dataset": 1}`), unique if
    /// asked; nothing happens when it exists. Returns the index's name.
    pub async fn ensure_index(
        &self,
        collection: &str,
        keys: Document,
        unique: bool,
    ) -> Result<String, MongoError> {
        let index = IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(unique).build())
            .build();
        self.collection::<Document>(collection)
            .create_index(index)
            .await
            .map(|created| created.index_name)
            .map_err(MongoError::operation(format!(
                "create an index on {collection}"
            )))
    }

    /// Whether the server answers a ping.
    pub async fn health_check(&self) -> Result<(), MongoError> {
        self.database
            .run_command(doc! {"ping": 1})
            .await
            .map(drop)
            .map_err(MongoError::operation("ping"))
    }
}

/// Whether a driver error is a write that broke a unique index (MongoDB's error 11000).
pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e)) => {
            e.code == DUPLICATE_KEY
        }
        mongodb::error::ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// `uri` without its credentials.
fn shown(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &uri[..scheme], &uri[at + 1..])
        }
        _ => uri.to_owned(),
    }
}
