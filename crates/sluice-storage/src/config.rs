//! Where the instance keeps its storage: `$SLUICE_HOME` and `sluice.yaml`.
//!
//! The file is Dagster-shaped, so that a `dagster.yaml` storage section carries over:
//!
//! ```yaml
//! storage:
//!   sqlite:
//!     base_dir: /var/lib/sluice        # sluice.db inside it; relative to $SLUICE_HOME
//! # or
//! storage:
//!   postgres:
//!     postgres_url: "postgres://sluice:${PGPASSWORD}@db:5432/sluice"
//! # or
//! storage:
//!   postgres:
//!     postgres_db:
//!       username: sluice
//!       password: ${PGPASSWORD}
//!       hostname: db
//!       db_name: sluice
//!       port: 5432                     # optional, default 5432
//!       params: {sslmode: require}     # optional query parameters
//! ```
//!
//! `${VAR}` in any string value is replaced by the environment variable `VAR` (a missing
//! variable is an error); `$${` writes a literal `${`. Unknown keys are errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, StorageError};

/// The instance directory used when `$SLUICE_HOME` is not set (relative to the
/// working directory).
pub const DEFAULT_HOME: &str = ".sluice";
/// The instance config file inside `$SLUICE_HOME`.
pub const INSTANCE_FILE: &str = "sluice.yaml";
/// The SQLite database file inside `$SLUICE_HOME` (or the configured `base_dir`).
pub const SQLITE_FILE: &str = "sluice.db";
/// Environment variable naming the instance directory.
pub const HOME_ENV: &str = "SLUICE_HOME";
/// Environment variable that, when set, selects Postgres at this URL whatever the file says.
pub const POSTGRES_URL_ENV: &str = "SLUICE_POSTGRES_URL";

/// Which database holds the instance.
///
/// `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// An embedded SQLite database file (created if missing).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A Postgres database.
    Postgres {
        /// A `postgres://` URL; may contain a password.
        url: String,
    },
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &redact_url(url))
                .finish(),
        }
    }
}

impl fmt::Display for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            Self::Postgres { url } => f.write_str(&redact_url(url)),
        }
    }
}

impl StorageConfig {
    /// The instance storage of this process's environment: `$SLUICE_HOME` (default
    /// `./.sluice`, created if missing), its optional `sluice.yaml`, and
    /// `$SLUICE_POSTGRES_URL`, which overrides the file. Without a file (or without a
    /// `storage` section) the instance is SQLite at `$SLUICE_HOME/sluice.db`.
    pub fn from_env() -> Result<Self> {
        Self::load(&|name: &str| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading environment variables through `env`
    /// (for tests, and for callers that resolve variables themselves).
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let home = env(HOME_ENV)
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
        std::fs::create_dir_all(&home).map_err(|source| StorageError::Io {
            action: "create instance directory".into(),
            path: home.clone(),
            source,
        })?;
        let file = home.join(INSTANCE_FILE);
        let from_file = match std::fs::read_to_string(&file) {
            Ok(text) => Self::from_yaml(&text, &file, &home, env)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(StorageError::Io {
                    action: "read instance config".into(),
                    path: file,
                    source,
                });
            }
        };
        if let Some(url) = env(POSTGRES_URL_ENV).filter(|u| !u.is_empty()) {
            return Ok(Self::Postgres { url });
        }
        Ok(from_file.unwrap_or_else(|| Self::Sqlite {
            path: home.join(SQLITE_FILE),
        }))
    }

