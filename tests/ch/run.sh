#!/bin/bash
# run.sh BINARY WORK_DIR - the ClickHouse store: the golden cases stored in
# ClickHouse (tests/golden/golden.py with GOLDEN_CH), then pytest (the same
# output as SQLite, two writers storing the same reports at once, kill -9,
# the server going away).  One ClickHouse server from Debian runs for the
# whole suite (tests/ch/server.sh).
#
# WORK_DIR is emptied first.  Exit status: the first failure's.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$here/server.sh"

export PYTHONDONTWRITEBYTECODE=1
export DMARCD_BIN=$bin DMARCD_WORK=$work DMARCD_GEN=$(dirname "$bin")/bench/gen
GOLDEN_CH=$DMARCD_CH python3 "$here/../golden/golden.py" "$bin" "$here/../golden" "$work/golden" >"$work/golden.log"
rc=$?
grep -v '^ok ' "$work/golden.log"
[ $rc = 0 ] || { echo "ch: golden cases differ when stored in ClickHouse" >&2; exit 1; }
cd "$here"
# the sanitizer pass of scripts/test.sh (DMARCD_SANITIZER_PASS) leaves out
# the two long API comparisons with SQLite: they ran in the first pass,
# and the corpus comparison still reads every endpoint under ASan
if [ -n "${DMARCD_SANITIZER_PASS:-}" ]; then
	set -- -k "not same_api_answers_as_sqlite and not api_while_the_server_is_away" "$@"
fi
# not exec: server.sh stops ClickHouse when this shell exits
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
