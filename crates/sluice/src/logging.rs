//! Process logging: human-readable lines by default, JSON on request.
//!
//! `SLUICE_LOG` sets the filter (tracing's `EnvFilter` syntax, default `warn` for
//! command-line tools, `info` for servers); `SLUICE_LOG_FORMAT=json` switches to JSON.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Install the global subscriber, writing to stderr. `default_level` applies when
/// `SLUICE_LOG` is unset. Calling it twice is harmless.
pub fn init(default_level: &str) {
    install(default_level, BoxMakeWriter::new(std::io::stderr));
}

/// Like [`init`], writing to stdout (for services whose supervisor collects stdout).
pub fn init_stdout(default_level: &str) {
    install(default_level, BoxMakeWriter::new(std::io::stdout));
}

fn install(default_level: &str, writer: BoxMakeWriter) {
    let filter =
        EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = if std::env::var("SLUICE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
    {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A subscriber already installed (e.g. by a test) is fine.
    drop(result);
}
