//! Logging setup. `RUST_LOG` filters (default `info`); `TOLLGATE_LOG_FORMAT=json` for
//! machine-readable lines. Nothing secret is ever passed to a log macro: requests are logged by
//! method, path, status and request id only (see `http::middleware`).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests spawn many apps in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
