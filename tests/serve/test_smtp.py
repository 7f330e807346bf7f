"""`dmarcd serve` over SMTP: smtplib, swaks and raw conversations.

Every reply of the contract is checked with its code and enhanced code;
stored results are judged by `dmarcd stats --json` against the generator's
expected.json, never by the server's word alone.
"""
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (Closed, Conn, assert_queued, dm, dot_stuff, ehlo_keywords, gen_set, mail_bytes, need,
                      mail_rcpt, module_server, finish_module_server, spool_list, stats, wait_spool_drained,
                      wait_totals)

HOSTNAME = "mx.dmarcd.test"
SMALL = dict(smtp_max_size=100000, smtp_max_rcpt=3, smtp_max_errors=3, smtp_timeout=2,
             smtp_data_timeout=2, smtp_max_sessions=5, smtp_max_per_ip=3, hostname="limits.dmarcd.test")


@pytest.fixture(scope="module")
def plain(module_tmp):
    """A server with default limits (only the greeting name configured), catch-all registry."""
    s = module_server(module_tmp, "plain", config={"hostname": HOSTNAME})
    yield s
    finish_module_server(s)


@pytest.fixture(scope="module")
def limits(module_tmp):
    """A second instance with small limits."""
    s = module_server(module_tmp, "limits", config=SMALL)
    yield s
    finish_module_server(s)


def one_mail(seed=1):
    mails, exp = gen_set(1, seed)
    return mails[0], exp


# ------------------------------------------------------------------ smtplib


def test_smtplib_ehlo_and_20_reports_then_again(make_server):
    srv = make_server(config={"hostname": HOSTNAME})
    mails, exp = gen_set(20)
    s = smtplib.SMTP("127.0.0.1", srv.port, timeout=30)
    code, msg = s.ehlo("reporter.test")
    assert code == 250
    feats = s.esmtp_features
    for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8"):
        assert kw in feats, "EHLO lacks %s: %s" % (kw, msg)
    assert feats["size"].strip() == "33554432", feats["size"]
    assert "starttls" not in feats, "STARTTLS offered without a certificate: %s" % msg
    ids = set()
    for m in mails:
        code, resp = s.mail("noreply@reporter.test")
        assert (code, resp[:5]) == (250, b"2.1.0"), (code, resp)
        code, resp = s.rcpt(mail_rcpt(m))
        assert (code, resp[:5]) == (250, b"2.1.5"), (code, resp)
        code, resp = s.data(mail_bytes(m))
        assert code == 250 and resp.startswith(b"2.0.0 Ok: queued as "), (code, resp)
        ids.add(resp.split()[-1])
    assert len(ids) == 20, "queue IDs are not unique: %s" % sorted(ids)
    s.quit()
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)

    # the same 20 mails again: every report is a duplicate, nothing changes
    s = smtplib.SMTP("127.0.0.1", srv.port, timeout=30)
    s.ehlo("reporter.test")
    for m in mails:
        refused = s.sendmail("noreply@reporter.test", [mail_rcpt(m)], mail_bytes(m))
        assert refused == {}
    s.quit()
    wait_spool_drained(srv.data)
    time.sleep(0.5)
    assert stats(srv.data) == {k: exp[k] for k in ("reports", "records", "messages")}


# ------------------------------------------------------------------ swaks


def swaks(*args, timeout=60):
    need("swaks")
    p = subprocess.run(["swaks"] + list(args), capture_output=True, text=True, timeout=timeout)
    return p


def test_swaks_pipeline(make_server, tmp_path):
    srv = make_server(config={"workers": 1})
    mail, exp = one_mail(seed=3)
    f = tmp_path / "mail.eml"
    f.write_bytes(mail_bytes(mail))
    p = swaks("--server", "127.0.0.1", "--port", str(srv.port), "--from", "a@b.test", "--to", "x@y.test",
              "--data", "@%s" % f, "--pipeline")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "<** " not in p.stdout, "swaks saw an error reply:\n" + p.stdout
    assert "250 2.0.0 Ok: queued as" in p.stdout, p.stdout
    # pipelined: MAIL, RCPT and DATA went out before the first of their replies
    out = p.stdout
    assert out.index(" -> DATA") < out.index("<-  250 2.1.0"), out
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)


