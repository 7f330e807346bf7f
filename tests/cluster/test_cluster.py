"""Two intake nodes on shared engines (issue 9): each `dmarcd serve` has
its own data folder and spool; both store into one PostgreSQL database,
or into ClickHouse as two shards behind Distributed tables (each node
asking its own shard; the store also holds the registry, so both serve
the same addresses) and archive into one S3 bucket.  2,000 report mails arrive over SMTP spread
over both nodes, every tenth also to the other node (the same report
twice), and node 1 is killed with SIGKILL halfway and started again: a
mail it had not answered 250 goes to node 0, as an MTA would send it.
Then the totals equal the generator's exactly and every stored report's
raw attachment is in the bucket, as Debian's `aws` lists and fetches it.

Servers (all on 127.0.0.1, stopped by process id): PostgreSQL 15 and two
ClickHouse 18.16 shards (run.sh), s3rver and the SigV4-checking proxy
(tests/s3/conftest.py's harness, loaded from there).
"""
import hashlib
import importlib.util
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("s3harness", os.path.join(HERE, "..", "s3", "conftest.py"))
s3h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s3h)

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
PG = os.environ.get("DMARCD_PG", "")
CH_SHARDS = os.environ.get("DMARCD_CH_SHARDS", "").split()
CH_CLUSTER = os.environ.get("DMARCD_CH_CLUSTER", "")
MAILS = 2000


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN),
                              ("DMARCD_PG", PG), ("DMARCD_CH_SHARDS", CH_SHARDS),
                              ("DMARCD_CH_CLUSTER", CH_CLUSTER)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/cluster/run.sh does)" % ", ".join(missing))


