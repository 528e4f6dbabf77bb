//! Which process owns a broker directory: the one holding its lock file.
//! A broker process whose owner is gone (a SIGKILLed `moneta up` whose
//! broker was still shutting down) is an orphan the next owner stops.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::BrokerError;
use super::node::PID_FILE;

/// The lock a broker directory's owner holds while it lives (`flock`, so
/// the kernel releases it when the owner dies, however it dies).
#[derive(Debug)]
pub(crate) struct Ownership {
    _lock: Flock<File>,
}

/// Takes ownership of `dir`, or `None` when a live process owns it.
pub(crate) fn claim(dir: &Path) -> Result<Option<Ownership>, BrokerError> {
    let path = dir.join("owner.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| BrokerError::io(&path, e))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(Ownership { _lock: lock })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(BrokerError::io(&path, std::io::Error::from(errno))),
    }
}

/// The pid of a broker of `dir` still running without its owner: the pid
/// file names a live `kafka.Kafka` process on this directory's properties.
pub(crate) fn orphan(dir: &Path) -> Option<Pid> {
    let pid: i32 = std::fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let properties = dir.join("server.properties").display().to_string();
    let ours = args.iter().any(|a| a == "kafka.Kafka") && args.contains(&properties);
    ours.then(|| Pid::from_raw(pid))
}

/// Stops an orphaned broker: SIGTERM, then SIGKILL after `grace`.
pub(crate) fn stop_orphan(pid: Pid, grace: Duration) {
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = kill(pid, Signal::SIGKILL);
    while alive(pid) && Instant::now() < deadline + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_at_a_time_and_the_lock_goes_with_its_owner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = claim(dir.path()).expect("claim").expect("free");
        // flock locks belong to the open file: a second open conflicts, in
        // this process as in another.
        assert!(claim(dir.path()).expect("claim").is_none());
        drop(first);
        assert!(claim(dir.path()).expect("claim").is_some());
    }

    #[test]
    fn a_pid_file_naming_another_program_is_no_orphan() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(PID_FILE),
            format!("{}\n", std::process::id()),
        )
        .expect("pid file");
        assert!(orphan(dir.path()).is_none());
        std::fs::write(dir.path().join(PID_FILE), "not a pid").expect("pid file");
        assert!(orphan(dir.path()).is_none());
    }
}
