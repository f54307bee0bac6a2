//! The code servers this process starts for the `command` entries of `workspace.yaml`,
//! and keeps running.
//!
//! [`StartedCodeServers::start`] starts each one (`serve --port 0` appended) and waits
//! until it announces where it listens. Once [`supervise`](StartedCodeServers::supervise)d
//! over the live [`Workspace`], a code server that exits is restarted: its location says
//! why it is down (the exit status, and when the next attempt comes) while it is, the
//! attempts back off from one second to thirty, and the location is loaded again from
//! the new server as soon as it listens. A server that stays up a minute starts the
//! back-off afresh.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::workspace::{LocationEntry, Workspace, WorkspaceError, WorkspaceFile};

/// The first pause before restarting a code server that exited.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server up this long has recovered: its next exit is restarted after the first pause.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

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
        let url = announced_url(stderr, self.location.clone())
            .await
            .ok_or_else(|| fail("it exited before it was listening".into()))?;
        Ok((child, url))
    }
}

/// Code servers this process started for `command` entries; they stop when it is dropped
/// or [`stop`](Self::stop)ped.
#[derive(Default)]
pub struct StartedCodeServers {
    /// Started and not yet supervised.
    children: Vec<(Spawn, Child)>,
    /// The supervisors, which own the children once [`supervise`](Self::supervise)d.
    supervisors: JoinSet<()>,
    stopping: CancellationToken,
}

impl StartedCodeServers {
    /// Start a code server for each `command` entry and return every location's URL.
    /// `base_dir` resolves relative executables and working directories (the workspace
    /// file's directory).
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
                    let spawn = Spawn {
                        location: location_name.clone(),
                        program: resolve_executable(executable, base_dir),
                        args: args.clone(),
                        env: env.clone(),
                        working_directory: working_directory.as_ref().map(|d| base_dir.join(d)),
                    };
                    let (child, url) = spawn.start().await?;
                    started.children.push((spawn, child));
                    urls.push((location_name.clone(), url));
                }
            }
        }
        Ok((started, urls))
    }

    /// Keep the started code servers running: restart one that exits, and keep its
    /// location in `workspace` up to date meanwhile (see the [module docs](self)).
    pub fn supervise(&mut self, workspace: &Workspace) {
        for (spawn, child) in self.children.drain(..) {
            let workspace = workspace.clone();
            let stopping = self.stopping.clone();
            self.supervisors
                .spawn(keep_running(spawn, child, workspace, stopping));
        }
    }

    /// Stop every started code server and wait for it.
    pub async fn stop(mut self) {
        self.stopping.cancel();
        for (_, child) in &mut self.children {
            let _ = child.kill().await;
        }
        while self.supervisors.join_next().await.is_some() {}
    }
}

/// Wait for `child` to exit, then restart it, until `stopping`.
async fn keep_running(
    spawn: Spawn,
    mut child: Child,
    workspace: Workspace,
    stopping: CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut up_since = Instant::now();
    loop {
        let status = tokio::select! {
            status = child.wait() => status,
            () = stopping.cancelled() => {
                let _ = child.kill().await;
                return;
            }
        };
        if up_since.elapsed() >= HEALTHY_AFTER {
            backoff = FIRST_BACKOFF;
        }
        let exited = match status {
            Ok(status) => format!("its code server exited ({status})"),
            Err(e) => format!("its code server could not be waited for ({e})"),
        };
        child = loop {
            let reason = format!("{exited}; restarting it in {}s", backoff.as_secs_f64());
            tracing::warn!(location = %spawn.location, "{reason}");
            workspace.mark_down(&spawn.location, reason).await;
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stopping.cancelled() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match spawn.start().await {
                Ok((child, url)) => {
                    let location = workspace.connect_location(&spawn.location, &url).await;
                    tracing::info!(location = %spawn.location, %url, loaded = location.snapshot().is_some(), "code server restarted");
                    up_since = Instant::now();
                    break child;
                }
                Err(e) => tracing::warn!(location = %spawn.location, "{e}"),
            }
        };
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
