#!/usr/bin/env python3
"""make_fixtures.py - write the golden cases of `dmarcd ingest --json`.

Usage: tests/golden/make_fixtures.py [CASES_DIR]   (default: cases/ next to
this script).  The folder is emptied and rewritten; everything in it comes
from this script.  Only the standard library is used.

Every case is an input (a file, or a folder for directory/Maildir cases)
plus what a correct dmarcd must say about it:

  cases/<name>.<ext> or cases/<name>/   the input, passed to dmarcd by its
                                        name relative to cases/
  cases/<name>.expected.json            the exact --json lines, in order;
                                        archive keys as "YYYY/MM/<sha256>.<ext>"
  cases/<name>.stats.json               `dmarcd stats --json` afterwards
  cases/<name>.sql, <name>.sql.out      optional: a query on dmarcd.sqlite
                                        and its exact sqlite3 output

The expected files are NOT captured from dmarcd: they are computed here
from the content that was put into each fixture (which records it holds,
which counts are valid, the SHA-256 of the bytes that are archived), so a
bug in dmarcd cannot leak into them.  `run.sh --update` can overwrite them
with what the binary prints; review such a diff against this script.

Determinism: gzip mtime 0, fixed zip timestamps and attributes, fixed MIME
boundaries, no dates taken from the clock.  Compressed bytes depend on the
zlib version; if they change, the expected files change with them (the
archive keys are the SHA-256 of the bytes written here).

Rules of dmarcd that the expectations encode (SPECS.md 1.5, 6.4, 6.5):
  - <count> must be decimal digits after trimming whitespace, within int64;
    anything else ("-5", "1.0", "abc", "+1", "", missing) skips the record
    (records/messages do not include it); an invalid source_ip keeps it.
  - begin/end may carry a fraction (dropped); values above 10^11 are
    milliseconds (divided by 1000).
  - a report without <report_id> gets "sha256:" + 32 hex digits of the
    SHA-256 of the attachment that held it.
  - policy_domain is lower case without a trailing dot; org_name and
    report_id are the trimmed text (CDATA and text around comments joined).
  - the same report again (same reporter, domain, id, range) is
    "duplicate", whatever container carried it.
  - an input that holds no report gives one line kind "none", status
    "empty", error "no report found".
  - TLS-RPT (RFC 8460): kind "tlsrpt"; records = its policies, messages =
    its sessions (successful + failed, from the summaries); policy_domain
    = the first policy-domain, else the one in the RFC 8460 file name
    (sender!domain!begin!end...), else the "Report Domain:" of the subject;
    dates RFC 3339, a missing time zone read as UTC; a count written as a
    string of digits is read; a duplicate key, a non-integer count, a lone
    surrogate or bytes after the document reject it; the same report-id
    from the same organization again is "duplicate".  `dmarcd stats`
    counts aggregate reports only.
  - failure (ARF) reports of type auth-failure: stored; what is kept (the
    fields read, then the original message's header fields with the
    local part of every address a keyed hash, never its body) is archived
    as .txt and its hash identifies the report; org_name is the
    User-Agent, report_id the (redacted) Message-ID of the original,
    begin = end its Arrival-Date, records = messages = 1.  Other feedback
    types (abuse...): status "ignored".
  - dmarc_pass counts the messages of records whose policy_evaluated dkim
    or spf is "pass" (after lower-casing and alias mapping).
"""
import base64
import hashlib
import io
import json
import os
import quopri
import shutil
import sys
import zipfile
import zlib
import gzip

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(HERE, "cases")

DAY = 86400
T0 = 1700006400  # 2023-11-15 00:00:00 UTC
KEYS = ["input", "kind", "status", "org_name", "report_id", "policy_domain",
        "begin", "end", "records", "messages", "archive_key", "error"]

# ---------------------------------------------------------------------------
# containers


def gz(data, name=None):
    """gzip, mtime 0, optional FNAME."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def zz(data):
    return zlib.compress(data, 9)


ZIP_TIME = (2023, 11, 15, 8, 30, 0)


class _Unseekable:
    """A write-only stream: zipfile then uses data descriptors (flag bit 3)."""

    def __init__(self):
        self.buf = io.BytesIO()

    def write(self, b):
        return self.buf.write(b)

    def flush(self):
        pass


def mkzip(entries, stream=False, when=ZIP_TIME, level=None):
    """entries: list of (name, bytes or None for a directory, method)."""
    sink = _Unseekable() if stream else io.BytesIO()
    with zipfile.ZipFile(sink, "w") as z:
        for ent in entries:
            name, data = ent[0], ent[1]
            method = ent[2] if len(ent) > 2 else zipfile.ZIP_DEFLATED
            zi = zipfile.ZipInfo(name, date_time=when)
            zi.create_system = 3
            if data is None:
                zi.external_attr = (0o40755 << 16) | 0x10
                z.writestr(zi, b"")
            else:
                zi.external_attr = 0o100644 << 16
                zi.compress_type = method
                if level is not None:
                    z.writestr(zi, data, compresslevel=level)
                else:
                    z.writestr(zi, data)
    return sink.buf.getvalue() if stream else sink.getvalue()


def b64(data, nl="\n"):
    return base64.encodebytes(data).decode().replace("\n", nl)


def qp(data):
    enc = quopri.encodestring(data)
    assert quopri.decodestring(enc) == data
    return enc.decode("ascii")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def ext_of(data):
    """What dmarcd names an archived attachment (by content)."""
    if data[:2] == b"\x1f\x8b":
        return "gz"
    if len(data) >= 2 and data[0] == 0x78 and ((data[0] << 8) | data[1]) % 31 == 0 \
            and not data[1] & 0x20:
        return "zz"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "xml"
    s = data[3:] if data[:3] == b"\xef\xbb\xbf" else data
    s = s.lstrip(b" \t\r\n\f\v")
    if s[:1] == b"<":
        return "xml"
    if s[:1] == b"{":
        return "json"
    return "bin"


def key_of(data):
    return "YYYY/MM/%s.%s" % (sha(data), ext_of(data))


# ---------------------------------------------------------------------------
# aggregate XML


class Rec:
    """One <record>.  n: the messages it counts (None: skipped); by default
    derived from count by dmarcd's rule.  passed: DMARC pass."""

    def __init__(self, ip="192.0.2.10", count="1", disp="none", dkim="pass", spf="pass",
                 hf="example.com", ef="example.com", et=None,
                 dkim_auth=(("example.com", "sel1", "pass", None),),
                 spf_auth=(("example.com", "mfrom", "pass", None),),
                 reasons=(), n="auto", passed="auto", row_extra="", rec_extra="",
                 raw=None):
        self.ip, self.count, self.disp, self.dkim, self.spf = ip, str(count), disp, dkim, spf
        self.hf, self.ef, self.et = hf, ef, et
        self.dkim_auth, self.spf_auth, self.reasons = dkim_auth, spf_auth, reasons
        self.row_extra, self.rec_extra, self.raw = row_extra, rec_extra, raw
        if n == "auto":
            c = self.count.strip(" \t\r\n")
            n = int(c) if c.isdigit() and c.isascii() and int(c) < 2**63 else None
        self.n = n
        if passed == "auto":
            passed = any((v or "").strip().lower() == "pass" for v in (dkim, spf))
        self.passed = passed

    def xml(self, p="", ind="  ", nl="\n"):
        if self.raw is not None:
            return self.raw
        i1, i2, i3, i4 = ind, ind * 2, ind * 3, ind * 4
        L = [f"{i1}<{p}record>", f"{i2}<{p}row>"]
        if self.ip is not None:
            L.append(f"{i3}<{p}source_ip>{self.ip}</{p}source_ip>")
        L.append(f"{i3}<{p}count>{self.count}</{p}count>")
        L.append(f"{i3}<{p}policy_evaluated>")
        for tag, v in (("disposition", self.disp), ("dkim", self.dkim), ("spf", self.spf)):
            if v is not None:
                L.append(f"{i4}<{p}{tag}>{v}</{p}{tag}>")
        for t, c in self.reasons:
            s = f"{i4}<{p}reason>"
            s += f"<{p}type/>" if t == "" else (f"<{p}type>{t}</{p}type>" if t is not None else "")
            s += f"<{p}comment/>" if c == "" else (f"<{p}comment>{c}</{p}comment>" if c is not None else "")
            s += f"</{p}reason>"
            L.append(s)
        L.append(f"{i3}</{p}policy_evaluated>")
        if self.row_extra:
            L.append(i3 + self.row_extra)
        L.append(f"{i2}</{p}row>")
        L.append(f"{i2}<{p}identifiers>")
        if self.et is not None:
            L.append(f"{i3}<{p}envelope_to>{self.et}</{p}envelope_to>")
        if self.ef is not None:
            L.append(f"{i3}<{p}envelope_from>{self.ef}</{p}envelope_from>")
        L.append(f"{i3}<{p}header_from>{self.hf}</{p}header_from>")
        L.append(f"{i2}</{p}identifiers>")
        L.append(f"{i2}<{p}auth_results>")
        for d, s, r, h in self.dkim_auth:
            x = f"{i3}<{p}dkim><{p}domain>{d}</{p}domain>"
            if s is not None:
                x += f"<{p}selector>{s}</{p}selector>"
            x += f"<{p}result>{r}</{p}result>"
            if h is not None:
                x += f"<{p}human_result>{h}</{p}human_result>"
            L.append(x + f"</{p}dkim>")
        for d, s, r, h in self.spf_auth:
            x = f"{i3}<{p}spf><{p}domain>{d}</{p}domain>"
            if s is not None:
                x += f"<{p}scope>{s}</{p}scope>"
            x += f"<{p}result>{r}</{p}result>"
            if h is not None:
                x += f"<{p}human_result>{h}</{p}human_result>"
            L.append(x + f"</{p}spf>")
        L.append(f"{i2}</{p}auth_results>")
        if self.rec_extra:
            L.append(i2 + self.rec_extra)
        L.append(f"{i1}</{p}record>")
        return nl.join(L)


class Summary:
    """What dmarcd must report about one aggregate report."""

    def __init__(self, org, rid, domain, begin, end, recs):
        self.org, self.rid, self.domain = org, rid, domain
        self.begin, self.end = begin, end
        kept = [r for r in recs if r.n is not None]
        self.records = len(kept)
        self.messages = sum(r.n for r in kept)
        self.passed = sum(r.n for r in kept if r.passed)
        self.failed = self.messages - self.passed


