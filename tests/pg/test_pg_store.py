"""The PostgreSQL store: the same answers as SQLite, each report counted
once with two writers at once and after kill -9, and nothing lost when the
server goes away."""
import importlib.util
import json
import os
import signal
import subprocess
import time

from conftest import (BIN, dm, gen_typical, pg_start, pg_stop, pgconf, psql, stats,  # noqa: F401
                      totals)

_spec = importlib.util.spec_from_file_location(
    "apinode", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apinode.py"))
_apinode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_apinode)
compare_api, free_port = _apinode.compare_api, _apinode.free_port
nodes = _apinode.nodes
shared_tenants, corpus_same_as_sqlite = _apinode.shared_tenants, _apinode.corpus_same_as_sqlite
api_while_away = _apinode.api_while_away


def lines(p):
    return [json.loads(ln) for ln in p.stdout.decode().splitlines() if ln.strip()]


def test_same_output_as_sqlite(pgconf, tmp_path):
    cfg, _, db = pgconf
    mails, exp = gen_typical(400)
    sq = dm("ingest", "--json", "--data", tmp_path / "sqlite", mails)
    pg = dm("ingest", "--json", "--config", cfg, mails)
    assert lines(pg) == lines(sq)
    assert stats("--config", cfg) == stats("--data", tmp_path / "sqlite")
    assert totals(stats("--config", cfg)) == {k: exp[k] for k in ("reports", "records", "messages")}
    # the rollups hold every message once
    for table in ("daily", "src_day", "day_totals"):
        assert psql("SELECT SUM(messages) FROM %s" % table, db).strip() == str(exp["messages"])
    # again: every report a duplicate, nothing added
    again = lines(dm("ingest", "--json", "--config", cfg, mails))
    assert {r["status"] for r in again} == {"duplicate"}
    assert totals(stats("--config", cfg)) == {k: exp[k] for k in ("reports", "records", "messages")}


