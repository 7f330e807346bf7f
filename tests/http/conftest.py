"""Shared harness for the HTTP JSON API integration tests (docs/API.md).

Environment (set by tests/http/run.sh):
  DMARCD_BIN   the dmarcd binary under test
  DMARCD_WORK  a scratch folder (generated report sets are cached here)
  DMARCD_GEN   the report generator (bench/gen)
  DMARCD_PG    (set with DMARCD_HTTP_STORE=postgres) a PostgreSQL server,
               postgres://dmarcd@127.0.0.1:PORT: every data folder then
               stores its reports in a database of its own there (a config
               file beside the folder names it), and a copied folder gets
               a copy of its database, so each test sees the same data as
               with SQLite
  DMARCD_CH    (set with DMARCD_HTTP_STORE=clickhouse) a ClickHouse server,
               clickhouse://default@127.0.0.1:PORT, used the same way (a
               copy is made table by table); DMARCD_CH_HTTP is its port

The data comes through the real pipeline: bench/gen writes report files
and expected.json (the source of truth), `dmarcd ingest` stores them, and
`dmarcd serve --smtp none --http 127.0.0.1:PORT` answers.  Everything
listens and connects on loopback only.

The shared store ("the world", built once per session and copied for
each module's server):

  acme   (catch-all)  set A: every file (3 domains, 20 days)
  beta                set B: its domains 3 and 4 (umbrella.io, hooli.co.uk
                      with gen's list) on every day, and domain 0
                      (acme.com) on B's first day only: beta has reports
                      for a domain acme also has
  unclaimed           set U: domains 0 (acme.com) and 5 (vandelay.org),
                      ingested without --account (account 0)

so acme's numbers for acme.com are set A's alone, beta's are B's day 0
alone, and the admin's are the sum of all three.
"""
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from datetime import date, timedelta

import pytest

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
PG = os.environ.get("DMARCD_PG", "")
CH = os.environ.get("DMARCD_CH", "")
# the store is not the default SQLite in the data folder
SHARED = PG or CH
# the ClickHouse tables holding data (the rest store_ch.c makes when it
# opens), beside the registry's registry_gen_N
CH_TABLES = ("records", "cells", "daily", "day_totals", "src_day", "reports", "cancels", "ips",
             "tls_reports", "tls_policies", "tls_failures")

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0

# The parsedmarc aggregate CSV columns, in order (docs/API.md, export.csv).
CSV_COLUMNS = (
    "xml_schema,org_name,org_email,org_extra_contact_info,report_id,begin_date,end_date,"
    "normalized_timespan,errors,domain,adkim,aspf,p,sp,pct,fo,source_ip_address,source_country,"
    "source_reverse_dns,source_base_domain,source_name,source_type,count,spf_aligned,dkim_aligned,"
    "dmarc_aligned,disposition,policy_override_reasons,policy_override_comments,envelope_from,"
    "header_from,envelope_to,dkim_domains,dkim_selectors,dkim_results,spf_domains,spf_scopes,"
    "spf_results").split(",")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/http/run.sh does)" % ", ".join(missing))


# ---------------------------------------------------------------- the store


_pg_lock = threading.Lock()
_pg_dbs = set()


