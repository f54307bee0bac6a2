//! The daemon's settings: its sections of the instance file, `$SLUICE_HOME/sluice.yaml`.
//!
//! ```yaml
//! run_coordinator:
//!   max_concurrent_runs: 10
//!   tag_concurrency_limits:
//!     - {key: database, value: prod, limit: 2}
//! run_monitoring:
//!   heartbeat_timeout_seconds: 30
//! schedules:
//!   max_catchup_runs: 1
//! sensors:
//!   max_concurrent_evaluations: 8
//! ```
//!
//! Every key is optional and unknown keys are errors. The file's `storage` section is
//! `sluice-storage`'s ([`StorageConfig`](sluice_storage::StorageConfig)); storage also
//! reads and parses the file for the daemon
//! ([`read_instance_file`](sluice_storage::read_instance_file)).

use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;
use sluice_storage::StorageError;

/// The instance file as the daemon reads it: its own sections. `storage` is only named,
/// so that any other top-level key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "`storage` and `webserver` are named, not read")]
struct InstanceFile {
    #[serde(default)]
    storage: Option<IgnoredAny>,
    #[serde(default)]
    run_coordinator: Option<RunCoordinatorConfig>,
    #[serde(default)]
    run_monitoring: Option<RunMonitoringConfig>,
    #[serde(default)]
    schedules: Option<SchedulesConfig>,
    #[serde(default)]
    sensors: Option<SensorsConfig>,
    #[serde(default)]
    webserver: Option<IgnoredAny>,
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
    /// Read the settings of the instance at `home` from its `sluice.yaml`; defaults
    /// without a file.
    pub fn load(home: &Path) -> Result<Self, StorageError> {
        let file: InstanceFile = sluice_storage::read_instance_file(home)?;
        Ok(Self {
            run_coordinator: file.run_coordinator.unwrap_or_default(),
            run_monitoring: file.run_monitoring.unwrap_or_default(),
            schedules: file.schedules.unwrap_or_default(),
            sensors: file.sensors.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(text: Option<&str>) -> tempfile::TempDir {
        let home = tempfile::tempdir().expect("temp dir");
        if let Some(text) = text {
            std::fs::write(home.path().join("sluice.yaml"), text).expect("write sluice.yaml");
        }
        home
    }

    #[test]
    fn defaults_without_a_file_or_section() {
        let home = home_with(None);
        assert_eq!(
            DaemonSettings::load(home.path()).expect("settings"),
            DaemonSettings::default()
        );
        let home = home_with(Some("storage:\n  sqlite:\n    base_dir: data\n"));
        assert_eq!(
            DaemonSettings::load(home.path()).expect("settings"),
            DaemonSettings::default()
        );
        let defaults = DaemonSettings::default();
        assert_eq!(defaults.run_coordinator.max_concurrent_runs, 10);
        assert_eq!(defaults.run_monitoring.heartbeat_timeout_seconds, 30.0);
        assert_eq!(defaults.schedules.max_catchup_runs, 1);
        assert_eq!(defaults.sensors.max_concurrent_evaluations, 8);
    }

    #[test]
    fn sections_with_defaults_for_what_they_leave_out() {
        let home = home_with(Some(
            "run_coordinator:\n  max_concurrent_runs: 3\n  tag_concurrency_limits:\n    - {key: db, value: prod, limit: 1}\n    - {key: team, limit: 2}\nrun_monitoring:\n  start_timeout_seconds: 5\nschedules:\n  max_catchup_runs: 4\nsensors:\n  skipped_tick_retention_days: 1.5\n",
        ));
        let settings = DaemonSettings::load(home.path()).expect("settings");
        assert_eq!(
            settings.run_coordinator,
            RunCoordinatorConfig {
                max_concurrent_runs: 3,
                tag_concurrency_limits: vec![
                    TagConcurrencyLimit {
                        key: "db".into(),
                        value: Some("prod".into()),
                        limit: 1
                    },
                    TagConcurrencyLimit {
                        key: "team".into(),
                        value: None,
                        limit: 2
                    },
                ],
            }
        );
        assert_eq!(
            settings.run_monitoring,
            RunMonitoringConfig {
                start_timeout_seconds: 5.0,
                ..RunMonitoringConfig::default()
            }
        );
        assert_eq!(
            settings.schedules,
            SchedulesConfig {
                max_catchup_runs: 4,
                ..SchedulesConfig::default()
            }
        );
        assert_eq!(
            settings.sensors,
            SensorsConfig {
                skipped_tick_retention_days: 1.5,
                ..SensorsConfig::default()
            }
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let home = home_with(Some(
            "storage:\n  sqlite:\n    base_dir: data\nrun_coordinator:\n  max_runs: 3\n",
        ));
        let err = DaemonSettings::load(home.path()).expect_err("unknown key");
        assert!(
            matches!(err, StorageError::ConfigSyntax { line: 5, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("max_runs"), "{err}");

        let home = home_with(Some("run_queue: {}\n"));
        let err = DaemonSettings::load(home.path()).expect_err("unknown section");
        assert!(err.to_string().contains("run_queue"), "{err}");
    }
}
