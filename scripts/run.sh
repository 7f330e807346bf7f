#!/bin/bash
# run.sh - what `make run` does: start `dmarcd serve` on the embedded
# defaults (SQLite store and filesystem archive in the data folder, SMTP
# on 127.0.0.1:2525), after
#   - creating a catch-all account "default" when the registry is empty,
#     so a newcomer can send a report to any address at once;
#   - generating a few demo report mails with the project's own generator
#     (bench/gen.c) and printing how to send one;
#   - ingesting INPUT=path... first, when given.
# SMTP=ADDR:PORT overrides the listen address.  Ctrl-C stops the server.
# Run again in the same folder, it starts the same server on the same
# data; when the port is taken or a server already runs on the folder it
# says so in one line, and how to choose another.
set -eu
build=$1
data=$2
shift 2
smtp=${SMTP:-}
listen=${smtp:-127.0.0.1:2525}
host=${listen%:*}
port=${listen##*:}

# One server per data folder (it holds serve.lock while it runs).
if command -v flock >/dev/null 2>&1 && [ -e "$data/serve.lock" ] &&
	! flock -n "$data/serve.lock" true; then
	echo "make run: a dmarcd serve already runs on $data; stop it (Ctrl-C where it runs) or use another folder: make run DATA=./var2" >&2
	exit 1
fi
# Something listening there already: bash connects to it.
bare=${host#[}
bare=${bare%]}
if (exec 3<>"/dev/tcp/$bare/$port") 2>/dev/null; then
	echo "make run: $listen is already in use by another program; pick another port: make run SMTP=$host:$((port + 1))" >&2
	exit 1
fi
mkdir -p "$data"

if [ -z "$("$build/dmarcd" account list --data "$data" 2>/dev/null)" ]; then
	"$build/dmarcd" account add default --catch-all --data "$data"
fi

demo="$data/demo"
if [ ! -d "$demo" ]; then
	echo "generating demo report mails in $demo"
	"$build/bench/gen" typical "$demo" --mails 25 >/dev/null
fi

if [ $# -gt 0 ]; then
	echo "ingesting: $*"
	"$build/dmarcd" ingest --data "$data" "$@" || true
	echo
fi

cat <<MSG

dmarcd serve: SMTP on $listen, data folder $data
  (store: $data/dmarcd.sqlite, raw reports: $data/archive/, spool: $data/spool/)
send a demo report from another terminal, by SMTP:
  swaks --server $host --port $port --to dmarc@example.com --data @$demo/mails/000000.eml
or through the MTA pipe entry point:
  $build/dmarcd deliver --rcpt dmarc@example.com --data $data < $demo/mails/000001.eml
then look:
  $build/dmarcd stats --data $data

MSG
if [ -n "$smtp" ]; then
	exec "$build/dmarcd" serve --data "$data" --smtp "$smtp"
fi
exec "$build/dmarcd" serve --data "$data"
