"""A real DNS server for the tests: Knot DNS (knotd, from Debian's `knot`)
started on a free loopback port in a folder of its own, serving zone files
the test writes, stopped by its process id.

    with Knot(tmpdir, {"test": ZONE_TEXT, "2.0.192.in-addr.arpa": ...}) as k:
        k.addr  # "127.0.0.1:PORT", for dmarcd's resolver setting

Also Silent(): a UDP socket on loopback that reads questions and never
answers (a DNS server that is down but whose port is open), and query():
one DNS question over UDP, to wait for the server without other tools.
"""
import os
import random
import signal
import socket
import struct
import subprocess
import time

KNOTD = "/usr/sbin/knotd"


def free_udp_port():
    """A port free for both UDP and TCP (knotd listens on both)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            t.close()
            s.close()
        return port
    raise RuntimeError("no free port")


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(port, name, qtype=6, timeout=0.5):
    """Ask name (type qtype, default SOA) of 127.0.0.1:port over UDP;
    the answer's rcode and answer count, or None without an answer."""
    qid = random.randrange(65536)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, ("127.0.0.1", port))
        data, _ = s.recvfrom(65535)
    except OSError:
        return None
    finally:
        s.close()
    rid, flags, _, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        return None
    return flags & 15, an


class Knot:
    def __init__(self, folder, zones):
        self.dir = os.path.abspath(str(folder))
        self.zones = zones
        self.proc = None
        self.port = free_udp_port()
        self.addr = "127.0.0.1:%d" % self.port

    def write(self):
        os.makedirs(os.path.join(self.dir, "zones"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        conf = [
            "server:",
            '    rundir: "%s"' % self.dir,
            "    listen: 127.0.0.1@%d" % self.port,
            '    pidfile: "%s/knot.pid"' % self.dir,
            "database:",
            '    storage: "%s/db"' % self.dir,
            "log:",
            "  - target: stderr",
            "    any: warning",
            "template:",
            "  - id: default",
            '    storage: "%s/zones"' % self.dir,
            '    file: "%s.zone"',
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "zone:",
        ]
        for origin, text in self.zones.items():
            conf.append("  - domain: %s" % origin)
            with open(os.path.join(self.dir, "zones", origin + ".zone"), "w") as f:
                f.write(text)
        with open(os.path.join(self.dir, "knot.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")

    def start(self):
        self.write()
        self.log = open(os.path.join(self.dir, "knot.log"), "ab")
        self.proc = subprocess.Popen([KNOTD, "-c", os.path.join(self.dir, "knot.conf")],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while True:
            ok = all((query(self.port, z) or (None,))[0] == 0 for z in self.zones)
            if ok:
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(os.path.join(self.dir, "knot.log")) as f:
                    raise RuntimeError("knotd did not serve its zones:\n" + f.read()[-3000:])
            time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Silent:
    """A DNS server that never answers: its UDP port is bound and read."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
