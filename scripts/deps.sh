#!/bin/sh
# deps.sh - install the Debian packages dmarcd needs, if any are missing.
#
# Idempotent: does nothing when everything is there.  As root it runs
# apt-get itself; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh [build|test|bench]   (default: build)
set -eu

what=${1:-build}

# Build: compiler, cmake, and the libraries of DESIGN.md section 4 that
# the code uses so far (c-ares and libpsl for the DNS checks,
# libmaxminddb for the enrichment's IP databases); Node.js and npm for the
# dashboard's charting package (uPlot, from npm, copied into web/vendor/)
# and the IP databases (npm packages; the build makes the ASN one).
pkgs="build-essential cmake pkg-config libgmime-3.0-dev libexpat1-dev zlib1g-dev
libarchive-dev libsqlite3-dev libssl-dev libevent-dev libjansson-dev libcurl4-openssl-dev libpq-dev
libc-ares-dev libpsl-dev publicsuffix libmaxminddb-dev nodejs"
# npm: Debian's package, unless an npm is there already (NodeSource's
# nodejs carries its own and conflicts with Debian's npm)
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
case "$what" in
test)
	# cmocka for unit tests, clang + compiler-rt for the libFuzzer targets,
	# sqlite3 and python3 for the golden and CLI tests, GNU time for the
	# peak-memory checks of the hostile inputs.
	# python3-pytest, swaks (+ Net::SSLeay for its --tls), openssl and
	# postfix for the tests of
	# `dmarcd serve` against real clients and a real MTA; chromium for the
	# dashboard's browser tests (driven by playwright-core from npm);
	# awscli, the independent S3 client that checks what the S3 archive
	# stored in s3rver (from npm); PostgreSQL 15's and ClickHouse's servers
	# for the tests of those stores (each suite starts its own in a
	# temporary folder, from a config file of its own), curl to see that
	# ClickHouse answers; knot, the DNS server the record checks are
	# tested against (tests/dns starts its own knotd on loopback);
	# dovecot-imapd, the IMAP server `dmarcd fetch` is tested against
	# (tests/imap starts its own; the system's is kept stopped below).
	pkgs="$pkgs libcmocka-dev clang libclang-rt-14-dev sqlite3 python3 time
python3-pytest swaks libnet-ssleay-perl openssl postfix chromium awscli postgresql-15
clickhouse-server curl knot dovecot-imapd"
	;;
bench)
	# GNU time for peak RSS; Postfix (smtp-source, and smtpd to compare
	# with) for the intake figures; chromium for the dashboard's first load;
	# PostgreSQL 15 and ClickHouse for the figures of those stores; knot
	# (a DNS server answering every reverse name) and sqlite3 for the
	# enrichment figures.
	pkgs="$pkgs time python3 postfix chromium postgresql-15 clickhouse-server curl knot sqlite3"
	;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

install_debian() {
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
	# Dovecot is only run by the tests, in their own folder: its package must
	# not leave an IMAP server on ports 143/993 of every interface.  A
	# policy-rc.d (unless the machine has one) keeps the package's scripts
	# from starting it; afterwards it is stopped and kept from starting at
	# boot, whatever started it.
	policy=""
	case " $missing " in
	*" dovecot-imapd "* | *" dovecot-core "*)
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			policy=/usr/sbin/policy-rc.d
			printf '#!/bin/sh\n# dmarcd scripts/deps.sh: no service starts during this install\nexit 101\n' >"$policy"
			chmod 755 "$policy"
		fi
		;;
	esac
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
		[ -z "$policy" ] || rm -f "$policy"
		exit 1
	}
	[ -z "$policy" ] || rm -f "$policy"
	system_dovecot_off
}

# The system-wide Dovecot stopped and disabled (idempotent; the tests start
# their own).
system_dovecot_off() {
	[ -x /usr/sbin/dovecot ] || return 0
	[ "$(id -u)" -eq 0 ] || return 0
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
	else
		update-rc.d dovecot disable >/dev/null 2>&1 || true
		if [ -s /run/dovecot/master.pid ]; then
			/usr/sbin/dovecot stop >/dev/null 2>&1 || true
		fi
	fi
}

# The npm packages of package-lock.json, into node_modules/ (npm ci, only
# when the lock file changed since the last install), and uPlot's two
# files into web/vendor/ where dmarcd serves them from.
npm_packages() {
	top=$(cd "$(dirname "$0")/.." && pwd)
	stamp=$top/node_modules/.dmarcd-installed
	if ! cmp -s "$top/package-lock.json" "$stamp" 2>/dev/null; then
		echo "installing npm packages (package-lock.json)" >&2
		(cd "$top" && npm ci --no-audit --no-fund --loglevel=error >&2) || {
			echo "npm ci failed" >&2
			exit 1
		}
		cp "$top/package-lock.json" "$stamp"
	fi
	mkdir -p "$top/web/vendor"
	for f in uPlot.iife.min.js uPlot.min.css; do
		cmp -s "$top/node_modules/uplot/dist/$f" "$top/web/vendor/$f" ||
			cp "$top/node_modules/uplot/dist/$f" "$top/web/vendor/$f"
	done
}

if [ -n "$missing" ]; then
	install_debian
elif [ "$what" = test ]; then
	system_dovecot_off
fi
npm_packages
