//! The object-store IO manager: step outputs and assets kept in an object store (a local
//! directory, S3, or an S3-compatible server such as MinIO), as Dagster's
//! `S3PickleIOManager` and `UPathIOManager` keep them.
//!
//! Layout under the store's prefix, as the default IO manager's:
//! `<run_id>/<step_key>/<output_name>.<ext>` for op outputs and
//! `<part>/<part>[/<partition>].<ext>` for assets. The format follows the output's
//! type: a [`Table`] is a Parquet file (`.parquet`), any other value JSON (`.json`).
//!
//! ```no_run
//! use sluice_core::prelude::*;
//! use sluice_resources::ObjectStoreIoManager;
//!
//! // Credentials and the endpoint come from AWS_* variables, as for Dagster's s3 resource
//! // (AWS_ENDPOINT=http://minio:9000, AWS_ALLOW_HTTP=true for MinIO).
//! let defs = Definitions::builder()
//!     .io_manager(ObjectStoreIoManager::definition("s3://warehouse/sluice"))
//!     .build();
//! ```

use std::future::Future;
use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_core::io_manager::{IoManager, IoManagerDefinition, IoManagerError, OutputKey};
use sluice_core::metadata::{Metadata, MetadataValue};
use sluice_core::op::{OutputDefinition, StepValue};
use url::Url;

use crate::table::Table;

/// Keeps outputs in an object store.
pub struct ObjectStoreIoManager {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// The store's URL, for messages and metadata (`s3://bucket/prefix`).
    url: String,
    /// Object stores are async and IO manager calls are not: each call runs on this
    /// runtime's thread while the caller's thread waits.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ObjectStoreIoManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreIoManager")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The options of an object store URL that is not valid.
fn setup_error(url: &str, reason: impl std::fmt::Display) -> IoManagerError {
    IoManagerError::Setup(format!("object store \"{url}\": {reason}"))
}

impl ObjectStoreIoManager {
    /// An IO manager for the store at `url`: `file:///abs/dir`, `s3://bucket[/prefix]` or
    /// `memory://`. Options are object_store's (`aws_endpoint`, `aws_allow_http`,
    /// `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, ...); for S3, the
    /// `AWS_*` environment variables are read first and `options` override them.
    pub fn from_url<K, V>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, IoManagerError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let parsed = Url::parse(url).map_err(|e| setup_error(url, e))?;
        let mut settings: Vec<(String, String)> = Vec::new();
        if parsed.scheme() == "s3" {
            settings.extend(
                std::env::vars()
                    .filter(|(k, _)| k.starts_with("AWS_"))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v)),
            );
        }
        settings.extend(options.into_iter().map(|(k, v)| (k.into(), v.into())));
        let (store, prefix) =
            object_store::parse_url_opts(&parsed, settings).map_err(|e| setup_error(url, e))?;
        Self::new(Arc::from(store), prefix, url)
    }

    /// An IO manager for `store`, under `prefix`; `url` names it in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: StorePath,
        url: &str,
    ) -> Result<Self, IoManagerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-object-store")
            .enable_all()
            .build()
            .map_err(|e| setup_error(url, format!("cannot start its runtime: {e}")))?;
        Ok(Self {
            store,
            prefix,
            url: url.trim_end_matches('/').to_owned(),
            runtime: Some(runtime),
        })
    }

    /// A location's IO manager definition for the store at `url`, configured from the
    /// environment (see [`Self::from_url`]); each run builds its own.
    pub fn definition(url: &str) -> IoManagerDefinition {
        Self::definition_with(url, Vec::<(String, String)>::new())
    }

    /// The same, with `options` over the environment's.
    pub fn definition_with<K: Into<String>, V: Into<String>>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> IoManagerDefinition {
        let url = url.to_owned();
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        IoManagerDefinition::new(move |_| {
            Ok(Arc::new(Self::from_url(&url, options.clone())?) as Arc<dyn IoManager>)
        })
    }

    /// Where output `key` of type `output` is kept, under the store's prefix.
    pub fn path(&self, key: OutputKey<'_>, output: &OutputDefinition) -> StorePath {
        let extension = if output.holds::<Table>() {
            "parquet"
        } else {
            "json"
        };
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        match key {
            OutputKey::Step {
                run_id,
                step_key,
                output_name,
            } => parts.extend([
                run_id.to_owned(),
                step_key.to_owned(),
                output_name.to_owned(),
            ]),
            OutputKey::Asset { key, partition } => {
                parts.extend(key.path().iter().cloned());
                parts.extend(partition.map(str::to_owned));
            }
        }
        if let Some(last) = parts.last_mut() {
            last.push('.');
            last.push_str(extension);
        }
        StorePath::from_iter(parts)
    }

    /// The URL of `path` in this store.
    fn url_of(&self, path: &StorePath) -> String {
        let relative = path
            .prefix_match(&self.prefix)
            .map(|parts| {
                parts
                    .map(|p| p.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| path.to_string());
        format!("{}/{relative}", self.url)
    }

    /// Run `work` on the IO manager's runtime and wait for it.
    fn block_on<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        let runtime = self.runtime.as_ref().ok_or("the IO manager is shut down")?;
        let (done, result) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            // The receiver waits below; it cannot be gone.
            let _ = done.send(work.await);
        });
        result
            .recv()
            .map_err(|_| "the IO manager's runtime stopped".to_owned())
    }

    fn storage_error(
        &self,
        action: &'static str,
        key: OutputKey<'_>,
        path: &StorePath,
        reason: impl std::fmt::Display,
    ) -> IoManagerError {
        IoManagerError::Storage {
            action,
            what: key.to_string(),
            location: self.url_of(path),
            reason: reason.to_string(),
        }
    }
}

