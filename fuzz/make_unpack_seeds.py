#!/usr/bin/env python3
"""Write the seed corpus of fuzz_unpack to fuzz/corpus/unpack/.

Usage: python3 fuzz/make_unpack_seeds.py [OUTDIR]

Deterministic (fixed timestamps, no randomness), standard library only,
every seed under 4 KiB.  One seed per container shape unpack.c knows:
plain XML, gzip, multi-member gzip, gzip with trailing CRLF, gzip in gzip,
zlib, zip (stored, deflate), zip with a directory and a sub-folder entry,
zip holding a .xml.gz, zip in zip, empty zip, truncated gzip and zip, and
garbage after a zip magic.
"""
import gzip
import io
import os
import sys
import zipfile
import zlib

XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>example.net</org_name>
    <email>dmarc@example.net</email>
    <report_id>1700000000.123456</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain><adkim>r</adkim><aspf>r</aspf>
    <p>none</p><sp>none</sp><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.1</source_ip><count>2</count>
      <policy_evaluated><disposition>none</disposition>
        <dkim>pass</dkim><spf>pass</spf></policy_evaluated>
    </row>
    <identifiers><header_from>example.com</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.com</domain><result>pass</result></dkim>
      <spf><domain>example.com</domain><result>pass</result></spf>
    </auth_results>
  </record>
</feedback>
"""

DATE = (2024, 1, 1, 0, 0, 0)


def gz(data, name=None):
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def zipped(entries, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=DATE)
            info.compress_type = method
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16 | 0x10
            z.writestr(info, data)
    return buf.getvalue()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "unpack")
    os.makedirs(out, exist_ok=True)
    half = len(XML) // 2
    report_gz = gz(XML, "example.net!example.com!1700000000!1700086399.xml")
    inner_zip = zipped([("report.xml", XML)])
    seeds = {
        "plain.xml": XML,
        "report.xml.gz": report_gz,
        "multi-member.gz": gz(XML[:half]) + gz(XML[half:]),
        "trailing-crlf.gz": report_gz + b"\r\n",
        "gz-in-gz.gz": gz(gz(XML)),
        "report.zlib": zlib.compress(XML, 9),
        "stored.zip": zipped([("report.xml", XML)], zipfile.ZIP_STORED),
        "deflate.zip": zipped([("google.com!example.com!1700000000!1700086399.xml", XML)]),
        "dir.zip": zipped([("a/", b""), ("a/b/report.xml", XML), ("readme.txt", b"hello\n")]),
        "zip-gz.zip": zipped([("report.xml.gz", report_gz)], zipfile.ZIP_STORED),
        "zip-in-zip.zip": zipped([("inner.zip", inner_zip), ("after.xml", b"<a/>")]),
        "empty.zip": zipped([]),
        "truncated.gz": report_gz[: len(report_gz) // 2],
        "truncated.zip": inner_zip[: len(inner_zip) // 2],
        "garbage.zip": b"PK\x03\x04" + bytes((i * 131 + 7) & 0xFF for i in range(200)),
    }
    for name, data in sorted(seeds.items()):
        assert len(data) < 4096, name
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    with open(os.path.join(out, ".README"), "w") as f:
        f.write("Seeds for fuzz_unpack, made by fuzz/make_unpack_seeds.py (python3 stdlib).\n")
    print("wrote %d seeds to %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
