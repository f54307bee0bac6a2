//! # Sluice
//!
//! Everything a code location needs: define ops, jobs and resources with the
//! [`prelude`], collect them in [`Definitions`], and hand them to [`user_code::main`] from
//! the location's binary. That binary is then the location's code server and run worker,
//! and answers local commands (`job list`, `job execute`, `definitions validate`).
//!
//! A complete code location:
//!
//! ```no_run
//! use sluice::prelude::*;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct GreetConfig {
//!     name: String,
//!     /// How many times to greet (default 1).
//!     times: Option<u32>,
//! }
//!
//! fn definitions() -> Result<Definitions, DefinitionError> {
//!     let greet = OpDefinition::builder("greet")
//!         .config::<GreetConfig>()
//!         .output::<String>("result")
//!         .compute(|ctx, _inputs| async move {
//!             let config: GreetConfig = ctx.config()?;
//!             let line = format!("hello, {}", config.name);
//!             for _ in 0..config.times.unwrap_or(1) {
//!                 ctx.info(line.clone());
//!             }
//!             Ok(line)
//!         });
//!     let shout = OpDefinition::builder("shout")
//!         .input::<String>("text")
//!         .compute(|ctx, inputs| async move {
//!             ctx.info(inputs.get::<String>("text")?.to_uppercase());
//!             Ok(())
//!         });
//!
//!     let mut job = JobDefinition::builder("greeting_job").description("Greets, then shouts.");
//!     let g = job.add(&greet);
//!     job.node(&shout).input("text", g.output("result")).add();
//!
//!     Definitions::builder().job(job.build()).build()
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     sluice::user_code::main(vec![CodeLocation::new("greetings", definitions)])
//! }
//! ```
//!
//! Then `greetings job execute -j greeting_job -c '{ops: {greet: {config: {name: Ada}}}}'`.

pub mod logging;
pub mod memory;
pub mod resource_check;
pub mod signals;
pub mod testing;
pub mod user_code;

pub use sluice_core::{DefinitionError, DefinitionProblem, Definitions};
pub use user_code::CodeLocation;

/// The Sluice model crate, for what the prelude does not name.
pub use sluice_core as core;

/// Resources and IO managers for real systems (object stores, Arrow tables as Parquet).
pub use sluice_resources as resources;

/// The names a code location uses, in one import.
pub mod prelude {
    pub use crate::user_code::CodeLocation;
    pub use sluice_core::prelude::*;
}
