#!/usr/bin/env python3
"""query.py - the read side's figures of `make bench`.

    query.py DMARCD GEN DATA_DIR HISTORY_SET [REQUESTS] [--store URL]

DATA_DIR holds (or gets) a store filled with HISTORY_SET (`gen history`:
10,000,000 records over 90 days and 20 domains by default) for an account
"bench"; it is made once and reused while the set's key is the same
(DATA_DIR/.key) and the store still holds the set's records (and
the earlier runs' load, stored unclaimed beside them).  With
--store postgres://USER@HOST:PORT the store (and the registry) is the
database query_store on that PostgreSQL server, with --store
clickhouse://USER@HOST:HTTP_PORT the store is the database query_store
on that ClickHouse server, named by DATA_DIR/dmarcd.conf.  Then `dmarcd serve` answers on a loopback port and for
one domain:

  summary, timeseries (the 90 days), sources (top 100 of all time) and
  sources-30d (top 100 of the last 30 days, the dashboard's default)

are each requested REQUESTS times (default 100, 16 per second: under the
token's rate limit) over one keep-alive connection with the account's
token, first on an idle server, then again
while `dmarcd ingest` stores 8,000 new report mails (`gen typical`, a new
seed each run, unclaimed) into the same store from another process.
Every answer is checked against the set's expected.json (summary and the
summed timeseries must equal the generator's totals for the domain).

Prints one JSON object per line: {"store", "query", "load", "n", "p50_ms",
"p95_ms", "max_ms"}, then {"ingest_under_load": seconds, "records": n}.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def where(data, pg):
    """The arguments that name the store: the data folder, or its config."""
    return ["--config", os.path.join(data, "dmarcd.conf")] if pg else ["--data", data]


def stored_records(dmarcd, data, pg):
    p = subprocess.run([dmarcd, "stats", "--json"] + where(data, pg), capture_output=True,
                       text=True)
    try:
        return json.loads(p.stdout)["records"] if p.returncode == 0 else -1
    except (ValueError, KeyError):
        return -1


def fill(dmarcd, data, history, pg):
    key = open(os.path.join(history, ".key")).read().strip() if os.path.exists(
        os.path.join(history, ".key")) else json.load(open(os.path.join(history, "expected.json")))["args"]
    kpath = os.path.join(data, ".key")
    want = json.load(open(os.path.join(history, "expected.json")))["records"]
    if pg and os.path.isdir(data):
        # the server kept in bench/out/query-pg (-ch) listens on a new port each run
        with open(os.path.join(data, "dmarcd.conf"), "w") as f:
            f.write("data_dir = %s\nstore = %s/query_store\n" % (data, pg))
    if os.path.exists(kpath) and open(kpath).read().strip() == key and \
            stored_records(dmarcd, data, pg) >= want:
        print("query: store cached (%s)" % key, file=sys.stderr)
        # the account, in case the registry lives apart from the store
        # (it is there already, or it is made now)
        subprocess.run([dmarcd, "account", "add", "bench"] + where(data, pg),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    if pg and pg.startswith("clickhouse://"):
        # dmarcd makes the database and its tables
        url = "http://%s/" % pg.split("@", 1)[-1]
        with urllib.request.urlopen(urllib.request.Request(
                url, data=b"DROP DATABASE IF EXISTS query_store"), timeout=600) as r:
            r.read()
    elif pg:
        for sql in ("DROP DATABASE IF EXISTS query_store", "CREATE DATABASE query_store"):
            subprocess.run(["psql", "-qAt", "-d", pg + "/postgres", "-c", sql], check=True,
                           stdout=subprocess.DEVNULL)
    if pg:
        with open(os.path.join(data, "dmarcd.conf"), "w") as f:
            f.write("data_dir = %s\nstore = %s/query_store\n" % (data, pg))
    subprocess.run([dmarcd, "account", "add", "bench"] + where(data, pg), check=True,
                   stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    p = subprocess.run([dmarcd, "ingest", "--jobs", "2", "--account", "bench"] + where(data, pg) +
                       [os.path.join(history, "reports")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit("query: ingest of the history set failed: %s" % p.stderr[-500:])
    print("query: filled the store in %.0f s: %s" % (time.monotonic() - t0, p.stderr.strip()),
          file=sys.stderr)
    with open(kpath, "w") as f:
        f.write(key + "\n")


class Server:
    def __init__(self, dmarcd, data, pg):
        self.port = free_port()
        self.err = open(os.path.join(data, "query-serve.err"), "w+")
        self.proc = subprocess.Popen([dmarcd, "serve"] + where(data, pg) + [
                                      "--smtp", "none", "--http",
                                      "127.0.0.1:%d" % self.port, "--workers", "1"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.err.seek(0)
        raise SystemExit("query: dmarcd serve did not start:\n" + self.err.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def get(conn, token, path):
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t0) * 1000
    if r.status != 200:
        raise SystemExit("query: %s: %d %s" % (path, r.status, body[:200]))
    return ms, json.loads(body)


def check(name, got, exp):
    if name == "summary":
        ok = got["messages"] == exp["messages"] and got["dmarc_pass"] == exp["dmarc_pass"]
    elif name == "timeseries":
        ok = (sum(p["messages"] for p in got["points"]) == exp["messages"] and
              sum(p["dmarc_pass"] for p in got["points"]) == exp["dmarc_pass"])
    else:  # sources, sources-30d
        ok = len(got["items"]) == 100 and got["total"] > 100
    if not ok:
        raise SystemExit("query: %s answered numbers that differ from the generator's" % name)


def run(port, token, domain, exp, first, last, last30, n, load, store):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    paths = {
        "summary": "/api/v1/summary?domain=%s" % domain,
        "timeseries": "/api/v1/timeseries?domain=%s&from=%s&to=%s" % (domain, first, last),
        "sources": "/api/v1/sources?domain=%s&limit=100" % domain,
        "sources-30d": "/api/v1/sources?domain=%s&limit=100&from=%s&to=%s" % (domain, last30, last),
    }
    out = []
    for name, path in paths.items():
        ms = []
        for i in range(n):
            # paced under the token's rate limit (20/s, DM_HTTP_RATE_TOKEN);
            # the pause is not part of the figure
            time.sleep(0.06)
            t, body = get(conn, token, path)
            ms.append(t)
            if i == 0:
                check(name, body, exp)
        ms.sort()
        out.append({"store": store, "query": name, "load": load, "n": n, "p50_ms": round(statistics.median(ms), 2),
                    "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2), "max_ms": round(ms[-1], 2)})
    conn.close()
    return out


def main():
    args = sys.argv[1:]
    pg = None
    if "--store" in args:
        i = args.index("--store")
        pg = args[i + 1]
        del args[i:i + 2]
    dmarcd, gen, data, history = args[:4]
    n = int(args[4]) if len(args) > 4 else 100
    store = "sqlite" if not pg else "clickhouse" if pg.startswith("clickhouse://") else "postgres"
    fill(dmarcd, data, history, pg)
    exp_all = json.load(open(os.path.join(history, "expected.json")))
    domain = sorted(exp_all["domains"])[0]
    exp = exp_all["domains"][domain]
    ndays = len(exp["days"])
    first = exp_all["first_day"]
    t = time.mktime(time.strptime(first, "%Y-%m-%d")) + (ndays - 1) * 86400 + 43200
    last = time.strftime("%Y-%m-%d", time.gmtime(t))
    last30 = time.strftime("%Y-%m-%d", time.gmtime(t - 29 * 86400))
    load = os.path.join(data, "load")
    shutil.rmtree(load, ignore_errors=True)
    subprocess.run([gen, "typical", load, "--mails", "8000", "--seed", str(int(time.time()))],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    token = subprocess.run([dmarcd, "token", "add", "--account", "bench", "--name", "bench", "--replace"]
                           + where(data, pg), capture_output=True, text=True,
                           check=True).stdout.strip()
    srv = Server(dmarcd, data, pg)
    try:
        time.sleep(2)  # the registry reload picks the token up
        rows = run(srv.port, token, domain, exp, first, last, last30, n, "idle", store)
        # the same while another process stores the typical set into the store
        ing = subprocess.Popen([dmarcd, "ingest", "--jobs", "1"] + where(data, pg) +
                               [os.path.join(load, "mails")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        time.sleep(1)
        rows += run(srv.port, token, domain, exp, first, last, last30, n, "ingest running", store)
        still = ing.poll() is None
        _, err = ing.communicate()
        if not still:
            print("query: warning: the ingest ended before the queries did", file=sys.stderr)
        for r in rows:
            print(json.dumps(r))
        print(json.dumps({"store": store, "ingest_under_load_s": round(time.monotonic() - t0, 1),
                          "ingest": err.strip().splitlines()[-1] if err.strip() else ""}))
    finally:
        srv.stop()
        shutil.rmtree(load, ignore_errors=True)


if __name__ == "__main__":
    main()
