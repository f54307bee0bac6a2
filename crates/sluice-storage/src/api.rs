//! What Sluice may ask of its instance storage, one trait per area, apart from how it is
//! stored ([`SqlStorage`](crate::SqlStorage) implements every area in `sql/`).
//!
//! - [`RunStorage`] for runs and their tags, the run queue's order, the heartbeats of
//!   run workers and run status changes;
//! - [`EventStorage`] for the event log;
//! - [`InstigationStorage`] for the state of schedules and sensors, their ticks and run
//!   keys;
//! - [`AssetStorage`] for the asset catalog;
//! - [`BackfillStorage`] for backfills;
//! - [`PartitionStorage`] for dynamic partitions;
//! - [`DaemonStorage`] for the daemon loops' heartbeats;
//! - [`AccessStorage`] for API tokens and the audit log.
//!
//! [`Storage`] is all of them at once, the one trait the rest of Sluice holds
//! (`Arc<dyn Storage>`). Through `dyn Storage` every area's methods can be called as
//! they are; on a concrete type such as `SqlStorage` the area trait must be in scope
//! (`use sluice_storage::prelude::*;`).

pub mod access;
pub mod assets;
pub mod backfills;
pub mod daemon;
pub mod events;
pub mod instigation;
pub mod partitions;
pub mod runs;

use access::AccessStorage;
use assets::AssetStorage;
use backfills::BackfillStorage;
use daemon::DaemonStorage;
use events::EventStorage;
use instigation::InstigationStorage;
use partitions::PartitionStorage;
use runs::RunStorage;

/// The instance's storage: every area at once. Any type that implements all the area
/// traits is a `Storage`; callers hold it as `Arc<dyn Storage>`.
pub trait Storage:
    RunStorage
    + EventStorage
    + InstigationStorage
    + AssetStorage
    + BackfillStorage
    + PartitionStorage
    + DaemonStorage
    + AccessStorage
    + Send
    + Sync
    + 'static
{
}

impl<T> Storage for T where
    T: RunStorage
        + EventStorage
        + InstigationStorage
        + AssetStorage
        + BackfillStorage
        + PartitionStorage
        + DaemonStorage
        + AccessStorage
        + Send
        + Sync
        + 'static
{
}
