//! A real headless Chromium for browser tests, driven over the W3C
//! WebDriver protocol through Debian's `chromedriver` (installed by
//! `scripts/setup.sh`). A test that needs it and cannot find it fails; it
//! never skips.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The key WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian puts the browser and its driver (`MONETA_CHROMIUM`,
/// `MONETA_CHROMEDRIVER` override them).
fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

/// One browser session; the driver process ends with it.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts `chromedriver` on a free port and a headless Chromium session.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// [`Browser::start`], saving downloads into `downloads` if given.
    pub async fn start_with(downloads: Option<&Path>) -> anyhow::Result<Self> {
        let chromedriver = program("MONETA_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("MONETA_CHROMIUM", "/usr/bin/chromium");
        ensure!(
            Path::new(&chromedriver).exists() && Path::new(&chromium).exists(),
            "browser tests need Chromium and ChromeDriver ({chromium}, {chromedriver}): run scripts/setup.sh"
        );
        let port = crate::free_port()?;
        // Its own process group: the browser it starts ends with it.
        let driver = Command::new(&chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {chromedriver}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            ensure!(
                Instant::now() < deadline,
                "chromedriver did not answer on {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut browser = Self {
            driver,
            http,
            session: String::new(),
            base,
        };
        let mut options = json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"]
        });
        if let Some(dir) = downloads {
            options["prefs"] = json!({
                "download.default_directory": dir.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true
            });
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options
        }}});
        let created = browser.call("POST", "/session", Some(caps)).await?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session id in {created}"))?
            .to_owned();
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let reply: Value = request.send().await?.json().await?;
        let value = reply.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            bail!(
                "webdriver {method} {path}: {error}: {}",
                value["message"].as_str().unwrap_or_default()
            );
        }
        Ok(value)
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", &self.at("/url"), Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> anyhow::Result<String> {
        let value = self.call("GET", &self.at("/source"), None).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The current URL.
    pub async fn url(&self) -> anyhow::Result<String> {
        let value = self.call("GET", &self.at("/url"), None).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until the browser is at a URL ending with `suffix` (10 s at
    /// most): a click that submits a form or follows a link returns before
    /// its navigation is done, and opening another page meanwhile cancels it.
    pub async fn wait_for_url(&self, suffix: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await?;
            if url.ends_with(suffix) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("still at {url}, not at …{suffix}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every element matching the CSS selector.
    pub async fn all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let found = self
            .call(
                "POST",
                &self.at("/elements"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
            .collect())
    }

    /// The first element matching the CSS selector.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.all(css)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no element matches {css}"))
    }

    /// The first element matching the CSS selector once the page has one
    /// (10 s at most: a click's navigation may still be under way).
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(found) = self.all(css).await?.into_iter().next() {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no element matches {css}; the page: {}",
                    self.source().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the first element matching the CSS selector once the page has
    /// one. An element found on the page a navigation is replacing goes
    /// stale before the click lands ("stale element reference"): it is
    /// looked up again, for 10 s at most.
    pub async fn click_on(&self, css: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let element = self.wait_for(css).await?;
            match self.click(&element).await {
                Err(error)
                    if error.to_string().contains("stale element reference")
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                clicked => return clicked,
            }
        }
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.call(
            "POST",
            &self.at(&format!("/element/{}/click", element.0)),
            None,
        )
        .await
        .map(drop)
    }

    /// Types `text` into `element`.
    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.call(
            "POST",
            &self.at(&format!("/element/{}/value", element.0)),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    /// The rendered text of `element`.
    pub async fn text(&self, element: &Element) -> anyhow::Result<String> {
        let value = self
            .call(
                "GET",
                &self.at(&format!("/element/{}/text", element.0)),
                None,
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let value = self.call("GET", &self.at("/screenshot"), None).await?;
        let png = STANDARD.decode(value.as_str().unwrap_or_default())?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }
}

impl Drop for Browser {
    /// Ends the driver and every browser process it started.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.driver.wait();
    }
}
