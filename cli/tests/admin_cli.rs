//! The operators' path through the `moneta` command: serve the admin API,
//! seed the demo network (twice: it is idempotent), and read it back with
//! `moneta admin …`, as the README shows.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "cli-test-token";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moneta(config: &Path, args: &[&str], token: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MONETA_ADMIN__TOKEN", token)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run moneta")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

#[test]
fn seed_demo_then_admin_commands_show_the_demo_network() -> anyhow::Result<()> {
    // `admin serve` mirrors registry writes to the changelog topic.
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let listen = format!("127.0.0.1:{}", moneta_testkit::free_port()?);
    let config = dir.path().join("moneta.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbootstrap_servers = \"{}\"\n[broker]\nembedded = false\n[topics]\nprefix = \"{}.\"\n[admin]\nlisten = \"{listen}\"\n[state]\ndir = \"{}\"\n[metrics]\nlisten = \"\"\n",
            &bootstrap,
            moneta_testkit::unique("admin-cli"),
            dir.path().join("state").display()
        ),
    )?;
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_moneta"))
            .arg("--config")
            .arg(&config)
            .args(["admin", "serve"])
            .env("MONETA_ADMIN__TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "admin API did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let first = moneta(&config, &["seed-demo"], TOKEN);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("mo-acme"));
    let again = moneta(&config, &["seed-demo"], TOKEN);
    assert!(
        again.status.success(),
        "seed-demo twice: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists"));

    let mos = json(&moneta(
        &config,
        &["admin", "list", "membership-organizations", "mic=ACME"],
        TOKEN,
    ));
    assert_eq!(mos["items"][0]["entity"]["id"], "mo-acme");
    assert_eq!(mos["items"][0]["entity"]["status"], "active");
    let pass = json(&moneta(
        &config,
        &[
            "admin",
            "list",
            "mpasses",
            "mo_id=mo-acme",
            "mpass_number=0001",
        ],
        TOKEN,
    ));
    assert_eq!(pass["items"][0]["entity"]["id"], "mp-0001");
    for collection in ["mpasses", "billing-accounts"] {
        let of_mo = json(&moneta(
            &config,
            &["admin", "list", collection, "mo_id=mo-acme"],
            TOKEN,
        ));
        assert_eq!(
            of_mo["items"].as_array().map(Vec::len),
            Some(1),
            "{collection} of mo-acme: {of_mo}"
        );
    }
    let keys = json(&moneta(
        &config,
        &["admin", "list", "keys", "organization_id=pub-globe"],
        TOKEN,
    ));
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(1));
    let template = json(&moneta(
        &config,
        &["admin", "latest-template", "settlement"],
        TOKEN,
    ));
    assert_eq!(template["entity"]["version"], 2);
    let agreement = json(&moneta(
        &config,
        &["admin", "get", "settlement-agreements", "agr-acme-globe"],
        TOKEN,
    ));
    assert_eq!(agreement["entity"]["publisher_bps"], 7000);
    let raised = json(&moneta(
        &config,
        &[
            "admin",
            "patch",
            "settlement-agreements",
            "agr-acme-globe",
            "--revision",
            "1",
            r#"{"min_settlement_minor": 500}"#,
        ],
        TOKEN,
    ));
    assert_eq!(
        (
            &raised["revision"],
            &raised["entity"]["min_settlement_minor"]
        ),
        (&serde_json::json!(2), &serde_json::json!(500))
    );
    let suspended = json(&moneta(
        &config,
        &["admin", "status", "publishers", "pub-globe", "suspended"],
        TOKEN,
    ));
    assert_eq!(suspended["entity"]["status"], "suspended");
    let revoked = json(&moneta(
        &config,
        &["admin", "revoke-key", "key-acme-1"],
        TOKEN,
    ));
    assert_eq!(revoked["entity"]["state"], "revoked");

    let refused = moneta(
        &config,
        &["admin", "status", "publishers", "pub-globe", "pending"],
        TOKEN,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid_transition"));
    let intruder = moneta(&config, &["admin", "list", "publishers"], "wrong-token");
    assert!(!intruder.status.success());
    let stderr = String::from_utf8_lossy(&intruder.stderr);
    assert!(
        stderr.contains("unauthorized") && !stderr.contains(TOKEN),
        "{stderr}"
    );
    Ok(())
}
