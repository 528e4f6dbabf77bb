#!/usr/bin/env bash
# Runs every check and test, exactly as CI does (.ci/run calls this script).
# The tests run against real Apache Kafka: one broker for the whole run,
# started here with `moneta broker start` and named in MONETA_TEST_KAFKA;
# tests that kill or restart a broker start their own.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Interop tests must run, not skip, in CI.
export MONETA_REQUIRE_INTEROP=1
# So must the CQL backend's tests (against Apache Cassandra from the testkit).
export MONETA_REQUIRE_CQL=1

start=$SECONDS
step() { printf '\n== test: %s (at %ds)\n' "$1" $((SECONDS - start)); }

step "setup"
scripts/setup.sh quick
scripts/setup.sh kafka
scripts/setup.sh cassandra
# Chromium for the console's browser tests installs while the build runs
# (apt is mostly download and unpacking); the tests wait for it.
browser_log="$(mktemp)"
scripts/setup.sh browser >"$browser_log" 2>&1 &
browser_setup=$!

step "deploy files"
scripts/check-deploy.sh
step "alert rules"
scripts/check-rules.sh
step "fmt"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "build tests"
cargo test --workspace --no-run
# The fuzz targets (fuzz/ is its own workspace and target dir; FUZZ_BUILD=quick:
# opt-level 1) build at the lowest CPU priority while the tests run: the
# tests mostly wait on brokers and timeouts, and keep the CPU they need.
fuzz_log="$(mktemp)"
FUZZ_BUILD=quick nice -n 19 scripts/fuzz.sh build >"$fuzz_log" 2>&1 &
fuzz_build=$!

step "browser"
if ! wait "$browser_setup"; then
    cat "$browser_log"
    echo "test: installing Chromium failed" >&2
    exit 1
fi
browser_setup=""
tail -n 1 "$browser_log"

step "kafka"
kafka_dir="$(mktemp -d)"
kafka_pid=""
stop_kafka() {
    if [[ -n "$kafka_pid" ]]; then
        kill "$kafka_pid" 2>/dev/null || true
        wait "$kafka_pid" 2>/dev/null || true
    fi
    kafka_pid=""
    rm -rf "$kafka_dir"
}
cleanup() {
    [[ -z "$fuzz_build" ]] || kill "$fuzz_build" 2>/dev/null || true
    stop_kafka
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen="127.0.0.1:$(port)"
# Test consumers use 3 s sessions (moneta_testkit::TEST_BROKER_SETTINGS).
cat >"$kafka_dir/moneta.toml" <<TOML
[kafka]
bootstrap_servers = "$listen"
[broker]
listen = "$listen"
controller_listen = "127.0.0.1:$(port)"
data_dir = "$kafka_dir/broker"
[broker.settings]
"group.min.session.timeout.ms" = "1000"
TOML
target/debug/moneta --config "$kafka_dir/moneta.toml" broker start >"$kafka_dir/broker.out" 2>&1 &
kafka_pid=$!
for _ in $(seq 1 1200); do
    grep -q '^ready ' "$kafka_dir/broker.out" && break
    if ! kill -0 "$kafka_pid" 2>/dev/null; then
        cat "$kafka_dir/broker.out"
        echo "test: the test run's Kafka broker did not start" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q '^ready ' "$kafka_dir/broker.out" || {
    cat "$kafka_dir/broker.out"
    echo "test: the test run's Kafka broker was not ready within 120 s" >&2
    exit 1
}
cat "$kafka_dir/broker.out"
export MONETA_TEST_KAFKA="$listen"

step "tests"
# Two test binaries at a time, the longest first (scripts/run-tests.py).
scripts/run-tests.py
stop_kafka
# Every fuzz target for 5 s (the longer run: docs/security.md), once
# their build is done.
step "fuzz"
if ! wait "$fuzz_build"; then
    cat "$fuzz_log"
    echo "test: building the fuzz targets failed" >&2
    exit 1
fi
fuzz_build=""
FUZZ_BUILD=quick scripts/fuzz.sh 5
# Schemathesis against a running edge and admin API, `moneta up` with its
# embedded broker (~2.5 min).
step "api fuzz"
scripts/api-fuzz.sh 20
step "done"