def recs_xml(recs, p="", nl="\n"):
    return nl.join(r.xml(p, nl=nl) for r in recs)


DECL = '<?xml version="1.0" encoding="UTF-8"?>'


def feedback(org="Example Receiver", email="noreply-dmarc@receiver.example",
             rid="rid-0001", begin=T0, end=T0 + DAY - 1, domain="example.com",
             recs=None, p="", root_attrs="", version="1.0", decl=DECL,
             md=None, md_extra="", policy=None, top_extra="", pre_records="",
             post_records="", nl="\n", exp_org=None, exp_rid=None, exp_domain=None,
             exp_begin=None, exp_end=None):
    """A whole report as text, plus its Summary.  md/policy: raw inner XML
    overriding the defaults."""
    recs = recs if recs is not None else [Rec()]
    if md is None:
        md = (f"    <{p}org_name>{org}</{p}org_name>{nl}"
              f"    <{p}email>{email}</{p}email>{nl}"
              f"    <{p}report_id>{rid}</{p}report_id>{nl}"
              f"    <{p}date_range><{p}begin>{begin}</{p}begin><{p}end>{end}</{p}end></{p}date_range>")
    if md_extra:
        md += nl + "    " + md_extra
    if policy is None:
        policy = (f"    <{p}domain>{domain}</{p}domain>{nl}    <{p}adkim>r</{p}adkim><{p}aspf>r</{p}aspf>"
                  f"{nl}    <{p}p>none</{p}p><{p}sp>none</{p}sp><{p}pct>100</{p}pct>")
    L = []
    if decl:
        L.append(decl)
    L.append(f"<{p}feedback{root_attrs}>")
    if version is not None:
        L.append(f"  <{p}version>{version}</{p}version>")
    L.append(f"  <{p}report_metadata>{nl}{md}{nl}  </{p}report_metadata>")
    L.append(f"  <{p}policy_published>{nl}{policy}{nl}  </{p}policy_published>")
    if top_extra:
        L.append("  " + top_extra)
    if pre_records:
        L.append(pre_records)
    L.append(recs_xml(recs, p, nl))
    if post_records:
        L.append(post_records)
    L.append(f"</{p}feedback>")
    text = nl.join(L) + nl
    s = Summary(exp_org if exp_org is not None else org,
                exp_rid if exp_rid is not None else rid,
                exp_domain if exp_domain is not None else domain.lower().rstrip("."),
                exp_begin if exp_begin is not None else int(str(begin).split(".")[0]),
                exp_end if exp_end is not None else int(str(end).split(".")[0]), recs)
    return text, s


def two_recs(ip1="192.0.2.10", ip2="198.51.100.7"):
    return [
        Rec(ip=ip1, count=3),
        Rec(ip=ip2, count=2, disp="quarantine", dkim="fail", spf="fail", ef="bad.example",
            dkim_auth=(("example.com", "sel1", "fail", None),),
            spf_auth=(("bad.example", "mfrom", "softfail", None),)),
    ]


# ---------------------------------------------------------------------------
# mail


def message(headers, body, nl="\n"):
    """headers: list of 'Name: value' strings (folded lines allowed)."""
    text = "\n".join(headers) + "\n\n" + body
    return text.replace("\r\n", "\n").replace("\n", nl).encode("utf-8")


def part(headers, body):
    return "\n".join(headers) + "\n\n" + body


def multipart(boundary, parts, preamble="", epilogue=""):
    s = preamble
    for p_ in parts:
        s += f"--{boundary}\n{p_}\n"
    s += f"--{boundary}--\n" + epilogue
    return s


def report_headers(subject, msgid, ctype, extra=()):
    return ["Return-Path: <noreply-dmarc@receiver.example>",
            "Received: from mx.receiver.example (mx.receiver.example [192.0.2.25])",
            "\tby mx.example.com with ESMTPS id 4SVd1x0b2cz9s; Wed, 15 Nov 2023 09:00:00 +0000",
            "From: DMARC Aggregate Report <noreply-dmarc@receiver.example>",
            "To: dmarc-rua@example.com",
            f"Subject: {subject}",
            "Date: Wed, 15 Nov 2023 09:00:00 +0000",
            f"Message-ID: <{msgid}@receiver.example>",
            "MIME-Version: 1.0",
            f"Content-Type: {ctype}"] + list(extra)


def attachment_part(data, ctype, filename, disposition="attachment"):
    return part([f'Content-Type: {ctype}; name="{filename}"',
                 f'Content-Disposition: {disposition}; filename="{filename}"',
                 "Content-Transfer-Encoding: base64"], b64(data))


def report_mail(data, ctype, filename, subject="Report Domain: example.com Submitter: receiver.example Report-ID: <rid-0001>",
                msgid="m1", nl="\n", boundary="=_dmarc_b1", text="This is an aggregate report from receiver.example.\n",
                extra_headers=()):
    body = multipart(boundary, [
        part(["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"], text),
        attachment_part(data, ctype, filename),
    ], preamble="This is a multi-part message in MIME format.\n\n")
    return message(report_headers(subject, msgid, f'multipart/mixed; boundary="{boundary}"',
                                  extra_headers), body, nl)


# ---------------------------------------------------------------------------
# expectations


def agg_line(inp, s, status="stored", att=None):
    return {"input": inp, "kind": "aggregate", "status": status, "org_name": s.org,
            "report_id": s.rid, "policy_domain": s.domain, "begin": s.begin, "end": s.end,
            "records": s.records if status in ("stored", "duplicate") else 0,
            "messages": s.messages if status in ("stored", "duplicate") else 0,
            "archive_key": key_of(att) if att is not None else None, "error": None,
            "_summary": s}


def simple_line(inp, kind, status, att, error):
    return {"input": inp, "kind": kind, "status": status, "org_name": None,
            "report_id": None, "policy_domain": None, "begin": None, "end": None,
            "records": 0, "messages": 0,
            "archive_key": key_of(att) if att is not None else None, "error": error}


def empty_line(inp):
    return simple_line(inp, "none", "empty", None, "no report found")


def rfc3339(v):
    """Unix seconds of a TLS-RPT date (the forms the cases use)."""
    import datetime
    v = v.replace("t", "T").replace("z", "Z")
    if "T" not in v:
        v += "T00:00:00Z"
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    elif not ("+" in v[10:] or "-" in v[10:]):
        v += "+00:00"  # no time zone: UTC
    if "." in v:
        head, rest = v.split(".", 1)
        v = head + rest[rest.index("+") if "+" in rest else rest.index("-"):]
    return int(datetime.datetime.fromisoformat(v).timestamp())


def tls_line(inp, doc, att, status="stored", domain=None, error=None):
    """The line of a TLS report made from doc (a dict)."""
    pols = doc["policies"]
    dom = next((p["policy"]["policy-domain"].lower().rstrip(".") for p in pols
                if p.get("policy", {}).get("policy-domain")), domain)
    sessions = sum(int(p["summary"]["total-successful-session-count"]) +
                   int(p["summary"]["total-failure-session-count"]) for p in pols)
    ok = status in ("stored", "duplicate")
    return {"input": inp, "kind": "tlsrpt", "status": status,
            "org_name": doc["organization-name"], "report_id": doc["report-id"], "policy_domain": dom,
            "begin": rfc3339(doc["date-range"]["start-datetime"]),
            "end": rfc3339(doc["date-range"]["end-datetime"]),
            "records": len(pols) if ok else 0, "messages": sessions if ok else 0,
            "archive_key": key_of(att), "error": error}


def tls_rejected(inp, att, error, **known):
    """A rejected TLS report: what was read of it before the error is shown
    (known: org_name, report_id, begin, end, policy_domain)."""
    line = simple_line(inp, "tlsrpt", "rejected", att, error)
    line.update(known)
    return line


# the redaction key golden.py puts into every case's data folder
GOLDEN_KEY = bytes(range(32))


def token(addr):
    """An address with its local part replaced by the keyed hash dmarcd
    writes (failure_redact = hashed): h- and 8 hex digits of
    HMAC-SHA256(key, lower-cased local@domain)."""
    import hmac
    local, dom = addr.rsplit("@", 1)
    mac = hmac.new(GOLDEN_KEY, addr.lower().encode(), "sha256").hexdigest()
    return "h-%s@%s" % (mac[:8], dom)


def failure_doc(fields, headers, form="arf"):
    """What dmarcd keeps of a failure report (archived; its SHA-256 the
    identity): the fields it read, in its order, then the redacted
    original headers."""
    out = "".join("%s: %s\n" % kv for kv in fields)
    out += "X-Dmarcd-Form: %s\nX-Dmarcd-Redaction: hashed\n\n" % form
    return (out + "".join(h + "\n" for h in headers)).encode()


def failure_line(inp, doc, domain, begin, org, message_id, status="stored"):
    """begin: the Arrival-Date (None when the report gave none)."""
    return {"input": inp, "kind": "failure", "status": status, "org_name": org,
            "report_id": message_id, "policy_domain": domain, "begin": begin, "end": begin,
            "records": 1, "messages": 1, "archive_key": "YYYY/MM/%s.txt" % sha(doc), "error": None}


def numbered(inp, lines):
    """Set input to inp, inp#2, inp#3 ... in order."""
    for i, l in enumerate(lines):
        l["input"] = inp if i == 0 else f"{inp}#{i + 1}"
    return lines


def as_duplicates(lines):
    out = []
    for l in lines:
        l = dict(l)
        if l["status"] == "stored":
            l["status"] = "duplicate"
        out.append(l)
    return out


def stats_of(lines):
    per = {}
    for l in lines:
        if l["status"] != "stored" or l["kind"] != "aggregate":
            continue
        s = l["_summary"]
        d = per.setdefault(s.domain, {"domain": s.domain, "reports": 0, "records": 0,
                                      "messages": 0, "dmarc_pass": 0, "dmarc_fail": 0})
        d["reports"] += 1
        d["records"] += s.records
        d["messages"] += s.messages
        d["dmarc_pass"] += s.passed
        d["dmarc_fail"] += s.failed
    doms = [per[k] for k in sorted(per, key=lambda k: k.encode())]
    tot = {"domains": doms}
    for k in ("reports", "records", "messages", "dmarc_pass", "dmarc_fail"):
        tot[k] = sum(d[k] for d in doms)
    return tot