def psql(sql, db):
    p = subprocess.run(["psql", "-qAt", "-d", "%s/%s" % (PG, db), "-c", sql], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, "psql %s: %s" % (sql, p.stderr)
    return p.stdout


def chq(shard, sql, db):
    """A query to one shard's HTTP interface; its answer."""
    req = urllib.request.Request("http://%s/?database=%s" % (shard, db), data=sql.encode())
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()


class Pg:
    """The PostgreSQL store: one database for both nodes."""
    name = "postgres"

    def __init__(self):
        self.db = "cluster"
        psql("CREATE DATABASE %s" % self.db, "postgres")

    def config(self, n):
        return {"store": "%s/%s" % (PG, self.db)}

    def rollup_sums(self):
        return {t: int(psql("SELECT SUM(messages) FROM %s" % t, self.db).strip())
                for t in ("daily", "src_day", "day_totals")}

    def archive_keys(self):
        return [k for k in psql("SELECT archive_key FROM reports", self.db).split() if k]

    def spread(self):
        return None


class ChShards:
    """ClickHouse as two shards behind Distributed tables: node n asks
    shard n; rows are sharded by attempt; the registry is on the first."""
    name = "clickhouse"
    LIVE = " attempt NOT IN (SELECT attempt FROM cluster.cancels)"

    def __init__(self):
        self.db = "cluster"
        for sh in CH_SHARDS:
            chq(sh, "DROP DATABASE IF EXISTS %s" % self.db, "default")

    def config(self, n):
        return {"store": "clickhouse://default@%s/%s" % (CH_SHARDS[n], self.db),
                "clickhouse_cluster": CH_CLUSTER, "clickhouse_shards": " ".join(CH_SHARDS)}

    def rollup_sums(self):
        """each rollup summed over both shards, less the cells of cancelled
        attempts (what every read subtracts)"""
        gone = int(chq(CH_SHARDS[1], "SELECT sum(messages) FROM cells_d WHERE attempt IN"
                       " (SELECT attempt FROM cluster.cancels)", self.db).strip() or 0)
        return {t: int(chq(CH_SHARDS[1], "SELECT sum(messages) FROM %s_d" % t, self.db).strip())
                - gone for t in ("daily", "src_day", "day_totals")}

    def archive_keys(self):
        return [k for k in chq(CH_SHARDS[0], "SELECT archive_key FROM reports_d WHERE" + self.LIVE,
                               self.db).split() if k]

    def spread(self):
        """live reports on each shard (its own tables)"""
        return [int(chq(sh, "SELECT count() FROM reports WHERE" + self.LIVE, self.db))
                for sh in CH_SHARDS]


class Node:
    def __init__(self, root, n, store, s3):
        self.n = n
        self.data = os.path.join(root, "node%d" % n)
        self.conf = os.path.join(root, "node%d.conf" % n)
        s3.config(self.conf, self.data, **store.config(n))
        self.port = s3h.free_port()
        self.proc = None
        self.logs = 0

    def start(self):
        self.logs += 1
        log = open("%s.%d.log" % (self.data, self.logs), "wb")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.conf, "--smtp",
                                      "127.0.0.1:%d" % self.port, "--http", "none",
                                      "--workers", "2"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, "node %d exited at start" % self.n
                assert time.monotonic() < deadline, "node %d never listened" % self.n
                time.sleep(0.1)

    def send(self, body, rcpt):
        """True when the node answered 250 to the whole transaction."""
        try:
            with smtplib.SMTP("127.0.0.1", self.port, local_hostname="test.example", timeout=30) as s:
                s.sendmail("noreply@reporter.example", [rcpt], body)
            return True
        except (OSError, smtplib.SMTPException):
            return False

    def spool_empty(self):
        p = subprocess.run([BIN, "spool", "list", "--config", self.conf], capture_output=True,
                           timeout=60)
        return p.returncode == 0 and not p.stdout.strip()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


def rcpt_of(body):
    for ln in body[:8192].decode("ascii", "replace").splitlines():
        if ln.lower().startswith("to:"):
            return ln.split()[-1].strip("<>")
    raise AssertionError("no To: line")


@pytest.mark.parametrize("kind", ["postgres", "clickhouse"])
def test_two_nodes_shared_store_and_archive_kill9(tmp_path, kind):
    store = Pg() if kind == "postgres" else ChShards()
    s3 = s3h.S3(tmp_path / "s3").start_server().start_proxy()
    nodes = [Node(str(tmp_path), n, store, s3) for n in range(2)]
    try:
        gdir = os.path.join(WORK, "typical")
        if not os.path.exists(os.path.join(gdir, "expected.json")):
            subprocess.run([GEN, "typical", gdir, "--mails", str(MAILS), "--seed", "9"],
                           check=True, capture_output=True)
        exp = json.load(open(os.path.join(gdir, "expected.json")))
        mails = sorted(os.listdir(os.path.join(gdir, "mails")))
        assert len(mails) == MAILS
        # one account for both nodes: the registry is the database's
        p = subprocess.run([BIN, "account", "add", "all", "--catch-all", "--config", nodes[0].conf],
                           capture_output=True)
        assert p.returncode == 0, p.stderr
        for nd in nodes:
            nd.start()
        accepted = [0, 0]
        for i, name in enumerate(mails):
            body = open(os.path.join(gdir, "mails", name), "rb").read()
            rcpt = rcpt_of(body)
            first = nodes[i % 2]
            targets = [first, nodes[1 - i % 2]] if i % 10 == 0 else [first]
            if i == MAILS // 2:
                nodes[1].proc.send_signal(signal.SIGKILL)
                nodes[1].proc.wait()
            if i == MAILS // 2 + 100:
                nodes[1].start()  # the same spool: what it had answered 250 is still there
            done = False
            for nd in targets:
                if nd.send(body, rcpt):
                    accepted[nd.n] += 1
                    done = True
            if not done:  # the MTA's next MX
                other = nodes[1 - targets[0].n]
                assert other.send(body, rcpt), "mail %s refused by both nodes" % name
                accepted[other.n] += 1
        assert min(accepted) > MAILS // 4, accepted
        # the kill came mid-run: node 1 found work in its spool when it started again
        with open("%s.2.log" % nodes[1].data, errors="replace") as f:
            m = re.search(r"spool: (\d+) waiting, (\d+) returned after a crash", f.read())
        assert m and int(m.group(1)) + int(m.group(2)) > 0, "node 1 was killed with nothing to do"
        deadline = time.monotonic() + 300
        while not all(nd.spool_empty() for nd in nodes):
            assert time.monotonic() < deadline, "the spools never drained"
            for nd in nodes:
                assert nd.proc.poll() is None, "node %d died" % nd.n
            time.sleep(0.5)
        st = json.loads(subprocess.run([BIN, "stats", "--json", "--config", nodes[0].conf],
                                       capture_output=True, check=True).stdout)
        assert {k: st[k] for k in ("reports", "records", "messages")} == \
            {k: exp[k] for k in ("reports", "records", "messages")}
        assert store.rollup_sums() == {t: exp["messages"] for t in ("daily", "src_day", "day_totals")}
        spread = store.spread()
        if spread is not None:  # both shards hold reports, each report once
            assert sum(spread) == exp["reports"] and min(spread) > exp["reports"] // 4, spread
        # every stored report's raw attachment is in the bucket, as stored
        keys = store.archive_keys()
        assert len(keys) == exp["reports"]
        listed = s3.keys()
        missing = [k for k in set(keys) if k not in listed]
        assert not missing, "not in the bucket: %s" % missing[:5]
        for k in sorted(set(keys))[:25]:
            got = s3.fetch(k, tmp_path / "fetched")
            h = hashlib.sha256(open(got, "rb").read()).hexdigest()
            assert k.split("/")[-1].startswith(h), "%s holds other bytes (%s)" % (k, h)
    finally:
        for nd in nodes:
            nd.stop()
        s3.stop()
