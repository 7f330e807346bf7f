"""The PostgreSQL store: the same answers as SQLite, each report counted
once with two writers at once and after kill -9, and nothing lost when the
server goes away."""
import json
import os
import signal
import socket
import subprocess
import time

from conftest import (BIN, dm, gen_typical, pg_start, pg_stop, pgconf, psql, stats,  # noqa: F401
                      totals)


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_serve_with_the_api_says_it_has_no_queries_yet(pgconf):
    """The API's reads are SQLite's only so far: a server asked to answer
    them on this store refuses to start, and says why, rather than serve
    errors."""
    cfg, _, _ = pgconf
    p = subprocess.run([BIN, "serve", "--config", cfg, "--smtp", "127.0.0.1:%d" % free_port(),
                        "--http", "127.0.0.1:%d" % free_port()], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    assert b"the postgres store answers no API queries yet (serve it with --http none)" in p.stderr, \
        p.stderr
