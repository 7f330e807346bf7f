#!/bin/bash
# run.sh BINARY WORK_DIR - tests of the S3 archive (archive = s3) with
# pytest: a real S3 server (s3rver from npm, node_modules/) started on
# loopback in a temporary folder, behind tests/s3/sigv4_proxy.py, which
# checks every request's AWS signature with botocore (the copy in Debian's
# awscli) because s3rver does not; Debian's `aws` lists and fetches what
# dmarcd stored, as an independent client.
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
