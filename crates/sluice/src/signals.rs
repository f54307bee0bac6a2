//! Stopping cleanly: a cancellation token for Ctrl-C and SIGTERM.

use tokio_util::sync::CancellationToken;

/// A token cancelled on the first Ctrl-C or SIGTERM; `what` is printed when it happens
/// (e.g. "Stopping the daemon"). Call it inside a tokio runtime.
pub fn shutdown_on_signals(what: &'static str) -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut sig) => {
                    sig.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        eprintln!("{what}...");
        token.cancel();
    });
    cancel
}
