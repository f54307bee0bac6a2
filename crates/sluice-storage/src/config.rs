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
//!
//! The file's other sections (`run_coordinator`, `run_monitoring`, `schedules`,
//! `sensors`) are the daemon's: `sluice-daemon` owns their types and reads them with
//! [`read_instance_file`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

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
        let from_file = match read_instance_text(&file)? {
            Some(text) => Self::from_yaml(&text, &file, &home, env)?,
            None => None,
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
        let file: InstanceFile = parse_instance_file(text, path)?;
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

/// The instance file as storage reads it: its `storage` section. The daemon's sections
/// are parsed by `sluice-daemon` (`DaemonSettings`) and `webserver` by `sluice-web`
/// (`WebSettings`), both through [`read_instance_file`]; here they are only named, so
/// that any other top-level key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "the other processes' sections are named, not read"
)]
struct InstanceFile {
    #[serde(default)]
    storage: Option<StorageSection>,
    #[serde(default)]
    run_coordinator: Option<IgnoredAny>,
    #[serde(default)]
    run_monitoring: Option<IgnoredAny>,
    #[serde(default)]
    schedules: Option<IgnoredAny>,
    #[serde(default)]
    sensors: Option<IgnoredAny>,
    #[serde(default)]
    webserver: Option<IgnoredAny>,
}

/// Read `$SLUICE_HOME/sluice.yaml` of the instance at `home` as `T`, the view of the
/// file of the crate that owns some of its sections (the daemon's settings, say). A
/// missing or blank file is `T::default()`; a syntax error, or a value `T` refuses, is
/// [`StorageError::ConfigSyntax`] with the file's line and column.
pub fn read_instance_file<T: DeserializeOwned + Default>(home: &Path) -> Result<T> {
    let file = home.join(INSTANCE_FILE);
    match read_instance_text(&file)? {
        Some(text) => parse_instance_file(&text, &file),
        None => Ok(T::default()),
    }
}

/// The text of the instance file `file`; `None` if there is none.
fn read_instance_text(file: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StorageError::Io {
            action: "read instance config".into(),
            path: file.to_owned(),
            source,
        }),
    }
}

/// Parse the text of the instance file at `path` as `T` (blank: `T::default()`).
fn parse_instance_file<T: DeserializeOwned + Default>(text: &str, path: &Path) -> Result<T> {
    if text.trim().is_empty() {
        Ok(T::default())
    } else {
        serde_norway::from_str(text).map_err(|e| yaml_error(path, &e))
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

    /// The storage config of the instance file `yaml`, of an instance at `/h`.
    fn parse(yaml: &str) -> Option<StorageConfig> {
        StorageConfig::from_yaml(yaml, Path::new("sluice.yaml"), Path::new("/h"), &no_env)
            .ok()
            .flatten()
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
        let cfg = parse(yaml);
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
    fn daemon_sections_are_left_to_the_daemon() {
        let yaml = "storage:\n  sqlite:\n    base_dir: data\nrun_coordinator:\n  max_concurrent_runs: 3\nsensors: {}\n";
        let cfg = parse(yaml);
        assert_eq!(
            cfg,
            Some(StorageConfig::Sqlite {
                path: PathBuf::from("/h/data/sluice.db")
            })
        );
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
