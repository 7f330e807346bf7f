#!/usr/bin/env python3
"""helper.py - input generator and JSON checks for tests/cli/run.sh.

  helper.py set DIR            a mixed set: xml, xml.gz, zip, zip>gz, mail,
                               mbox; prints nothing
  helper.py copies DIR SRCDIR  other containers of reports already in
                               SRCDIR: a re-zipped copy of set/c.zip's
                               report, a second copy of set/e.eml with one
                               more Received line, the gzip of set/a.xml
  helper.py many DIR N         N reports over 3 domains and 4 containers
  helper.py noid DIR           one report without <report_id> as xml, gz, zip
  helper.py collide DIR        one report_id from two reporters / periods
  helper.py one FILE RID DOMAIN COUNT   one plain XML report
  helper.py bad FILE           a not-well-formed report
  helper.py mail2 FILE         a mail with two report attachments
  helper.py lines FILE         one "input<TAB>kind<TAB>status<TAB>records<TAB>
                               messages<TAB>archive_key<TAB>error" per JSON
                               line (exits 1 if a line is not JSON)
  helper.py archive BIN DATA FILE   for every archive_key in the JSON lines
                               of FILE, `BIN archive --data DATA get KEY`
                               gives bytes whose SHA-256 is the key; prints
                               problems, exits 1 if any
  helper.py samebytes BIN DATA KEY FILE   the archived KEY holds FILE's bytes
  helper.py stats FILE         "reports records messages dmarc_pass
                               dmarc_fail" and per domain lines from a
                               `stats --json` output
  helper.py sortlines FILE     the JSON lines, archive_key date masked, sorted
"""
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile

T0 = 1700006400
DAY = 86400
KEYS = ["input", "kind", "status", "org_name", "report_id", "policy_domain",
        "begin", "end", "records", "messages", "archive_key", "error"]


def report(rid, domain="example.com", org="CLI Test Reporter", counts=(3, 2), day=0):
    recs = ""
    for i, c in enumerate(counts):
        passed = "pass" if i % 2 == 0 else "fail"
        recs += (f"  <record><row><source_ip>192.0.2.{i + 1}</source_ip><count>{c}</count>"
                 f"<policy_evaluated><disposition>none</disposition><dkim>{passed}</dkim>"
                 f"<spf>{passed}</spf></policy_evaluated></row><identifiers><header_from>{domain}"
                 f"</header_from></identifiers><auth_results><spf><domain>{domain}</domain>"
                 f"<result>{passed}</result></spf></auth_results></record>\n")
    b, e = T0 + day * DAY, T0 + (day + 1) * DAY - 1
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n  <version>1.0</version>\n'
            f"  <report_metadata><org_name>{org}</org_name><email>dmarc@reporter.example</email>"
            f"<report_id>{rid}</report_id><date_range><begin>{b}</begin><end>{e}</end></date_range>"
            f"</report_metadata>\n  <policy_published><domain>{domain}</domain><p>none</p>"
            f"</policy_published>\n{recs}</feedback>\n").encode()


def gz(data):
    return gzip.compress(data, 9, mtime=0)


def mkzip(entries, when=(2023, 11, 15, 0, 0, 0), level=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=when)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o100644 << 16
            z.writestr(zi, data, compresslevel=level)
    return buf.getvalue()


def b64(data):
    import base64
    return base64.encodebytes(data).decode()


