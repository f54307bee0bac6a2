//! sea-orm entities of the instance tables (schema: `sluice-migrations`).

pub mod daemon_heartbeats;
pub mod event_logs;
pub mod run_tags;
pub mod runs;