def test_swaks_tls(make_server, tmp_path, tls_cert):
    if subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"], capture_output=True).returncode != 0:
        pytest.skip("swaks --tls needs Net::SSLeay (Debian: libnet-ssleay-perl)")
    cert, key = tls_cert
    srv = make_server(config={"tls_cert": cert, "tls_key": key, "hostname": HOSTNAME})
    mail, exp = one_mail(seed=4)
    f = tmp_path / "mail.eml"
    f.write_bytes(mail_bytes(mail))
    p = swaks("--server", "127.0.0.1", "--port", str(srv.port), "--from", "a@b.test", "--to", "x@y.test",
              "--data", "@%s" % f, "--tls")
    assert "220 2.0.0 Ready to start TLS" in p.stdout, p.stdout + p.stderr
    assert "TLS started" in p.stdout, p.stdout
    assert "<~  250 2.0.0 Ok: queued as" in p.stdout, p.stdout
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)
    # and the conversation ended cleanly (QUIT answered inside TLS)
    assert p.returncode == 0, "swaks exit %d:\n%s" % (p.returncode, p.stdout[-800:] + p.stderr)


# ------------------------------------------------------------------ greeting, EHLO, simple commands


def test_greeting_and_ehlo(plain):
    with plain.conn(greet=False) as c:
        r = c.expect(220, what="greeting")
        assert r.lines == ["%s ESMTP dmarcd" % HOSTNAME] or r.lines[0].startswith("%s ESMTP dmarcd" % HOSTNAME), r
        r = c.ehlo()
        assert r.lines[0].split()[0] == HOSTNAME, r
        kw = ehlo_keywords(r)
        for k in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
            assert k in kw, "EHLO lacks %s: %r" % (k, r)
        assert kw.get("SIZE") == "33554432", r
        assert "STARTTLS" not in kw, r
        c.cmd("QUIT", 221, "2.0.0")
        assert c.is_closed()


def test_helo_plain_smtp(plain):
    mail, _ = one_mail()
    with plain.conn() as c:
        r = c.cmd("HELO client.test", 250)
        assert len(r.lines) == 1, "HELO must answer with one line: %r" % r
        assert_queued(c.transaction(mail_bytes(mail)), "mail after HELO")
        c.cmd("QUIT", 221, "2.0.0")


def test_simple_commands(plain):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("NOOP", 250, "2.0.0")
        c.cmd("RSET", 250, "2.0.0")
        c.cmd("VRFY postmaster", 252, "2.5.2")
        c.cmd("HELP", 214)
        c.cmd("noop", 250, "2.0.0")  # verbs are case-insensitive
        # RSET ends a transaction: RCPT after it is out of sequence
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RSET", 250, "2.0.0")
        c.cmd("RCPT TO:<x@y.test>", 503, "5.5.1")
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("QUIT", 221, "2.0.0")
        assert c.is_closed(), "QUIT did not close the connection"


def test_null_sender_accepted(plain):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc@x.test>", 250, "2.1.5")


# ------------------------------------------------------------------ errors


def test_unknown_command(plain):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("FROBNICATE now", 500, "5.5.2")
        c.cmd("MAILFROM:<a@b.test>", 500, "5.5.2")
        c.cmd("NOOP", 250, "2.0.0")


@pytest.mark.parametrize("line", ["MAIL", "MAIL FROM:", "MAIL FROM:<a@b.test", "MAIL TO:<a@b.test>",
                                  "EHLO", "HELO"])
def test_syntax_mail(plain, line):
    with plain.conn() as c:
        if not line.startswith(("EHLO", "HELO")):
            c.ehlo()
        c.cmd(line, 501, "5.5.4")
        c.cmd("NOOP", 250, "2.0.0")


@pytest.mark.parametrize("line", ["RCPT", "RCPT TO:", "RCPT TO:<x@y.test", "RCPT FROM:<x@y.test>"])
def test_syntax_rcpt(plain, line):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd(line, 501, "5.5.4")
        c.cmd("RCPT TO:<x@y.test>", 250, "2.1.5")


