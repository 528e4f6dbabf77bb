//! Moneta's topology: the configuration, the topics, and which processor
//! reads and writes which topic. The `moneta` command is built on it.

pub mod changelog;
pub mod config;
pub mod contract_changelog;
pub mod demo;
pub mod rebuild;
pub mod retention;
pub mod services;
pub mod telemetry;
pub mod topology;

pub use config::Config;
pub use topology::{Build, Services, Stage, Topic, Topology};
