#!/bin/bash
# run.sh BINARY WORK_DIR - integration tests of `dmarcd serve` (SMTP, LMTP,
# STARTTLS, limits, Postfix relaying, crash safety) with pytest.
#
# WORK_DIR is emptied first; pytest's temporary folders live inside it.
# Exit status is pytest's.  A test that needs a tool which is missing
# (postfix, swaks, openssl; `make test` installs them) is skipped on its
# own, with its reason in the summary (-rs); the others still run.
# Extra arguments go to pytest (e.g. -k smuggl, -x, -v).
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
export PYTHONDONTWRITEBYTECODE=1
export DMARCD_BIN=$bin DMARCD_WORK=$work DMARCD_GEN=$(dirname "$bin")/bench/gen
cd "$here"
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
