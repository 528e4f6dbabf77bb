//! Where and when a benchmark ran: the machine, the commit and the UTC date,
//! so results from different runs can be told apart and compared.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available (`nproc`).
    pub cpus: usize,
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Total memory in MiB from `/proc/meminfo`.
    pub memory_mib: u64,
}

impl Machine {
    /// Describes the current machine; unknown fields are left empty or zero.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            memory_mib: field(&meminfo, "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
        }
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

/// `/proc/loadavg`'s 1-, 5- and 15-minute load averages: how busy the
/// machine was with other work when a run started.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The commit under test.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    /// `git rev-parse --short HEAD`, or `unknown` outside a checkout.
    pub commit: String,
    /// Whether the working tree had uncommitted changes.
    pub dirty: bool,
}

impl Commit {
    /// Reads the current commit with `git`.
    pub fn detect() -> Self {
        let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        Self { commit, dirty }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A UTC date and time, computed from [`SystemTime`] without a date library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year, e.g. 2025.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Seconds since midnight.
    pub seconds_of_day: u64,
}

impl UtcTime {
    /// The current UTC time.
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::from_unix(secs)
    }

    /// The UTC time `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: u64) -> Self {
        // Howard Hinnant's `civil_from_days`.
        let days = (secs / 86_400) as i64 + 719_468;
        let era = days.div_euclid(146_097);
        let doe = days.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            seconds_of_day: secs % 86_400,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(&self) -> String {
        let s = self.seconds_of_day;
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// The context line a result opens with: commit, machine and the load
/// average the run started under.
pub fn context(git: &Commit, machine: &Machine, load_average_at_start: &str) -> String {
    format!(
        "Commit `{}`{} · {} CPUs, {} · {} MiB RAM · load average at start {load_average_at_start}",
        git.commit,
        if git.dirty { " (dirty)" } else { "" },
        machine.cpus,
        machine.cpu_model,
        machine.memory_mib,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(UtcTime::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UtcTime::from_unix(951_782_400).date(),
            "2000-02-29",
            "leap day"
        );
        assert_eq!(
            UtcTime::from_unix(1_735_689_599).rfc3339(),
            "2024-12-31T23:59:59Z"
        );
    }

    #[test]
    fn reads_proc_fields() {
        let text = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n";
        assert_eq!(
            field(text, "model name").as_deref(),
            Some("Some CPU @ 2.0GHz")
        );
        assert_eq!(field(text, "missing"), None);
    }
}
