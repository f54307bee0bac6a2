//! The Sluice webserver. Its GraphQL API and UI arrive with the process work that
//! follows the foundation; until then it only describes itself.

use clap::Parser;

/// The Sluice webserver: GraphQL at /graphql and the UI at /, on port 3000 by default.
#[derive(Parser)]
#[command(name = "sluice-webserver", version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!(
        "sluice-webserver is not available in this build yet; run `sluice-webserver --help`."
    );
    std::process::exit(2);
}
