//! Which Apache Kafka the local broker is, and where its Java and jars are.

use std::path::{Path, PathBuf};

use super::BrokerError;
use crate::jvm::{self, JavaProblem};

/// The pinned Apache Kafka version: `deploy/kafka/pom.xml` fetches it
/// (`scripts/setup.sh`), docker-compose runs the same image.
pub const KAFKA_VERSION: &str = "4.1.1";

/// Environment variable naming the directory of the Kafka jars (setup and
/// the code both honour it).
pub const LIBS_ENV: &str = "MONETA_KAFKA_LIBS";

/// The directory of the Kafka jars: `$MONETA_KAFKA_LIBS`, else
/// `${XDG_CACHE_HOME:-~/.cache}/moneta/kafka-<version>/libs`, where
/// `scripts/setup.sh` puts them.
pub fn default_libs() -> PathBuf {
    jvm::jars_dir(LIBS_ENV, "kafka", KAFKA_VERSION)
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
        let java = jvm::find_java(java).map_err(|problem| match problem {
            JavaProblem::Missing(java) => BrokerError::JavaMissing(java),
            JavaProblem::TooOld { java, found } => BrokerError::JavaTooOld { java, found },
        })?;
        if !jvm::jars_complete(libs, &format!("kafka_2.13-{KAFKA_VERSION}.jar")) {
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
