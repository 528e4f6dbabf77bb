#!/usr/bin/env bash
# Installs what is missing, builds Moneta, and brings the topology up on the
# embedded broker (tansu): `moneta up` with ./moneta.toml. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p moneta-topology
exec target/release/moneta --config moneta.toml up
