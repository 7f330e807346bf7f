#!/usr/bin/env bash
# bench/profile.sh - instruction counts of dmarcd ingest and the bare pass
# on the same small typical set, under callgrind: repeatable whatever the
# machine is doing, unlike wall time.  Prints both totals, their ratio and
# the functions that cost dmarcd the most (inclusive).
#
#   BUILD=build bench/profile.sh [MAILS]      (default 300 mails)
#
# Needs valgrind.  Uses bench/out/profile/ for the set and the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MAILS=${1:-300}
OUT=bench/out/profile
mkdir -p "$OUT"
if [ ! -f "$OUT/set/expected.json" ] || ! grep -q "\"mails\":$MAILS," "$OUT/set/expected.json"; then
	rm -rf "$OUT/set"
	"$BUILD/bench/gen" typical "$OUT/set" --mails "$MAILS" >/dev/null 2>&1
fi
count() { # label, callgrind output, command...
	local out=$2
	shift 2
	valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$out.log" || true
	grep -o 'refs: *[0-9,]*' "$out.log" | tr -dc '0-9'
}
bare=$(count bare "$OUT/cg.bare" "$BUILD/bench/bare" "$OUT/set/attachments")
rm -rf "$OUT/data"
ingest=$(count ingest "$OUT/cg.ingest" "$BUILD/dmarcd" ingest --data "$OUT/data" "$OUT/set/mails")
python3 - "$bare" "$ingest" <<'PY'
import sys
b, i = int(sys.argv[1]), int(sys.argv[2])
print(f"bare   {b/1e6:9.1f} M instructions")
print(f"ingest {i/1e6:9.1f} M instructions   ratio bare/ingest {b/i:.2f} (target 0.60 in records/s)")
PY
echo
echo "dmarcd, most expensive functions (inclusive):"
callgrind_annotate --inclusive=yes "$OUT/cg.ingest" 2>/dev/null |
	grep -E '^ *[0-9,]+ \(' | grep -vE 'below main|libc-start|ld-linux|cli_ingest|ingest_path|ingest_fd|main \[' |
	head -30 | cut -c1-120
