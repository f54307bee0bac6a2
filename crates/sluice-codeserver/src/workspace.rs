//! The workspace: which code locations the webserver and daemon load, as listed in
//! `workspace.yaml` (Dagster's `load_from`), and their live state.
//!
//! ```yaml
//! load_from:
//!   - code_server: {host: 127.0.0.1, port: 4000, location_name: demo}
//!   - command: {executable: sluice-user-code, args: ["--location", "demo"], location_name: demo}
//!   - cargo: {manifest_path: ../acme/Cargo.toml, bin: acme, location_name: acme}
//! ```
//!
//! A `command` entry is a code server this process starts itself (with `serve --port 0`
//! appended), restarts when it exits, and stops when it ends; a `cargo` entry is one it
//! builds first, and builds again when its sources change. A `code_server` entry is one
//! that runs elsewhere, loaded again when it is redeployed. See
//! [`supervisor`](crate::supervisor).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sluice_core::events::now_timestamp;
use sluice_core::snapshot::LocationSnapshot;
use tokio::sync::RwLock;

use crate::client::CodeServerClient;
use crate::supervisor::{Request, ServerControl, Supervisor};

/// The workspace file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The file could not be read.
    #[error("cannot read workspace file {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML, or not a workspace.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}:{}", column.unwrap_or(0))).unwrap_or_default())]
    Syntax {
        /// The file's path.
        path: String,
        /// The line of the error, from 1, when the parser knows it.
        line: Option<usize>,
        /// The column of the error, from 1, when the parser knows it.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// Two entries share a location name.
    #[error("{path}: code location \"{name}\" is listed more than once")]
    DuplicateLocation {
        /// The file's path.
        path: String,
        /// The shared name.
        name: String,
    },
    /// A `command` location's code server could not be started.
    #[error("code location \"{location}\": cannot start `{command}`: {reason}")]
    Start {
        /// The location's name.
        location: String,
        /// The command, as run.
        command: String,
        /// Why it could not start, or why it did not announce its address.
        reason: String,
    },
}

/// The contents of a `workspace.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    /// Each entry is a one-key mapping naming its kind, as in Dagster.
    #[serde(with = "serde_norway::with::singleton_map_recursive")]
    pub load_from: Vec<LocationEntry>,
}

/// One code location of a workspace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LocationEntry {
    /// A code server that is already running.
    CodeServer {
        /// The server's host.
        host: String,
        /// The server's port.
        port: u16,
        /// The location's name.
        location_name: String,
    },
    /// A code server to start: `executable [args] serve --host 127.0.0.1 --port 0`.
    Command {
        /// A path (relative to the workspace file) or a program name, looked up next to
        /// the running Sluice binary first and then on `PATH`.
        executable: String,
        /// Arguments before `serve ...`.
        #[serde(default)]
        args: Vec<String>,
        /// The location's name.
        location_name: String,
        /// The directory to start it in, relative to the workspace file's; the current one
        /// when absent.
        #[serde(default)]
        working_directory: Option<PathBuf>,
        /// Environment variables set for it, on top of the inherited ones.
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// A code location in a cargo crate of one's own, built by this process (`cargo
    /// build --manifest-path M --bin B`) and then started as a `command` entry would
    /// be; rebuilt and swapped in when its sources change (see
    /// [`supervisor`](crate::supervisor)).
    Cargo {
        /// The crate's `Cargo.toml`, relative to the workspace file's directory.
        manifest_path: PathBuf,
        /// The binary target to build and run; the crate's only one when absent.
        #[serde(default)]
        bin: Option<String>,
        /// The location's name.
        location_name: String,
        /// Arguments before `serve ...`.
        #[serde(default)]
        args: Vec<String>,
        /// Environment variables set for it, on top of the inherited ones.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// The cargo profile to build with (`dev` when absent).
        #[serde(default)]
        profile: Option<String>,
        /// Rebuild when a file under the crate's directory changes (default true).
        #[serde(default = "watch_by_default")]
        watch: bool,
    },
}

fn watch_by_default() -> bool {
    true
}

impl LocationEntry {
    /// The location's name.
    pub fn location_name(&self) -> &str {
        match self {
            Self::CodeServer { location_name, .. }
            | Self::Command { location_name, .. }
            | Self::Cargo { location_name, .. } => location_name,
        }
    }
}

