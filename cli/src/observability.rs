//! Logging and span export set-up for the `moneta` command.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use moneta_topology::config::{LogConfig, LogFormat};

use crate::otlp::Otlp;

/// Installs the global subscriber: logs to stderr filtered by `RUST_LOG`
/// if set, else `log.level`, colours only when stderr is a terminal (never
/// in files or pipes); and, with `otlp`, Moneta's spans (level info and
/// above, whatever the log filter) for export.
pub fn init_logging(log: &LogConfig, otlp: Option<&Otlp>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = match log.format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let spans = otlp.map(|otlp| {
        tracing_opentelemetry::layer()
            .with_tracer(otlp.tracer())
            .with_filter(filter_fn(|meta| {
                meta.target().starts_with("moneta") && *meta.level() <= Level::INFO
            }))
    });
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(spans)
        .try_init();
}
