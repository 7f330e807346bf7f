#!/usr/bin/env python3
"""Write the seed corpus of fuzz/fuzz_mime.c to fuzz/corpus/mime/.

Every seed is a small message (< 4 KiB) written here by hand, not copied
from any real mail, each aimed at one corner of the MIME walker: base64
and quoted-printable decoding, message/rfc822 (plain and base64),
multipart/report, RFC 2231 / 2047 file names, mangled headers, an mbox,
a nesting one level past the limit, and malformed structure.  Output is
deterministic (gzip/zip timestamps fixed), so re-running the script gives
the same bytes.

Usage: python3 fuzz/make_mime_seeds.py [OUTDIR]
"""
import base64
import binascii
import gzip
import io
import os
import sys
import zipfile

XML = (b'<?xml version="1.0"?>\n<feedback><report_metadata>'
       b'<org_name>example.net</org_name></report_metadata></feedback>\n')


def gz(data):
    return gzip.compress(data, mtime=0)


def zipped(name, data):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
    return bio.getvalue()


def b64(data):
    return base64.encodebytes(data).decode()


def crlf(text):
    return text.replace("\n", "\r\n")


HEAD = ("From: noreply-dmarc@example.net\n"
        "To: dmarc@example.com\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
        "Message-ID: <seed@example.net>\n")

INNER = (HEAD +
         "Subject: Report Domain: example.com Submitter: example.net\n"
         "MIME-Version: 1.0\n"
         "Content-Type: multipart/mixed; boundary=\"in\"\n"
         "\n"
         "--in\n"
         "Content-Type: text/plain\n"
         "\n"
         "inner\n"
         "--in\n"
         "Content-Type: application/gzip; name=\"example.net!example.com!1!2.xml.gz\"\n"
         "Content-Transfer-Encoding: base64\n"
         "\n" + b64(gz(XML)) +
         "--in--\n")


