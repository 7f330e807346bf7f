#!/bin/bash
# run.sh BINARY WORK_DIR - the PostgreSQL store: the golden cases stored in
# PostgreSQL (tests/golden/golden.py with GOLDEN_PG), then pytest (same
# answers as SQLite on generated sets, two intake nodes, kill -9, the
# server going away).  One PostgreSQL 15 server from Debian runs for the
# whole suite: initdb and pg_ctl in WORK_DIR, listening on 127.0.0.1 on a
# free port, run as the user postgres that Debian's package creates
# (initdb refuses root; not nobody, whose processes tests/cli counts under
# a limit), stopped at the end by its pid file.
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
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || { echo "pg: $pgbin/initdb missing (postgresql-15; make test installs it)" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgdir=$work/pg
mkdir -p "$pgdir"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb" -D "$pgdir/data" -U dmarcd --auth=trust -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1 ||
	{ cat "$work/initdb.log"; exit 1; }
stop() { as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true; }
trap stop EXIT
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c max_connections=50" start >/dev/null ||
	{ cat "$pgdir/log"; exit 1; }
url=postgres://dmarcd@127.0.0.1:$port

export PYTHONDONTWRITEBYTECODE=1
export DMARCD_BIN=$bin DMARCD_WORK=$work DMARCD_GEN=$(dirname "$bin")/bench/gen
export DMARCD_PG=$url DMARCD_PG_DATA=$pgdir/data DMARCD_PG_PORT=$port DMARCD_PG_SOCK=$pgdir
echo "pg: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
GOLDEN_PG=$url python3 "$here/../golden/golden.py" "$bin" "$here/../golden" "$work/golden" >"$work/golden.log"
rc=$?
grep -v '^ok ' "$work/golden.log"
[ $rc = 0 ] || { echo "pg: golden cases differ when stored in PostgreSQL" >&2; exit 1; }
cd "$here"
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
