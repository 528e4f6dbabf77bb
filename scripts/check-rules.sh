#!/usr/bin/env bash
# Checks Moneta's Prometheus rules (deploy/prometheus/rules.yml) with
# promtool (Debian's `prometheus` package; scripts/setup.sh installs it):
# the rules parse, and their unit tests on synthetic series pass.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
    echo "check-rules: promtool is missing: run scripts/setup.sh (it installs Debian's prometheus package)" >&2
    exit 1
fi
promtool check rules deploy/prometheus/rules.yml
promtool test rules deploy/prometheus/rules.test.yml