def test_out_of_sequence(plain):
    with plain.conn() as c:
        c.cmd("MAIL FROM:<a@b.test>", 503, "5.5.1")  # before EHLO/HELO
        c.ehlo()
        c.cmd("RCPT TO:<x@y.test>", 503, "5.5.1")  # before MAIL
        c.cmd("DATA", 503, "5.5.1")  # before MAIL
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("MAIL FROM:<a@b.test>", 503, "5.5.1")  # MAIL twice
        c.cmd("RCPT TO:<x@y.test>", 250, "2.1.5")  # the transaction still works
        c.cmd("DATA", 354)
        c.send(b"Subject: t\r\n\r\nhello\r\n.\r\n")
        assert_queued(c.reply())


def test_data_before_rcpt(plain):
    """Contract: DATA before RCPT is out of sequence (503 5.5.1); 554 5.5.1 is
    for DATA after recipients were tried and none was accepted."""
    with plain.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("DATA", 503, "5.5.1")
        c.cmd("RCPT TO:<x@y.test>", 250, "2.1.5")


def test_mail_size_parameter_huge(plain):
    """A SIZE that does not fit 64 bits is still a size above the maximum."""
    with plain.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test> SIZE=99999999999999999999", 552, "5.3.4")


def test_mail_size_parameter(plain):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test> SIZE=33554433", 552, "5.3.4")
        c.cmd("MAIL FROM:<a@b.test> SIZE=4294967297", 552, "5.3.4")
        c.cmd("MAIL FROM:<a@b.test> SIZE=1000", 250, "2.1.0")
        c.cmd("RSET", 250, "2.0.0")
        c.cmd("MAIL FROM:<a@b.test> SIZE=33554432 BODY=8BITMIME", 250, "2.1.0")


@pytest.mark.parametrize("n", [2100, 10000, 200000])
def test_long_command_line(plain, n):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("NOOP " + "x" * n, 500, "5.5.2")
        # the session goes on; the rest of the long line was not taken as a command
        c.cmd("NOOP", 250, "2.0.0")
        assert c.nothing_within(0.3), "extra reply after the long line: %r" % c.buf


def test_line_of_2000_bytes_is_fine(plain):
    with plain.conn() as c:
        c.ehlo()
        c.cmd("NOOP " + "x" * 1990, 250, "2.0.0")


def test_pipelining(plain):
    mail, _ = one_mail()
    with plain.conn() as c:
        c.send(b"EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<dmarc@x.test>\r\n"
               b"RCPT TO:<dmarc@y.test>\r\nDATA\r\n")
        r = c.expect(250, what="EHLO")
        assert len(r.lines) > 1 and "PIPELINING" in ehlo_keywords(r)
        c.expect(250, "2.1.0", what="MAIL")
        c.expect(250, "2.1.5", what="RCPT 1")
        c.expect(250, "2.1.5", what="RCPT 2")
        c.expect(354, what="DATA")
        # message, end and the next transaction in one write too
        c.send(dot_stuff(mail_bytes(mail)) + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        assert_queued(c.reply(timeout=30))
        c.expect(250, "2.0.0", what="RSET")
        c.expect(250, "2.0.0", what="NOOP")
        c.expect(221, "2.0.0", what="QUIT")
        assert c.is_closed()


# ------------------------------------------------------------------ stored results over raw sockets


def test_pipelined_report_is_stored(make_server):
    srv = make_server()
    mails, exp = gen_set(2, seed=5)
    with srv.conn() as c:
        c.send(b"EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<dmarc@x.test>\r\n"
               b"RCPT TO:<dmarc@y.test>\r\nDATA\r\n")
        for code, enh in ((250, None), (250, "2.1.0"), (250, "2.1.5"), (250, "2.1.5"), (354, None)):
            c.expect(code, enh)
        c.send(dot_stuff(mail_bytes(mails[0])) + b".\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<d@x.test>\r\nDATA\r\n")
        assert_queued(c.reply(timeout=30))
        c.expect(250, "2.1.0")
        c.expect(250, "2.1.5")
        c.expect(354)
        c.send(dot_stuff(mail_bytes(mails[1])) + b".\r\nQUIT\r\n")
        assert_queued(c.reply(timeout=30))
        c.expect(221, "2.0.0")
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)


SMUGGLE = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-cr": b"\r.\r",
}


