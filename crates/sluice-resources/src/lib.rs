//! Resources and IO managers for real systems.
//!
//! - [`io_manager`]: [`ObjectStoreIoManager`], step outputs and assets in a local
//!   directory, S3 or MinIO, through the `object_store` crate.
//! - [`table`]: [`Table`], an Arrow record batch as a step output, kept as Parquet.

pub mod io_manager;
pub mod table;

pub use io_manager::ObjectStoreIoManager;
pub use table::{Table, TableError};
