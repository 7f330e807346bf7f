#!/usr/bin/env bash
# Tests of `dmarcd deliver` and `dmarcd spool list|retry` on the real
# binary: what lands in spool/new, the exit codes an MTA acts on (0, 65
# permanent, 75 retry later), listing, and replaying failed entries.
#
#   tests/spool/run.sh BINARY WORK_DIR
#
# Writes only inside WORK_DIR (emptied first).  Exit 0 when every check
# passes, 1 otherwise.
set -u

SUITE=spool
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh" "$@"
mkdir -p "$W/in"

count() { find "$1" -mindepth 1 -maxdepth 1 | wc -l | tr -d ' '; }
# the one new entry of the last deliver: its ID from the listing difference
newest() { ls "$1" | sort -V | tail -1; }

D=$W/data
printf 'From: reporter@example.com\r\nTo: dmarc@example.org\r\nSubject: Report Domain: example.org\r\n\r\nhello\r\n' >"$W/in/msg.eml"

# ---- deliver ---------------------------------------------------------------------

IN=$W/in/msg.eml
run deliver --from reports@example.com --rcpt dmarc@example.org --rcpt rua@example.org --data "$D"
if [ "$rc" = 0 ] && [ ! -s "$W/out" ] && [ ! -s "$W/err" ] && [ "$(count "$D/spool/new")" = 1 ]; then
	ok "deliver: exit 0, silent, one file in spool/new"
else
	fail "deliver: exit 0, silent, one file in spool/new" "$(show)"
fi
id=$(newest "$D/spool/new")
f=$D/spool/new/$id
if [[ $id =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9a-f]{8}$ ]]; then ok "deliver: ID has the form secs.pid.counter.hex ($id)"; else
	fail "deliver: ID has the form secs.pid.counter.hex" "got '$id'"; fi
