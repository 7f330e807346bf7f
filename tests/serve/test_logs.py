"""log_file: after start-up the log goes to the file; SIGHUP reopens it, so
a rotated-away file stops growing and a new one starts."""
import os
import re
import signal
import time

from conftest import Server, catch_all, write_config


def wait_for(path, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        time.sleep(0.1)
    raise AssertionError("%r never appeared in %s" % (text, path))


def test_log_file_and_reopen_on_sighup(tmp_path):
    data = tmp_path / "data"
    os.makedirs(str(data))
    log = str(tmp_path / "dmarcd.log")
    catch_all(data)
    cfg = write_config(tmp_path / "c.conf", log_file=log, log_level="info")
    s = Server(data, config=cfg).start()
    try:
        wait_for(log, "serve: ready")
        assert "logging here" in open(log).read()
        os.rename(log, log + ".1")  # what logrotate does
        s.signal(signal.SIGHUP)
        wait_for(log, "registry reloaded")  # the new file exists and gets the lines
        s.signal(signal.SIGTERM)
        assert s.proc.wait(20) == 0
        wait_for(log, "signal 15, stopping")
        old = open(log + ".1").read()
        assert "registry reloaded" not in old and "signal 15" not in old
    finally:
        s.stop()


STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z dmarcd\[(\d+)\]: [a-z]+: ")


def test_log_file_lines_carry_time_and_pid(tmp_path, make_server):
    """Every line in log_file starts with the UTC time and the process id."""
    log = str(tmp_path / "dmarcd.log")
    srv = make_server(config={"log_file": log, "log_level": "info"})
    wait_for(log, "logging here")
    with srv.conn() as c:  # a session and a refused command: lines of the smtp part too
        c.ehlo()
        c.cmd("RCPT TO:<a@b.test>", 503)
    srv.signal(signal.SIGHUP)
    wait_for(log, "registry reloaded")
    lines = [ln for ln in open(log).read().splitlines() if ln]
    assert len(lines) >= 2, lines
    for ln in lines:
        m = STAMP.match(ln)
        assert m, "log line without time and pid: %r" % ln
        assert int(m.group(1)) == srv.proc.pid, ln
