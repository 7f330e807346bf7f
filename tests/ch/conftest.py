"""Harness of the ClickHouse store tests (tests/ch/run.sh starts the server).

Environment: DMARCD_BIN, DMARCD_WORK, DMARCD_GEN, and DMARCD_CH (the
server's clickhouse://default@127.0.0.1:PORT), DMARCD_CH_HTTP (its HTTP
port), DMARCD_CH_DIR (its folder: config.xml, pid), DMARCD_CH_BIN.
"""
import itertools
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
CH = os.environ.get("DMARCD_CH", "")


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN),
                              ("DMARCD_CH", CH)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/ch/run.sh does)" % ", ".join(missing))


def dm(*args, check=True, timeout=300, input=None):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError("dmarcd %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:],
                                p.stderr[-3000:]))
    return p


def chq(sql, db=None):
    """A query over ClickHouse's HTTP interface: its answer (TabSeparated)."""
    url = "http://127.0.0.1:%s/" % os.environ["DMARCD_CH_HTTP"]
    if db:
        url += "?database=" + db
    with urllib.request.urlopen(urllib.request.Request(url, data=sql.encode()), timeout=120) as r:
        return r.read().decode()


_db_counter = itertools.count()


@pytest.fixture
def chconf(tmp_path):
    """A fresh database name and a config naming it: (config path, data folder, db)."""
    db = "t%d_%d" % (os.getpid(), next(_db_counter))
    chq("DROP DATABASE IF EXISTS %s" % db)
    data = tmp_path / "var"
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("data_dir = %s\nstore = %s/%s\n" % (data, CH, db))
    return str(cfg), str(data), db


def ch_stop():
    pidf = os.path.join(os.environ["DMARCD_CH_DIR"], "pid")
    pid = int(open(pidf).read())
    os.kill(pid, signal.SIGKILL)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    os.unlink(pidf)


def ch_start():
    d = os.environ["DMARCD_CH_DIR"]
    with open(os.path.join(d, "stdout.log"), "ab") as log:
        p = subprocess.Popen([os.environ["DMARCD_CH_BIN"], "--config-file=%s/config.xml" % d],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    with open(os.path.join(d, "pid"), "w") as f:
        f.write("%d\n" % p.pid)
    for _ in range(600):
        try:
            chq("SELECT 1")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("ClickHouse did not come back")


_gen_lock = threading.Lock()


def gen_typical(n, seed=1):
    d = os.path.join(WORK, "typical-%d-%d" % (n, seed))
    with _gen_lock:
        if not os.path.exists(os.path.join(d, "expected.json")):
            subprocess.run([GEN, "typical", d, "--mails", str(n), "--seed", str(seed)], check=True,
                           capture_output=True)
    with open(os.path.join(d, "expected.json")) as f:
        return os.path.join(d, "mails"), json.load(f)


def stats(*where):
    return json.loads(dm("stats", "--json", *where).stdout)


def totals(s):
    return {k: s[k] for k in ("reports", "records", "messages")}


def rollup_sums(db):
    """messages in each rollup table (SummingMergeTree: summed at read),
    less the cells of cancelled attempts (what every read subtracts)."""
    gone = int(chq("SELECT sum(messages) FROM cells WHERE attempt IN (SELECT attempt FROM cancels)",
                   db).strip() or 0)
    return {t: int(chq("SELECT sum(messages) FROM %s" % t, db).strip() or 0) - gone
            for t in ("daily", "src_day", "day_totals")}
