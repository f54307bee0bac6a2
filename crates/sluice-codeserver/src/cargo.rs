//! A `cargo:` location: building its binary, and watching its sources for changes.
//!
//! [`CargoBuild::build`] runs `cargo build --manifest-path M [--bin B] [--profile P]
//! --message-format json` in the crate's directory (so that its `.cargo/config.toml`
//! applies) and reads cargo's messages: the path of the binary built, or
//! the compiler's errors as rustc renders them (what a person would see in a terminal),
//! which become the location's load error. The build inherits this process's
//! environment, so `CARGO_TARGET_DIR`, `RUSTFLAGS` and a linker set in `.cargo/config.toml`
//! apply as they would to the user's own `cargo build`.
//!
//! [`SourceWatch`] reports changes under the crate's directory (its `target/`, its lock
//! file and hidden files and directories aside), a burst of changes (an editor saving several files, a
//! `git checkout`) as one.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

/// A burst of file changes ends after this long without another.
const QUIET: Duration = Duration::from_millis(100);

/// A `cargo:` location could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The manifest named in `workspace.yaml` is not there.
    #[error("the manifest {path} does not exist (`manifest_path` in workspace.yaml)")]
    NoManifest {
        /// The manifest's path, as resolved.
        path: PathBuf,
    },
    /// Cargo could not be run at all.
    #[error("cannot run `{cargo}`: {source}")]
    Cargo {
        /// The cargo program.
        cargo: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The build failed: the compiler's errors, or cargo's.
    #[error("`cargo build` of {manifest} failed:\n{messages}")]
    Failed {
        /// The manifest built.
        manifest: PathBuf,
        /// The errors, as cargo and rustc print them.
        messages: String,
    },
    /// The build succeeded but did not produce exactly one binary to run.
    #[error("`cargo build` of {manifest} {problem}")]
    Binary {
        /// The manifest built.
        manifest: PathBuf,
        /// What was wrong with the binaries built.
        problem: String,
    },
}

/// How to build a `cargo:` location.
#[derive(Debug, Clone)]
pub(crate) struct CargoBuild {
    location: String,
    manifest_path: PathBuf,
    bin: Option<String>,
    profile: Option<String>,
    watch: bool,
}

impl CargoBuild {
    /// The build of `location` from `manifest_path`'s crate.
    pub(crate) fn new(
        location: &str,
        manifest_path: PathBuf,
        bin: Option<String>,
        profile: Option<String>,
        watch: bool,
    ) -> Self {
        Self {
            location: location.to_owned(),
            manifest_path,
            bin,
            profile,
            watch,
        }
    }

    /// The crate's directory (where its code server runs, and what is watched).
    pub(crate) fn crate_dir(&self) -> Option<&Path> {
        self.manifest_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    }

