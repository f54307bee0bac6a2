//! # sluice-codeserver
//!
//! The process side of a code location. Today: the run worker, which executes a stored
//! run against instance storage. The code-location protocol (server and client) builds
//! on it.

pub mod worker;

pub use worker::{WorkerError, execute_run};