    /// Parse the `storage` section of an instance file's text. `path` is used in error
    /// messages, `home` resolves a relative SQLite `base_dir`, `env` resolves `${VAR}`.
    /// `Ok(None)` means the file has no `storage` section.
    pub fn from_yaml(
        text: &str,
        path: &Path,
        home: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>> {
        let file: InstanceFile = if text.trim().is_empty() {
            InstanceFile::default()
        } else {
            serde_norway::from_str(text).map_err(|e| yaml_error(path, &e))?
        };
        let Some(storage) = file.storage else {
            return Ok(None);
        };
        let ctx = Interp { path, env };
        let config_err = |message: &str| StorageError::Config {
            path: path.to_owned(),
            message: message.to_owned(),
        };
        match (storage.sqlite, storage.postgres) {
            (Some(_), Some(_)) => Err(config_err(
                "storage: choose one of `sqlite` or `postgres`, not both",
            )),
            (None, None) => Err(config_err(
                "storage: expected `sqlite: {base_dir: ...}` or `postgres: {postgres_url: ...}`",
            )),
            (Some(sqlite), None) => {
                let base_dir = ctx.string("storage.sqlite.base_dir", &sqlite.base_dir)?;
                if base_dir.is_empty() {
                    return Err(config_err("storage.sqlite.base_dir must not be empty"));
                }
                Ok(Some(Self::Sqlite {
                    path: home.join(base_dir).join(SQLITE_FILE),
                }))
            }
            (None, Some(pg)) => match (pg.postgres_url, pg.postgres_db) {
                (Some(_), Some(_)) => Err(config_err(
                    "storage.postgres: set either `postgres_url` or `postgres_db`, not both",
                )),
                (None, None) => Err(config_err(
                    "storage.postgres: expected `postgres_url` or `postgres_db`",
                )),
                (Some(url), None) => Ok(Some(Self::Postgres {
                    url: ctx.string("storage.postgres.postgres_url", &url)?,
                })),
                (None, Some(db)) => Ok(Some(Self::Postgres {
                    url: db.to_url(&ctx)?,
                })),
            },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceFile {
    #[serde(default)]
    storage: Option<StorageSection>,
    #[serde(default)]
    run_coordinator: Option<RunCoordinatorConfig>,
    #[serde(default)]
    run_monitoring: Option<RunMonitoringConfig>,
    #[serde(default)]
    schedules: Option<SchedulesConfig>,
    #[serde(default)]
    sensors: Option<SensorsConfig>,
}

/// How the daemon runs schedules (`schedules:` in `sluice.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesConfig {
    /// After downtime, launch at most this many of the ticks missed, the most recent.
    #[serde(default = "one")]
    pub max_catchup_runs: usize,
    /// An evaluation that takes longer fails its tick.
    #[serde(default = "default_evaluation_timeout")]
    pub evaluation_timeout_seconds: f64,
}

/// How the daemon runs sensors (`sensors:` in `sluice.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorsConfig {
    /// An evaluation that takes longer fails its tick.
    #[serde(default = "default_evaluation_timeout")]
    pub evaluation_timeout_seconds: f64,
    /// At most this many sensors are evaluated at once.
    #[serde(default = "default_max_concurrent_evaluations")]
    pub max_concurrent_evaluations: usize,
    /// Skipped ticks older than this many days are deleted.
    #[serde(default = "default_skipped_tick_retention")]
    pub skipped_tick_retention_days: f64,
}

fn one() -> usize {
    1
}
fn default_evaluation_timeout() -> f64 {
    60.0
}
fn default_max_concurrent_evaluations() -> usize {
    8
}
fn default_skipped_tick_retention() -> f64 {
    7.0
}

impl Default for SchedulesConfig {
    fn default() -> Self {
        Self {
            max_catchup_runs: one(),
            evaluation_timeout_seconds: default_evaluation_timeout(),
        }
    }
}

impl Default for SensorsConfig {
    fn default() -> Self {
        Self {
            evaluation_timeout_seconds: default_evaluation_timeout(),
            max_concurrent_evaluations: default_max_concurrent_evaluations(),
            skipped_tick_retention_days: default_skipped_tick_retention(),
        }
    }
}

/// How the daemon's queued run coordinator admits runs (`run_coordinator:` in
/// `sluice.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCoordinatorConfig {
    /// At most this many runs are STARTING, STARTED or CANCELING at once.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// Further limits for runs carrying a tag.
    #[serde(default)]
    pub tag_concurrency_limits: Vec<TagConcurrencyLimit>,
}

fn default_max_concurrent_runs() -> usize {
    10
}

impl Default for RunCoordinatorConfig {
    fn default() -> Self {
        Self {
            max_concurrent_runs: default_max_concurrent_runs(),
            tag_concurrency_limits: Vec::new(),
        }
    }
}

/// At most `limit` in-progress runs with tag `key` (equal to `value`, when given).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagConcurrencyLimit {
    /// The tag's key.
    pub key: String,
    /// The tag's value; without it, every run with the key counts.
    #[serde(default)]
    pub value: Option<String>,
    /// How many such runs may be in progress at once.
    pub limit: usize,
}

