//! Resources and IO managers for real systems.
//!
//! - [`io_manager`]: [`ObjectStoreIoManager`], step outputs and assets in a local
//!   directory, S3 or MinIO, through the `object_store` crate.
//! - [`table`]: [`Table`], an Arrow record batch as a step output, kept as Parquet.
//! - [`graph`]: [`GraphResource`], an embedded Cypher graph database per tenant
//!   (LadybugDB, with the `ladybug` feature): queries with parameters, bulk loads.
//! - [`http`]: [`HttpApiResource`], a client for one HTTP API: auth from the
//!   environment, retries with backoff, pagination and polling.
//! - [`mongo`]: [`MongoResource`], a MongoDB client and database with typed
//!   collections, upserts and idempotent indexes.
//! - [`s3`]: [`S3Resource`], S3, MinIO or a local directory behind one type: every
//!   verb, streamed multipart uploads and downloads, presigned URLs.
//! - [`postgres`]: [`PostgresResource`], a pooled Postgres connection with parameters,
//!   transactions, a statement timeout and `COPY` for bulk loads.
//! - [`postgis`]: [`PostGisResource`], a per-run PostGIS working schema: GeoJSON and CSV
//!   loads, SQL transforms, GeoParquet exports to object storage.

pub mod graph;
pub mod http;
pub mod io_manager;
pub mod mongo;
pub mod postgis;
pub mod postgres;
pub mod s3;
mod shared;
pub mod table;

pub use graph::GraphResource;
pub use http::HttpApiResource;
pub use io_manager::ObjectStoreIoManager;
pub use mongo::MongoResource;
pub use postgis::PostGisResource;
pub use postgres::PostgresResource;
pub use s3::S3Resource;
pub use table::{Table, TableError};

/// A resource's own error as the `ResourceError` its setup, teardown or health check
/// reports.
pub(crate) fn resource_error<E: std::fmt::Display>(
    error: E,
) -> sluice_core::resource::ResourceError {
    sluice_core::resource::ResourceError::msg(error.to_string())
}

/// A config field's seconds as a duration, or why they are not one.
pub(crate) fn seconds(value: f64, field: &str) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{field} must be a non-negative number of seconds, not {value}"))
}
