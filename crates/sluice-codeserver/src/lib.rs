//! # sluice-codeserver
//!
//! The code-location side of Sluice. A location's binary serves the code-location
//! protocol ([`protocol`]) with [`server`]: its snapshot, and launching and terminating
//! run workers. The webserver and the daemon talk to it with [`client`]. A run worker
//! ([`worker`]) executes one stored run and writes its events; workers are forked by
//! the [`fork_server`] (or started as `execute-run` commands). [`workspace`] reads
//! `workspace.yaml` and keeps the snapshots of its locations; [`supervisor`] keeps them
//! current: it starts the code servers the workspace names (building a [`cargo`]
//! location first), restarts one that exits, swaps in a new version on reload or when
//! sources change, and reloads a remote one that was redeployed.

pub mod cargo;
pub mod client;
pub mod evaluation;
pub mod fork_server;
pub mod protocol;
pub mod server;
pub mod supervisor;
pub mod worker;
pub mod workspace;

pub use client::{ClientError, CodeServerClient};
pub use fork_server::{ForkServer, ForkServerClient};
pub use server::{CodeServer, WorkerCommand, WorkerLauncher};
pub use supervisor::Supervisor;
pub use worker::{WorkerError, execute_run};
pub use workspace::{Location, LocationState, Workspace, WorkspaceFile, open_workspace};