/// How the daemon watches in-progress runs (`run_monitoring:` in `sluice.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMonitoringConfig {
    /// Seconds between checks.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_seconds: f64,
    /// A STARTED run whose worker has not beaten for this long is failed.
    #[serde(default = "default_heartbeat_timeout")]
    pub heartbeat_timeout_seconds: f64,
    /// A run STARTING for this long is failed (its worker never started).
    #[serde(default = "default_start_timeout")]
    pub start_timeout_seconds: f64,
    /// A run CANCELING for this long is marked CANCELED.
    #[serde(default = "default_cancel_timeout")]
    pub cancel_timeout_seconds: f64,
}

fn default_poll_interval() -> f64 {
    5.0
}
fn default_heartbeat_timeout() -> f64 {
    30.0
}
fn default_start_timeout() -> f64 {
    60.0
}
fn default_cancel_timeout() -> f64 {
    60.0
}

impl Default for RunMonitoringConfig {
    fn default() -> Self {
        Self {
            poll_interval_seconds: default_poll_interval(),
            heartbeat_timeout_seconds: default_heartbeat_timeout(),
            start_timeout_seconds: default_start_timeout(),
            cancel_timeout_seconds: default_cancel_timeout(),
        }
    }
}

/// The daemon's settings from `$SLUICE_HOME/sluice.yaml`; defaults without a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSettings {
    /// `run_coordinator:`.
    pub run_coordinator: RunCoordinatorConfig,
    /// `run_monitoring:`.
    pub run_monitoring: RunMonitoringConfig,
    /// `schedules:`.
    pub schedules: SchedulesConfig,
    /// `sensors:`.
    pub sensors: SensorsConfig,
}

