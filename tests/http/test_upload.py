"""POST /api/v1/reports: uploads through the ingest pipeline, on a server
of its own (uploads change the store)."""
import csv
import glob
import io
import json
import os
import select
import socket
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import (Api, assert_error, dm, finish_server, gen_set, history_files, run_server, token_add,
                      unpack)

RESULT_KEYS = {"input", "kind", "status", "org_name", "report_id", "policy_domain", "begin", "end", "records",
               "messages", "archive_key", "error"}
MAX_BODY = 32 * 1024 * 1024


class Up:
    pass


@pytest.fixture(scope="module")
def up(module_tmp):
    u = Up()
    u.data = str(module_tmp / "data")
    dm("account", "add", "acme", "--catch-all", "--data", u.data)
    u.acme_tok = token_add(u.data, account="acme", name="acme")
    u.admin_tok = token_add(u.data, admin=True, name="admin")
    u.hist_dir, u.hist_exp = gen_set("history", "--records", 240, "--days", 2, "--domains", 6, "--seed", 44)
    u.mail_dir, u.mail_exp = gen_set("typical", "--mails", 2, "--seed", 5)
    u.mbox_dir, u.mbox_exp = gen_set("typical", "--mails", 3, "--seed", 6)
    u.tmp = str(module_tmp)
    u.server = run_server(u.data, module_tmp)
    u.acme = Api(u.server.port, u.acme_tok)
    u.admin = Api(u.server.port, u.admin_tok)
    yield u
    finish_server(u.server)


def reference(tmp, name, path):
    """What `dmarcd ingest --json` says of the same file, in a scratch store."""
    data = os.path.join(tmp, "ref-" + name)
    p = dm("ingest", "--json", "--data", data, path)
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


def post(api, body, ctype=None):
    hdrs = {"Content-Type": ctype} if ctype else {}
    return api.request("POST", "/api/v1/reports", body=body, headers=hdrs)


def results(r):
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("application/json")
    d = r.json()
    assert set(d) == {"results"} and isinstance(d["results"], list) and d["results"]
    for x in d["results"]:
        assert set(x) == RESULT_KEYS, x
    return d["results"]


def same_but_input(got, ref):
    assert len(got) == len(ref)
    for g, f in zip(got, ref):
        g, f = dict(g), dict(f)
        g.pop("input")
        f.pop("input")
        assert g == f


def find_report(api, res):
    lst = api.api("reports", {"domain": res["policy_domain"], "limit": 1000})
    hits = [i for i in lst["items"] if (i["org_name"], i["report_id"]) == (res["org_name"], res["report_id"])]
    assert len(hits) == 1, "uploaded report not listed once: %s" % lst
    return hits[0]


def test_upload_gzip_file(up):
    path = history_files(up.hist_dir, domains={0}, days={0})[0]
    body = open(path, "rb").read()
    ref = reference(up.tmp, "gz", path)
    got = results(post(up.acme, body, "application/gzip"))
    assert got[0]["status"] == "stored" and got[0]["kind"] == "aggregate" and got[0]["error"] is None
    assert got[0]["input"] == "upload"
    same_but_input(got, ref)
    # durable and visible before the answer, for the token's account
    it = find_report(up.acme, got[0])
    assert (it["records"], it["messages"]) == (got[0]["records"], got[0]["messages"])
    d = up.acme.api("reports/%d" % it["id"])
    assert len(d["rows"]) == got[0]["records"]
    assert sum(r["count"] for r in d["rows"]) == got[0]["messages"]
    raw = up.acme.get("/api/v1/reports/%d/raw" % it["id"])
    assert raw.status == 200 and raw.header("Content-Type") == "application/gzip"
    assert raw.body == body, "the archived file is not the uploaded bytes"
    # again: a duplicate, not stored twice
    again = results(post(up.acme, body))
    assert again[0]["status"] == "duplicate"
    assert again[0]["report_id"] == got[0]["report_id"]
    assert up.acme.api("reports", {"domain": got[0]["policy_domain"]})["total"] == 1


