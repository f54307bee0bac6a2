//! `sluice-webserver`: the GraphQL API (Dagster-compatible) over one instance and the
//! code locations of a workspace file.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{ArgAction, Parser};
use sluice_codeserver::open_workspace;
use sluice_service::Service;
use sluice_storage::{StorageConfig, instance_home};
use sluice_web::WebSettings;

/// The Sluice webserver: GraphQL at /graphql (GraphiQL in a browser), on port 3000 by
/// default.
#[derive(Parser)]
#[command(name = "sluice-webserver", version, disable_help_flag = true)]
struct Cli {
    /// The workspace file naming the code locations.
    #[arg(short = 'w', long, default_value = "workspace.yaml")]
    workspace: PathBuf,
    /// The address to listen on.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    host: String,
    /// The port to listen on.
    #[arg(short = 'p', long, default_value_t = 3000)]
    port: u16,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

#[tokio::main]
async fn main() -> Result<()> {
    sluice::memory::limit_malloc_arenas();
    let cli = Cli::parse();
    sluice::logging::init("info");
    let storage = sluice_storage::open(&StorageConfig::from_env()?)
        .await
        .context("opening instance storage")?;
    let (started, workspace) = open_workspace(&cli.workspace)
        .await
        .with_context(|| format!("loading workspace {}", cli.workspace.display()))?;
    for location in workspace.locations().await {
        if let sluice_codeserver::LocationState::Failed(reason) = &location.state {
            tracing::warn!(location = %location.name, %reason, "code location not loaded");
        }
    }
    let home = instance_home();
    let settings = WebSettings::load(&home).context("reading the instance config")?;
    let service = Arc::new(Service::new(storage, workspace, home));
    let address = format!("{}:{}", cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    eprintln!("Sluice webserver listening on http://{local}");
    let shutdown = sluice::signals::shutdown_on_signals("Stopping the webserver");
    let app = sluice_web::app(service, &settings, local);
    let served = sluice_web::serve(listener, app, shutdown)
        .await
        .context("serving HTTP");
    started.stop().await;
    served
}
