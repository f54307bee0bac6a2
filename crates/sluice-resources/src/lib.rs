//! Resources and IO managers for real systems.
//!
//! - [`io_manager`]: [`ObjectStoreIoManager`], step outputs and assets in a local
//!   directory, S3 or MinIO, through the `object_store` crate.
//! - [`table`]: [`Table`], an Arrow record batch as a step output, kept as Parquet.
//! - [`http`]: [`HttpApiResource`], a client for one HTTP API: auth from the
//!   environment, retries with backoff, pagination and polling.

pub mod http;
pub mod io_manager;
pub mod table;

pub use http::HttpApiResource;
pub use io_manager::ObjectStoreIoManager;
pub use table::{Table, TableError};