@pytest.mark.parametrize("name", sorted(SMUGGLE))
def test_smuggling(make_server, name):
    """Only CRLF.CRLF ends DATA: a smuggled second transaction stays message text."""
    srv = make_server()
    mails, _ = gen_set(2, seed=6)
    _, exp_first = gen_set(1, seed=6)
    first, second = mail_bytes(mails[0]), mail_bytes(mails[1])
    smuggled = (b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<dmarc@x.test>\r\nDATA\r\n" +
                dot_stuff(second))
    assert dot_stuff(first) == first, "the test mail has dot lines; pick another"
    body = first + b"smuggled" + SMUGGLE[name] + smuggled
    with srv.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc@x.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(body + b".\r\n")
        assert_queued(c.reply(timeout=30), "the message carrying the smuggled text")
        c.send(b"NOOP\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (250, "2.0.0") and "queued" not in r.text, \
            "smuggled commands were answered: %r (transcript %s)" % (r, c.transcript[-8:])
        assert c.nothing_within(0.5), "more replies: %r" % c.buf
        c.cmd("QUIT", 221, "2.0.0")
    # exactly the first report is stored, the smuggled one is not
    wait_totals(srv.data, exp_first, server=srv)
    wait_spool_drained(srv.data)
    time.sleep(0.5)
    assert stats(srv.data)["reports"] == 1


def test_dot_unstuffing_and_failed_entry(make_server):
    """A plain-text message to postmaster: not a report, so it ends in failed/
    with a reason, and its stored bytes show the dots unstuffed."""
    srv = make_server(catchall=False)
    text = (b"Subject: dots\r\nFrom: a@b.test\r\nTo: postmaster\r\n\r\n"
            b"first\r\n.hidden line\r\n..two dots\r\n.\tdot tab\r\nlast\r\n")
    wire = dot_stuff(text)
    assert b"\r\n..hidden line\r\n...two dots\r\n" in wire
    with srv.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<PostMaster>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(wire + b".\r\n")
        qid = assert_queued(c.reply())
        c.cmd("QUIT", 221)
    deadline = time.monotonic() + 30
    while True:
        ents = spool_list(srv.data)
        if ents and all(e["state"] == "failed" for e in ents):
            break
        assert time.monotonic() < deadline, "no failed entry: %s" % ents
        time.sleep(0.2)
    assert [e["id"] for e in ents] == [qid], ents
    assert ents[0]["why"], "failed entry without a reason: %s" % ents
    with open(os.path.join(srv.data, "spool", "failed", qid), "rb") as f:
        stored = f.read()
    assert stored.endswith(text), "stored message differs:\n%r" % stored[-300:]
    assert b"..hidden" not in stored and b"...two" not in stored
    assert stats(srv.data)["reports"] == 0


def test_ack_means_spooled(make_server):
    """250 comes only once the message is in spool/new/.  Non-reports end in
    failed/ and entries only move forward (new -> cur -> failed), so right
    after each 250 its ID must be in one of them, looked up in that order."""
    srv = make_server()
    sp = os.path.join(srv.data, "spool")
    with srv.conn() as c:
        c.ehlo()
        for i in range(20):
            c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\n")
            c.expect(250, "2.1.0")
            c.expect(250, "2.1.5")
            c.expect(354)
            c.send(b"Subject: not a report %d\r\n\r\nhello\r\n.\r\n" % i)
            qid = assert_queued(c.reply())
            where = [st for st in ("new", "cur", "failed") if os.path.exists(os.path.join(sp, st, qid))]
            assert where, "acknowledged %s is in none of spool/new, cur, failed" % qid
        c.cmd("QUIT", 221)
    ents = wait_spool_drained(srv.data, allow_failed=True)
    assert len(ents) == 20 and all(e["state"] == "failed" and e["why"] for e in ents), ents


def test_disconnect_mid_data(make_server):
    srv = make_server()
    mails, _ = gen_set(1, seed=8)
    other, exp_other = gen_set(1, seed=9)
    # a complete report, but the client goes away before the final dot
    c = srv.conn()
    c.ehlo()
    c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.cmd("RCPT TO:<dmarc@x.test>", 250, "2.1.5")
    c.cmd("DATA", 354)
    c.send(dot_stuff(mail_bytes(mails[0])))
    time.sleep(0.2)
    c.close()
    # and another one half-way with a reset
    c = srv.conn()
    c.ehlo()
    c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
    c.cmd("RCPT TO:<dmarc@x.test>", 250, "2.1.5")
    c.cmd("DATA", 354)
    c.send(dot_stuff(mail_bytes(mails[0]))[:3000])
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    # the server still serves others
    with srv.conn() as c2:
        c2.ehlo()
        assert_queued(c2.transaction(mail_bytes(other[0])))
        c2.cmd("QUIT", 221)
    wait_totals(srv.data, exp_other, server=srv)
    wait_spool_drained(srv.data)
    time.sleep(0.5)
    assert stats(srv.data) == {k: exp_other[k] for k in ("reports", "records", "messages")}
    tmpd = os.path.join(srv.data, "spool", "tmp")
    if os.path.isdir(tmpd):
        assert os.listdir(tmpd) == [], "unfinished messages left in spool/tmp: %s" % os.listdir(tmpd)


def test_multiple_recipients_one_copy(make_server):
    srv = make_server()
    _, exp = gen_set(1, seed=10)
    mails, _ = gen_set(1, seed=10)
    with srv.conn() as c:
        c.ehlo()
        assert_queued(c.transaction(mail_bytes(mails[0]), rcpts=("a@x.test", "b@y.test", "postmaster")))
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)


