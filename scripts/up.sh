#!/usr/bin/env bash
# Installs what is missing (Java, Maven, the jars of the pinned Apache Kafka
# and Apache Cassandra), builds Moneta, and brings the topology up on its
# embedded Kafka broker, exactly_once: `moneta up` with ./moneta.toml (extra
# arguments go to it: `scripts/up.sh --cql` keeps the state in CQL on a local
# Cassandra). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p moneta-cli
exec target/release/moneta --config moneta.toml up "$@"
