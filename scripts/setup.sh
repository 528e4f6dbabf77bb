#!/usr/bin/env bash
# Installs what Moneta needs and is missing: a C toolchain (librdkafka is
# built from source by rdkafka-sys), Python packages the tests use, and the
# pinned local broker, tansu 0.6.0 (about 10 minutes to build, once).
#
#   scripts/setup.sh          everything
#   scripts/setup.sh quick    all but tansu (seconds; what a build needs)
#   scripts/setup.sh tansu    only tansu (what running and testing need)
set -euo pipefail
part="${1:-all}"
case "$part" in
all | quick | tansu) ;;
*)
    echo "setup: unknown part '$part' (all, quick or tansu)" >&2
    exit 2
    ;;
esac
tansu_bin="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"

if [[ "$part" != tansu ]]; then
    missing=()
    command -v cc >/dev/null 2>&1 || missing+=(gcc)
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v perl >/dev/null 2>&1 || missing+=(perl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    if ((${#missing[@]})); then
        echo "setup: installing ${missing[*]} with apt-get"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
    # The official Standard Webhooks library: tests verify our webhook
    # signatures with it (an implementation the sender does not share).
    if ! python3 -c "import standardwebhooks" 2>/dev/null; then
        echo "setup: installing the standardwebhooks Python package (tests only)"
        python3 -m pip install --quiet --user standardwebhooks 2>/dev/null \
            || python3 -m pip install --quiet --user --break-system-packages standardwebhooks
    fi
    # Python venvs: scripts/api-fuzz.sh installs Schemathesis into one.
    if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
        echo "setup: installing python3-venv with apt-get"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
    fi
fi

if [[ "$part" != quick ]]; then
    if ! "$tansu_bin" --version 2>/dev/null | grep -q '0\.6\.0'; then
        echo "setup: installing tansu 0.6.0 (one-time build, ~10 minutes on 2 cores)"
        cargo install tansu --version 0.6.0 --locked --features libsql,dynostore
    fi
    echo "setup: ok ($("$tansu_bin" --version 2>/dev/null | head -n 1))"
else
    echo "setup: ok (all but tansu)"
fi
