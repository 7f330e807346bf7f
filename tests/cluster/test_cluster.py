"""Two intake nodes on shared engines (issue 9): each `dmarcd serve` has
its own data folder and spool; both store into one PostgreSQL database
(which also holds the registry, so both serve the same addresses) and
archive into one S3 bucket.  2,000 report mails arrive over SMTP spread
over both nodes, every tenth also to the other node (the same report
twice), and node 1 is killed with SIGKILL halfway and started again: a
mail it had not answered 250 goes to node 0, as an MTA would send it.
Then the totals equal the generator's exactly and every stored report's
raw attachment is in the bucket, as Debian's `aws` lists and fetches it.

Servers (all on 127.0.0.1, stopped by process id): PostgreSQL 15
(run.sh), s3rver and the SigV4-checking proxy (tests/s3/conftest.py's
harness, loaded from there).
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

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("s3harness", os.path.join(HERE, "..", "s3", "conftest.py"))
s3h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s3h)

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
PG = os.environ.get("DMARCD_PG", "")
MAILS = 2000


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN),
                              ("DMARCD_PG", PG)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/cluster/run.sh does)" % ", ".join(missing))


def psql(sql, db):
    p = subprocess.run(["psql", "-qAt", "-d", "%s/%s" % (PG, db), "-c", sql], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, "psql %s: %s" % (sql, p.stderr)
    return p.stdout


class Node:
    def __init__(self, root, n, store, s3):
        self.n = n
        self.data = os.path.join(root, "node%d" % n)
        self.conf = os.path.join(root, "node%d.conf" % n)
        s3.config(self.conf, self.data, store=store)
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


def test_two_nodes_shared_store_and_archive_kill9(tmp_path):
    db = "cluster"
    psql("CREATE DATABASE %s" % db, "postgres")
    store = "%s/%s" % (PG, db)
    s3 = s3h.S3(tmp_path / "s3").start_server().start_proxy()
    nodes = [Node(str(tmp_path), n, store, s3) for n in range(2)]
    try:
        gdir = os.path.join(WORK, "typical")
        subprocess.run([GEN, "typical", gdir, "--mails", str(MAILS), "--seed", "9"], check=True,
                       capture_output=True)
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
        for table in ("daily", "src_day", "day_totals"):
            assert psql("SELECT SUM(messages) FROM %s" % table, db).strip() == str(exp["messages"])
        # every stored report's raw attachment is in the bucket, as stored
        keys = [k for k in psql("SELECT archive_key FROM reports", db).split() if k]
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