    /// Build the binary; its path.
    pub(crate) async fn build(&self) -> Result<PathBuf, BuildError> {
        if !self.manifest_path.is_file() {
            return Err(BuildError::NoManifest {
                path: self.manifest_path.clone(),
            });
        }
        let manifest = self
            .manifest_path
            .canonicalize()
            .unwrap_or_else(|_| self.manifest_path.clone());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut command = tokio::process::Command::new(&cargo);
        // In the crate's directory, as `cargo build` typed there: cargo reads its config
        // (`.cargo/config.toml`: the linker, rustflags) from the working directory up.
        if let Some(dir) = manifest.parent() {
            command.current_dir(dir);
        }
        command
            .arg("build")
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["--message-format", "json"])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(bin) = &self.bin {
            command.args(["--bin", bin]);
        }
        if let Some(profile) = &self.profile {
            command.args(["--profile", profile]);
        }
        tracing::info!(location = %self.location, manifest = %self.manifest_path.display(), "building");
        let output = command.output().await.map_err(|source| BuildError::Cargo {
            cargo: cargo.to_string_lossy().into_owned(),
            source,
        })?;
        let report = read_messages(&String::from_utf8_lossy(&output.stdout));
        if !output.status.success() || !report.succeeded {
            let messages = if report.errors.is_empty() {
                cargo_errors(&String::from_utf8_lossy(&output.stderr))
            } else {
                report.errors.join("\n")
            };
            return Err(BuildError::Failed {
                manifest: self.manifest_path.clone(),
                messages,
            });
        }
        let mut binaries = report.binaries;
        if let Some(bin) = &self.bin {
            binaries.retain(|(name, _)| name == bin);
        }
        match binaries.len() {
            1 => Ok(binaries.remove(0).1),
            0 => Err(BuildError::Binary {
                manifest: self.manifest_path.clone(),
                problem: "built no binary; a code location needs a `src/main.rs` (or a `[[bin]]`) that calls `sluice::user_code::main`".to_owned(),
            }),
            _ => Err(BuildError::Binary {
                manifest: self.manifest_path.clone(),
                problem: format!(
                    "built several binaries ({}); name the location's with `bin:` in workspace.yaml",
                    binaries
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Start watching the crate's sources, if this entry is watched and it can be.
    pub(crate) fn watch(&self) -> Option<SourceWatch> {
        if !self.watch {
            return None;
        }
        let dir = self.crate_dir().unwrap_or(Path::new("."));
        match SourceWatch::start(dir) {
            Ok(watch) => Some(watch),
            Err(e) => {
                tracing::warn!(location = %self.location, dir = %dir.display(), "cannot watch the sources, so changes will not rebuild the location: {e}");
                None
            }
        }
    }
}

/// What cargo's JSON messages say about a build.
#[derive(Debug, Default, PartialEq)]
struct BuildReport {
    /// Every binary target built: its name and executable.
    binaries: Vec<(String, PathBuf)>,
    /// The compiler's errors, rendered.
    errors: Vec<String>,
    /// Cargo's verdict (`build-finished`).
    succeeded: bool,
}

/// One line of `cargo build --message-format json`, the fields read here.
#[derive(Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum CargoMessage {
    CompilerArtifact {
        target: Target,
        executable: Option<PathBuf>,
    },
    CompilerMessage {
        message: Diagnostic,
    },
    BuildFinished {
        success: bool,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Diagnostic {
    level: String,
    rendered: Option<String>,
}

fn read_messages(stdout: &str) -> BuildReport {
    let mut report = BuildReport::default();
    for line in stdout.lines() {
        match serde_json::from_str::<CargoMessage>(line) {
            Ok(CargoMessage::CompilerArtifact {
                target,
                executable: Some(executable),
            }) if target.kind.iter().any(|k| k == "bin") => {
                report.binaries.push((target.name, executable));
            }
            Ok(CargoMessage::CompilerMessage { message }) if message.level == "error" => {
                if let Some(rendered) = message.rendered {
                    report.errors.push(rendered.trim_end().to_owned());
                }
            }
            Ok(CargoMessage::BuildFinished { success }) => report.succeeded = success,
            _ => {}
        }
    }
    report
}

/// Cargo's own errors (a manifest it cannot read, a bin that is not there) from its
/// stderr, without its progress lines.
fn cargo_errors(stderr: &str) -> String {
    let from_first_error: Vec<&str> = stderr
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("error"))
        .collect();
    if from_first_error.is_empty() {
        stderr.trim().to_owned()
    } else {
        from_first_error.join("\n")
    }
}

/// Changes to a crate's sources, as they happen.
pub(crate) struct SourceWatch {
    // Kept alive: dropping it stops the notifications.
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<()>,
}

impl SourceWatch {
    /// Watch everything under `dir` that [`is_source`].
    fn start(dir: &Path) -> notify::Result<Self> {
        use notify::Watcher;
        let (tx, changes) = mpsc::unbounded_channel();
        let root = dir.to_path_buf();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                if event.paths.iter().any(|p| is_source(&root, p)) {
                    let _ = tx.send(());
                }
            })?;
        // The crate's own files, and each directory of it but the build output and
        // hidden ones: `target/` holds thousands of directories, each a watch.
        watcher.watch(dir, notify::RecursiveMode::NonRecursive)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            if path.is_dir() && is_source(dir, &path) {
                watcher.watch(&path, notify::RecursiveMode::Recursive)?;
            }
        }
        Ok(Self {
            _watcher: watcher,
            changes,
        })
    }

    /// Wait for the next change, and for the burst it starts to end. `None` once the
    /// watcher has stopped.
    pub(crate) async fn changed(&mut self) -> Option<()> {
        self.changes.recv().await?;
        loop {
            match tokio::time::timeout(QUIET, self.changes.recv()).await {
                Ok(Some(())) => {}
                Ok(None) | Err(_) => return Some(()),
            }
        }
    }
}

/// Whether a change to `path` (under `root`) can change the build: not build output,
/// not a hidden file or directory (`.git`, an editor's swap file), not a backup file.
fn is_source(root: &Path, path: &Path) -> bool {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let hidden_or_output = relative.components().any(|c| match c {
        Component::Normal(part) => {
            let part = part.to_string_lossy();
            part == "target" || part.starts_with('.')
        }
        _ => false,
    });
    let name = relative
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    // Vim probes a directory with a file named 4913 before it saves; cargo writes the
    // lock file itself, during a build (a change to the manifest is seen anyway).
    !hidden_or_output && !name.ends_with('~') && name != "4913" && name != "Cargo.lock"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_binary_and_the_errors_from_cargos_messages() {
        let stdout = [
            r#"{"reason":"compiler-artifact","target":{"name":"acme","kind":["lib"]},"executable":null}"#,
            r#"{"reason":"compiler-message","message":{"level":"warning","rendered":"warning: unused"}}"#,
            r#"{"reason":"compiler-message","message":{"level":"error","rendered":"error[E0308]: mismatched types\n  --> src/lib.rs:3:5\n"}}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"acme","kind":["bin"]},"executable":"/t/debug/acme"}"#,
            r#"{"reason":"build-script-executed"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        let report = read_messages(&stdout);
        assert_eq!(
            report,
            BuildReport {
                binaries: vec![("acme".into(), PathBuf::from("/t/debug/acme"))],
                errors: vec!["error[E0308]: mismatched types\n  --> src/lib.rs:3:5".into()],
                succeeded: true,
            }
        );
    }

    #[test]
    fn cargos_own_errors_come_without_its_progress_lines() {
        let stderr = "   Compiling acme v0.1.0\nerror: no bin target named `nope`\n\nhelp: available: acme\n";
        assert_eq!(
            cargo_errors(stderr),
            "error: no bin target named `nope`\n\nhelp: available: acme"
        );
    }

    #[test]
    fn only_sources_count_as_changes() {
        let root = Path::new("/w/acme");
        assert!(is_source(root, Path::new("/w/acme/src/lib.rs")));
        assert!(is_source(root, Path::new("/w/acme/Cargo.toml")));
        assert!(!is_source(root, Path::new("/w/acme/target/debug/acme")));
        assert!(!is_source(root, Path::new("/w/acme/.git/index")));
        assert!(!is_source(root, Path::new("/w/acme/src/.lib.rs.swp")));
        assert!(!is_source(root, Path::new("/w/acme/src/lib.rs~")));
        assert!(!is_source(root, Path::new("/w/acme/src/4913")));
        assert!(!is_source(root, Path::new("/w/acme/Cargo.lock")));
    }
}