def seeds():
    s = {}
    s["mixed_gzip_crlf.eml"] = crlf(
        HEAD +
        "Subject: Report Domain: example.com Submitter: example.net Report-ID: <1>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"=_part_1\"\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "--=_part_1\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is an aggregate report from example.net.\n"
        "--=_part_1\n"
        "Content-Type: application/gzip\n"
        "Content-Disposition: attachment;\n"
        "\tfilename=\"example.net!example.com!1704067200!1704153599.xml.gz\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(gz(XML)) +
        "--=_part_1--\n")

    s["single_zip.eml"] = (
        HEAD +
        "Subject: Report domain: example.com Submitter: example.org\n"
        "MIME-Version: 1.0\n"
        "Content-Type: application/zip; name=\"example.org!example.com!1!2.zip\"\n"
        "Content-Transfer-Encoding: BASE64\n"
        "\n" + b64(zipped("example.org!example.com!1!2.xml", XML)))

    s["qp_attachment.eml"] = (
        HEAD +
        "Subject: qp\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=QQ\n"
        "\n"
        "--QQ\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "caf=C3=A9 soft=\nbreak =3d =ZZ lower=3d trailing= \n"
        "--QQ\n"
        "Content-Type: application/x-gzip\n"
        "Content-Transfer-Encoding: Quoted-Printable\n"
        "\n" + binascii.b2a_qp(gz(XML), istext=False).decode() + "\n"
        "--QQ--\n")

    s["rfc822_nested.eml"] = (
        "From: forwarder@example.org\n"
        "Subject: Fwd: report\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: text/plain\n"
        "\n"
        "forwarded\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "\n" + INNER +
        "--outer--\n")

    s["rfc822_base64.eml"] = (
        "From: forwarder@example.org\n"
        "Subject: Fwd: report\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(INNER.encode()) +
        "--outer--\n")

    s["report_arf.eml"] = (
        "From: abuse@example.net\n"
        "Subject: DMARC Failure Report for example.com\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=\"Feedback-Report\";\n"
        "\tboundary=\"arf\"\n"
        "\n"
        "--arf\n"
        "Content-Type: text/plain\n"
        "\n"
        "This is an authentication failure report.\n"
        "--arf\n"
        "Content-Type: message/feedback-report\n"
        "\n"
        "Feedback-Type: auth-failure\n"
        "User-Agent: seed/1.0\n"
        "Version: 1\n"
        "Auth-Failure: dmarc\n"
        "Source-IP: 192.0.2.1\n"
        "\n"
        "--arf\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: someone@example.com\n"
        "Subject: original\n"
        "--arf\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: someone@example.com\n"
        "Subject: =?UTF-8?B?w6TDtsO8?=\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=alt\n"
        "\n"
        "--alt\n"
        "Content-Type: text/plain\n"
        "\n"
        "hello\n"
        "--alt\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>hello</p>\n"
        "--alt--\n"
        "--arf--\n")

    s["tlsrpt.eml"] = crlf(
        "From: tls-reporting@example.net\n"
        "Subject: Report Domain: example.com Submitter: example.net Report-ID: <2024.01.01T00.00.00Z+example.com@example.net>\n"
        "TLS-Report-Domain: example.com\n"
        "TLS-Report-Submitter: example.net\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"tls\"\n"
        "\n"
        "--tls\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "TLS report\n"
        "--tls\n"
        "Content-Type: application/tlsrpt+gzip; name=\"example.net!example.com!1!2!001.json.gz\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(gz(b'{"organization-name":"example.net","policies":[]}')) +
        "--tls--\n")

    s["filenames.eml"] = (
        "Subject: names\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=F\n"
        "\n"
        "--F\n"
        "Content-Type: application/zip\n"
        "Content-Disposition: attachment;\n"
        " filename*0*=utf-8''google.com%21ex; filename*1=ample.com.zip\n"
        "\n"
        "a\n"
        "--F\n"
        "Content-Type: application/zip\n"
        "Content-Disposition: inline; filename=\"=?UTF-8?Q?google.com!x!1!2.zip?=\"\n"
        "\n"
        "b\n"
        "--F\n"
        "Content-Type: application/gzip; name*=''example.net%21e.com.xml.gz\n"
        "\n"
        "c\n"
        "--F\n"
        "Content-Type: application/octet-stream;\n"
        " name*1=\"b.zip\"; name*0=\"a\"; name*1=\"dup\"\n"
        "\n"
        "d\n"
        "--F--\n")

    s["alternative_wrapper.eml"] = (
        "Subject: Report Domain: example.com Submitter: example.org\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=\"alt\"\n"
        "\n"
        "--alt\n"
        "Content-Type: text/plain\n"
        "\n"
        "report\n"
        "--alt\n"
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: inline\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(gz(XML)) +
        "--alt--\n")

    s["mangled_headers.eml"] = crlf(
        "From reporter@example.net Mon Feb 11 10:00:00 2019\n"
        "From: reporter@example.net\n"
        "To: <dmarc@example.com>\n"
        "\tname=\"example.net!example.com!1!2.zip\"\n"
        "\tfilename=\"example.net!example.com!1!2.zip\"\n"
        "Subject: Report domain: example.com\n"
        " Submitter: example.net\n"
        "Content-Type: multipart/mixed;\n"
        "\tboundary=\"mangled\"\n"
        "this line is not a header\n"
        "\n"
        "--mangled\n"
        "Content-Type: application/zip;\n"
        "\tname=\"example.net!example.com!1!2.zip\"\n"
        "content-transfer-encoding: base64\n"
        "\n" + b64(zipped("r.xml", XML)) +
        "--mangled--\n")

    s["three.mbox"] = (
        "From a@example.net Mon Jan  1 00:00:00 2024\n"
        "Subject: one\n"
        "MIME-Version: 1.0\n"
        "Content-Type: application/gzip\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(gz(XML)) + "\n"
        "From b@example.net Mon Jan  1 00:00:01 2024\n"
        "Subject: two\n"
        "\n"
        "body\n"
        ">From escaped\n"
        "\n"
        "From c@example.net Mon Jan  1 00:00:02 2024\n"
        "Subject: three\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=M\n"
        "\n"
        "--M\n"
        "Content-Type: text/plain\n"
        "\n"
        "three\n"
        "--M--\n")

    deep = "Subject: deep\nMIME-Version: 1.0\n"
    for i in range(17):
        deep += "Content-Type: multipart/mixed; boundary=d%d\n\n--d%d\n" % (i, i)
    deep += "Content-Type: text/plain\n\nleaf\n"
    for i in range(16, -1, -1):
        deep += "--d%d--\n" % i
    s["depth17.eml"] = deep

    s["malformed.eml"] = (
        "Subject: malformed\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain\n"
        "Content-Type: multipart/mixed; boundary=X\n"
        "\n"
        "preamble\n"
        "--X  \n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        "--X\t\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "SGVs*bG8g\n"
        " d29y!bGQ\n"
        "--X\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "SGk=\nQUJD\n"
        "--X\n"
        "Content-Type: multipart/mixed\n"
        "\n"
        "no boundary\n"
        "--X\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "AAECAwQ=\n"
        "--X\n"
        "Content-Type: multipart/related; boundary=Y\n"
        "\n"
        "--Y\n"
        "\n"
        "truncated, never closed\n")
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "mime")
    os.makedirs(out, exist_ok=True)
    for name, text in sorted(seeds().items()):
        data = text.encode("utf-8")
        assert len(data) < 4096, (name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    with open(os.path.join(out, ".README"), "w") as f:
        f.write(
            "Seed corpus of fuzz/fuzz_mime.c (the MIME walker).\n"
            "\n"
            "Every file was written by fuzz/make_mime_seeds.py (run it from any\n"
            "directory: python3 fuzz/make_mime_seeds.py) and is hand-made: no\n"
            "real mail, nothing from shared sample collections.  The gzip and\n"
            "zip payloads are made by the script with fixed timestamps, so the\n"
            "output is byte-for-byte reproducible.  Each seed is below 4 KiB.\n"
            "\n"
            "The replay test (fuzz/replay.c) skips dot-files such as this one.\n"
            "Inputs the fuzzer finds worth keeping may be added here by name\n"
            "(crash-*, timeout-* after the fix), but regenerate the seeds with\n"
            "the script rather than editing them.\n")


if __name__ == "__main__":
    main()
