//! The fork server: run workers started with `fork` from a process that already has the
//! location loaded, rather than by executing the user-code binary again.
//!
//! [`ForkServer::start`] forks a helper while the code server is still single-threaded
//! (before its runtime starts). The helper stays single-threaded: it waits for launch
//! requests on a socket, forks one child per run, and reports each child's pid and,
//! later, how it exited. A child runs the worker function (which builds its own runtime
//! and storage connection, exactly as `execute-run` does) and exits with its code. A run
//! so skips loading the binary, dynamic linking and building the definitions again.
//! Dagster users know the idea as the `forkserver` start method. A launch may carry a
//! payload for the worker (the code server sends the run it has just read, so that the
//! worker need not read it again).
//!
//! Messages are datagrams on a `SOCK_SEQPACKET` pair. To the helper:
//! `launch RUN_ID\nPAYLOAD`. From it: `launched RUN_ID PID`, `failed RUN_ID REASON`, and
//! `exited PID WAIT_STATUS`.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

/// The largest payload a launch carries; a larger one is not sent (see
/// [`ForkServerClient::launch`]).
pub const MAX_PAYLOAD: usize = 60 * 1024;
/// The longest message either side sends: a launch with its payload (a run id is a
/// UUID; a reason is short).
const MAX_MESSAGE: usize = MAX_PAYLOAD + 1024;

/// The helper process, between [`ForkServer::start`] and [`ForkServer::connect`].
pub struct ForkServer {
    helper: libc::pid_t,
    socket: OwnedFd,
}

/// What the code server gets back for a launch: the worker's pid, and its exit status
/// once it ends.
pub struct ForkedWorker {
    /// The worker's process id.
    pub pid: u32,
    /// Receives the worker's exit status when it ends.
    pub exited: oneshot::Receiver<ExitStatus>,
}

/// Why a fork server could not start a worker.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// [`ForkServer::start`] was called after the process started threads.
    #[error("the process has {threads} threads; the fork server must start before any")]
    NotSingleThreaded {
        /// How many threads the process has.
        threads: usize,
    },
    /// A system call failed.
    #[error("cannot {action}: {source}")]
    Os {
        /// What was being done (`fork the fork server`, ...).
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The helper process could not fork a worker (its reason given).
    #[error("the fork server could not fork a worker: {0}")]
    Refused(String),
    /// The helper process is gone.
    #[error("the fork server has exited; restart the code server")]
    Gone,
}

fn os_error(action: &'static str) -> ForkError {
    ForkError::Os {
        action,
        source: io::Error::last_os_error(),
    }
}

