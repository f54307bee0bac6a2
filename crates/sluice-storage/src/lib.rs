//! # sluice-storage
//!
//! Instance storage for Sluice: runs, their tags and the event log, on an embedded
//! SQLite database (the default, under `$SLUICE_HOME`) or on Postgres.
//!
//! - [`Storage`] is what the rest of Sluice talks to: the sum of one trait per area of
//!   the instance ([`RunStorage`], [`EventStorage`], [`InstigationStorage`],
//!   [`AssetStorage`], [`BackfillStorage`], [`PartitionStorage`], [`DaemonStorage`];
//!   see [`api`]). [`SqlStorage`] implements every area on sea-orm for both backends
//!   and applies the schema migrations of `sluice-migrations` when it opens a database.
//!   Its methods are called with the area traits in scope: [`prelude`].
//! - [`EventWriter`] is the [`EventSink`](sluice_core::events::EventSink) that a run
//!   worker hands to the executor: emitting never blocks, and events are written in
//!   batches by a background task.
//! - [`StorageConfig`] says which database an instance uses (`$SLUICE_HOME`,
//!   `sluice.yaml`, `$SLUICE_POSTGRES_URL`); [`open`] opens it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_storage::StorageError> {
//! use std::sync::Arc;
//! use sluice_core::events::{EventSink, EventType, RunEvent};
//! use sluice_core::run::NewRun;
//! use sluice_storage::prelude::*;
//! use sluice_storage::{EventWriter, StorageConfig};
//!
//! let storage = sluice_storage::open(&StorageConfig::from_env()?).await?;
//! let run = storage.create_run(&NewRun::new("my_job")).await?;
//! let writer = EventWriter::spawn(storage.clone());
//! writer.emit(RunEvent::new(&run.run_id, EventType::RunStart, "started"));
//! writer.close().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::sync::Arc;

pub mod api;
mod config;
pub mod entity;
mod error;
mod sql;
mod wakeup;
mod writer;

pub use api::Storage;
pub use api::access::{AccessStorage, ApiToken, AuditEntry, NewApiToken};
pub use api::assets::{AssetEntry, AssetStorage, MaterializationsFilter};
pub use api::backfills::{
    BACKFILL_ID_TAG, Backfill, BackfillRuns, BackfillStatus, BackfillStorage, BackfillsFilter,
    NewBackfill, new_backfill_id,
};
pub use api::daemon::{DaemonHeartbeat, DaemonStorage};
pub use api::events::EventStorage;
pub use api::instigation::{
    DynamicPartitionsAction, DynamicPartitionsResult, InstigatedRun, InstigationStorage,
    InstigatorKey, InstigatorState, InstigatorStatus, InstigatorType, NewTick, Tick, TickResult,
    TickStatus, TicksFilter,
};
pub use api::partitions::{PartitionStorage, partitions_context};
pub use api::runs::{RunStorage, RunsFilter};
pub use config::{
    DEFAULT_HOME, HOME_ENV, INSTANCE_FILE, POSTGRES_URL_ENV, SQLITE_FILE, StorageConfig,
    read_instance_file, redact_url,
};
pub use error::{Result, StorageError};
pub use sql::SqlStorage;
pub use wakeup::{Wakeup, WakeupListener, instance_home, output_storage_dir};
pub use writer::EventWriter;

/// The storage traits, for `use sluice_storage::prelude::*;`: a method of [`Storage`] is
/// declared by one of its area traits, and calling it on a concrete type (such as
/// [`SqlStorage`]) needs that trait in scope. (`dyn Storage` needs none.)
pub mod prelude {
    pub use crate::api::Storage;
    pub use crate::api::access::AccessStorage;
    pub use crate::api::assets::AssetStorage;
    pub use crate::api::backfills::BackfillStorage;
    pub use crate::api::daemon::DaemonStorage;
    pub use crate::api::events::EventStorage;
    pub use crate::api::instigation::InstigationStorage;
    pub use crate::api::partitions::PartitionStorage;
    pub use crate::api::runs::RunStorage;
}

/// Open the instance storage `config` describes, applying pending migrations.
pub async fn open(config: &StorageConfig) -> Result<Arc<SqlStorage>> {
    Ok(Arc::new(SqlStorage::open(config).await?))
}