def test_two_nodes_count_each_report_once(pgconf, tmp_path):
    """Two `dmarcd serve` intake nodes, each with its own spool, store into
    one database; every report is delivered to both.  Each report is
    claimed by one node, the other finds it taken; a batch that loses a
    deadlock to the other node fails whole and is tried again from the
    spool.  The totals are the generator's exactly."""
    cfg, _, db = pgconf
    mails, exp = gen_typical(400)
    files = sorted(os.path.join(mails, f) for f in os.listdir(mails))
    nodes = []
    try:
        for n in range(2):
            ncfg = tmp_path / ("node%d.conf" % n)
            ncfg.write_text("data_dir = %s\n%s" % (tmp_path / ("node%d" % n),
                                                   [ln for ln in open(cfg) if ln.startswith("store")][0]))
            if n == 0:  # the registry is the database's: one account for both
                dm("account", "add", "any", "--catch-all", "--config", ncfg)
            log = open(tmp_path / ("node%d.log" % n), "wb")
            nodes.append((ncfg, log, subprocess.Popen(
                [BIN, "serve", "--config", ncfg, "--smtp", "127.0.0.1:%d" % free_port(), "--http",
                 "none", "--workers", "2"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log)))
        for f in files:
            body = open(f, "rb").read()
            for ncfg, _, _ in nodes:
                dm("deliver", "--config", ncfg, "--rcpt", "dmarc@reports.example", input=body)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if all(not dm("spool", "list", "--config", c).stdout.strip() for c, _, _ in nodes):
                break
            time.sleep(0.5)
        for c, _, p in nodes:
            assert not dm("spool", "list", "--config", c).stdout.strip(), "spool not drained"
            assert p.poll() is None, "a node died"
        assert totals(stats("--config", cfg)) == {k: exp[k] for k in ("reports", "records", "messages")}
        for table in ("daily", "src_day", "day_totals"):
            assert psql("SELECT SUM(messages) FROM %s" % table, db).strip() == str(exp["messages"])
    finally:
        for _, log, p in nodes:
            p.terminate()
            p.wait(30)
            log.close()


def test_kill9_then_again_is_exact(pgconf):
    cfg, _, db = pgconf
    mails, exp = gen_typical(2000, seed=2)
    p = subprocess.Popen([BIN, "ingest", "--config", cfg, mails], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until some batches are committed
        n = psql("SELECT COUNT(*) FROM reports", db).strip() if psql(
            "SELECT to_regclass('reports') IS NOT NULL", db).strip() == "t" else "0"
        if int(n) >= 300:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = int(psql("SELECT COUNT(*) FROM reports", db))
    assert 0 < before < exp["reports"], "killed too late or too early: %d reports" % before
    dm("ingest", "--config", cfg, mails)
    assert totals(stats("--config", cfg)) == {k: exp[k] for k in ("reports", "records", "messages")}
    for table in ("daily", "src_day", "day_totals"):
        assert psql("SELECT SUM(messages) FROM %s" % table, db).strip() == str(exp["messages"])
    # no claim without its rows, no rows without their claim
    assert psql("SELECT COUNT(*) FROM records WHERE report NOT IN (SELECT id FROM reports)",
                db).strip() == "0"
    assert psql("SELECT COUNT(*) FROM reports r WHERE records <> (SELECT COUNT(*) FROM records"
                " WHERE report = r.id)", db).strip() == "0"


def test_server_away_costs_nothing(pgconf, tmp_path):
    """dmarcd serve on PostgreSQL: the server stops while mail comes in;
    the mail waits in the spool, retried with back-off, and is all stored
    once the server is back."""
    cfg, data, db = pgconf
    dm("account", "add", "any", "--catch-all", "--config", cfg)
    mails, exp = gen_typical(60, seed=3)
    files = sorted(os.path.join(mails, f) for f in os.listdir(mails))
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([BIN, "serve", "--config", cfg, "--smtp", "127.0.0.1:%d" % free_port(),
                              "--http", "none", "--workers", "2"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log)
    try:
        for f in files[:20]:
            dm("deliver", "--config", cfg, "--rcpt", "dmarc@reports.example", input=open(f, "rb").read())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and int(psql("SELECT COUNT(*) FROM reports", db)) < 20:
            time.sleep(0.2)
        assert int(psql("SELECT COUNT(*) FROM reports", db)) == 20
        pg_stop()
        try:
            for f in files[20:]:
                dm("deliver", "--config", cfg, "--rcpt", "dmarc@reports.example",
                   input=open(f, "rb").read())
            time.sleep(3)
            spool = dm("spool", "list", "--json", "--config", cfg).stdout.decode().splitlines()
            assert len(spool) >= 1 and all(json.loads(s)["state"] != "failed" for s in spool), spool
        finally:
            pg_start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if int(psql("SELECT COUNT(*) FROM reports", db)) == exp["reports"] and \
                    not dm("spool", "list", "--config", cfg).stdout.strip():
                break
            time.sleep(0.5)
        assert totals(stats("--config", cfg)) == {k: exp[k] for k in ("reports", "records", "messages")}
        assert not dm("spool", "list", "--config", cfg).stdout.strip()
        assert serve.poll() is None, "dmarcd serve died"
        assert b"stays in the spool" in open(tmp_path / "serve.log", "rb").read()
    finally:
        serve.terminate()
        serve.wait(30)
        log.close()


def test_password_never_in_the_url(tmp_path):
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("store = postgres://dmarcd:secret@127.0.0.1:1/x\n")
    p = dm("stats", "--config", cfg, check=False)
    assert p.returncode != 0 and b"no password in the URL" in p.stderr


def test_server_down_at_start_says_so(tmp_path):
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("data_dir = %s\nstore = postgres://dmarcd@127.0.0.1:%d/x\n"
                   % (tmp_path / "var", free_port()))
    p = dm("ingest", "--config", cfg, os.devnull, check=False)
    assert p.returncode != 0 and b"postgres: cannot connect" in p.stderr, p.stderr


def test_same_api_answers_as_sqlite(pgconf, tmp_path):
    """The API of a server on PostgreSQL answers what one on SQLite answers
    for the same mails, report ids and the time of ingest aside (each
    store numbers its reports itself): every list, detail, source, and the
    export byte for byte."""
    cfg, _, _ = pgconf
    mails, _ = gen_typical(300, seed=7)
    dm("ingest", "--data", tmp_path / "sqlite", mails)
    dm("ingest", "--config", cfg, mails)
    with nodes(BIN, tmp_path, ("sqlite", ["--data", tmp_path / "sqlite"]),
               ("pg", ["--config", cfg])) as (sq, pg):
        assert compare_api(sq, pg) >= 40


def test_api_while_the_server_is_away(pgconf, tmp_path):
    """The database stopped under a running API: 503, then the same answers
    once it is back (tests/apinode.py)."""
    cfg = pgconf[0]
    mails, _ = gen_typical(60, seed=3)
    dm("ingest", "--config", cfg, mails)
    api_while_away(BIN, tmp_path, ["--config", cfg], pg_stop, pg_start)

def test_two_nodes_share_their_tenants(pgconf, tmp_path):
    """The registry lives in the shared database: an account, domain,
    address or token made with one node's configuration is served by the
    other node, which keeps a snapshot and refreshes it (within seconds)
    when the registry's generation moves; a revoked token stops working on
    both.  Neither node has a registry file of its own."""
    cfg, _, db = pgconf
    store = [ln for ln in open(cfg) if ln.startswith("store")][0]
    confs = []
    for n in range(2):
        c = tmp_path / ("node%d.conf" % n)
        # node 1 spells the scheme postgresql://, which libpq takes too
        c.write_text("data_dir = %s\n%s" % (tmp_path / ("node%d" % n),
                                             store.replace("postgres://", "postgresql://")
                                             if n else store))
        confs.append(c)
    shared_tenants(BIN, confs, tmp_path,
                   lambda: "acme" in psql("SELECT name FROM dmarcd_registry.accounts", db))
    for n in range(2):
        assert not os.path.exists(tmp_path / ("node%d" % n) / "registry.sqlite")


def test_corpus_same_as_sqlite(pgconf, tmp_path):
    """The shared sample corpus: the same ingest output and API answers as
    SQLite (tests/apinode.py)."""
    cfg = pgconf[0]
    assert corpus_same_as_sqlite(BIN, ["--config", cfg], tmp_path, same_ties=True) > 10
