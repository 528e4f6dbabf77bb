//! `moneta_tls::serve` over real TCP: HTTPS with mutual TLS, refused
//! handshakes that leave the listener serving, and graceful shutdown.

use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use moneta_testkit::tls::{TestCa, write_pem};
use moneta_tls::{ClientIdentity, ServerTls, client_config, server_config};

struct Files {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server: ServerTls,
    client: ClientIdentity,
    other_client: ClientIdentity,
}

fn files() -> anyhow::Result<Files> {
    let dir = tempfile::tempdir()?;
    let (ca, other) = (TestCa::new("test CA")?, TestCa::new("other CA")?);
    let server = ca.issue(&["localhost", "127.0.0.1"])?;
    let client = ca.issue(&["operator"])?;
    let stranger = other.issue(&["stranger"])?;
    let path = |name: &str, pem: &str| write_pem(dir.path(), name, pem);
    Ok(Files {
        ca: path("ca.pem", ca.pem())?,
        server: ServerTls {
            cert: path("server.pem", &server.cert_pem)?,
            key: path("server.key", &server.key_pem)?,
            client_ca: Some(path("client-ca.pem", ca.pem())?),
        },
        client: ClientIdentity {
            cert: path("client.pem", &client.cert_pem)?,
            key: path("client.key", &client.key_pem)?,
        },
        other_client: ClientIdentity {
            cert: path("stranger.pem", &stranger.cert_pem)?,
            key: path("stranger.key", &stranger.key_pem)?,
        },
        _dir: dir,
    })
}

fn client(files: &Files, identity: Option<&ClientIdentity>) -> anyhow::Result<reqwest::Client> {
    let tls = client_config(Some(&files.ca), identity)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()?)
}

#[tokio::test]
async fn mutual_tls_serves_known_clients_only_and_shuts_down_gracefully() -> anyhow::Result<()> {
    let files = files()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://localhost:{}/", listener.local_addr()?.port());
    let app = Router::new().route("/", get(|| async { "hello" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(moneta_tls::serve(
        listener,
        app,
        server_config(&files.server)?,
        async move {
            let _ = stopped.await;
        },
    ));

    let anonymous = client(&files, None)?.get(&url).send().await;
    assert!(anonymous.is_err(), "no client certificate: {anonymous:?}");
    let stranger = client(&files, Some(&files.other_client))?
        .get(&url)
        .send()
        .await;
    assert!(
        stranger.is_err(),
        "untrusted client certificate: {stranger:?}"
    );

    for _ in 0..2 {
        let known = client(&files, Some(&files.client))?
            .get(&url)
            .send()
            .await?;
        assert_eq!(known.status(), 200);
        assert_eq!(known.version(), reqwest::Version::HTTP_2, "ALPN h2");
        assert_eq!(known.text().await?, "hello");
    }

    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(5), server).await??;
    Ok(())
}

#[test]
fn errors_name_the_file_never_its_contents() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key_text = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n";
    let key = write_pem(dir.path(), "broken.key", key_text)?;
    let cert = write_pem(dir.path(), "cert.pem", TestCa::new("ca")?.pem())?;
    let tls = ServerTls {
        cert,
        key: key.clone(),
        client_ca: None,
    };
    let error = server_config(&tls).err().map(|e| e.to_string());
    let error = error.unwrap_or_default();
    assert!(error.contains("broken.key"), "{error}");
    assert!(
        !error.contains("c2VjcmV0"),
        "key bytes in the error: {error}"
    );
    assert!(!format!("{tls:?}").contains("c2VjcmV0"));
    Ok(())
}
