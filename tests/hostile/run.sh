#!/usr/bin/env bash
# Hostile-input tests of `dmarcd ingest` (SPECS.md section 6).
#
#   tests/hostile/run.sh BINARY WORK_DIR [CASE...]
#
# Generates every attack input inside WORK_DIR (emptied first) and checks
# that each is rejected with a one-line reason, in bounded time and memory,
# without touching anything outside WORK_DIR.  See hostile.py for details;
# HOSTILE_QUICK=1 skips the two slow inputs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/hostile.py" "$@"
