//! `sluice partition …`: list, add and delete the keys of a dynamic partitions set, as
//! Dagster's `dagster instance dynamic-partitions` commands do. The workspace's code
//! servers are started to check that a location uses the set.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sluice_codeserver::LocationState;

use crate::instigators::{Target, service};

/// What to do with a dynamic partitions set.
#[derive(Subcommand)]
pub(crate) enum PartitionCommand {
    /// List the set's keys, in the order they were added.
    List {
        /// The set (a `PartitionsDefinition::dynamic` name).
        set: String,
        #[command(flatten)]
        target: Target,
    },
    /// Add keys; a key the set has already is refused, and nothing is added.
    Add {
        set: String,
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Delete keys.
    Delete {
        set: String,
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

pub(crate) async fn run(command: PartitionCommand) -> Result<()> {
    let (PartitionCommand::List { set, target }
    | PartitionCommand::Add { set, target, .. }
    | PartitionCommand::Delete { set, target, .. }) = &command;
    let service = service(&target.workspace).await?;
    let location = location_using(&service, set, target.location.as_deref()).await?;
    match &command {
        PartitionCommand::List { .. } => {
            for key in service.dynamic_partition_keys(&location, set).await? {
                println!("{key}");
            }
        }
        PartitionCommand::Add { keys, .. } => {
            service
                .add_dynamic_partitions(&location, set, keys)
                .await
                .context("nothing was added")?;
            println!("Added {} partition(s) to \"{set}\".", keys.len());
        }
        PartitionCommand::Delete { keys, .. } => {
            let deleted = service
                .delete_dynamic_partitions(&location, set, keys)
                .await?;
            println!("Deleted {} partition(s) from \"{set}\".", deleted.len());
        }
    }
    Ok(())
}

/// The location that uses set `set` (the one named, or the first that does).
async fn location_using(
    service: &sluice_service::Service,
    set: &str,
    only: Option<&str>,
) -> Result<String> {
    let mut known = Vec::new();
    for loc in service.workspace().locations().await {
        if only.is_some_and(|l| l != loc.name) {
            continue;
        }
        let LocationState::Loaded(snapshot) = &loc.state else {
            eprintln!("warning: code location \"{}\" is not loaded", loc.name);
            continue;
        };
        let sets = snapshot.dynamic_partition_sets();
        if sets.contains(set) {
            return Ok(loc.name.clone());
        }
        known.extend(sets.into_iter().map(str::to_owned));
    }
    known.sort();
    known.dedup();
    bail!(
        "no code location{} uses dynamic partitions \"{set}\"; the sets in use: {}",
        only.map(|l| format!(" named \"{l}\"")).unwrap_or_default(),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}
