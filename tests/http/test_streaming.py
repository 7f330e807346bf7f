"""Streamed answers on a larger store (50,000 records): exports read in
full are complete and correct; clients that read a little and hang up do
not hurt the server."""
import csv
import http.client
import io
import json
import socket
import struct
import time

import pytest

from conftest import CSV_COLUMNS, Api, dm, finish_server, gen_set, history_files, run_server, token_add

RECORDS = 50000


@pytest.fixture(scope="module")
def big(module_tmp):
    folder, exp = gen_set("history", "--records", RECORDS, "--days", 5, "--domains", 2, "--seed", 55)
    assert exp["records"] == RECORDS
    data = str(module_tmp / "data")
    dm("account", "add", "acme", "--catch-all", "--data", data)
    files = history_files(folder)
    dm("ingest", "--jobs", "2", "--account", "acme", "--data", data, *files)
    st = json.loads(dm("stats", "--json", "--data", data).stdout)
    assert (st["reports"], st["records"], st["messages"]) == (exp["reports"], exp["records"], exp["messages"])
    tok = token_add(data, account="acme")
    s = run_server(data, module_tmp)
    yield Api(s.port, tok), exp, s
    finish_server(s)


def read_csv(api, params=None):
    r = api.get("/api/v1/export.csv", params)
    assert r.status == 200, r
    rows = list(csv.reader(io.StringIO(r.text(), newline="")))
    return rows[0], rows[1:]


def check_full_csv(api, exp):
    header, rows = read_csv(api)
    assert header == CSV_COLUMNS
    assert len(rows) == exp["records"]
    i = CSV_COLUMNS.index("count")
    assert sum(int(r[i]) for r in rows) == exp["messages"]
    assert all(len(r) == len(CSV_COLUMNS) for r in rows)


def test_export_csv_full(big):
    api, exp, _ = big
    check_full_csv(api, exp)


def test_export_json_full(big):
    api, exp, _ = big
    r = api.get("/api/v1/export.json")
    assert r.status == 200
    rows = json.loads(r.body)
    assert len(rows) == exp["records"]
    assert sum(x["count"] for x in rows) == exp["messages"]
    assert all(list(x) == CSV_COLUMNS for x in rows[:100] + rows[-100:])


def test_export_per_domain(big):
    api, exp, _ = big
    for dom, d in exp["domains"].items():
        header, rows = read_csv(api, {"domain": dom})
        assert len(rows) == d["records"]
        i = CSV_COLUMNS.index("count")
        assert sum(int(r[i]) for r in rows) == d["messages"]


def test_big_report_detail(big):
    api, exp, _ = big
    it = api.api("reports", {"limit": 1})["items"][0]
    assert it["records"] == RECORDS // (5 * 2 * 8)
    d = api.api("reports/%d" % it["id"])
    assert len(d["rows"]) == it["records"]
    assert sum(r["count"] for r in d["rows"]) == it["messages"]


def hang_up_early(port, token, path, nbytes=8192, reset=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
               % (path, token)).encode())
    got = b""
    while len(got) < nbytes:
        d = s.recv(4096)
        assert d, "the server closed after %d bytes" % len(got)
        got += d
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    if reset:  # RST instead of FIN
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_client_hangs_up_mid_export(big):
    api, exp, server = big
    # more aborted exports than the server has query threads (4)
    for i in range(6):
        path = "/api/v1/export.csv" if i % 2 == 0 else "/api/v1/export.json"
        hang_up_early(server.port, api.token, path, reset=(i % 3 == 0))
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    c.request("GET", "/healthz")
    r = c.getresponse()
    assert r.status == 200 and r.read().strip() == b"ok"
    c.close()
    assert time.monotonic() - t0 < 2, "healthz took %.1f s after aborted exports" % (time.monotonic() - t0)
    t0 = time.monotonic()
    assert api.api("domains")["domains"]
    assert time.monotonic() - t0 < 5
    check_full_csv(api, exp)
    assert server.alive()


def test_slow_reader_gets_everything(big):
    """A client that does not read at first still gets the whole export
    (the 23 MB are more than the socket buffers: the server pauses the
    query while its output waits, and goes on).  No SO_RCVBUF games: a
    receive window below the loopback MSS (32 KiB) stalls Linux TCP
    itself (persist timer), whatever the server does."""
    api, exp, server = big
    s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    s.sendall(("GET /api/v1/export.json?domain=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               "Authorization: Bearer %s\r\n\r\n" % (list(exp["domains"])[0], api.token)).encode())
    time.sleep(1.5)  # let the server fill its output bound and pause
    # meanwhile other requests are served
    t0 = time.monotonic()
    assert api.get("/healthz").status == 200
    assert time.monotonic() - t0 < 2
    buf = b""
    t0 = time.monotonic()
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        buf += d
    s.close()
    assert time.monotonic() - t0 < 20, "the rest of the export took %.1f s" % (time.monotonic() - t0)
    head, _, body = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    rows = json.loads(body)
    d = list(exp["domains"].values())[0]
    assert len(rows) == d["records"]
    assert sum(x["count"] for x in rows) == d["messages"]


def dechunk(b):
    out, i = b"", 0
    while True:
        j = b.index(b"\r\n", i)
        n = int(b[i:j].split(b";")[0], 16)
        if n == 0:
            return out
        out += b[j + 2:j + 2 + n]
        i = j + 2 + n + 2