def psql(sql):
    p = subprocess.run(["psql", "-qAt", "-d", PG + "/postgres", "-c", sql], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("psql %s: %s" % (sql, p.stderr))
    return p.stdout


def chq(sql):
    """A statement over ClickHouse's HTTP interface; its answer."""
    url = "http://127.0.0.1:%s/" % os.environ["DMARCD_CH_HTTP"]
    req = urllib.request.Request(url, data=sql.encode())
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()


def pg_db(data):
    return "h" + hashlib.sha1(os.path.abspath(str(data)).encode()).hexdigest()[:20]


def ch_copy(db, template):
    """Database db as a copy of template's tables (dmarcd adds the rest)."""
    src = pg_db(template)
    chq("CREATE DATABASE %s" % db)
    have = set(chq("SELECT name FROM system.tables WHERE database = '%s'" % src).split())
    for t in sorted(have):
        # the store's tables and the registry's generations
        if t in CH_TABLES or t.startswith("registry_gen_"):
            chq("CREATE TABLE %s.%s AS %s.%s" % (db, t, src, t))
            chq("INSERT INTO %s.%s SELECT * FROM %s.%s" % (db, t, src, t))


def store_conf(data, template=None):
    """With PostgreSQL or ClickHouse: the config file of data's store (its
    database made now, empty or as a copy of template's); None with
    SQLite."""
    if not SHARED:
        return None
    data = os.path.abspath(str(data))
    db = pg_db(data)
    conf = data.rstrip("/") + ".store.conf"
    with _pg_lock:
        if db not in _pg_dbs:
            if PG:
                psql("CREATE DATABASE %s%s" % (db, " TEMPLATE " + pg_db(template) if template else ""))
            elif template:
                ch_copy(db, template)
            _pg_dbs.add(db)
            with open(conf, "w") as f:
                f.write("store = %s/%s\n" % (PG or CH, db))
    return conf


def copy_data(src, dst):
    """A copy of a data folder (and, with PostgreSQL, of its database)."""
    shutil.copytree(src, dst)
    store_conf(dst, template=src)


# ---------------------------------------------------------------- commands


def dm(*args, check=True, timeout=120):
    """Run `dmarcd ARGS...`; returns CompletedProcess (text).  With
    PostgreSQL, --data D also names D's store (--config)."""
    args = [str(a) for a in args]
    if SHARED and "--data" in args:
        args += ["--config", store_conf(args[args.index("--data") + 1])]
    p = subprocess.run([BIN] + args, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("dmarcd %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def ingest(data, paths, account=None):
    """`dmarcd ingest --json`; returns the per-report result objects."""
    args = ["ingest", "--json", "--data", data]
    if account:
        args += ["--account", account]
    p = dm(*(args + [str(x) for x in paths]))
    out = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    bad = [r for r in out if r.get("status") != "stored"]
    assert not bad, "ingest did not store everything: %s" % bad[:3]
    assert len(out) == len(paths), "ingest printed %d results for %d files" % (len(out), len(paths))
    return out


def token_add(data, account=None, admin=False, name="t"):
    args = ["token", "add", "--data", data, "--name", name]
    args += ["--admin"] if admin else ["--account", account]
    tok = dm(*args).stdout.strip()
    assert tok and " " not in tok and "\n" not in tok, "token add printed %r" % tok
    return tok


def token_list(data):
    p = dm("token", "list", "--json", "--data", data)
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


_gen_lock = threading.Lock()


def gen_set(kind, *args):
    """Run bench/gen once per argument list (cached in DMARCD_WORK/gen);
    returns (folder, expected.json or None)."""
    key = "-".join([kind] + [str(a).lstrip("-") for a in args])
    d = os.path.join(WORK, "gen", key)
    with _gen_lock:
        if not os.path.exists(os.path.join(d, ".done")):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            p = subprocess.run([GEN, kind, d] + [str(a) for a in args], capture_output=True, text=True,
                               timeout=300)
            assert p.returncode == 0, "gen %s %s failed: %s" % (kind, args, p.stderr)
            open(os.path.join(d, ".done"), "w").close()
    exp = None
    ep = os.path.join(d, "expected.json")
    if os.path.exists(ep):
        with open(ep) as f:
            exp = json.load(f)
    return d, exp


def history_files(folder, domains=None, days=None):
    """The files of a history set, optionally only domain indexes / day indexes."""
    out = []
    root = os.path.join(folder, "reports")
    for day in sorted(os.listdir(root)):
        if days is not None and int(day) not in days:
            continue
        for f in sorted(os.listdir(os.path.join(root, day))):
            k = int(f.split("-")[0])
            if domains is None or k in domains:
                out.append(os.path.join(root, day, f))
    return out


def free_port():
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in (2525, 8080):
            return port


def day_add(d, n):
    return (date.fromisoformat(d) + timedelta(days=n)).isoformat()


# ---------------------------------------------------------------- HTTP client


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive get)
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError("not JSON (%s): %r" % (e, self.body[:300]))

    def text(self):
        return self.body.decode("utf-8")

    def header_items(self):
        """Every header but Date, as a sorted list (for exact comparisons)."""
        return sorted((k.lower(), v) for k, v in self.headers.items() if k.lower() != "date")

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.body[:300])


def query(params):
    if not params:
        return ""
    if isinstance(params, dict):
        params = list(params.items())
    return "?" + urllib.parse.urlencode([(k, v) for k, v in params if v is not None])


class Api:
    """A small HTTP client bound to one server and one token.  A 429 is
    waited out (Retry-After) and retried unless retry429=False: the
    suite's modules make a few hundred requests, more than the per-token
    burst, and only test_ratelimit.py tests the limiter itself."""

    def __init__(self, port, token=None, retry429=True):
        self.port = port
        self.token = token
        self.retry429 = retry429

    def with_token(self, token):
        return Api(self.port, token, self.retry429)

    def request(self, method, path, params=None, body=None, headers=None, timeout=60, auth=True):
        hdrs = {}
        if auth and self.token is not None:
            hdrs["Authorization"] = "Bearer " + self.token
        if headers:
            hdrs.update(headers)
        url = path + query(params)
        for _ in range(50):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                c.request(method, url, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                resp = Resp(r.status, r.headers, data)
            finally:
                c.close()
            if resp.status == 429 and self.retry429:
                time.sleep(float(resp.header("Retry-After") or 1))
                continue
            return resp
        raise AssertionError("still 429 after 50 tries: %s %s" % (method, url))

    def get(self, path, params=None, **kw):
        return self.request("GET", path, params, **kw)

    def ok(self, path, params=None, **kw):
        """GET that must answer 200 with JSON; returns the decoded JSON."""
        r = self.get(path, params, **kw)
        assert r.status == 200, "GET %s%s: %d %r" % (path, query(params), r.status, r.body[:500])
        ct = r.header("Content-Type") or ""
        assert ct.startswith("application/json"), "GET %s: Content-Type %r" % (path, ct)
        return r.json()

    def api(self, endpoint, params=None):
        return self.ok("/api/v1/" + endpoint, params)

    def pages(self, endpoint, params, limit=100):
        """Every item of a paged list (sources, reports), and the totals seen
        on each page."""
        items, totals, offset = [], [], 0
        while True:
            p = dict(params)
            p.update(limit=limit, offset=offset)
            page = self.api(endpoint, p)
            totals.append(page["total"])
            items.extend(page["items"])
            assert len(page["items"]) <= limit
            if len(page["items"]) < limit:
                break
            offset += limit
            assert offset < 100000, "paging never ends"
        return items, totals


def assert_error(r, status, mentions=None):
    """An error answer: the status and a JSON {"error": str} body."""
    assert r.status == status, "expected %d, got %d %r" % (status, r.status, r.body[:300])
    ct = r.header("Content-Type") or ""
    assert ct.startswith("application/json"), "error Content-Type %r" % ct
    d = r.json()
    assert isinstance(d, dict) and set(d) == {"error"} and isinstance(d["error"], str) and d["error"], \
        "error body %r" % r.body[:300]
    if mentions is not None:
        assert mentions in d["error"], "error %r does not name %r" % (d["error"], mentions)
    return d["error"]


def unpack(body):
    """The XML of a raw archived attachment (gzip, zip or plain)."""
    if body[:2] == b"\x1f\x8b":
        return gzip.decompress(body)
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            names = z.namelist()
            assert len(names) == 1, "zip with %s" % names
            return z.read(names[0])
    return body


# ---------------------------------------------------------------- the server


class Server:
    """One `dmarcd serve --smtp none --http 127.0.0.1:PORT --workers 1`."""

    def __init__(self, data, logdir):
        self.data = str(data)
        self.logdir = str(logdir)
        self.port = free_port()
        self.proc = None
        self.lines = []

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def argv(self):
        argv = [BIN, "serve", "--data", self.data, "--smtp", "none", "--http",
                "127.0.0.1:%d" % self.port, "--workers", "1"]
        if SHARED:
            argv += ["--config", store_conf(self.data)]
        return argv

    def start(self):
        log = open(os.path.join(self.logdir, "serve-%d.log" % self.port), "w")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.PIPE)
        proc, lines = self.proc, self.lines

        def reader():
            for raw in proc.stderr:
                ln = raw.decode("utf-8", "replace").rstrip("\n")
                lines.append(ln)
                log.write(ln + "\n")
                log.flush()
            log.close()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("dmarcd serve exited %s at start\n%s" % (self.proc.returncode,
                                                                            self.stderr_tail()))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return self
                c.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("dmarcd serve: /healthz not 200 within %.0f s\n%s"
                                     % (READY_TIMEOUT, self.stderr_tail()))
            time.sleep(0.05)

    def stderr_tail(self, n=40):
        return "\n".join(self.lines[-n:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        """SIGTERM and wait; kill after STOP_TIMEOUT.  Returns (status, seconds)
        or raises when it had died by itself or hung."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            raise AssertionError("dmarcd serve exited by itself (status %s)\n%s"
                                 % (self.proc.returncode, self.stderr_tail()))
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("dmarcd serve did not stop within %.0f s of SIGTERM\n%s"
                                 % (STOP_TIMEOUT, self.stderr_tail()))
        return rc, time.monotonic() - t0


def run_server(data, logdir):
    s = Server(data, logdir).start()
    return s


def finish_server(s):
    rc, _ = s.stop()
    assert rc == 0, "dmarcd serve exited %s after SIGTERM\n%s" % (rc, s.stderr_tail())


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory, request):
    return tmp_path_factory.mktemp(request.module.__name__.split(".")[-1])


# ---------------------------------------------------------------- the world


class Expect:
    """Expected numbers per viewer, domain and day, from gen's expected.json
    cells: {viewer: {domain: {YYYY-MM-DD: [reports, records, messages, pass]}}}."""

    def __init__(self):
        self.cells = {}

    def add(self, viewer, exp, domain_idx, day_idx=None):
        names = list(exp["domains"])
        dom = names[domain_idx]
        days = exp["domains"][dom]["days"]
        per = self.cells.setdefault(viewer, {}).setdefault(dom, {})
        for i, c in enumerate(days):
            if day_idx is not None and i not in day_idx:
                continue
            d = day_add(exp["first_day"], i)
            old = per.get(d, [0, 0, 0, 0])
            per[d] = [a + b for a, b in zip(old, c)]
        return dom

    def domains(self, viewer):
        return sorted(self.cells.get(viewer, {}))

    def days(self, viewer, domain):
        """[(date, [reports, records, messages, pass])] ascending, days with data only."""
        return sorted((d, c) for d, c in self.cells[viewer][domain].items() if c[0] > 0)

    def total(self, viewer, domain, frm=None, to=None):
        t = {"reports": 0, "records": 0, "messages": 0, "dmarc_pass": 0}
        for d, c in self.days(viewer, domain):
            if (frm and d < frm) or (to and d > to):
                continue
            for k, v in zip(("reports", "records", "messages", "dmarc_pass"), c):
                t[k] += v
        t["dmarc_fail"] = t["messages"] - t["dmarc_pass"]
        return t

    def span(self, viewer, domain):
        ds = [d for d, _ in self.days(viewer, domain)]
        return ds[0], ds[-1]

    def scope_total(self, viewer, key, frm=None, to=None):
        return sum(self.total(viewer, d, frm, to)[key] for d in self.domains(viewer))


class World:
    pass


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    w = World()
    base = tmp_path_factory.mktemp("world")
    w.template = str(base / "data")
    d = w.template
    dm("account", "add", "acme", "--catch-all", "--data", d)
    dm("account", "add", "beta", "--data", d)

    a_dir, a_exp = gen_set("history", "--records", 4000, "--days", 20, "--domains", 3, "--seed", 11)
    b_dir, b_exp = gen_set("history", "--records", 1500, "--days", 10, "--domains", 5,
                           "--end", "2026-12-20", "--seed", 22)
    u_dir, u_exp = gen_set("history", "--records", 120, "--days", 2, "--domains", 6, "--seed", 33)
    w.a_exp, w.b_exp, w.u_exp = a_exp, b_exp, u_exp
    b_names = list(b_exp["domains"])
    w.beta_domains = [b_names[3], b_names[4]]
    for dom in w.beta_domains:
        dm("domain", "add", dom, "--account", "beta", "--data", d)

    w.ingest_started = int(time.time())
    w.acme_reports = ingest(d, history_files(a_dir), "acme")
    w.beta_reports = ingest(d, history_files(b_dir, domains={3, 4}) + history_files(b_dir, domains={0}, days={0}),
                            "beta")
    w.unclaimed_reports = ingest(d, history_files(u_dir, domains={0, 5}))
    w.ingest_ended = int(time.time()) + 1

    e = Expect()
    for k in range(3):
        for v in ("acme", "admin"):
            e.add(v, a_exp, k)
    for v in ("beta", "admin"):
        e.add(v, b_exp, 3)
        e.add(v, b_exp, 4)
        w.shared_domain = e.add(v, b_exp, 0, day_idx={0})
    for v in ("unclaimed", "admin"):
        e.add(v, u_exp, 0)
        w.unclaimed_domain = e.add(v, u_exp, 5)
    w.expect = e
    w.acme_domains = list(a_exp["domains"])
    assert w.shared_domain == w.acme_domains[0]
    assert w.unclaimed_domain not in w.acme_domains + w.beta_domains

    w.tokens = {
        "acme": token_add(d, account="acme", name="acme"),
        "beta": token_add(d, account="beta", name="beta"),
        "admin": token_add(d, admin=True, name="admin"),
    }
    return w


@pytest.fixture(scope="module")
def world_server(world, module_tmp):
    """A server of its own (for this module) on a copy of the world's store."""
    data = os.path.join(str(module_tmp), "data")
    copy_data(world.template, data)
    s = run_server(data, module_tmp)
    yield s
    finish_server(s)


@pytest.fixture(scope="module")
def acme(world, world_server):
    return Api(world_server.port, world.tokens["acme"])


@pytest.fixture(scope="module")
def beta(world, world_server):
    return Api(world_server.port, world.tokens["beta"])


@pytest.fixture(scope="module")
def admin(world, world_server):
    return Api(world_server.port, world.tokens["admin"])


@pytest.fixture(scope="module")
def anon(world_server):
    return Api(world_server.port, None)
