"""postfix.py - a private Postfix instance for the tests and the benchmark.

Postfix(base, relay_domains, transport, extra=None) writes main.cf and
master.cf under base (reached through a short /tmp symlink: the postlog
socket path must stay under 108 bytes), starts `postfix -c` as root with
smtpd on a free 127.0.0.1 port, and stop() ends it through its master pid
and makes sure none of its processes survive.  `extra` adds or overrides
main.cf settings (bench/intake.py puts every mail on hold with it).
Used by tests/serve/conftest.py and bench/intake.py; loopback only.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


_aliases = []


def short_alias(real_dir):
    """A short path (a symlink in /tmp) to real_dir.  Unix socket paths are
    limited to 107 bytes, and both dmarcd's LMTP socket and Postfix's
    public/postlog live under the test's own (long) temporary folder."""
    real_dir = os.path.abspath(str(real_dir))
    os.makedirs(real_dir, exist_ok=True)
    while True:
        link = tempfile.mktemp(prefix="dmsv-", dir="/tmp")
        try:
            os.symlink(real_dir, link)
            break
        except FileExistsError:
            continue
    _aliases.append(link)
    return link



def _proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == pid:
            out.append(int(d))
    return out


MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance in its own folder, smtpd on 127.0.0.1:port."""

    def __init__(self, base, relay_domains, transport, extra=None):
        self.real_base = str(base)
        self.base = short_alias(base)  # the postlog socket path must stay short
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.datad = os.path.join(self.base, "data")
        self.maillog = os.path.join(self.base, "maillog")
        self.port = free_port()
        self.domains = sorted(set(relay_domains))
        self.transport = transport
        self.extra = dict(extra or {})
        self.master_pid = None
        self.known = set()

    def main_cf(self):
        tmap = ", ".join("{%s = %s}" % (d, self.transport) for d in self.domains)
        kv = [
            ("compatibility_level", "3.6"),
            ("queue_directory", self.queue),
            ("data_directory", self.datad),
            ("mail_owner", "postfix"),
            ("setgid_group", "postdrop"),
            ("inet_interfaces", "127.0.0.1"),
            ("inet_protocols", "ipv4"),
            ("myhostname", "relay.test"),
            ("mydomain", "relay.test"),
            ("myorigin", "relay.test"),
            ("mydestination", ""),
            ("mynetworks", "127.0.0.0/8"),
            ("relay_domains", ", ".join(self.domains)),
            ("transport_maps", "inline:{ %s }" % tmap),
            ("local_recipient_maps", ""),
            ("alias_maps", ""),
            ("alias_database", ""),
            ("smtp_tls_security_level", "none"),
            ("lmtp_tls_security_level", "none"),
            ("smtpd_tls_security_level", "none"),
            ("smtp_host_lookup", "native"),
            ("lmtp_host_lookup", "native"),
            ("smtp_dns_support_level", "disabled"),
            ("lmtp_dns_support_level", "disabled"),
            ("smtp_connect_timeout", "5s"),
            ("lmtp_connect_timeout", "5s"),
            ("queue_run_delay", "1s"),
            ("minimal_backoff_time", "1s"),
            ("maximal_backoff_time", "2s"),
            ("delay_warning_time", "0"),
            ("biff", "no"),
            ("append_dot_mydomain", "no"),
            ("smtputf8_enable", "no"),
            ("maillog_file_prefixes", self.base),
            ("maillog_file", self.maillog),
            ("message_size_limit", "33554432"),
        ]
        kv = [(k, v) for k, v in kv if k not in self.extra] + sorted(self.extra.items())
        return "".join("%s = %s\n" % (k, v) for k, v in kv)

    def start(self):
        for d in (self.etc, self.queue, self.datad):
            os.makedirs(d, exist_ok=True)
        # Postfix runs as the postfix user: it must reach its folders
        p = self.real_base
        while True:
            st = os.stat(p)
            if not st.st_mode & 0o001:
                os.chmod(p, st.st_mode | 0o711)
            parent = os.path.dirname(p)
            if parent == p or p in ("/tmp", "/work"):
                break
            p = parent
        os.chown(self.datad, *_ids("postfix"))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(self.main_cf())
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port="127.0.0.1:%d" % self.port))
        env = dict(os.environ)
        env.pop("MAIL_CONFIG", None)
        r = subprocess.run(["/usr/sbin/postfix", "-c", self.etc, "start"], capture_output=True, text=True,
                           env=env, timeout=60)
        if r.returncode != 0:
            # before its logger runs, postfix(1) says why only to syslog or a terminal
            why = subprocess.run(["script", "-qc", "/usr/sbin/postfix -c %s check" % self.etc, "/dev/null"],
                                 capture_output=True, text=True, env=env, timeout=60).stdout
            raise AssertionError("postfix start failed (%d):\n%s\n%s\n%s\n%s"
                                 % (r.returncode, r.stdout, r.stderr, why, self.log_tail()))
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.master_pid = int(f.read().strip())
                if os.path.exists("/proc/%d" % self.master_pid):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        assert self.master_pid, "no %s\n%s" % (pidfile, self.log_tail())
        # wait until smtpd answers
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
                    if not c.recv(512).startswith(b"220"):
                        raise OSError("no 220 greeting")
                    c.sendall(b"QUIT\r\n")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("postfix smtpd not answering on %d\n%s" % (self.port, self.log_tail()))
                time.sleep(0.2)
        return self

    def mine(self):
        """Pids of processes that belong to this instance."""
        want = ("MAIL_CONFIG=%s" % self.etc).encode()
        pids = set()
        for d in os.listdir("/proc"):
            if d.isdigit() and want in _proc_environ(int(d)):
                pids.add(int(d))
        if self.master_pid and os.path.exists("/proc/%d" % self.master_pid):
            pids.add(self.master_pid)
            pids.update(_children(self.master_pid))
        self.known |= pids
        return pids

    def stop(self):
        """SIGTERM to the master pid; wait until none of this instance's processes remain."""
        if not self.master_pid:
            return
        self.mine()
        try:
            os.kill(self.master_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            left = [p for p in self.known | self.mine() if _alive(p)]
            if not left:
                return
            time.sleep(0.2)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise AssertionError("postfix processes survived SIGTERM of the master %d: %s" % (self.master_pid, left))

    def log_tail(self, n=60):
        try:
            with open(self.maillog, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no maillog at %s)" % self.maillog

    def queue_count(self):
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _root, _dirs, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def _ids(user):
    import pwd
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def remove_aliases():
    """Remove the /tmp links short_alias() made."""
    while _aliases:
        link = _aliases.pop()
        try:
            os.unlink(link)
        except OSError:
            pass
