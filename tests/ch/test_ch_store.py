"""The ClickHouse store (ClickHouse 18.16 from Debian): the same answers as
SQLite (ingest and API), each report counted once when two writers store
the same reports at once (the attempt that finds another live one cancels
itself and is tried again), after kill -9, and nothing lost when the
server goes away."""
import importlib.util
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (BIN, GEN, chconf, chq, ch_start, ch_stop, dm, gen_typical,  # noqa: F401
                      rollup_sums, stats, totals)

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


def exact(exp):
    return {k: exp[k] for k in ("reports", "records", "messages")}


def test_same_output_as_sqlite(chconf, tmp_path):
    cfg, _, db = chconf
    mails, exp = gen_typical(400)
    sq = dm("ingest", "--json", "--data", tmp_path / "sqlite", mails)
    ch = dm("ingest", "--json", "--config", cfg, mails)
    assert lines(ch) == lines(sq)
    assert stats("--config", cfg) == stats("--data", tmp_path / "sqlite")
    assert totals(stats("--config", cfg)) == exact(exp)
    assert rollup_sums(db) == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}
    # again: every report a duplicate, nothing added
    again = lines(dm("ingest", "--json", "--config", cfg, mails))
    assert {r["status"] for r in again} == {"duplicate"}
    assert totals(stats("--config", cfg)) == exact(exp)
    assert rollup_sums(db)["daily"] == exp["messages"]


def two_writers(cfg, tmp_path, mails):
    """Two `dmarcd ingest` runs (two nodes: their own data folders) store
    mails into cfg's database at the same time; their outputs."""
    store = [ln for ln in open(cfg) if ln.startswith("store")][0]
    confs = []
    for n in range(2):
        c = tmp_path / ("node%d.conf" % n)
        c.write_text("data_dir = %s\n%s" % (tmp_path / ("node%d" % n), store))
        confs.append(str(c))
    procs = [subprocess.Popen([BIN, "ingest", "--json", "--jobs", "2", "--config", c, mails],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in confs]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    return outs


def test_two_writers_at_once_count_each_report_once(chconf, tmp_path):
    """Two nodes store the same 600 mails into one database at the same
    time.  Where both committed a report, the check after a commit keeps
    the smallest live attempt and cancels the other: every report is
    counted once, in the reports and in every rollup, and both runs
    succeed."""
    cfg, _, db = chconf
    mails, exp = gen_typical(600, seed=4)
    outs = two_writers(cfg, tmp_path, mails)
    assert totals(stats("--config", cfg)) == exact(exp)
    assert rollup_sums(db) == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}
    # no identity has two live attempts, and the race did happen
    twice = chq("SELECT count() FROM (SELECT ident FROM reports WHERE attempt NOT IN"
                " (SELECT attempt FROM cancels) GROUP BY ident HAVING count() > 1)", db)
    assert twice.strip() == "0"
    # every attempt answered "stored" is live or cancelled (both writers
    # may cancel the same attempt: a cancel row twice is the same cancel)
    cancelled = int(chq("SELECT uniqExact(attempt) FROM cancels", db))
    stored = sum(1 for o in outs for ln in o[0].decode().splitlines()
                 if json.loads(ln)["status"] == "stored")
    assert stored == exp["reports"] + cancelled > exp["reports"], (stored, cancelled)


def test_kill9_then_again_is_exact(chconf):
    cfg, _, db = chconf
    mails, exp = gen_typical(2000, seed=2)
    p = subprocess.Popen([BIN, "ingest", "--jobs", "2", "--config", cfg, mails],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # killed as soon as its first batch is in (records of the next batch
    # are on their way by then)
    deadline = time.monotonic() + 60
    while int(chq("SELECT count() FROM system.tables WHERE database = '%s'"
                  " AND name = 'reports'" % db) or 0) == 0 or \
            int(chq("SELECT count() FROM reports", db) or 0) == 0:
        assert p.poll() is None and time.monotonic() < deadline, "no batch came in"
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    part = totals(stats("--config", cfg))
    assert part["reports"] < exp["reports"], "the kill came after the end"
    dm("ingest", "--jobs", "2", "--config", cfg, mails)
    assert totals(stats("--config", cfg)) == exact(exp)
    assert rollup_sums(db) == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}


