//! The Sluice daemon. Its loops (run queue, schedules, sensors, backfills, run
//! monitoring) arrive with the process work that follows the foundation; until then it
//! only describes itself.

use clap::Parser;

/// The Sluice daemon: launches queued runs, evaluates schedules and sensors, drives
/// backfills and monitors runs.
#[derive(Parser)]
#[command(name = "sluice-daemon", version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("sluice-daemon is not available in this build yet; run `sluice-daemon --help`.");
    std::process::exit(2);
}
