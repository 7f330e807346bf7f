#!/usr/bin/env bash
# What `make run` does after the build (scripts/run.sh), on the real binary:
# it starts `dmarcd serve` with demo data and prints a login link whose
# token reads that data over the API; run again in the same folder it
# starts the same server (nothing added twice, the old login token
# revoked); while a server already runs on the folder, or when another
# program holds a port, it says so in one line with what to do instead.
#
#   tests/makerun/run.sh BINARY WORK_DIR
set -u

SUITE=makerun
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/lib.sh" "$@"
build=$(dirname "$BIN")
D=$W/var
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
hport=$(free_port)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

# start scripts/run.sh in the background; its pid becomes dmarcd serve's (exec)
start_run() {
	SMTP=127.0.0.1:$2 HTTP=127.0.0.1:$hport "$repo/scripts/run.sh" "$build" "$3" >"$W/$1.out" 2>&1 &
	pid=$!
	pids+=("$pid")
}
answers() {
	for _ in $(seq 150); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
one_line() { [ "$(grep -c . "$1")" = 1 ]; }

start_run first "$port" "$D"
first=$pid
if answers "$port" "$first"; then ok "first run: SMTP answers"; else fail "first run: SMTP answers" "$(cat "$W/first.out")"; fi
check "first run: demo mails generated" test "$(ls "$D/demo/mails" | wc -l)" -gt 0
# the login link's token reads the demo data: three domains
token=$(grep -o '#token=dmt_[0-9]*_[A-Za-z0-9_-]*' "$W/first.out" | head -1 | cut -d= -f2)
domains=$(python3 - "$hport" "$token" <<'PY'
import json, sys, time, urllib.request
port, token = sys.argv[1], sys.argv[2]
req = urllib.request.Request("http://127.0.0.1:%s/api/v1/domains" % port,
                             headers={"Authorization": "Bearer " + token})
for _ in range(50):
    try:
        print(len(json.load(urllib.request.urlopen(req, timeout=5))["domains"]))
        break
    except OSError:
        time.sleep(0.1)
PY
)
check "first run: the login link's token sees the 3 demo domains" test "$domains" = 3
check "first run: says how to send one" grep -q "send a demo report" "$W/first.out"
accounts=$("$BIN" account list --json --data "$D" 2>/dev/null | wc -l)
check "first run: one catch-all account" test "$accounts" = 1

SMTP=127.0.0.1:$((port + 1)) HTTP=127.0.0.1:$hport "$repo/scripts/run.sh" "$build" "$D" >"$W/second.out" 2>&1
rc=$?
if [ "$rc" != 0 ] && one_line "$W/second.out" && grep -q "already runs on" "$W/second.out" &&
	grep -q "DATA=" "$W/second.out"; then
	ok "second run on a busy folder: one line, another folder suggested"
else
	fail "second run on a busy folder: one line, another folder suggested" "exit $rc: $(cat "$W/second.out")"
fi

kill -TERM "$first"
wait "$first" 2>/dev/null
start_run third "$port" "$D"
third=$pid
if answers "$port" "$third"; then ok "run again in the same folder: starts"; else fail "run again in the same folder: starts" "$(cat "$W/third.out")"; fi
check "run again: no demo generated twice" sh -c "grep -q 'send a demo report' '$W/third.out' && ! grep -q 'generating demo' '$W/third.out'"
check "run again: still one account" test "$("$BIN" account list --json --data "$D" 2>/dev/null | wc -l)" = 1
live=$("$BIN" token list --json --data "$D" | python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if json.loads(l)["name"] == "make-run" and json.loads(l)["revoked_at"] is None))')
check "run again: one live make-run token, the old one revoked" test "$live" = 1

# the port held by another program (here the server of the third run):
# a fresh folder, the same port
SMTP=127.0.0.1:$port HTTP=127.0.0.1:$(free_port) "$repo/scripts/run.sh" "$build" "$W/var2" >"$W/taken.out" 2>&1
rc=$?
if [ "$rc" != 0 ] && one_line "$W/taken.out" && grep -q "already in use" "$W/taken.out" &&
	grep -q "make run SMTP=127.0.0.1:" "$W/taken.out"; then
	ok "port taken: one line, another port suggested"
else
	fail "port taken: one line, another port suggested" "exit $rc: $(cat "$W/taken.out")"
fi
# the HTTP port held by another program
SMTP=127.0.0.1:$(free_port) HTTP=127.0.0.1:$hport "$repo/scripts/run.sh" "$build" "$W/var3" >"$W/htaken.out" 2>&1
rc=$?
if [ "$rc" != 0 ] && one_line "$W/htaken.out" && grep -q "make run HTTP=127.0.0.1:" "$W/htaken.out" &&
	[ ! -e "$W/var3" ]; then
	ok "HTTP port taken: one line, another port suggested, nothing created"
else
	fail "HTTP port taken: one line, another port suggested, nothing created" "exit $rc: $(cat "$W/htaken.out")"
fi
kill -TERM "$third"
wait "$third" 2>/dev/null
finish