def start_serve(cfg, tmp_path):
    """`dmarcd serve` (SMTP, two workers, a catch-all account) on cfg:
    the process and its log file."""
    dm("account", "add", "any", "--catch-all", "--config", cfg)
    log = open(tmp_path / "serve.log", "wb")
    return subprocess.Popen([BIN, "serve", "--config", cfg, "--smtp",
                             "127.0.0.1:%d" % free_port(), "--http", "none", "--workers", "2"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log), log


def deliver(cfg, files):
    for f in files:
        dm("deliver", "--config", cfg, "--rcpt", "dmarc@reports.example",
           input=open(f, "rb").read())


def wait_drained(cfg, serve, deadline=180):
    end = time.monotonic() + deadline
    while dm("spool", "list", "--config", cfg).stdout.strip():
        assert serve.poll() is None, "serve exited"
        assert time.monotonic() < end, "the spool never drained"
        time.sleep(0.5)


def stop_serve(serve, log):
    serve.terminate()
    serve.wait(30)
    log.close()


def test_server_away_costs_nothing(chconf, tmp_path):
    """`dmarcd serve` keeps what it accepted in its spool while ClickHouse
    is down (killed), tries again with back-off, and stores it all once the
    server is back: every report once, in every rollup."""
    cfg, data, db = chconf
    mails, exp = gen_typical(300, seed=3)
    files = sorted(os.path.join(mails, f) for f in os.listdir(mails))
    serve, log = start_serve(cfg, tmp_path)
    try:
        deliver(cfg, files[:100])
        ch_stop()
        try:
            deliver(cfg, files[100:])
            time.sleep(3)
            assert serve.poll() is None
            assert dm("spool", "list", "--config", cfg).stdout.strip(), "the spool is empty"
        finally:
            ch_start()
        wait_drained(cfg, serve)
        assert totals(stats("--config", cfg)) == exact(exp)
        assert rollup_sums(db) == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}
    finally:
        stop_serve(serve, log)


@pytest.mark.parametrize("view", ["day_totals_mv", "src_day_mv"])
def test_half_applied_batch_completed(chconf, tmp_path, view):
    """A batch's final INSERT that the server applies in part - one view of
    the ledger fails, after ClickHouse wrote the tables of the views it
    ran before (cells and daily before day_totals; src_day after the
    commit row in reports) - is completed before the next batch: every
    report counts once and whole in every table, though the broken view
    fails every batch's INSERT."""
    cfg, _, db = chconf
    mails, exp = gen_typical(60, seed=11)
    files = sorted(os.path.join(mails, f) for f in os.listdir(mails))
    dm("stats", "--config", cfg)  # the schema
    create = chq("SHOW CREATE TABLE %s FORMAT TSVRaw" % view, db).strip()
    broken = create.replace(" WHERE ", " WHERE throwIf(kind = 1) = 0 AND ", 1)
    assert broken != create
    chq("DROP TABLE %s" % view, db)
    chq(broken, db)
    try:
        serve, log = start_serve(cfg, tmp_path)
        try:
            deliver(cfg, files)
            wait_drained(cfg, serve)
        finally:
            stop_serve(serve, log)
        assert "throwIf" in (tmp_path / "serve.log").read_text(errors="replace"), \
            "the broken view never failed an INSERT"
        assert totals(stats("--config", cfg)) == exact(exp)
        assert rollup_sums(db) == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}
        # each report once in reports, its cells once, one marker per table
        assert chq("SELECT count(), uniqExact(ident) FROM reports", db).split() == \
            [str(exp["reports"])] * 2
        assert chq("SELECT sum(recs) FROM cells", db).strip() == str(exp["records"])
        for t in ("daily", "day_totals", "src_day"):
            assert chq("SELECT sum(records) FROM %s WHERE account_id = -1" % t, db).strip() == \
                str(exp["reports"]), t
        # the markers are in no answer
        assert "" not in [d["domain"] for d in json.loads(
            dm("stats", "--json", "--config", cfg).stdout).get("domains", [])]
    finally:
        chq("DROP TABLE %s" % view, db)
        chq(create, db)


def test_same_api_answers_as_sqlite(chconf, tmp_path):
    """The API on ClickHouse answers what it answers on SQLite for the same
    mails, stored there by two writers at once, so that some reports were
    stored twice and one attempt of each cancelled: every list, detail and
    source, and the export line for line (reports beginning at the same
    second come in id order, and ids differ).  A cancelled attempt's id is
    not found; ids stay below 2^53."""
    cfg, _, db = chconf
    mails, _ = gen_typical(300, seed=7)
    dm("ingest", "--data", tmp_path / "sqlite", mails)
    two_writers(cfg, tmp_path, mails)
    cancelled = chq("SELECT DISTINCT attempt FROM cancels", db).split()
    assert cancelled, "no report was stored twice: nothing subtracted"
    with nodes(BIN, tmp_path, ("sqlite", ["--data", tmp_path / "sqlite"]),
               ("ch", ["--config", cfg])) as (sq, ch):
        assert compare_api(sq, ch, same_ties=False) >= 40
        for a in cancelled[:5]:
            assert ch.get("/api/v1/reports/%s" % a)[0] == 404
        assert int(chq("SELECT max(attempt) FROM reports", db)) < 2 ** 53


