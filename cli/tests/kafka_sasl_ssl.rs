//! Kafka over `SASL_SSL` end to end (#23): `moneta up` starts its embedded
//! broker with a `SASL_SSL` listener (a certificate this test issues from
//! its own CA, SCRAM users created when the storage is formatted) and every
//! client of Moneta reaches Kafka only through that listener, logging at
//! `trace`.
//!
//! - A contract submitted at the edge is recorded and countersigned: the
//!   schema registry, the edge and every stage talk to Kafka over TLS with
//!   a SCRAM login; so does `/readyz`.
//! - A wrong password (given as `MONETA_KAFKA__SASL_PASSWORD`, over the
//!   file's) fails promptly with an authentication error that does not
//!   show the password.
//! - Neither password nor the broker's private key appears in Moneta's log,
//!   the broker's log or its `server.properties`; the broker's log names
//!   the refused login.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;
use support::Moneta;

const USER: &str = "moneta";
const PASSWORD: &str = "scram-pa55word-for-the-test";
const WRONG_PASSWORD: &str = "not-the-scram-pa55word";

/// The test CA's certificate and the broker's key, as PEM files in `dir`.
struct Tls {
    ca: std::path::PathBuf,
    key_pem: String,
}

/// Issues a CA and, from it, the broker's certificate for 127.0.0.1 and
/// localhost; writes `ca.pem`, `broker.pem` and `broker.key` into `dir`.
fn issue_certificates(dir: &Path) -> anyhow::Result<Tls> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "moneta test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let certificate = params.signed_by(&key, &ca)?;
    let tls = Tls {
        ca: dir.join("ca.pem"),
        key_pem: key.serialize_pem(),
    };
    std::fs::write(&tls.ca, ca.pem())?;
    std::fs::write(dir.join("broker.pem"), certificate.pem())?;
    std::fs::write(dir.join("broker.key"), &tls.key_pem)?;
    Ok(tls)
}

/// The extra TOML: an embedded broker with a `SASL_SSL` listener that
/// Moneta's clients use, its plaintext listener only for the readiness probe.
fn extra_toml(dir: &Path, tls: &Tls) -> anyhow::Result<String> {
    let port = || moneta_testkit::free_port().map(|p| format!("127.0.0.1:{p}"));
    let (listen, controller, secure) = (port()?, port()?, port()?);
    Ok(format!(
        r#"
[kafka]
bootstrap_servers = "{secure}"
sasl_password = "{PASSWORD}"
[kafka.client]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "{USER}"
"ssl.ca.location" = "{ca}"
[broker]
embedded = true
listen = "{listen}"
controller_listen = "{controller}"
data_dir = "{broker_dir}"
heap_mb = 512
sasl_ssl_listen = "{secure}"
tls_certificate = "{certificate}"
tls_key = "{key}"
[broker.scram_users]
{USER} = "{PASSWORD}"
[broker.settings]
"group.min.session.timeout.ms" = "1000"
"#,
        ca = tls.ca.display(),
        broker_dir = dir.join("broker").display(),
        certificate = dir.join("broker.pem").display(),
        key = dir.join("broker.key").display(),
    ))
}

/// `moneta topics create` with a wrong password: it must fail within a
/// minute, say that authentication failed, and not show the password.
/// Returns its output, for the secret scan.
fn wrong_password_fails(moneta: &Moneta) -> anyhow::Result<String> {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(&moneta.config)
        .args(["topics", "create"])
        .env("MONETA_KAFKA__SASL_PASSWORD", WRONG_PASSWORD)
        .env("RUST_LOG", "trace")
        .output()?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    ensure!(
        !out.status.success(),
        "a wrong password was accepted:\n{output}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "a wrong password took {:?} to fail",
        started.elapsed()
    );
    ensure!(
        last.is_some_and(|l| l.to_ascii_lowercase().contains("authentication")),
        "the error does not say that authentication failed: {last:?}"
    );
    ensure!(
        !output.contains(WRONG_PASSWORD),
        "the wrong password is shown: {last:?}"
    );
    Ok(output)
}

/// The broker's own log and console output, and its `server.properties`.
fn broker_log(dir: &Path) -> anyhow::Result<String> {
    let mut text = std::fs::read_to_string(dir.join("server.properties"))?;
    for entry in std::fs::read_dir(dir.join("logs"))? {
        text += &std::fs::read_to_string(entry?.path())?;
    }
    Ok(text)
}

#[test]
fn contracts_flow_over_sasl_ssl_with_scram() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tls = issue_certificates(dir.path())?;
    let extra = extra_toml(dir.path(), &tls)?;
    let bootstrap = extra
        .lines()
        .find_map(|l| l.strip_prefix("bootstrap_servers = "))
        .map(|v| v.trim_matches('"').to_owned())
        .context("bootstrap_servers")?;
    let started = Instant::now();
    let moneta = Moneta::start_traced(&bootstrap, dir.path(), &extra, "trace")?;
    let up = started.elapsed();
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    if let Err(e) = runtime.block_on(support::countersigned_contract(&moneta, "c-sasl-1")) {
        bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    // `/readyz` logs in over SASL_SSL too.
    let ready: Value = runtime.block_on(async {
        reqwest::get(format!("http://{}/readyz", moneta.metrics))
            .await?
            .json()
            .await
    })?;
    ensure!(ready["broker"] == "ok", "/readyz: {ready}");
    let refused = wrong_password_fails(&moneta)?;
    let broker_log = broker_log(&dir.path().join("broker"))?;
    ensure!(
        broker_log.contains("invalid credentials"),
        "the broker's log does not name the refused login"
    );
    let key_line = tls.key_pem.lines().nth(1).unwrap_or_default().to_owned();
    support::assert_no_secrets(
        &(moneta.full_log() + &refused + &broker_log),
        &[
            ("SCRAM password", PASSWORD.to_owned()),
            ("wrong SCRAM password", WRONG_PASSWORD.to_owned()),
            ("broker private key", key_line),
        ],
    )?;
    eprintln!(
        "up over SASL_SSL in {:.1} s, whole test {:.1} s",
        up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
