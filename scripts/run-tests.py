#!/usr/bin/env python3
"""Runs the workspace's test binaries, several at a time.

`cargo test --workspace` runs one test binary after another. Most of ours
spend their time waiting on brokers, Cassandra and timeouts, so CI runs
`--jobs` binaries side by side (2 by default, MONETA_TEST_JOBS), the
longest first. Each binary runs as cargo would run it: from its package's
directory, with CARGO_MANIFEST_DIR set, its output printed whole when it
ends. Every binary runs even when one fails; the exit code says whether all
passed. The doc tests run last through cargo.

    scripts/run-tests.py [--jobs N] [-- <arguments for every test binary>]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

# Known to take the longest (seconds in a CI run, 2026-12-05); they start
# first so the short ones fill in beside them.
LONGEST = {
    "exactly_once": 120,
    "scaled_out": 80,
    "chaos": 75,
    "cql_state": 67,
    "settlement_sigkill": 49,
    "exactly_once_mock": 40,
    "sigkill": 32,
    "embedded_broker": 28,
    "replay": 26,
    "state_rebuild": 25,
    "signing_path": 23,
    "local_broker": 23,
    "webhooks": 21,
}


def test_binaries():
    """The test executables cargo builds for the workspace, built if needed."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    binaries = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        target = msg["target"]
        binaries.append(
            {
                "name": target["name"],
                "kind": target["kind"][0],
                "manifest": msg["manifest_path"],
                "executable": msg["executable"],
            }
        )
    return binaries


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MONETA_TEST_JOBS", "2")))
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()

    binaries = test_binaries()
    binaries.sort(key=lambda b: -LONGEST.get(b["name"], 0) if b["kind"] == "test" else 0)
    print(f"run-tests: {len(binaries)} test binaries, {options.jobs} at a time", flush=True)

    lock = threading.Lock()
    queue = list(binaries)
    failed = []
    started = time.monotonic()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                binary = queue.pop(0)
            package_dir = os.path.dirname(binary["manifest"])
            env = dict(os.environ, CARGO_MANIFEST_DIR=package_dir)
            begin = time.monotonic()
            result = subprocess.run(
                [binary["executable"], *options.args],
                cwd=package_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            took = time.monotonic() - begin
            with lock:
                label = os.path.relpath(binary["executable"])
                verdict = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
                print(
                    f"\n     Running {binary['name']} ({label}) at {begin - started:.0f}s: "
                    f"{verdict} in {took:.1f}s",
                    flush=True,
                )
                sys.stdout.write(result.stdout)
                sys.stdout.flush()
                if result.returncode != 0:
                    failed.append(binary["name"])

    threads = [threading.Thread(target=worker) for _ in range(max(1, options.jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print("\n     Doc-tests", flush=True)
    doc = subprocess.run(["cargo", "test", "--workspace", "--doc"])
    if doc.returncode != 0:
        failed.append("doc tests")

    print(f"\nrun-tests: {len(binaries)} binaries in {time.monotonic() - started:.0f}s", flush=True)
    if failed:
        print("run-tests: failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
