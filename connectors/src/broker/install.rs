//! Which Apache Kafka the local broker is, and where its Java and jars are.

use std::path::{Path, PathBuf};

use super::BrokerError;

/// The pinned Apache Kafka version: `deploy/kafka/pom.xml` fetches it
/// (`scripts/setup.sh`), docker-compose runs the same image.
pub const KAFKA_VERSION: &str = "4.1.1";

/// Environment variable naming the directory of the Kafka jars (setup and
/// the code both honour it).
pub const LIBS_ENV: &str = "MONETA_KAFKA_LIBS";

/// The oldest Java the broker runs on (Kafka 4 brokers need 17).
pub const MIN_JAVA: u32 = 17;

/// Marker `scripts/setup.sh` writes once every jar is in place.
const COMPLETE_MARKER: &str = ".complete";

/// The directory of the Kafka jars: `$MONETA_KAFKA_LIBS`, else
/// `${XDG_CACHE_HOME:-~/.cache}/moneta/kafka-<version>/libs`, where
/// `scripts/setup.sh` puts them.
pub fn default_libs() -> PathBuf {
    if let Some(dir) = std::env::var_os(LIBS_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache
        .join("moneta")
        .join(format!("kafka-{KAFKA_VERSION}"))
        .join("libs")
}

/// A Java runtime and a complete set of Kafka jars, both checked to exist.
#[derive(Debug, Clone)]
pub struct Install {
    /// The `java` executable.
    pub java: PathBuf,
    /// The directory of the broker's jars.
    pub libs: PathBuf,
}

impl Install {
    /// Finds `java` (a path, a name on `PATH`, or `$JAVA_HOME/bin/java`)
    /// and checks that `libs` holds the pinned Kafka.
    pub fn find(java: &str, libs: &Path) -> Result<Self, BrokerError> {
        let java = find_java(java).ok_or_else(|| BrokerError::JavaMissing(java.to_owned()))?;
        match java_major(&java) {
            Some(major) if major >= MIN_JAVA => {}
            found => {
                return Err(BrokerError::JavaTooOld {
                    java: java.display().to_string(),
                    found: found
                        .map_or_else(|| "an unknown version".into(), |v| format!("Java {v}")),
                });
            }
        }
        let jar = libs.join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
        if !jar.is_file() || !libs.join(COMPLETE_MARKER).is_file() {
            return Err(BrokerError::JarsMissing(libs.to_owned()));
        }
        let libs = libs
            .canonicalize()
            .map_err(|source| BrokerError::io(libs, source))?;
        Ok(Self { java, libs })
    }

    /// The JVM class path: every jar of `libs`.
    pub fn classpath(&self) -> String {
        format!("{}/*", self.libs.display())
    }
}

/// The major version `java -version` reports (`"17.0.15"` is 17, `"1.8.0"` is 8).
fn java_major(java: &Path) -> Option<u32> {
    let output = std::process::Command::new(java)
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

fn find_java(java: &str) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_the_one_the_pom_fetches() {
        let pom = include_str!("../../../deploy/kafka/pom.xml");
        assert!(
            pom.contains(&format!("<kafka.version>{KAFKA_VERSION}</kafka.version>")),
            "deploy/kafka/pom.xml pins another Kafka than KAFKA_VERSION ({KAFKA_VERSION})"
        );
    }

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
    fn missing_jars_name_the_directory_and_the_setup_command() {
        let dir = std::env::temp_dir().join("moneta-no-kafka-here");
        let error = Install::find("java", &dir).expect_err("no jars there");
        let text = error.to_string();
        assert!(text.contains("moneta-no-kafka-here"), "{text}");
        assert!(text.contains("scripts/setup.sh"), "{text}");
    }

    #[test]
    fn a_missing_java_is_named_with_the_fix() {
        let error = Install::find("no-such-java-binary", Path::new("/")).expect_err("no java");
        let text = error.to_string();
        assert!(text.contains("no-such-java-binary"), "{text}");
        assert!(text.contains("broker.java"), "{text}");
    }
}
