//! What every server Moneta runs from Maven jars shares: finding Java and
//! checking its version, where `scripts/setup.sh` caches the jars, and
//! spawning a JVM that the kernel stops when its owner goes.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The oldest Java the servers run on (Kafka 4 brokers and Cassandra 5
/// both support 17).
pub const MIN_JAVA: u32 = 17;

/// Marker `scripts/setup.sh` writes once every jar of a server is in place.
pub(crate) const COMPLETE_MARKER: &str = ".complete";

/// Why a Java runtime cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JavaProblem {
    /// Nothing by that name or path.
    Missing(String),
    /// A Java older than [`MIN_JAVA`].
    TooOld {
        /// The java executable.
        java: String,
        /// The version it reported.
        found: String,
    },
}

/// Finds `java` (a path, a name on `PATH`, or `$JAVA_HOME/bin/java`) and
/// checks that it is Java [`MIN_JAVA`] or newer.
pub fn find_java(java: &str) -> Result<PathBuf, JavaProblem> {
    let path = locate(java).ok_or_else(|| JavaProblem::Missing(java.to_owned()))?;
    match java_major(&path) {
        Some(major) if major >= MIN_JAVA => Ok(path),
        found => Err(JavaProblem::TooOld {
            java: path.display().to_string(),
            found: found.map_or_else(|| "an unknown version".into(), |v| format!("Java {v}")),
        }),
    }
}

/// The directory of a server's jars: `$<env>` if set, else
/// `${XDG_CACHE_HOME:-~/.cache}/moneta/<name>-<version>/libs`, where
/// `scripts/setup.sh` puts them.
pub fn jars_dir(env: &str, name: &str, version: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache
        .join("moneta")
        .join(format!("{name}-{version}"))
        .join("libs")
}

/// Whether `libs` holds `jar` and setup's completion marker.
pub(crate) fn jars_complete(libs: &Path, jar: &str) -> bool {
    libs.join(jar).is_file() && libs.join(COMPLETE_MARKER).is_file()
}

/// The major version `java -version` reports (`"17.0.15"` is 17, `"1.8.0"` is 8).
fn java_major(java: &Path) -> Option<u32> {
    let output = Command::new(java)
        .arg("-version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    parse_java_major(&String::from_utf8_lossy(&output.stderr))
}

fn parse_java_major(text: &str) -> Option<u32> {
    let quoted = text.lines().next()?.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '-', '+', '_']);
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

fn locate(java: &str) -> Option<PathBuf> {
    if java.contains('/') {
        let path = PathBuf::from(java);
        return path.is_file().then_some(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(java));
    let java_home = std::env::var_os("JAVA_HOME").map(|home| PathBuf::from(home).join("bin/java"));
    on_path.chain(java_home).find(|p| p.is_file())
}

/// Asks the kernel to SIGTERM the child when the thread that spawns it ends
/// (`PR_SET_PDEATHSIG`). Linux ties this to the spawning *thread*, so
/// callers spawn from a thread that lives as long as they own the server.
#[allow(unsafe_code)]
pub(crate) fn terminate_with_parent_thread(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // makes the prctl(2) system call, which is async-signal-safe; it
    // allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
}

/// How waiting for a server to answer ended.
#[derive(Debug)]
pub(crate) enum Wait {
    /// It answered.
    Ready,
    /// Its process exited first.
    Exited(ExitStatus),
    /// Neither, within the limit.
    TimedOut,
}

/// A server's JVM process, once started: its status, a graceful stop and a
/// hard kill, each reaping it.
#[derive(Debug, Default)]
pub(crate) struct JvmChild(Option<Child>);

impl JvmChild {
    /// Holds `child` from now on.
    pub fn set(&mut self, child: Child) {
        self.0 = Some(child);
    }

    /// The process id, while a process is held.
    pub fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }

    /// Whether a process is held (running or exited, not yet stopped).
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }

    /// The exit status, if the process has exited (or none was started).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        match self.0.as_mut().map(Child::try_wait) {
            Some(Ok(status)) => status,
            Some(Err(_)) | None => None,
        }
    }

    /// Polls `ready` every 100 ms until it holds, the process exits or
    /// `limit` passes.
    pub fn wait_until(&mut self, limit: Duration, mut ready: impl FnMut() -> bool) -> Wait {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if ready() {
                return Wait::Ready;
            }
            if let Some(status) = self.exited() {
                return Wait::Exited(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Wait::TimedOut
    }

    /// SIGTERM (a controlled shutdown), then SIGKILL after `grace`; false
    /// if no process was held.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.0.take() else {
            return false;
        };
        if let Ok(None) = child.try_wait() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        true
    }

    /// SIGKILLs the process (no controlled shutdown) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn last_lines(text: &str, lines: usize) -> String {
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_versions_are_read_from_java_dash_version() {
        assert_eq!(
            parse_java_major("openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime"),
            Some(17)
        );
        assert_eq!(parse_java_major("java version \"1.8.0_392\""), Some(8));
        assert_eq!(
            parse_java_major("openjdk version \"21\" 2023-09-19"),
            Some(21)
        );
        assert_eq!(parse_java_major("openjdk version \"25-ea\""), Some(25));
        assert_eq!(parse_java_major("no version here"), None);
    }

    #[test]
    fn a_missing_java_is_named() {
        assert_eq!(
            find_java("no-such-java-binary"),
            Err(JavaProblem::Missing("no-such-java-binary".into()))
        );
    }
}
