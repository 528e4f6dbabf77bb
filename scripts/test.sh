#!/usr/bin/env bash
# Runs every check and test, exactly as CI does (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Interop tests must run, not skip, in CI.
export MONETA_REQUIRE_INTEROP=1
scripts/check-deploy.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Every fuzz target for 10 s (the longer run: docs/security.md); fuzz/ is
# its own workspace and target dir: ~10 min to build cold, seconds warm.
scripts/fuzz.sh 10
# Schemathesis against a running edge and admin API (~2.5 min).
scripts/api-fuzz.sh 20
