#!/bin/bash
# run.sh - what `make run` does: start `dmarcd serve` on the embedded
# defaults (SQLite store and filesystem archive in the data folder, SMTP
# on 127.0.0.1:2525, the API and dashboard on 127.0.0.1:8080), after
#   - creating a catch-all account "default" when the registry is empty,
#     so a newcomer can send a report to any address at once;
#   - on the first run, generating demo data with the project's own
#     generator (bench/gen.c): 30 days of reports for 3 domains up to
#     yesterday, stored for "default" so the dashboard has something to
#     show, and a few report mails to send by hand;
#   - ingesting INPUT=path... first, when given;
#   - making a fresh admin token (the previous `make run` one is revoked)
#     and printing the dashboard's login link with it.
# SMTP=ADDR:PORT and HTTP=ADDR:PORT override the listen addresses.  Ctrl-C
# stops the server.  Run again in the same folder, it starts the same
# server on the same data; when a port is taken or a server already runs
# on the folder it says so in one line, and how to choose another.
set -eu
build=$1
data=$2
shift 2
smtp=${SMTP:-127.0.0.1:2525}
http=${HTTP:-127.0.0.1:8080}

# One server per data folder (it holds serve.lock while it runs).
if command -v flock >/dev/null 2>&1 && [ -e "$data/serve.lock" ] &&
	! flock -n "$data/serve.lock" true; then
	echo "make run: a dmarcd serve already runs on $data; stop it (Ctrl-C where it runs) or use another folder: make run DATA=./var2" >&2
	exit 1
fi
# Something listening on a port already: bash connects to it.
taken() {
	local host=${1%:*} port=${1##*:}
	host=${host#[}
	host=${host%]}
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}
if taken "$smtp"; then
	echo "make run: $smtp is already in use by another program; pick another port: make run SMTP=${smtp%:*}:$((${smtp##*:} + 1))" >&2
	exit 1
fi
if taken "$http"; then
	echo "make run: $http is already in use by another program; pick another port: make run HTTP=${http%:*}:$((${http##*:} + 1))" >&2
	exit 1
fi
mkdir -p "$data"

if [ -z "$("$build/dmarcd" account list --data "$data" 2>/dev/null)" ]; then
	"$build/dmarcd" account add default --catch-all --data "$data"
fi

demo="$data/demo"
if [ ! -d "$demo" ]; then
	echo "generating demo data in $demo"
	yesterday=$(date -u -d yesterday +%Y-%m-%d)
	"$build/bench/gen" history "$demo/history" --records 6000 --days 30 --domains 3 \
		--end "$yesterday" 2>/dev/null
	"$build/dmarcd" ingest --data "$data" --account default "$demo/history/reports" >/dev/null ||
		echo "make run: the demo data was not all stored (see above)" >&2
	"$build/bench/gen" typical "$demo" --mails 25 >/dev/null 2>&1
fi

if [ $# -gt 0 ]; then
	echo "ingesting: $*"
	"$build/dmarcd" ingest --data "$data" --account default "$@" || true
	echo
fi

token=$("$build/dmarcd" token add --admin --name make-run --replace --data "$data" 2>/dev/null)
host=${smtp%:*}
port=${smtp##*:}
cat <<MSG

dmarcd serve: SMTP on $smtp, dashboard and API on http://$http/, data folder $data
  (store: $data/dmarcd.sqlite, raw reports: $data/archive/, spool: $data/spool/)

open the dashboard (this login link holds an admin token; it is shown once):
  http://$http/#token=$token

send a demo report from another terminal, by SMTP:
  swaks --server $host --port $port --to dmarc@example.com --data @$demo/mails/000000.eml
or through the MTA pipe entry point:
  $build/dmarcd deliver --rcpt dmarc@example.com --data $data < $demo/mails/000001.eml
the API, with the same token:
  curl -H 'Authorization: Bearer $token' http://$http/api/v1/domains

MSG
exec "$build/dmarcd" serve --data "$data" --smtp "$smtp" --http "$http"
