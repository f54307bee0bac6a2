//! Turn-taking for writers of one SQLite database, within a process and across processes.
//!
//! SQLite lets one connection write at a time. A connection that finds the database
//! locked by another process polls: SQLite's busy handler sleeps 1, 2, 5, 10 ms... and
//! tries again. Under a burst of runs (the webserver queueing them, the daemon starting
//! them, a worker process per run recording its events) those sleeps leave the CPUs
//! idle while every process waits for a lock that was released long before it looks.
//!
//! So writers queue instead. Within a process they take turns on a mutex; across
//! processes, on an exclusive `flock` of a file next to the database
//! (`<database>-writelock`), which the kernel hands to the next waiter the moment it is
//! released. SQLite's own locking still guarantees correctness: a writer that does not
//! take this lock (an older binary, the `sqlite3` shell) is merely waited for the slow
//! way.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, MutexGuard, oneshot};

/// The writers' queue for one database file.
pub(crate) struct WriteLock {
    within: Mutex<()>,
    /// The file locked across processes.
    across: PathBuf,
    /// Set once locking `across` has failed in a way that waiting would not fix (e.g. a
    /// file system without `flock`): writers then only take turns within the process.
    across_unusable: AtomicBool,
}

/// A writer's turn: released when dropped.
pub(crate) struct WriteGuard<'a> {
    _within: MutexGuard<'a, ()>,
    /// Holds the cross-process lock; closing it releases the lock.
    _across: Option<File>,
}

impl WriteLock {
    /// The queue for the database at `database`.
    pub(crate) fn new(database: &Path) -> Self {
        let mut name = database.as_os_str().to_owned();
        name.push("-writelock");
        Self {
            within: Mutex::new(()),
            across: PathBuf::from(name),
            across_unusable: AtomicBool::new(false),
        }
    }

    /// Wait for this writer's turn.
    pub(crate) async fn lock(&self) -> WriteGuard<'_> {
        let within = self.within.lock().await;
        let across = if self.across_unusable.load(Ordering::Relaxed) {
            None
        } else {
            match lock_across(&self.across).await {
                Ok(file) => Some(file),
                Err(e) => {
                    tracing::warn!(
                        path = %self.across.display(),
                        "cannot lock the writers' lock file; writers of different processes will poll SQLite instead: {e}"
                    );
                    self.across_unusable.store(true, Ordering::Relaxed);
                    None
                }
            }
        };
        WriteGuard {
            _within: within,
            _across: across,
        }
    }
}

/// Lock the file at `path` exclusively, waiting for other processes' turns.
///
/// Each turn opens the file anew: a `flock` belongs to an open file, so a turn that
/// outlives its waiter (see below) cannot release someone else's.
async fn lock_across(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // Another process writes: wait for the kernel to hand the lock over, on a thread
    // that may block. If this future is dropped meanwhile, the thread closes the file
    // as soon as it gets the lock, which releases it.
    let (tx, rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let locked = file.lock().map(|()| file);
        let _ = tx.send(locked);
    });
    rx.await
        .unwrap_or_else(|_| Err(std::io::Error::other("the lock waiter stopped")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        // Two locks on one file stand for two processes: each opens its own file.
        let a = Arc::new(WriteLock::new(&db));
        let b = Arc::new(WriteLock::new(&db));
        let first = a.lock().await;
        assert!(dir.path().join("x.db-writelock").is_file());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = tokio::spawn({
            let b = Arc::clone(&b);
            async move {
                let _turn = b.lock().await;
                tx.send(()).unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rx.try_recv().is_err(), "the second writer must wait");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the second writer gets its turn once the first is done");
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn a_waiter_given_up_on_does_not_keep_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let a = WriteLock::new(&db);
        let b = WriteLock::new(&db);
        let first = a.lock().await;
        // b gives up while waiting; its thread gets the lock later and must let it go.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.lock())
                .await
                .is_err()
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), a.lock())
            .await
            .expect("the lock is free again");
    }
}