now=$(date +%s)
secs=$(sed -n '5s/^X-Dmarcd-Client: - - pipe \([0-9]*\)$/\1/p' "$f")
if [ "$(sed -n 1,4p "$f")" = "X-Dmarcd-Envelope: 1
X-Dmarcd-From: <reports@example.com>
X-Dmarcd-Rcpt: <dmarc@example.org>
X-Dmarcd-Rcpt: <rua@example.org>" ] && [ -n "$secs" ] && [ $((now - secs)) -lt 120 ]; then
	ok "deliver: envelope fields with --from, both --rcpt, proto pipe and the time"
else
	fail "deliver: envelope fields with --from, both --rcpt, proto pipe and the time" "$(head -6 "$f" | tr '\n' '|')"
fi
if tail -n +6 "$f" | cmp -s - "$W/in/msg.eml"; then
	ok "deliver: the message bytes follow the envelope unchanged"
else
	fail "deliver: the message bytes follow the envelope unchanged" "$(od -c "$f" | head -20 | tr '\n' '|')"
fi
if [ "$(count "$D/spool/tmp")" = 0 ]; then ok "deliver: nothing left in spool/tmp"; else
	fail "deliver: nothing left in spool/tmp" "$(ls "$D/spool/tmp")"; fi

run deliver --data "$D" postmaster@example.org
id2=$(newest "$D/spool/new")
if [ "$rc" = 0 ] && [ "$id2" != "$id" ] && grep -q '^X-Dmarcd-From: <>$' "$D/spool/new/$id2" &&
	grep -q '^X-Dmarcd-Rcpt: <postmaster@example.org>$' "$D/spool/new/$id2"; then
	ok "deliver: no --from is <>, an operand is a recipient"
else
	fail "deliver: no --from is <>, an operand is a recipient" "$(show)"
fi

run deliver --data "$D" --from $'evil@example.com\nX-Dmarcd-Rcpt: <x@evil>' --rcpt a@example.org
id3=$(newest "$D/spool/new")
if [ "$rc" = 0 ] && [ "$(grep -c '^X-Dmarcd-Rcpt:' "$D/spool/new/$id3")" = 1 ] &&
	grep -q '^X-Dmarcd-From: <evil@example.com?X-Dmarcd-Rcpt: <x@evil>>$' "$D/spool/new/$id3"; then
	ok "deliver: a newline in --from cannot add an envelope field"
else
	fail "deliver: a newline in --from cannot add an envelope field" "$(head -5 "$D/spool/new/$id3" | tr '\n' '|')"
fi
long=$(printf 'x%.0s' $(seq 300))@example.com
run deliver --data "$D" --from "$long" --rcpt a@example.org
idl=$(newest "$D/spool/new")
if [ "$rc" = 0 ] && [ "$(grep '^X-Dmarcd-From: ' "$D/spool/new/$idl" | wc -c)" = $((16 + 256 + 2)) ]; then
	ok "deliver: an over-long --from is cut to 256 bytes"
else
	fail "deliver: an over-long --from is cut to 256 bytes" "$(show)"
fi
rm -f "$D/spool/new/$idl"
n_before=$(count "$D/spool/new")
run deliver --data "$D" $(seq -f 'r%g@example.org' 1001)
if [ "$rc" = 65 ] && has "$W/err" "more than 1000 recipients" && [ "$(count "$D/spool/new")" = "$n_before" ]; then
	ok "deliver: 1001 recipients exits 65, nothing kept"
else
	fail "deliver: 1001 recipients exits 65, nothing kept" "$(show)"
fi

IN=/dev/null
run deliver --data "$D" --rcpt a@example.org
if [ "$rc" = 65 ] && has "$W/err" "empty message" && [ "$(count "$D/spool/new")" = "$n_before" ] &&
	[ "$(count "$D/spool/tmp")" = 0 ]; then
	ok "deliver: empty stdin exits 65 'empty message', nothing kept"
else
	fail "deliver: empty stdin exits 65 'empty message', nothing kept" "$(show)"
fi

head -c $((32 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$W/in/big.eml"
IN=$W/in/big.eml
run deliver --data "$D" --rcpt a@example.org
if [ "$rc" = 65 ] && has "$W/err" "too large" && [ "$(count "$D/spool/new")" = "$n_before" ] &&
	[ "$(count "$D/spool/tmp")" = 0 ]; then
	ok "deliver: 32 MiB + 1 byte exits 65 'too large', nothing kept"
else
	fail "deliver: 32 MiB + 1 byte exits 65 'too large', nothing kept" "$(show)"
fi
truncate -s $((32 * 1024 * 1024)) "$W/in/big.eml"
run deliver --data "$D" --rcpt a@example.org
id4=$(newest "$D/spool/new")
if [ "$rc" = 0 ] && [ "$(count "$D/spool/new")" = $((n_before + 1)) ] &&
	[ "$(tail -n +5 "$D/spool/new/$id4" | wc -c)" = $((32 * 1024 * 1024)) ]; then
	ok "deliver: exactly 32 MiB is accepted whole"
else
	fail "deliver: exactly 32 MiB is accepted whole" "$(show)"
fi
rm -f "$D/spool/new/$id4" "$W/in/big.eml"

# cannot spool: the MTA must keep the message and retry (75)
IN=$W/in/msg.eml
mkdir -p "$W/blocked"
: >"$W/blocked/spool"
run deliver --data "$W/blocked" --rcpt a@example.org
if [ "$rc" = 75 ] && [ "$(wc -l <"$W/err")" = 1 ] && has "$W/err" "dmarcd deliver:"; then
	ok "deliver: spool folder is a file -> exit 75 with one line"
else
	fail "deliver: spool folder is a file -> exit 75 with one line" "$(show)"
fi

head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'b' >"$W/in/two.eml"
bash -c "trap '' XFSZ; ulimit -f 256; exec \"\$0\" deliver --data \"\$1\" --rcpt a@example.org" \
	"$BIN" "$D" <"$W/in/two.eml" >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" = 75 ] && [ "$(wc -l <"$W/err")" = 1 ] && [ "$(count "$D/spool/new")" = "$n_before" ] &&
	[ "$(count "$D/spool/tmp")" = 0 ]; then
	ok "deliver: write fails (file size limit) -> exit 75, nothing kept"
else
	fail "deliver: write fails (file size limit) -> exit 75, nothing kept" "$(show)"
fi
if [ "$(id -u)" != 0 ]; then
	chmod 0500 "$D/spool/tmp"
	run deliver --data "$D" --rcpt a@example.org
	chmod 0750 "$D/spool/tmp"
	if [ "$rc" = 75 ] && [ "$(count "$D/spool/new")" = "$n_before" ]; then
		ok "deliver: unwritable spool/tmp -> exit 75"
	else
		fail "deliver: unwritable spool/tmp -> exit 75" "$(show)"
	fi
fi

run deliver --data "$D" --bogus
if [ "$rc" = 75 ] && has "$W/err" bogus && [ "$(count "$D/spool/new")" = "$n_before" ]; then
	ok "deliver: a usage error is temporary (75), the MTA keeps the mail"
else
	fail "deliver: a usage error is temporary (75), the MTA keeps the mail" "$(show)"
fi

# ---- spool list ---------------------------------------------------------------------

IN=/dev/null
run spool list --data "$D"
if [ "$rc" = 0 ] && [ "$(wc -l <"$W/out")" = 3 ] && [ "$(awk '{print $2}' "$W/out" | sort -u)" = new ] &&
	[ "$(awk '{print $1}' "$W/out" | tr '\n' ' ')" = "$id $id2 $id3 " ] &&
	has "$W/err" "^spool: 3 new, 0 cur, 0 failed$"; then
	ok "spool list: three new entries in arrival order, summary on stderr"
else
	fail "spool list: three new entries in arrival order, summary on stderr" "$(show)"
fi
size=$(stat -c %s "$D/spool/new/$id")
if grep -Eq "^$id +new +$size +[0-9]+[smhd]\$" "$W/out"; then ok "spool list: ID, state, size and age"; else
	fail "spool list: ID, state, size and age" "want size $size" "$(show)"; fi

# move one entry to failed/ by hand, as a worker would
mv "$D/spool/new/$id2" "$D/spool/failed/$id2"
printf 'aggregate: bad XML at line 3\n' >"$D/spool/failed/$id2.why"
run spool list --failed --data "$D"
if [ "$rc" = 0 ] && [ "$(wc -l <"$W/out")" = 1 ] && grep -q "^$id2 *failed .*aggregate: bad XML at line 3\$" "$W/out" &&
	has "$W/err" "0 new, 0 cur, 1 failed"; then
	ok "spool list --failed: only the failed entry, with its reason"
else
	fail "spool list --failed: only the failed entry, with its reason" "$(show)"
fi

run spool list --json --data "$D"
if [ "$rc" = 0 ] && python3 - "$W/out" "$id" "$id2" "$id3" "$size" <<'PY'; then
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ids = sys.argv[2:5]
assert [l["id"] for l in lines] == ids, lines
for l in lines:
    assert set(l) == {"id", "state", "size", "mtime", "why"}, l
    assert isinstance(l["mtime"], int) and l["mtime"] > 1600000000, l
assert lines[0]["state"] == "new" and lines[0]["why"] is None and lines[0]["size"] == int(sys.argv[5])
assert lines[1]["state"] == "failed" and lines[1]["why"] == "aggregate: bad XML at line 3", lines[1]
assert lines[2]["state"] == "new"
PY
	ok "spool list --json: one object per line with id, state, size, mtime, why"
else
	fail "spool list --json: one object per line with id, state, size, mtime, why" "$(show)"
fi

# ---- spool retry ---------------------------------------------------------------------

run spool retry "$id2" --data "$D"
if [ "$rc" = 0 ] && [ "$(cat "$W/out")" = "retried $id2" ] && [ -f "$D/spool/new/$id2" ] &&
	[ ! -e "$D/spool/failed/$id2" ] && [ ! -e "$D/spool/failed/$id2.why" ]; then
	ok "spool retry ID: back in new/, reason removed"
else
	fail "spool retry ID: back in new/, reason removed" "$(show)"
fi

run spool retry "$id2" --data "$D"
if [ "$rc" = 1 ] && has "$W/err" "$id2" && [ ! -s "$W/out" ]; then ok "spool retry of an ID not in failed/ exits 1"; else
	fail "spool retry of an ID not in failed/ exits 1" "$(show)"; fi

for bad in ../x ../new/$id /etc/passwd .hidden UPPER "$id2.why"; do
	run spool retry "$bad" --data "$D"
	if [ "$rc" = 1 ] && [ -s "$W/err" ] && [ ! -s "$W/out" ]; then ok "spool retry '$bad' exits 1"; else
		fail "spool retry '$bad' exits 1" "$(show)"; fi
done

mv "$D/spool/new/$id" "$D/spool/failed/$id"
mv "$D/spool/new/$id3" "$D/spool/failed/$id3"
printf 'one\n' >"$D/spool/failed/$id.why"
printf 'two\n' >"$D/spool/failed/$id3.why"
run spool retry --all --data "$D"
if [ "$rc" = 0 ] && [ "$(cat "$W/out" | tr '\n' ' ')" = "retried $id retried $id3 " ] &&
	[ "$(count "$D/spool/failed")" = 0 ] && [ "$(count "$D/spool/new")" = 3 ]; then
	ok "spool retry --all: every failed entry back in new/"
else
	fail "spool retry --all: every failed entry back in new/" "$(show)"
fi
run spool retry --all --data "$D"
if [ "$rc" = 0 ] && [ ! -s "$W/out" ]; then ok "spool retry --all with nothing failed: exit 0, silent"; else
	fail "spool retry --all with nothing failed: exit 0, silent" "$(show)"; fi

# one good and one unknown: the good one is retried, the exit says 1
mv "$D/spool/new/$id" "$D/spool/failed/$id"
run spool retry "$id" 1.2.3.deadbeef --data "$D"
if [ "$rc" = 1 ] && [ "$(cat "$W/out")" = "retried $id" ] && has "$W/err" 1.2.3.deadbeef; then
	ok "spool retry GOOD UNKNOWN: retries GOOD, exits 1 naming UNKNOWN"
else
	fail "spool retry GOOD UNKNOWN: retries GOOD, exits 1 naming UNKNOWN" "$(show)"
fi

# ---- usage ------------------------------------------------------------------------------

for args in "spool" "spool frobnicate" "spool retry" "spool retry --all $id" "spool list extra" \
	"spool list --all" "spool retry --json $id"; do
	run $args --data "$D"
	if [ "$rc" = 2 ] && [ -s "$W/err" ]; then ok "usage error: dmarcd $args -> 2"; else
		fail "usage error: dmarcd $args -> 2" "$(show)"; fi
done
run spool list --data "$W/no-such-data"
if [ "$rc" = 2 ] && [ ! -e "$W/no-such-data" ]; then ok "spool list on a missing data folder: exit 2, nothing created"; else
	fail "spool list on a missing data folder: exit 2, nothing created" "$(show)"; fi

run deliver --help
missing=""
for o in --from --rcpt --data --config --help ADDR; do has "$W/out" "$o" || missing="$missing $o"; done
if [ "$rc" = 0 ] && [ -z "$missing" ]; then ok "deliver --help mentions every option"; else
	fail "deliver --help mentions every option" "missing:$missing" "$(show)"; fi
run spool --help
missing=""
for o in list retry --failed --json --all --data --config --help; do has "$W/out" "$o" || missing="$missing $o"; done
if [ "$rc" = 0 ] && [ -z "$missing" ]; then ok "spool --help mentions every option"; else
	fail "spool --help mentions every option" "missing:$missing" "$(show)"; fi

# nothing outside WORK_DIR: the default ./var would be here, and is not
if [ ! -e "$W/var" ]; then ok "no default ./var was created"; else fail "no default ./var was created"; fi

finish
