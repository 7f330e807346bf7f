"""Harness for the IMAP pull tests (`dmarcd fetch`, serve's [fetch]).

Environment (set by tests/imap/run.sh): DMARCD_BIN, DMARCD_WORK, DMARCD_GEN.

Each test gets its own Dovecot (/usr/sbin/dovecot -F, Debian's
dovecot-imapd) in a temporary folder: IMAPS and IMAP (STARTTLS) on
127.0.0.1 ports of its own, a certificate made here by openssl from a CA
made here, one passwd-file user, a Maildir that the test fills by writing
files into it.  Dovecot is stopped by its process id.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "reports", "s3cret-imap"
RCPT = "dmarc@reports.example"


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/imap/run.sh does)" % ", ".join(missing))
    for path, what in ((DOVECOT, "dovecot-imapd (`make test` installs it)"),
                       ("/usr/bin/openssl", "openssl (`make test` installs it)")):
        if not os.access(path, os.X_OK):
            raise pytest.UsageError("%s is missing: %s" % (path, what))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dm(*args, check=True, timeout=120):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("dmarcd %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def openssl(*args, cwd):
    subprocess.run(["/usr/bin/openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    """A CA (d/name.pem, d/name.key)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".pem", "-days", "2", "-subj", "/CN=dmarcd test %s" % name, cwd=d)
    return os.path.join(d, name + ".pem")


_certs_lock = threading.Lock()


def certs():
    """(ca.pem, other-ca.pem, server.pem, server.key), made once per run."""
    d = os.path.join(WORK, "certs")
    with _certs_lock:
        if not os.path.exists(os.path.join(d, "server.pem")):
            os.makedirs(d, exist_ok=True)
            make_ca(d, "ca")
            make_ca(d, "other-ca")
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
                    "server.csr", "-subj", "/CN=localhost", cwd=d)
            with open(os.path.join(d, "ext"), "w") as f:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext", cwd=d)
            os.chmod(os.path.join(d, "server.key"), 0o644)
    return tuple(os.path.join(d, n) for n in ("ca.pem", "other-ca.pem", "server.pem", "server.key"))


