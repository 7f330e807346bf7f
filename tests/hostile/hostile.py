#!/usr/bin/env python3
"""hostile.py - feed dmarcd ingest the attacks of SPECS.md section 6.

Called by run.sh:  hostile.py BINARY WORK_DIR [CASE...]

Every input is generated here, at test time, inside WORK_DIR/inputs (the
bombs are small on disk: compressed, or made of repeated deflate blocks).
Then:

  phase A  each input alone: `dmarcd ingest --json` under a 1 GiB address
           space limit (prlimit --as; skipped for ASan builds), timeout 60 s,
           peak RSS from /usr/bin/time (asserted < 200 MiB, not for ASan),
           all into one data folder, one process per input;
  phase B  all the quick inputs in ONE ingest call into a second data
           folder: every input must still get its lines (the run goes on
           after each rejection), with the same statuses as in phase A.

For each input: the number of lines, every status (almost all "rejected"),
a one-line error that names the reason (a regular expression per case),
and afterwards, in both databases: no report or record of any rejected
report (their report_ids start with "hostile-"), no orphan records, and
the record total equal to what the stored lines said.  Zip entries named
../../x and /tmp/x must not create files: WORK_DIR, its parent, /tmp and /
are checked for those names before and after.

A folder holding symbolic links to itself must be walked once (10 s cap).
Set HOSTILE_QUICK=1 to skip the slow inputs (the 5 GiB gzip bomb, which
dmarcd must inflate up to its 4 GiB limit, and 1 GiB of whitespace).
Exit status: 0 when every check passes, 1 otherwise.
"""
import base64
import gzip
import io
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
import zipfile
import zlib

MiB = 1 << 20
T0 = 1700006400
DAY = 86400
RSS_LIMIT_KB = 200 * 1024
AS_LIMIT = 1 << 30
TIMEOUT = 60

TRAVERSAL_NAMES = ["dmarcd-hostile-evil.xml", "dmarcd-hostile-abs.xml",
                   "dmarcd-hostile-win.xml", "dmarcd-hostile-drive.xml"]


# ---------------------------------------------------------------------------
# building blocks


def report(rid, org="Hostile Test Org", domain="example.com", count=1, begin=T0, end=T0 + DAY - 1,
           org_xml=None, extra_records=""):
    org_xml = org_xml if org_xml is not None else f"<org_name>{org}</org_name>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n  <version>1.0</version>\n'
            f"  <report_metadata>{org_xml}<email>dmarc@hostile.example</email>"
            f"<report_id>{rid}</report_id><date_range><begin>{begin}</begin><end>{end}</end>"
            f"</date_range></report_metadata>\n"
            f"  <policy_published><domain>{domain}</domain><p>none</p></policy_published>\n"
            f"  <record><row><source_ip>192.0.2.1</source_ip><count>{count}</count>"
            f"<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>"
            f"</policy_evaluated></row><identifiers><header_from>{domain}</header_from></identifiers>"
            f"<auth_results><spf><domain>{domain}</domain><result>fail</result></spf></auth_results>"
            f"</record>{extra_records}\n</feedback>\n").encode()


def gz(data):
    return gzip.compress(data, 9, mtime=0)


