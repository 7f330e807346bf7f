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
