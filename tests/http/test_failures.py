"""Failure reports (ARF, RFC 6591 / RFC 9991, and the plain-text form)
end to end: `dmarcd ingest` of mails written here, then the API's
failure endpoints (docs/API.md) with every store (http, http-pg,
http-ch).  What is checked: the fields read, the listing per domain and
per source, tenants, duplicates, other feedback types ignored, and the
privacy rules: the original message's body is never stored or archived,
and the addresses in its headers (and Original-Rcpt-To) are keyed hashes
by default, kept as they came with failure_redact = headers, and gone
with failure_redact = none."""
import glob
import json
import os
import subprocess

import pytest

from conftest import BIN, SHARED, Api, assert_error, dm, finish_server, run_server, store_conf, token_add

ACME = "fail-acme.example"
BETA = "fail-beta.example"
BODY_SECRET = "BODY-SECRET-7f3a: please wire 10,000 EUR"
VICTIM = "victim.person@receiver.example"


def arf_mail(n, domain, ip, arrival, feedback_type="auth-failure", rcpt=VICTIM, subject=None,
             rfc822=True, mid=None):
    """An ARF failure report (multipart/report) about a message from
    domain sent by ip; the original message has BODY_SECRET in its body."""
    subject = subject or "Invoice %d" % n
    mid = mid or "<orig-%d@sender.example>" % n
    orig_headers = ("Received: from sender.example (sender.example [%s]) by mx.receiver.example"
                    " for <%s>; %s\r\n"
                    "From: Accounts <accounts@%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n"
                    "Date: %s\r\n" % (ip, rcpt, arrival, domain, rcpt, subject, mid, arrival))
    fields = ("Feedback-Type: %s\r\nUser-Agent: TestReporter/%d\r\nVersion: 1\r\n"
              "Original-Mail-From: <bounce@%s>\r\nOriginal-Rcpt-To: <%s>\r\n"
              "Arrival-Date: %s\r\nSource-IP: %s\r\nReported-Domain: %s\r\n"
              "Authentication-Results: mx.receiver.example; dmarc=fail header.from=%s\r\n"
              "Auth-Failure: dmarc\r\nIdentity-Alignment: none\r\nDelivery-Result: reject\r\n"
              % (feedback_type, n, domain, rcpt, arrival, ip, domain, domain))
    if rfc822:
        third = ("Content-Type: message/rfc822\r\n\r\n" + orig_headers + "MIME-Version: 1.0\r\n"
                 "Content-Type: text/plain\r\n\r\n" + BODY_SECRET + "\r\n")
    else:
        third = "Content-Type: text/rfc822-headers\r\n\r\n" + orig_headers
    return ("From: dmarc-failures@receiver.example\r\nTo: ruf@%s\r\nSubject: FW: %s\r\n"
            "Message-ID: <report-%d@receiver.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=\"B%d\"\r\n\r\n"
            "--B%d\r\nContent-Type: text/plain\r\n\r\nA message from %s failed DMARC.\r\n"
            "--B%d\r\nContent-Type: message/feedback-report\r\n\r\n%s"
            "--B%d\r\n%s--B%d--\r\n"
            % (domain, subject, n, n, n, ip, n, fields, n, third, n)).encode()


class F:
    pass


def ingest_json(data, paths, account=None, config=None):
    args = [BIN, "ingest", "--json", "--data", data]
    if account:
        args += ["--account", account]
    if config:
        args += ["--config", config]
    elif SHARED:
        args += ["--config", store_conf(data)]
    p = subprocess.run(args + paths, capture_output=True, text=True, timeout=120)
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()], p


