//! `sluice dev`: the code servers of a workspace, plus the webserver and the daemon, on
//! one instance, started together and stopped together.
//!
//! User code runs in its own processes (the code servers and their run workers). The
//! webserver and the daemon run here, in this process: they share one storage pool and
//! one live workspace, so a location reloaded in the UI is reloaded for the daemon too,
//! and local work costs one process less.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use sluice_codeserver::{LocationState, open_workspace};
use sluice_daemon::{Daemon, DaemonSettings};
use sluice_service::Service;
use sluice_storage::{StorageConfig, Wakeup};
use sluice_web::{Authentication, WebSettings};

/// Run everything until Ctrl-C or SIGTERM.
pub(crate) async fn run(workspace: &Path, host: &str, port: u16) -> Result<()> {
    let home = sluice_storage::instance_home();
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let storage = sluice_storage::open(&StorageConfig::from_env()?)
        .await
        .context("opening instance storage")?;
    let settings = DaemonSettings::load(&home).context("reading the instance config")?;
    let mut web_settings = WebSettings::load(&home).context("reading the instance config")?;
    let address = format!("{host}:{port}");
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    let address = listener
        .local_addr()
        .context("reading the listening address")?;
    let wakeups = Wakeup::run_queue(&home)
        .listen()
        .with_context(|| format!("listening for run queue wake-ups in {}", home.display()))?;

    // Code servers started (and `cargo:` locations built) here, restarted when they
    // exit, swapped for a new version on reload or when sources change.
    let (servers, workspace) = open_workspace(workspace).await?;
    let locations = workspace.locations().await;
    for location in &locations {
        if let LocationState::Failed(reason) = &location.state {
            tracing::warn!(location = %location.name, %reason, "code location not loaded");
        }
    }
    let shutdown = sluice::signals::shutdown_on_signals("Stopping Sluice");
    let daemon = Daemon::new(Arc::clone(&storage) as _, workspace.clone(), settings);
    let daemon = tokio::spawn(daemon.run(wakeups, shutdown.clone()));
    let service = Arc::new(Service::new(storage, workspace, home.clone()));
    eprintln!(
        "Sluice is running on instance {} with {} code location(s).\n  UI:      http://{address}/\n  GraphQL: http://{address}/graphql\nPress Ctrl-C to stop.",
        home.display(),
        locations.len()
    );
    // Local work on a loopback address needs no sign-in; anywhere else it does.
    web_settings
        .authentication
        .get_or_insert(if address.ip().is_loopback() {
            Authentication::Off
        } else {
            Authentication::Tokens
        });
    let app = sluice_web::app(service, &web_settings, address);
    let served = sluice_web::serve(listener, app, shutdown.clone())
        .await
        .context("serving HTTP");
    shutdown.cancel();
    let _ = daemon.await;
    servers.stop().await;
    served
}
