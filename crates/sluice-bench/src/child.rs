//! Child processes of a benchmark: killed when dropped, and code servers started from
//! this binary's hidden `serve-*` subcommands.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// A child process killed when dropped.
pub(crate) struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start this binary with `args` (a `serve-*` subcommand) on the instance at `home`, and
/// wait until it prints where it listens. Returns it with its `host:port`, and writes a
/// `workspace.yaml` naming it as `location` in `home`.
pub(crate) fn code_server(
    home: &Path,
    args: &[String],
    location: &str,
) -> Result<(Killed, String)> {
    let mut server = Command::new(std::env::current_exe()?);
    server
        .args(args)
        .env("SLUICE_HOME", home)
        .env_remove("SLUICE_POSTGRES_URL")
        .stderr(Stdio::piped());
    let mut server = Killed(server.spawn()?);
    let stderr = server.0.stderr.take().context("code server stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().context("the code server exited")??;
        if let Some(at) = line.find("listening on http://") {
            break line[at + 20..].trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let (host, port) = address.rsplit_once(':').context("address")?;
    std::fs::write(
        home.join("workspace.yaml"),
        format!(
            "load_from:\n  - code_server: {{host: {host}, port: {port}, location_name: {location}}}\n"
        ),
    )?;
    Ok((server, address))
}

/// Start the Sluice binary `binary` (next to this one) with `args`, on the instance at
/// `home` and its `workspace.yaml`, its output discarded.
pub(crate) fn sluice_process(binary: &str, args: &[&str], home: &Path) -> Result<Killed> {
    Ok(Killed(
        Command::new(crate::sibling_binary(binary)?)
            .args(args)
            .arg("-w")
            .arg(home.join("workspace.yaml"))
            .env("SLUICE_HOME", home)
            .env_remove("SLUICE_POSTGRES_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

/// Serve `defs` as code location `location` on a free port until killed: the body of a
/// `serve-*` subcommand. Runs are never launched through it.
pub(crate) fn serve(location: &str, defs: &sluice_core::Definitions) -> Result<()> {
    use std::sync::Arc;

    use sluice_codeserver::{CodeServer, WorkerCommand, WorkerLauncher};
    use sluice_storage::{Storage, StorageConfig};
    use tokio_util::sync::CancellationToken;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage: Arc<dyn Storage> = sluice_storage::open(&StorageConfig::from_env()?).await?;
        let launcher = WorkerLauncher::Exec(WorkerCommand {
            program: std::env::current_exe()?,
            args: vec![],
        });
        let server = CodeServer::new(location, defs, storage, launcher);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on http://{}", listener.local_addr()?);
        sluice_codeserver::server::serve(listener, server, CancellationToken::new()).await?;
        Ok(())
    })
}