def deflate_repeat(prefix, chunk, n, suffix, wbits):
    """Compressed prefix + chunk*n + suffix, fast: after a full flush the
    compressor has no history, so one compressed chunk can be repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    blk = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    blk2 = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert blk == blk2
    # head, blk, blk2 so far: n - 2 more blocks of the same
    tail = c.compress(suffix) + c.flush(zlib.Z_FINISH)
    return head + blk * n + tail


def gzip_repeat(prefix, chunk, n, suffix, crc=True):
    """A gzip member of prefix + chunk*n + suffix; with crc=False the trailer
    is zero (for bombs that a correct reader never finishes)."""
    body = deflate_repeat(prefix, chunk, n, suffix, -15)
    c, size = 0, 0
    if crc:
        c = zlib.crc32(prefix)
        for _ in range(n):
            c = zlib.crc32(chunk, c)
        c = zlib.crc32(suffix, c)
        size = (len(prefix) + len(chunk) * n + len(suffix)) & 0xffffffff
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", c, size)


def mkzip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in entries:
            zi = zipfile.ZipInfo(name, date_time=(2023, 11, 15, 0, 0, 0))
            zi.compress_type = method
            zi.external_attr = 0o100644 << 16
            z.writestr(zi, data)
    return buf.getvalue()


def mail(headers, body):
    return ("\n".join(headers) + "\n\n" + body).encode()


MAIL_HEAD = ["From: noreply@hostile.example", "To: dmarc@example.com",
             "Subject: Report Domain: example.com Submitter: hostile.example",
             "Message-ID: <hostile@hostile.example>", "MIME-Version: 1.0"]


# ---------------------------------------------------------------------------
# the inputs: (name, builder, expectation)
#   n:      exact number of lines (None: at least one)
#   status: every line's status
#   reason: regex one line's error must match (rejected cases)
#   slow:   phase A only, skipped with HOSTILE_QUICK=1


def b_gzip_bomb():
    # 5 GiB of spaces between XML elements in one gzip layer: ~5 MB on disk.
    # Deflate cannot beat ~1032:1, so the ratio guard (1100:1) must not fire;
    # the decompressed size limit (4 GiB) must.
    return gzip_repeat(b'<?xml version="1.0"?>\n<feedback>\n', b" " * MiB, 5 * 1024,
                       b"</feedback>\n", crc=False)


def b_gzip_gzip_bomb():
    return gz(gzip_repeat(b'<?xml version="1.0"?>\n<feedback>\n', b" " * MiB, 5 * 1024,
                          b"</feedback>\n", crc=False))


def b_zip_bomb():
    inner = gzip_repeat(b'<?xml version="1.0"?>\n<feedback>\n', b" " * MiB, 5 * 1024,
                        b"</feedback>\n", crc=False)
    return mkzip([("report.xml.gz", inner, zipfile.ZIP_DEFLATED)])


def b_zip_bomb_lying():
    """One deflate entry (zip > gzip bomb) whose headers claim 1 KiB."""
    z = bytearray(b_zip_bomb())
    # local header: uncompressed size at offset 22; central: at offset 24
    assert z[:4] == b"PK\x03\x04"
    struct.pack_into("<I", z, 22, 1024)
    cd = z.rfind(b"PK\x01\x02")
    struct.pack_into("<I", z, cd + 24, 1024)
    return bytes(z)


def b_zip_many():
    entries = [(f"r{i:04d}.xml", report(f"hostile-many-{i}", count=i + 1), zipfile.ZIP_DEFLATED)
               for i in range(2000)]
    return mkzip(entries)


def b_zip_traversal():
    return mkzip([
        ("../../" + TRAVERSAL_NAMES[0], report("traversal-1", count=1), zipfile.ZIP_DEFLATED),
        ("/tmp/" + TRAVERSAL_NAMES[1], report("traversal-2", count=2), zipfile.ZIP_DEFLATED),
        ("..\\..\\" + TRAVERSAL_NAMES[2], report("traversal-3", count=3), zipfile.ZIP_STORED),
        ("C:\\" + TRAVERSAL_NAMES[3], report("traversal-4", count=4), zipfile.ZIP_DEFLATED),
    ])


def b_xxe():
    r = report("hostile-xxe", org_xml="<org_name>&xxe;</org_name>").decode()
    return r.replace('<feedback>', '<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                     '<feedback>', 1).encode()


def b_billion_laughs():
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10)]
    r = report("hostile-laughs", org_xml="<org_name>&lol9;</org_name>").decode()
    return r.replace("<feedback>", "<!DOCTYPE feedback [\n" + "\n".join(ents) + "\n]>\n<feedback>",
                     1).encode()


def b_deep():
    n = 100000
    return (b'<?xml version="1.0"?>\n<feedback>' + b"<a>" * n + b"</a>" * n + b"</feedback>\n")


def b_huge_org():
    r = report("hostile-huge-org", org_xml="<org_name>\x00</org_name>")
    pre, post = r.split(b"\x00")
    return gzip_repeat(pre, b"A" * MiB, 100, post)


def b_huge_comment():
    r = report("hostile-comment")
    pre, post = r.split(b"<version>", 1)
    return gzip_repeat(pre + b"<!--", b"x" * MiB, 100, b"-->\n<version>" + post)


def b_truncated():
    g = gz(report("hostile-truncated", count=5) * 1)
    return g[:len(g) // 2]


def b_base64_garbage():
    body = ("--g\nContent-Type: text/plain\n\nreport attached\n"
            "--g\nContent-Type: application/gzip; name=\"r.xml.gz\"\n"
            "Content-Transfer-Encoding: base64\n\n"
            "!!!! This is *not* base64 at all; @@@ ### $$$ %%%% ^^^^ &&&& ~~~~ ????\n"
            "H4sI!!!!AAAA====BBBB====\n--g--\n")
    return mail(MAIL_HEAD + ['Content-Type: multipart/mixed; boundary="g"'], body)


def b_png():
    png = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
           b"\x00\x00\x00\x1f\x15\xc4\x89" + b"\x00" * 64)
    return png


def b_empty():
    return b""


def b_zip_in_zip():
    inner = mkzip([("r.xml", report("hostile-zipzip"), zipfile.ZIP_DEFLATED)])
    return mkzip([("inner.zip", inner, zipfile.ZIP_STORED)])


def b_mime_depth():
    n = 10000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(1, n))
    leaf = ("Content-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n" +
            base64.encodebytes(gz(report("hostile-mime-depth"))).decode())
    tail = "".join(f"--b{i}--\n" for i in range(n - 1, 0, -1))
    return mail(MAIL_HEAD + ['Content-Type: multipart/mixed; boundary="b0"'],
                "--b0\n" + head + leaf + tail + "--b0--\n")


def b_mime_parts():
    parts = "".join(f"--p\nContent-Type: text/plain\n\npart {i}\n" for i in range(100000))
    leaf = ("--p\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n" +
            base64.encodebytes(gz(report("hostile-mime-parts"))).decode())
    return mail(MAIL_HEAD + ['Content-Type: multipart/mixed; boundary="p"'], parts + leaf + "--p--\n")


def b_mbox_with_bomb():
    """An mbox whose middle message is a MIME depth bomb: the messages
    around it must still be stored."""
    def ok(i):
        return mail(MAIL_HEAD + ['Content-Type: application/gzip', "Content-Transfer-Encoding: base64"],
                    base64.encodebytes(gz(report(f"mboxok-{i}", count=i))).decode())
    sep = b"From noreply@hostile.example Wed Nov 15 09:00:00 2023\n"
    return sep + ok(1) + b"\n" + sep + b_mime_depth() + b"\n" + sep + ok(2) + b"\n"


def b_header_bomb():
    hdr = [f"X-Junk-{i}: {'j' * 40}" for i in range(100000)]
    return mail(MAIL_HEAD + hdr + ["Content-Type: application/gzip", "Content-Transfer-Encoding: base64"],
                base64.encodebytes(gz(report("hostile-header-bomb"))).decode())


def b_html():
    return b"<!-- error page -->\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"


def b_unused():
    return gz(b"unused")


def b_gzip_crc():
    g = bytearray(gz(report("hostile-crc", count=3)))
    g[-8] ^= 0xff
    return bytes(g)


def b_end_before_begin():
    return report("hostile-range", begin=T0 + DAY, end=T0)


def b_not_wellformed():
    return report("hostile-amp", org="Smith & Sons <Mail>")


def b_zip_encrypted():
    z = bytearray(mkzip([("r.xml", report("hostile-encrypted"), zipfile.ZIP_STORED)]))
    z[6] |= 1  # local header general purpose flag: encrypted
    cd = z.rfind(b"PK\x01\x02")
    z[cd + 8] |= 1
    return bytes(z)


def b_zip_bzip2():
    return mkzip([("r.xml", report("hostile-bzip2"), zipfile.ZIP_BZIP2)])


def b_whitespace_1g():
    # a valid report with 1 GiB of whitespace between two elements: must be
    # stored (it is well-formed and small once parsed) in bounded memory
    r = report("bigspace-1", count=7)
    pre, post = r.split(b"  <record>", 1)
    return gzip_repeat(pre, b"\n" + b" " * (MiB - 1), 1024, b"  <record>" + post)


REJ = "rejected"
CASES = [
    # name, file name, builder, n, status, reason, slow
    ("gzip-bomb", "gzip-bomb.xml.gz", b_gzip_bomb, 1, REJ, r"decompressed size limit", True),
    ("gzip-gzip-bomb", "gzip-gzip-bomb.xml.gz.gz", b_gzip_gzip_bomb, 1, REJ, r"ratio|limit", False),
    ("zip-bomb", "zip-bomb.zip", b_zip_bomb, 1, REJ, r"ratio|limit", False),
    ("zip-bomb-lying", "zip-bomb-lying.zip", b_zip_bomb_lying, 1, REJ,
     r"ratio|limit|CRC|size|corrupt|truncated", False),
    ("zip-2000-entries", "zip-2000-entries.zip", b_zip_many, None, REJ, r"too many zip entries", False),
    ("zip-traversal", "zip-traversal.zip", b_zip_traversal, 4, "stored", None, False),
    ("xxe", "xxe.xml", b_xxe, 1, REJ, r"DOCTYPE", False),
    ("billion-laughs", "billion-laughs.xml", b_billion_laughs, 1, REJ, r"DOCTYPE|entity", False),
    ("deep-nesting", "deep-nesting.xml", b_deep, 1, REJ, r"nest|deep|depth", False),
    ("huge-org-name", "huge-org-name.xml.gz", b_huge_org, 1, REJ, r"longer than|limit", False),
    ("huge-comment", "huge-comment.xml.gz", b_huge_comment, 1, REJ, r"limit", False),
    ("truncated-gzip", "truncated-gzip.xml.gz", b_truncated, 1, REJ, r"truncated", False),
    ("base64-garbage", "base64-garbage.eml", b_base64_garbage, 1, REJ,
     r"not a report|corrupt|base64|invalid", False),
    ("png", "report.xml.gz", b_png, 1, REJ, r"not a report \(PNG", False),
    ("empty", "empty.xml", b_empty, 1, REJ, r"empty", False),
    ("zip-in-zip", "zip-in-zip.zip", b_zip_in_zip, 1, REJ, r"nested", False),
    ("mime-depth-bomb", "mime-depth-bomb.eml", b_mime_depth, 1, REJ, r"nest|deep|depth", False),
    ("mime-parts-bomb", "mime-parts-bomb.eml", b_mime_parts, 1, REJ, r"parts", False),
    ("header-bomb", "header-bomb.eml", b_header_bomb, 1, REJ, r"header", False),
    ("mbox-with-bomb", "mbox-with-bomb.mbox", b_mbox_with_bomb, 3, ["stored", REJ, "stored"],
     r"nest|deep|depth", False),
    ("html", "html.xml", b_html, 1, REJ, r"not a DMARC aggregate report", False),
    ("unused", "unused.xml.gz", b_unused, 1, REJ, r"not a report", False),
    ("gzip-crc", "gzip-crc.xml.gz", b_gzip_crc, 1, REJ, r"CRC", False),
    ("end-before-begin", "end-before-begin.xml", b_end_before_begin, 1, REJ, r"invalid report", False),
    ("not-well-formed", "not-well-formed.xml", b_not_wellformed, 1, REJ, r"not well-formed", False),
    ("zip-encrypted", "zip-encrypted.zip", b_zip_encrypted, 1, REJ, r"encrypt", False),
    ("zip-bzip2", "zip-bzip2.zip", b_zip_bzip2, 1, REJ, r"unsupported", False),
    ("whitespace-1g", "whitespace-1g.xml.gz", b_whitespace_1g, 1, "stored", None, True),
]


# ---------------------------------------------------------------------------


def is_asan(binary):
    if os.environ.get("DMARCD_ASAN"):
        return True
    try:
        out = subprocess.run(["nm", "-C", binary], capture_output=True, timeout=30).stdout
        if b"__asan_init" in out or b"__asan_report" in out:
            return True
        out = subprocess.run(["ldd", binary], capture_output=True, timeout=30).stdout
        return b"libasan" in out
    except (OSError, subprocess.TimeoutExpired):
        return False


def traversal_hits(work):
    places = [os.path.dirname(work), "/tmp", "/"]
    hits = []
    for d in places:
        for n in TRAVERSAL_NAMES:
            p = os.path.join(d, n)
            if os.path.lexists(p):
                hits.append(p)
    for root, dirs, files in os.walk(work):
        for f in files:
            if f in TRAVERSAL_NAMES or any(f.endswith(n) for n in TRAVERSAL_NAMES):
                hits.append(os.path.join(root, f))
    return hits


def lines_by_input(stdout, problems, where):
    res = {}
    for i, line in enumerate(stdout.decode("utf-8", "replace").splitlines(), 1):
        try:
            o = json.loads(line)
        except ValueError:
            problems.append(f"{where}: stdout line {i} is not JSON: {line[:200]}")
            continue
        inp = re.sub(r"#\d+$", "", o.get("input", ""))
        res.setdefault(inp, []).append(o)
    return res


def check_lines(name, n, status, reason, lines, problems, where):
    if not lines:
        problems.append(f"{where}: {name}: no output line")
        return
    if n is not None and len(lines) != n:
        problems.append(f"{where}: {name}: {len(lines)} lines, expected {n}: "
                        + " | ".join(f"{l.get('status')}: {l.get('error')}" for l in lines[:4]))
    if isinstance(status, list):
        got = [l.get("status") for l in lines]
        if got != status:
            problems.append(f"{where}: {name}: statuses {got}, expected {status}: "
                            + " | ".join(str(l.get("error")) for l in lines[:4]))
        wrong = []
    else:
        wrong = [l for l in lines if l.get("status") != status]
    if wrong:
        problems.append(f"{where}: {name}: {len(wrong)} of {len(lines)} line(s) not {status}: "
                        + " | ".join(f"{l.get('input', '').rsplit('/', 1)[-1]} {l.get('status')}"
                                     f" ({l.get('error')})" for l in wrong[:3]))
    for l in lines:
        err = l.get("error")
        if l.get("status") == REJ:
            if not isinstance(err, str) or not err:
                problems.append(f"{where}: {name}: {l.get('input')}: rejected without a reason")
            elif "\n" in err or len(err) > 600:
                problems.append(f"{where}: {name}: error is not one short line: {err[:200]!r}")
        elif err is not None:
            problems.append(f"{where}: {name}: {l.get('input')}: error {err!r} on a "
                            f"{l.get('status')} line")
    if reason and not any(re.search(reason, l.get("error") or "") for l in lines):
        problems.append(f"{where}: {name}: no error matches /{reason}/: "
                        + " | ".join(str(l.get("error")) for l in lines[:4]))


def check_db(data, stored_records, problems, where):
    path = os.path.join(data, "dmarcd.sqlite")
    if not os.path.exists(path):
        problems.append(f"{where}: no database at {path}")
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        q = lambda s: db.execute(s).fetchone()[0]
        n = q("SELECT COUNT(*) FROM reports WHERE report_id LIKE 'hostile-%'")
        if n:
            ids = [r[0] for r in db.execute(
                "SELECT report_id FROM reports WHERE report_id LIKE 'hostile-%' LIMIT 5")]
            problems.append(f"{where}: {n} report(s) from rejected inputs in the DB, e.g. {ids}")
        n = q("SELECT COUNT(*) FROM records r JOIN reports p ON p.id = r.report "
              "WHERE p.report_id LIKE 'hostile-%'")
        if n:
            problems.append(f"{where}: {n} record(s) of rejected reports in the DB")
        n = q("SELECT COUNT(*) FROM records WHERE report NOT IN (SELECT id FROM reports)")
        if n:
            problems.append(f"{where}: {n} orphan record(s) in the DB")
        n = q("SELECT COUNT(*) FROM records")
        if n != stored_records:
            problems.append(f"{where}: {n} records in the DB, stored lines said {stored_records}")
        n = q("SELECT COALESCE(SUM(records), 0) FROM reports")
        if n != stored_records:
            problems.append(f"{where}: reports.records sums to {n}, stored lines said {stored_records}")
    finally:
        db.close()


def main():
    if len(sys.argv) < 3:
        print("usage: hostile.py BINARY WORK_DIR [CASE...]", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    work = os.path.abspath(sys.argv[2])
    only = set(sys.argv[3:])
    quick = bool(os.environ.get("HOSTILE_QUICK"))
    if not os.access(binary, os.X_OK):
        print(f"hostile: {binary}: not an executable", file=sys.stderr)
        return 2
    shutil.rmtree(work, ignore_errors=True)
    inputs = os.path.join(work, "inputs")
    cwd = os.path.join(work, "cwd", "a", "b")  # ../../ of the process stays in WORK_DIR
    os.makedirs(inputs)
    os.makedirs(cwd)
    problems = []
    pre = traversal_hits(work)
    if pre:
        print(f"hostile: files with the traversal names exist before the test: {pre}")
        return 1

    asan = is_asan(binary)
    have_time = os.access("/usr/bin/time", os.X_OK)
    have_prlimit = shutil.which("prlimit") is not None
    print(f"hostile: asan={asan} /usr/bin/time={'yes' if have_time else 'no (RSS not checked)'} "
          f"prlimit={'yes' if have_prlimit else 'no (ulimit -v)'} quick={quick}")

    cases = [c for c in CASES if (not only or c[0] in only) and not (quick and c[6])]
    t0 = time.monotonic()
    paths = {}
    for name, fname, build, *_ in cases:
        p = os.path.join(inputs, fname)
        with open(p, "wb") as f:
            f.write(build())
        paths[name] = p
    print(f"hostile: {len(cases)} inputs generated in {time.monotonic() - t0:.1f}s "
          f"({sum(os.path.getsize(p) for p in paths.values()) / MiB:.1f} MiB)")
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp)
    env = dict(os.environ, LC_ALL="C", TZ="UTC", TMPDIR=tmp)
    env.pop("DMARCD_CONFIG", None)

    def run(args, data, tag, timeout=TIMEOUT):
        cmd = [binary, "ingest", "--json", "--data", data] + args
        if not asan:
            if have_prlimit:
                cmd = ["prlimit", f"--as={AS_LIMIT}", "--"] + cmd
            else:
                cmd = ["sh", "-c", f'ulimit -v {AS_LIMIT // 1024} && exec "$@"', "sh"] + cmd
        cmd = ["timeout", "-k", "5", str(timeout)] + cmd
        tfile = os.path.join(work, f"time-{tag}")
        if have_time:
            cmd = ["/usr/bin/time", "-f", "%M %e", "-o", tfile] + cmd
        t = time.monotonic()
        p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        secs = time.monotonic() - t
        rss = None
        if have_time and os.path.exists(tfile):
            with open(tfile) as f:
                for line in f:
                    m = re.match(r"^(\d+) ([\d.]+)$", line.strip())
                    if m:
                        rss = int(m.group(1))
        return p.returncode, p.stdout, p.stderr, secs, rss

    # -- phase A: one process per input, one data folder
    data_a = os.path.join(work, "data-a")
    stored_a = 0
    status_a = {}
    print(f"{'case':20} {'lines':>5} {'rss MiB':>8} {'secs':>6}  first error")
    for name, fname, build, n, status, reason, slow in cases:
        rc, out, err, secs, rss = run([paths[name]], data_a, name)
        where = "A"
        if rc in (124, 137):
            problems.append(f"A: {name}: timed out after {TIMEOUT}s")
        elif rc < 0 or rc > 2:
            problems.append(f"A: {name}: exit {rc} (crash?): {err.decode(errors='replace')[-300:]}")
        want_rc = 1 if (REJ in status if isinstance(status, list) else status == REJ) else 0
        if rc != want_rc and rc not in (124, 137):
            problems.append(f"A: {name}: exit {rc}, expected {want_rc}")
        got = lines_by_input(out, problems, where)
        lines = got.pop(paths[name], [])
        if got:
            problems.append(f"A: {name}: lines for other inputs: {list(got)}")
        check_lines(name, n, status, reason, lines, problems, where)
        if not any(l.startswith("dmarcd: ingest: ") for l in err.decode(errors="replace").splitlines()):
            problems.append(f"A: {name}: no summary line on stderr")
        if rss is not None and not asan and rss > RSS_LIMIT_KB:
            problems.append(f"A: {name}: peak RSS {rss / 1024:.0f} MiB > {RSS_LIMIT_KB // 1024} MiB")
        stored_a += sum(l.get("records", 0) for l in lines if l.get("status") == "stored")
        status_a[name] = [l.get("status") for l in lines]
        first = lines[0].get("error") if lines else "(no line)"
        print(f"{name:20} {len(lines):5} {rss / 1024 if rss else 0:8.1f} {secs:6.1f}  {first}")
    check_db(data_a, stored_a, problems, "A")

    # -- a folder with symbolic links to itself: walked once, in bounded time
    if not only or "symlink-loop" in only:
        loop = os.path.join(work, "loop")
        os.makedirs(loop)
        with open(os.path.join(loop, "r.xml"), "wb") as f:
            f.write(report("loop-1", count=2))
        os.symlink(".", os.path.join(loop, "a"))
        os.symlink(".", os.path.join(loop, "b"))
        os.symlink(loop, os.path.join(loop, "c"))
        rc, out, err, secs, rss = run([loop], os.path.join(work, "data-loop"), "loop", timeout=10)
        lines = out.decode("utf-8", "replace").splitlines()
        print(f"{'symlink-loop':20} {len(lines):5} {rss / 1024 if rss else 0:8.1f} {secs:6.1f}")
        if rc in (124, 137):
            problems.append(f"symlink-loop: a folder with links to itself (loop/a -> ., loop/b -> .) "
                            f"was still being walked after 10s ({len(lines)} lines so far)")
        elif rc != 0 or len(lines) != 1 or '"status":"stored"' not in lines[0]:
            problems.append(f"symlink-loop: exit {rc}, {len(lines)} lines; expected exit 0 and one "
                            f"stored line for loop/r.xml: {[l[:120] for l in lines[:3]]}")

    # -- phase B: the quick inputs in one call
    quick_cases = [c for c in cases if not c[6]]
    if len(quick_cases) > 1:
        data_b = os.path.join(work, "data-b")
        rc, out, err, secs, rss = run([paths[c[0]] for c in quick_cases], data_b, "all")
        print(f"hostile: phase B: {len(quick_cases)} inputs in one call: exit {rc}, {secs:.1f}s, "
              f"peak RSS {rss / 1024 if rss else 0:.1f} MiB")
        if rc != 1:
            problems.append(f"B: exit {rc}, expected 1 (some inputs rejected, none fatal)")
        if rss is not None and not asan and rss > RSS_LIMIT_KB:
            problems.append(f"B: peak RSS {rss / 1024:.0f} MiB > {RSS_LIMIT_KB // 1024} MiB")
        got = lines_by_input(out, problems, "B")
        stored_b = 0
        for name, fname, build, n, status, reason, slow in quick_cases:
            lines = got.pop(paths[name], [])
            check_lines(name, n, status, reason, lines, problems, "B")
            if [l.get("status") for l in lines] != status_a.get(name):
                problems.append(f"B: {name}: statuses {[l.get('status') for l in lines]} differ "
                                f"from phase A {status_a.get(name)}")
            stored_b += sum(l.get("records", 0) for l in lines if l.get("status") == "stored")
        if got:
            problems.append(f"B: lines for unknown inputs: {list(got)[:5]}")
        check_db(data_b, stored_b, problems, "B")

    post = traversal_hits(work)
    if post:
        problems.append(f"files created from zip entry names: {post}")
    print(f"hostile: {time.monotonic() - t0:.1f}s")
    if problems:
        print(f"hostile: {len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print("hostile: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