# ------------------------------------------------------------------ limits


def test_size_limit_advertised(limits):
    with limits.conn() as c:
        r = c.ehlo()
        assert ehlo_keywords(r).get("SIZE") == "100000", r
        c.cmd("MAIL FROM:<a@b.test> SIZE=100001", 552, "5.3.4")
        c.cmd("MAIL FROM:<a@b.test> SIZE=50000", 250, "2.1.0")


def test_message_grows_beyond_max(limits):
    mail, _ = one_mail(seed=11)
    before = [e["id"] for e in spool_list(limits.data)]
    with limits.conn(timeout=10) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc@x.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        # 300 kB of lines that would be commands if the server stopped reading
        big = b"Subject: big\r\n\r\n" + b"NOOP\r\nRSET\r\nQUIT nope\r\n" * 15000
        c.send(big)
        assert c.nothing_within(0.5), "server answered before the end of DATA: %r" % c.buf
        c.send(b".\r\n")
        c.expect(552, "5.3.4", timeout=15, what="oversized message")
        assert c.nothing_within(0.5), "extra replies after 552: %r" % c.buf
        # the session continues
        c.cmd("NOOP", 250, "2.0.0")
        assert_queued(c.transaction(mail_bytes(mail)), "next transaction after 552")
        c.cmd("QUIT", 221)
    wait_spool_drained(limits.data, allow_failed=True)
    after = spool_list(limits.data)
    for e in after:
        if e["id"] not in before:
            assert e["size"] < 100000, "the oversized message was kept: %s" % e


def test_too_many_recipients(limits):
    with limits.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        for i in range(3):
            c.cmd("RCPT TO:<r%d@x.test>" % i, 250, "2.1.5")
        c.cmd("RCPT TO:<r3@x.test>", 452, "4.5.3")
        c.cmd("RCPT TO:<r4@x.test>", 452, "4.5.3")
        c.cmd("DATA", 354)
        c.send(b"Subject: three\r\n\r\nhi\r\n.\r\n")
        assert_queued(c.reply())


def _bad_commands_until_421(c, bad):
    """Send bad commands one at a time; return the replies up to and with the 421.
    The 421 may come right after the 3rd bad reply, instead of it, or for the 4th."""
    seen = []
    for i, line in enumerate(bad):
        c.send(line + "\r\n")
        r = c.reply()
        seen.append((line, r))
        if r.code == 421:
            return seen, i + 1
        if i >= 2:
            try:
                r = c.reply(timeout=1)
                seen.append((line, r))
                if r.code == 421:
                    return seen, i + 1
            except (socket.timeout, TimeoutError):
                pass
    raise AssertionError("no 421 after %d bad commands: %s" % (len(bad), seen))


