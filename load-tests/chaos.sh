#!/usr/bin/env bash
# The full chaos run: 2,000 contracts through the whole topology,
# exactly_once on a three-broker Kafka cluster (replication factor 3,
# min.insync.replicas=2), while `moneta up` is SIGKILLed and restarted, the
# leader of a partition is SIGKILLed and brought back, and the webhook
# receiver fails a share of its requests; then every total is checked.
# CI runs the short form (cli/tests/chaos.rs: 80 contracts, one broker).
#
# Output goes to the terminal and to load-tests/results/chaos-<UTC date>.txt,
# headed by the machine, the commit and the date (a second run on the same
# day overwrites it). Needs Java and the Kafka jars (`scripts/setup.sh kafka`).
#
#   load-tests/chaos.sh
#   MONETA_CHAOS_CONTRACTS=500 MONETA_CHAOS_SEED=7 load-tests/chaos.sh
#
# MONETA_CHAOS_CONTRACTS (default 2000), MONETA_CHAOS_BROKERS (default 3) and
# MONETA_CHAOS_SEED (the test's default) are passed on to the test.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

export MONETA_CHAOS_CONTRACTS="${MONETA_CHAOS_CONTRACTS:-2000}"
export MONETA_CHAOS_BROKERS="${MONETA_CHAOS_BROKERS:-3}"

results=load-tests/results
mkdir -p "$results"
out="$results/chaos-$(date -u +%Y-%m-%d).txt"

# The machine as load-tests/src/machine.rs records it.
cpus=$(nproc)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
memory_mib=$(awk '/^MemTotal:/ { print int($2 / 1024); exit }' /proc/meminfo 2>/dev/null || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (dirty)"
fi
java_version=$(java -version 2>&1 | head -n 1 || echo "java not found")
command="MONETA_CHAOS_CONTRACTS=$MONETA_CHAOS_CONTRACTS MONETA_CHAOS_BROKERS=$MONETA_CHAOS_BROKERS"
if [ -n "${MONETA_CHAOS_SEED:-}" ]; then
    command="$command MONETA_CHAOS_SEED=$MONETA_CHAOS_SEED"
fi
command="$command cargo test --release -p moneta-cli --test chaos -- --nocapture"

{
    echo "# chaos (full form), started $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "commit:        $commit"
    echo "machine:       $cpus CPUs, ${cpu_model:-unknown} · ${memory_mib:-0} MiB RAM"
    echo "kernel:        $(uname -sr)"
    echo "java:          $java_version"
    echo "load average:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (1, 5, 15 min, at start)"
    echo "command:       $command"
    echo
} | tee "$out"

started=$(date +%s)
set +e
cargo test --release -p moneta-cli --test chaos -- --nocapture 2>&1 | tee -a "$out"
status=${PIPESTATUS[0]}
set -e

{
    echo
    echo "finished $(date -u +%Y-%m-%dT%H:%M:%SZ) after $(($(date +%s) - started)) s: exit status $status"
} | tee -a "$out"
echo "wrote $out" >&2
exit "$status"
