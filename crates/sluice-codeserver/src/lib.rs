//! # sluice-codeserver
//!
//! The code-location side of Sluice. A location's binary serves the code-location
//! protocol ([`protocol`]) with [`server`]: its snapshot, and launching and terminating
//! run workers. The webserver and the daemon talk to it with [`client`]. A run worker
//! ([`worker`]) executes one stored run and writes its events.

pub mod client;
pub mod protocol;
pub mod server;
pub mod worker;

pub use client::{ClientError, CodeServerClient};
pub use server::{CodeServer, WorkerCommand};
pub use worker::{WorkerError, execute_run};
