#!/bin/bash
# run.sh BINARY WORK_DIR - the PostgreSQL store: the golden cases stored in
# PostgreSQL (tests/golden/golden.py with GOLDEN_PG), then pytest (same
# answers as SQLite on generated sets, two intake nodes, kill -9, the
# server going away).  One PostgreSQL 15 server from Debian runs for the
# whole suite (tests/pg/server.sh).
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
GOLDEN_PG=$DMARCD_PG python3 "$here/../golden/golden.py" "$bin" "$here/../golden" "$work/golden" >"$work/golden.log"
rc=$?
grep -v '^ok ' "$work/golden.log"
[ $rc = 0 ] || { echo "pg: golden cases differ when stored in PostgreSQL" >&2; exit 1; }
cd "$here"
# the sanitizer pass of scripts/test.sh (DMARCD_SANITIZER_PASS) leaves out
# the two long API comparisons with SQLite: they ran in the first pass,
# and the corpus comparison still reads every endpoint under ASan
if [ -n "${DMARCD_SANITIZER_PASS:-}" ]; then
	set -- -k "not same_api_answers_as_sqlite and not api_while_the_server_is_away" "$@"
fi
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
