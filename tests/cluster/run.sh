#!/bin/bash
# run.sh BINARY WORK_DIR - several intake nodes on shared engines: two
# `dmarcd serve` nodes, each with its own data folder and spool, sharing
# one store and registry, PostgreSQL (tests/pg/server.sh starts PostgreSQL
# 15) or ClickHouse as two shards (tests/ch/shards.sh), and one S3 archive
# (s3rver from npm behind tests/s3/sigv4_proxy.py, read back with Debian's
# awscli), fed over SMTP, one of them killed with SIGKILL mid-run (pytest,
# test_cluster.py).
#
# WORK_DIR is emptied first.  Exit status is pytest's; extra arguments go
# to pytest.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$here/../pg/server.sh"
. "$here/../ch/shards.sh"
trap 'pg_stop; shards_stop' EXIT
export PYTHONDONTWRITEBYTECODE=1
export DMARCD_BIN=$bin DMARCD_WORK=$work DMARCD_GEN=$(dirname "$bin")/bench/gen
cd "$here"
# not exec: the servers are stopped when this shell exits
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