@pytest.fixture(scope="module")
def fr(module_tmp):
    f = F()
    f.data = str(module_tmp / "data")
    f.dir = module_tmp / "in"
    f.dir.mkdir()
    dm("account", "add", "acme", "--catch-all", "--data", f.data)
    dm("account", "add", "beta", "--data", f.data)
    dm("domain", "add", BETA, "--account", "beta", "--data", f.data)
    f.tok = {"acme": token_add(f.data, account="acme", name="acme"),
             "beta": token_add(f.data, account="beta", name="beta"),
             "admin": token_add(f.data, admin=True, name="admin")}
    f.mails = {}
    days = ["Mon, %d Nov 2026 10:%02d:00 +0000" % (16 + i, i) for i in range(5)]
    for i in range(5):
        ip = "198.51.100.%d" % (10 + i % 2)  # two sources
        subj = "<img src=x onerror=alert(1)> Invoice" if i == 4 else None
        f.mails["acme-%d.eml" % i] = arf_mail(i, ACME, ip, days[i], subject=subj, rfc822=i != 3)
    f.mails["beta-0.eml"] = arf_mail(10, BETA, "203.0.113.5", days[0])
    f.mails["abuse.eml"] = arf_mail(20, ACME, "192.0.2.9", days[1], feedback_type="abuse")
    for name, body in f.mails.items():
        (f.dir / name).write_bytes(body)
    f.results = {}
    for acct in ("acme", "beta"):
        paths = sorted(str(p) for p in f.dir.iterdir() if p.name.startswith(acct) or
                       (acct == "acme" and p.name == "abuse.eml"))
        res, p = ingest_json(f.data, paths, account=acct)
        assert p.returncode == 0, p.stderr
        for r in res:
            f.results[os.path.basename(r["input"])] = r
    f.server = run_server(f.data, module_tmp)
    f.api = {k: Api(f.server.port, v) for k, v in f.tok.items()}
    yield f
    finish_server(f.server)


def test_ingest(fr):
    for i in range(5):
        r = fr.results["acme-%d.eml" % i]
        assert (r["kind"], r["status"], r["policy_domain"]) == ("failure", "stored", ACME), r
        assert r["org_name"] == "TestReporter/%d" % i
        assert r["archive_key"].endswith(".txt")
        # the Message-ID of the original: its local part hashed
        assert r["report_id"].startswith("<h-") and r["report_id"].endswith("@sender.example>"), r
    r = fr.results["abuse.eml"]
    assert (r["kind"], r["status"]) == ("failure", "ignored"), r
    assert "abuse" in r["error"]


def test_list_and_detail(fr):
    api = fr.api["acme"]
    d = api.ok("/api/v1/failures", {"domain": ACME})
    assert d["total"] == 5
    items = d["items"]
    # newest first (by arrival)
    assert [x["arrival_date"] for x in items] == sorted((x["arrival_date"] for x in items), reverse=True)
    for x in items:
        assert x["reported_domain"] == ACME and x["auth_failure"] == "dmarc"
        assert x["delivery_result"] == "reject" and x["identity_alignment"] == "none"
        assert x["original_mail_from"] == "bounce@" + ACME
        # other people's addresses are keyed hashes, the same token each time
        assert x["original_rcpt_to"].startswith("h-") and x["original_rcpt_to"].endswith("@receiver.example")
        assert VICTIM not in json.dumps(x)
    assert len({x["original_rcpt_to"] for x in items}) == 1
    # one source
    d = api.ok("/api/v1/failures", {"domain": ACME, "ip": "198.51.100.10"})
    assert d["total"] == 3 and {x["source_ip"] for x in d["items"]} == {"198.51.100.10"}
    # a range of days: the arrivals inside it
    d = api.ok("/api/v1/failures", {"domain": ACME, "from": "2026-11-17", "to": "2026-11-18"})
    assert d["total"] == 2
    # the detail: the original's headers, redacted; never its body
    for x in api.ok("/api/v1/failures", {"domain": ACME})["items"]:
        det = api.ok("/api/v1/failures/%d" % x["id"])
        h = det["headers"]
        assert "Subject:" in h and "From: Accounts <h-" in h, h
        assert BODY_SECRET not in h and VICTIM not in h and "accounts@" not in h
        assert det["subject"] in ("Invoice %d" % i for i in range(5)) or "onerror" in det["subject"]
        raw = api.get("/api/v1/failures/%d/raw" % x["id"])
        assert raw.status == 200 and raw.header("Content-Type").startswith("text/plain")
        assert BODY_SECRET.encode() not in raw.body and VICTIM.encode() not in raw.body
        assert b"Feedback-Type: auth-failure" in raw.body
    # hostile text comes back as text, as it was
    hostile = [x for x in api.ok("/api/v1/failures", {"domain": ACME})["items"] if "onerror" in (x["subject"] or "")]
    assert len(hostile) == 1 and hostile[0]["subject"] == "<img src=x onerror=alert(1)> Invoice"


