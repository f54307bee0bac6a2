//! Wake-ups between the processes of one instance: "a run was queued" from the webserver
//! to the daemon, without either polling the other. A Unix datagram socket in
//! `$SLUICE_HOME` carries them; a notification nobody listens for is simply dropped, and
//! listeners still check storage now and then, so a lost wake-up only costs latency.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{DEFAULT_HOME, HOME_ENV};

/// The instance directory: `$SLUICE_HOME`, or `./.sluice`.
pub fn instance_home() -> PathBuf {
    std::env::var_os(HOME_ENV)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME))
}

/// Where runs of the instance at `home` keep their step outputs (the default IO
/// manager's base directory): `<home>/storage`, as Dagster's `$DAGSTER_HOME/storage`.
pub fn output_storage_dir(home: &std::path::Path) -> PathBuf {
    home.join("storage")
}

/// A named wake-up channel of an instance (e.g. `run_queue`).
#[derive(Debug, Clone)]
pub struct Wakeup {
    path: PathBuf,
}

impl Wakeup {
    /// The channel `name` of the instance at `home`.
    pub fn new(home: &Path, name: &str) -> Self {
        Self {
            path: home.join(format!("{name}.sock")),
        }
    }

    /// The run queue's channel: the webserver notifies it when it queues a run, and the
    /// daemon's run coordinator listens.
    pub fn run_queue(home: &Path) -> Self {
        Self::new(home, "run_queue")
    }

    /// Wake whoever listens. Never blocks and never fails: without a listener the
    /// notification is dropped.
    pub fn notify(&self) {
        if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = sock.set_nonblocking(true);
            let _ = sock.send_to(b"!", &self.path);
        }
    }

    /// Start listening (one listener per channel; a stale socket file is replaced).
    pub fn listen(&self) -> io::Result<WakeupListener> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let socket = tokio::net::UnixDatagram::bind(&self.path)?;
        Ok(WakeupListener {
            socket,
            path: self.path.clone(),
        })
    }
}

/// The listening end of a [`Wakeup`]; removes its socket file when dropped.
pub struct WakeupListener {
    socket: tokio::net::UnixDatagram,
    path: PathBuf,
}

impl WakeupListener {
    /// A [`Wakeup`] that notifies this listener.
    pub fn notifier(&self) -> Wakeup {
        Wakeup {
            path: self.path.clone(),
        }
    }

    /// Wait until notified or until `timeout`; true if notified. Notifications that
    /// arrived meanwhile are all consumed by one call.
    pub async fn wait(&self, timeout: Duration) -> bool {
        let mut buf = [0u8; 16];
        let notified = matches!(
            tokio::time::timeout(timeout, self.socket.recv(&mut buf)).await,
            Ok(Ok(_))
        );
        while self.socket.try_recv(&mut buf).is_ok() {}
        notified
    }
}

impl Drop for WakeupListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notifications_wake_the_listener_and_are_dropped_without_one() {
        let home = tempfile::tempdir().unwrap();
        let wakeup = Wakeup::run_queue(home.path());
        wakeup.notify(); // nobody listens: fine
        let listener = wakeup.listen().unwrap();
        assert!(!listener.wait(Duration::from_millis(20)).await);
        wakeup.notify();
        wakeup.notify();
        assert!(listener.wait(Duration::from_secs(1)).await);
        // Both notifications were consumed by the one wait.
        assert!(!listener.wait(Duration::from_millis(20)).await);
        drop(listener);
        assert!(!home.path().join("run_queue.sock").exists());
    }
}
