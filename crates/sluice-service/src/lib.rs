//! # sluice-service
//!
//! Sluice's application operations in plain Rust: the one place the GraphQL API
//! (`sluice-graphql`), the web UI (`sluice-ui`) and the `sluice` CLI go through to read
//! and change an instance. It knows nothing of GraphQL or HTML; those crates translate
//! its types into Dagster's schema and into pages.
//!
//! A [`Service`] holds the instance storage, the live [`Workspace`] (the code locations
//! and their snapshots) and the instance directory. Everything is a method on it, grouped
//! by what it acts on:
//!
//! | module | what |
//! | --- | --- |
//! | [`access`] | API tokens, roles and permissions ([`access::Caller`]), the audit log |
//! | [`locations`] | finding a job ([`JobSelector`] → [`FoundJob`]), validating its run config, reloading locations |
//! | [`runs`] | launching ([`LaunchRequest`]), re-executing ([`ReexecuteRequest`]), terminating, deleting and listing runs |
//! | [`events`] | a run's event log: pages by Dagster's cursors, and followed live |
//! | [`run_config`] | run config documents in and out (`runConfigData`, `runConfigYaml`) |
//! | [`partitions`] | dynamic partitions |
//! | [`assets`] | the asset catalog: latest materializations, freshness, lineage, partition health, materializing |
//! | [`backfills`] | partition and asset backfills |
//! | [`instigators`] | schedules and sensors: their definitions joined with their stored state |
//! | [`instance`] | daemon health |
//! | [`redaction`] | what of a run may be shown: secrets hidden in every output |
//! | [`run_stats`] | step and run times from a run's events |
//! | [`config_errors`] | run config errors as Dagster reports them |
//!
//! Storage stays behind the service: callers never reach it directly, so every read and
//! write the webserver does has a name here. Every run and event the service hands out
//! has its secrets hidden ([`redaction`]), whoever shows it.
//!
//! ```no_run
//! # async fn example(service: &sluice_service::Service) -> sluice_service::Result<()> {
//! use sluice_service::{JobSelector, LaunchRequest};
//!
//! let selector = JobSelector::new("demo", "one_op_job");
//! let run = service
//!     .launch_run(LaunchRequest::new(selector, serde_json::json!({})))
//!     .await?;
//! println!("queued {}", run.run_id);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_codeserver::Workspace;
use sluice_storage::Storage;

pub mod access;
pub mod assets;
pub mod backfills;
pub mod config_errors;
mod error;
pub mod events;
pub mod instance;
pub mod instigators;
pub mod locations;
mod paging;
pub mod partitions;
pub mod redaction;
pub mod run_config;
pub mod run_stats;
pub mod runs;

pub use error::{Error, Result};
pub use events::{EventBatch, EventPage, decode_event_cursor, encode_event_cursor};
pub use instance::DaemonStatus;
pub use locations::{FoundJob, JobSelector};
pub use paging::page_limit;
pub use run_config::{parse_run_config, run_config_yaml};
pub use runs::{
    LaunchRequest, ReexecuteRequest, ReexecutionStrategy, RunsQuery, TerminateOutcome,
    TerminatePolicy,
};

/// The operations of a Sluice instance over its storage and workspace. Cheap to share
/// behind an `Arc`.
pub struct Service {
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    home: PathBuf,
}

impl Service {
    /// Operations over `storage` and `workspace`; `home` is the instance directory,
    /// where the daemon listens for "a run was queued".
    pub fn new(storage: Arc<dyn Storage>, workspace: Workspace, home: PathBuf) -> Self {
        Self {
            storage,
            workspace,
            home,
        }
    }

    /// The instance storage, for this crate's modules only.
    fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The instance directory.
    pub fn home(&self) -> &Path {
        &self.home
    }
}