def test_max_errors(limits):
    with limits.conn() as c:
        c.ehlo()
        seen, n = _bad_commands_until_421(c, ["BOGUS1", "BOGUS2", "BOGUS3", "BOGUS4", "BOGUS5"])
        assert n in (3, 4), "421 only after %d bad commands (smtp_max_errors = 3): %s" % (n, seen)
        for line, r in seen[:2]:
            assert (r.code, r.enh) == (500, "5.5.2"), (line, r)
        assert seen[-1][1].enh == "4.7.0", seen
        assert c.is_closed(), "connection not closed after 421"
    with limits.conn() as c:  # others are unaffected
        c.ehlo()
        c.cmd("NOOP", 250, "2.0.0")


def test_max_errors_counts_syntax_errors(limits):
    with limits.conn() as c:
        c.ehlo()
        seen, n = _bad_commands_until_421(c, ["MAIL", "MAIL FROM:<x", "RCPT", "FOO", "BAR"])
        assert n in (3, 4), "421 only after %d bad commands (smtp_max_errors = 3): %s" % (n, seen)
        assert (seen[0][1].code, seen[0][1].enh) == (501, "5.5.4"), seen
        assert seen[-1][1].enh == "4.7.0", seen
        assert c.is_closed()


def test_command_timeout(limits):
    with limits.conn(timeout=10) as c:
        c.ehlo()
        t0 = time.monotonic()
        r = c.reply(timeout=8)
        took = time.monotonic() - t0
        assert (r.code, r.enh) == (421, "4.4.2"), r
        assert 1.5 <= took <= 6, "timeout after %.1f s (smtp_timeout = 2)" % took
        assert c.is_closed()


def test_command_timeout_before_ehlo(limits):
    with limits.conn(timeout=10) as c:
        t0 = time.monotonic()
        r = c.reply(timeout=8)
        assert (r.code, r.enh) == (421, "4.4.2"), r
        assert time.monotonic() - t0 <= 6
        assert c.is_closed()


def test_data_timeout(limits):
    with limits.conn(timeout=10) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc@x.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(b"Subject: slow\r\n\r\npart of a message")
        t0 = time.monotonic()
        r = c.reply(timeout=8)
        took = time.monotonic() - t0
        assert r.code == 421 and r.enh == "4.4.2", r
        assert 1.5 <= took <= 6, "data timeout after %.1f s (smtp_data_timeout = 2)" % took
        assert c.is_closed()


def _try_conn(srv, source):
    c = Conn(srv.addr, timeout=5, source=source)
    return c, c.reply()


def test_per_ip_and_session_limits(limits):
    opened = []
    try:
        for _ in range(3):
            c, r = _try_conn(limits, "127.0.0.1")
            opened.append(c)
            assert r.code == 220, r
        c, r = _try_conn(limits, "127.0.0.1")
        assert (r.code, r.enh) == (421, "4.7.0"), "4th session from one address: %r" % r
        assert c.is_closed()
        c.close()
        # another address is not affected
        for _ in range(2):
            c, r = _try_conn(limits, "127.0.0.2")
            opened.append(c)
            assert r.code == 220, "from 127.0.0.2: %r" % r
        # 5 sessions open: the 6th is refused whoever it is
        c, r = _try_conn(limits, "127.0.0.3")
        assert (r.code, r.enh) == (421, "4.3.2"), "6th session: %r" % r
        assert c.is_closed()
        c.close()
        # the open sessions still work
        for c in opened:
            c.cmd("NOOP", 250, "2.0.0")
        # one goes away: a new one is accepted again
        opened.pop().close()
        deadline = time.monotonic() + 5
        while True:
            c, r = _try_conn(limits, "127.0.0.3")
            if r.code == 220:
                opened.append(c)
                break
            c.close()
            assert time.monotonic() < deadline, "no session slot freed: %r" % r
            time.sleep(0.1)
    finally:
        for c in opened:
            c.close()
    # and after all close, the per-IP count is back to 0
    time.sleep(0.3)
    cs = []
    try:
        for _ in range(3):
            c, r = _try_conn(limits, "127.0.0.1")
            cs.append(c)
            assert r.code == 220, r
    finally:
        for c in cs:
            c.close()


# ------------------------------------------------------------------ STARTTLS


@pytest.fixture
def tls_server(make_server, tls_cert):
    cert, key = tls_cert
    return make_server(config={"tls_cert": cert, "tls_key": key, "hostname": HOSTNAME})


