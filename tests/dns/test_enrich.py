"""Enrichment at ingest (src/enrich/, docs/ENRICH.md) against a real DNS
server (knotd, tests/dns/knot.py) and the IP databases the setup installs:
reverse names confirmed forward or not, IPv4 and IPv6, the AS and country
of addresses whose owners the test knows (the package versions are pinned
in package-lock.json), the sending service by reverse name, by DKIM
domain and by AS; what is stored with the records and in ips, and what the
API's source lists and source detail say; a DNS server that never
answers holds a report up no longer than its deadline."""
import http.client
import importlib.util
import json
import os
import sqlite3
import subprocess
import time

import pytest

from knot import Knot, Silent
from test_check import aggregate_xml, run_ok

BIN = os.environ["DMARCD_BIN"]
HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("apinode", os.path.join(HERE, "..", "apinode.py"))
apinode = importlib.util.module_from_spec(spec)
spec.loader.exec_module(apinode)

ZONES = {
    # forward names of the senders
    "google.com": "\n".join([
        "$ORIGIN google.com.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        "mail-sor-f41 A 209.85.220.41",
    ]) + "\n",
    "amazonses.com": "\n".join([
        "$ORIGIN amazonses.com.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        "a48-30.smtp-out A 54.240.48.30",
    ]) + "\n",
    "test": "\n".join([
        "$ORIGIN test.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        "ns A 127.0.0.1",
        "elsewhere A 198.51.100.99",
        "mx.v6 AAAA 2001:db8::25",
    ]) + "\n",
    # reverse names
    "220.85.209.in-addr.arpa": "\n".join([
        "$ORIGIN 220.85.209.in-addr.arpa.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        "41 PTR mail-sor-f41.google.com.",
    ]) + "\n",
    "48.240.54.in-addr.arpa": "\n".join([
        "$ORIGIN 48.240.54.in-addr.arpa.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        "30 PTR a48-30.smtp-out.amazonses.com.",
    ]) + "\n",
    "100.51.198.in-addr.arpa": "\n".join([
        "$ORIGIN 100.51.198.in-addr.arpa.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        # a name whose address is another: a spoofer claiming Google
        "7 PTR mail-sor-f41.google.com.",
        "8 PTR elsewhere.test.",
        # .9 has no PTR
    ]) + "\n",
    "8.b.d.0.1.0.0.2.ip6.arpa": "\n".join([
        "$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.", "$TTL 300",
        "@ SOA ns.test. h.test. 1 3600 600 86400 60", "@ NS ns.test.",
        "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR mx.v6.test.",
    ]) + "\n",
}

ROWS = [
    ("209.85.220.41", 100, []),                              # Google, confirmed
    ("54.240.48.30", 50, []),                                # Amazon SES, confirmed
    ("198.51.100.7", 7, []),                                 # PTR not confirmed
    ("198.51.100.8", 8, []),                                 # PTR to another address
    ("198.51.100.9", 9, [("sendgrid.net", "s1", "pass")]),   # no PTR; SendGrid by DKIM
    ("2001:db8::25", 25, []),                                # IPv6, confirmed
    ("8.8.8.8", 3, []),                                      # no PTR served: AS only
]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    with Knot(tmp_path_factory.mktemp("knot-enrich"), ZONES) as k:
        yield k