def test_api_while_the_server_is_away(chconf, tmp_path):
    """ClickHouse killed under a running API: 503, then the same answers
    once it is back (tests/apinode.py)."""
    cfg = chconf[0]
    mails, _ = gen_typical(60, seed=3)
    dm("ingest", "--config", cfg, mails)
    api_while_away(BIN, tmp_path, ["--config", cfg], ch_stop, ch_start)

def test_password_never_in_the_url(tmp_path):
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("store = clickhouse://default:secret@127.0.0.1:1/x\n")
    p = dm("stats", "--config", cfg, check=False)
    assert p.returncode != 0 and b"no password in the URL" in p.stderr


def test_database_name_is_checked(tmp_path):
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("store = clickhouse://default@127.0.0.1:1/x;DROP\n")
    p = dm("stats", "--config", cfg, check=False)
    assert p.returncode != 0 and b"database name may hold only" in p.stderr, p.stderr


REPORT = """<feedback><version>1.0</version><report_metadata>
<org_name>Example Receiver</org_name><email>noreply@receiver.example</email>
<report_id>dates-%(i)d</report_id>
<date_range><begin>%(begin)d</begin><end>%(end)d</end></date_range></report_metadata>
<policy_published><domain>example.com</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.%(ip)d</source_ip><count>%(count)d</count>
<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
</policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>
<auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results>
</record></feedback>
"""


def test_reports_of_any_date_in_one_batch(chconf, tmp_path):
    """150 reports claiming 150 different months (1990 to 2002, and the far
    future) stored in one run: ClickHouse refuses an INSERT over more than
    100 partitions, so old and future dates share one; all are stored and
    counted."""
    cfg, _, db = chconf
    files = []
    for i in range(150):
        begin = 631152000 + i * 31 * 86400 if i < 140 else 4102444800 + i * 86400
        p = tmp_path / ("r%03d.xml" % i)
        p.write_text(REPORT % {"i": i, "begin": begin, "end": begin + 86399, "ip": i % 250 + 1,
                               "count": i + 1})
        files.append(str(p))
    out = lines(dm("ingest", "--json", "--config", cfg, *files))
    assert [r["status"] for r in out] == ["stored"] * 150
    st = stats("--config", cfg)
    assert (st["reports"], st["records"], st["messages"]) == (150, 150, sum(range(1, 151)))
    assert rollup_sums(db)["daily"] == sum(range(1, 151))
    assert int(chq("SELECT uniqExact(_partition_id) FROM records", db)) <= 62


def node_confs(cfg, tmp_path):
    store = [ln for ln in open(cfg) if ln.startswith("store")][0]
    confs = []
    for n in range(2):
        c = tmp_path / ("node%d.conf" % n)
        c.write_text("data_dir = %s\n%s" % (tmp_path / ("node%d" % n), store))
        confs.append(c)
    return confs


def generations(db):
    return sorted(int(x[len("registry_gen_"):]) for x in chq(
        "SELECT name FROM system.tables WHERE database = '%s' AND"
        " startsWith(name, 'registry_gen_')" % db).split())


def test_two_nodes_share_their_tenants(chconf, tmp_path):
    """The registry is published in the ClickHouse database, one generation
    per change: both nodes serve what either node's configuration made, and
    a revoked token stops working on both.  Each node reads a local copy
    (registry.ch.sqlite), never a registry of its own."""
    cfg, _, db = chconf
    confs = node_confs(cfg, tmp_path)
    shared_tenants(BIN, confs, tmp_path, lambda: len(generations(db)) >= 2)
    assert len(generations(db)) >= 5  # account, 2 domains, token, revoke
    for n in range(2):
        assert not os.path.exists(tmp_path / ("node%d" % n) / "registry.sqlite")
        assert os.path.exists(tmp_path / ("node%d" % n) / "registry.ch.sqlite")


