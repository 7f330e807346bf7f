#!/bin/bash
# run.sh BINARY WORK_DIR - what `dmarcd ingest` says when the disk fills up.
#
# The file size limit (ulimit -f, with SIGXFSZ ignored so writes fail with
# EFBIG instead of killing the process) stands in for a full disk.  The run
# must stop with exit 2, and its output must not lie: every report printed
# as "stored" is in the store, every other line is rejected with a reason.
set -euo pipefail
bin=$1
work=$2
gen=$(dirname "$bin")/bench/gen
rm -rf "$work"
mkdir -p "$work"
"$gen" typical "$work/set" --mails 2500 >/dev/null 2>&1

status=0
bash -c "trap '' XFSZ; ulimit -f 12288; exec \"\$0\" ingest --json --data \"\$1\" \"\$2\"" \
	"$bin" "$work/data" "$work/set/mails" >"$work/out.json" 2>"$work/err.txt" || status=$?
fail() { echo "diskfull: $*"; tail -3 "$work/err.txt"; exit 1; }
[ "$status" -eq 2 ] || fail "expected exit 2, got $status"
grep -q "stopped:" "$work/err.txt" || fail "no 'stopped:' line on stderr"

python3 - "$work/out.json" "$work/stored.txt" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
stored = [l for l in lines if l["status"] == "stored"]
other = [l for l in lines if l["status"] != "stored"]
if not other:
    sys.exit("diskfull: nothing was rejected; the limit was never reached")
for l in other:
    if l["status"] != "rejected" or not l["error"]:
        sys.exit(f"diskfull: unexpected line {l}")
with open(sys.argv[2], "w") as f:
    f.write(f"{len(stored)} {sum(l['records'] for l in stored)}\n")
print(f"diskfull: {len(stored)} stored, {len(other)} rejected, e.g. {other[-1]['error']}")
PY
read -r n recs <"$work/stored.txt"
# what the store holds must be exactly what was printed as stored
got=$("$bin" stats --json --data "$work/data" |
	python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["reports"], d["records"])')
[ "$got" = "$n $recs" ] || fail "store holds '$got' reports/records, output said '$n $recs'"
echo "diskfull: store and output agree ($got)"
