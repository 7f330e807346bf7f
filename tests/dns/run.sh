#!/bin/bash
# run.sh BINARY WORK_DIR - `dmarcd record check` (and the DNS code under
# it) against a real DNS server: knotd from Debian's `knot`, started by
# the tests on a loopback port with zones they write (tests/dns/knot.py),
# with pytest.  WORK_DIR is emptied first.  Extra arguments go to pytest.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
[ -x /usr/sbin/knotd ] || { echo "dns: knotd missing (make test installs knot)" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
export PYTHONDONTWRITEBYTECODE=1 DMARCD_BIN=$bin
cd "$here"
exec /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