impl WorkspaceFile {
    /// Read and check a workspace file.
    pub fn load(path: &Path) -> Result<Self, WorkspaceError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WorkspaceError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parse workspace YAML; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, WorkspaceError> {
        let file: WorkspaceFile = serde_norway::from_str(text).map_err(|e| {
            let loc = e.location();
            WorkspaceError::Syntax {
                path: path.to_owned(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: e.to_string(),
            }
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for entry in &file.load_from {
            if !seen.insert(entry.location_name()) {
                return Err(WorkspaceError::DuplicateLocation {
                    path: path.to_owned(),
                    name: entry.location_name().to_owned(),
                });
            }
        }
        Ok(file)
    }
}

/// The state of one location: its snapshot, or why it could not be loaded.
#[derive(Debug, Clone)]
pub enum LocationState {
    /// Its snapshot, as last fetched.
    Loaded(Arc<LocationSnapshot>),
    /// Why its snapshot could not be fetched.
    Failed(String),
}

/// A location as the workspace holds it.
#[derive(Debug, Clone)]
pub struct Location {
    /// The location's name.
    pub name: String,
    /// The client of its code server.
    pub client: CodeServerClient,
    /// Its snapshot, or why it could not be loaded.
    pub state: LocationState,
    /// Why the latest version of its code did not load (a compile error, a definitions
    /// error) while `state` still serves the last version that did; cleared by the next
    /// version that loads.
    pub newer_version_error: Option<String>,
    /// The id of the snapshot served ([`crate::protocol::Health::snapshot_id`]), when
    /// known.
    pub snapshot_id: Option<String>,
    /// When the state was last refreshed (Unix seconds).
    pub updated_at: f64,
    /// How to restart or stop its code server, when this process runs it.
    control: Option<ServerControl>,
}

impl Location {
    /// The snapshot, or `None` if the location failed to load.
    pub fn snapshot(&self) -> Option<&Arc<LocationSnapshot>> {
        match &self.state {
            LocationState::Loaded(s) => Some(s),
            LocationState::Failed(_) => None,
        }
    }

    /// Why the location, or the latest version of its code, failed to load, if it did.
    pub fn load_error(&self) -> Option<&str> {
        match &self.state {
            LocationState::Failed(reason) => Some(reason),
            LocationState::Loaded(_) => self.newer_version_error.as_deref(),
        }
    }

    /// Whether this process runs the location's code server (a `command:` or `cargo:`
    /// entry), rather than connecting to one (`code_server:`).
    pub fn is_managed(&self) -> bool {
        self.control.is_some()
    }
}

/// The live workspace: every location's client and latest snapshot. Cheap to clone.
#[derive(Clone, Default)]
pub struct Workspace {
    locations: Arc<RwLock<BTreeMap<String, Location>>>,
}

impl Workspace {
    /// A workspace of the code servers at `urls` (location name, URL), each loaded once.
    /// A location that cannot be loaded is kept with its error, and can be reloaded.
    pub async fn connect(urls: Vec<(String, String)>) -> Self {
        let workspace = Self::default();
        for (name, url) in urls {
            workspace.connect_location(&name, &url).await;
        }
        workspace
    }

    /// Load `name` again. A location whose code server this process runs gets a new
    /// server (and a `cargo:` one a new build) first; the old one serves until the new
    /// one has loaded, then finishes its runs and exits. Any other location's snapshot
    /// is fetched again. `None` if the workspace has no such location.
    pub async fn reload(&self, name: &str) -> Option<Location> {
        let location = self.location(name).await?;
        match &location.control {
            Some(control) => control.request(Request::Reload).await,
            None => {
                self.connect_location(name, location.client.url()).await;
            }
        }
        self.location(name).await
    }

    /// Reload every location (see [`reload`](Self::reload)), all at once.
    pub async fn reload_all(&self) {
        let names: Vec<String> = self.locations.read().await.keys().cloned().collect();
        futures::future::join_all(names.iter().map(|name| self.reload(name))).await;
    }

    /// Stop `name`'s code server: one this process runs stays stopped until the location
    /// is reloaded; any other is asked to stop (`POST /v1/shutdown`) and is loaded again
    /// once it answers with new code (see [`crate::supervisor`]). Its runs in flight
    /// finish first. `None` if the workspace has no such location.
    pub async fn shutdown(&self, name: &str) -> Option<Location> {
        let location = self.location(name).await?;
        match &location.control {
            Some(control) => control.request(Request::Shutdown).await,
            None => {
                let reason = match location.client.shutdown().await {
                    Ok(_) => "its code server was shut down".to_owned(),
                    Err(e) => format!("its code server was asked to shut down: {e}"),
                };
                self.mark_down(name, reason).await;
            }
        }
        self.location(name).await
    }

    /// Say that `name` is down, and why (its code server exited, say): it stays
    /// listed, with `reason` as its load error, until it is loaded again.
    pub async fn mark_down(&self, name: &str, reason: String) {
        self.update(name, |location| {
            location.state = LocationState::Failed(reason);
            location.newer_version_error = None;
            location.snapshot_id = None;
        })
        .await;
    }

    /// Say that a newer version of `name`'s code did not load, and why, while the
    /// version loaded keeps serving (or, if none is, that the location is down).
    pub async fn newer_version_failed(&self, name: &str, reason: String) {
        self.update(name, |location| match location.state {
            LocationState::Loaded(_) => location.newer_version_error = Some(reason),
            LocationState::Failed(_) => location.state = LocationState::Failed(reason),
        })
        .await;
    }

    /// Load `name` from the code server at `url` from now on (a new server, or a
    /// restarted one), whatever it serves; the location as loaded.
    pub async fn connect_location(&self, name: &str, url: &str) -> Location {
        let client = CodeServerClient::from_url(url);
        match fetch(name, &client).await {
            Ok(loaded) => self.set_loaded(name, client, loaded).await,
            Err(reason) => {
                self.upsert(name, client.clone(), |location| {
                    location.client = client;
                    location.state = LocationState::Failed(reason);
                    location.newer_version_error = None;
                    location.snapshot_id = None;
                })
                .await
            }
        }
    }

    /// `name` is served by `client` from now on, with `loaded` as its snapshot.
    pub(crate) async fn set_loaded(
        &self,
        name: &str,
        client: CodeServerClient,
        loaded: Loaded,
    ) -> Location {
        self.upsert(name, client.clone(), |location| {
            location.client = client;
            location.state = LocationState::Loaded(Arc::new(loaded.snapshot));
            location.snapshot_id = Some(loaded.snapshot_id);
            location.newer_version_error = None;
        })
        .await
    }

    /// List `name`, run by this process through `control`, as not loaded yet.
    pub(crate) async fn add_managed(&self, name: &str, control: ServerControl) {
        let location = Location {
            name: name.to_owned(),
            client: CodeServerClient::from_url("http://127.0.0.1:0"),
            state: LocationState::Failed("its code server is starting".to_owned()),
            newer_version_error: None,
            snapshot_id: None,
            updated_at: now_timestamp(),
            control: Some(control),
        };
        self.locations
            .write()
            .await
            .insert(name.to_owned(), location);
    }

    /// The location `name`, or `None` if the workspace has no such location.
    pub async fn location(&self, name: &str) -> Option<Location> {
        self.locations.read().await.get(name).cloned()
    }

    /// Every location, by name.
    pub async fn locations(&self) -> Vec<Location> {
        self.locations.read().await.values().cloned().collect()
    }

    async fn update(&self, name: &str, change: impl FnOnce(&mut Location)) {
        if let Some(location) = self.locations.write().await.get_mut(name) {
            change(location);
            location.updated_at = now_timestamp();
        }
    }

    async fn upsert(
        &self,
        name: &str,
        client: CodeServerClient,
        change: impl FnOnce(&mut Location),
    ) -> Location {
        let mut locations = self.locations.write().await;
        let location = locations
            .entry(name.to_owned())
            .or_insert_with(|| Location {
                name: name.to_owned(),
                client,
                state: LocationState::Failed(String::new()),
                newer_version_error: None,
                snapshot_id: None,
                updated_at: 0.0,
                control: None,
            });
        change(location);
        location.updated_at = now_timestamp();
        location.clone()
    }
}

/// Read `workspace.yaml` at `path` and start supervising its locations (see
/// [`Supervisor`]): code servers for its `command:` and `cargo:` entries are started
/// (built first for `cargo:`), and every location is loaded once before this returns.
/// Only a file that cannot be read or parsed is an error; a location that does not load
/// is listed with its load error, and the others serve. The started servers stop when
/// the supervisor is dropped or stopped.
pub async fn open_workspace(path: &Path) -> Result<(Supervisor, Workspace), WorkspaceError> {
    let file = WorkspaceFile::load(path)?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let workspace = Workspace::default();
    let supervisor = Supervisor::start(&file, base_dir, &workspace).await;
    Ok((supervisor, workspace))
}

/// A snapshot as fetched from a code server, with its id.
pub(crate) struct Loaded {
    pub(crate) snapshot: LocationSnapshot,
    pub(crate) snapshot_id: String,
}

/// Fetch the snapshot `client`'s server serves, and check that it is `name`'s.
pub(crate) async fn fetch(name: &str, client: &CodeServerClient) -> Result<Loaded, String> {
    let health = client.health().await.map_err(|e| e.to_string())?;
    let snapshot = client.snapshot().await.map_err(|e| e.to_string())?;
    if snapshot.location_name != name {
        return Err(format!(
            "the code server at {} serves location \"{}\", but the workspace names it \"{name}\"; make `location_name` in workspace.yaml and the name the binary gives its location (`CodeLocation::new`) the same",
            client.url(),
            snapshot.location_name
        ));
    }
    Ok(Loaded {
        snapshot,
        snapshot_id: health.snapshot_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_entry_kinds() {
        let file = WorkspaceFile::parse(
            "load_from:\n  - code_server: {host: 127.0.0.1, port: 4000, location_name: a}\n  - command: {executable: sluice-user-code, args: [--location, b], location_name: b}\n",
            "workspace.yaml",
        )
        .unwrap();
        assert_eq!(file.load_from.len(), 2);
        assert_eq!(file.load_from[1].location_name(), "b");
    }

    #[test]
    fn bad_files_name_file_line_and_problem() {
        let err = WorkspaceFile::parse("load_from:\n  - python_file: x.py\n", "workspace.yaml")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("workspace.yaml:2:"), "{msg}");
        assert!(msg.contains("python_file"), "{msg}");
        let err = WorkspaceFile::parse(
            "load_from:\n  - code_server: {host: h, port: 1, location_name: a}\n  - code_server: {host: h, port: 2, location_name: a}\n",
            "w.yaml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "w.yaml: code location \"a\" is listed more than once"
        );
        let err = WorkspaceFile::parse(
            "load_from:\n  - code_server: {host: h, port: 99999, location_name: a}\n",
            "w.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("w.yaml:2:"), "{err}");
    }
}
