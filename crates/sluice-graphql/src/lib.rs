//! # sluice-graphql
//!
//! The Sluice webserver's API: Dagster's GraphQL schema (the parts Sluice implements,
//! with Dagster's names, so that Dagster's own clients work unchanged), a translation of
//! [`sluice_service::Service`], the instance's operations in plain Rust, and [`app`], the
//! axum app that serves it (`/graphql` over HTTP and websockets, GraphiQL, `/healthz`,
//! `/server_info`). No resolver touches storage: every read and write is a service call.

#![warn(missing_docs)]
// async-graphql's `field(name = .., ty = ..)` attributes repeat keys by design.
#![allow(clippy::duplicated_attributes)]

mod access;
pub mod app;
pub mod limits;
pub mod schema;

pub use app::router;
pub use limits::QueryLimits;
pub use schema::{SluiceSchema, build_schema};