def test_upload_mail(up):
    mails = sorted(glob.glob(os.path.join(up.mail_dir, "mails", "*.eml")))
    atts = sorted(glob.glob(os.path.join(up.mail_dir, "attachments", "*")))
    assert len(mails) == 2 and atts[0].endswith(".zip")
    body = open(mails[0], "rb").read()
    got = results(post(up.acme, body, "message/rfc822"))
    assert got[0]["status"] == "stored"
    same_but_input(got, reference(up.tmp, "mail", mails[0]))
    root = ET.fromstring(unpack(open(atts[0], "rb").read()))
    tag = lambda e: e.tag.split("}")[-1]  # noqa: E731
    assert got[0]["report_id"] == next(e.text for e in root.iter() if tag(e) == "report_id")
    recs = [e for e in root.iter() if tag(e) == "record"]
    assert got[0]["records"] == len(recs)
    assert got[0]["messages"] == sum(int(e.text) for e in root.iter() if tag(e) == "count")
    it = find_report(up.acme, got[0])
    raw = up.acme.get("/api/v1/reports/%d/raw" % it["id"])
    assert raw.status == 200 and raw.header("Content-Type") == "application/zip"
    assert raw.header("Content-Disposition").endswith('.zip"')
    assert raw.body == open(atts[0], "rb").read()
    again = results(post(up.acme, body))
    assert again[0]["status"] == "duplicate"


def test_upload_mbox_any_content_type(up):
    out = b""
    mails = sorted(glob.glob(os.path.join(up.mbox_dir, "mails", "*.eml")))
    for f in mails:
        b = open(f, "rb").read().replace(b"\r\n", b"\n")
        out += b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + b + (b"" if b.endswith(b"\n") else b"\n") + b"\n"
    got = results(post(up.acme, out, "text/plain"))
    assert [g["status"] for g in got] == ["stored"] * len(mails)
    assert sum(g["records"] for g in got) == up.mbox_exp["records"]
    assert sum(g["messages"] for g in got) == up.mbox_exp["messages"]


def test_admin_upload_is_unclaimed(up):
    path = history_files(up.hist_dir, domains={5}, days={1})[0]
    got = results(post(up.admin, open(path, "rb").read()))
    assert got[0]["status"] == "stored"
    dom = got[0]["policy_domain"]
    assert dom == list(up.hist_exp["domains"])[5]
    assert up.admin.api("summary", {"domain": dom})["messages"] == got[0]["messages"]
    assert_error(up.acme.get("/api/v1/summary", {"domain": dom}), 404)
    assert dom not in {d["domain"] for d in up.acme.api("domains")["domains"]}
    it = find_report(up.admin, got[0])
    assert_error(up.acme.get("/api/v1/reports/%d" % it["id"]), 404)


def test_empty_body(up):
    r = up.acme.request("POST", "/api/v1/reports", body=b"")
    assert_error(r, 400)
    r = up.acme.request("POST", "/api/v1/reports")
    assert_error(r, 400)


@pytest.mark.parametrize("body", [b"hello world", b"<feedback></feedback>", bytes(range(256)) * 10,
                                  b"\x1f\x8b\x08\x00\x00\x00\x00\x00", b"PK\x03\x04garbage",
                                  b"From: a@b\r\nSubject: hi\r\n\r\nno attachment\r\n"])
def test_not_a_report(up, body):
    got = results(post(up.acme, body))
    assert len(got) == 1
    assert got[0]["status"] in ("rejected", "empty"), got
    assert isinstance(got[0]["error"], str) and got[0]["error"], got
    assert got[0]["records"] == 0 and got[0]["messages"] == 0


def big_post(port, token, size, chunk=1 << 20):
    """POST a body of size zero bytes; returns the status line's code (reads
    the answer as soon as there is one, even before the body is sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(("POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                   % (token, size)).encode())
        sent, data = 0, b""
        block = b"\0" * chunk
        while sent < size:
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break
            try:
                s.sendall(block[:min(chunk, size - sent)])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += min(chunk, size - sent)
        deadline = time.monotonic() + 30
        while b"\r\n" not in data and time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
        assert data.startswith(b"HTTP/1."), "no answer to a %d-byte upload (%d sent): %r" % (size, sent, data[:200])
        return int(data.split(b" ", 2)[1]), sent
    finally:
        s.close()


def test_body_over_limit(up):
    code, sent = big_post(up.server.port, up.acme_tok, MAX_BODY + 1)
    assert code == 413
    t0 = time.monotonic()
    assert up.acme.get("/healthz").status == 200
    assert time.monotonic() - t0 < 2
    assert up.acme.get("/api/v1/domains").status == 200


def test_body_at_limit(up):
    code, sent = big_post(up.server.port, up.acme_tok, MAX_BODY)
    assert code == 200 and sent == MAX_BODY


HOSTILE_ORG = '=cmd|"/c calc"!A1, <script>alert(1)</script> \u00fcn\u00efc\u00f6d\u00e9'
HOSTILE_ID = 'id,with "quotes" & <b>'
HOSTILE_SELECTOR = 's<1>"'
HOSTILE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>=cmd|"/c calc"!A1, &lt;script&gt;alert(1)&lt;/script&gt; \u00fcn\u00efc\u00f6d\u00e9</org_name>
    <email>noreply@evil.example</email>
    <report_id>id,with "quotes" &amp; &lt;b&gt;</report_id>
    <date_range><begin>1796947200</begin><end>1797033599</end></date_range>
  </report_metadata>
  <policy_published><domain>crafted.example</domain><adkim>r</adkim><aspf>r</aspf><p>none</p>
    <sp>none</sp><pct>100</pct></policy_published>
  <record>
    <row><source_ip>192.0.2.77</source_ip><count>3</count><policy_evaluated><disposition>none</disposition>
      <dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>crafted.example</header_from></identifiers>
    <auth_results><dkim><domain>crafted.example</domain><selector>s&lt;1&gt;"</selector><result>pass</result></dkim>
      <spf><domain>crafted.example</domain><result>fail</result></spf></auth_results>
  </record>
  <record>
    <row><source_ip>2001:DB8:0:0:0:0:0:1</source_ip><count>5</count><policy_evaluated>
      <disposition>none</disposition><dkim>fail</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>crafted.example</header_from></identifiers>
    <auth_results><spf><domain>crafted.example</domain><result>pass</result></spf></auth_results>
  </record>
</feedback>
""".encode("utf-8")


