#!/usr/bin/env python3
"""schemathesis (PyPI, pinned in scripts/setup.sh's venv) against the OpenAPI document that
`musegen serve` serves at /api/openapi.json: generated requests, valid and invalid, on every
operation, with every check (no 5xx, status codes, content types, headers and bodies that
match the document, invalid data refused, valid data accepted). The server runs on a free
loopback port over a tiny run made with the musegen binary (serve_support.py).

  schemathesis_check.py --musegen EXE --workdir DIR [--max-examples N]

Bounded: N examples per operation (default 20) and --max-time, so that it ends in about a
minute on 2 cores. Exit codes: 0 passed, 1 failed (schemathesis' report printed), 77
skipped (schemathesis is not installed: no network when setup.sh ran).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

from serve_support import Failed, check, make_tiny_run, start_server, stop_server

SKIP = 77


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--musegen", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--max-time", type=int, default=40)
    args = parser.parse_args()

    st = os.path.join(os.path.dirname(sys.executable), "st")
    if not os.path.isfile(st):
        st = shutil.which("st") or ""
    if not st:
        print("skipped: schemathesis is not installed next to " + sys.executable +
              " (scripts/setup.sh installs it into the test venv from PyPI; without network "
              "access it cannot)")
        return SKIP

    start = time.monotonic()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    runs = make_tiny_run(args.musegen, args.workdir)
    # A short queue, so that the generations schemathesis starts wait little (a full queue
    # answers 429, which the document declares).
    server, url = start_server(args.musegen, runs, os.path.join(args.workdir, "pieces"),
                               "--queue", "4")
    print("server: " + url)
    try:
        config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")
        command = [st, "--config-file", config, "run", url + "api/openapi.json", "--checks", "all",
                   "--max-examples", str(args.max_examples), "--max-time", str(args.max_time),
                   "--seed", "1", "--workers", "1", "--request-timeout", "20",
                   "--report", "junit,har", "--report-dir", os.path.join(args.workdir, "report"),
                   "--output-truncate", "true"]
        print(" ".join(command), flush=True)
        result = subprocess.run(command, env=dict(os.environ, NO_COLOR="1"))
        check(result.returncode == 0, f"schemathesis found failures (exit {result.returncode}; "
              "the report above names each request and what was wrong with the response)")
    finally:
        code = stop_server(server)
    check(code == 0, f"expected the server to exit with 0 after SIGINT, found {code}")
    print(f"passed in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print("FAILED: " + str(e))
        sys.exit(1)
