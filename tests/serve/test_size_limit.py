"""Whatever SMTP or `dmarcd deliver` accepts at the default size limit,
the worker processes: a message just under the limit must be stored, never
moved to spool/failed (the worker once counted dmarcd's own envelope
fields and Received field against the limit the sender was held to).

The messages are real report mails padded with a text part to a chosen
size, sent at the compiled-in default (32 MiB), not a lowered limit."""
import base64
import email
import email.policy
import subprocess

from conftest import BIN, dot_stuff, gen_set, spool_list, stats, wait_spool_drained

LIMIT = 32 * 1024 * 1024  # DM_MAX_MESSAGE_BYTES, smtp_max_size's default


def padded_mail(report_mail, size, rcpt="dmarc@x.test"):
    """A CRLF message of exactly size bytes: the report attachment of
    report_mail after a text/plain part of padding."""
    with open(report_mail, "rb") as f:
        src = email.message_from_binary_file(f, policy=email.policy.compat32)
    att = [p for p in src.walk() if p.get_content_maintype() == "application"]
    assert att, "no attachment in %s" % report_mail
    att = att[0]
    boundary = "pad-boundary-0123456789"
    head = ("From: reporter@reporter.test\r\nTo: %s\r\nSubject: %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
            "--%s\r\nContent-Type: text/plain\r\n\r\n" % (rcpt, src["Subject"], boundary, boundary)).encode()
    tail = ("\r\n--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"report.xml.gz\"\r\n\r\n" %
            (boundary, att.get_content_type())).encode()
    body = att.get_payload(decode=True)
    b64 = base64.encodebytes(body).replace(b"\n", b"\r\n")
    tail += b64 + ("--%s--\r\n" % boundary).encode()
    room = size - len(head) - len(tail)
    assert room > 100
    line = b"x" * 76 + b"\r\n"
    n, rest = divmod(room, len(line))
    if 0 < rest < 3:  # too short for a line of its own: lengthen the last one
        n, rest = n - 1, rest + len(line)
    pad = line * n + (b"z" * (rest - 2) + b"\r\n" if rest else b"")
    msg = head + pad + tail
    assert len(msg) == size, (len(msg), size)
    return msg


def send(conn, msg, rcpts, declare=True):
    conn.cmd("MAIL FROM:<r@reporter.test>" + (" SIZE=%d" % len(msg) if declare else ""), 250)
    for r in rcpts:
        conn.cmd("RCPT TO:<%s>" % r, 250)
    conn.cmd("DATA", 354)
    conn.send(dot_stuff(msg) + b".\r\n")
    return conn.reply(timeout=60)


def test_messages_at_the_default_limit_are_processed(make_server):
    srv = make_server()
    mails, _ = gen_set(4, seed=31)
    many = ["dmarc%d@x.test" % i for i in range(100)]  # the longest envelope
    cases = [(LIMIT - 4096, many), (LIMIT - 4096, ["dmarc@x.test"]), (LIMIT - 400, ["dmarc@x.test"]),
             (LIMIT - 100, many)]
    accepted = refused = 0
    with srv.conn(timeout=60) as c:
        c.ehlo()
        for (size, rcpts), mail in zip(cases, mails):
            r = send(c, padded_mail(mail, size, rcpts[0]), rcpts)
            assert r.code in (250, 552), "size %d: %r" % (size, r)
            if r.code == 250:
                accepted += 1
            else:
                refused += 1
                # only a message within the Received field's length of the limit
                assert size > LIMIT - 1024, "size %d refused: %r" % (size, r)
        # one byte over the limit by the client's own bytes: always 552
        r = send(c, padded_mail(mails[0], LIMIT + 1), ["dmarc@x.test"], declare=False)
        assert r.code == 552, r
    assert accepted >= 2, "the messages a few KB under the limit must be accepted"
    left = wait_spool_drained(srv.data, timeout=120, allow_failed=True)
    assert not left, "accepted messages ended in spool/failed: %s" % left
    assert stats(srv.data)["reports"] == accepted


def test_deliver_at_exactly_the_limit_is_processed(make_server):
    srv = make_server()
    mails, _ = gen_set(4, seed=31)
    msg = padded_mail(mails[1], LIMIT)
    p = subprocess.run([BIN, "deliver", "--rcpt", "dmarc@x.test", "--data", srv.data], input=msg,
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([BIN, "deliver", "--rcpt", "dmarc@x.test", "--data", srv.data], input=msg + b"x",
                       capture_output=True)
    assert p.returncode == 65, (p.returncode, p.stderr)  # EX_DATAERR: over the limit
    left = wait_spool_drained(srv.data, timeout=120, allow_failed=True)
    assert not left, "a delivered message ended in spool/failed: %s" % left
    assert stats(srv.data)["reports"] == 1
    assert not spool_list(srv.data)