def mail(atts, msgid="m1@reporter.example", received=()):
    """atts: list of (ctype, filename, bytes)."""
    h = list(received) + [
        "From: dmarc@reporter.example", "To: rua@example.com",
        "Subject: Report Domain: example.com Submitter: reporter.example",
        f"Message-ID: <{msgid}>", "Date: Wed, 15 Nov 2023 09:00:00 +0000", "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="cli-b"']
    body = "--cli-b\nContent-Type: text/plain\n\nReport attached.\n"
    for ctype, fn, data in atts:
        body += (f'--cli-b\nContent-Type: {ctype}; name="{fn}"\nContent-Transfer-Encoding: base64\n'
                 f'Content-Disposition: attachment; filename="{fn}"\n\n{b64(data)}')
    body += "--cli-b--\n"
    return ("\n".join(h) + "\n\n" + body).encode()


def write(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def cmd_set(d):
    write(f"{d}/a.xml", report("set-a", counts=(5, 1)))
    write(f"{d}/b.xml.gz", gz(report("set-b", domain="example.org", counts=(7,))))
    write(f"{d}/c.zip", mkzip([("c.xml", report("set-c", counts=(2, 2, 2)))]))
    write(f"{d}/d.zip", mkzip([("d.xml.gz", gz(report("set-d", domain="example.net", counts=(4,))))]))
    write(f"{d}/e.eml", mail([("application/gzip", "e.xml.gz", gz(report("set-e", counts=(9, 1))))]))
    mbox = b""
    for i in range(2):
        m = mail([("application/zip", "m.zip", mkzip([("m.xml", report(f"set-m{i}", counts=(i + 1,)))]))],
                 msgid=f"mbox{i}@reporter.example")
        mbox += b"From dmarc@reporter.example Wed Nov 15 09:00:00 2023\n" + m + b"\n"
    write(f"{d}/sub/f.mbox", mbox)


def cmd_copies(d, src):
    # set-c again, zipped differently (other time stamp, name, level)
    with zipfile.ZipFile(f"{src}/c.zip") as z:
        x = z.read("c.xml")
    write(f"{d}/c-rezipped.zip", mkzip([("folder/renamed.xml", x)], when=(2024, 2, 3, 4, 5, 6), level=1))
    # set-e again: the same mail through another relay
    with open(f"{src}/e.eml", "rb") as f:
        m = f.read()
    write(f"{d}/e-copy.eml", b"Received: from relay2.example by mx2.example.com; "
                             b"Wed, 15 Nov 2023 09:05:00 +0000\n" + m)
    # set-a again, gzipped
    with open(f"{src}/a.xml", "rb") as f:
        write(f"{d}/a-again.xml.gz", gz(f.read()))


def cmd_noid(d):
    """One report without <report_id>, as XML, gzip and zip."""
    x = report("X").replace(b"<report_id>X</report_id>", b"")
    write(f"{d}/1.xml", x)
    write(f"{d}/2.xml.gz", gz(x))
    write(f"{d}/3.zip", mkzip([("3.xml", x)]))


def cmd_collide(d):
    """The same report_id from two reporters, and for two periods."""
    write(f"{d}/1.xml", report("collide-1", org="Reporter One"))
    write(f"{d}/2.xml", report("collide-1", org="Reporter Two"))
    write(f"{d}/3.xml", report("collide-1", org="Reporter One", day=1))
    write(f"{d}/4.xml", report("collide-1", org="REPORTER ONE"))


def cmd_many(d, n):
    doms = ["alpha.example", "beta.example", "gamma.example"]
    for i in range(n):
        dom = doms[i % 3]
        x = report(f"many-{i:03d}", domain=dom, counts=tuple(range(1, 2 + i % 4)), day=i % 5)
        kind = i % 4
        if kind == 0:
            write(f"{d}/r{i:03d}.xml", x)
        elif kind == 1:
            write(f"{d}/r{i:03d}.xml.gz", gz(x))
        elif kind == 2:
            write(f"{d}/r{i:03d}.zip", mkzip([(f"r{i}.xml", x)]))
        else:
            write(f"{d}/sub{i % 2}/r{i:03d}.eml",
                  mail([("application/gzip", "r.xml.gz", gz(x))], msgid=f"many{i}@reporter.example"))


def parse_lines(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                o = json.loads(line)
            except ValueError:
                print(f"line {i} is not JSON: {line[:200]}", file=sys.stderr)
                sys.exit(1)
            if list(o) != KEYS:
                print(f"line {i}: keys {list(o)} are not {KEYS}", file=sys.stderr)
                sys.exit(1)
            out.append(o)
    return out


def cmd_lines(path):
    for o in parse_lines(path):
        print("\t".join(str(o[k]) for k in ("input", "kind", "status", "records", "messages",
                                            "archive_key", "error")))


def archive_get(binary, data, key):
    p = subprocess.run([binary, "archive", "--data", data, "get", key], capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace").strip()


def cmd_archive(binary, data, path):
    bad = 0
    for o in parse_lines(path):
        k = o["archive_key"]
        if k is None:
            continue
        m = re.match(r"^\d{4}/\d{2}/([0-9a-f]{64})\.(xml|gz|zip|zz|json|bin)$", k)
        if not m:
            print(f"{o['input']}: bad archive_key {k!r}")
            bad += 1
            continue
        rc, out, err = archive_get(binary, data, k)
        if rc != 0:
            print(f"{o['input']}: archive get {k}: exit {rc}: {err[:200]}")
            bad += 1
            continue
        h = hashlib.sha256(out).hexdigest()
        if h != m.group(1):
            print(f"{o['input']}: archive get {k}: {len(out)} bytes that hash to {h}")
            bad += 1
    sys.exit(1 if bad else 0)


def cmd_samebytes(binary, data, key, path):
    rc, out, err = archive_get(binary, data, key)
    with open(path, "rb") as g:
        sys.exit(0 if rc == 0 and out == g.read() else 1)


def cmd_stats(path):
    with open(path) as f:
        s = json.load(f)
    print(" ".join(str(s[k]) for k in ("reports", "records", "messages", "dmarc_pass", "dmarc_fail")))
    for d in s["domains"]:
        print(" ".join(str(d[k]) for k in ("domain", "reports", "records", "messages",
                                           "dmarc_pass", "dmarc_fail")))


def cmd_sortlines(path):
    rows = []
    for o in parse_lines(path):
        if isinstance(o["archive_key"], str):
            o["archive_key"] = re.sub(r"^\d{4}/\d{2}/", "YYYY/MM/", o["archive_key"])
        rows.append(json.dumps(o, sort_keys=True))
    for r in sorted(rows):
        print(r)


def main():
    a = sys.argv[1:]
    cmd = a[0]
    if cmd == "set":
        cmd_set(a[1])
    elif cmd == "copies":
        cmd_copies(a[1], a[2])
    elif cmd == "noid":
        cmd_noid(a[1])
    elif cmd == "collide":
        cmd_collide(a[1])
    elif cmd == "many":
        cmd_many(a[1], int(a[2]))
    elif cmd == "one":
        write(a[1], report(a[2], domain=a[3], counts=(int(a[4]),)))
    elif cmd == "bad":
        write(a[1], report("cli-bad").replace(b"<org_name>CLI Test Reporter", b"<org_name>A & B"))
    elif cmd == "mail2":
        write(a[1], mail([("application/gzip", "x.xml.gz", gz(report("mail2-x", counts=(4,)))),
                          ("application/zip", "y.zip",
                           mkzip([("y.xml", report("mail2-y", domain="example.org", counts=(6,)))]))],
                         msgid="mail2@reporter.example"))
    elif cmd == "lines":
        cmd_lines(a[1])
    elif cmd == "archive":
        cmd_archive(a[1], a[2], a[3])
    elif cmd == "samebytes":
        cmd_samebytes(a[1], a[2], a[3], a[4])
    elif cmd == "stats":
        cmd_stats(a[1])
    elif cmd == "sortlines":
        cmd_sortlines(a[1])
    else:
        print(f"helper.py: unknown command {cmd}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
