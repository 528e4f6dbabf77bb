//! The shipped configuration files stay in step with the code.

use std::path::Path;

use moneta_topology::Config;

fn repo_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

#[test]
fn the_example_configuration_lists_exactly_the_defaults() {
    let example = Config::load(Some(&repo_file("moneta.example.toml"))).expect("example parses");
    assert_eq!(example, Config::default());
    // Every key is spelled out, not left to its default.
    let text = std::fs::read_to_string(repo_file("moneta.example.toml")).expect("read");
    let written: toml::Value = toml::from_str(&text).expect("TOML");
    let defaults = toml::Value::try_from(Config::default()).expect("defaults as TOML");
    assert_eq!(written, defaults, "moneta.example.toml must list every key");
}

#[test]
fn the_local_configuration_loads() {
    let local = Config::load(Some(&repo_file("moneta.toml"))).expect("moneta.toml parses");
    assert_eq!(
        local.processing.guarantee,
        moneta_runtime::Guarantee::ExactlyOnce
    );
    assert!(local.broker.embedded);
    assert_eq!(local.broker.listen, local.kafka.bootstrap_servers);
}
