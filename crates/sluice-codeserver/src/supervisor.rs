//! Keeping every location of a workspace current.
//!
//! [`Supervisor::start`] takes each entry of `workspace.yaml`:
//!
//! - A `command:` entry's code server is started here (`serve --port 0` appended; it
//!   announces where it listens) and kept running: one that exits marks its location
//!   down (the exit status, and when the next attempt comes) and is restarted with a
//!   back-off from one second to thirty; a server that stays up a minute starts the
//!   back-off afresh.
//! - A `cargo:` entry is built first ([`crate::cargo`]) and then run the same way; when
//!   a file under its crate changes, it is built again and the new server is swapped in.
//! - A `code_server:` entry runs elsewhere: its health is read every five seconds, and
//!   when its snapshot id changes (the server was redeployed with other code) or it
//!   answers again after being down, the location is loaded again.
//!
//! **Swapping** a location to a new version (a rebuild, or a reload asked for through
//! [`Workspace::reload`]) starts the new code server beside the old one and loads its
//! snapshot. Only when that succeeds does the workspace point at the new server; the
//! old one is asked to stop (SIGTERM), finishes the runs it started and exits. When the
//! new version fails (a compile error, definitions that do not load, a name that does
//! not match), the old one keeps serving and the failure is the location's
//! [`newer_version_error`](crate::workspace::Location::newer_version_error) until a
//! version loads.
//!
//! Each managed location is one task owning its processes, driven by messages
//! ([`ServerControl`]), so reloads, rebuilds and restarts of a location never overlap.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cargo::{CargoBuild, SourceWatch};
use crate::client::CodeServerClient;
use crate::workspace::{LocationEntry, Workspace, WorkspaceError, WorkspaceFile, fetch};

/// The first pause before restarting a code server that exited.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server up this long has recovered: its next exit is restarted after the first pause.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// How often a `code_server:` entry's health is read.
const REMOTE_POLL: Duration = Duration::from_secs(5);

/// How to start one location's code server.
#[derive(Debug, Clone)]
struct Spawn {
    location: String,
    program: PathBuf,
    args: Vec<String>,
    env: std::collections::BTreeMap<String, String>,
    working_directory: Option<PathBuf>,
}

impl Spawn {
    /// The command line, as shown in errors.
    fn shown(&self) -> String {
        format!("{} {}", self.program.display(), self.args.join(" "))
            .trim()
            .to_owned()
    }

    /// Start the server and wait until it listens; the child and its URL.
    async fn start(&self) -> Result<(Child, String), WorkspaceError> {
        let fail = |reason: String| WorkspaceError::Start {
            location: self.location.clone(),
            command: self.shown(),
            reason,
        };
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .envs(&self.env)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.working_directory {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| fail("no stderr".into()))?;
        let announced = announced_url(stderr, self.location.clone()).await;
        let url = match announced {
            Ok(url) => url,
            Err(said) => {
                // Its stderr closed: it is exiting, or has.
                let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await
                {
                    Ok(Ok(status)) => format!(" ({status})"),
                    _ => String::new(),
                };
                return Err(fail(if said.is_empty() {
                    format!("it exited before it was listening{status}")
                } else {
                    format!(
                        "it exited before it was listening{status}, saying:\n{}",
                        said.join("\n")
                    )
                }));
            }
        };
        Ok((child, url))
    }
}

/// What a managed location's task is asked to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Request {
    /// Start a new version (rebuilt, for `cargo:`) and swap it in.
    Reload,
    /// Stop the code server, and keep it stopped until the next reload.
    Shutdown,
}

/// The handle a [`Workspace`] keeps to a location whose code server this process runs.
#[derive(Debug, Clone)]
pub(crate) struct ServerControl {
    requests: mpsc::Sender<(Request, oneshot::Sender<()>)>,
}

