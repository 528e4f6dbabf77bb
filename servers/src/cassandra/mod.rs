//! Apache Cassandra on this machine: the pinned CQL server run from its
//! jars, in place of ScyllaDB (same native protocol, same `scylla` driver),
//! for the tests of the CQL state backend and for `moneta up` with a local
//! CQL node.
//!
//! - this module: the pinned version, where Java and the jars are, errors;
//! - [`node`]: one node process: its settings, start, stop;
//! - [`local`]: the node `moneta up --cql` owns.

mod local;
mod node;

use std::path::{Path, PathBuf};

pub use local::LocalCassandra;
pub use node::{CassandraNode, CassandraSpec, accepts};

use crate::jvm::{self, JavaProblem, MIN_JAVA};

/// The pinned Apache Cassandra version: `deploy/cassandra/pom.xml` fetches it.
pub const CASSANDRA_VERSION: &str = "5.0.8";

/// Environment variable naming the directory of the Cassandra jars (setup
/// and the code both honour it).
pub const LIBS_ENV: &str = "MONETA_CASSANDRA_LIBS";

/// The directory of the Cassandra jars: `$MONETA_CASSANDRA_LIBS`, else
/// `${XDG_CACHE_HOME:-~/.cache}/moneta/cassandra-<version>/libs`.
pub fn default_libs() -> PathBuf {
    jvm::jars_dir(LIBS_ENV, "cassandra", CASSANDRA_VERSION)
}

/// A Java runtime and a complete set of Cassandra jars, both checked to exist.
#[derive(Debug, Clone)]
pub struct CassandraInstall {
    /// The `java` executable.
    pub java: PathBuf,
    /// The directory of the server's jars.
    pub libs: PathBuf,
}

impl CassandraInstall {
    /// Finds `java` and checks that `libs` holds the pinned Cassandra.
    pub fn find(java: &str, libs: &Path) -> Result<Self, CassandraError> {
        let java = jvm::find_java(java).map_err(CassandraError::Java)?;
        if !jvm::jars_complete(libs, &format!("cassandra-all-{CASSANDRA_VERSION}.jar")) {
            return Err(CassandraError::JarsMissing(libs.to_owned()));
        }
        let libs = libs
            .canonicalize()
            .map_err(|source| CassandraError::io(libs, source))?;
        Ok(Self { java, libs })
    }
}

/// Errors of a local Cassandra node, each saying how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CassandraError {
    /// No usable Java runtime.
    #[error("{}", java_message(.0))]
    Java(JavaProblem),
    /// The Cassandra jars are not where they should be.
    #[error(
        "Apache Cassandra {CASSANDRA_VERSION} is not installed in {0}: run `scripts/setup.sh cassandra` \
         (it fetches the jars with Maven from deploy/cassandra/pom.xml), or point \
         MONETA_CASSANDRA_LIBS at a directory of its jars"
    )]
    JarsMissing(PathBuf),
    /// A file or process operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The node exited while starting.
    #[error("Cassandra exited while starting ({status}); its log ({log}) ends with:\n{tail}")]
    Exited {
        /// Exit status.
        status: String,
        /// The log file.
        log: String,
        /// The log's last lines.
        tail: String,
    },
    /// The node did not accept CQL clients in time.
    #[error(
        "Cassandra on {listen} did not accept CQL clients within {seconds} s; its log ({log}) ends with:\n{tail}"
    )]
    NotReady {
        /// The CQL address.
        listen: String,
        /// The limit in seconds.
        seconds: u64,
        /// The log file.
        log: String,
        /// The log's last lines.
        tail: String,
    },
}

fn java_message(problem: &JavaProblem) -> String {
    match problem {
        JavaProblem::Missing(java) => format!(
            "Java not found (`{java}`): Cassandra needs Java {MIN_JAVA}; \
             `scripts/setup.sh cassandra` installs it (apt-get install openjdk-17-jre-headless)"
        ),
        JavaProblem::TooOld { java, found } => format!(
            "{java} is {found}; Cassandra needs Java {MIN_JAVA}: \
             `scripts/setup.sh cassandra` installs it (apt-get install openjdk-17-jre-headless)"
        ),
    }
}

impl CassandraError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_the_one_the_pom_fetches() {
        let pom = include_str!("../../../deploy/cassandra/pom.xml");
        assert!(
            pom.contains(&format!(
                "<cassandra.version>{CASSANDRA_VERSION}</cassandra.version>"
            )),
            "deploy/cassandra/pom.xml pins another Cassandra than CASSANDRA_VERSION"
        );
    }

    #[test]
    fn missing_jars_name_the_directory_and_the_setup_command() {
        let dir = std::env::temp_dir().join("moneta-no-cassandra-here");
        let error = CassandraInstall::find("java", &dir).expect_err("no jars there");
        let text = error.to_string();
        assert!(text.contains("moneta-no-cassandra-here"), "{text}");
        assert!(text.contains("scripts/setup.sh cassandra"), "{text}");
    }
}
