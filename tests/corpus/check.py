#!/usr/bin/env python3
"""Check `dmarcd ingest --json` over the shared corpus against its README.

Every well-formed aggregate report must be stored (or be a duplicate of one
stored before it) with the README's records and messages; every broken one
rejected with a reason; failure and TLS reports recognised as such.
"""
import json
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
    stored = sum(1 for l in lines if l["status"] == "stored")
    if stored != 19:  # nice-input.xml.gz and .zip are the same report again
        bad.append(f"{stored} reports stored, want 19")
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
