#!/usr/bin/env python3
"""Check `dmarcd ingest --json` over the shared corpus against its README.

Every well-formed aggregate report must be stored (or be a duplicate of one
stored before it) with the README's records and messages; every broken one
rejected with a reason; every SMTP TLS report stored with what the README
says of it (checked in the store: argv[2] is dmarcd.sqlite); failure
reports recognised as such.
"""
import json
import sqlite3
import sys

# file -> (status, records, messages); from ../shared/corpus/README.md
AGG = {
    "aggregate/!example.com!1538204542!1538463818.xml": (1, 1),
    "aggregate/!large-example.com!1711897200!1711983600.xml": (2286, 2286),
    "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml": (1, 1),
    "aggregate/addisonfoods.com!example.com!1536105600!1536191999.xml": (1, 1),
    "aggregate/empty_reason.xml": (1, 2),
    "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": (1, 1),
    "aggregate/example.net!example.com!1529366400!1529452799.xml": (1, 1),
    "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": (1, 1),
    "aggregate/mimecast-weird-gzip.eml": (1, 1),
    "aggregate/old_draft_from_wiki.xml": (1, 2),
    "aggregate/protection.outlook.com!example.com!1711756800!1711843200.xml": (1, 1),
    "aggregate/rfc9990-example.net!example.com!1700000000!1700086399.xml": (2, 7),
    "aggregate/rfc9990-sample.xml": (1, 123),
    "aggregate/twilight.eml": (1, 1),
    "aggregate/usssa.com!example.com!1538784000!1538870399.xml": (2, 2),
    "aggregate/veeam.com!example.com!1530133200!1530219600.xml": (1, 1),
    "aggregate_invalid/report_with_upper_cased_pass.xml": (1, 1),
    "extract_report/nice-input.xml": (20, 3047),
    "extract_report/nice-input.xml.gz": (20, 3047),
    "extract_report/nice-input.xml.zip": (20, 3047),
    "extract_report/changed-input.xml": (20, 3047),
}
BROKEN = [
    "aggregate/ikea.com!example.de!1538690400!1538776800.xml",
    "aggregate/invalid_utf_8.xml",
    "aggregate/invalid_xml.xml",
    "empty.xml",
]
KIND = {"failure": "failure/", "tlsrpt": "smtp_tls/"}

# SMTP TLS: file -> (policy_domain, policies, successful, failed sessions as
# the summaries say, failure details) from the README and the files
TLS = {
    "smtp_tls/google.com_smtp_tls_report.eml": ("cardinalhealth.ca", 1, 48, 0, 0),
    "smtp_tls/mail.ru.json": ("example.com", 1, 0, 1, 2),
    "smtp_tls/rfc8460.json": ("company-y.example", 1, 5326, 303, 3),
    "smtp_tls/smtp_tls.json": ("example.com", 1, 0, 3, 2),
}
# Failure reports: file -> (status, reported domain, source ip, is_arf,
# delivery_result, original_mail_from) from the README; the LF and CRLF
# copies of the LinkedIn report are one report (the later one a
# duplicate, whichever comes first)
FAILURE = {
    "failure/DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, ip=10.10.10.10).eml":
        ("stored", "domain.de", "10.10.10.10", 1, "policy", "sharepoint@domain.de"),
    "failure/[Netease DMARC Failure Report] Rent Reminder.eml":
        ("stored", "cardinal.com", "167.89.69.24", 1, "delivered", None),
    "failure/dmarc_ruf_report_linkedin.crlf.eml": ("stored", "example.com", "10.10.10.10", 1, "delivered", ""),
    "failure/dmarc_ruf_report_linkedin.eml": ("duplicate", "example.com", "10.10.10.10", 1, "delivered", ""),
    "failure/exim_plain_text_only_no_arf_part.eml": ("stored", "example.com", "203.0.113.68", 0, "delivered",
                                                     None),
}

# what the README points out, as rows of tls_failures
TLS_ROWS = [
    # RFC 8460's IPv6 with leading zeros comes back canonical
    ("rfc8460.json", "SELECT sending_ip FROM tls_failures f JOIN tls_reports r ON r.id = f.report"
     " WHERE r.report_id = '5065427c-23d3-47ca-b6e0-946ea0e8c4be' ORDER BY n",
     [("2001:db8:abcd:12::1",), ("2001:db8:abcd:13::1",), ("198.51.100.62",)]),
    # mail.ru: failure-reason-code, no sending-mta-ip or receiving-ip
    ("mail.ru.json", "SELECT result_type, sending_ip, receiving_ip, failure_reason_code, sessions"
     " FROM tls_failures f JOIN tls_reports r ON r.id = f.report WHERE r.report_id LIKE '%@mail.ru' ORDER BY n",
     [("sts-policy-fetch-error", None, None, "bad https response code: 404", 1),
      ("sts-policy-fetch-error", None, None, "bad https response code: 500", 1)]),
    # the RFC example's additional-information is kept, not fetched
    ("rfc8460.json", "SELECT count(*) FROM tls_failures WHERE additional_info LIKE"
     " 'https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported'", [(1,)]),
    # smtp_tls.json: two validation-failure details
    ("smtp_tls.json", "SELECT result_type, sessions FROM tls_failures f JOIN tls_reports r ON r.id = f.report"
     " WHERE r.report_id = '2024-01-09T00:00:00Z_example.com' ORDER BY n",
     [("validation-failure", 2), ("validation-failure", 1)]),
]


