"""Shared harness for the `dmarcd serve` integration tests.

Environment (set by tests/serve/run.sh):
  DMARCD_BIN   the dmarcd binary under test
  DMARCD_WORK  a scratch folder (generated report sets are cached here)
  DMARCD_GEN   the report-mail generator (bench/gen)

Everything listens and connects on loopback only.
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from postfix import Postfix, free_port, remove_aliases, short_alias  # noqa: F401  (shared with bench/intake.py)

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")

READY_TIMEOUT = 10.0


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/serve/run.sh does)" % ", ".join(missing))


# ---------------------------------------------------------------- helpers


def dm(*args, check=True, timeout=60, input=None):
    """Run `dmarcd ARGS...`; returns CompletedProcess (text)."""
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError("dmarcd %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def catch_all(data):
    dm("account", "add", "any", "--catch-all", "--data", data)


def stats(data):
    """Top-level totals of the store; zeros when nothing was stored yet."""
    p = dm("stats", "--json", "--data", data, check=False)
    if p.returncode != 0:
        if "no data folder" in p.stderr or "nothing ingested" in p.stderr:
            return {"reports": 0, "records": 0, "messages": 0}
        raise AssertionError("dmarcd stats failed (%d): %s" % (p.returncode, p.stderr))
    d = json.loads(p.stdout)
    for k in ("reports", "records", "messages"):
        assert isinstance(d.get(k), int), "stats --json: %r is not an integer in %s" % (k, p.stdout[:300])
    return {k: d[k] for k in ("reports", "records", "messages")}


def spool_list(data):
    p = dm("spool", "list", "--json", "--data", data)
    out = []
    for line in p.stdout.splitlines():
        if line.strip():
            e = json.loads(line)
            for k in ("id", "state", "size", "mtime", "why"):
                assert k in e, "spool list --json: no %r in %s" % (k, line)
            out.append(e)
    return out


def totals_of(expected):
    return {k: expected[k] for k in ("reports", "records", "messages")}


def wait_totals(data, want, timeout=60.0, server=None):
    """Poll stats every 0.2 s until the totals equal want (reports, records, messages)."""
    want = totals_of(want)
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = stats(data)
        if got == want:
            return got
        if server is not None:
            server.check_alive()
        time.sleep(0.2)
    extra = ""
    try:
        extra = "\nspool: %s" % spool_list(data)[:10]
    except Exception as e:  # noqa: BLE001 - diagnostics only
        extra = "\nspool list failed: %s" % e
    if server is not None:
        extra += "\nserver stderr (tail):\n" + server.stderr_tail()
    raise AssertionError("totals never reached %s within %.0f s; last %s%s" % (want, timeout, got, extra))


def wait_spool_drained(data, timeout=60.0, allow_failed=False):
    """Poll until no entry is in new/ or cur/; returns the remaining (failed) entries."""
    deadline = time.monotonic() + timeout
    ents = None
    while time.monotonic() < deadline:
        ents = spool_list(data)
        if not [e for e in ents if e["state"] in ("new", "cur")]:
            if not allow_failed:
                assert not ents, "spool has entries left: %s" % ents
            return ents
        time.sleep(0.2)
    raise AssertionError("spool never drained within %.0f s: %s" % (timeout, ents))


_gen_lock = threading.Lock()


def gen_set(n, seed=1):
    """Generate (once per run) `gen typical --mails n --seed seed`; returns
    (list of mail paths, expected dict).  Mails keep their line endings on
    disk; use mail_bytes() to get them with CRLF."""
    d = os.path.join(WORK, "sets", "typical-%d-s%d" % (n, seed))
    with _gen_lock:
        if not os.path.exists(os.path.join(d, "expected.json")):
            if os.path.exists(d):
                shutil.rmtree(d)
            p = subprocess.run([GEN, "typical", d, "--mails", str(n), "--seed", str(seed)],
                               capture_output=True, text=True)
            assert p.returncode == 0, "gen failed: %s" % p.stderr
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    mails = sorted(os.path.join(d, "mails", m) for m in os.listdir(os.path.join(d, "mails")))
    assert len(mails) == n == exp["mails"], (len(mails), n, exp)
    return mails, exp


def to_crlf(b):
    """Normalise any line endings to CRLF."""
    return re.sub(rb"\r?\n", b"\r\n", b.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))


def mail_bytes(path):
    with open(path, "rb") as f:
        b = to_crlf(f.read())
    if not b.endswith(b"\r\n"):
        b += b"\r\n"
    return b


def dot_stuff(b):
    """SMTP transparency (RFC 5321 4.5.2) for a CRLF message."""
    if b.startswith(b"."):
        b = b"." + b
    return b.replace(b"\r\n.", b"\r\n..")


def mail_header(path, pattern, what):
    """The first group of pattern (a multi-line, case-insensitive regex)
    matched in the head of a generated report mail."""
    with open(path, "rb") as f:
        head = f.read(8192).decode("ascii", "replace")
    m = re.search(pattern, head, re.M | re.I)
    assert m, "no %s in %s" % (what, path)
    return m.group(1)


def mail_rcpt(path):
    """The To: address of a generated report mail (dmarc-rua@<domain>)."""
    return mail_header(path, r"^To:\s*(?:.*<)?([^\s<>]+@[^\s<>]+)", "To:")


def mail_policy_domain(path):
    """The policy domain a generated report mail's Subject names."""
    return mail_header(path, r"^Subject: Report domain: (\S+)", "report domain")


