"""Harness of the PostgreSQL store tests (tests/pg/run.sh starts the server).

Environment: DMARCD_BIN, DMARCD_WORK, DMARCD_GEN, and DMARCD_PG (the
server's postgres://dmarcd@127.0.0.1:PORT), DMARCD_PG_DATA (its data
folder, for pg_ctl), DMARCD_PG_PORT, DMARCD_PG_SOCK.
"""
import itertools
import json
import os
import subprocess
import threading

import pytest

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
PG = os.environ.get("DMARCD_PG", "")
PGBIN = "/usr/lib/postgresql/15/bin"


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN),
                              ("DMARCD_PG", PG)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/pg/run.sh does)" % ", ".join(missing))


def dm(*args, check=True, timeout=300, input=None):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError("dmarcd %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:],
                                p.stderr[-3000:]))
    return p


def psql(sql, db="postgres"):
    p = subprocess.run(["psql", "-qAt", "-d", "%s/%s" % (PG, db), "-c", sql], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("psql %s: %s" % (sql, p.stderr))
    return p.stdout


_db_counter = itertools.count()


@pytest.fixture
def pgconf(tmp_path):
    """A fresh database and a config naming it: (config path, data folder, db)."""
    db = "t%d_%d" % (os.getpid(), next(_db_counter))
    psql("CREATE DATABASE %s" % db)
    data = tmp_path / "var"
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("data_dir = %s\nstore = %s/%s\n" % (data, PG, db))
    return str(cfg), str(data), db


def pg_ctl(*args):
    argv = [os.path.join(PGBIN, "pg_ctl"), "-D", os.environ["DMARCD_PG_DATA"]] + list(args)
    if os.getuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def pg_stop():
    pg_ctl("-m", "immediate", "-w", "stop")


def pg_start():
    pg_ctl("-l", os.path.join(os.environ["DMARCD_PG_SOCK"], "log"), "-w", "-t", "60", "-o",
           "-c listen_addresses=127.0.0.1 -p %s -k %s -c max_connections=100"
           % (os.environ["DMARCD_PG_PORT"], os.environ["DMARCD_PG_SOCK"]), "start")


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
