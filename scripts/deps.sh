#!/bin/sh
# deps.sh - install the Debian packages dmarcd needs, if any are missing.
#
# Idempotent: does nothing when everything is there.  As root it runs
# apt-get itself; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh [build|test|bench]   (default: build)
set -eu

what=${1:-build}

# Build: compiler, cmake, and the libraries of DESIGN.md section 4 that
# the code uses so far.
pkgs="build-essential cmake pkg-config libgmime-3.0-dev libexpat1-dev zlib1g-dev
libarchive-dev libsqlite3-dev libssl-dev libevent-dev"
case "$what" in
test)
	# cmocka for unit tests, clang + compiler-rt for the libFuzzer targets,
	# sqlite3 and python3 for the golden and CLI tests, GNU time for the
	# peak-memory checks of the hostile inputs.
	# python3-pytest, swaks (+ Net::SSLeay for its --tls), openssl and
	# postfix for the tests of
	# `dmarcd serve` against real clients and a real MTA.
	pkgs="$pkgs libcmocka-dev clang libclang-rt-14-dev sqlite3 python3 time
python3-pytest swaks libnet-ssleay-perl openssl postfix"
	;;
bench)
	# GNU time for peak RSS; Postfix (smtp-source, and smtpd to compare
	# with) for the intake figures.
	pkgs="$pkgs time python3 postfix"
	;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "dmarcd needs these Debian packages:$missing" >&2
	echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix is only run by the tests, in their own folder: no system-wide
# configuration, no service started at install time.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
