//! CPU time and memory of a process, from `/proc/<pid>/stat` and
//! `/proc/<pid>/status` (Linux).

use serde::Serialize;

/// The name the broker's JVM goes by in process tables.
pub const BROKER: &str = "Kafka";

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// User + system CPU time so far, seconds.
    pub cpu_seconds: f64,
    /// Resident set size now, MiB.
    pub rss_mib: f64,
    /// Peak resident set size so far (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
}

/// Reads process `pid`; `None` if it is gone or `/proc` is unreadable.
pub fn read(pid: u32) -> Option<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Reading {
        cpu_seconds: cpu_seconds(&stat)?,
        rss_mib: kib(&status, "VmRSS")? / 1024.0,
        peak_rss_mib: kib(&status, "VmHWM").unwrap_or_default() / 1024.0,
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`).
fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds. The command
/// name (field 2) may hold spaces, so fields are counted after its `)`.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are at 11, 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

fn kib(status: &str, name: &str) -> Option<f64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// A process's CPU and memory over one interval.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Which process: `moneta up`, [`BROKER`], `load generator`.
    pub process: String,
    /// Its pid.
    pub pid: u32,
    /// Average CPU over the interval, % of one core.
    pub cpu_percent: f64,
    /// CPU seconds used in the interval.
    pub cpu_seconds: f64,
    /// RSS at the end of the interval, MiB.
    pub rss_mib: f64,
    /// Peak RSS since the process started, MiB.
    pub peak_rss_mib: f64,
}

/// A process being watched: name, pid and the reading an interval starts from.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Display name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    start: Option<Reading>,
}

impl Watched {
    /// Starts watching `pid` as `name`.
    pub fn new(name: &str, pid: u32) -> Self {
        Self {
            name: name.to_owned(),
            pid,
            start: read(pid),
        }
    }

    /// Usage since the last call (or since [`Watched::new`]) over `seconds`;
    /// the next interval starts now.
    pub fn interval(&mut self, seconds: f64) -> Usage {
        let now = read(self.pid);
        let (start, end) = (self.start.unwrap_or_default(), now.unwrap_or_default());
        self.start = now;
        let cpu = (end.cpu_seconds - start.cpu_seconds).max(0.0);
        Usage {
            process: self.name.clone(),
            pid: self.pid,
            cpu_percent: if seconds > 0.0 {
                100.0 * cpu / seconds
            } else {
                0.0
            },
            cpu_seconds: cpu,
            rss_mib: end.rss_mib,
            peak_rss_mib: end.peak_rss_mib,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "1234 (my proc) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0";
        let secs = cpu_seconds(stat).unwrap_or_default();
        assert!((secs - 300.0 / ticks_per_second()).abs() < 1e-9);
    }

    #[test]
    fn reads_this_process() {
        let reading = read(std::process::id());
        assert!(reading.is_some_and(|r| r.rss_mib > 0.0));
    }
}
