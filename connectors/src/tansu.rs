//! The embedded local broker: tansu 0.6.0 with SQLite storage, run as a
//! child process. It keeps records and consumer offsets across restarts but
//! has no transactions (no `EndTxn`), so processors on it run `at_least_once`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::kafka::probe_apis;

/// The command that installs the pinned tansu.
pub const INSTALL_HINT: &str =
    "cargo install tansu --version 0.6.0 --locked --features libsql,dynostore";

/// Errors of the local broker.
#[derive(Debug, thiserror::Error)]
pub enum TansuError {
    /// The executable is not installed.
    #[error(
        "tansu executable `{0}` not found; install it with `{INSTALL_HINT}` (scripts/setup.sh does)"
    )]
    NotInstalled(String),
    /// The data directory or log file could not be made.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The process did not start serving in time.
    #[error(
        "tansu on {listen} did not become ready within {seconds}s; its log ({log}) ends with:\n{tail}"
    )]
    NotReady {
        /// Listen address.
        listen: String,
        /// Wait in seconds.
        seconds: u64,
        /// Log path.
        log: String,
        /// The log's last lines.
        tail: String,
    },
}

/// How to run the local broker.
#[derive(Debug, Clone)]
pub struct TansuOptions {
    /// Executable name or path.
    pub binary: String,
    /// `host:port` to listen on and advertise.
    pub listen: String,
    /// Directory of `tansu.db` and `tansu.log`.
    pub data_dir: PathBuf,
}

/// A running tansu process; stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Tansu {
    child: Child,
    options: TansuOptions,
}

/// Finds an executable: a path as given, else on `PATH`, else in `~/.cargo/bin`.
pub fn find_binary(binary: &str) -> Result<PathBuf, TansuError> {
    let candidates: Vec<PathBuf> = if binary.contains('/') {
        vec![PathBuf::from(binary)]
    } else {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        if let Some(home) = std::env::var_os("HOME") {
            dirs.push(Path::new(&home).join(".cargo/bin"));
        }
        dirs.into_iter().map(|d| d.join(binary)).collect()
    };
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| TansuError::NotInstalled(binary.to_owned()))
}

impl Tansu {
    /// Starts tansu and waits until it answers Kafka requests.
    pub fn start(options: TansuOptions) -> Result<Self, TansuError> {
        let binary = find_binary(&options.binary)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TansuError::Io { path, source }
        };
        std::fs::create_dir_all(&options.data_dir).map_err(io(&options.data_dir))?;
        let data_dir = options
            .data_dir
            .canonicalize()
            .map_err(io(&options.data_dir))?;
        let log_path = data_dir.join("tansu.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let log_err = log.try_clone().map_err(io(&log_path))?;
        let url = format!("tcp://{}", options.listen);
        // tansu resolves `sqlite://` paths against its working directory.
        let child = Command::new(&binary)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&data_dir)
            // Its own process group: a terminal's Ctrl-C reaches `moneta`,
            // which stops its stages first and the broker last.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io(&binary))?;
        let mut tansu = Self { child, options };
        tansu.wait_ready(Duration::from_secs(30), &log_path)?;
        Ok(tansu)
    }

    fn wait_ready(&mut self, limit: Duration, log: &Path) -> Result<(), TansuError> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if probe_apis(&self.options.listen, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        Err(TansuError::NotReady {
            listen: self.options.listen.clone(),
            seconds: limit.as_secs(),
            log: log.display().to_string(),
            tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }

    /// `host:port` clients connect to.
    pub fn bootstrap_servers(&self) -> &str {
        &self.options.listen
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }

    /// Process id of the broker.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the broker: SIGTERM, then SIGKILL after five seconds.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = Pid::from_raw(self.child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Waits for the broker process to exit on its own.
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}