impl Drop for ObjectStoreIoManager {
    fn drop(&mut self) {
        // A runtime may not be dropped where blocking is not allowed (in async code, as
        // at the end of a run): let its thread finish on its own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl IoManager for ObjectStoreIoManager {
    fn handle_output(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
        value: &StepValue,
    ) -> Result<Metadata, IoManagerError> {
        let mut metadata = Metadata::new();
        let bytes = match value.downcast_ref::<Table>() {
            Some(table) if output.holds::<Table>() => {
                metadata.insert(
                    "dagster/row_count".to_owned(),
                    MetadataValue::Int(i64::try_from(table.num_rows()).unwrap_or(i64::MAX)),
                );
                table
                    .to_parquet()
                    .map_err(|e| IoManagerError::codec("serialize", key, e.to_string()))?
            }
            _ => output
                .encode(value)
                .map_err(|reason| IoManagerError::codec("serialize", key, reason))?,
        };
        let size = bytes.len();
        let path = self.path(key, output);
        // A put replaces the object at once: a reader sees the old value or the new one.
        let (store, at) = (Arc::clone(&self.store), path.clone());
        self.block_on(async move { store.put(&at, PutPayload::from(bytes)).await })
            .and_then(|put| put.map_err(|e| e.to_string()))
            .map_err(|reason| self.storage_error("write", key, &path, reason))?;
        metadata.insert("uri".to_owned(), MetadataValue::Url(self.url_of(&path)));
        metadata.insert(
            "bytes".to_owned(),
            MetadataValue::Int(i64::try_from(size).unwrap_or(i64::MAX)),
        );
        Ok(metadata)
    }

    fn load_input(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
    ) -> Result<StepValue, IoManagerError> {
        let path = self.path(key, output);
        let (store, at) = (Arc::clone(&self.store), path.clone());
        let read = self
            .block_on(async move {
                match store.get(&at).await {
                    Ok(found) => found.bytes().await.map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .and_then(|read| read.map_err(|e| e.to_string()))
            .map_err(|reason| self.storage_error("read", key, &path, reason))?;
        let Some(bytes) = read else {
            return Err(IoManagerError::not_stored(key));
        };
        if output.holds::<Table>() {
            let table = Table::from_parquet(&bytes)
                .map_err(|e| IoManagerError::codec("deserialize", key, e.to_string()))?;
            return Ok(Arc::new(table));
        }
        output
            .decode(&bytes)
            .map_err(|reason| IoManagerError::codec("deserialize", key, reason))
    }
}
