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
//! appended) and stops when it ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde::Deserialize;
use sluice_core::events::now_timestamp;
use sluice_core::snapshot::LocationSnapshot;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::RwLock;

use crate::client::CodeServerClient;

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

/// Code servers this process started for `command` entries; they stop when it is dropped.
#[derive(Default)]
pub struct StartedCodeServers {
    children: Vec<tokio::process::Child>,
}

impl StartedCodeServers {
    /// Start a code server for each `command` entry and return every location's URL.
    /// `base_dir` resolves relative executables (the workspace file's directory).
    pub async fn start(
        file: &WorkspaceFile,
        base_dir: &Path,
    ) -> Result<(Self, Vec<(String, String)>), WorkspaceError> {
        let mut started = Self::default();
        let mut urls = Vec::new();
        for entry in &file.load_from {
            match entry {
                LocationEntry::CodeServer {
                    host,
                    port,
                    location_name,
                } => urls.push((location_name.clone(), format!("http://{host}:{port}"))),
                LocationEntry::Command {
                    executable,
                    args,
                    location_name,
                    working_directory,
                    env,
                } => {
                    let program = resolve_executable(executable, base_dir);
                    let shown = format!("{} {}", program.display(), args.join(" "));
                    let fail = |reason: String| WorkspaceError::Start {
                        location: location_name.clone(),
                        command: shown.trim().to_owned(),
                        reason,
                    };
                    let mut cmd = tokio::process::Command::new(&program);
                    cmd.args(args)
                        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
                        .envs(env)
                        .stdin(Stdio::null())
                        .stderr(Stdio::piped())
                        .kill_on_drop(true);
                    if let Some(dir) = working_directory {
                        cmd.current_dir(base_dir.join(dir));
                    }
                    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
                    let stderr = child
                        .stderr
                        .take()
                        .ok_or_else(|| fail("no stderr".into()))?;
                    let url = announced_url(stderr, location_name.clone())
                        .await
                        .ok_or_else(|| fail("it exited before it was listening".into()))?;
                    started.children.push(child);
                    urls.push((location_name.clone(), url));
                }
            }
        }
        Ok((started, urls))
    }

    /// Stop every started code server and wait for it.
    pub async fn stop(mut self) {
        for child in &mut self.children {
            let _ = child.kill().await;
        }
    }
}

/// Read a code server's stderr until it announces `listening on URL`; keep forwarding
/// the rest of its output to ours, prefixed with the location's name.
async fn announced_url(stderr: tokio::process::ChildStderr, location: String) -> Option<String> {
    let prefix = format!("[{location}] ");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next_line().await.ok()??;
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_owned();
        }
        write_stderr(format!("{prefix}{line}\n").as_bytes());
    };
    tokio::spawn(forward_lines(lines.into_inner(), prefix, write_stderr));
    Some(url)
}

/// Copy `reader`'s lines to our stderr, each behind `prefix`. What arrives together is
/// written together: a burst of runs logs thousands of lines a second, and a system call
/// per line would cost more than the runs.
async fn forward_lines(
    mut reader: impl AsyncBufRead + Unpin,
    prefix: String,
    mut write: impl FnMut(&[u8]),
) {
    let mut out = Vec::new();
    let mut at_line_start = true;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            if at_line_start {
                out.extend_from_slice(prefix.as_bytes());
            }
            out.extend_from_slice(piece);
            at_line_start = piece.ends_with(b"\n");
        }
        let consumed = chunk.len();
        reader.consume(consumed);
        write(&out);
        out.clear();
    }
    if !at_line_start {
        write(b"\n");
    }
}

fn write_stderr(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(bytes);
}

fn resolve_executable(executable: &str, base_dir: &Path) -> PathBuf {
    if executable.contains('/') {
        return base_dir.join(executable);
    }
    let beside_us = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(executable)))
        .filter(|p| p.is_file());
    beside_us.unwrap_or_else(|| PathBuf::from(executable))
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
/// connect to every location. The started servers stop when the returned value is
/// dropped or stopped.
pub async fn open_workspace(
    path: &Path,
) -> Result<(StartedCodeServers, Workspace), WorkspaceError> {
    let file = WorkspaceFile::load(path)?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (started, urls) = StartedCodeServers::start(&file, base_dir).await?;
    Ok((started, Workspace::connect(urls).await))
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

    #[tokio::test]
    async fn forwarded_lines_are_prefixed_whatever_the_chunks() {
        // A 4-byte buffer splits lines across reads.
        let reader = BufReader::with_capacity(4, &b"ab\ncdefgh\n\ni"[..]);
        let mut out = Vec::new();
        forward_lines(reader, "[x] ".to_owned(), |b| out.extend_from_slice(b)).await;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[x] ab\n[x] cdefgh\n[x] \n[x] i\n"
        );
    }

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
