#!/bin/bash
# fresh-check.sh - the README's two commands on a freshly bootstrapped
# Debian 12, as a newcomer runs them.
#
#   scripts/fresh-check.sh            (or: make fresh-check; needs root)
#
# 1. debootstrap --variant=minbase bookworm into a temporary folder under
#    /var/tmp (Debian's own debootstrap, installed here when missing);
# 2. inside it, in a private mount and PID namespace: apt-get install git
#    and make, nothing else; git clone this repository's current commit;
# 3. `make run` until its SMTP port (127.0.0.1:2525) answers, then stop it
#    by its process id;
# 4. `make test` with CI=true and no input, as CI runs it.
#
# Prints what failed and exits non-zero; the last lines say how each step
# went.  Everything it mounted lives in its own mount namespace and goes
# with it; its processes live in their own PID namespace and die with it;
# the folder is removed at the end, also on Ctrl-C.  Only the commit is
# checked: uncommitted changes are not in the clone (a warning says so).
#
# Environment: MIRROR (default http://deb.debian.org/debian), KEEP=1 to
# keep the folder for a look afterwards, RUN_TIMEOUT (seconds for `make
# run` to answer, default 1800).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
mirror=${MIRROR:-http://deb.debian.org/debian}
run_timeout=${RUN_TIMEOUT:-1800}
port=2525

say() { printf 'fresh-check: %s\n' "$*"; }
die() {
	say "FAILED: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (it bootstraps Debian and chroots into it)"
commit=$(git -C "$repo" rev-parse HEAD) || die "$repo is not a git checkout"
if [ -n "$(git -C "$repo" status --porcelain)" ]; then
	say "warning: uncommitted changes are not checked, only commit $commit"
fi
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
	die "127.0.0.1:$port is in use on this machine; the bootstrapped system shares its network, so stop that first"
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	say "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
		die "cannot install debootstrap"
fi

work=$(mktemp -d /var/tmp/dmarcd-fresh.XXXXXX)
root=$work/root
log=$work/log
ns_pid=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
		kill -TERM "$ns_pid" 2>/dev/null || true # unshare --kill-child ends them all
		wait "$ns_pid" 2>/dev/null || true
	fi
	if grep -q " $work" /proc/self/mountinfo; then
		say "something is still mounted under $work; not removing it" >&2
	elif [ "${KEEP:-0}" = 1 ]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "bootstrapping Debian 12 (minbase) into $root"
t0=$(date +%s)
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
say "bootstrapped in $(($(date +%s) - t0)) s"

# What a Debian 12 machine has beyond debootstrap's: the updates and
# security suites, a resolver, and (as in every chroot) no service starts
# at package installation: there is no init to start them.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The network's own certificate authorities, as this machine trusts them
# (a TLS-inspecting proxy in front of the npm registry, for one): part of
# where the machine stands, not of what the README installs.
extra_ca=
for f in /usr/local/share/ca-certificates/*.crt; do
	[ -f "$f" ] || continue
	mkdir -p "$root/usr/local/share/ca-certificates"
	cp "$f" "$root/usr/local/share/ca-certificates/"
	cat "$f" >>"$root/etc/fresh-check-extra-ca.pem"
	extra_ca=/etc/fresh-check-extra-ca.pem
done
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/mnt/src"

# The steps inside, as the newcomer types them.
cat >"$root/root/fresh-steps.sh" <<EOF
#!/bin/bash
set -u
export DEBIAN_FRONTEND=noninteractive HOME=/root LANG=C.UTF-8
${extra_ca:+export NODE_EXTRA_CA_CERTS=$extra_ca}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
step() { printf '\n=== fresh-check: %s\n' "\$*"; }
step "apt-get install git make"
apt-get update -qq && apt-get install -y -qq git make >/dev/null || { echo "RESULT install FAILED"; exit 1; }
step "git clone (commit $commit)"
git clone -q /mnt/src /root/dmarcd && cd /root/dmarcd && git checkout -q $commit ||
	{ echo "RESULT clone FAILED"; exit 1; }

step "make run"
t0=\$(date +%s)
setsid make run </dev/null >/root/make-run.log 2>&1 &
run=\$!
answered=
while [ \$((\$(date +%s) - t0)) -lt $run_timeout ]; do
	if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then answered=1; break; fi
	kill -0 \$run 2>/dev/null || break
	sleep 1
done
tail -25 /root/make-run.log
kill -TERM -- -\$run 2>/dev/null
wait \$run
if [ -n "\$answered" ]; then
	echo "RESULT make-run ok: SMTP on 127.0.0.1:$port answered after \$((\$(date +%s) - t0)) s"
else
	echo "RESULT make-run FAILED: SMTP never answered"
	exit 1
fi

step "make test (CI=true, no input)"
t0=\$(date +%s)
CI=true make test </dev/null >/root/make-test.log 2>&1
rc=\$?
tail -40 /root/make-test.log
if [ \$rc = 0 ]; then
	echo "RESULT make-test ok: passed in \$((\$(date +%s) - t0)) s"
else
	grep -n -E "FAIL|Error|error:|failed" /root/make-test.log | tail -30
	echo "RESULT make-test FAILED (exit \$rc) after \$((\$(date +%s) - t0)) s"
	exit 1
fi
EOF
chmod 755 "$root/root/fresh-steps.sh"

# A private mount namespace (mounts vanish with it) and PID namespace
# (every process started inside dies with it).
say "running the README's commands inside (log: $log)"
unshare --mount --pid --fork --kill-child --propagation private /bin/bash -c '
	set -e
	root=$1 repo=$2
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount --rbind /dev "$root/dev"
	mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
	mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
	mount --bind "$repo" "$root/mnt/src"
	mount -o remount,bind,ro "$root/mnt/src"
	exec chroot "$root" /root/fresh-steps.sh
' fresh "$root" "$repo" </dev/null >"$log" 2>&1 &
ns_pid=$!
rc=0
wait "$ns_pid" || rc=$?
ns_pid=
grep -v '^RESULT' "$log" | tail -60
echo
grep '^RESULT' "$log" | sed 's/^RESULT /fresh-check: /' || true
[ "$rc" = 0 ] || die "a step failed (exit $rc); the lines above say which"
say "passed: make run and make test on a fresh Debian 12, commit $commit, in $(($(date +%s) - t0)) s"