impl ForkServer {
    /// Fork the helper. Each child it forks later calls `worker(run_id, payload)` and
    /// exits with the code returned.
    ///
    /// Refuses to fork unless this process has exactly one thread: forking copies only
    /// the calling thread, and locks held by other threads would stay locked forever.
    pub fn start(worker: impl Fn(&str, &[u8]) -> i32) -> Result<Self, ForkError> {
        let threads = thread_count();
        if threads != 1 {
            return Err(ForkError::NotSingleThreaded { threads });
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: socketpair(2) writes two new descriptors into `fds`.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(os_error("create the fork server's socket pair"));
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the process is single-threaded (checked above), so the child is a
        // complete copy; it never returns from `helper_main`.
        match unsafe { libc::fork() } {
            -1 => Err(os_error("fork the fork server")),
            0 => {
                drop(ours);
                helper_main(theirs, &worker)
            }
            helper => Ok(Self {
                helper,
                socket: ours,
            }),
        }
    }

    /// The helper's process id.
    pub fn pid(&self) -> u32 {
        self.helper.unsigned_abs()
    }

    /// Start talking to the helper; needs a tokio runtime.
    pub fn connect(self) -> io::Result<ForkServerClient> {
        set_nonblocking(self.socket.as_raw_fd())?;
        // SAFETY: an OwnedFd's descriptor is valid, open and unchanging for as long as
        // the AsyncFd owns it.
        let socket = unsafe { AsyncFd::register(self.socket) }.map_err(io::Error::from)?;
        let inner = Arc::new(Inner {
            socket,
            pending: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
            gone: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(Arc::clone(&inner).read_replies());
        Ok(ForkServerClient { inner })
    }
}

/// The code server's side of a running fork server. Cheap to clone.
#[derive(Clone)]
pub struct ForkServerClient {
    inner: Arc<Inner>,
}

type LaunchReply = Result<ForkedWorker, ForkError>;

struct Inner {
    socket: AsyncFd<OwnedFd>,
    /// Launches waiting for their reply, by run id.
    pending: Mutex<HashMap<String, oneshot::Sender<LaunchReply>>>,
    /// Workers still running, by pid.
    exits: Mutex<HashMap<u32, oneshot::Sender<ExitStatus>>>,
    gone: std::sync::atomic::AtomicBool,
}

impl ForkServerClient {
    /// Fork a worker for `run_id`, handing it `payload`. A payload over [`MAX_PAYLOAD`]
    /// bytes is not sent: the worker gets an empty one, and must find what it needs
    /// itself.
    pub async fn launch(&self, run_id: &str, payload: &[u8]) -> Result<ForkedWorker, ForkError> {
        if self.inner.gone.load(Ordering::Acquire) {
            return Err(ForkError::Gone);
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(run_id.to_owned(), tx);
        let mut message = format!("launch {run_id}\n").into_bytes();
        if payload.len() <= MAX_PAYLOAD {
            message.extend_from_slice(payload);
        }
        let sent = self
            .inner
            .socket
            .async_io(Interest::WRITABLE, |fd| {
                // SAFETY: sending from a valid buffer on our open socket.
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        message.as_ptr().cast(),
                        message.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            })
            .await;
        if sent.is_err() {
            lock(&self.inner.pending).remove(run_id);
            return Err(ForkError::Gone);
        }
        rx.await.unwrap_or(Err(ForkError::Gone))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    /// Dispatch the helper's messages until it goes away.
    async fn read_replies(self: Arc<Self>) {
        let mut buf = [0u8; MAX_MESSAGE];
        loop {
            let received = self
                .socket
                .async_io(Interest::READABLE, |fd| {
                    // SAFETY: receiving into a buffer of the given length.
                    let n = unsafe {
                        libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                    };
                    usize::try_from(n).map_err(|_| io::Error::last_os_error())
                })
                .await;
            match received {
                Ok(0) | Err(_) => break,
                Ok(n) => self.dispatch(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        self.gone.store(true, Ordering::Release);
        for (_, waiting) in lock(&self.pending).drain() {
            let _ = waiting.send(Err(ForkError::Gone));
        }
        // Dropping the senders tells whoever waits for an exit that none will come.
        lock(&self.exits).clear();
    }

    fn dispatch(&self, message: &str) {
        let mut words = message.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("launched"), Some(run_id), Some(pid)) => {
                let Some(waiting) = lock(&self.pending).remove(run_id) else {
                    return;
                };
                let Ok(pid) = pid.parse::<u32>() else {
                    let _ = waiting.send(Err(ForkError::Refused(format!("bad pid {pid}"))));
                    return;
                };
                let (tx, exited) = oneshot::channel();
                lock(&self.exits).insert(pid, tx);
                let _ = waiting.send(Ok(ForkedWorker { pid, exited }));
            }
            (Some("failed"), Some(run_id), reason) => {
                if let Some(waiting) = lock(&self.pending).remove(run_id) {
                    let reason = reason.unwrap_or("unknown reason").to_owned();
                    let _ = waiting.send(Err(ForkError::Refused(reason)));
                }
            }
            (Some("exited"), Some(pid), Some(status)) => {
                let (Ok(pid), Ok(status)) = (pid.parse::<u32>(), status.parse::<i32>()) else {
                    return;
                };
                if let Some(waiting) = lock(&self.exits).remove(&pid) {
                    let _ = waiting.send(ExitStatus::from_raw(status));
                }
            }
            _ => tracing::warn!(message, "unexpected message from the fork server"),
        }
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(2) on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Threads of this process, from /proc (1 if it cannot be read: Linux always has it).
fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(1)
}

/// The write end of the helper's SIGCHLD self-pipe.
static CHILD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = CHILD_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe already means "reap".
        unsafe { libc::write(fd, [0u8].as_ptr().cast(), 1) };
    }
}

/// Send one message to the code server; a failure means it is gone, which the next
/// `recv` notices.
fn reply(socket: RawFd, message: &str) {
    // SAFETY: sending from a valid buffer on our socket.
    unsafe {
        libc::send(
            socket,
            message.as_ptr().cast(),
            message.len(),
            libc::MSG_NOSIGNAL,
        )
    };
}

/// The helper: fork a worker per request, report exits, and leave when the code server
/// closes its end.
fn helper_main(socket: OwnedFd, worker: &dyn Fn(&str, &[u8]) -> i32) -> ! {
    let socket_fd = socket.as_raw_fd();
    let mut pipe = [0 as RawFd; 2];
    // SAFETY: pipe2(2) writes two new descriptors into `pipe`; sigaction(2) installs an
    // async-signal-safe handler.
    unsafe {
        if libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
            libc::_exit(1);
        }
        CHILD_PIPE.store(pipe[1], Ordering::Relaxed);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigchld as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut());
    }
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let mut polled = [
            libc::pollfd {
                fd: socket_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pipe[0],
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) over two valid pollfd entries.
        if unsafe { libc::poll(polled.as_mut_ptr(), 2, -1) } < 0 {
            continue; // EINTR: a child ended while we waited.
        }
        if polled[1].revents != 0 {
            let mut drain = [0u8; 64];
            // SAFETY: reading into a local buffer from our own pipe.
            while unsafe { libc::read(pipe[0], drain.as_mut_ptr().cast(), drain.len()) } > 0 {}
            reap(socket_fd);
        }
        if polled[0].revents == 0 {
            continue;
        }
        // SAFETY: receiving into a buffer of the given length.
        let n = unsafe { libc::recv(socket_fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n == 0 || (n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted) {
            // The code server is gone; its workers carry on by themselves.
            // SAFETY: leaving without running the parent's exit handlers twice.
            unsafe { libc::_exit(0) };
        }
        let Ok(n) = usize::try_from(n) else { continue };
        let Some((run_id, payload)) = parse_launch(&buf[..n]) else {
            continue;
        };
        // SAFETY: this process is single-threaded, so the child is a complete copy.
        match unsafe { libc::fork() } {
            -1 => reply(
                socket_fd,
                &format!("failed {run_id} {}", io::Error::last_os_error()),
            ),
            0 => {
                // The worker: none of the helper's plumbing, default signal handling.
                // SAFETY: closing descriptors this process owns and resetting a handler.
                unsafe {
                    libc::close(pipe[0]);
                    libc::close(pipe[1]);
                    libc::signal(libc::SIGCHLD, libc::SIG_DFL);
                }
                drop(socket);
                let code = worker(run_id, payload);
                std::process::exit(code);
            }
            pid => reply(socket_fd, &format!("launched {run_id} {pid}")),
        }
    }
}

/// The run id and payload of a `launch RUN_ID\nPAYLOAD` message.
fn parse_launch(message: &[u8]) -> Option<(&str, &[u8])> {
    let rest = message.strip_prefix(b"launch ")?;
    let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let run_id = std::str::from_utf8(&rest[..end]).ok()?;
    Some((run_id, rest.get(end + 1..).unwrap_or_default()))
}

/// Report every child that has ended.
fn reap(socket: RawFd) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) for any child, without blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        reply(socket, &format!("exited {pid} {status}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_fork_a_multi_threaded_process() {
        // A second thread, alive during the check whatever the harness does.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || stopped.recv());
        let err = ForkServer::start(|_, _| 0).err().expect("must refuse");
        assert!(matches!(err, ForkError::NotSingleThreaded { threads } if threads > 1));
        assert!(err.to_string().contains("threads"), "{err}");
        drop(stop);
        let _ = other.join();
    }

    #[test]
    fn launch_messages_carry_a_run_id_and_a_payload() {
        assert_eq!(
            parse_launch(b"launch r1\n{\"a\":\"x\\ny\"}"),
            Some(("r1", &b"{\"a\":\"x\\ny\"}"[..]))
        );
        assert_eq!(parse_launch(b"launch r1\n"), Some(("r1", &b""[..])));
        assert_eq!(parse_launch(b"launch r1"), Some(("r1", &b""[..])));
        assert_eq!(parse_launch(b"exit r1"), None);
    }
}
