#!/bin/sh
# run.sh - what `make run` does: start `dmarcd serve` on the embedded
# defaults (SQLite store and filesystem archive in the data folder, SMTP
# on 127.0.0.1:2525), after
#   - creating a catch-all account "default" when the registry is empty,
#     so a newcomer can send a report to any address at once;
#   - generating a few demo report mails with the project's own generator
#     (bench/gen.c) and printing how to send one;
#   - ingesting INPUT=path... first, when given.
# SMTP=ADDR:PORT overrides the listen address.  Ctrl-C stops the server.
set -eu
build=$1
data=$2
shift 2
smtp=${SMTP:-}
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

listen=${smtp:-127.0.0.1:2525}
host=${listen%:*}
port=${listen##*:}
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
