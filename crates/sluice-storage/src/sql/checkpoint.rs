//! Copying SQLite's write-ahead log back into the database, off the writers' path.
//!
//! By default SQLite checkpoints inside the commit that grows the log past 1,000 pages,
//! so that under a burst of runs the short-lived run workers did most of the copying.
//! Sluice turns that off (`wal_autocheckpoint = 0` on every connection) and has each
//! long-lived process checkpoint every [`CHECKPOINT_EVERY`] instead, during a turn of the
//! writers' lock (see `write_lock`): with no frame appended meanwhile, the copy can
//! finish, and only a finished copy lets the next writer start the log over from its
//! beginning (without the turn, the log grew past 100 MB in one burst). A process that
//! closes the last connection still checkpoints the whole log, as SQLite always does.

use std::time::Duration;

use std::sync::Arc;

use sea_orm::{ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::write_lock::WriteLock;

/// How often a long-lived process checkpoints the write-ahead log.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// How soon it tries again when a reader of an older snapshot kept a checkpoint from
/// copying the whole log.
const RETRY_PARTIAL_AFTER: Duration = Duration::from_millis(5);

/// The background checkpoints of one storage; they stop when it is dropped.
pub(crate) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    /// Checkpoint `db` every [`CHECKPOINT_EVERY`] on the current runtime, each time in a
    /// turn of `writers`, until dropped or until the pool is closed.
    pub(crate) fn spawn(db: DatabaseConnection, writers: Arc<WriteLock>) -> Self {
        Self(tokio::spawn(async move {
            let mut wait = CHECKPOINT_EVERY;
            loop {
                tokio::time::sleep(wait).await;
                let turn = writers.lock().await;
                let copied = checkpoint(&db).await;
                drop(turn);
                wait = match copied {
                    Ok(true) => CHECKPOINT_EVERY,
                    Ok(false) => RETRY_PARTIAL_AFTER,
                    // The pool was closed: the storage is being shut down.
                    Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)) => return,
                    Err(e) => {
                        tracing::warn!("cannot checkpoint the SQLite write-ahead log: {e}");
                        CHECKPOINT_EVERY
                    }
                };
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One passive checkpoint; whether it copied the whole log.
async fn checkpoint(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let stmt = Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(true);
    };
    // (busy, frames in the log, frames copied into the database)
    let log: i64 = row.try_get_by_index(1)?;
    let copied: i64 = row.try_get_by_index(2)?;
    Ok(copied >= log)
}