impl DaemonSettings {
    /// Read the settings of the instance at `home`.
    pub fn load(home: &Path) -> Result<Self> {
        let file = home.join(INSTANCE_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(StorageError::Io {
                    action: "read instance config".into(),
                    path: file,
                    source,
                });
            }
        };
        let parsed: InstanceFile = if text.trim().is_empty() {
            InstanceFile::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| yaml_error(&file, &e))?
        };
        Ok(Self {
            run_coordinator: parsed.run_coordinator.unwrap_or_default(),
            run_monitoring: parsed.run_monitoring.unwrap_or_default(),
            schedules: parsed.schedules.unwrap_or_default(),
            sensors: parsed.sensors.unwrap_or_default(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageSection {
    #[serde(default)]
    sqlite: Option<SqliteSection>,
    #[serde(default)]
    postgres: Option<PostgresSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteSection {
    base_dir: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresSection {
    #[serde(default)]
    postgres_url: Option<String>,
    #[serde(default)]
    postgres_db: Option<PostgresDb>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresDb {
    username: String,
    #[serde(default)]
    password: Option<String>,
    hostname: String,
    db_name: String,
    #[serde(default)]
    port: Option<serde_norway::Value>,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

impl PostgresDb {
    fn to_url(&self, ctx: &Interp<'_>) -> Result<String> {
        const KEY: &str = "storage.postgres.postgres_db";
        let username = ctx.string(&format!("{KEY}.username"), &self.username)?;
        let password = match &self.password {
            Some(p) => Some(ctx.string(&format!("{KEY}.password"), p)?),
            None => None,
        };
        let hostname = ctx.string(&format!("{KEY}.hostname"), &self.hostname)?;
        let db_name = ctx.string(&format!("{KEY}.db_name"), &self.db_name)?;
        let port = match &self.port {
            None => 5432,
            Some(value) => ctx.port(&format!("{KEY}.port"), value)?,
        };
        let mut url = format!("postgres://{}", encode(&username));
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            url.push(':');
            url.push_str(&encode(&password));
        }
        url.push('@');
        if hostname.contains(':') && !hostname.starts_with('[') {
            url.push_str(&format!("[{hostname}]"));
        } else {
            url.push_str(&hostname);
        }
        url.push_str(&format!(":{port}/{}", encode(&db_name)));
        for (i, (k, v)) in self.params.iter().enumerate() {
            let v = ctx.string(&format!("{KEY}.params.{k}"), v)?;
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{}={}", encode(k), encode(&v)));
        }
        Ok(url)
    }
}

/// `${VAR}` interpolation with the file and key for error messages.
struct Interp<'a> {
    path: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Interp<'_> {
    fn string(&self, key: &str, value: &str) -> Result<String> {
        interpolate(value, self.env).map_err(|e| match e {
            InterpError::Missing(var) => StorageError::MissingEnvVar {
                path: self.path.to_owned(),
                var,
                key: key.to_owned(),
            },
            InterpError::Syntax(message) => StorageError::Config {
                path: self.path.to_owned(),
                message: format!("{key}: {message}"),
            },
        })
    }

    fn port(&self, key: &str, value: &serde_norway::Value) -> Result<u16> {
        let text = match value {
            serde_norway::Value::Number(n) => n.to_string(),
            serde_norway::Value::String(s) => self.string(key, s)?,
            other => format!("{other:?}"),
        };
        text.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| StorageError::Config {
                path: self.path.to_owned(),
                message: format!("{key}: expected a port number (1-65535), got `{text}`"),
            })
    }
}

enum InterpError {
    Missing(String),
    Syntax(String),
}

/// Replace `${VAR}` by the variable's value; `$${` is a literal `${`.
fn interpolate(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, InterpError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or_else(|| {
                InterpError::Syntax(format!("unterminated `${{` in `{value}` (missing `}}`)"))
            })?;
            let name = &tail[..end];
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(InterpError::Syntax(format!(
                    "`${{{name}}}` is not a valid environment variable reference \
                     (use letters, digits and `_`; write `$${{` for a literal `${{`)"
                )));
            }
            let resolved = env(name).ok_or_else(|| InterpError::Missing(name.to_owned()))?;
            out.push_str(&resolved);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn yaml_error(path: &Path, e: &serde_norway::Error) -> StorageError {
    let mut message = e.to_string();
    let (line, column) = match e.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
            (loc.line(), loc.column())
        }
        None => (1, 1),
    };
    StorageError::ConfigSyntax {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// A database URL with its password (in the user info or a `password=` parameter)
/// replaced by `***`, fit for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let start = scheme_end + 3;
        let end = url[start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| start + i);
        if let Some(at) = url[start..end].rfind('@') {
            let userinfo = &url[start..start + at];
            if let Some(colon) = userinfo.find(':') {
                out = format!(
                    "{}{}:***{}",
                    &url[..start],
                    &userinfo[..colon],
                    &url[start + at..]
                );
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _))
                    if k.eq_ignore_ascii_case("password")
                        || k.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:s3cret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=s3cret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss:w@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn interpolation() {
        let env = |k: &str| (k == "A").then(|| "x".to_owned());
        assert!(matches!(interpolate("a${A}b$c", &env), Ok(s) if s == "axb$c"));
        assert!(matches!(interpolate("$${A}", &env), Ok(s) if s == "${A}"));
        assert!(matches!(interpolate("${B}", &env), Err(InterpError::Missing(v)) if v == "B"));
        assert!(matches!(
            interpolate("${A", &env),
            Err(InterpError::Syntax(_))
        ));
        assert!(matches!(
            interpolate("${1A}", &env),
            Err(InterpError::Syntax(_))
        ));
    }

    #[test]
    fn postgres_db_parts_are_encoded() {
        let yaml = "storage:\n  postgres:\n    postgres_db:\n      username: u\n      password: 'p@ss/w:rd'\n      hostname: db.example\n      db_name: sluice\n      params:\n        sslmode: require\n";
        let cfg =
            StorageConfig::from_yaml(yaml, Path::new("sluice.yaml"), Path::new("/h"), &no_env)
                .ok()
                .flatten();
        assert_eq!(
            cfg,
            Some(StorageConfig::Postgres {
                url: "postgres://u:p%40ss%2Fw%3Ard@db.example:5432/sluice?sslmode=require".into()
            })
        );
        let shown = format!(
            "{:?} {}",
            cfg.as_ref().map(|c| c.to_string()),
            format_args!("{cfg:?}")
        );
        assert!(!shown.contains("p%40ss"), "{shown}");
    }

    #[test]
    fn bad_port_is_named() {
        let yaml = "storage:\n  postgres:\n    postgres_db: {username: u, hostname: h, db_name: d, port: 99999}\n";
        let err = StorageConfig::from_yaml(yaml, Path::new("i.yaml"), Path::new("/h"), &no_env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("storage.postgres.postgres_db.port"), "{err}");
        assert!(err.contains("99999"), "{err}");
    }
}