def test_registry_changes_at_once_are_never_lost(chconf, tmp_path):
    """Eight `account add` at once from two nodes, five rounds: each either
    succeeds and its account is there for both nodes, or fails saying that
    nothing was changed (two changes took the same generation: ClickHouse
    lets one RENAME to a name succeed).  Every generation holds exactly
    one row; a taken generation number (even empty) refuses a change;
    what a writer that died left under its temporary name goes."""
    cfg, _, db = chconf
    confs = node_confs(cfg, tmp_path)
    dm("account", "add", "first", "--config", confs[0])
    want = {"first"}
    for rnd in range(5):
        names = ["acct%d_%d" % (rnd, i) for i in range(8)]
        procs = [subprocess.Popen([BIN, "account", "add", n, "--config", confs[i % 2]],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for i, n in enumerate(names)]
        outs = [(p.wait(60), p.stderr.read().decode()) for p in procs]
        for rc, err in outs:
            assert rc == 0 or "nothing was changed, run the command again" in err, err
        made = {n for n, (rc, _) in zip(names, outs) if rc == 0}
        assert made, outs
        want |= made
        for c in confs:
            got = {json.loads(ln)["account"] for ln in
                   dm("account", "list", "--json", "--config", c).stdout.decode().splitlines()}
            assert got == want, (rnd, got ^ want)
    for g in generations(db):
        assert chq("SELECT count() FROM registry_gen_%012d" % g, db).strip() == "1", g
    assert chq("SELECT count() FROM system.tables WHERE database = '%s' AND"
               " startsWith(name, 'registry_new_')" % db).strip() == "0"
    # a generation number taken (here empty, as a writer of an older
    # dmarcd could leave it): refused, nothing changed
    nxt = generations(db)[-1] + 1
    chq("CREATE TABLE %s.registry_gen_%012d (body String, sha String) ENGINE = Log" % (db, nxt))
    p = dm("account", "add", "late", "--config", confs[0], check=False)
    assert p.returncode != 0 and b"nothing was changed" in p.stderr, p.stderr
    chq("DROP TABLE %s.registry_gen_%012d" % (db, nxt))
    # a writer that died before its rename two minutes ago left its table
    old = "registry_new_%012d_%016x" % (int(time.time()) - 120, 1)
    young = "registry_new_%012d_%016x" % (int(time.time()), 2)
    for t in (old, young):
        chq("CREATE TABLE %s.%s (body String, sha String) ENGINE = Log" % (db, t))
    dm("account", "add", "late", "--config", confs[1])
    assert b"late" in dm("account", "list", "--config", confs[0]).stdout
    left = chq("SELECT name FROM system.tables WHERE database = '%s' AND"
               " startsWith(name, 'registry_new_')" % db).split()
    assert left == [young], left
    # only the newest generations are kept
    assert len(generations(db)) <= 10


def test_corpus_same_as_sqlite(chconf, tmp_path):
    """The shared sample corpus: the same ingest output and API answers as
    SQLite (tests/apinode.py)."""
    cfg = chconf[0]
    assert corpus_same_as_sqlite(BIN, ["--config", cfg], tmp_path, same_ties=False) > 10


def test_report_of_many_sources_is_stored_whole(chconf, tmp_path):
    """One report of 150,000 records, each its own rollup cell: its final
    INSERT (about 40 MB of cells) passes DM_CH_SPILL_BYTES and goes on
    through a temp file, and is still one INSERT: the report counts whole,
    exactly, and the writer's memory stays bounded."""
    cfg, data, db = chconf
    d = tmp_path / "big"
    subprocess.run([GEN, "big", str(d), "--reports", "1",
                    "--records", "150000", "--seed", "3"], check=True, capture_output=True)
    exp = json.load(open(d / "expected.json"))
    # peak RSS of the ingest alone: a process of its own that waits for it
    p = subprocess.run(["/usr/bin/python3", "-c",
                        "import resource, subprocess, sys\n"
                        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
                        "print(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                        BIN, "ingest", "--config", cfg, str(d / "reports")],
                       capture_output=True, text=True, timeout=600)
    rc, rss_kib = map(int, p.stdout.split())
    assert rc == 0, p.stderr
    assert totals(stats("--config", cfg)) == exact(exp)
    assert int(chq("SELECT count() FROM cells", db)) > 140000
    # the INSERT was past the spill threshold: a cell's row is its strings
    # (the domain twice) and at least 140 bytes of numbers, empty columns
    # and tabs
    assert int(chq("SELECT sum(length(source_ip) + length(header_from) + length(reporter)"
                   " + 2 * length(domain) + 140) FROM cells", db)) > 32 * 1024 * 1024
    assert rollup_sums(db) == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}
    # (under AddressSanitizer its quarantine and shadow memory are what
    # the peak measures: the bound is for the real build)
    asan = b"libasan" in subprocess.run(["ldd", BIN], capture_output=True).stdout
    assert asan or rss_kib < 128 * 1024, rss_kib
    assert not os.listdir(os.path.join(data, "tmp"))  # the temp file is gone
