//! Errors of instance storage.

use std::path::PathBuf;

use sea_orm::DbErr;

/// What went wrong in instance storage, with enough context to act on it.
///
/// Database URLs in these messages are always redacted: a password shows as `***`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database could not be reached or refused the connection.
    #[error(
        "cannot open instance storage {target}: {reason}. Check that the database is \
         reachable and the storage settings ($SLUICE_HOME, sluice.yaml, \
         SLUICE_POSTGRES_URL) point at it"
    )]
    Connect {
        /// The database, with any password redacted.
        target: String,
        /// Why the connection failed.
        reason: String,
    },

    /// A database URL that cannot be used.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, with any password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The database has migrations applied that this binary does not know.
    #[error(
        "instance storage {target} was migrated by a newer Sluice (unknown migrations: {}); \
         upgrade Sluice to a version that knows them, or use another instance",
        unknown.join(", ")
    )]
    DatabaseTooNew {
        /// The database, with any password redacted.
        target: String,
        /// The applied migrations this binary does not know.
        unknown: Vec<String>,
    },

    /// Applying the schema migrations failed.
    #[error("migrating instance storage {target} failed: {source}")]
    Migration {
        /// The database, with any password redacted.
        target: String,
        /// The database error.
        #[source]
        source: DbErr,
    },

    /// A run with this id already exists; nothing was written.
    #[error("run {run_id} already exists; every run needs a unique run id")]
    DuplicateRun {
        /// The id that is taken.
        run_id: String,
    },

    /// A pagination cursor names a run that does not exist.
    #[error("cursor run {run_id} does not exist (deleted, or not a run id of this instance)")]
    UnknownCursor {
        /// The cursor as given.
        run_id: String,
    },

    /// A database statement failed.
    #[error("instance storage failed to {action}: {source}")]
    Database {
        /// What storage was doing, e.g. "store 300 events".
        action: String,
        /// The database error.
        #[source]
        source: DbErr,
    },

    /// A dynamic partition key that cannot be stored; nothing was added.
    #[error("dynamic partitions \"{set}\": {error}")]
    InvalidPartitionKey {
        /// The set's name.
        set: String,
        /// What is wrong with the key.
        error: sluice_core::partition::PartitionDefinitionError,
    },

    /// A stored row cannot be read back (written by something else, or corrupted).
    #[error("stored {what} is invalid: {reason}")]
    Corrupt {
        /// Which row, e.g. "event 42" or "run 1f3e...".
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A value could not be serialized for storage.
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },

    /// The instance config file is not valid YAML or does not match the expected shape.
    #[error("{}:{line}:{column}: {message}", path.display())]
    ConfigSyntax {
        /// The config file.
        path: PathBuf,
        /// One-based line of the problem.
        line: usize,
        /// One-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },

    /// The instance config file is well-formed but says something unusable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The instance config file uses `${VAR}` and VAR is not set.
    #[error(
        "{}: environment variable {var} is not set (used as ${{{var}}} in `{key}`); \
         set it or remove the reference",
        path.display()
    )]
    MissingEnvVar {
        /// The config file.
        path: PathBuf,
        /// The variable's name.
        var: String,
        /// The config key whose value references it, e.g. `storage.postgres.postgres_url`.
        key: String,
    },

    /// A file or directory of the instance could not be read or created.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted, e.g. "create instance directory".
        action: String,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// An attempt at a run wrote after the run had finished, or started a run another
    /// attempt had started: its events are refused, and the attempt should stop.
    #[error(
        "run {run_id} is {status}: events of this attempt are refused (the run ended, or \
         another attempt started it)"
    )]
    RunFenced {
        /// The run.
        run_id: String,
        /// Its status when the events were refused.
        status: sluice_core::run::RunStatus,
    },

    /// An event of another run among the events of one run's attempt.
    #[error("an event of run {other} was written as one of run {run_id}")]
    ForeignEvent {
        /// The run whose events were written.
        run_id: String,
        /// The run the stray event belongs to.
        other: String,
    },

    /// The event writer could not store some events, even after retrying.
    #[error("{lost} event(s) could not be stored and were lost; last error: {last_error}")]
    EventsLost {
        /// How many events were lost since the writer started.
        lost: u64,
        /// The last storage error that caused a loss.
        last_error: String,
    },

    /// The event writer's background task is gone (it was closed or panicked).
    #[error("the event writer has stopped; events emitted after close are not stored")]
    WriterStopped,

    /// A run created together with others (see `SqlStorage::create_run_with_events`)
    /// was not created: their shared write failed, or the task making it stopped.
    /// Nothing of the run was stored.
    #[error("run {run_id} was not created: {reason}")]
    RunNotCreated {
        /// The run's id.
        run_id: String,
        /// Why.
        reason: String,
    },
}

/// Result with [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    pub(crate) fn db(action: impl Into<String>) -> impl FnOnce(DbErr) -> StorageError {
        let action = action.into();
        move |source| StorageError::Database { action, source }
    }
}
