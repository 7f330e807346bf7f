"""`dmarcd fetch` and serve's [fetch] against a real Dovecot."""
import base64
import gzip
import os
import re
import signal
import subprocess
import time

from conftest import (BIN, GEN, RCPT, WORK, Serve, dm, fetch, gen_set, source, spool_new, stats,
                      store_all, wait_for, write_config)

NON_REPORT = (b"From: alice@example.org\r\nTo: dmarc@reports.example\r\nSubject: hello\r\n"
              b"Message-ID: <hello@example.org>\r\n\r\nNot a report, just a note.\r\n")


def big_report_mail():
    """A report mail of about 2 MB (one gzip attachment of 20,000 records)
    and its totals."""
    d = os.path.join(WORK, "big")
    if not os.path.isdir(d):
        subprocess.run([GEN, "big", d, "--reports", "1", "--records", "20000", "--seed", "7"],
                       check=True, capture_output=True)
    path = os.path.join(d, "reports", sorted(os.listdir(os.path.join(d, "reports")))[0])
    with open(path, "rb") as f:
        gz = f.read()
    xml = gzip.decompress(gz).decode()
    want = {"reports": 1, "records": xml.count("<record>"),
            "messages": sum(int(n) for n in re.findall(r"<count>(\d+)</count>", xml))}
    b64 = base64.encodebytes(gz).replace(b"\n", b"\r\n")
    mail = (b"From: noreply-dmarc@big.example\r\nTo: dmarc@reports.example\r\n"
            b"Subject: Report domain: big.example\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/gzip; name=\"big.xml.gz\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64)
    return mail, want


def oversize_mail():
    line = b"x" * 998 + b"\r\n"
    return b"From: a@b.example\r\nTo: dmarc@reports.example\r\nSubject: huge\r\n\r\n" + line * (33 * 1024 + 100)


def catch_all(data):
    dm("account", "add", "any", "--catch-all", "--data", data)


def add(a, b):
    return {k: a[k] + b[k] for k in ("reports", "records", "messages")}


def test_fetch_move_store_and_nothing_twice(dovecot, tmp_path):
    mails, exp = gen_set(3)
    big, big_want = big_report_mail()
    for m in mails:
        dovecot.deliver(m)
    dovecot.deliver(NON_REPORT)
    dovecot.deliver(big)
    dovecot.deliver(oversize_mail())
    data = tmp_path / "var"
    catch_all(data)
    cfg = write_config(tmp_path / "d.conf", data, [source(dovecot)])
    p, msgs, boxes = fetch(cfg, check=False)
    assert p.returncode == 1, p.stderr  # the oversized one stays behind
    assert [m["status"] for m in msgs] == ["spooled"] * 5 + ["too_large"], msgs
    assert all(m["after"] == "moved" for m in msgs[:5])
    assert "too large" in msgs[5]["error"]
    assert boxes[0]["spooled"] == 5 and boxes[0]["failed"] == 1 and boxes[0]["error"] is None
    ids = spool_new(data)
    assert sorted(m["spool_id"] for m in msgs[:5]) == ids
    with open(os.path.join(str(data), "spool", "new", ids[0]), "rb") as f:
        head = f.read(400).decode()
    assert "X-Dmarcd-Rcpt: <%s>" % RCPT in head and " IMAP " in head
    # moved only what is durable; the oversized one untouched in INBOX
    assert len(dovecot.folder("Processed")) == 5
    inbox = dovecot.folder()
    assert len(inbox) == 1 and "S" not in list(inbox.values())[0]
    # the workers store it all; the note is a failed entry with its reason
    failed = store_all(data, add(exp, big_want))
    assert len(failed) == 1
    # a second run: nothing new (the oversized one was reported once and
    # stays in INBOX for the postmaster)
    p, msgs, boxes = fetch(cfg)
    assert msgs == [] and boxes[0]["spooled"] == 0 and len(dovecot.folder()) == 1
    assert spool_new(data) == []


def test_flag_resume_by_uid_and_text_output(dovecot, tmp_path):
    mails, exp = gen_set(4, seed=2)
    for m in mails[:2]:
        dovecot.deliver(m)
    data = tmp_path / "var"
    cfg = write_config(tmp_path / "d.conf", data, [source(dovecot, after="flag")])
    p = dm("fetch", "--config", cfg)
    assert p.stdout.count(": spooled as ") == 2 and ", flagged" in p.stdout
    assert "2 spooled" in p.stdout
    inbox = dovecot.folder()
    assert len(inbox) == 2 and all("S" in f for f in inbox.values()), inbox
    # a new dmarcd process (a restart) goes on from the next UID
    for m in mails[2:]:
        dovecot.deliver(m)
    _, msgs, _ = fetch(cfg)
    assert [m["uid"] for m in msgs] == [3, 4]
    _, msgs, _ = fetch(cfg)
    assert msgs == []
    assert len(spool_new(data)) == 4
    catch_all(data)
    assert store_all(data, exp) == []


def test_delete_and_starttls(dovecot, tmp_path):
    mails, exp = gen_set(2, seed=3)
    for m in mails:
        dovecot.deliver(m)
    data = tmp_path / "var"
    cfg = write_config(tmp_path / "d.conf", data, [source(dovecot, url=dovecot.url("imap"), after="delete")])
    _, msgs, _ = fetch(cfg)
    assert [m["after"] for m in msgs] == ["deleted", "deleted"]
    assert dovecot.folder() == {}
    assert len(spool_new(data)) == 2
    assert "TLS" in open(os.path.join(dovecot.root, "dovecot.log")).read()


def test_uidvalidity_change_restarts_without_duplicates(dovecot, tmp_path):
    mails, exp = gen_set(3, seed=4)
    for m in mails:
        dovecot.deliver(m)
    data = tmp_path / "var"
    catch_all(data)
    cfg = write_config(tmp_path / "d.conf", data, [source(dovecot, after="flag")])
    _, msgs, boxes = fetch(cfg)
    assert len(msgs) == 3 and not boxes[0]["restarted"]
    assert store_all(data, exp) == []
    v = dovecot.new_uidvalidity()
    _, msgs, boxes = fetch(cfg)
    assert boxes[0]["restarted"] and boxes[0]["uidvalidity"] == v
    assert len(msgs) == 3  # every message again, safely
    assert store_all(data, exp) == []  # the store recognised them: nothing counted twice
    _, msgs, _ = fetch(cfg)
    assert msgs == []


def test_wrong_password_wrong_ca_password_in_url(dovecot, tmp_path):
    mails, _ = gen_set(2, seed=5)
    for m in mails:
        dovecot.deliver(m)
    data = tmp_path / "var"
    before = dovecot.folder()
    cfg = write_config(tmp_path / "pw.conf", data, [source(dovecot, password="wrong")])
    p, msgs, boxes = fetch(cfg, check=False)
    assert p.returncode == 2 and msgs == []
    assert "login refused" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    cfg = write_config(tmp_path / "ca.conf", data, [source(dovecot, ca_file=dovecot.other_ca)])
    p, msgs, _ = fetch(cfg, check=False)
    assert p.returncode == 2 and msgs == [] and "not trusted" in p.stderr, p.stderr
    cfg = write_config(tmp_path / "sys.conf", data, [source(dovecot, ca_file="")])
    p, msgs, _ = fetch(cfg, check=False)  # the system's CAs do not know the test CA
    assert p.returncode == 2 and msgs == [] and "not trusted" in p.stderr, p.stderr
    assert spool_new(data) == [] and dovecot.folder() == before
    # a password in the URL: refused on the command line and in the file
    good = write_config(tmp_path / "good.conf", data, [source(dovecot)])
    url = dovecot.url().replace("reports@", "reports:s3cret-imap@")
    p = dm("fetch", "--config", good, url, check=False)
    assert p.returncode == 2 and "no password in the URL" in p.stderr
    bad = write_config(tmp_path / "bad.conf", data, [source(dovecot, url=url)])
    p = dm("fetch", "--config", bad, check=False)
    assert p.returncode == 2 and "no password in the URL" in p.stderr and "s3cret" not in p.stderr
    # the password from a file works
    pwf = tmp_path / "pw"
    pwf.write_text("s3cret-imap\n")
    s = source(dovecot)
    del s["password"]
    s["password_file"] = str(pwf)
    _, msgs, _ = fetch(write_config(tmp_path / "pf.conf", data, [s]))
    assert len(msgs) == 2


def test_kill9_mid_run_loses_nothing_duplicates_nothing(dovecot, tmp_path):
    mails, exp = gen_set(40, seed=6)
    for m in mails:
        dovecot.deliver(m)
    data = tmp_path / "var"
    catch_all(data)
    cfg = write_config(tmp_path / "d.conf", data, [source(dovecot)])
    killed = 0
    for _ in range(3):
        p = subprocess.Popen([BIN, "fetch", "--config", cfg], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        base = len(spool_new(data))
        deadline = time.monotonic() + 30
        while p.poll() is None and len(spool_new(data)) < base + 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
    assert killed >= 1
    # every message is either still in INBOX or durable in the spool
    moved = len(dovecot.folder("Processed"))
    assert moved <= len(spool_new(data))
    _, msgs, boxes = fetch(cfg)
    assert len(dovecot.folder("Processed")) == 40 and dovecot.folder() == {}
    assert store_all(data, exp) == []  # all 40 reports, each once


def test_serve_fetches_on_its_interval(dovecot, tmp_path):
    mails, exp = gen_set(3, seed=8)
    dovecot.deliver(mails[0])
    data = tmp_path / "var"
    catch_all(data)
    cfg = write_config(tmp_path / "d.conf", data, [source(dovecot, interval=10)])
    one = {k: 0 for k in ("reports", "records", "messages")}
    sv = Serve(data, cfg)
    try:
        assert "fetching %s every 10 s" % dovecot.url() in sv.text()
        wait_for(lambda: stats(data)["reports"] >= 1 and not dovecot.folder(), 20, "the first run")
        one = stats(data)
        t0 = time.monotonic()
        for m in mails[1:]:
            dovecot.deliver(m)
        wait_for(lambda: stats(data) == {k: exp[k] for k in one}, 25, "the next run")
        assert time.monotonic() - t0 <= 14
        assert len(dovecot.folder("Processed")) == 3
    finally:
        sv.stop()
    assert "fetch" in sv.text()
