#!/bin/sh
# run.sh - what `make run` does for now: ingest reports into the data
# folder and print the stored totals.  With INPUT=path... it ingests those;
# without, a small set of demo report mails that the project's own
# generator makes (bench/gen.c), so a newcomer sees it work at once.
set -eu
build=$1
data=$2
shift 2
if [ $# -eq 0 ]; then
	demo="$data/demo"
	if [ ! -d "$demo" ]; then
		echo "generating demo report mails in $demo"
		"$build/bench/gen" typical "$demo" --mails 25 >/dev/null
	fi
	set -- "$demo/mails"
fi
echo "ingesting: $*"
status=0
"$build/dmarcd" ingest --data "$data" "$@" || status=$?
echo
"$build/dmarcd" stats --data "$data"
echo
echo "data folder: $data (store: $data/dmarcd.sqlite, raw reports: $data/archive/)"
exit $status
