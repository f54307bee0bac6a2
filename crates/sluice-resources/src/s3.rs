//! [`S3Resource`]: object storage for ops and assets, on the `object_store` crate: AWS
//! S3, S3-compatible servers such as MinIO (an endpoint, path-style requests, plain HTTP
//! allowed), and a local directory, behind one type.
//!
//! Keys are relative to the resource's prefix (`s3://bucket/prefix` → `prefix/<key>`).
//! Large files stream in both directions: [`S3Resource::upload_file`] sends a multipart
//! upload in parts of [`PART_SIZE`] with a few in flight, [`S3Resource::download_file`]
//! writes the body as it arrives. [`S3Resource::presigned_url`] signs a URL for S3.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as StorePath;
use object_store::signer::{Method, Signer};
use object_store::{
    BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_core::config::{EnvVarError, StringSource};
use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// The part size of multipart uploads (S3 takes 5 MiB to 5 GiB).
pub const PART_SIZE: usize = 16 << 20;

/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// The config of an [`S3Resource`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// `s3://bucket[/prefix]`, `file:///absolute/dir` or `memory://`.
    pub url: String,
    /// An S3-compatible server (`http://minio:9000`); AWS when absent.
    #[serde(default)]
    pub endpoint: Option<StringSource>,
    /// The bucket's region (`eu-west-1`); when absent, the `AWS_*` environment
    /// variables', else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Credentials; without them, the `AWS_*` environment variables (and the instance's
    /// role) are used, as by Dagster's S3 resource.
    #[serde(default)]
    pub access_key_id: Option<StringSource>,
    /// The secret of `access_key_id`; best given as an `EnvVar`.
    #[serde(default)]
    pub secret_access_key: Option<StringSource>,
    /// Allow `http://` endpoints (MinIO on a private network).
    #[serde(default)]
    pub allow_http: bool,
    /// `bucket.host/key` requests instead of `host/bucket/key` (path style, which MinIO
    /// wants, is the default).
    #[serde(default)]
    pub virtual_hosted_style: bool,
    /// Whether request bodies are hashed into the signature (SigV4 signed payload).
    /// By default they are over plain HTTP and not over HTTPS, where TLS already
    /// protects them, as boto3 does; hashing costs CPU on large uploads.
    #[serde(default)]
    pub sign_payload: Option<bool>,
    /// Seconds one request may take.
    #[serde(default = "defaults::timeout")]
    pub timeout_seconds: f64,
    /// Retries of a failed request, within `timeout_seconds` × (retries + 1).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: usize,
}

mod defaults {
    pub(super) fn timeout() -> f64 {
        60.0
    }
    pub(super) fn max_retries() -> usize {
        3
    }
}

impl S3Config {
    /// The store at `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            virtual_hosted_style: false,
            sign_payload: None,
            timeout_seconds: defaults::timeout(),
            max_retries: defaults::max_retries(),
        }
    }
}