class Dovecot:
    def __init__(self, root):
        self.root = str(root)
        self.ca, self.other_ca, cert, key = certs()
        self.imaps_port, self.imap_port = free_port(), free_port()
        self.maildir = os.path.join(self.root, "mail", USER, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        # Unix socket paths are short (108 bytes): the run folder is in /tmp
        self.run = tempfile.mkdtemp(prefix="dmimap-", dir="/tmp")
        os.chmod(self.run, 0o755)
        if os.getuid() == 0:
            # Dovecot refuses UID 0 for mail: the mail user is nobody, its
            # login and internal processes the package's users
            self.uid, self.gid = 65534, 65534
            login, internal = "dovenull", "dovecot"
            # nobody must reach the Maildir through pytest's 0700 folders
            p = self.root
            while p.startswith(WORK) and len(p) >= len(WORK):
                os.chmod(p, os.stat(p).st_mode | 0o711)
                p = os.path.dirname(p)
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            login = internal = pwd.getpwuid(os.getuid()).pw_name
        self.passwd = os.path.join(self.root, "passwd")
        with open(self.passwd, "w") as f:
            f.write("%s:{PLAIN}%s:%d:%d::%s::\n" % (USER, PASSWORD, self.uid, self.gid,
                                                   os.path.join(self.root, "mail", USER)))
        os.chmod(self.passwd, 0o644)
        self.chown(os.path.join(self.root, "mail"))
        self.conf = os.path.join(self.root, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""base_dir = {run}
state_dir = {run}/state
log_path = {r}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
disable_plaintext_auth = yes
auth_failure_delay = 0
first_valid_uid = 0
default_login_user = {login}
default_internal_user = {internal}
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = passwd-file
  args = {passwd}
}}
mail_location = maildir:{maildir}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
""".format(r=self.root, run=self.run, cert=cert, key=key, login=login, internal=internal, passwd=self.passwd,
           maildir=self.maildir, imap=self.imap_port, imaps=self.imaps_port))
        self.proc = None
        self.seq = 0

    def chown(self, path):
        if os.getuid() != 0:
            return
        for d, dirs, files in os.walk(path):
            os.chown(d, self.uid, self.gid)
            for n in files:
                os.chown(os.path.join(d, n), self.uid, self.gid)

    def start(self):
        log = open(os.path.join(self.root, "dovecot-stderr.log"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("dovecot exited %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.imaps_port), 0.2):
                    with socket.create_connection(("127.0.0.1", self.imap_port), 0.2):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("dovecot not listening:\n" + self.log())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.run, ignore_errors=True)

    def log(self):
        out = ""
        for n in ("dovecot.log", "dovecot-stderr.log"):
            p = os.path.join(self.root, n)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out += f.read()[-3000:]
        return out

    # ---- the mailbox, as files

    def deliver(self, data):
        """Put one message into INBOX (Maildir new/), as an MDA would."""
        self.seq += 1
        name = "%d.M%dP%d.test" % (time.time(), self.seq, os.getpid())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        if os.getuid() == 0:
            os.chown(tmp, self.uid, self.gid)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        return name

    def folder(self, name=None):
        """{file name: flags} of a folder (None: INBOX)."""
        d = self.maildir if name is None else os.path.join(self.maildir, "." + name)
        out = {}
        for sub in ("new", "cur"):
            p = os.path.join(d, sub)
            if os.path.isdir(p):
                for n in os.listdir(p):
                    base, _, flags = n.partition(":2,")
                    out[n] = flags
        return out

    def url(self, scheme="imaps", user=USER, mailbox="INBOX"):
        port = self.imaps_port if scheme == "imaps" else self.imap_port
        return "%s://%s@127.0.0.1:%d/%s" % (scheme, user, port, mailbox)

    def new_uidvalidity(self):
        """Make the server give INBOX a new UIDVALIDITY (what a restore or a
        migration of the mailbox does): its UID list and indexes are made
        again from the files."""
        old = None
        ul = os.path.join(self.maildir, "dovecot-uidlist")
        with open(ul) as f:
            head = f.readline().split()
        for tok in head:
            if tok.startswith("V"):
                old = int(tok[1:])
        for n in os.listdir(self.maildir):
            if n.startswith("dovecot"):
                os.unlink(os.path.join(self.maildir, n))
        with open(ul, "w") as f:
            f.write("3 V%d N1\n" % (old + 1000))
        if os.getuid() == 0:
            os.chown(ul, self.uid, self.gid)
        return old + 1000


@pytest.fixture
def dovecot(tmp_path):
    d = Dovecot(tmp_path / "dovecot").start()
    yield d
    d.stop()


def write_config(path, data, sources):
    """A config file: data_dir, then one [fetch] section per dict."""
    with open(path, "w") as f:
        f.write("data_dir = %s\nlog_level = info\n" % data)
        for s in sources:
            f.write("\n[fetch]\n")
            for k, v in s.items():
                f.write("%s = %s\n" % (k, v))
    return str(path)


def source(dv, **kv):
    s = {"url": dv.url(), "password": PASSWORD, "rcpt": RCPT, "ca_file": dv.ca, "after": "move:Processed"}
    s.update(kv)
    return s


def fetch(cfg, *args, check=True, timeout=120):
    """`dmarcd fetch --json`: (process, message objects, mailbox objects)."""
    p = dm("fetch", "--json", "--config", cfg, *args, check=check, timeout=timeout)
    objs = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    return p, [o for o in objs if o["type"] == "message"], [o for o in objs if o["type"] == "mailbox"]


def spool_new(data):
    d = os.path.join(str(data), "spool", "new")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


_gen_lock = threading.Lock()


def gen_set(n, seed=1):
    """`gen typical --mails n`, once per run: (list of mail bytes, expected)."""
    d = os.path.join(WORK, "sets", "typical-%d-s%d" % (n, seed))
    with _gen_lock:
        if not os.path.exists(os.path.join(d, "expected.json")):
            subprocess.run([GEN, "typical", d, "--mails", str(n), "--seed", str(seed)], check=True,
                           capture_output=True)
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    mails = []
    for m in sorted(os.listdir(os.path.join(d, "mails"))):
        with open(os.path.join(d, "mails", m), "rb") as f:
            mails.append(f.read())
    return mails, exp


def stats(data):
    p = dm("stats", "--json", "--data", data, check=False)
    if p.returncode != 0:
        return {"reports": 0, "records": 0, "messages": 0}
    d = json.loads(p.stdout)
    return {k: d[k] for k in ("reports", "records", "messages")}


class Serve:
    """`dmarcd serve` without SMTP or HTTP: its workers store what is in the
    spool (and its [fetch] sections pull, when the config has some)."""

    def __init__(self, data, config=None):
        self.data = str(data)
        smtp = "none" if config else "127.0.0.1:%d" % free_port()
        argv = [BIN, "serve", "--data", self.data, "--smtp", smtp, "--http", "none", "--workers", "1"]
        if config:
            argv += ["--config", config]
        self.log = os.path.join(self.data, "..", "serve-%d.log" % free_port())
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "serve: ready" in self.text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("serve not ready:\n" + self.text())

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("serve did not stop on SIGTERM:\n" + self.text()[-3000:])
            assert rc == 0, "serve exited %d:\n%s" % (rc, self.text()[-3000:])
        self.out.close()


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def store_all(data, want, config=None):
    """Start serve, wait until the spool is empty (stored or failed) and the
    totals are want; stop it.  Returns the failed entries."""
    sv = Serve(data, config)
    try:
        want = {k: want[k] for k in ("reports", "records", "messages")}
        wait_for(lambda: not spool_new(data) and not os.listdir(os.path.join(str(data), "spool", "cur"))
                 and stats(data) == want, 60, "the store to hold %s (has %s)" % (want, stats(data)))
    finally:
        sv.stop()
    return sorted(n for n in os.listdir(os.path.join(str(data), "spool", "failed")) if not n.endswith(".why"))
