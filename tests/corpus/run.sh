#!/bin/sh
# run.sh BINARY WORK_DIR - ingest the shared sample corpus (../shared/corpus,
# real reports from another project, read in place and never copied into
# this repository) and check every file's outcome against the totals in
# the corpus README.  When the folder is not there the test reports itself
# skipped (exit 77), never passed.
set -eu
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
corpus=${DMARCD_CORPUS:-$here/../../../shared/corpus/parsedmarc}
if [ ! -d "$corpus" ]; then
	echo "corpus: $corpus not found, skipped"
	exit 77
fi
rm -rf "$work"
mkdir -p "$work"
status=0
(cd "$corpus" && "$bin" ingest --json --data "$work/data" .) >"$work/out.json" 2>"$work/err.txt" || status=$?
if [ "$status" -ne 1 ]; then
	echo "corpus: expected exit 1 (some files are broken on purpose), got $status"
	cat "$work/err.txt"
	exit 1
fi
exec python3 "$here/check.py" "$work/out.json" "$work/data/dmarcd.sqlite"