/// What went wrong with object storage.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The resource's config cannot be used (said why).
    #[error("invalid object store config: {0}")]
    Config(String),
    /// An environment variable the config names could not be read.
    #[error(transparent)]
    EnvVar(#[from] EnvVarError),
    /// The store refused or failed an operation.
    #[error("cannot {action} {what}: {reason}")]
    Store {
        /// What was being done (`get`, `put`, `list`, `delete`, ...).
        action: &'static str,
        /// The object or prefix, as a URL.
        what: String,
        /// The store's message.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {action} local file {path}: {source}")]
    File {
        /// What was being done (`create`, `read`, `write`).
        action: &'static str,
        /// The local file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The backend cannot do this (presigning a local directory, say).
    #[error("{0}")]
    Unsupported(String),
}

/// Objects in S3, MinIO or a local directory (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct S3Resource {
    store: Arc<dyn ObjectStore>,
    /// The same store, when it can sign URLs.
    signer: Option<Arc<AmazonS3>>,
    prefix: StorePath,
    url: String,
}

impl ConfigurableResource for S3Resource {
    type Config = S3Config;

    /// The process's store for this config (its HTTP client and credentials), made by
    /// the first setup.
    async fn setup(config: S3Config, _ctx: &InitResourceContext) -> Result<Self, ResourceError> {
        let secrets = [
            config.endpoint.as_ref(),
            config.access_key_id.as_ref(),
            config.secret_access_key.as_ref(),
        ];
        let key = crate::shared::config_key(&config, &secrets).map_err(crate::resource_error)?;
        crate::shared::get_or_open(key, |_| true, || async { Self::new(&config) })
            .await
            .map_err(crate::resource_error)
    }

    async fn health_check(&self) -> Result<(), ResourceError> {
        self.health_check().await.map_err(crate::resource_error)
    }
}

impl S3Resource {
    /// The store `config` names, its secrets read from the environment now.
    pub fn new(config: &S3Config) -> Result<Self, S3Error> {
        let url = Url::parse(&config.url)
            .map_err(|e| S3Error::Config(format!("url {:?}: {e}", config.url)))?;
        let prefix = StorePath::from(url.path().trim_matches('/'));
        let shown = config.url.trim_end_matches('/').to_owned();
        let (store, signer): (Arc<dyn ObjectStore>, _) = match url.scheme() {
            "s3" => {
                let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
                    S3Error::Config(format!("url {:?} names no bucket", config.url))
                })?;
                let s3 = Arc::new(Self::s3(config, bucket)?);
                (Arc::clone(&s3) as Arc<dyn ObjectStore>, Some(s3))
            }
            "file" => {
                let dir = url.to_file_path().map_err(|()| {
                    S3Error::Config(format!(
                        "url {:?} is not an absolute local path",
                        config.url
                    ))
                })?;
                std::fs::create_dir_all(&dir).map_err(|source| S3Error::File {
                    action: "create",
                    path: dir.display().to_string(),
                    source,
                })?;
                let local = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| S3Error::Config(format!("url {:?}: {e}", config.url)))?;
                // The prefix is the directory itself.
                return Ok(Self {
                    store: Arc::new(local),
                    signer: None,
                    prefix: StorePath::default(),
                    url: shown,
                });
            }
            "memory" => (Arc::new(InMemory::new()) as Arc<dyn ObjectStore>, None),
            other => {
                return Err(S3Error::Config(format!(
                    "url {:?}: scheme {other:?} is not s3, file or memory",
                    config.url
                )));
            }
        };
        Ok(Self {
            store,
            signer,
            prefix,
            url: shown,
        })
    }

    fn s3(config: &S3Config, bucket: &str) -> Result<AmazonS3, S3Error> {
        let timeout =
            crate::seconds(config.timeout_seconds, "timeout_seconds").map_err(S3Error::Config)?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(config.virtual_hosted_style)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(config.allow_http)
                    .with_timeout(timeout)
                    .with_connect_timeout(timeout.min(Duration::from_secs(10))),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: config.max_retries,
                retry_timeout: timeout.saturating_mul(config.max_retries as u32 + 1),
            });
        let mut https = true;
        if let Some(endpoint) = &config.endpoint {
            let endpoint = endpoint.resolve()?;
            https = endpoint.starts_with("https://");
            builder = builder.with_endpoint(endpoint);
        }
        builder = builder.with_unsigned_payload(!config.sign_payload.unwrap_or(!https));
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key.resolve()?);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.resolve()?);
        }
        builder
            .build()
            .map_err(|e| S3Error::Config(format!("url {:?}: {e}", config.url)))
    }

    /// The store's URL, as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store, for what this type does not offer.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where `key` is in the store.
    pub fn path(&self, key: &str) -> StorePath {
        let mut path = self.prefix.clone();
        for part in key.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    /// `key` as its full URL, for messages and metadata.
    pub fn url_of(&self, key: &str) -> String {
        format!("{}/{}", self.url, key.trim_start_matches('/'))
    }

    fn failed(
        &self,
        action: &'static str,
        key: &str,
    ) -> impl FnOnce(object_store::Error) -> S3Error {
        let what = self.url_of(key);
        move |e| S3Error::Store {
            action,
            what,
            reason: e.to_string(),
        }
    }

    /// Store `bytes` at `key`, replacing what is there.
    pub async fn put(&self, key: &str, bytes: impl Into<Bytes>) -> Result<(), S3Error> {
        self.store
            .put(&self.path(key), PutPayload::from_bytes(bytes.into()))
            .await
            .map(drop)
            .map_err(self.failed("put", key))
    }

    /// The whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, S3Error> {
        let fail = self.failed("get", key);
        match self.store.get(&self.path(key)).await {
            Ok(result) => result.bytes().await.map_err(fail),
            Err(e) => Err(fail(e)),
        }
    }

    /// Bytes `range` of the object at `key`.
    pub async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, S3Error> {
        self.store
            .get_range(&self.path(key), range)
            .await
            .map_err(self.failed("read a range of", key))
    }

    /// The size, modification time and ETag of `key`; `None` when there is no such
    /// object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, S3Error> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed("head", key)(e)),
        }
    }

    /// The objects under `prefix` (recursively), their keys relative to the resource.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, ObjectMeta)>, S3Error> {
        let under = self.path(prefix);
        let metas: Vec<ObjectMeta> = self
            .store
            .list(Some(&under))
            .try_collect()
            .await
            .map_err(self.failed("list", prefix))?;
        let mut found: Vec<(String, ObjectMeta)> = metas
            .into_iter()
            .map(|meta| (self.key_of(&meta.location), meta))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// A location's key relative to the resource's prefix.
    fn key_of(&self, location: &StorePath) -> String {
        match location.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/"),
            None => location.to_string(),
        }
    }

    /// Delete `key`; deleting what is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", key)(e)),
        }
    }

    /// Copy `from` to `to` within the store.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), S3Error> {
        self.store
            .copy(&self.path(from), &self.path(to))
            .await
            .map_err(self.failed("copy", from))
    }

    /// Upload local file `file` to `key`, streaming it as a multipart upload (a failed
    /// upload is aborted, leaving no parts behind). Returns the bytes sent.
    pub async fn upload_file(&self, file: &Path, key: &str) -> Result<u64, S3Error> {
        let local = |source| S3Error::File {
            action: "read",
            path: file.display().to_string(),
            source,
        };
        let mut reader = tokio::fs::File::open(file).await.map_err(local)?;
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(self.failed("start an upload to", key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buffer = vec![0u8; 1 << 20];
        let mut sent = 0u64;
        loop {
            let n = match reader.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(local(e));
                }
            };
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(self.failed("upload to", key)(e));
            }
            writer.write(&buffer[..n]);
            sent += n as u64;
        }
        writer
            .finish()
            .await
            .map_err(self.failed("upload to", key))?;
        Ok(sent)
    }

    /// Download `key` into local file `file` (created or replaced), writing the body as
    /// it arrives. Returns the bytes written.
    pub async fn download_file(&self, key: &str, file: &Path) -> Result<u64, S3Error> {
        let local = |source| S3Error::File {
            action: "write",
            path: file.display().to_string(),
            source,
        };
        let mut body = self
            .store
            .get(&self.path(key))
            .await
            .map_err(self.failed("download", key))?
            .into_stream();
        let mut out = tokio::fs::File::create(file).await.map_err(local)?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(self.failed("download", key))?;
            out.write_all(&chunk).await.map_err(local)?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(local)?;
        Ok(written)
    }

    /// A URL that allows `method` (GET to download, PUT to upload) on `key` for
    /// `expires_in`, without credentials; S3 and S3-compatible stores only.
    pub async fn presigned_url(
        &self,
        method: Method,
        key: &str,
        expires_in: Duration,
    ) -> Result<Url, S3Error> {
        let Some(signer) = &self.signer else {
            return Err(S3Error::Unsupported(format!(
                "{} cannot presign URLs: only S3 stores can",
                self.url
            )));
        };
        signer
            .signed_url(method, &self.path(key), expires_in)
            .await
            .map_err(self.failed("presign a URL for", key))
    }

    /// Whether the store answers a listing of the resource's prefix.
    pub async fn health_check(&self) -> Result<(), S3Error> {
        self.store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map(drop)
            .map_err(self.failed("list", ""))
    }
}
