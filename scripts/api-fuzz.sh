#!/usr/bin/env bash
# API robustness: Schemathesis (property-based, from the OpenAPI documents)
# against a running `moneta up` on the embedded broker: the admin API with
# its token, the ingest edge unsigned and signed as the demo partners
# (scripts/api-fuzz/hooks.py signs each request, RFC 9421 + ed25519).
# Fails on any 5xx, any error that is not application/problem+json, or any
# response the documents do not describe.
#
#   scripts/api-fuzz.sh [MAX_EXAMPLES]      (default 40 per operation)
#   MONETA_BIN=path   the moneta binary (default: cargo build, debug)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PATH="$HOME/.cargo/bin:$PATH"
examples="${1:-40}"

venv="${SCHEMATHESIS_VENV:-$HOME/.cache/moneta/schemathesis-venv}"
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
    echo "api-fuzz: installing schemathesis and cryptography into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==4.32.5" cryptography
fi

if [[ -z "${MONETA_BIN:-}" ]]; then
    cargo build --quiet -p moneta-cli --bin moneta
    MONETA_BIN="$root/target/debug/moneta"
fi

work="$(mktemp -d)"
moneta_pid=""
cleanup() {
    if [[ -n "$moneta_pid" ]]; then
        kill "$moneta_pid" 2>/dev/null || true
        wait "$moneta_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker="127.0.0.1:$(port)"
controller="127.0.0.1:$(port)"
ingest="127.0.0.1:$(port)"
admin="127.0.0.1:$(port)"
registry="127.0.0.1:$(port)"
metrics="127.0.0.1:$(port)"
token="api-fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
cat >"$work/moneta.toml" <<TOML
[kafka]
bootstrap_servers = "$broker"
[broker]
embedded = true
listen = "$broker"
controller_listen = "$controller"
data_dir = "$work/broker"
[state]
dir = "$work/state"
[admin]
listen = "$admin"
[ingest]
listen = "$ingest"
[schema_registry]
listen = "$registry"
[metrics]
listen = "$metrics"
[signing]
key_file = "$work/signing.key"
TOML

export MONETA_ADMIN__TOKEN="$token"
RUST_LOG=warn "$MONETA_BIN" --config "$work/moneta.toml" up >"$work/moneta.log" 2>&1 &
moneta_pid=$!
healthy() { python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" 2>/dev/null; }
for _ in $(seq 1 600); do
    if healthy "http://$ingest/healthz"; then break; fi
    if ! kill -0 "$moneta_pid" 2>/dev/null; then
        tail -n 40 "$work/moneta.log"
        echo "api-fuzz: moneta up exited" >&2
        exit 1
    fi
    sleep 0.1
done
healthy "http://$ingest/healthz" || { tail -n 40 "$work/moneta.log"; echo "api-fuzz: the edge is not up" >&2; exit 1; }
"$MONETA_BIN" --config "$work/moneta.toml" seed-demo >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log"; exit 1; }

# st NAME SCHEMATHESIS-ARGS...: one run; its response statuses go to $work/NAME.stats.
st() {
    local name="$1"
    shift
    echo "api-fuzz: $name"
    # From $work: Schemathesis keeps its cache in ./.schemathesis.
    (cd "$work" && MONETA_API_FUZZ_STATS="$work/$name.stats" SCHEMATHESIS_HOOKS=hooks \
        PYTHONPATH="$root/scripts/api-fuzz" \
        "$venv/bin/schemathesis" run "$@" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,problem_json \
        --max-examples "$examples" --seed 9421 --workers 1 \
        --phases examples,coverage,fuzzing --suppress-health-check all \
        --request-timeout 20 --warnings off)
    local rc=$?
    echo "api-fuzz: $name: responses (count, status, code):"
    sed 's/^/    /' "$work/$name.stats" 2>/dev/null || true
    return "$rc"
}

status=0
st ingest-unsigned "$root/ingest/openapi.json" --url "http://$ingest" || status=1
# The demo partners' seeds (moneta_topology::demo): ACME 0x11…, GLOBE 0x22….
acme="key-acme-1=mo-acme=$(printf '11%.0s' {1..32})"
globe="key-globe-1=pub-globe=$(printf '22%.0s' {1..32})"
MONETA_SIGN_KEYS="$acme,$globe" \
    st ingest-signed "$root/ingest/openapi.json" --url "http://$ingest" || status=1
# The signed run must get past authentication: accepted submissions, and
# answers only an authenticated caller gets.
if ! grep -qE '^[0-9]+ 202$' "$work/ingest-signed.stats" \
    || ! grep -qE '^[0-9]+ (404 event_not_found|422 submitter_mismatch|422 domain_mismatch)$' "$work/ingest-signed.stats"; then
    echo "api-fuzz: the signed run never got past authentication" >&2
    status=1
fi
# The admin runs last: they revoke keys and suspend organizations at random.
st admin "$root/admin/openapi.json" --url "http://$admin" -H "Authorization: Bearer $token" || status=1
st admin-no-token "$root/admin/openapi.json" --url "http://$admin" --max-time 60 || status=1

if grep -q "$token" "$work/moneta.log"; then
    echo "api-fuzz: the admin token appears in the log" >&2
    status=1
fi
if ((status)); then
    tail -n 40 "$work/moneta.log"
    echo "api-fuzz: FAILED" >&2
else
    echo "api-fuzz: ok (no 5xx, every error problem+json, every response as documented)"
fi
exit "$status"
