"""Out of file descriptors: accept() fails; the server must neither die nor
spin on the listener, and must serve again once descriptors are free."""
import os
import select
import socket
import time

from conftest import Server, catch_all, write_config

FD_LIMIT = 48


class FewFdsServer(Server):
    """dmarcd serve whose hard descriptor limit it cannot raise."""

    def argv(self):
        return ["/bin/bash", "-c", "ulimit -n %d; exec \"$@\"" % FD_LIMIT, "dmarcd-fewfds"] + super().argv()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered_now(socks, wait):
    """How many of socks have their greeting waiting (one shared wait)."""
    time.sleep(wait)
    ready, _, _ = select.select(socks, [], [], 0)
    return len(ready)


def greeted(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(512).startswith(b"220")
    except OSError:
        return False


def test_out_of_descriptors_pauses_and_recovers(tmp_path):
    data = tmp_path / "data"
    catch_all(data)
    cfg = write_config(tmp_path / "c.conf", smtp_max_per_ip=1000, smtp_max_sessions=1000)
    os.makedirs(str(tmp_path / "logs"))
    s = FewFdsServer(data, config=cfg, workers=1, logdir=str(tmp_path / "logs")).start()
    socks = []
    try:
        for _ in range(FD_LIMIT + 20):
            socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
        answered = answered_now(socks, 1.0)
        assert 0 < answered < len(socks), answered  # the limit was reached
        before = cpu_seconds(s.proc.pid)
        time.sleep(2)
        spent = cpu_seconds(s.proc.pid) - before
        assert spent < 0.5, "the server spins on its listener: %.2f s of CPU in 2 s" % spent
        s.check_alive()
        assert any("accept:" in ln for ln in s.lines), s.stderr_tail()
        for c in socks:
            c.close()
        socks = []
        deadline = time.monotonic() + 10
        ok = False
        while not ok and time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
                ok = greeted(c, 2.0)
        assert ok, "no greeting after the descriptors were freed\n" + s.stderr_tail()
    finally:
        for c in socks:
            c.close()
        assert s.stop()[0] == 0
