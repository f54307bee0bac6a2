//! The fork server, from a process of its own (see `harness = false` in Cargo.toml): it
//! forks a worker per launch, each worker runs the function it was given, and every
//! exit (code or signal) comes back to the right waiter.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_codeserver::ForkServer;

/// What a test worker does, by run id: `kill` dies of SIGKILL, `code-N` exits with N,
/// `echo-*` writes its payload to a file named after the run, anything else writes its
/// pid there; then it exits 0.
fn worker(dir: &Path, run_id: &str, payload: &[u8]) -> i32 {
    if run_id == "kill" {
        // SAFETY: the worker kills itself, as a crash would.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    if let Some(code) = run_id.strip_prefix("code-") {
        return code.parse().unwrap_or(99);
    }
    let content = if run_id.starts_with("echo-") {
        payload.to_vec()
    } else {
        std::process::id().to_string().into_bytes()
    };
    std::fs::write(dir.join(run_id), content).map_or(98, |()| 0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().to_owned();
    let server = ForkServer::start(move |run_id, payload| worker(&path, run_id, payload))
        .expect("fork server");
    let helper = server.pid();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = server.connect().expect("connect");

        let written = client.launch("writes", b"").await.expect("launch");
        let status = written.exited.await.expect("exit reported");
        assert_eq!(status.code(), Some(0));
        let pid_in_file = std::fs::read_to_string(dir.path().join("writes")).expect("file");
        assert_eq!(
            pid_in_file,
            written.pid.to_string(),
            "the worker is the launched pid"
        );

        // The payload reaches the worker, unless it is too large to send.
        let payload = b"{\"run\": \"with\nnewlines\"}";
        let echo = client.launch("echo-small", payload).await.expect("launch");
        assert_eq!(echo.exited.await.expect("exit").code(), Some(0));
        let echoed = std::fs::read(dir.path().join("echo-small")).expect("file");
        assert_eq!(echoed, payload);
        let large = vec![b'x'; sluice_codeserver::fork_server::MAX_PAYLOAD + 1];
        let echo = client.launch("echo-large", &large).await.expect("launch");
        assert_eq!(echo.exited.await.expect("exit").code(), Some(0));
        let echoed = std::fs::read(dir.path().join("echo-large")).expect("file");
        assert!(echoed.is_empty(), "an oversized payload is not sent");

        let three = client.launch("code-3", b"").await.expect("launch");
        assert_eq!(three.exited.await.expect("exit").code(), Some(3));
        let killed = client.launch("kill", b"").await.expect("launch");
        assert_eq!(
            killed.exited.await.expect("exit").signal(),
            Some(libc::SIGKILL)
        );

        // Many at once: distinct workers, each exit to its own waiter.
        let launches: Vec<_> = (0..20)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.launch(&format!("many-{i}"), b"").await })
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
