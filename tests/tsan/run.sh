#!/usr/bin/env bash
# The threaded commands under ThreadSanitizer: `dmarcd ingest --jobs 4`,
# the same while the store fails (a file size limit: every job hits the
# error at once), and `dmarcd serve` with two workers taking mail by SMTP
# and from `dmarcd deliver` while SIGHUP reloads the registry.  Any data
# race report fails the suite.
#
#   tests/tsan/run.sh TSAN_BINARY GEN WORK_DIR
#
# GLib and GMime synchronise through futexes ThreadSanitizer cannot see,
# so accesses inside those uninstrumented libraries are ignored
# (ignore_noninstrumented_modules) and GLib's slice allocator is turned
# into plain malloc (G_SLICE); dmarcd's own code is checked in full.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 TSAN_BINARY GEN WORK_DIR" >&2
	exit 2
fi
GEN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
SUITE=tsan
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh" "$1" "$3"
export G_SLICE=always-malloc
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 ignore_noninstrumented_modules=1 history_size=4"
races() { grep -c "WARNING: ThreadSanitizer" "$1"; }

"$GEN" typical "$W/set" --mails 200 --seed 7 >/dev/null || { fail "gen"; finish; exit 1; }

# ---- ingest --jobs 4 --------------------------------------------------------
"$BIN" ingest --jobs 4 --data "$W/d1" "$W/set/mails" >"$W/ingest.out" 2>"$W/ingest.err"
rc=$?
if [ "$rc" = 0 ] && [ "$(races "$W/ingest.err")" = 0 ]; then
	ok "ingest --jobs 4: no race"
else
	fail "ingest --jobs 4: no race" "exit $rc" "$(grep -A20 -m1 WARNING "$W/ingest.err")"
fi

# ---- ingest --jobs 4 while the store fails ------------------------------------
"$BIN" ingest --jobs 4 --data "$W/d2" "$W/set/mails" >/dev/null 2>&1 # the files exist, then:
rm -rf "$W/d2"
mkdir -p "$W/d2"
(trap '' XFSZ; ulimit -f 300; exec "$BIN" ingest --jobs 4 --data "$W/d2" "$W/set/mails") \
	>"$W/full.out" 2>"$W/full.err"
rc=$?
if [ "$rc" = 2 ] && [ "$(races "$W/full.err")" = 0 ] && grep -q "stopped:" "$W/full.err"; then
	ok "ingest --jobs 4, store failing: stops with exit 2, no race"
else
	fail "ingest --jobs 4, store failing: stops with exit 2, no race" "exit $rc" \
		"$(grep -A20 -m1 WARNING "$W/full.err")" "$(tail -3 "$W/full.err")"
fi

# ---- serve: SMTP, deliver and SIGHUP at once -----------------------------------
D=$W/serve
"$BIN" account add any --catch-all --data "$D" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: >"$W/serve.err"
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$("$BIN" token add --admin --name tsan --data "$D" 2>/dev/null)
"$BIN" serve --data "$D" --smtp "127.0.0.1:$port" --http "127.0.0.1:$hport" --workers 2 >/dev/null 2>>"$W/serve.err" &
spid=$!
for _ in $(seq 200); do
	grep -q "serve: ready" "$W/serve.err" && break
	sleep 0.1
done
# a reload every 0.2 s while mail comes in from both sides, and the API
# is read (and written: uploads) from six clients at once
(while kill -HUP "$spid" 2>/dev/null; do sleep 0.2; done) &
hup=$!
python3 - "$port" "$W/set/mails" <<'PY' &
import os, smtplib, sys, threading
port, d = int(sys.argv[1]), sys.argv[2]
mails = sorted(os.listdir(d))[:100]
def send(part):
    c = smtplib.SMTP("127.0.0.1", port, timeout=60)
    for m in part:
        c.sendmail("r@reporter.test", ["dmarc@x.test"], open(os.path.join(d, m), "rb").read())
    c.quit()
ts = [threading.Thread(target=send, args=(mails[i::4],)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
smtp=$!
python3 - "$hport" "$token" "$W/set/attachments" <<'PY' >"$W/http.out" 2>&1 &
import http.client, json, os, socket, sys, threading
port, token, att = int(sys.argv[1]), sys.argv[2], sys.argv[3]
H = {"Authorization": "Bearer " + token}
bad = []
def client(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(20):
        c.request("GET", "/api/v1/domains", headers=H)
        r = c.getresponse(); body = r.read()
        doms = json.loads(body)["domains"] if r.status == 200 else []
        for d in doms[:2]:
            for path in ("summary", "timeseries", "sources?limit=5&domain=", "reporters", "reports?domain="):
                q = path + d["domain"] if path.endswith("=") else path + "?domain=" + d["domain"]
                c.request("GET", "/api/v1/" + q, headers=H)
                r = c.getresponse(); r.read()
                if r.status not in (200, 429): bad.append((q, r.status))
        if k == 0 and i % 5 == 0:  # an export the client drops after 1 KiB
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /api/v1/export.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n")
            s.recv(1024); s.close()
        if k == 1:  # uploads
            f = sorted(os.listdir(att))[i]
            c.request("POST", "/api/v1/reports", body=open(os.path.join(att, f), "rb").read(), headers=H)
            r = c.getresponse(); r.read()
            if r.status not in (200, 429): bad.append(("upload", r.status))
ts = [threading.Thread(target=client, args=(k,)) for k in range(6)]
[t.start() for t in ts]; [t.join() for t in ts]
print("bad:", bad)
sys.exit(1 if bad else 0)
PY
api=$!
for m in $(ls "$W/set/mails" | tail -100); do
	"$BIN" deliver --rcpt dmarc@x.test --data "$D" <"$W/set/mails/$m" || echo "deliver $m failed"
done >"$W/deliver.err" 2>&1
wait "$smtp"
smtp_rc=$?
wait "$api"
api_rc=$?
kill "$hup"
wait "$hup" 2>/dev/null
hups=$(grep -c "registry reloaded" "$W/serve.err")
for _ in $(seq 600); do
	[ -z "$(find "$D/spool/new" "$D/spool/cur" -type f 2>/dev/null)" ] && break
	sleep 0.1
done
kill -TERM "$spid"
wait "$spid"
rc=$?
stored=$("$BIN" stats --json --data "$D" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["reports"])')
if [ "$rc" = 0 ] && [ "$smtp_rc" = 0 ] && [ "$api_rc" = 0 ] && [ ! -s "$W/deliver.err" ] &&
	[ "$stored" = 200 ] && [ "$hups" -ge 3 ] && [ "$(races "$W/serve.err")" = 0 ]; then
	ok "serve --workers 2: 200 mails by SMTP and deliver, the API read and written by 6 clients, SIGHUPs: all stored, no race"
else
	fail "serve --workers 2: 200 mails by SMTP and deliver, the API read and written by 6 clients, SIGHUPs: all stored, no race" \
		"exit $rc, smtp client $smtp_rc, api clients $api_rc ($(tail -1 "$W/http.out")), stored $stored, reloads $hups" "$(head -3 "$W/deliver.err")" \
		"$(grep -A24 -m1 WARNING "$W/serve.err")"
fi
finish
