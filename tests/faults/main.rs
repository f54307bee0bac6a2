//! The fault suite: Sluice's processes paused, killed and cut off from their database
//! while runs are under way, each trial asserting that no run is lost, none runs twice,
//! and every run ends with a reason.

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

mod code_servers;
mod crash;
mod database;
mod fencing;
