#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 20; the
# longer run in docs/security.md uses 600), one after another, and prints
# each target's executions, coverage and corpus size. Fails on the first
# crash, leak, timeout or out-of-memory input (saved in fuzz/artifacts/).
#
# Stable Rust: cargo-fuzz builds with `--sanitizer none` (no -Z flags);
# `--debug-assertions` keeps integer-overflow and debug checks on.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh build   only install cargo-fuzz and build the targets
#                   (CI builds them at low priority while the tests run)
#   FUZZ_WORK=dir   keep the grown corpora in dir/<target> (default: a temp
#                   dir, so the checked-in seeds in fuzz/corpus/ stay as they are)
#   FUZZ_BUILD=quick  build at opt-level 1: a cold build takes minutes less
#                   and each input runs slower; CI's short run uses it
#                   (default: release, opt-level 3, for the long runs)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds="${1:-20}"
shift || true
build_only=false
[[ "$seconds" == build ]] && build_only=true
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz 0.13.2"
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

cd fuzz
flags=(--sanitizer none --debug-assertions)
case "${FUZZ_BUILD:-release}" in
release) ;;
quick) export CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0 ;;
*)
    echo "fuzz: FUZZ_BUILD must be release or quick" >&2
    exit 2
    ;;
esac
cargo fuzz build "${flags[@]}"
if $build_only; then
    echo "fuzz: targets built"
    exit 0
fi
if (($#)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
work="${FUZZ_WORK:-}"
if [[ -z "$work" ]]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

summary=()
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "corpus/$target"
    log="$work/$target.log"
    echo "fuzz: $target for ${seconds}s"
    # The first corpus directory receives new inputs; the seeds are read only.
    if ! cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $target FAILED (input saved under fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    cov="$(sed -E -n 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/cov \1, ft \2, corpus \3/p' <<<"$done_line")"
    rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)"
    summary+=("$target: ${seconds}s, ${execs:-?} executions, ${cov:-?}, peak RSS ${rss:-?} MB, no crash")
done
printf 'fuzz: %s\n' "${summary[@]}"
