# server.sh - sourced by tests/pg/run.sh and tests/http/run.sh: start one
# PostgreSQL 15 server from Debian for a suite, in "$work/pg", listening on
# 127.0.0.1 on a free port; stopped by its pid file (pg_ctl stop) when the
# suite's shell exits.  initdb refuses root, so as root the server runs as
# the user postgres that Debian's package creates (not nobody, whose
# processes tests/cli counts under a limit).
#
# Needs: $work (absolute).  Sets and exports DMARCD_PG
# (postgres://dmarcd@127.0.0.1:PORT), DMARCD_PG_DATA, DMARCD_PG_PORT,
# DMARCD_PG_SOCK; defines as_pg and pg_stop.  Exits 1 when the server
# cannot start.
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/initdb" ] || { echo "pg: $pgbin/initdb missing (postgresql-15; make test installs it)" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgdir=$work/pg
mkdir -p "$pgdir"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb" -D "$pgdir/data" -U dmarcd --auth=trust -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1 ||
	{ cat "$work/initdb.log"; exit 1; }
pg_stop() { as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true; }
trap pg_stop EXIT
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c max_connections=100" start >/dev/null ||
	{ cat "$pgdir/log"; exit 1; }
export DMARCD_PG=postgres://dmarcd@127.0.0.1:$port
export DMARCD_PG_DATA=$pgdir/data DMARCD_PG_PORT=$port DMARCD_PG_SOCK=$pgdir
echo "pg: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
