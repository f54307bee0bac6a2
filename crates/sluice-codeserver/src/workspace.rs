//! The workspace: which code locations the webserver and daemon load, as listed in
//! `workspace.yaml` (Dagster's `load_from`), and their live state.
//!
//! ```yaml
//! load_from:
//!   - code_server: {host: 127.0.0.1, port: 4000, location_name: demo}
//!   - command: {executable: sluice-user-code, args: ["--location", "demo"], location_name: demo}
//! ```
//!
//! A `command` entry is a code server this process starts itself (with `serve --port 0`
//! appended), restarts when it exits, and stops when it ends: see
//! [`supervisor`](crate::supervisor).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sluice_core::events::now_timestamp;
use sluice_core::snapshot::LocationSnapshot;
use tokio::sync::RwLock;

use crate::client::CodeServerClient;
use crate::supervisor::StartedCodeServers;

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
}

impl LocationEntry {
    /// The location's name.
    pub fn location_name(&self) -> &str {
        match self {
            Self::CodeServer { location_name, .. } | Self::Command { location_name, .. } => {
                location_name
            }
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
    /// When the state was last refreshed (Unix seconds).
    pub updated_at: f64,
}

impl Location {
    /// The snapshot, or `None` if the location failed to load.
    pub fn snapshot(&self) -> Option<&Arc<LocationSnapshot>> {
        match &self.state {
            LocationState::Loaded(s) => Some(s),
            LocationState::Failed(_) => None,
        }
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
            let location = load(name.clone(), CodeServerClient::from_url(&url)).await;
            workspace.locations.write().await.insert(name, location);
        }
        workspace
    }

    /// Fetch `name`'s snapshot again. `None` if the workspace has no such location.
    pub async fn reload(&self, name: &str) -> Option<Location> {
        let client = self.locations.read().await.get(name)?.client.clone();
        let location = load(name.to_owned(), client).await;
        self.locations
            .write()
            .await
            .insert(name.to_owned(), location.clone());
        Some(location)
    }

    /// Reload every location.
    pub async fn reload_all(&self) {
        let names: Vec<String> = self.locations.read().await.keys().cloned().collect();
        for name in names {
            self.reload(&name).await;
        }
    }

    /// Say that `name` is down, and why (its code server exited, say): it stays
    /// listed, with `reason` as its load error, until it is loaded again.
    pub async fn mark_down(&self, name: &str, reason: String) {
        if let Some(location) = self.locations.write().await.get_mut(name) {
            location.state = LocationState::Failed(reason);
            location.updated_at = now_timestamp();
        }
    }

    /// Load `name` from the code server at `url` (a restarted one), from now on.
    pub async fn connect_location(&self, name: &str, url: &str) -> Location {
        let location = load(name.to_owned(), CodeServerClient::from_url(url)).await;
        self.locations
            .write()
            .await
            .insert(name.to_owned(), location.clone());
        location
    }

    /// The location `name`, or `None` if the workspace has no such location.
    pub async fn location(&self, name: &str) -> Option<Location> {
        self.locations.read().await.get(name).cloned()
    }

    /// Every location, by name.
    pub async fn locations(&self) -> Vec<Location> {
        self.locations.read().await.values().cloned().collect()
    }
}

/// Read `workspace.yaml` at `path`, start the code servers of its `command` entries, and
/// connect to every location. The started servers are restarted when they exit, and
/// stop when the returned value is dropped or stopped.
pub async fn open_workspace(
    path: &Path,
) -> Result<(StartedCodeServers, Workspace), WorkspaceError> {
    let file = WorkspaceFile::load(path)?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (mut started, urls) = StartedCodeServers::start(&file, base_dir).await?;
    let workspace = Workspace::connect(urls).await;
    started.supervise(&workspace);
    Ok((started, workspace))
}

async fn load(name: String, client: CodeServerClient) -> Location {
    let state = match client.snapshot().await {
        Ok(snapshot) if snapshot.location_name == name => LocationState::Loaded(Arc::new(snapshot)),
        Ok(snapshot) => LocationState::Failed(format!(
            "the code server at {} serves location \"{}\", not \"{name}\"",
            client.url(),
            snapshot.location_name
        )),
        Err(e) => LocationState::Failed(e.to_string()),
    };
    Location {
        name,
        client,
        state,
        updated_at: now_timestamp(),
    }
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
