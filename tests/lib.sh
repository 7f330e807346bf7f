# lib.sh - the harness the command-line suites share (tests/cli,
# tests/spool, tests/registry).  A suite starts with
#
#   SUITE=name
#   . "$(dirname "$0")/../lib.sh" "$@"
#
# which checks the arguments (BINARY WORK_DIR), empties WORK_DIR and moves
# into it (a default ./var would land there), points TMPDIR inside it and
# defines:
#   ok NAME / fail NAME DETAIL...   count a check
#   check NAME COMMAND...           ok when COMMAND succeeds
#   run ARGS...                     the binary, stdin from $IN (default
#                                   /dev/null); stdout $W/out, stderr
#                                   $W/err, exit status $rc
#   show / expect_rc NAME WANT / has FILE PATTERN
#   finish                          the summary line; the suite's status
# Variables: BIN (absolute), W (absolute work dir), start (seconds).
if [ $# -lt 2 ]; then
	echo "usage: $0 BINARY WORK_DIR" >&2
	exit 2
fi
BIN=$1
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
if [ ! -x "$BIN" ]; then
	echo "$SUITE: $BIN: not an executable" >&2
	exit 2
fi
W=$2
rm -rf "$W"
mkdir -p "$W" || exit 2
W=$(cd "$W" && pwd)
cd "$W" || exit 2
mkdir -p "$W/tmp"
export LC_ALL=C TZ=UTC TMPDIR=$W/tmp
unset DMARCD_CONFIG
start=$(date +%s)

checks=0
failures=0
ok() {
	checks=$((checks + 1))
	echo "ok   $1"
}
fail() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "FAIL $1"
	shift
	for l in "$@"; do
		printf '     %s\n' "$l"
	done
}
# check NAME CONDITION-COMMAND... : ok when the command succeeds
check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "check failed: $*"; fi
}
IN=/dev/null
run() {
	"$BIN" "$@" >"$W/out" 2>"$W/err" <"$IN"
	rc=$?
}
show() {
	echo "exit $rc; stdout: $(head -c 600 "$W/out" | tr '\n' '|'); stderr: $(head -c 400 "$W/err" | tr '\n' '|')"
}
expect_rc() {
	local name=$1 want=$2
	if [ "$rc" = "$want" ]; then ok "$name"; else fail "$name" "expected exit $want" "$(show)"; fi
}
has() { grep -q -e "$2" "$1"; }
finish() {
	echo "$SUITE: $((checks - failures))/$checks checks passed in $(($(date +%s) - start))s"
	[ "$failures" = 0 ]
}
