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
}

#[test]
fn the_local_configuration_loads() {
    let local = Config::load(Some(&repo_file("moneta.toml"))).expect("moneta.toml parses");
    assert_eq!(
        local.processing.assignment,
        moneta_runtime::Assignment::Static
    );
}