def test_starttls_discards_pipelined_commands(tls_server):
    mail, exp = one_mail(seed=12)
    with tls_server.conn() as c:
        r = c.ehlo()
        assert "STARTTLS" in ehlo_keywords(r), r
        c.send(b"STARTTLS\r\nNOOP\r\n")
        r = c.reply()
        assert (r.code, r.lines[0]) == (220, "2.0.0 Ready to start TLS"), r
        assert c.nothing_within(0.3), "clear-text bytes after 220: %r" % c.buf
        c.starttls()
        assert c.nothing_within(0.7), "the NOOP sent before the handshake was answered: %r" % c.buf
        r = c.ehlo()
        kw = ehlo_keywords(r)
        assert "STARTTLS" not in kw, "STARTTLS offered inside TLS: %r" % r
        assert "PIPELINING" in kw and "SIZE" in kw, r
        assert_queued(c.transaction(mail_bytes(mail)), "report over TLS")
        c.cmd("NOOP", 250, "2.0.0")
    wait_totals(tls_server.data, exp, server=tls_server)
    wait_spool_drained(tls_server.data)


def test_quit_over_tls(tls_server):
    with tls_server.conn() as c:
        c.ehlo()
        c.cmd("STARTTLS", 220, "2.0.0")
        c.starttls()
        c.ehlo()
        c.cmd("NOOP", 250, "2.0.0")
        c.cmd("QUIT", 221, "2.0.0")
        assert c.is_closed()


def test_quit_over_tls_after_message(tls_server):
    with tls_server.conn() as c:
        c.ehlo()
        c.cmd("STARTTLS", 220, "2.0.0")
        c.starttls()
        c.ehlo()
        assert_queued(c.transaction(b"Subject: t\r\n\r\nhello\r\n"))
        c.cmd("QUIT", 221, "2.0.0")
        assert c.is_closed()


def test_starttls_smtplib(tls_server):
    mails, exp = gen_set(3, seed=13)
    s = smtplib.SMTP("127.0.0.1", tls_server.port, timeout=30)
    s.ehlo()
    assert s.has_extn("starttls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    code, resp = s.starttls(context=ctx)
    assert code == 220 and resp == b"2.0.0 Ready to start TLS", (code, resp)
    s.ehlo()
    assert not s.has_extn("starttls")
    for m in mails:
        assert s.sendmail("a@b.test", [mail_rcpt(m)], mail_bytes(m)) == {}
    assert s.noop()[0] == 250
    s.close()  # QUIT over TLS: test_quit_over_tls
    wait_totals(tls_server.data, exp, server=tls_server)


def test_starttls_refused_without_cert(plain):
    with plain.conn() as c:
        c.ehlo()
        c.send(b"STARTTLS\r\n")
        r = c.reply()
        assert r.code != 220 and r.code >= 400, "STARTTLS accepted without a certificate: %r" % r
        c.cmd("NOOP", 250, "2.0.0")


# ------------------------------------------------------------------ registry


def test_registry_and_sighup(make_server):
    srv = make_server(catchall=False, start=False)
    dm("account", "add", "acme", "--data", srv.data)
    dm("domain", "add", "monarch-mail.nl", "--account", "acme", "--address", "dmarc-rua@monarch-mail.nl",
       "--data", srv.data)
    srv.start()
    with srv.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc-rua@monarch-mail.nl>", 250, "2.1.5")
        c.cmd("RCPT TO:<DMARC-RUA@Monarch-Mail.NL>", 250, "2.1.5")
        c.cmd("RCPT TO:<dmarc-rua@globex.nl>", 550, "5.1.1")
        c.cmd("RCPT TO:<nobody@monarch-mail.nl>", 550, "5.1.1")
        c.cmd("RCPT TO:<postmaster>", 250, "2.1.5")
        c.cmd("RCPT TO:<PostMaster>", 250, "2.1.5")
        c.cmd("RCPT TO:<postmaster@monarch-mail.nl>", 250, "2.1.5")
        c.cmd("RCPT TO:<POSTMASTER@unknown.example>", 250, "2.1.5")
        c.cmd("RSET", 250, "2.0.0")
        # DATA with only rejected recipients
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc-rua@globex.nl>", 550, "5.1.1")
        c.cmd("DATA", 554, "5.5.1")
        c.cmd("RSET", 250, "2.0.0")
        c.cmd("QUIT", 221)
    dm("domain", "add", "globex.nl", "--account", "acme", "--address", "dmarc-rua@globex.nl",
       "--data", srv.data)
    srv.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while True:
        with srv.conn() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
            c.send(b"RCPT TO:<dmarc-rua@globex.nl>\r\n")
            r = c.reply()
        if r.code == 250:
            assert r.enh == "2.1.5", r
            break
        assert (r.code, r.enh) == (550, "5.1.1"), r
        assert time.monotonic() < deadline, "new address still refused 5 s after SIGHUP"
        time.sleep(0.2)
    srv.check_alive()
    with srv.conn() as c:  # the old one is still served, unknown ones still refused
        c.ehlo()
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc-rua@monarch-mail.nl>", 250, "2.1.5")
        c.cmd("RCPT TO:<dmarc-rua@initech.fr>", 550, "5.1.1")


def test_registry_report_to_registered_address_is_stored(make_server):
    """A report addressed to a registered address on a non-catch-all registry is stored."""
    mails, exp = gen_set(1, seed=14)
    rcpt = mail_rcpt(mails[0])
    srv = make_server(catchall=False, start=False)
    dm("account", "add", "acme", "--data", srv.data)
    dm("domain", "add", rcpt.split("@")[1], "--account", "acme", "--address", rcpt, "--data", srv.data)
    srv.start()
    with srv.conn() as c:
        c.ehlo()
        assert_queued(c.transaction(mail_bytes(mails[0]), rcpts=(rcpt,)))
        c.cmd("QUIT", 221)
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)


