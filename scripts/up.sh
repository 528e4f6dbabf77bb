#!/usr/bin/env bash
# Installs what is missing (Java, Maven, the pinned Apache Kafka's jars),
# builds Moneta, and brings the topology up on its embedded Kafka broker,
# exactly_once: `moneta up` with ./moneta.toml. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p moneta-topology
exec target/release/moneta --config moneta.toml up
