#!/bin/bash
# run.sh BINARY WORK_DIR - tests of `dmarcd fetch` and serve's [fetch]
# (IMAP pull) with pytest, against a real Dovecot (Debian's dovecot-imapd)
# that each test starts in its own temporary folder on loopback ports,
# with a certificate authority and a server certificate made by openssl,
# a passwd-file user and a Maildir; it is stopped by its process id.
#
# WORK_DIR is emptied first; pytest's temporary folders live inside it.
# Exit status is pytest's.  Extra arguments go to pytest (-k, -x, -v).
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
export PYTHONDONTWRITEBYTECODE=1
export DMARCD_BIN=$bin DMARCD_WORK=$work DMARCD_GEN=$(dirname "$bin")/bench/gen
cd "$here"
/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider --basetemp="$work/pytest" "$@" "$here"