# ------------------------------------------------------------------ process


def test_listeners_ipv6_lmtp_and_sigterm(make_server, sockdir):
    from conftest import free_port
    sock = os.path.join(sockdir, "lmtp.sock")
    srv = make_server(start=False, smtp6_port=free_port("::1"), lmtp=sock)
    srv.start()
    # "ready" may carry details after a space: "dmarcd: serve: ready (2 workers; ...)"
    lines = [re.sub(r"^(dmarcd: serve: ready) .*", r"\1", ln) for ln in srv.lines
             if ln.startswith("dmarcd: serve: ")]
    want = ["dmarcd: serve: smtp listening on 127.0.0.1:%d" % srv.port,
            "dmarcd: serve: smtp listening on [::1]:%d" % srv.smtp6_port,
            "dmarcd: serve: lmtp listening on %s" % sock,
            "dmarcd: serve: ready"]
    for w in want:
        assert w in lines, "missing %r in stderr:\n%s" % (w, srv.stderr_tail())
    assert lines.index("dmarcd: serve: ready") > max(lines.index(w) for w in want[:3])
    with Conn(("::1", srv.smtp6_port)) as c:
        c.expect(220)
        c.ehlo()
        c.cmd("QUIT", 221)
    with Conn(sock) as c:
        c.expect(220)
        c.cmd("LHLO client.test", 250)
        c.cmd("QUIT", 221)
    rc, took = srv.stop()
    assert rc == 0, "SIGTERM: exit status %s\n%s" % (rc, srv.stderr_tail())
    assert took < 5, "SIGTERM took %.1f s" % took


def test_sigterm_with_open_sessions(make_server):
    srv = make_server()
    idle = srv.conn()
    idle.ehlo()
    busy = srv.conn()
    busy.ehlo()
    busy.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
    busy.cmd("RCPT TO:<x@y.test>", 250, "2.1.5")
    busy.cmd("DATA", 354)
    busy.send(b"Subject: half\r\n\r\nhalf a mess")
    rc, took = srv.stop()
    assert rc == 0, "SIGTERM: exit status %s\n%s" % (rc, srv.stderr_tail())
    assert took < 5, "SIGTERM with open sessions took %.1f s" % took
    # the half message is not acknowledged nor kept
    r = None
    try:
        r = busy.reply(timeout=1)
    except (Closed, socket.timeout, TimeoutError, ConnectionResetError):
        pass
    assert r is None or r.code != 250, "half message acknowledged at shutdown: %r" % r
    idle.close()
    busy.close()
    ents = spool_list(srv.data)
    assert not ents, "spool entries after shutdown: %s" % ents
