"""LMTP (RFC 2033) on the Unix socket, and a real Postfix relaying report
mails to `dmarcd serve` over SMTP and over LMTP."""
import grp
import os
import smtplib
import socket
import time

import pytest

from conftest import (Conn, dot_stuff, ehlo_keywords, gen_set, mail_bytes, mail_rcpt,
                      spool_list, stats, wait_spool_drained, wait_totals)


def lmtp_server(make_server, sockdir, **kw):
    sock = os.path.join(sockdir, "dmarcd.sock")
    srv = make_server(lmtp=sock, **kw)
    assert "dmarcd: serve: lmtp listening on %s" % sock in srv.lines, srv.stderr_tail()
    return srv, sock


def test_lmtp_two_recipients_two_replies(make_server, sockdir):
    srv, sock = lmtp_server(make_server, sockdir)
    mails, exp = gen_set(1, seed=21)
    with Conn(sock) as c:
        c.expect(220)
        r = c.cmd("LHLO client.test", 250)
        kw = ehlo_keywords(r)
        assert "PIPELINING" in kw and "ENHANCEDSTATUSCODES" in kw, r
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<dmarc-rua@x.test>", 250, "2.1.5")
        c.cmd("RCPT TO:<postmaster>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(mail_bytes(mails[0])) + b".\r\n")
        r1 = c.reply(timeout=30)
        r2 = c.reply(timeout=30)
        for r in (r1, r2):
            assert (r.code, r.enh) == (250, "2.0.0"), (r1, r2)
        assert c.nothing_within(0.5), "more than one reply per recipient: %r" % c.buf
        c.cmd("QUIT", 221)
    wait_totals(srv.data, exp, server=srv)
    wait_spool_drained(srv.data)


def test_lmtp_rejected_recipient_gets_no_data_reply(make_server, sockdir):
    srv, sock = lmtp_server(make_server, sockdir, catchall=False)
    with Conn(sock) as c:
        c.expect(220)
        c.cmd("LHLO client.test", 250)
        c.cmd("MAIL FROM:<a@b.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<Postmaster>", 250, "2.1.5")
        c.cmd("RCPT TO:<dmarc-rua@unknown.test>", 550, "5.1.1")
        c.cmd("RCPT TO:<postmaster@unknown.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(b"Subject: hello\r\n\r\nnot a report\r\n.\r\n")
        for _ in range(2):
            c.expect(250, "2.0.0", timeout=30)
        assert c.nothing_within(0.5), "a reply for the rejected recipient too: %r" % c.buf
        c.cmd("NOOP", 250, "2.0.0")
        c.cmd("QUIT", 221)
    # not a report: it ends in failed with a reason
    ents = wait_spool_drained(srv.data, allow_failed=True)
    assert len(ents) == 1 and ents[0]["state"] == "failed" and ents[0]["why"], ents


@pytest.mark.parametrize("verb", ["HELO", "EHLO"])
def test_lmtp_refuses_helo_ehlo(make_server, sockdir, verb):
    srv, sock = lmtp_server(make_server, sockdir)
    with Conn(sock) as c:
        c.expect(220)
        c.send(verb + " client.test\r\n")
        r = c.reply()
        assert 500 <= r.code < 600, "%s on LMTP: %r" % (verb, r)
        c.cmd("LHLO client.test", 250)


def test_lmtp_lhlo_on_smtp_is_refused(make_server):
    srv = make_server()
    with srv.conn() as c:
        c.send(b"LHLO client.test\r\n")
        r = c.reply()
        assert 500 <= r.code < 600, "LHLO on SMTP: %r" % r
        c.ehlo()


# ------------------------------------------------------------------ Postfix


def relay_all(pf, mails, timeout=60):
    s = smtplib.SMTP("127.0.0.1", pf.port, timeout=30)
    s.ehlo("reporter.test")
    for m in mails:
        refused = s.sendmail("noreply-dmarc@reporter.test", [mail_rcpt(m)], mail_bytes(m))
        assert refused == {}, refused
    s.quit()


def postfix_drained(pf, timeout=60):
    deadline = time.monotonic() + timeout
    while pf.queue_count():
        assert time.monotonic() < deadline, "postfix queue not empty after %d s\n%s" % (timeout, pf.log_tail())
        time.sleep(0.2)


def check_delivered(pf, srv, exp, proto):
    try:
        wait_totals(srv.data, exp, server=srv)
        wait_spool_drained(srv.data)
        postfix_drained(pf)
    except AssertionError as e:
        raise AssertionError("%s\n--- postfix maillog ---\n%s" % (e, pf.log_tail())) from None
    with open(pf.maillog, errors="replace") as f:
        log = f.read()
    sent = [ln for ln in log.splitlines() if "status=sent" in ln]
    assert len(sent) >= exp["mails"], "postfix logged %d deliveries for %d mails\n%s" % (
        len(sent), exp["mails"], pf.log_tail())
    for ln in sent:
        assert "(250 2.0.0 " in ln, "delivery reply: %s" % ln
    assert not [ln for ln in log.splitlines() if "status=bounced" in ln or "status=deferred" in ln], \
        pf.log_tail()
    assert ("postfix/%s[" % proto) in log


def test_postfix_relays_over_smtp(make_server, make_postfix):
    srv = make_server(workers=3)
    mails, exp = gen_set(30, seed=31)
    doms = [mail_rcpt(m).split("@")[1] for m in mails]
    pf = make_postfix(doms, "smtp:[127.0.0.1]:%d" % srv.port)
    relay_all(pf, mails)
    check_delivered(pf, srv, exp, "smtp")


def test_postfix_relays_over_lmtp(make_server, make_postfix, tmp_path, sockdir):
    os.chmod(tmp_path, 0o711)
    os.chmod(sockdir, 0o755)
    sock = os.path.join(sockdir, "dmarcd.sock")
    srv = make_server(lmtp=sock)
    # Postfix's lmtp client runs as the postfix user; dmarcd makes the socket
    # group-writable (0660), so give it the postfix group as a deployment would
    mode = os.stat(sock).st_mode & 0o777
    assert mode & 0o020, "LMTP socket mode %o: not group-writable" % mode
    os.chown(sock, -1, grp.getgrnam("postfix").gr_gid)
    mails, exp = gen_set(30, seed=32)
    doms = [mail_rcpt(m).split("@")[1] for m in mails]
    pf = make_postfix(doms, "lmtp:unix:%s" % sock)
    relay_all(pf, mails)
    check_delivered(pf, srv, exp, "lmtp")


def test_postfix_duplicate_relay_is_stored_once(make_server, make_postfix):
    srv = make_server()
    mails, exp = gen_set(10, seed=33)
    doms = [mail_rcpt(m).split("@")[1] for m in mails]
    pf = make_postfix(doms, "smtp:[127.0.0.1]:%d" % srv.port)
    relay_all(pf, mails)
    relay_all(pf, mails)
    wait_totals(srv.data, exp, server=srv)
    postfix_drained(pf)
    wait_spool_drained(srv.data)
    time.sleep(0.5)
    assert stats(srv.data) == {k: exp[k] for k in ("reports", "records", "messages")}
    assert spool_list(srv.data) == []


def test_lmtp_path_that_is_not_a_socket_is_left_alone(make_server, sockdir):
    path = os.path.join(sockdir, "dmarcd.sock")
    os.makedirs(sockdir, exist_ok=True)
    with open(path, "w") as f:
        f.write("precious\n")
    srv = make_server(lmtp=path, start=False)
    with pytest.raises(AssertionError):
        srv.start(timeout=5)
    srv.expect_dead = True
    assert any("exists and is not a socket" in ln for ln in srv.lines), srv.stderr_tail()
    assert open(path).read() == "precious\n"


def test_lmtp_socket_of_a_live_server_is_not_taken(make_server, sockdir):
    first, sock = lmtp_server(make_server, sockdir)
    second = make_server(lmtp=sock, start=False)
    with pytest.raises(AssertionError):
        second.start(timeout=5)
    second.expect_dead = True
    assert any("another server is listening" in ln for ln in second.lines), second.stderr_tail()
    c = Conn(sock)  # the first one still answers
    c.expect(220)
    c.close()


def test_stale_lmtp_socket_is_replaced(make_server, sockdir):
    path = os.path.join(sockdir, "dmarcd.sock")
    os.makedirs(sockdir, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)  # bound, never listening: what a killed server leaves
    s.close()
    srv, sock = lmtp_server(make_server, sockdir)
    assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    c = Conn(sock)
    c.expect(220)
    c.close()
