"""A store that cannot write (a full disk, imitated with a file size limit)
must not cost a message: the entries stay in the spool, are retried with
back-off, and are all stored once the store works again."""
import os
import smtplib
import subprocess
import time

from conftest import BIN, Server, catch_all, gen_set, spool_list, stats, wait_spool_drained, wait_totals

MAILS = 60


class LimitedServer(Server):
    """dmarcd serve whose files may not grow beyond 40 KiB (ulimit -f; the -shm file needs 32), with
    SIGXFSZ ignored so writes fail with EFBIG instead of killing it."""

    def argv(self):
        return ["/bin/bash", "-c", "trap '' XFSZ; ulimit -f 40; exec \"$@\"", "dmarcd-limited"] + super().argv()


def deliver(data, path):
    with open(path, "rb") as f:
        p = subprocess.run([BIN, "deliver", "--rcpt", "dmarc@reports.test", "--data", str(data)],
                           stdin=f, capture_output=True)
    assert p.returncode == 0, p.stderr


def test_store_failure_costs_no_message(tmp_path):
    data = tmp_path / "data"
    mails, exp = gen_set(MAILS, seed=11)
    catch_all(data)
    # a first run creates the store and the spool; then the mails wait in the spool
    s = Server(data).start()
    assert s.stop()[0] == 0
    for m in mails:
        deliver(data, m)
    assert len([e for e in spool_list(data) if e["state"] == "new"]) == MAILS

    os.makedirs(str(tmp_path / "limited"))
    bad = LimitedServer(data, logdir=str(tmp_path / "limited")).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("stays in the spool" in ln for ln in bad.lines):
            time.sleep(0.2)
        time.sleep(1.5)  # at least one retry after the first back-off
        bad.check_alive()
        assert any("stays in the spool" in ln for ln in bad.lines), bad.stderr_tail()
        assert any("retrying in" in ln for ln in bad.lines), bad.stderr_tail()
        assert stats(data)["records"] < exp["records"], "the limited store cannot have taken everything"
        entries = spool_list(data)
        assert not [e for e in entries if e["state"] == "failed"], entries[:5]
        # every message not yet durably stored is still in the spool
        assert len(entries) > 0
        rc, _ = bad.stop(timeout=20)
        assert rc is not None, "dmarcd serve did not stop on SIGTERM while its store was failing"
    finally:
        bad.stop(timeout=20)
        if bad.alive():
            bad.kill()

    good = Server(data).start()
    try:
        wait_totals(data, exp, server=good)
        wait_spool_drained(data)
        assert not [e for e in spool_list(data) if e["state"] == "failed"]
        assert good.stop()[0] == 0
        assert os.path.exists(os.path.join(str(data), "dmarcd.sqlite"))
    finally:
        good.stop()
        if good.alive():
            good.kill()


def test_spool_write_failure_is_451_never_250(tmp_path):
    """A message the spool cannot take (the file size limit stops the
    write) is answered 451, nothing of it is left in spool/new, and the
    session goes on: a small message after it is accepted."""
    data = tmp_path / "data"
    catch_all(data)
    # the store is made first: its empty schema alone is more than 40 KiB
    assert Server(data).start().stop()[0] == 0
    os.makedirs(str(tmp_path / "limited"))
    s = LimitedServer(data, logdir=str(tmp_path / "limited")).start()
    try:
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.ehlo("client.test")
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 100  # ~100 KB > 40 KiB
        try:
            c.sendmail("a@sender.test", ["dmarc@reports.test"], big)
            raise AssertionError("a message the spool could not write was accepted")
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 451, e
        assert os.listdir(os.path.join(str(data), "spool", "new")) == []
        small = b"Subject: small\r\n\r\nhello\r\n"
        c.sendmail("a@sender.test", ["dmarc@reports.test"], small)  # raises unless 250
        c.quit()
    finally:
        s.stop(timeout=20)