def dumps(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


CASES = []


def case(name, files, lines, sql=None, twice=False):
    """files: {relative path: bytes}; the first path component of every
    file is the case input (name.ext or the folder name)."""
    assert "." not in name and name not in [c[0] for c in CASES], name
    CASES.append((name, files, lines, sql, twice))


def write_all():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for name, files, lines, sql, twice in CASES:
        for rel, data in files.items():
            path = os.path.join(OUT, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        all_lines = lines + (as_duplicates(lines) if twice else [])
        with open(os.path.join(OUT, name + ".expected.json"), "w", encoding="utf-8") as f:
            for l in all_lines:
                f.write(dumps({k: l[k] for k in KEYS}) + "\n")
        with open(os.path.join(OUT, name + ".stats.json"), "w", encoding="utf-8") as f:
            f.write(dumps(stats_of(lines)) + "\n")
        if sql:
            with open(os.path.join(OUT, name + ".sql"), "w") as f:
                f.write(sql[0].strip() + "\n")
            with open(os.path.join(OUT, name + ".sql.out"), "w") as f:
                f.write(sql[1])


def xml_case(name, text_or_bytes, s, ext="xml", sql=None, encoding="utf-8"):
    data = text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode(encoding)
    fn = f"{name}.{ext}"
    case(name, {fn: data}, [agg_line(fn, s, att=data)], sql=sql)
    return data


# ===========================================================================
# 1. XML dialects and quirks (plain .xml inputs)

# -- namespaces
t, s = feedback(recs=two_recs(), rid="ns-none-1")
xml_case("ns-none", t, s)

t, s = feedback(root_attrs=' xmlns="http://dmarc.org/dmarc-xml/0.1"', rid="ns-01-1",
                org="Draft Zero One")
xml_case("ns-dmarc-01", t, s)

t, s = feedback(root_attrs=' xmlns="http://dmarc.org/dmarc-xml/0.2"', version="2.0",
                rid="ns-02-1", recs=two_recs(),
                md_extra="<generator>draft-sender 0.2</generator>")
xml_case("ns-dmarc-02", t, s)

# a mistyped default namespace on <feedback> (seen in a real report): it is
# the report's own, its elements count; an extension in another namespace
# inside it still does not
rs = [Rec(ip="192.0.2.15", count=3, rec_extra='<v:info xmlns:v="urn:example:vendor"><v:count>77</v:count></v:info>'),
      Rec(ip="192.0.2.16", count=2, dkim="fail", spf="fail")]
t, s = feedback(root_attrs=' xmlns="http//dmarc.org/dmarc-xml/0.1"', rid="ns-typo-1",
                org="Typo Mail", recs=rs)
xml_case("ns-mistyped", t, s)

# RFC 9990 default namespace, no <version>, every bis-only element.
t, s = feedback(
    root_attrs=' xmlns="urn:ietf:params:xml:ns:dmarc-2.0"', version=None, rid="bis-default-1",
    org="GMX", md_extra='<generator>Example DMARC Reporter/4.2</generator>',
    policy=("    <domain>example.com</domain>\n    <p>reject</p>\n    <sp>quarantine</sp>\n"
            "    <np>reject</np>\n    <testing>n</testing>\n    <discovery_method>treewalk</discovery_method>"),
    top_extra='<extension><my:policy-hint xmlns:my="urn:example:my-ext">ignore me</my:policy-hint></extension>',
    recs=[Rec(ip="192.0.2.20", count=5, disp="pass"),
          Rec(ip="192.0.2.21", count=1, disp="reject", dkim="fail", spf="fail",
              dkim_auth=(("example.com", "sel1", "fail", "signature did not verify"),),
              spf_auth=(("mail.example.net", None, "fail", "not in the SPF record"),))])
xml_case("ns-bis-default", t, s)

# RFC 9990 namespace with a prefix; <count> and <header_from> unprefixed
# (no namespace inside a namespaced document).
P = "d:"
rs = [Rec(ip="192.0.2.30", count=4), Rec(ip="192.0.2.31", count=6, dkim="fail", spf="pass")]
t, s = feedback(p=P, root_attrs=' xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0"', rid="bis-prefixed-1",
                recs=rs, version=None)
t = t.replace("<d:count>", "<count>").replace("</d:count>", "</count>")
t = t.replace("<d:header_from>", "<header_from>").replace("</d:header_from>", "</header_from>")
xml_case("ns-bis-prefixed", t, s)

# no <version>, 7489 shape
t, s = feedback(version=None, rid="no-version-1")
xml_case("no-version", t, s)

# report_metadata children in another order: date_range first, report_id
# before org_name, email last; policy_published in any order too.
t, s = feedback(
    rid="order-1", org="wp.pl",
    md=("    <date_range>\n      <end>%d</end>\n      <begin>%d</begin>\n    </date_range>\n"
        "    <report_id>order-1</report_id>\n    <extra_contact_info>https://postmaster.wp.pl</extra_contact_info>\n"
        "    <org_name>wp.pl</org_name>\n    <email>dmarc@wp.pl</email>") % (T0 + DAY - 1, T0),
    policy="    <pct>100</pct><p>quarantine</p><sp>none</sp>\n    <domain>example.com</domain><aspf>s</aspf><adkim>s</adkim><fo>1</fo>",
    recs=two_recs())
xml_case("metadata-order", t, s)

# bis-only elements without namespace (reporters that send RFC 9990 fields
# in a 7489-shaped document), version 2.0, disposition pass
t, s = feedback(
    rid="bis-fields-1", version="2.0", org="example.net",
    md_extra="<generator>OpenDMARC 1.5.0</generator>",
    policy=("    <domain>example.com</domain><adkim>s</adkim><aspf>s</aspf><p>reject</p>"
            "<sp>reject</sp><np>quarantine</np><testing>y</testing><discovery_method>psl</discovery_method>"),
    recs=[Rec(ip="192.0.2.40", count=7, disp="pass"),
          Rec(ip="192.0.2.41", count=2, disp="quarantine", dkim="fail", spf="fail",
              reasons=(("policy_test_mode", "t=y"),))])
xml_case("bis-fields", t, s)

# several DKIM and SPF results per record, human_result on both
t, s = feedback(rid="multi-auth-1", recs=[
    Rec(ip="192.0.2.50", count=11,
        dkim_auth=(("example.com", "s2023", "pass", "good signature"),
                   ("esp.example", "k1", "pass", None),
                   ("example.com", "old", "fail", "key revoked"),
                   ("unrelated.example", None, "neutral", None)),
        spf_auth=(("bounces.esp.example", "mfrom", "pass", "sender is authorized"),
                  ("mx.esp.example", "helo", "pass", None))),
    Rec(ip="192.0.2.51", count=1, dkim="fail", spf="fail",
        dkim_auth=(), spf_auth=(("example.com", "mfrom", "permerror", "too many DNS lookups"),))])
xml_case("multi-auth", t, s, sql=(
    "SELECT count, COALESCE(json_array_length(dkim_results), 0),"
    " COALESCE(json_array_length(spf_results), 0) FROM records ORDER BY id;",
    "11|4|2\n1|0|1\n"))

# override reasons, including empty <type/> and <comment/>
t, s = feedback(rid="reasons-1", recs=[
    Rec(ip="192.0.2.60", count=3, disp="none", dkim="fail", spf="fail",
        reasons=(("forwarded", "forwarded by list.example"), ("local_policy", None))),
    Rec(ip="192.0.2.61", count=2, disp="none", dkim="fail", spf="fail",
        reasons=(("", ""),)),
    Rec(ip="192.0.2.62", count=1, disp="none", dkim="fail", spf="pass",
        reasons=(("mailing_list", ""), ("trusted_forwarder", "arc=pass"), ("sampled_out", None),
                 ("other", "see <a>"), ("policy_test_mode", None)))])
t = t.replace("see <a>", "see &lt;a&gt;")
xml_case("override-reasons", t, s, sql=(
    "SELECT count, COALESCE(json_array_length(reasons), 0), json_extract(reasons, '$[0].type'),"
    " json_extract(reasons, '$[0].comment'), json_extract(reasons, '$[3].comment')"
    " FROM records ORDER BY id;",
    "3|2|forwarded|forwarded by list.example|\n2|1|||\n1|5|mailing_list||see <a>\n"))

# UTF-8 BOM before the declaration
t, s = feedback(rid="bom-1", org="Ünïcödé Reporter GmbH", recs=two_recs())
xml_case("utf8-bom", b"\xef\xbb\xbf" + t.encode(), s)

# leading whitespace (blank lines, spaces, a tab) before <?xml
t, s = feedback(rid="leading-ws-1")
xml_case("leading-whitespace", "\n\r\n   \t\n" + t, s)

# encoding="windows-1252" with 0x93/0x94 (curly quotes) and 0x80 (euro)
t, s = feedback(decl='<?xml version="1.0" encoding="windows-1252"?>', rid="cp1252-1",
                org="\u201cQuoted\u201d Mail \u20ac GmbH", recs=two_recs())
data = t.encode("cp1252")
assert b"\x93Quoted\x94 Mail \x80 GmbH" in data
xml_case("cp1252", data, s)

# ISO-8859-1
t, s = feedback(decl='<?xml version="1.0" encoding="ISO-8859-1"?>', rid="latin1-1",
                org="Messagerie S\u00e9curis\u00e9e \u00c9lys\u00e9e")
data = t.encode("latin-1")
assert b"S\xe9curis\xe9e" in data
xml_case("latin1", data, s)

# UTF-16 LE with BOM
t, s = feedback(decl='<?xml version="1.0" encoding="UTF-16"?>', rid="utf16-1",
                org="UTF-16 Reporter \u00e5", recs=two_recs())
xml_case("utf16le", b"\xff\xfe" + t.encode("utf-16-le"), s)

# CRLF line endings throughout
t, s = feedback(rid="crlf-1", recs=two_recs(), nl="\r\n")
t = t.replace("\n", "\r\n").replace("\r\r\n", "\r\n")
assert "\n" not in t.replace("\r\n", "")
xml_case("crlf", t, s)

# the whole report on one line, declaration glued to the root
t, s = feedback(rid="one-line-1", recs=two_recs())
t = "".join(line.strip() for line in t.splitlines())
assert "\n" not in t
xml_case("one-line", t, s)

# float timestamps
t, s = feedback(rid="float-ts-1", begin="1700006400.0", end="1700092799.999999")
xml_case("float-timestamps", t, s)

# milliseconds timestamps
t, s = feedback(rid="ms-ts-1", begin=T0 * 1000, end=(T0 + DAY) * 1000 - 1,
                exp_begin=T0, exp_end=T0 + DAY - 1)
xml_case("ms-timestamps", t, s)

# empty elements everywhere they may be empty
t, s = feedback(
    rid="empty-els-1",
    org="Empty Elements Inc",
    md=(f"    <org_name>Empty Elements Inc</org_name>\n    <email/>\n    <extra_contact_info></extra_contact_info>\n"
        f"    <report_id>empty-els-1</report_id>\n    <date_range><begin>{T0}</begin><end>{T0 + DAY - 1}</end></date_range>\n    <error/>"),
    policy="    <domain>example.com</domain><adkim/><aspf></aspf><p>none</p><sp></sp><pct/><fo/>",
    recs=[Rec(ip="192.0.2.70", count=2, ef="", dkim_auth=(), spf_auth=()),
          Rec(ip="192.0.2.71", count=1, et="", ef="", dkim_auth=(("example.com", "", "pass", ""),),
              spf_auth=(("", "", "none", None),))])
t = t.replace("<auth_results>\n    </auth_results>", "<auth_results/>")
xml_case("empty-elements", t, s)

# IPv6 and IP oddities; invalid IPs keep their record
ips = [("2001:db8::1", "20010DB8000000000000000000000001"),
       ("2001:0db8:0000:0000:0000:0000:0000:0002", "20010DB8000000000000000000000002"),
       ("2001:DB8::A", "20010DB800000000000000000000000A"),
       ("::ffff:192.0.2.7", "00000000000000000000FFFFC0000207"),
       ("192.0.2.8", "00000000000000000000FFFFC0000208"),
       ("[2001:db8::5]", "20010DB8000000000000000000000005"),
       (" 54.240.8.61 (a8-61.smtp-out.amazonses.com) ", "00000000000000000000FFFF36F0083D"),
       ("not-an-ip", ""),
       ("192.0.2.300", ""),
       ("010.001.002.003", ""),
       ("fe80::1%eth0", ""),
       ("", "")]
rs = [Rec(ip=ip, count=i + 1) for i, (ip, _) in enumerate(ips)]
t, s = feedback(rid="ipv6-1", recs=rs)
xml_case("ip-forms", t, s, sql=(
    "SELECT hex(source_ip), count FROM records ORDER BY id;",
    "".join(f"{h}|{i + 1}\n" for i, (_, h) in enumerate(ips))))

# bad counts: each skips its record; good ones with blanks/leading zeros count
rs = [Rec(ip="192.0.2.80", count="-5"), Rec(ip="192.0.2.81", count="1.0"),
      Rec(ip="192.0.2.82", count="abc"), Rec(ip="192.0.2.83", count=""),
      Rec(ip="192.0.2.84", count="+1"), Rec(ip="192.0.2.85", count="1e3"),
      Rec(ip="192.0.2.86", count="99999999999999999999"),
      Rec(ip="192.0.2.87", count="3"), Rec(ip="192.0.2.88", count=" 4\n"),
      Rec(ip="192.0.2.89", count="007")]
for r in rs[:7]:
    assert r.n is None, r.count
assert [r.n for r in rs[7:]] == [3, 4, 7]
no_count = Rec(raw="  <record><row><source_ip>192.0.2.90</source_ip><policy_evaluated><disposition>none</disposition>"
                   "<dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>example.com"
                   "</header_from></identifiers><auth_results/></record>", n=None)
empty_row = Rec(raw="  <record><row/><identifiers><header_from>example.com</header_from></identifiers>"
                    "<auth_results/></record>", n=None)
t, s = feedback(rid="bad-counts-1", recs=rs + [no_count, empty_row])
assert (s.records, s.messages) == (3, 14)
xml_case("bad-counts", t, s, sql=("SELECT count FROM records ORDER BY id;", "3\n4\n7\n"))

# upper/mixed-case and aliased enumerations
rs = [Rec(ip="192.0.2.100", count=5, disp="Quarantine", dkim="PASS", spf="Fail",
          dkim_auth=(("example.com", "s1", "Pass", None),),
          spf_auth=(("example.com", "MFROM", "SoftFail", None),)),
      Rec(ip="192.0.2.101", count=2, disp=" REJECT ", dkim="FAIL", spf=" fail ",
          dkim_auth=(("example.com", "s1", "hardfail", None),),
          spf_auth=(("example.com", "mfrom", "None", None),)),
      Rec(ip="192.0.2.102", count=1, disp="None", dkim="hardfail", spf="FAIL",
          spf_auth=(("example.com", "mfrom", "Unknown", None),)),
      Rec(ip="192.0.2.103", count=4, disp="none", dkim="Fail", spf="Pass",
          spf_auth=(("example.com", "mfrom", "error", None),))]
t, s = feedback(rid="enum-case-1", org="Upper Case Org",
                policy="    <domain>Example.COM.</domain><adkim>R</adkim><aspf>S</aspf><p>REJECT</p><sp>None</sp>",
                exp_domain="example.com", recs=rs)
xml_case("enum-case", t, s, sql=(
    "SELECT disposition, dkim, spf, dmarc_pass, count, json_extract(dkim_results, '$[0].result'),"
    " json_extract(spf_results, '$[0].result'), json_extract(spf_results, '$[0].scope')"
    " FROM records ORDER BY id;",
    "quarantine|pass|fail|1|5|pass|softfail|mfrom\n"
    "reject|fail|fail|0|2|fail|none|mfrom\n"
    "none|fail|fail|0|1|pass|temperror|mfrom\n"
    "none|fail|pass|1|4|pass|permerror|mfrom\n"))

# CDATA and comments inside values
rs = [Rec(ip="<![CDATA[192.0.2.110]]>", count="1<!-- the count -->2", n=12, disp="<![CDATA[none]]>"),
      Rec(ip="192.0.2.111", count="<![CDATA[ 5 ]]>", n=5, dkim="pa<!-- x -->ss", spf="fail", passed=True)]
t, s = feedback(
    rid="cdata-1",
    md=(f"    <org_name><![CDATA[Example & Sons <Mail>]]></org_name>\n    <email>dmarc@sons.example</email>\n"
        f"    <report_id><![CDATA[cdata]]>-<!-- joined -->1</report_id>\n"
        f"    <date_range><begin><!-- b -->{T0}</begin><end>{T0 + DAY - 1}<!-- e --></end></date_range>"),
    policy="    <domain><![CDATA[example.com]]></domain><p>re<!--x-->ject</p>",
    exp_org="Example & Sons <Mail>", exp_rid="cdata-1", recs=rs)
xml_case("cdata-comments", t, s)

# extension elements in other namespaces, at every level; DMARC local
# names inside them must not count
ext_top = ('<extension><x:data xmlns:x="urn:example:ext"><x:count>999</x:count>'
           '<record><row><source_ip>203.0.113.1</source_ip><count>1000</count></row></record></x:data></extension>')
rs = [Rec(ip="192.0.2.120", count=8, row_extra='<x:count xmlns:x="urn:example:ext">50</x:count>',
          rec_extra='<v:info xmlns:v="urn:example:vendor"><v:count>77</v:count><v:source_ip>203.0.113.9</v:source_ip></v:info>'),
      Rec(ip="192.0.2.121", count=1)]
t, s = feedback(
    rid="ext-1", root_attrs=' xmlns:v="urn:example:vendor"', top_extra=ext_top, recs=rs,
    md_extra='<v:contact lang="en">vendor data</v:contact>',
    post_records=('  <v:record><row><source_ip>203.0.113.2</source_ip><count>500</count></row>'
                  '<identifiers><header_from>example.com</header_from></identifiers></v:record>'))
xml_case("extensions", t, s)

# records before report_metadata and policy_published
rs = two_recs()
t, s = feedback(rid="record-first-1", recs=[])
t_recs = recs_xml(rs)
t = t.replace("  <report_metadata>", t_recs + "\n  <report_metadata>", 1)
s = Summary("Example Receiver", "record-first-1", "example.com", T0, T0 + DAY - 1, rs)
xml_case("record-first", t, s)

# more records before the metadata than ingest keeps in memory
# (DM_MAX_BATCH_RECORDS, 4096): they wait in a file under tmp/ and reach
# the store in order, every field intact, once the report's identity is
# known; the second ingest finds it stored (a "twice-" case)
def spill_rec(i):
    kw = {}
    if i % 3 == 0:
        kw.update(reasons=(("forwarded", "list %d" % i),), et="rcpt.example")
    if i % 2:
        kw.update(dkim_auth=(("example.com", "s%d" % (i % 5), "pass", None),
                             ("esp.example", "k1", "fail", "bad sig %d" % i)))
    return Rec(ip="198.18.%d.%d" % (i // 256, i % 256), count=i % 7 + 1, **kw)


def spill_row(r):
    j = lambda v: json.dumps(v, separators=(",", ":")) if v else ""
    dk = [dict([("domain", d), ("selector", k), ("result", x)] + ([("human_result", h)] if h else []))
          for d, k, x, h in r.dkim_auth]
    sp = [dict([("domain", d), ("scope", k), ("result", x)] + ([("human_result", h)] if h else []))
          for d, k, x, h in r.spf_auth]
    return "%s|%s|%s|%s|%s" % (r.count, r.et or "", j([{"type": t, "comment": c} for t, c in r.reasons]),
                               j(dk), j(sp))


rs = [spill_rec(i) for i in range(5000)]
t, s = feedback(rid="record-first-spilled-1", recs=[])
t = t.replace("  <report_metadata>", recs_xml(rs) + "\n  <report_metadata>", 1)
s = Summary("Example Receiver", "record-first-spilled-1", "example.com", T0, T0 + DAY - 1, rs)
data = gz(t.encode(), name="spilled.xml")
sql = ("SELECT COUNT(*), SUM(count), COUNT(reasons), COUNT(envelope_to) FROM records;\n"
       "SELECT SUM(messages), SUM(records) FROM daily;\n"
       "SELECT count, envelope_to, reasons, dkim_results, spf_results FROM records ORDER BY id"
       " LIMIT 4 OFFSET 4094;\n"
       "SELECT count, envelope_to, reasons, dkim_results, spf_results FROM records ORDER BY id"
       " LIMIT 2 OFFSET 4998;\n")
out = ["%d|%d|%d|%d" % (len(rs), sum(r.n for r in rs), sum(1 for r in rs if r.reasons),
                        sum(1 for r in rs if r.et)),
       "%d|%d" % (sum(r.n for r in rs), len(rs))]
out += [spill_row(r) for r in rs[4094:4098]] + [spill_row(r) for r in rs[4998:]]
case("twice-record-first-spilled", {"twice-record-first-spilled.xml.gz": data},
     [agg_line("twice-record-first-spilled.xml.gz", s, att=data)], sql=(sql, "\n".join(out) + "\n"),
     twice=True)

# no <org_name> and no <email>: the reporter is empty; its records wait in
# ingest until the report's end, and it is stored once all the same
t, s = feedback(rid="no-reporter-1", exp_org="",
                md="    <report_id>no-reporter-1</report_id>\n"
                   "    <date_range><begin>%d</begin><end>%d</end></date_range>" % (T0, T0 + DAY - 1))
case("twice-no-reporter", {"twice-no-reporter.xml": t.encode()},
     [agg_line("twice-no-reporter.xml", s, att=t.encode())], twice=True)

# no <report_id>: the id is made from the attachment's hash
t, s = feedback(
    md=(f"    <org_name>No Id Corp</org_name>\n    <email>dmarc@noid.example</email>\n"
        f"    <date_range><begin>{T0}</begin><end>{T0 + DAY - 1}</end></date_range>"),
    org="No Id Corp", rid=None)
data = t.encode()
s.rid = "sha256:" + sha(data)[:32]
xml_case("missing-report-id", data, s)

# a week-long range: the daily rollup spreads the counts over 7 days
rs = [Rec(ip="192.0.2.130", count=70), Rec(ip="192.0.2.131", count=10, dkim="fail", spf="fail")]
t, s = feedback(rid="week-1", begin=T0, end=T0 + 7 * DAY - 1, org="Trustwave", recs=rs)


def spread(count, begin, end):
    """What rollup_add does: split by seconds covered, cumulative rounding."""
    d0, d1 = begin // DAY, (end - 1) // DAY
    total, cum, given, out = end - begin, 0, 0, []
    for k in range(d1 - d0 + 1):
        ds = (d0 + k) * DAY
        lo, hi = max(begin, ds), min(end, ds + DAY)
        cum += max(0, hi - lo)
        upto = count if k == d1 - d0 else count * cum // total
        out.append((ds, upto - given))
        given = upto
    return out


days = {}
for r in rs:
    for ds, part_ in spread(r.n, T0, T0 + 7 * DAY - 1):
        days[ds] = days.get(ds, 0) + part_
assert len(days) == 7 and sum(days.values()) == 80
xml_case("multi-day", t, s, sql=(
    "SELECT day, SUM(messages) FROM daily GROUP BY day ORDER BY day;",
    "".join(f"{d}|{m}\n" for d, m in sorted(days.items()))))

# stray text between elements (mixed content): ignored
t, s = feedback(rid="mixed-1", recs=two_recs(),
                policy="    <domain>example.com</domain>\n    <p>none</p>\n    <sp>none</sp>11",
                pre_records="  stray text before the records &amp; more",
                post_records="  trailing text")
t = t.replace("<row>", "<row>row text", 1).replace("</report_metadata>", "meta text</report_metadata>")
xml_case("mixed-content", t, s)

# old dmarc.org wiki draft: no version, comment before the root, DKIM
# without selector, SPF without scope
t, s = feedback(version=None, rid="wiki-1", org="acme.com", decl=DECL + "\n<!-- generated by hand -->",
                recs=[Rec(ip="72.150.241.94", count=2, disp="none", dkim="fail", spf="pass",
                          dkim_auth=(("acme.com", None, "fail", ""),),
                          spf_auth=(("acme.com", None, "pass", None),))])
xml_case("old-draft", t, s)

# no XML declaration at all
t, s = feedback(decl="", rid="no-decl-1")
xml_case("no-declaration", t, s)

# content decides: XML in a file named .gz, gzip in a file named .xml
t, s = feedback(rid="named-gz-1")
data = t.encode()
case("misnamed-xml", {"misnamed-xml.xml.gz": data}, [agg_line("misnamed-xml.xml.gz", s, att=data)])
t, s = feedback(rid="named-xml-1")
data = gz(t.encode())
case("misnamed-gzip", {"misnamed-gzip.xml": data}, [agg_line("misnamed-gzip.xml", s, att=data)])

# ===========================================================================
# 2. containers

t, s = feedback(rid="gz-1", org="FastMail Pty Ltd", recs=two_recs())
data = gz(t.encode(), name="fastmail.com!example.com!1700006400!1700092799!gz-1.xml")
case("gzip", {"gzip.xml.gz": data}, [agg_line("gzip.xml.gz", s, att=data)])

t, s = feedback(rid="zip-1", org="google.com", recs=two_recs())
data = mkzip([("google.com!example.com!1700006400!1700092799.xml", t.encode())])
case("zip-one", {"zip-one.zip": data}, [agg_line("zip-one.zip", s, att=data)])

t1, s1 = feedback(rid="zip-two-a", org="Two Entry Sender", domain="example.com", recs=two_recs())
t2, s2 = feedback(rid="zip-two-b", org="Two Entry Sender", domain="example.org",
                  recs=[Rec(ip="203.0.113.5", count=9, hf="example.org")])
data = mkzip([("a.xml", t1.encode()), ("b.xml", t2.encode(), zipfile.ZIP_STORED)])
case("zip-two", {"zip-two.zip": data},
     numbered("zip-two.zip", [agg_line("", s1, att=data), agg_line("", s2, att=data)]))

t, s = feedback(rid="zip-sub-1", recs=two_recs())
data = mkzip([("reports/", None), ("reports/2023/", None),
              ("reports/2023/receiver.example!example.com!1700006400!1700092799.xml", t.encode())])
case("zip-subfolder", {"zip-subfolder.zip": data}, [agg_line("zip-subfolder.zip", s, att=data)])

t, s = feedback(rid="zip-gz-1")
inner = gz(t.encode(), name="report.xml")
data = mkzip([("receiver.example!example.com!1700006400!1700092799.xml.gz", inner, zipfile.ZIP_STORED)])
case("zip-gzip", {"zip-gzip.zip": data}, [agg_line("zip-gzip.zip", s, att=data)])

t, s = feedback(rid="zip-dd-1", recs=two_recs())
data = mkzip([("streamed.xml", t.encode())], stream=True)
assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x08
case("zip-data-descriptor", {"zip-data-descriptor.zip": data},
     [agg_line("zip-data-descriptor.zip", s, att=data)])

t, s = feedback(rid="gz-gz-1")
data = gz(gz(t.encode(), name="report.xml"), name="report.xml.gz")
case("gzip-gzip", {"gzip-gzip.xml.gz.gz": data}, [agg_line("gzip-gzip.xml.gz.gz", s, att=data)])

t, s = feedback(rid="zlib-1", recs=two_recs())
data = zz(t.encode())
case("zlib", {"zlib.xml.zz": data}, [agg_line("zlib.xml.zz", s, att=data)])

# gzip followed by CRLF (Mimecast, parsedmarc#429)
t, s = feedback(rid="gz-crlf-1", org="Mimecast")
data = gz(t.encode()) + b"\r\n"
case("gzip-trailing-crlf", {"gzip-trailing-crlf.xml.gz": data},
     [agg_line("gzip-trailing-crlf.xml.gz", s, att=data)])

# two gzip members that together hold one document (RFC 1952)
t, s = feedback(rid="gz-multi-1", recs=two_recs())
half = len(t) // 2
data = gz(t[:half].encode()) + gz(t[half:].encode())
case("gzip-multimember", {"gzip-multimember.xml.gz": data},
     [agg_line("gzip-multimember.xml.gz", s, att=data)])

# ===========================================================================
# 3. mail

# base64 zip attachment, CRLF message (Google style)
t, s = feedback(rid="mail-zip-1", org="google.com", recs=two_recs())
att = mkzip([("google.com!example.com!1700006400!1700092799.zip.xml", t.encode())])
m = report_mail(att, "application/zip", "google.com!example.com!1700006400!1700092799.zip",
                subject="Report domain: example.com Submitter: google.com Report-ID: 1234567890",
                nl="\r\n")
case("mail-base64-zip", {"mail-base64-zip.eml": m}, [agg_line("mail-base64-zip.eml", s, att=att)])

# quoted-printable XML (no newline at its end: the line break before the
# boundary belongs to the boundary)
t, s = feedback(rid="mail-qp-1", org="Quoted Printable Mailer", recs=two_recs())
t = t.rstrip("\n").replace("  <version>", "  <!-- a long comment line that is longer than seventy-six characters so that QP must break it with a soft line break -->\n  <version>")
att = t.encode()
body = multipart("qp-b", [
    part(["Content-Type: text/plain"], "Report attached.\n"),
    part(['Content-Type: text/xml; charset="utf-8"; name="report.xml"',
          'Content-Disposition: attachment; filename="receiver.example!example.com!1700006400!1700092799.xml"',
          "Content-Transfer-Encoding: quoted-printable"], qp(att)),
])
assert "=3D" in body and "=\n" in body
m = message(report_headers("Report Domain: example.com Submitter: qp.example Report-ID: <mail-qp-1>",
                           "qp1", 'multipart/mixed; boundary="qp-b"'), body)
case("mail-qp-xml", {"mail-qp-xml.eml": m}, [agg_line("mail-qp-xml.eml", s, att=att)])

# a 7bit text/xml part, inline, no file name
t, s = feedback(rid="mail-inline-1", org="Inline Sender")
att = t.rstrip("\n").encode()
body = multipart("inl", [part(["Content-Type: text/xml", "Content-Disposition: inline"], att.decode())])
m = message(report_headers("Report Domain: example.com Submitter: inline.example", "inl1",
                           "multipart/mixed; boundary=inl"), body)
case("mail-inline-xml", {"mail-inline-xml.eml": m}, [agg_line("mail-inline-xml.eml", s, att=att)])

# a report mail forwarded as message/rfc822 (O365 forwarding Google)
t, s = feedback(rid="fwd-1", org="google.com")
att = gz(t.encode(), name="report.xml")
inner = report_mail(att, "application/gzip", "google.com!example.com!1700006400!1700092799.xml.gz",
                    msgid="inner1").decode()
body = multipart("fwd-outer", [
    part(["Content-Type: text/plain; charset=utf-8"], "FYI, forwarding the DMARC report below.\n"),
    part(["Content-Type: message/rfc822", "Content-Disposition: attachment; filename=\"report.eml\""],
         inner),
])
m = message(["From: Admin <admin@example.com>", "To: dmarc-rua@example.com",
             "Subject: FW: Report domain: example.com Submitter: google.com",
             "Date: Thu, 16 Nov 2023 10:00:00 +0000", "Message-ID: <fwd1@example.com>",
             "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="fwd-outer"'], body)
case("mail-forwarded", {"mail-forwarded.eml": m}, [agg_line("mail-forwarded.eml", s, att=att)])

# the same, with the forwarded message base64-encoded
t, s = feedback(rid="fwd-b64-1", org="google.com")
att = mkzip([("report.xml", t.encode())])
inner = report_mail(att, "application/zip", "report.zip", msgid="inner2")
body = multipart("fwd-b64", [
    part(["Content-Type: text/plain"], "Forwarded.\n"),
    part(["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"], b64(inner)),
])
m = message(["From: Admin <admin@example.com>", "To: dmarc-rua@example.com",
             "Subject: Fwd: report", "Message-ID: <fwd2@example.com>", "MIME-Version: 1.0",
             "Content-Type: multipart/mixed; boundary=fwd-b64"], body)
case("mail-forwarded-base64", {"mail-forwarded-base64.eml": m},
     [agg_line("mail-forwarded-base64.eml", s, att=att)])

# the whole message is one application/octet-stream part holding gzip
# (Amazon SES), and the gzip has a trailing CRLF (Mimecast)
t, s = feedback(rid="ses-1", org="Amazon SES")
att = gz(t.encode()) + b"\r\n"
m = message(report_headers("Report Domain: example.com Submitter: amazonses.com Report-ID: ses-1",
                           "ses1", 'application/octet-stream; name="amazonses.com!example.com!1700006400!1700092799.xml.gz"',
                           ["Content-Transfer-Encoding: base64",
                            'Content-Disposition: attachment; filename="amazonses.com!example.com!1700006400!1700092799.xml.gz"']),
            b64(att), nl="\r\n")
case("mail-octet-gzip", {"mail-octet-gzip.eml": m}, [agg_line("mail-octet-gzip.eml", s, att=att)])

# zip bytes labelled application/gzip with a .xml.gz name (GMX); RFC 2047
# encoded file name
t, s = feedback(rid="gmx-1", org="GMX")
att = mkzip([("report.xml", t.encode())])
m = message(report_headers("Report Domain: example.com Submitter: gmx.net", "gmx1",
                           'multipart/mixed; boundary="gmx"'),
            multipart("gmx", [part(['Content-Type: application/gzip; name="=?UTF-8?Q?gmx.net!example.com!1700006400!1700092799.xml.gz?="',
                                    "Content-Transfer-Encoding: base64"], b64(att))]))
case("mail-zip-labelled-gzip", {"mail-zip-labelled-gzip.eml": m},
     [agg_line("mail-zip-labelled-gzip.eml", s, att=att)])

# attachment inside multipart/alternative (rspamd)
t, s = feedback(rid="alt-1", org="rspamd", recs=two_recs())
att = gz(t.encode())
body = multipart("alt-b", [
    part(["Content-Type: text/plain; charset=utf-8"], "This is a report.\n"),
    part(["Content-Type: text/html; charset=utf-8"], "<p>This is a report.</p>\n"),
    attachment_part(att, "application/gzip", "rspamd.xml.gz"),
])
m = message(report_headers("Report Domain: example.com Submitter: rspamd.example", "alt1",
                           'multipart/alternative; boundary="alt-b"'), body)
case("mail-alternative", {"mail-alternative.eml": m}, [agg_line("mail-alternative.eml", s, att=att)])

# two report attachments in one mail: two lines, the second "#2"
t1, s1 = feedback(rid="two-att-a", org="Two Attachments", domain="example.com", recs=two_recs())
t2, s2 = feedback(rid="two-att-b", org="Two Attachments", domain="example.net",
                  recs=[Rec(ip="203.0.113.50", count=6, hf="example.net")])
att1, att2 = gz(t1.encode()), mkzip([("b.xml", t2.encode())])
body = multipart("two", [
    part(["Content-Type: text/plain"], "Two reports.\n"),
    attachment_part(att1, "application/gzip", "a.xml.gz"),
    attachment_part(att2, "application/zip", "b.zip"),
])
m = message(report_headers("Reports", "two1", "multipart/mixed; boundary=two"), body)
case("mail-two-reports", {"mail-two-reports.eml": m},
     numbered("mail-two-reports.eml", [agg_line("", s1, att=att1), agg_line("", s2, att=att2)]))

# mbox with three messages (one body line escaped as ">From ")
mbox = b""
mlines = []
for i in range(1, 4):
    t, s = feedback(rid=f"mbox-{i}", org=f"Mbox Sender {i}", recs=[Rec(ip=f"192.0.2.{140 + i}", count=i * 10)])
    att = gz(t.encode()) if i != 2 else t.encode()
    ctype = "application/gzip" if i != 2 else "text/xml"
    mm = report_mail(att, ctype, f"r{i}.xml" + (".gz" if i != 2 else ""), msgid=f"mbox{i}",
                     text=f"Report {i}.\n>From the reporting team, with love.\n")
    mbox += f"From noreply-dmarc@receiver.example Wed Nov 15 09:0{i}:00 2023\n".encode() + mm + b"\n"
    mlines.append(agg_line("", s, att=att))
case("mbox-three", {"mbox-three.mbox": mbox}, numbered("mbox-three.mbox", mlines))

# Maildir: cur/ and new/ hold a message each, tmp/ is empty
t1, s1 = feedback(rid="maildir-1", org="Maildir Sender")
t2, s2 = feedback(rid="maildir-2", org="Maildir Sender", recs=two_recs())
a1, a2 = gz(t1.encode()), mkzip([("r.xml", t2.encode())])
f1 = "maildir/cur/1700038800.M1P4242.mx.example.com:2,S"
f2 = "maildir/new/1700042400.M2P4243.mx.example.com"
case("maildir", {f1: report_mail(a1, "application/gzip", "r.xml.gz", msgid="md1"),
                 f2: report_mail(a2, "application/zip", "r.zip", msgid="md2"),
                 "maildir/tmp/.keep": b""},
     [agg_line(f1, s1, att=a1), agg_line(f2, s2, att=a2)])

# TLS-RPT (RFC 8460): stored, archived
tls_doc = {
    "organization-name": "Example TLS Reporter", "date-range": {
        "start-datetime": "2023-11-15T00:00:00Z", "end-datetime": "2023-11-15T23:59:59Z"},
    "contact-info": "smtp-tls-reporting@reporter.example", "report-id": "2023-11-15T00:00:00Z_example.com",
    "policies": [{"policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce",
                                                                      "mx: mx.example.com", "max_age: 86400"],
                             "policy-domain": "example.com", "mx-host": ["mx.example.com"]},
                  "summary": {"total-successful-session-count": 120, "total-failure-session-count": 2},
                  "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "2001:db8::25",
                                       "receiving-mx-hostname": "mx.example.com",
                                       "failed-session-count": 2}]}]}
tls = json.dumps(tls_doc, indent=2).encode()
case("tlsrpt-json", {"tlsrpt-json.json": tls}, [tls_line("tlsrpt-json.json", tls_doc, tls)],
     sql=("SELECT reporter, report_id, policy_domain, date_begin, day, policies, failure_details, success,"
          " failure FROM tls_reports;",
          "example tls reporter|2023-11-15T00:00:00Z_example.com|example.com|1700006400|1700006400|1|1|120|2\n"))
tlsgz = gz(tls)
case("tlsrpt-gzip", {"tlsrpt-gzip.json.gz": tlsgz}, [tls_line("tlsrpt-gzip.json.gz", tls_doc, tlsgz)])
body = multipart("tls-b", [
    part(["Content-Type: text/plain"], "This is an aggregate TLS report from reporter.example\n"),
    part(['Content-Type: application/tlsrpt+gzip; name="reporter.example!example.com!1700006400!1700092799.json.gz"',
          "Content-Transfer-Encoding: base64",
          'Content-Disposition: attachment; filename="reporter.example!example.com!1700006400!1700092799.json.gz"'],
         b64(tlsgz)),
])
m = message(["From: tls-reports@reporter.example", "To: tlsrpt@example.com",
             "Subject: Report Domain: example.com Submitter: reporter.example Report-ID: <2023.11.15T00.00.00Z+example.com@reporter.example>",
             "TLS-Report-Domain: example.com", "TLS-Report-Submitter: reporter.example",
             "Message-ID: <tls1@reporter.example>", "MIME-Version: 1.0",
             'Content-Type: multipart/report; report-type="tlsrpt"; boundary="tls-b"'], body)
case("tlsrpt-mail", {"tlsrpt-mail.eml": m}, [tls_line("tlsrpt-mail.eml", tls_doc, tlsgz)])
# the same report in three containers: stored once
case("twice-tlsrpt", {"twice-tlsrpt.json.gz": tlsgz}, [tls_line("twice-tlsrpt.json.gz", tls_doc, tlsgz)],
     twice=True)

# what real reporters send (SPECS 3.4, 6.6): keys in another order, mx-host
# a string and a list, no sending-mta-ip (Microsoft), no policy-domain for
# no-policy-found (Postfix's reporter), host names in capitals (kept lower
# case), a date without a time zone, one
# with fractional seconds and an offset, an IPv6 address with leading
# zeros, counts written as strings, a BOM, unknown members
quirk = {
    "policies": [
        {"failure-details": [
            {"failed-session-count": 3, "receiving-mx-hostname": "MX1.Quirks.Example",
             "result-type": "STARTTLS-Not-Supported", "receiving-ip": "2001:0db8:0000::0025",
             "failure-reason-code": "421 4.7.0 TLS not available", "x-extension": {"a": [1, 2]}},
            {"failed-session-count": 4, "sending-mta-ip": "2001:db8:abcd:0013::1", "result-type":
             "validation-failure", "receiving-mx-hostname": "mx2.quirks.example",
             "additional-information": "https://reporter.example/why?id=7"}],
         "summary": {"total-failure-session-count": "7", "total-successful-session-count": 900},
         "policy": {"mx-host": "*.quirks.example", "policy-domain": "Quirks.Example.",
                    "policy-string": ["version: STSv1", "mode: testing"], "policy-type": "sts"}},
        {"policy": {"policy-type": "no-policy-found", "mx-host": ["mx1.quirks.example", "mx2.quirks.example"]},
         "summary": {"total-successful-session-count": 50, "total-failure-session-count": 0}}],
    "report-id": "quirks-1@reporter.example",
    "contact-info": "tls@reporter.example",
    "date-range": {"end-datetime": "2023-11-16T02:59:59.999+03:00", "start-datetime": "2023-11-15T00:00:00"},
    "organization-name": "Quirky Reporter",
}
qd = b"\xef\xbb\xbf" + json.dumps(quirk, indent=1).encode()
case("tlsrpt-quirks", {"tlsrpt-quirks.json": qd}, [tls_line("tlsrpt-quirks.json", quirk, qd)],
     sql=("SELECT 'p', idx, policy_type, policy_domain, domain, mx_host, replace(policy_string, char(10), '/'),"
          " success, failure,"
          " NULL, NULL FROM tls_policies UNION ALL"
          " SELECT 'f', n, policy, result_type, sending_ip, receiving_mx_hostname, receiving_ip,"
          " additional_info, failure_reason_code, sessions, day FROM tls_failures ORDER BY 1 DESC, 2;",
          "p|0|sts|quirks.example|quirks.example|*.quirks.example|version: STSv1/mode: testing|900|7||\n"
          "p|1|no-policy-found||quirks.example|mx1.quirks.example, mx2.quirks.example||50|0||\n"
          "f|0|0|starttls-not-supported||mx1.quirks.example|2001:db8::25||421 4.7.0 TLS not available|3|1700006400\n"
          "f|1|0|validation-failure|2001:db8:abcd:13::1|mx2.quirks.example||https://reporter.example/why?id=7||4|1700006400\n"))

# no policy-domain anywhere in the report: the file name's, or the subject's
npf = {"organization-name": "Postfix Reporter", "report-id": "npf-7",
       "date-range": {"start-datetime": "2023-11-15T00:00:00Z", "end-datetime": "2023-11-15T23:59:59Z"},
       "contact-info": "tls@postfix.example",
       "policies": [{"policy": {"policy-type": "no-policy-found"},
                     "summary": {"total-successful-session-count": 12, "total-failure-session-count": 0}}]}
nd = json.dumps(npf).encode()
npf_name = "tlsrpt-domain-from-name/postfix.example!named.example!1700006400!1700092799.json"
case("tlsrpt-domain-from-name", {npf_name: nd}, [tls_line(npf_name, npf, nd, domain="named.example")])
npf2 = dict(npf, **{"report-id": "npf-8"})
nd2 = gz(json.dumps(npf2).encode())
body = multipart("npf-b", [
    part(["Content-Type: text/plain"], "TLS report\n"),
    part(['Content-Type: application/gzip', "Content-Transfer-Encoding: base64",
          'Content-Disposition: attachment; filename="report.json.gz"'], b64(nd2)),
])
m = message(["From: tls@postfix.example", "To: tlsrpt@subject.example",
             "Subject: Report Domain: Subject.Example Submitter: postfix.example Report-ID: <npf-8>",
             "Message-ID: <npf8@postfix.example>", "MIME-Version: 1.0",
             'Content-Type: multipart/report; report-type="tlsrpt"; boundary="npf-b"'], body)
case("tlsrpt-domain-from-subject", {"tlsrpt-domain-from-subject.eml": m},
     [tls_line("tlsrpt-domain-from-subject.eml", npf2, nd2, domain="subject.example")])

# broken TLS reports: rejected with the reason (and archived), and what
# was read before it; "at byte N" is where the tokenizer stood (0-based):
# the last byte of a duplicate key, the byte after a number, the byte that
# does not belong
dupk = b'{"organization-name": "x", "report-id": "1", "report-id": "2", "policies": []}'
trail = json.dumps(tls_doc).encode() + b"\n}"
surr = b'{"organization-name": "\\ud800x"}'
flt = b'{"policies": [{"summary": {"total-successful-session-count": 1.5}}]}'
noid = (b'{"organization-name": "x", "policies": [], "date-range": {"start-datetime":'
        b' "2023-11-15T00:00:00Z", "end-datetime": "2023-11-15T23:59:59Z"}}')
for name, data, why, known in [
        ("tlsrpt-duplicate-key", dupk,
         'invalid TLS report: duplicate key "report-id" at byte %d' % (dupk.rindex(b'"report-id"') + 10),
         {"org_name": "x", "report_id": "1"}),
        ("tlsrpt-trailing", trail,
         "invalid JSON: unexpected '}' after the end of the document at byte %d" % (len(trail) - 1),
         {"org_name": tls_doc["organization-name"], "report_id": tls_doc["report-id"],
          "policy_domain": "example.com", "begin": 1700006400, "end": 1700092799}),
        ("tlsrpt-surrogate", surr,
         "invalid JSON: lone surrogate \\uD800 in a string at byte %d" % surr.index(b"x"), {}),
        ("tlsrpt-float-count", flt,
         "invalid TLS report: total-successful-session-count is not an integer: 1.5 at byte %d"
         % (flt.index(b"1.5") + 3), {}),
        ("tlsrpt-no-id", noid, "invalid TLS report: no report-id at byte %d" % len(noid),
         {"org_name": "x", "begin": 1700006400, "end": 1700092799}),
]:
    case(name, {name + ".json": data}, [tls_rejected(name + ".json", data, why, **known)])

# ARF failure report (RFC 5965/6591)
orig = ("From: ceo@example.com\nTo: victim@elsewhere.example\nSubject: Urgent wire transfer\n"
        "Message-ID: <spoof1@attacker.example>\nDate: Wed, 15 Nov 2023 08:00:00 +0000\n\nPlease pay.\n")
body = multipart("arf-b", [
    part(["Content-Type: text/plain; charset=us-ascii"],
         "This is an authentication failure report for an email message received from IP\n"
         "203.0.113.66 on Wed, 15 Nov 2023 08:00:05 +0000.\n"),
    part(["Content-Type: message/feedback-report"],
         "Feedback-Type: auth-failure\nUser-Agent: ExampleARF/1.0\nVersion: 1\n"
         "Original-Mail-From: <ceo@example.com>\nOriginal-Rcpt-To: <victim@elsewhere.example>\n"
         "Arrival-Date: Wed, 15 Nov 2023 08:00:05 +0000\nSource-IP: 203.0.113.66\n"
         "Reported-Domain: example.com\nAuthentication-Results: mx.elsewhere.example; dmarc=fail header.from=example.com\n"
         "Auth-Failure: dmarc\nIdentity-Alignment: none\nDelivery-Result: reject\n"),
    part(["Content-Type: message/rfc822"], orig),
])
m = message(["From: dmarc-failure@elsewhere.example", "To: dmarc-ruf@example.com",
             "Subject: FW: Urgent wire transfer", "Message-ID: <arf1@elsewhere.example>",
             "Date: Wed, 15 Nov 2023 08:00:06 +0000", "MIME-Version: 1.0",
             'Content-Type: multipart/report; report-type=feedback-report; boundary="arf-b"'], body)
arf_doc = failure_doc(
    [("Feedback-Type", "auth-failure"), ("Version", "1"), ("User-Agent", "ExampleARF/1.0"),
     ("Auth-Failure", "dmarc"), ("Delivery-Result", "reject"), ("Reported-Domain", "example.com"),
     ("Source-IP", "203.0.113.66"), ("Original-Mail-From", "ceo@example.com"),
     ("Original-Rcpt-To", token("victim@elsewhere.example")), ("Arrival-Date", "1700035205"),
     ("Identity-Alignment", "none"),
     ("Authentication-Results", "mx.elsewhere.example; dmarc=fail header.from=example.com")],
    ["From: " + token("ceo@example.com"), "To: " + token("victim@elsewhere.example"),
     "Subject: Urgent wire transfer", "Message-ID: <%s>" % token("spoof1@attacker.example"),
     "Date: Wed, 15 Nov 2023 08:00:00 +0000"])
case("failure-arf", {"failure-arf.eml": m},
     [failure_line("failure-arf.eml", arf_doc, "example.com", 1700035205, "ExampleARF/1.0",
                   "<%s>" % token("spoof1@attacker.example"))],
     sql=("SELECT reported_domain, source_ip, auth_failure, delivery_result, identity_alignment,"
          " original_rcpt_to, subject, header_from_domain, instr(headers, 'Please pay') FROM failures;",
          "example.com|203.0.113.66|dmarc|reject|none|%s|Urgent wire transfer|example.com|0\n"
          % token("victim@elsewhere.example")))

# the plain-text form (Exim/cPanel), with the original headers inline
exim = ("This message was created automatically by mail delivery software.\n\n"
        "A message claiming to be from you has failed the published DMARC\n"
        "policy for your domain.\n\n"
        "  Sender Domain: example.com\n"
        "  Sender IP Address: 198.51.100.23\n"
        "  Received Date: Wed, 15 Nov 2023 09:30:00 +0000\n"
        "  SPF Alignment: no\n"
        "  DKIM Alignment: no\n"
        "  DMARC Results: Reject, Reject\n\n"
        "------ This is a copy of the headers that were received before the error\n"
        "       was detected.\n\n"
        "From: Billing <billing@example.com>\n"
        "To: clerk@victim.example\n"
        "Subject: Invoice 42\n"
        "Message-ID: <inv42@mailer.example>\n"
        "Date: Wed, 15 Nov 2023 09:29:58 +0000\n")
m = message(["From: Mail Delivery System <mailer-daemon@victim.example>", "To: dmarc-ruf@example.com",
             "Subject: DMARC failure report for example.com", "Message-ID: <exim1@victim.example>",
             "MIME-Version: 1.0", 'Content-Type: multipart/report; boundary="ex-b"'],
            multipart("ex-b", [part(["Content-Type: text/plain; charset=us-ascii"], exim)]))
exim_doc = failure_doc(
    [("Feedback-Type", "auth-failure"), ("Auth-Failure", "dmarc"), ("Delivery-Result", "reject"),
     ("Reported-Domain", "example.com"), ("Source-IP", "198.51.100.23"), ("Arrival-Date", "1700040600"),
     ("Identity-Alignment", "none")],
    ["From: Billing <%s>" % token("billing@example.com"), "To: " + token("clerk@victim.example"),
     "Subject: Invoice 42", "Message-ID: <%s>" % token("inv42@mailer.example"),
     "Date: Wed, 15 Nov 2023 09:29:58 +0000"], form="text")
case("failure-text", {"failure-text.eml": m},
     [failure_line("failure-text.eml", exim_doc, "example.com", 1700040600, None,
                   "<%s>" % token("inv42@mailer.example"))])

# ARF in a multipart/mixed (Netease): the feedback part base64-encoded,
# the original as text/rfc822-headers; the same mail twice is a duplicate
fb = ("Feedback-Type: auth-failure\r\nVersion: 1\r\nUser-Agent: MixedReporter/2.0\r\n"
      "Auth-Failure: dmarc\r\nSource-IP: 2001:db8::0:77\r\nReported-Domain: Example.COM\r\n"
      "Original-Rcpt-To: <a.person@receiver.example>\r\nIdentity-Alignment: spf\r\n")
hdrs = ("Received: from x.example (x.example [192.0.2.7]) by mx.receiver.example"
        " with ESMTP for <a.person@receiver.example>; Wed, 15 Nov 2023 10:00:00 +0000\n"
        "From: \"Pay Desk\" <desk@example.com>\nSubject: =?utf-8?B?UsOpc3Vtw6k=?=\n"
        "Message-ID: <m1@x.example>\n")
body = multipart("mx-b", [
    part(["Content-Type: text/plain"], "A failure report.\n"),
    part(["Content-Type: message/feedback-report", "Content-Transfer-Encoding: base64"], b64(fb.encode())),
    part(["Content-Type: text/rfc822-headers"], hdrs),
])
m = message(["From: reports@receiver.example", "To: dmarc-ruf@example.com", "Subject: DMARC failure",
             "Message-ID: <mx1@receiver.example>", "MIME-Version: 1.0",
             'Content-Type: multipart/mixed; boundary="mx-b"'], body)
mixed_doc = failure_doc(
    [("Feedback-Type", "auth-failure"), ("Version", "1"), ("User-Agent", "MixedReporter/2.0"),
     ("Auth-Failure", "dmarc"), ("Reported-Domain", "example.com"), ("Source-IP", "2001:db8::77"),
     ("Original-Rcpt-To", token("a.person@receiver.example")), ("Identity-Alignment", "spf")],
    ["Received: from x.example (x.example [192.0.2.7]) by mx.receiver.example"
     " with ESMTP for <%s>; Wed, 15 Nov 2023 10:00:00 +0000" % token("a.person@receiver.example"),
     'From: "Pay Desk" <%s>' % token("desk@example.com"), "Subject: =?utf-8?B?UsOpc3Vtw6k=?=",
     "Message-ID: <%s>" % token("m1@x.example")])
case("twice-failure-mixed", {"twice-failure-mixed.eml": m},
     [failure_line("twice-failure-mixed.eml", mixed_doc, "example.com", None, "MixedReporter/2.0",
                   "<%s>" % token("m1@x.example"))], twice=True,
     sql=("SELECT subject, source_ip, original_rcpt_to FROM failures;",
          "Résumé|2001:db8::77|%s\n" % token("a.person@receiver.example")))

# an ARF report of another feedback type: recognised, counted, not stored
body = multipart("ab-b", [
    part(["Content-Type: text/plain"], "An abuse report.\n"),
    part(["Content-Type: message/feedback-report"],
         "Feedback-Type: abuse\nUser-Agent: SomeISP/1.0\nVersion: 1\nSource-IP: 192.0.2.99\n"),
    part(["Content-Type: message/rfc822"], "From: spammer@example.com\nSubject: Buy\n\nBuy now\n"),
])
m = message(["From: abuse@isp.example", "To: dmarc-ruf@example.com", "Subject: Abuse report",
             "Message-ID: <ab1@isp.example>", "MIME-Version: 1.0",
             'Content-Type: multipart/report; report-type=feedback-report; boundary="ab-b"'], body)
ab = simple_line("failure-abuse.eml", "failure", "ignored", None,
                 "feedback type abuse: not a DMARC failure report (counted, not stored)")
ab["org_name"] = "SomeISP/1.0"
case("failure-abuse", {"failure-abuse.eml": m}, [ab])

# a mail with no attachment
m = message(["From: someone@example.net", "To: dmarc-rua@example.com", "Subject: Question about DMARC",
             "Message-ID: <q1@example.net>", "Date: Wed, 15 Nov 2023 11:00:00 +0000", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8"], "Hello, how do I read these reports?\n")
case("mail-no-attachment", {"mail-no-attachment.eml": m}, [empty_line("mail-no-attachment.eml")])

# a DMARC report and a TLS-RPT report in one mail: each gets its own line
t, s = feedback(rid="mixed-kinds-1", org="Mixed Kinds", recs=two_recs())
att1 = gz(t.encode())
body = multipart("mk", [
    part(["Content-Type: text/plain"], "Two kinds of report.\n"),
    attachment_part(tlsgz, "application/tlsrpt+gzip", "tls.json.gz"),
    attachment_part(att1, "application/gzip", "dmarc.xml.gz"),
])
m = message(report_headers("Reports", "mk1", "multipart/mixed; boundary=mk"), body)
case("mail-mixed-kinds", {"mail-mixed-kinds.eml": m},
     numbered("mail-mixed-kinds.eml", [tls_line("", tls_doc, tlsgz), agg_line("", s, att=att1)]))

# a folder: walked recursively in name order, hidden files and folders
# skipped (they hold valid reports that must not be read)
t1, s1 = feedback(rid="walk-1", org="Walker")
t2, s2 = feedback(rid="walk-2", org="Walker", recs=two_recs())
t3, s3 = feedback(rid="walk-3", org="Walker", recs=[Rec(ip="192.0.2.160", count=4)])
th, _ = feedback(rid="hostile-hidden", org="Hidden")
a1, a2, a3 = t1.encode(), gz(t2.encode()), t3.encode()
case("folder-walk", {"folder-walk/b.xml": a1, "folder-walk/a/z.xml.gz": a2,
                     "folder-walk/a/b/c.xml": a3, "folder-walk/.hidden.xml": th.encode(),
                     "folder-walk/.hidden-dir/d.xml": th.encode(),
                     "folder-walk/a/.e.xml": th.encode()},
     [agg_line("folder-walk/a/b/c.xml", s3, att=a3), agg_line("folder-walk/a/z.xml.gz", s2, att=a2),
      agg_line("folder-walk/b.xml", s1, att=a1)])

# ===========================================================================
# 4. duplicates

# the same report in six containers, ingested as one folder: the first is
# stored, every other copy is a duplicate
t, s = feedback(rid="dup-1", org="Duplicate Sender", recs=two_recs())
x = t.encode()
g = gz(x, name="dup.xml")
z1 = mkzip([("dup.xml", x)])
z2 = mkzip([("renamed/dup-again.xml", x)], when=(2024, 1, 2, 3, 4, 6), level=1)
assert z1 != z2
m1 = report_mail(g, "application/gzip", "dup.xml.gz", msgid="dup1")
m2 = (b"Received: from relay2.example (relay2.example [192.0.2.99])\n"
      b"\tby mx2.example.com; Wed, 15 Nov 2023 09:05:00 +0000\n") + m1
files = {"dup-containers/1-plain.xml": x, "dup-containers/2-gzip.xml.gz": g,
         "dup-containers/3-zip.zip": z1, "dup-containers/4-mail.eml": m1,
         "dup-containers/5-mail-copy.eml": m2,
         "dup-containers/6-rezipped.zip": z2}
assert files["dup-containers/5-mail-copy.eml"].startswith(b"Received: from relay2")
lines = [agg_line("dup-containers/1-plain.xml", s, att=x),
         agg_line("dup-containers/2-gzip.xml.gz", s, "duplicate", att=g),
         agg_line("dup-containers/3-zip.zip", s, "duplicate", att=z1),
         agg_line("dup-containers/4-mail.eml", s, "duplicate", att=g),
         agg_line("dup-containers/5-mail-copy.eml", s, "duplicate", att=g),
         agg_line("dup-containers/6-rezipped.zip", s, "duplicate", att=z2)]
case("dup-containers", files, lines)

# a folder ingested twice: the second run finds only duplicates
t1, s1 = feedback(rid="twice-a", org="Twice Sender", recs=two_recs())
t2, s2 = feedback(rid="twice-b", org="Twice Sender", domain="example.org",
                  recs=[Rec(ip="192.0.2.150", count=12, hf="example.org")])
t3, s3 = feedback(rid="twice-c", org="Other Sender", recs=[Rec(ip="192.0.2.151", count=5, dkim="fail")])
a1, a2, a3 = t1.encode(), gz(t2.encode()), mkzip([("c.xml", t3.encode())])
m3 = report_mail(a3, "application/zip", "c.zip", msgid="twice3")
case("twice-folder", {"twice-folder/a.xml": a1, "twice-folder/b.xml.gz": a2, "twice-folder/c.eml": m3},
     [agg_line("twice-folder/a.xml", s1, att=a1), agg_line("twice-folder/b.xml.gz", s2, att=a2),
      agg_line("twice-folder/c.eml", s3, att=a3)], twice=True)

write_all()
print(f"{len(CASES)} cases written to {OUT}")