def pytest_unconfigure(config):
    remove_aliases()


@pytest.fixture
def sockdir(tmp_path):
    """A short path to a folder inside this test's temporary folder."""
    return short_alias(tmp_path / "sock")


# ---------------------------------------------------------------- raw client


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines  # text after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enh(self):
        first = self.lines[0].split(" ", 1)[0] if self.lines and self.lines[0] else ""
        return first if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", first) else None

    def __repr__(self):
        return "Reply(%d, %r)" % (self.code, self.lines)


class Closed(Exception):
    pass


class Conn:
    """A raw SMTP/LMTP conversation: send bytes, read CRLF-terminated replies."""

    def __init__(self, addr, timeout=5.0, source=None, family=None):
        if isinstance(addr, str):  # Unix socket path
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            fam = family or (socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            if source:
                self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.timeout = timeout
        self.buf = b""
        self.transcript = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.transcript.append((">", data[:300]))
        self.sock.sendall(data)

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete reply within the timeout; have %r" % self.buf[:200])
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            if not chunk:
                raise Closed("connection closed; pending %r" % self.buf[:200])
            self.buf += chunk
            return

    def line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.transcript.append(("<", line[:300]))
        return line.decode("utf-8", "replace")

    def reply(self, timeout=None):
        lines = []
        code = None
        while True:
            ln = self.line(timeout)
            m = re.match(r"^(\d{3})([ -])(.*)$", ln) or re.match(r"^(\d{3})()()$", ln)
            assert m, "malformed reply line %r (transcript %s)" % (ln, self.transcript[-6:])
            c = int(m.group(1))
            assert code is None or c == code, "reply code changed inside a multi-line reply: %r" % lines
            code = c
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, lines)

    def expect(self, code, enh=None, timeout=None, what=""):
        r = self.reply(timeout)
        assert r.code == code, "%s: expected %d%s, got %r (transcript %s)" % (
            what or "reply", code, " " + enh if enh else "", r, self.transcript[-6:])
        if enh is not None:
            assert r.enh == enh, "%s: expected enhanced code %s, got %r" % (what or "reply", enh, r)
        return r

    def cmd(self, line, code, enh=None, timeout=None):
        self.send(line + "\r\n")
        return self.expect(code, enh, timeout, what=line[:60])

    def is_closed(self, timeout=3.0):
        """True when the peer closes within timeout (after any pending data)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except Closed:
            return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def nothing_within(self, seconds):
        """Assert that no byte arrives within seconds (and the peer stays open)."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            return True
        self.buf += chunk
        return False

    def starttls(self, ctx=None):
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        assert self.buf == b"", "clear-text bytes pending before TLS: %r" % self.buf
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return self.sock

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name, 250)
        return r

    def transaction(self, body, sender="sender@reporter.test", rcpts=("dmarc@x.test",)):
        """MAIL/RCPT/DATA/body; returns the final reply (not asserted)."""
        self.cmd("MAIL FROM:<%s>" % sender, 250, "2.1.0")
        for r in rcpts:
            self.cmd("RCPT TO:<%s>" % r, 250, "2.1.5")
        self.cmd("DATA", 354)
        self.send(dot_stuff(body) + b".\r\n")
        return self.reply(timeout=30)


