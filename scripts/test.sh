#!/usr/bin/env bash
# Runs every check and test, exactly as CI does (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Interop tests must run, not skip, in CI.
export MONETA_REQUIRE_INTEROP=1

start=$SECONDS
step() { printf '\n== test: %s (at %ds)\n' "$1" $((SECONDS - start)); }

step "setup"
scripts/setup.sh quick
# tansu's one-time build (~10 min on 2 cores) runs beside the checks and the
# test build, which do not need the broker; the tests wait for it.
tansu_log="$(mktemp)"
scripts/setup.sh tansu >"$tansu_log" 2>&1 &
tansu_pid=$!
trap 'kill "$tansu_pid" 2>/dev/null || true; rm -f "$tansu_log"' EXIT

step "deploy files"
scripts/check-deploy.sh
step "fmt"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "build tests"
cargo test --workspace --no-run

step "wait for tansu"
if ! wait "$tansu_pid"; then
    cat "$tansu_log"
    echo "test: installing tansu failed" >&2
    exit 1
fi
cat "$tansu_log"

step "tests"
cargo test --workspace
# Every fuzz target for 10 s (the longer run: docs/security.md); fuzz/ is
# its own workspace and target dir. FUZZ_BUILD=quick (opt-level 1) builds
# it cold in less time than the release profile the long runs use.
step "fuzz"
FUZZ_BUILD=quick scripts/fuzz.sh 10
# Schemathesis against a running edge and admin API (~2.5 min).
step "api fuzz"
scripts/api-fuzz.sh 20
step "done"
