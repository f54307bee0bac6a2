//! `sluice schedule …` and `sluice sensor …`: list, start, stop and reset schedules and
//! sensors, and set a sensor's cursor, as Dagster's CLI does. The workspace's code
//! servers are started to learn the definitions; the change is written to the instance,
//! where the daemon picks it up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sluice_codeserver::open_workspace;
use sluice_service::Service;
use sluice_service::instigators::{Instigator, InstigatorDefinition};
use sluice_storage::{InstigatorStatus, InstigatorType, instance_home};

/// What to do with a schedule or sensor.
#[derive(Subcommand)]
pub(crate) enum InstigatorCommand {
    /// List them with their status.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Start one: it runs until stopped, whatever its definition says.
    Start {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Stop one.
    Stop {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Go back to the status its definition sets.
    Reset {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Set (or with --delete, clear) a sensor's cursor.
    Cursor {
        name: String,
        #[arg(long, conflicts_with = "delete", required_unless_present = "delete")]
        set: Option<String>,
        #[arg(long)]
        delete: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// Where to look.
#[derive(clap::Args)]
pub(crate) struct Target {
    /// The workspace file naming the code locations.
    #[arg(short = 'w', long, default_value = "workspace.yaml")]
    pub workspace: PathBuf,
    /// Only this code location (needed when several have the name).
    #[arg(short = 'l', long)]
    pub location: Option<String>,
}

impl InstigatorCommand {
    fn target(&self) -> &Target {
        match self {
            Self::List { target }
            | Self::Start { target, .. }
            | Self::Stop { target, .. }
            | Self::Reset { target, .. }
            | Self::Cursor { target, .. } => target,
        }
    }
}

pub(crate) async fn run(kind: InstigatorType, command: InstigatorCommand) -> Result<()> {
    let noun = match kind {
        InstigatorType::Schedule => "schedule",
        InstigatorType::Sensor => "sensor",
    };
    let target = command.target();
    let service = service(&target.workspace).await?;
    let all = instigators(&service, kind, target.location.as_deref()).await?;
    let find = |name: &str| -> Result<Instigator> {
        let found: Vec<&Instigator> = all.iter().filter(|i| i.name() == name).collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!(
                "no {noun} named \"{name}\"; the workspace has: {}",
                names(&all)
            ),
            _ => bail!(
                "{noun} \"{name}\" is in several locations ({}); choose one with --location",
                found
                    .iter()
                    .map(|i| i.key.location_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    match &command {
        InstigatorCommand::List { .. } => {
            for i in &all {
                println!(
                    "{:<8} {}  {}  {}",
                    i.status().as_str(),
                    i.key.location_name,
                    i.name(),
                    detail(i)
                );
            }
            if all.is_empty() {
                println!("No {noun}s in the workspace.");
            }
        }
        InstigatorCommand::Start { name, .. }
        | InstigatorCommand::Stop { name, .. }
        | InstigatorCommand::Reset { name, .. } => {
            let status = match &command {
                InstigatorCommand::Start { .. } => Some(InstigatorStatus::Running),
                InstigatorCommand::Stop { .. } => Some(InstigatorStatus::Stopped),
                _ => None,
            };
            let changed = service.set_instigator_status(&find(name)?, status).await?;
            println!(
                "{noun} \"{name}\" is {}.",
                changed.status().as_str().to_lowercase()
            );
        }
        InstigatorCommand::Cursor {
            name, set, delete, ..
        } => {
            if kind != InstigatorType::Sensor {
                bail!("only sensors have a cursor");
            }
            let cursor = if *delete { None } else { set.as_deref() };
            service.set_sensor_cursor(&find(name)?, cursor).await?;
            match cursor {
                Some(c) => println!("sensor \"{name}\" cursor set to \"{c}\"."),
                None => println!("sensor \"{name}\" cursor cleared."),
            }
        }
    }
    Ok(())
}

/// The service over the instance and the workspace (its code servers started).
pub(crate) async fn service(workspace: &Path) -> Result<Service> {
    let storage = crate::open_storage().await?;
    let (_started, workspace) = open_workspace(workspace)
        .await
        .with_context(|| format!("loading workspace {}", workspace.display()))?;
    Ok(Service::new(storage as Arc<_>, workspace, instance_home()))
}

async fn instigators(
    service: &Service,
    kind: InstigatorType,
    location: Option<&str>,
) -> Result<Vec<Instigator>> {
    let mut found = Vec::new();
    for loc in service.workspace().locations().await {
        if location.is_some_and(|l| l != loc.name) {
            continue;
        }
        if let sluice_codeserver::LocationState::Failed(reason) = &loc.state {
            eprintln!(
                "warning: code location \"{}\" is not loaded: {reason}",
                loc.name
            );
            continue;
        }
        found.extend(
            service
                .instigators(&loc.name, sluice::core::snapshot::REPOSITORY_NAME, kind)
                .await?,
        );
    }
    if let Some(l) = location
        && service.workspace().location(l).await.is_none()
    {
        bail!("the workspace has no code location \"{l}\"");
    }
    Ok(found)
}

fn names(all: &[Instigator]) -> String {
    if all.is_empty() {
        return "none".to_owned();
    }
    all.iter()
        .map(Instigator::name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn detail(i: &Instigator) -> String {
    match &i.definition {
        InstigatorDefinition::Schedule(s) => format!(
            "\"{}\" {} → {}",
            s.cron_schedule,
            s.execution_timezone.as_deref().unwrap_or("UTC"),
            s.job_name
        ),
        InstigatorDefinition::Sensor(s) => {
            let cursor = i.state.as_ref().and_then(|s| s.cursor.as_deref());
            format!(
                "every {} s → {}{}",
                s.minimum_interval_seconds,
                s.job_names.join(", "),
                cursor.map(|c| format!("  cursor {c}")).unwrap_or_default()
            )
        }
    }
}
