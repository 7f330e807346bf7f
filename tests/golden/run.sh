#!/usr/bin/env bash
# Golden tests of `dmarcd ingest --json`.
#
#   tests/golden/run.sh [--update] BINARY GOLDEN_DIR WORK_DIR [CASE...]
#
# Cases live in GOLDEN_DIR/cases and are made by make_fixtures.py (which
# also computes the expected output from the fixtures' content); the
# comparison is done by golden.py.  Only WORK_DIR is written to (it is
# emptied first).  --update rewrites the expected files from the binary:
# review the diff against make_fixtures.py before keeping it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/golden.py" "$@"
