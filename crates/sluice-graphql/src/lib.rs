//! # sluice-graphql
//!
//! The Sluice webserver's API: Dagster's GraphQL schema (the parts Sluice implements,
//! with Dagster's names, so that Dagster's own clients work unchanged) over
//! [`Service`], the webserver's operations in plain Rust, and [`app`], the axum app that
//! serves it (`/graphql` over HTTP and websockets, GraphiQL, `/healthz`, `/server_info`).

#![warn(missing_docs)]
// async-graphql's `field(name = .., ty = ..)` attributes repeat keys by design.
#![allow(clippy::duplicated_attributes)]

pub mod app;
pub mod assets;
pub mod backfills;
pub mod config_errors;
mod error;
pub mod instigators;
pub mod run_stats;
pub mod schema;
pub mod service;

pub use app::{router, serve};
pub use error::{Error, Result};
pub use schema::{SluiceSchema, build_schema};
pub use service::Service;