def ehlo_keywords(reply):
    """EHLO reply -> {KEYWORD: params}."""
    kw = {}
    for ln in reply.lines[1:]:
        parts = ln.split(None, 1)
        if parts:
            kw[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
    return kw


QUEUED_RE = re.compile(r"^2\.0\.0 Ok: queued as ([0-9a-z.]+)$")


def assert_queued(reply, what="message"):
    assert reply.code == 250, "%s not accepted: %r" % (what, reply)
    m = QUEUED_RE.match(reply.lines[0])
    assert m, "%s: expected '250 2.0.0 Ok: queued as <ID>', got %r" % (what, reply)
    return m.group(1)


# ---------------------------------------------------------------- the server


def write_config(path, **kv):
    with open(path, "w") as f:
        for k, v in kv.items():
            f.write("%s = %s\n" % (k, v))
    return path


class Server:
    """One `dmarcd serve` process."""

    def __init__(self, data, port=None, smtp6_port=None, lmtp=None, config=None, workers=None,
                 logdir=None):
        self.data = str(data)
        self.port = port or free_port()
        self.smtp6_port = smtp6_port
        self.lmtp = str(lmtp) if lmtp else None
        self.config = str(config) if config else None
        self.workers = workers
        self.logdir = logdir or self.data
        self.proc = None
        self.lines = []
        self.starts = 0
        self.expect_dead = False

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def argv(self):
        # no HTTP: these tests are about intake (tests/http has the API)
        a = [BIN, "serve", "--data", self.data, "--smtp", "127.0.0.1:%d" % self.port, "--http", "none"]
        if self.smtp6_port:
            a += ["--smtp", "[::1]:%d" % self.smtp6_port]
        if self.lmtp:
            a += ["--lmtp", self.lmtp]
        if self.workers:
            a += ["--workers", str(self.workers)]
        if self.config:
            a += ["--config", self.config]
        return a

    def start(self, timeout=READY_TIMEOUT):
        self.starts += 1
        self.expect_dead = False
        self.lines = []
        self.ready = threading.Event()
        self.eof = threading.Event()
        log = open(os.path.join(self.logdir, "serve-stderr-%d.log" % self.starts), "w")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.PIPE)
        proc = self.proc
        lines = self.lines
        ready = self.ready
        eof = self.eof

        def reader():
            for raw in proc.stderr:
                ln = raw.decode("utf-8", "replace").rstrip("\n")
                lines.append(ln)
                log.write(ln + "\n")
                log.flush()
                if ln == "dmarcd: serve: ready" or ln.startswith("dmarcd: serve: ready "):
                    ready.set()
            eof.set()
            log.close()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.eof.wait(1)
                rc = self.proc.poll()
                if rc is None:
                    self.proc.kill()
                    self.proc.wait()
                raise AssertionError("dmarcd serve not ready within %.0f s (exit %s); argv %s\nstderr:\n%s"
                                     % (timeout, rc, " ".join(self.argv()), self.stderr_tail()))
        return self

    def stderr_tail(self, n=40):
        return "\n".join(self.lines[-n:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.expect_dead and self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("dmarcd serve died (exit %s)\nstderr:\n%s"
                                 % (self.proc.returncode, self.stderr_tail()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        self.expect_dead = True
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=10.0):
        """SIGTERM; returns (exit status, seconds taken); kills after timeout."""
        if self.proc is None:
            return None, 0
        if self.proc.poll() is not None:
            return self.proc.returncode, 0
        self.expect_dead = True
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, time.monotonic() - t0
        return rc, time.monotonic() - t0

    def conn(self, timeout=5.0, source=None, greet=True):
        c = Conn(self.addr, timeout=timeout, source=source)
        if greet:
            c.expect(220, what="greeting")
        return c


@pytest.fixture
def make_server(tmp_path):
    """Factory: make_server(catchall=True, config=dict or None, ...) -> started Server.
    Every server is stopped at the end of the test and must not have died."""
    servers = []

    def make(catchall=True, config=None, data=None, start=True, **kw):
        data = data or tmp_path / ("data%d" % len(servers))
        os.makedirs(data, exist_ok=True)
        if catchall:
            catch_all(data)
        cfg = None
        if config is not None:
            cfg = write_config(tmp_path / ("dmarcd%d.conf" % len(servers)), **config)
        s = Server(data, config=cfg, logdir=str(tmp_path), **kw)
        servers.append(s)
        if start:
            s.start()
        return s

    yield make
    problems = []
    for s in servers:
        if s.proc is None:
            continue
        if s.proc.poll() is not None and not s.expect_dead:
            problems.append("server exited by itself (status %s):\n%s" % (s.proc.returncode, s.stderr_tail()))
        s.stop()
        if s.proc.poll() is None:
            s.kill()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory, request):
    return tmp_path_factory.mktemp(request.module.__name__.split(".")[-1])


def module_server(module_tmp, name, catchall=True, config=None, **kw):
    data = module_tmp / name
    os.makedirs(data, exist_ok=True)
    if catchall:
        catch_all(data)
    cfg = write_config(module_tmp / (name + ".conf"), **config) if config else None
    s = Server(data, config=cfg, logdir=str(module_tmp), **kw)
    s.start()
    return s


def finish_module_server(s):
    died = s.proc.poll() is not None
    s.stop()
    if s.alive():
        s.kill()
    if died:
        pytest.fail("module server exited by itself (status %s):\n%s" % (s.proc.returncode, s.stderr_tail()))


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    need("openssl")
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-days", "1", "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return str(cert), str(key)


# ---------------------------------------------------------------- Postfix


@pytest.fixture
def make_postfix(tmp_path):
    need("/usr/sbin/postfix")
    started = []

    def make(relay_domains, transport):
        pf = Postfix(tmp_path / ("postfix%d" % len(started)), relay_domains, transport)
        started.append(pf)
        pf.start()
        return pf

    yield make
    errors = []
    for pf in started:
        try:
            pf.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


def need(tool):
    """Skip the calling test (only it) when tool is not installed; `make
    test` installs every one of them, so a skip here is reported with its
    reason and never expected."""
    if not (shutil.which(tool) or os.path.exists(tool)):
        pytest.skip("%s is not installed (scripts/deps.sh test installs it)" % tool)
