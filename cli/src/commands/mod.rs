//! The `moneta` subcommands, one module per group.

pub mod admin;
pub mod broker;
pub mod contracts;
pub mod deliveries;
pub mod demo;
pub mod describe;
pub mod io;
pub mod keys;
pub mod offsets;
pub mod replay;
pub mod settlements;
pub mod stages;
pub mod state;
pub mod submit;
pub mod topics;

use std::path::Path;
use std::process::ExitCode;

use moneta_topology::Config;

/// `moneta config check`: the effective configuration, secrets redacted.
pub fn config_check(config: &Config, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    match path {
        Some(path) => println!("# configuration: {} + MONETA_… environment", path.display()),
        None => println!("# configuration: defaults + MONETA_… environment (no file)"),
    }
    print!("{}", config.to_redacted_toml()?);
    Ok(ExitCode::SUCCESS)
}

/// Resolves once SIGTERM or SIGINT arrives. The handlers are installed
/// when this is called, not when the future is first polled, so a signal
/// that comes in between is not lost.
pub fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let streams = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match streams {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