def test_nothing_of_the_body_anywhere(fr):
    """Not in the store's files, not in the archive (SQLite and the
    filesystem archive are files in the data folder)."""
    hits, seen = [], 0
    for path in glob.glob(os.path.join(fr.data, "**"), recursive=True):
        if os.path.isfile(path) and not path.endswith(".key"):
            with open(path, "rb") as fh:
                blob = fh.read()
            if BODY_SECRET.encode() in blob or VICTIM.encode() in blob:
                hits.append(path)
            # what is kept is there in clear (so the search can find text)
            seen += blob.count(b"User-Agent: TestReporter/")
    assert hits == []
    assert seen >= 6, "the archived documents were not found in the data folder"


def test_duplicates(fr, tmp_path):
    # the same mails again (one with CRLF turned into LF): nothing new
    again = tmp_path / "again.eml"
    again.write_bytes(fr.mails["acme-1.eml"].replace(b"\r\n", b"\n"))
    res, _ = ingest_json(fr.data, [str(fr.dir / "acme-0.eml"), str(again)], account="acme")
    assert [r["status"] for r in res] == ["duplicate", "duplicate"], res
    assert fr.api["acme"].ok("/api/v1/failures", {"domain": ACME})["total"] == 5


def test_tenants(fr):
    acme, beta, admin = fr.api["acme"], fr.api["beta"], fr.api["admin"]
    assert beta.ok("/api/v1/failures")["total"] == 1
    assert beta.ok("/api/v1/failures", {"domain": ACME})["total"] == 0
    assert acme.ok("/api/v1/failures", {"domain": BETA})["total"] == 0
    assert admin.ok("/api/v1/failures")["total"] == 6
    x = acme.ok("/api/v1/failures", {"domain": ACME, "limit": 1})["items"][0]
    r1 = beta.get("/api/v1/failures/%d" % x["id"])
    r2 = beta.get("/api/v1/failures/999999999")
    assert r1.status == r2.status == 404 and r1.body == r2.body
    assert_error(beta.get("/api/v1/failures/%d/raw" % x["id"]), 404)
    assert_error(acme.get("/api/v1/failures", {"ip": "not-an-ip"}), 400, "ip")


@pytest.mark.parametrize("mode", ["headers", "none"])
def test_redaction_modes(mode, tmp_path):
    data = str(tmp_path / "data")
    conf = tmp_path / "dmarcd.conf"
    lines = "data_dir = %s\nfailure_redact = %s\n" % (data, mode)
    if SHARED:
        with open(store_conf(data)) as fh:
            lines += fh.read()
    conf.write_text(lines)
    mail = tmp_path / "m.eml"
    mail.write_bytes(arf_mail(1, ACME, "198.51.100.10", "Mon, 16 Nov 2026 10:00:00 +0000"))
    res, p = ingest_json(data, [str(mail)], config=str(conf))
    assert res and res[0]["status"] == "stored", (res, p.stderr)
    tok = token_add(data, admin=True, name="a") if not SHARED else None
    if SHARED:
        tok = subprocess.run([BIN, "token", "add", "--config", str(conf), "--admin", "--name", "a"],
                             capture_output=True, text=True, check=True).stdout.strip()
    srv = run_server(data, tmp_path)
    try:
        api = Api(srv.port, tok)
        x = api.ok("/api/v1/failures")["items"][0]
        det = api.ok("/api/v1/failures/%d" % x["id"])
        if mode == "headers":
            assert "From: Accounts <accounts@%s>" % ACME in det["headers"]
            assert det["original_rcpt_to"] == VICTIM
        else:
            assert det["headers"] in ("", None)
            assert det["subject"] is None and det["header_from"] is None and det["message_id"] is None
            assert det["original_rcpt_to"] is None
            assert det["header_from_domain"] == ACME
        assert BODY_SECRET not in json.dumps(det)
    finally:
        finish_server(srv)