def test_report_values_are_data(up):
    """Quotes, commas, markup, non-ASCII and a formula in a report come
    back as the same strings (JSON escaped, CSV quoted), and IPv6 in its
    canonical form."""
    got = results(post(up.acme, HOSTILE_XML, "application/xml"))
    assert got[0]["status"] == "stored", got
    assert got[0]["org_name"] == HOSTILE_ORG and got[0]["report_id"] == HOSTILE_ID
    it = find_report(up.acme, got[0])
    d = up.acme.api("reports/%d" % it["id"])
    assert d["org_name"] == HOSTILE_ORG and d["report_id"] == HOSTILE_ID
    assert [r["ip"] for r in d["rows"]] == ["192.0.2.77", "2001:db8::1"]
    assert d["rows"][0]["dkim_results"][0]["selector"] == HOSTILE_SELECTOR
    src = up.acme.api("sources", {"domain": "crafted.example"})
    assert sorted(i["ip"] for i in src["items"]) == ["192.0.2.77", "2001:db8::1"]
    assert up.acme.api("sources/2001:db8::1", {"domain": "crafted.example"})["messages"] == 5
    rep = up.acme.api("reporters", {"domain": "crafted.example"})["reporters"]
    assert len(rep) == 1 and rep[0]["reports"] == 1
    assert up.acme.api("reports", {"reporter": rep[0]["reporter"]})["total"] == 1
    # CSV: one cell per value, whatever it holds
    r = up.acme.get("/api/v1/export.csv", {"domain": "crafted.example"})
    assert r.status == 200
    rows = list(csv.reader(io.StringIO(r.text(), newline="")))
    col = {c: i for i, c in enumerate(rows[0])}
    assert len(rows) == 3 and all(len(x) == len(col) for x in rows)
    for x in rows[1:]:
        assert x[col["org_name"]] in (HOSTILE_ORG, "'" + HOSTILE_ORG)
        assert x[col["report_id"]] == HOSTILE_ID
        assert x[col["begin_date"]] == "2026-12-11 00:00:00" and x[col["end_date"]] == "2026-12-11 23:59:59"
    assert [x[col["source_ip_address"]] for x in rows[1:]] == ["192.0.2.77", "2001:db8::1"]
    assert rows[1][col["dkim_selectors"]] == HOSTILE_SELECTOR
    js = up.acme.api("export.json", {"domain": "crafted.example"})
    assert [x["org_name"] for x in js] == [HOSTILE_ORG] * 2
    assert js[0]["dkim_selectors"] == [HOSTILE_SELECTOR] and js[1]["source_ip_address"] == "2001:db8::1"
    # the raw file: as sent, and a header that stays one well-formed header
    raw = up.acme.get("/api/v1/reports/%d/raw" % it["id"])
    assert raw.status == 200 and raw.body == HOSTILE_XML
    assert raw.header("Content-Type") == "application/xml"
    cd = raw.header("Content-Disposition")
    assert cd.startswith('attachment; filename="') and cd.endswith('!crafted.example!1796947200!1797033599.xml"')
    name = cd[len('attachment; filename="'):-1]
    assert '"' not in name and "\\" not in name and "/" not in name and "\r" not in cd and "\n" not in cd
