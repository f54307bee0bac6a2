//! `sluice-daemon`: runs the daemon's loops over one instance and workspace.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sluice_codeserver::open_workspace;
use sluice_daemon::{Daemon, DaemonSettings};
use sluice_storage::{StorageConfig, Wakeup, instance_home};

/// The Sluice daemon: launches queued runs and monitors running ones.
#[derive(Parser)]
#[command(name = "sluice-daemon", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run until SIGTERM or Ctrl-C, logging to stdout (suits systemd).
    Run {
        /// The workspace file naming the code locations.
        #[arg(short = 'w', long, default_value = "workspace.yaml")]
        workspace: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    sluice::memory::limit_malloc_arenas();
    let Command::Run { workspace } = Cli::parse().command;
    sluice::logging::init_stdout("info");
    let storage = sluice_storage::open(&StorageConfig::from_env()?)
        .await
        .context("opening instance storage")?;
    let home = instance_home();
    let settings = DaemonSettings::load(&home).context("reading the instance config")?;
    let (started, workspace) = open_workspace(&workspace)
        .await
        .with_context(|| format!("loading workspace {}", workspace.display()))?;
    let wakeups = Wakeup::run_queue(&home)
        .listen()
        .with_context(|| format!("listening for run queue wake-ups in {}", home.display()))?;
    let shutdown = sluice::signals::shutdown_on_signals("Stopping the daemon");
    tracing::info!(
        max_concurrent_runs = settings.run_coordinator.max_concurrent_runs,
        "sluice-daemon running"
    );
    Daemon::new(storage, workspace, settings)
        .run(wakeups, shutdown)
        .await;
    started.stop().await;
    Ok(())
}