def ingest(tmp_path, resolver, rows=ROWS, domain="enrich.test", extra=""):
    data = tmp_path / "data"
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("data_dir = %s\nresolver = %s\ndns_timeout_ms = 300\n%s" % (data, resolver, extra))
    begin = (int(time.time()) // 86400 - 2) * 86400
    f = tmp_path / ("r%d.xml" % len(list(tmp_path.iterdir())))
    f.write_text(aggregate_xml(domain, begin, rows))
    t0 = time.monotonic()
    r = subprocess.run([BIN, "ingest", str(f), "--config", str(cfg)], capture_output=True,
                       text=True, timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    return str(data), str(cfg), took


def ip_blob(text):
    import ipaddress
    a = ipaddress.ip_address(text)
    if a.version == 4:
        return b"\0" * 10 + b"\xff\xff" + a.packed
    return a.packed


def test_stored_with_records_and_ips(dns, tmp_path):
    data, _, _ = ingest(tmp_path, dns.addr)
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    rec = {bytes(r[0]): r[1:] for r in db.execute(
        "SELECT source_ip, ptr, base_domain, asn, as_name, country, service FROM records")}
    ips = {bytes(r[0]): r[1:] for r in db.execute(
        "SELECT ip, ptr_state, ptr, base_domain, asn, as_name, country, service, service_type"
        " FROM ips")}
    assert len(rec) == len(ROWS) and len(ips) == len(ROWS)
    g = ip_blob("209.85.220.41")
    assert rec[g] == ("mail-sor-f41.google.com", "google.com", 15169, "Google LLC", "US",
                      "Google Workspace")
    assert ips[g] == (1, "mail-sor-f41.google.com", "google.com", 15169, "Google LLC", "US",
                      "Google Workspace", "mailbox")
    s = ip_blob("54.240.48.30")
    assert rec[s][0] == "a48-30.smtp-out.amazonses.com" and rec[s][1] == "amazonses.com"
    assert rec[s][2] == 14618 and rec[s][5] == "Amazon SES" and ips[s][-1] == "esp"
    # names that do not lead back to the address are not kept, and name no service
    for text in ("198.51.100.7", "198.51.100.8"):
        assert rec[ip_blob(text)][0] is None and ips[ip_blob(text)][0] == 2, text
        assert rec[ip_blob(text)][5] is None
    n = ip_blob("198.51.100.9")
    assert ips[n][0] == 3 and rec[n][0] is None
    assert rec[n][5] == "SendGrid"  # the record, by its passing DKIM signature
    # the address itself is named by its reverse name or AS only: the same
    # for every record of the source, whatever each was signed with
    assert ips[n][6] is None
    v6 = ip_blob("2001:db8::25")
    assert ips[v6][0] == 1 and rec[v6][0] == "mx.v6.test" and rec[v6][1] == "v6.test"
    # 8.8.8.8: the server has no reverse zone for it (REFUSED): the DNS
    # failed, and the AS still names it
    e = ip_blob("8.8.8.8")
    assert ips[e][0] == 4 and rec[e][0] is None
    assert rec[e][2:5] == (15169, "Google LLC", "US")


def test_ips_of_schema_5_migrated(dns, tmp_path):
    """A store made before schema 6 (ips keyed by the address, WITHOUT
    ROWID) is migrated when a writer opens it: every row is kept, the
    table has rowids and still one row per address, and new sources are
    added to it."""
    data, _, _ = ingest(tmp_path, dns.addr, rows=ROWS[:3])
    path = os.path.join(data, "dmarcd.sqlite")
    db = sqlite3.connect(path)
    before = sorted(db.execute("SELECT * FROM ips"))
    assert len(before) == 3
    db.executescript(
        "BEGIN; ALTER TABLE ips RENAME TO ips_6;"
        " CREATE TABLE ips(ip BLOB PRIMARY KEY, ptr_state INTEGER NOT NULL, ptr TEXT,"
        " base_domain TEXT, asn INTEGER, as_name TEXT, country TEXT, service TEXT,"
        " service_type TEXT, updated INTEGER NOT NULL) WITHOUT ROWID;"
        " INSERT INTO ips SELECT * FROM ips_6; DROP TABLE ips_6; PRAGMA user_version = 5; COMMIT;")
    with pytest.raises(sqlite3.OperationalError):
        db.execute("SELECT rowid FROM ips").fetchall()
    db.close()
    ingest(tmp_path, dns.addr, rows=ROWS[3:5], domain="enrich2.test")
    db = sqlite3.connect(path)
    # migrated to the newest schema: 6 (ips with rowids), then 7 (the TLS
    # and failure report tables, made empty)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 7
    assert db.execute("SELECT count(*) FROM tls_reports").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    after = sorted(db.execute("SELECT * FROM ips"))
    assert len(after) == 5 and set(before) <= set(after)
    assert len(db.execute("SELECT rowid FROM ips").fetchall()) == 5
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'ips_v5'").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO ips(ip, ptr_state, updated) SELECT ip, 0, 0 FROM ips LIMIT 1")
    db.close()


def test_api_shows_who(dns, tmp_path):
    data, cfg, _ = ingest(tmp_path, dns.addr)
    node = apinode.Node(BIN, tmp_path, "enrich", ["--config", cfg])
    try:
        st, body = node.get("/api/v1/sources?domain=enrich.test&limit=50")
        assert st == 200, body
        items = {x["ip"]: x for x in json.loads(body)["items"]}
        who = items["209.85.220.41"]["who"]
        assert who == {"ptr": "mail-sor-f41.google.com", "ptr_state": "confirmed",
                       "base_domain": "google.com", "asn": 15169, "as_org": "Google LLC",
                       "country": "US", "service": "Google Workspace",
                       "service_type": "mailbox"}
        assert items["198.51.100.7"]["who"]["ptr"] is None
        assert items["198.51.100.7"]["who"]["ptr_state"] == "unconfirmed"
        assert items["198.51.100.9"]["who"]["ptr_state"] == "none"
        assert items["198.51.100.9"]["who"]["service"] is None
        st, body = node.get("/api/v1/sources/54.240.48.30?domain=enrich.test")
        assert st == 200, body
        d = json.loads(body)
        assert d["who"]["service"] == "Amazon SES" and d["who"]["asn"] == 14618
        # a source the domain never had is not found, whoever it is
        st, _ = node.get("/api/v1/sources/54.240.48.31?domain=enrich.test")
        assert st == 404
    finally:
        node.stop()


def test_later_report_keeps_known_name(dns, tmp_path):
    """A report whose reverse names did not come in time leaves the names
    an earlier report found."""
    data, _, _ = ingest(tmp_path, dns.addr, rows=ROWS[:1])
    with Silent() as s:
        ingest(tmp_path, s.addr, rows=ROWS[:1], domain="enrich2.test")
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    g = ip_blob("209.85.220.41")
    ptrs = [r[0] for r in db.execute("SELECT ptr FROM records WHERE source_ip = ? ORDER BY id",
                                     (g,))]
    assert ptrs == ["mail-sor-f41.google.com", None]
    assert db.execute("SELECT ptr_state, ptr, service FROM ips WHERE ip = ?", (g,)).fetchone() == \
        (1, "mail-sor-f41.google.com", "Google Workspace")


def test_dead_dns_costs_a_report_its_deadline_only(tmp_path):
    rows = [("198.51.100.%d" % i, 1, []) for i in range(1, 41)]
    with Silent() as s:
        data, _, took = ingest(tmp_path, s.addr, rows=rows)
    # 40 sources, each asked twice (300 ms, then 600 ms) were they waited
    # for one by one: 36 s; the report waits 1 s for all of them
    assert took < 5, took
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    assert db.execute("SELECT COUNT(*) FROM records WHERE ptr IS NULL").fetchone()[0] == 40
    states = {r[0] for r in db.execute("SELECT ptr_state FROM ips")}
    assert states <= {0, 4}, states


def test_off_and_without_resolver(dns, tmp_path):
    # enrich = off: nothing stored
    (tmp_path / "off").mkdir()
    data, _, _ = ingest(tmp_path / "off", dns.addr, rows=ROWS[:1], extra="enrich = off\n")
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    assert db.execute("SELECT ptr, asn, service FROM records").fetchall() == [(None, None, None)]
    assert db.execute("SELECT COUNT(*) FROM ips").fetchone()[0] == 0
    # rdns = off: the databases still answer
    (tmp_path / "nodns").mkdir()
    data, _, _ = ingest(tmp_path / "nodns", dns.addr, rows=ROWS[:1], extra="rdns = off\n")
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    assert db.execute("SELECT ptr, asn, country, service FROM records").fetchall() == \
        [(None, 15169, "US", "Google Workspace")]
    assert db.execute("SELECT ptr_state FROM ips").fetchall() == [(0,)]


def test_bad_database_path_is_an_error(tmp_path):
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("data_dir = %s\nasn_db = %s\n" % (tmp_path / "d", tmp_path / "missing.mmdb"))
    f = tmp_path / "r.xml"
    f.write_text(aggregate_xml("x.test", 86400 * 20000, ROWS[:1]))
    r = subprocess.run([BIN, "ingest", str(f), "--config", str(cfg)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "missing.mmdb" in r.stderr and "enrich = off" in r.stderr


def reenrich(cfg, *args):
    r = subprocess.run([BIN, "reenrich", "--config", cfg, "--json"] + list(args),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_reenrich_fills_what_missed_the_deadline(dns, tmp_path):
    with Silent() as s:
        data, cfg, _ = ingest(tmp_path, s.addr)
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    assert db.execute("SELECT COUNT(*) FROM records WHERE ptr IS NOT NULL").fetchone()[0] == 0
    # the same configuration, now with the DNS server that answers
    text = open(cfg).read().replace(s.addr, dns.addr)
    open(cfg, "w").write(text)
    out = reenrich(cfg, "--missing")
    assert out["domains"] == [{"domain": "enrich.test", "sources": len(ROWS), "enriched": len(ROWS)}]
    assert out["ptr_confirmed"] == 3 and out["ptr_unconfirmed"] == 2 and out["ptr_none"] == 1
    assert out["ptr_failed"] == 1  # 8.8.8.8: no reverse zone here
    g = ip_blob("209.85.220.41")
    assert db.execute("SELECT ptr, service FROM records WHERE source_ip = ?", (g,)).fetchone() == \
        ("mail-sor-f41.google.com", "Google Workspace")
    assert db.execute("SELECT ptr_state, ptr FROM ips WHERE ip = ?", (g,)).fetchone() == \
        (1, "mail-sor-f41.google.com")
    # SendGrid was named by a DKIM signature at ingest: reenrich cannot see
    # signatures and leaves it
    assert db.execute("SELECT service FROM records WHERE source_ip = ?",
                      (ip_blob("198.51.100.9"),)).fetchone() == ("SendGrid",)
    # once every name is known, --missing leaves only the failed one
    out = reenrich(cfg, "--missing")
    assert out["enriched"] == 1 and out["ptr_failed"] == 1


def test_reenrich_after_the_service_map_changes(dns, tmp_path):
    data, cfg, _ = ingest(tmp_path, dns.addr, rows=ROWS[6:7])  # 8.8.8.8, AS 15169
    svc = tmp_path / "services.conf"
    svc.write_text("[Our Own Resolver]\ntype = other\nasn = 15169\n")
    with open(cfg, "a") as f:
        f.write("services_file = %s\n" % svc)
    out = reenrich(cfg, "--domain", "enrich.test", "--since", "2000-01-01")
    assert out["enriched"] == 1 and out["with_service"] == 1
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    assert db.execute("SELECT service FROM records").fetchall() == [("Our Own Resolver",)]
    assert db.execute("SELECT service, service_type FROM ips").fetchall() == \
        [("Our Own Resolver", "other")]
    # --since after the report: nothing of it
    out = reenrich(cfg, "--since", "2099-01-01")
    assert out["enriched"] == 0


def test_reenrich_usage(tmp_path):
    cfg = tmp_path / "c.conf"
    cfg.write_text("data_dir = %s\nenrich = off\n" % (tmp_path / "d"))
    r = subprocess.run([BIN, "reenrich", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and "enrich = off" in r.stderr
    r = subprocess.run([BIN, "reenrich", "--since", "yesterday"], capture_output=True, text=True)
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr


def test_serve_fills_in_missed_names(dns, tmp_path):
    """`dmarcd serve` asks again, every enrich_fill_seconds, the reverse
    names that missed their report's deadline (here: all of them, the DNS
    server was dead at ingest)."""
    with Silent() as s:
        data, cfg, _ = ingest(tmp_path, s.addr, rows=ROWS[:2])
    text = open(cfg).read().replace(s.addr, dns.addr) + "enrich_fill_seconds = 1\n"
    open(cfg, "w").write(text)
    node = apinode.Node(BIN, tmp_path, "fill", ["--config", cfg])
    try:
        deadline = time.monotonic() + 30
        while True:
            st, body = node.get("/api/v1/sources?domain=enrich.test")
            assert st == 200, body
            who = {x["ip"]: x["who"] for x in json.loads(body)["items"]}
            if all(w["ptr_state"] == "confirmed" for w in who.values()):
                break
            assert time.monotonic() < deadline, who
            time.sleep(0.3)
        assert who["209.85.220.41"]["ptr"] == "mail-sor-f41.google.com"
        assert who["54.240.48.30"]["service"] == "Amazon SES"
    finally:
        node.stop()
    db = sqlite3.connect(os.path.join(data, "dmarcd.sqlite"))
    assert db.execute("SELECT COUNT(*) FROM records WHERE ptr IS NOT NULL").fetchone()[0] == 2
