"""A registry reload must never stall the SMTP loop: registry.sqlite may be
locked for seconds by an administrator's command, and the server goes on
answering meanwhile, then picks the new registry up."""
import signal
import sqlite3
import threading
import time

from conftest import dm


def test_reload_waits_off_the_loop(make_server):
    srv = make_server()
    db = sqlite3.connect(srv.data + "/registry.sqlite", isolation_level=None, timeout=10,
                         check_same_thread=False)
    # an exclusive lock also keeps readers out, as a long write would
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    released = threading.Event()

    def release_later():
        time.sleep(3.0)
        db.execute("COMMIT")
        db.execute("PRAGMA locking_mode=NORMAL")
        db.execute("SELECT 1 FROM sqlite_master").fetchall()  # drops the lock
        released.set()

    with srv.conn() as c:
        c.ehlo()
        srv.signal(signal.SIGHUP)
        t = threading.Thread(target=release_later)
        t.start()
        worst = 0.0
        while not released.is_set():
            t0 = time.monotonic()
            c.cmd("NOOP", 250)
            c.cmd("MAIL FROM:<r@reporter.test>", 250)
            c.cmd("RCPT TO:<x@y.test>", 250)  # the RCPT path reads the registry
            c.cmd("RSET", 250)
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.05)
        t.join()
    db.close()
    assert worst < 0.5, "the SMTP loop stalled %.2f s while the registry was locked" % worst
    deadline = time.monotonic() + 10
    while not any("registry reloaded" in ln for ln in srv.lines):
        assert time.monotonic() < deadline, srv.stderr_tail()
        time.sleep(0.1)


def test_change_is_picked_up_without_a_signal(make_server):
    srv = make_server(catchall=False)
    with srv.conn() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<r@reporter.test>", 250)
        c.cmd("RCPT TO:<dmarc@reports.test>", 550)
    dm("account", "add", "acme", "--data", srv.data)
    dm("domain", "add", "example.com", "--account", "acme", "--address", "dmarc@reports.test",
       "--data", srv.data)
    deadline = time.monotonic() + 10
    while True:
        with srv.conn() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<r@reporter.test>", 250)
            c.send(b"RCPT TO:<dmarc@reports.test>\r\n")
            if c.reply().code == 250:
                break
        assert time.monotonic() < deadline, "the new address was never accepted"
        time.sleep(0.2)
