//! The fork server, from a process of its own (see `harness = false` in Cargo.toml): it
//! forks a worker per launch, each worker runs the function it was given, and every
//! exit (code or signal) comes back to the right waiter.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_codeserver::ForkServer;

/// What a test worker does, by run id: `kill` dies of SIGKILL, `code-N` exits with N,
/// anything else writes a file named after the run and exits 0.
fn worker(dir: &Path, run_id: &str) -> i32 {
    if run_id == "kill" {
        // SAFETY: the worker kills itself, as a crash would.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    if let Some(code) = run_id.strip_prefix("code-") {
        return code.parse().unwrap_or(99);
    }
    std::fs::write(dir.join(run_id), std::process::id().to_string()).map_or(98, |()| 0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().to_owned();
    let server = ForkServer::start(move |run_id| worker(&path, run_id)).expect("fork server");
    let helper = server.pid();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = server.connect().expect("connect");

        let written = client.launch("writes").await.expect("launch");
        let status = written.exited.await.expect("exit reported");
        assert_eq!(status.code(), Some(0));
        let pid_in_file = std::fs::read_to_string(dir.path().join("writes")).expect("file");
        assert_eq!(
            pid_in_file,
            written.pid.to_string(),
            "the worker is the launched pid"
        );

        let three = client.launch("code-3").await.expect("launch");
        assert_eq!(three.exited.await.expect("exit").code(), Some(3));
        let killed = client.launch("kill").await.expect("launch");
        assert_eq!(
            killed.exited.await.expect("exit").signal(),
            Some(libc::SIGKILL)
        );

        // Many at once: distinct workers, each exit to its own waiter.
        let launches: Vec<_> = (0..20)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.launch(&format!("many-{i}")).await })
            })
            .collect();
        let mut workers = Vec::new();
        for launch in launches {
            workers.push(launch.await.expect("task").expect("launch"));
        }
        let mut pids: Vec<u32> = workers.iter().map(|w| w.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(pids.len(), 20);
        for w in workers {
            assert_eq!(w.exited.await.expect("exit").code(), Some(0));
        }
        for i in 0..20 {
            assert!(dir.path().join(format!("many-{i}")).is_file());
        }
    });
    // With the code server's side gone, the helper leaves by itself.
    drop(runtime);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child, the helper, without blocking.
        let pid = unsafe { libc::waitpid(helper as libc::pid_t, &mut status, libc::WNOHANG) };
        if pid == helper as libc::pid_t {
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the helper outlived its code server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("fork server: all checks passed");
}