impl ServerControl {
    /// Ask for `request` and wait until it has been done.
    pub(crate) async fn request(&self, request: Request) {
        let (done, finished) = oneshot::channel();
        if self.requests.send((request, done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

/// The supervision of a workspace's locations: it owns the code servers started for
/// them, which stop when it is dropped or [`stop`](Self::stop)ped.
#[derive(Default)]
pub struct Supervisor {
    tasks: JoinSet<()>,
    stopping: CancellationToken,
}

impl Supervisor {
    /// Supervise every entry of `file` in `workspace`, and return once each location
    /// has been loaded or has failed to load (a failure is its load error, never this
    /// function's). `base_dir` resolves relative paths (the workspace file's directory).
    pub async fn start(file: &WorkspaceFile, base_dir: &Path, workspace: &Workspace) -> Self {
        let mut supervisor = Self::default();
        let mut first_attempts = Vec::new();
        for entry in &file.load_from {
            let name = entry.location_name().to_owned();
            let managed = match entry {
                LocationEntry::CodeServer { host, port, .. } => {
                    let url = format!("http://{host}:{port}");
                    workspace.connect_location(&name, &url).await;
                    supervisor.tasks.spawn(follow_remote(
                        name,
                        workspace.clone(),
                        supervisor.stopping.clone(),
                    ));
                    continue;
                }
                LocationEntry::Command {
                    executable,
                    args,
                    working_directory,
                    env,
                    ..
                } => Managed {
                    spawn: Spawn {
                        location: name.clone(),
                        program: resolve_executable(executable, base_dir),
                        args: args.clone(),
                        env: env.clone(),
                        working_directory: working_directory.as_ref().map(|d| base_dir.join(d)),
                    },
                    build: None,
                    build_failed: false,
                },
                LocationEntry::Cargo {
                    manifest_path,
                    bin,
                    args,
                    env,
                    profile,
                    watch,
                    ..
                } => {
                    let build = CargoBuild::new(
                        &name,
                        base_dir.join(manifest_path),
                        bin.clone(),
                        profile.clone(),
                        *watch,
                    );
                    Managed {
                        spawn: Spawn {
                            location: name.clone(),
                            program: PathBuf::new(),
                            args: args.clone(),
                            env: env.clone(),
                            working_directory: build.crate_dir().map(Path::to_path_buf),
                        },
                        build: Some(build),
                        build_failed: false,
                    }
                }
            };
            let (requests, inbox) = mpsc::channel(8);
            workspace
                .add_managed(&name, ServerControl { requests })
                .await;
            let (loaded, first_attempt) = oneshot::channel();
            first_attempts.push(first_attempt);
            supervisor.tasks.spawn(managed.run(
                workspace.clone(),
                inbox,
                loaded,
                supervisor.stopping.clone(),
            ));
        }
        for first_attempt in first_attempts {
            let _ = first_attempt.await;
        }
        supervisor
    }

    /// Stop every code server started here and wait for them.
    pub async fn stop(mut self) {
        self.stopping.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A location whose code server this process runs.
struct Managed {
    spawn: Spawn,
    /// How to build it, for a `cargo:` entry.
    build: Option<CargoBuild>,
    /// Whether the latest build failed (then only a change or a reload tries again).
    build_failed: bool,
}

/// The code server serving a managed location.
struct Serving {
    child: Child,
    since: Instant,
}

impl Managed {
    /// The location's task: deploy it, then keep it running and answer requests until
    /// `stopping`. `loaded` is told when the first attempt is over.
    async fn run(
        mut self,
        workspace: Workspace,
        mut inbox: mpsc::Receiver<(Request, oneshot::Sender<()>)>,
        loaded: oneshot::Sender<()>,
        stopping: CancellationToken,
    ) {
        let name = self.spawn.location.clone();
        // Old versions finishing their runs; killed if still running when this ends.
        let mut retiring: JoinSet<()> = JoinSet::new();
        let mut watch = self.build.as_ref().and_then(|b| b.watch());
        let mut serving = self.deploy(&workspace, None, &mut retiring).await;
        let _ = loaded.send(());
        let mut backoff = FIRST_BACKOFF;
        // When to try again to start a location that is down, if at all.
        let mut retry_at = self.retry_if_down(&serving, &mut backoff);
        let mut shut_down = false;
        loop {
            tokio::select! {
                status = wait_for(&mut serving) => {
                    let up_for = serving.take().map(|s| s.since.elapsed()).unwrap_or_default();
                    if up_for >= HEALTHY_AFTER {
                        backoff = FIRST_BACKOFF;
                    }
                    let exited = match status {
                        Ok(status) => format!("its code server exited ({status})"),
                        Err(e) => format!("its code server could not be waited for ({e})"),
                    };
                    let reason = format!("{exited}; restarting it in {}s", backoff.as_secs_f64());
                    tracing::warn!(location = %name, "{reason}");
                    workspace.mark_down(&name, reason).await;
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                () = sleep_until(retry_at) => {
                    retry_at = None;
                    serving = self.deploy(&workspace, None, &mut retiring).await;
                    if serving.is_some() {
                        tracing::info!(location = %name, "code server restarted");
                    } else {
                        retry_at = self.retry_if_down(&serving, &mut backoff);
                    }
                }
                Some(()) = next_change(&mut watch), if !shut_down => {
                    tracing::info!(location = %name, "sources changed; rebuilding");
                    let old = serving.take();
                    serving = self.deploy(&workspace, old, &mut retiring).await;
                    retry_at = self.retry_if_down(&serving, &mut backoff);
                }
                Some((request, done)) = inbox.recv() => {
                    match request {
                        Request::Reload => {
                            shut_down = false;
                            let old = serving.take();
                            serving = self.deploy(&workspace, old, &mut retiring).await;
                            retry_at = self.retry_if_down(&serving, &mut backoff);
                        }
                        Request::Shutdown => {
                            shut_down = true;
                            retry_at = None;
                            if let Some(old) = serving.take() {
                                retire(old.child, &mut retiring);
                            }
                            workspace
                                .mark_down(&name, "its code server was shut down; reload the location to start it again".to_owned())
                                .await;
                        }
                    }
                    let _ = done.send(());
                }
                // An old version has finished its runs and exited: forget it.
                Some(_) = retiring.join_next() => {}
                () = stopping.cancelled() => break,
            }
        }
        // Dropping the children kills them (`kill_on_drop`), old versions included.
        drop(serving);
        retiring.abort_all();
        while retiring.join_next().await.is_some() {}
    }

    /// When to try again after a failed start, backing off: soon, when the server
    /// failed to start or load (it may need something that comes back); never when
    /// the build failed, which only a change to the sources or a reload can mend.
    fn retry_if_down(&self, serving: &Option<Serving>, backoff: &mut Duration) -> Option<Instant> {
        if serving.is_some() || self.build_failed {
            return None;
        }
        let at = Instant::now() + *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        Some(at)
    }

    /// Build (for `cargo:`) and start a new version, load its snapshot, and make it the
    /// location's server; `old` is retired once the new one serves, and keeps serving
    /// if the new one fails. What serves afterwards.
    async fn deploy(
        &mut self,
        workspace: &Workspace,
        old: Option<Serving>,
        retiring: &mut JoinSet<()>,
    ) -> Option<Serving> {
        let name = self.spawn.location.clone();
        match self.start_new_version().await {
            Ok((child, client, loaded)) => {
                workspace.set_loaded(&name, client, loaded).await;
                if let Some(old) = old {
                    retire(old.child, retiring);
                }
                Some(Serving {
                    child,
                    since: Instant::now(),
                })
            }
            Err(reason) => {
                tracing::warn!(location = %name, "{reason}");
                workspace.newer_version_failed(&name, reason).await;
                old
            }
        }
    }

    async fn start_new_version(
        &mut self,
    ) -> Result<(Child, CodeServerClient, crate::workspace::Loaded), String> {
        if let Some(build) = &self.build {
            let built = build.build().await;
            self.build_failed = built.is_err();
            self.spawn.program = built.map_err(|e| e.to_string())?;
        }
        let (mut child, url) = self.spawn.start().await.map_err(|e| e.to_string())?;
        let client = CodeServerClient::from_url(&url);
        match fetch(&self.spawn.location, &client).await {
            Ok(loaded) => Ok((child, client, loaded)),
            Err(reason) => {
                let _ = child.kill().await;
                Err(reason)
            }
        }
    }
}

/// Ask an old code server to stop (SIGTERM: it stops listening, finishes the runs it
/// started, and exits), and reap it when it does.
fn retire(mut child: Child, retiring: &mut JoinSet<()>) {
    if let Some(pid) = child.id() {
        // SAFETY: signalling a child process this process started and has not reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    retiring.spawn(async move {
        let _ = child.wait().await;
    });
}

/// The serving child's exit; never, when nothing serves.
async fn wait_for(serving: &mut Option<Serving>) -> std::io::Result<std::process::ExitStatus> {
    match serving {
        Some(serving) => serving.child.wait().await,
        None => std::future::pending().await,
    }
}

/// Sleep until `at`; never, when it is `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The next change to the watched sources; never, when nothing is watched.
async fn next_change(watch: &mut Option<SourceWatch>) -> Option<()> {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

/// Follow a `code_server:` location: read its health every [`REMOTE_POLL`], and load
/// it again when its snapshot id changes or it answers after being down; mark it down
/// while it does not answer.
async fn follow_remote(name: String, workspace: Workspace, stopping: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(REMOTE_POLL) => {}
            () = stopping.cancelled() => return,
        }
        let Some(location) = workspace.location(&name).await else {
            return;
        };
        match location.client.health().await {
            Ok(health) => {
                let current = location.snapshot().is_some()
                    && location.snapshot_id.as_deref() == Some(health.snapshot_id.as_str());
                if !current {
                    let url = location.client.url().to_owned();
                    let reloaded = workspace.connect_location(&name, &url).await;
                    tracing::info!(location = %name, loaded = reloaded.snapshot().is_some(), "code server redeployed; location reloaded");
                }
            }
            Err(e) => {
                if location.snapshot().is_some() {
                    tracing::warn!(location = %name, "{e}");
                    workspace.mark_down(&name, e.to_string()).await;
                }
            }
        }
    }
}

/// The most lines of a code server that exits before it listens kept for its load
/// error (a definitions error lists every problem; a panic adds its backtrace note).
const LAST_WORDS: usize = 30;

/// Read a code server's stderr until it announces `listening on URL`; keep forwarding
/// the rest of its output to ours, prefixed with the location's name. When it ends
/// before announcing, its last lines (why it could not load, as a rule).
async fn announced_url(
    stderr: tokio::process::ChildStderr,
    location: String,
) -> Result<String, Vec<String>> {
    let prefix = format!("[{location}] ");
    let mut lines = BufReader::new(stderr).lines();
    let mut said = std::collections::VecDeque::new();
    let url = loop {
        let Ok(Some(line)) = lines.next_line().await else {
            return Err(said.into());
        };
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_owned();
        }
        write_stderr(format!("{prefix}{line}\n").as_bytes());
        if said.len() == LAST_WORDS {
            said.pop_front();
        }
        said.push_back(line);
    };
    tokio::spawn(forward_lines(lines.into_inner(), prefix, write_stderr));
    Ok(url)
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

/// An executable named with a `/` is relative to `base_dir`; a bare name is the binary
/// beside this one if there is one, else looked up on `PATH`.
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
}
