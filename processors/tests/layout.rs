//! Processors are business logic: encodings, the schema registry and Kafka
//! clients live in the runtime. This keeps it so.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn no_processor_imports_avro_the_registry_or_rdkafka() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    assert!(files.len() > 10, "read the processors' sources");
    let banned = [
        "moneta_avro",
        "moneta_schema_registry",
        "rdkafka",
        "apache_avro",
    ];
    for (path, text) in &files {
        for name in banned {
            assert!(!text.contains(name), "{path} uses {name}");
        }
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("manifest");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for name in [
        "moneta-avro",
        "moneta-schema-registry",
        "rdkafka",
        "apache-avro",
    ] {
        assert!(!dependencies.contains(name), "processors depend on {name}");
    }
}
