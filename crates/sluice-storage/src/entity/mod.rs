//! sea-orm entities of the instance tables (schema: `sluice-migrations`).

pub mod api_tokens;
pub mod asset_keys;
pub mod asset_partitions;
pub mod audit_log;
pub mod backfills;
pub mod daemon_heartbeats;
pub mod dynamic_partitions;
pub mod event_logs;
pub mod instigator_run_keys;
pub mod instigator_ticks;
pub mod instigators;
pub mod run_tags;
pub mod runs;
