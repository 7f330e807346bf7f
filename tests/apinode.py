"""What the store suites (tests/pg, tests/ch) share: a `dmarcd serve` node
answering the API on loopback, the side-by-side comparison of its answers
with a SQLite node's for the same mails, and two nodes serving the tenants
of their shared registry.  Loaded by path (importlib) by their test
files."""
import contextlib
import http.client
import json
import os
import smtplib
import socket
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.environ.get("DMARCD_CORPUS") or os.path.join(HERE, "..", "..", "shared", "corpus",
                                                         "parsedmarc")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """`dmarcd serve --smtp none --http 127.0.0.1:PORT` and admin tokens."""

    def __init__(self, binary, tmp_path, name, args):
        self.port = free_port()
        self.log = open(tmp_path / ("%s.log" % name), "wb")
        # requests go round three tokens: a comparison asks more than one
        # token's burst of the rate limiter (tests/http/test_ratelimit.py)
        self.tokens = []
        for i in range(3):
            p = subprocess.run([binary, "token", "add", "--admin", "--name", "t%d" % i] +
                               [str(a) for a in args], capture_output=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            assert p.returncode == 0, p.stderr
            self.tokens.append(p.stdout.decode().strip())
        self.n = 0
        self.proc = subprocess.Popen([binary, "serve", "--smtp", "none", "--http",
                                      "127.0.0.1:%d" % self.port, "--workers", "1"] +
                                     [str(a) for a in args],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        try:
            deadline = time.monotonic() + 30
            while self.get("/healthz")[0] != 200:
                assert self.proc.poll() is None, \
                    "serve exited: %s" % open(self.log.name, "rb").read()
                assert time.monotonic() < deadline, "serve never healthy"
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def get(self, path):
        """(status, body); a 429 of the rate limiter is waited out."""
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.n += 1
                tok = self.tokens[self.n % len(self.tokens)]
                c.request("GET", path, headers={"Authorization": "Bearer " + tok})
                r = c.getresponse()
                body = r.read()
                c.close()
            except OSError:
                return 0, b""
            if r.status != 429:
                return r.status, body
            time.sleep(float(r.getheader("Retry-After") or 1))
        raise AssertionError("still 429: " + path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()


@contextlib.contextmanager
def nodes(binary, tmp_path, *specs):
    """Nodes for specs ((name, args), ...), every one started stopped at
    the end, also when a later one fails to start."""
    started = []
    try:
        for name, args in specs:
            started.append(Node(binary, tmp_path, name, args))
        yield started
    finally:
        for n in started:
            n.stop()


def _identity(item):
    return (item["begin"], item["org_name"] or "", item["report_id"], item["policy_domain"])


def first_difference(a, b, where=""):
    """Where two JSON values first differ, and how (for an assertion's
    message: a whole answer is too long to read)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), where + "." + k)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d items against %d" % (where, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, "%s[%d]" % (where, i))
    return "%s: %r against %r" % (where, a, b)


def compare_api(sq, other, same_ties=True, details=40):
    """Every list, detail and source of `other` equals SQLite's (`sq`),
    report ids and the time of ingest aside (each store numbers its
    reports itself), and export.csv: byte for byte when same_ties, else
    line for line (reports that begin at the same second come in id
    order, and ids differ).  Returns how many reports were compared."""

    def both(path):
        a, b = sq.get(path), other.get(path)
        assert a[0] == 200, (path, a)
        assert b[0] == 200, (path, b)
        if "export.csv" in path:
            return a[1], b[1]
        return json.loads(a[1]), json.loads(b[1])

    a, b = both("/api/v1/domains")
    assert a == b and len(a["domains"]) > 1
    ids = {}  # SQLite's report id -> the other store's, by report identity
    for dom in a["domains"]:
        q = "?domain=" + dom["domain"]
        for path in ["summary" + q, "timeseries" + q, "reporters" + q,
                     "summary" + q + "&from=%s&to=%s" % (dom["first"], dom["first"]),
                     "timeseries" + q + "&from=%s" % dom["last"]] + \
                    ["sources" + q + "&limit=1000&sort=" + s
                     for s in ("messages", "dmarc_fail", "dmarc_pass", "ip")] + \
                    ["sources" + q + "&limit=7&offset=3&sort=dmarc_fail"]:
            a, b = both("/api/v1/" + path)
            assert a == b, (path, first_difference(a, b))
        srcs = both("/api/v1/sources" + q + "&limit=5")[0]["items"]
        for it in srcs:
            a, b = both("/api/v1/sources/%s%s" % (it["ip"], q))
            assert a == b, it["ip"]
        a, b = both("/api/v1/reports" + q + "&limit=1000")
        assert a["total"] == b["total"] and len(a["items"]) == len(b["items"]) > 0
        for lst in (a["items"], b["items"]):
            begins = [x["begin"] for x in lst]
            assert begins == sorted(begins, reverse=True)  # newest first
        if not same_ties:
            a["items"].sort(key=_identity)
            b["items"].sort(key=_identity)
        for x, y in zip(a["items"], b["items"]):
            ids[x["id"]] = y["id"]
            x["id"] = y["id"]
            x["received_at"] = y["received_at"]  # when each ingest ran
        assert a == b
    for sid, oid in list(ids.items())[:details]:
        a, b = sq.get("/api/v1/reports/%d" % sid), other.get("/api/v1/reports/%d" % oid)
        assert a[0] == b[0] == 200
        x, y = json.loads(a[1]), json.loads(b[1])
        x["id"], x["received_at"] = y["id"], y["received_at"]
        assert x == y
    a, b = both("/api/v1/export.csv")
    assert a.count(b"\n") > 100
    if same_ties:
        assert a == b
    else:
        la, lb = a.split(b"\n"), b.split(b"\n")
        assert la[0] == lb[0] and sorted(la) == sorted(lb)
    # not found looks the same
    assert sq.get("/api/v1/summary?domain=nowhere.example")[0] == \
        other.get("/api/v1/summary?domain=nowhere.example")[0] == 404
    return len(ids)


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "nothing listens on %d" % port
            time.sleep(0.1)


def until(cond, why, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, why
        time.sleep(0.2)


def shared_tenants(binary, confs, tmp_path, stored_there):
    """Two nodes (confs: their configurations, one shared store) serve the
    same tenants: an account, domain, address or token made with node 0's
    configuration is served by both (each node refreshes its own snapshot
    within seconds when the registry moves), a token revoked with node 1's stops
    working on both.  stored_there(): the account is in the shared store."""

    def dm(*args):
        p = subprocess.run([binary] + [str(a) for a in args], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        return p.stdout.decode()

    procs, smtp, http_ports = [], [], []
    try:
        dm("account", "add", "acme", "--config", confs[0])
        addr = dm("domain", "add", "acme.example", "--account", "acme", "--config", confs[0])
        addr = [w for w in addr.split() if "@" in w][0]
        assert stored_there()
        for n in range(2):
            smtp.append(free_port())
            http_ports.append(free_port())
            log = open(tmp_path / ("node%d.log" % n), "wb")
            procs.append((log, subprocess.Popen(
                [binary, "serve", "--config", str(confs[n]), "--smtp", "127.0.0.1:%d" % smtp[n],
                 "--http", "127.0.0.1:%d" % http_ports[n], "--workers", "1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)))
        for n in range(2):
            wait_port(smtp[n])

        def rcpt(n, who):
            with smtplib.SMTP("127.0.0.1", smtp[n], local_hostname="test.example", timeout=30) as s:
                s.ehlo("test")
                s.mail("r@reporter.example")
                return s.rcpt(who)[0]

        # made before the nodes started: both serve it
        assert [rcpt(n, addr) for n in range(2)] == [250, 250]
        assert [rcpt(n, "nobody@acme.example") for n in range(2)] == [550, 550]
        # made with node 0's configuration while both run: both serve it soon
        addr2 = [w for w in dm("domain", "add", "beta.example", "--account", "acme", "--config",
                               confs[0]).split() if "@" in w][0]
        tok = dm("token", "add", "--account", "acme", "--name", "t", "--config", confs[0]).strip()

        def api(n):
            c = http.client.HTTPConnection("127.0.0.1", http_ports[n], timeout=30)
            c.request("GET", "/api/v1/domains", headers={"Authorization": "Bearer " + tok})
            st = c.getresponse().status
            c.close()
            return st

        # each node refreshes its own snapshot on its own clock: node 0 ran
        # no command itself, its serve process learns of the change as node 1's does
        for n in range(2):
            until(lambda: rcpt(n, addr2) == 250 and api(n) == 200,
                  "node %d never served the new tenant" % n)
        tid = json.loads(dm("token", "list", "--json", "--config", confs[1]).splitlines()[0])["id"]
        dm("token", "revoke", str(tid), "--config", confs[1])
        until(lambda: api(0) == 401 and api(1) == 401, "a revoked token still works")
        for n in range(2):
            assert procs[n][1].poll() is None
    finally:
        for log, p in procs:
            p.terminate()
            p.wait(30)
            log.close()


def corpus_same_as_sqlite(binary, store_args, tmp_path, same_ties=True):
    """The shared sample corpus (real reports, read in place) ingested into
    SQLite and into the store of store_args: the same `--json` line for
    every file, then the same API answers (compare_api).  Skipped, with
    its reason, when the corpus is not there (tests/corpus does the same)."""
    if not os.path.isdir(CORPUS):
        pytest.skip("the shared corpus is not at %s" % CORPUS)
    outs = []
    for args in (["--data", str(tmp_path / "sqlite")], [str(a) for a in store_args]):
        p = subprocess.run([binary, "ingest", "--json", "--jobs", "1"] + args + ["."], cwd=CORPUS,
                           capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
        assert p.returncode == 1, p.stderr[-2000:]  # some files are broken on purpose
        lines = [json.loads(ln) for ln in p.stdout.decode().splitlines() if ln.strip()]
        for r in lines:
            if r["kind"] == "failure":
                # redacted with each data folder's own key: the hashed
                # Message-ID and what is archived differ by design
                r["report_id"] = r["archive_key"] = None
        outs.append(sorted(lines, key=lambda r: (r["input"], r.get("report_id") or "")))
    assert outs[0] == outs[1]
    assert sum(1 for r in outs[0] if r["status"] == "stored") > 10
    with nodes(binary, tmp_path, ("sqlite", ["--data", tmp_path / "sqlite"]),
               ("other", store_args)) as (sq, other):
        return compare_api(sq, other, same_ties=same_ties)


def api_while_away(binary, tmp_path, store_args, stop, start):
    """The store's server stopped under a running API (stop(), then
    start()): queries answer 503 (not a crash, not a hang), /healthz says
    so; once it is back the API answers as before and the node still
    runs."""
    with nodes(binary, tmp_path, ("node", store_args)) as (n,):
        st, body = n.get("/api/v1/domains")
        assert st == 200
        dom = json.loads(body)["domains"][0]["domain"]
        before = n.get("/api/v1/summary?domain=" + dom)
        assert before[0] == 200
        stop()
        try:
            st, body = n.get("/api/v1/summary?domain=" + dom)
            assert st == 503, (st, body)
            assert n.get("/healthz")[0] == 503
        finally:
            start()
        deadline = time.monotonic() + 30
        while n.get("/api/v1/summary?domain=" + dom) != before:
            assert time.monotonic() < deadline, "no answer after the server came back"
            time.sleep(0.2)
        assert n.proc.poll() is None