def main():
    lines = [json.loads(l) for l in open(sys.argv[1])]
    by = {}
    for l in lines:
        by.setdefault(l["input"].removeprefix("./"), []).append(l)
    bad = []
    for name, (rec, msg) in AGG.items():
        got = by.get(name)
        if not got or len(got) != 1:
            bad.append(f"{name}: expected one line, got {got}")
            continue
        g = got[0]
        if g["status"] not in ("stored", "duplicate") or g["kind"] != "aggregate":
            bad.append(f"{name}: {g['status']} {g['kind']} {g['error']}")
        elif (g["records"], g["messages"]) != (rec, msg):
            bad.append(f"{name}: records/messages {g['records']}/{g['messages']}, want {rec}/{msg}")
    stored = sum(1 for l in lines if l["status"] == "stored" and l["kind"] == "aggregate")
    if stored != 19:  # nice-input.xml.gz and .zip are the same report again
        bad.append(f"{stored} aggregate reports stored, want 19")
    db = sqlite3.connect(sys.argv[2])
    for name, (dom, pols, ok, fail, details) in TLS.items():
        got = by.get(name, [])
        if len(got) != 1 or got[0]["status"] != "stored" or got[0]["kind"] != "tlsrpt":
            bad.append(f"{name}: want one stored tlsrpt line, got {got}")
            continue
        g = got[0]
        want = (dom, pols, ok + fail)
        if (g["policy_domain"], g["records"], g["messages"]) != want:
            bad.append(f"{name}: {g['policy_domain']}/{g['records']}/{g['messages']}, want {want}")
        row = db.execute("SELECT policy_domain, policies, success, failure, failure_details FROM tls_reports"
                         " WHERE report_id = ?", (g["report_id"],)).fetchall()
        if row != [(dom, pols, ok, fail, details)]:
            bad.append(f"{name}: stored {row}, want {(dom, pols, ok, fail, details)}")
    for name, (status, dom, ip, arf, dr, mf) in FAILURE.items():
        got = by.get(name, [])
        if len(got) != 1 or got[0]["kind"] != "failure" or got[0]["status"] != status:
            bad.append(f"{name}: want one {status} failure line, got {got}")
            continue
        row = db.execute("SELECT reported_domain, source_ip, is_arf, delivery_result, original_mail_from,"
                         " headers FROM failures WHERE archive_key = ?", (got[0]["archive_key"],)).fetchall()
        if len(row) != 1 or row[0][:5] != (dom, ip, arf, dr, mf if mf is not None else row[0][4]):
            bad.append(f"{name}: stored {row[:1]}, want {(dom, ip, arf, dr, mf)}")
        elif mf is None and row[0][4] is not None and "@" in row[0][4] and name.startswith("failure/exim"):
            bad.append(f"{name}: a mail-from the text form does not have: {row[0][4]}")
    # the Netease report's feedback part is base64 with CRLF, and says
    # Identity-Alignment: spf,dkim
    if db.execute("SELECT identity_alignment FROM failures WHERE reported_domain = 'cardinal.com'").fetchall() \
            != [("dkim,spf",)]:
        bad.append("Netease: identity_alignment not dkim,spf")
    # the sample messages' bodies are never stored: the LinkedIn sample's
    # "Alternative Text" and "HTML Text" are in no stored header block
    for needle in ("Alternative", "HTML Text", "<body>"):
        n = db.execute("SELECT count(*) FROM failures WHERE instr(headers, ?) > 0", (needle,)).fetchone()[0]
        if n:
            bad.append(f"a stored header block holds the body text {needle!r}")
    # and the addresses of the original messages are keyed hashes
    n = db.execute("SELECT count(*) FROM failures WHERE headers LIKE '%From:%' AND headers NOT LIKE '%h-%@%'"
                   ).fetchone()[0]
    if n:
        bad.append(f"{n} stored header blocks with a From: and no hashed address")
    for name, sql, want in TLS_ROWS:
        got = db.execute(sql).fetchall()
        if got != want:
            bad.append(f"{name}: {sql}: {got}, want {want}")
    for name in BROKEN:
        got = by.get(name, [])
        if len(got) != 1 or got[0]["status"] != "rejected" or not got[0]["error"]:
            bad.append(f"{name}: want one rejected line with a reason, got {got}")
    for kind, prefix in KIND.items():
        names = [n for n in by if n.startswith(prefix)]
        if not names:
            bad.append(f"no {prefix} files seen")
        for n in names:
            if [g["kind"] for g in by[n]] != [kind]:
                bad.append(f"{n}: want one {kind} line, got {by[n]}")
    if bad:
        print("corpus check failed:")
        for b in bad:
            print("  " + b)
        return 1
    print(f"corpus: {len(lines)} lines checked, {stored} reports stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
