#!/usr/bin/python3
"""intake.py - the `dmarcd serve` figures of `make bench`.

    bench/intake.py DMARCD GEN OUT_DIR TYPICAL_SET

1. Durable intake rate: Postfix's smtp-source sends the same typical report
   mail N times over 50 concurrent sessions (a new connection per mail, as
   reporters do), first to `dmarcd serve` (250 only once a mail is fsynced
   in spool/new; its workers process them meanwhile), then to a private
   Postfix whose smtpd puts every mail on hold in its own queue (cleanup
   fsyncs the queue file before the 250).  Same machine, same run, same
   client.  mails/s = N / smtp-source's wall time.
2. Intake to queryable: 50 client threads (smtplib) send the TYPICAL_SET's
   distinct mails to a fresh `dmarcd serve`; seconds from the first mail
   sent to the moment `dmarcd stats` shows every record of expected.json,
   the second at which the last mail was acknowledged, the lag between the
   two and the deepest spool backlog seen.  Once as fast as the clients
   go (a burst), once paced at BENCH_INTAKE_PACE mails/s (default 500,
   about 43 million a day): do the workers keep up?
3. Idle connections: resident memory of `dmarcd serve` before and after
   1,000 connections that said EHLO and then wait.

Prints one JSON object per figure on stdout, the logs go to OUT_DIR.
Loopback only.  Needs root (Postfix runs as its own user) and Debian's
postfix package (smtp-source).
"""
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "serve"))
from postfix import Postfix, free_port, remove_aliases  # noqa: E402  (shared with the tests)

SESSIONS = 50
RCPT = "dmarc-rua@bench.test"


def log(msg):
    print("intake: %s" % msg, file=sys.stderr, flush=True)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Dmarcd:
    def __init__(self, binary, data, extra_conf=None):
        self.bin = binary
        self.data = data
        self.port = free_port()
        self.proc = None
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        self.conf = os.path.join(data, "bench.conf")
        with open(self.conf, "w") as f:
            for k, v in (extra_conf or {}).items():
                f.write("%s = %s\n" % (k, v))
        subprocess.run([binary, "account", "add", "bench", "--catch-all", "--data", data],
                       check=True, capture_output=True)

    def start(self):
        self.err = open(os.path.join(self.data, "serve.err"), "w+")
        self.proc = subprocess.Popen([self.bin, "serve", "--data", self.data, "--http", "none", "--config", self.conf,
                                      "--smtp", "127.0.0.1:%d" % self.port],
                                     stderr=self.err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.err.seek(0)
            if "dmarcd: serve: ready" in self.err.read():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.err.seek(0)
        raise SystemExit("intake: dmarcd serve did not start:\n" + self.err.read())

    def stats(self):
        r = subprocess.run([self.bin, "stats", "--json", "--data", self.data], capture_output=True,
                           text=True)
        if r.returncode != 0:
            return {}
        return json.loads(r.stdout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise SystemExit("intake: dmarcd serve did not stop on SIGTERM")
            if self.proc.returncode != 0:
                raise SystemExit("intake: dmarcd serve exited %d" % self.proc.returncode)


def smtp_source(port, mail, n):
    t0 = time.monotonic()
    r = subprocess.run(["/usr/sbin/smtp-source", "-s", str(SESSIONS), "-m", str(n), "-F", mail,
                        "-f", "reporter@sender.test", "-t", RCPT, "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=600)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit("intake: smtp-source failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    return secs


def intake_rate(dmarcd_bin, out, typical, n):
    mail = os.path.join(out, "one-report.eml")
    with open(os.path.join(typical, "mails", "000000.eml"), "rb") as f:
        body = f.read().replace(b"\r\n", b"\n")
    with open(mail, "wb") as f:
        f.write(body)

    d = Dmarcd(dmarcd_bin, os.path.join(out, "intake-dmarcd")).start()
    try:
        secs = smtp_source(d.port, mail, n)
        peak = rss_kib(d.proc.pid)
    finally:
        d.stop()
    spool_new = len(os.listdir(os.path.join(d.data, "spool", "new")))
    yield {"figure": "durable intake", "server": "dmarcd serve", "mails": n,
           "sessions": SESSIONS, "seconds": round(secs, 3), "mails_per_s": round(n / secs, 1),
           "rss_mib": round(peak / 1024, 1), "left_in_spool": spool_new}

    pf = Postfix(os.path.join(out, "intake-postfix"), ["bench.test"], "discard:",
                 extra={"smtpd_recipient_restrictions":
                        "check_client_access static:HOLD, permit_mynetworks, reject",
                        "default_process_limit": str(SESSIONS + 20)}).start()
    try:
        before = pf.queue_count()
        secs = smtp_source(pf.port, mail, n)
        held = pf.queue_count() - before
    finally:
        pf.stop()
    if held != n:
        raise SystemExit("intake: postfix holds %d of %d mails" % (held, n))
    yield {"figure": "durable intake", "server": "postfix smtpd (hold queue)", "mails": n,
           "sessions": SESSIONS, "seconds": round(secs, 3), "mails_per_s": round(n / secs, 1)}


def spool_depth(data):
    n = 0
    for sub in ("new", "cur"):
        try:
            n += len(os.listdir(os.path.join(data, "spool", sub)))
        except OSError:
            pass
    return n


def intake_to_queryable(dmarcd_bin, out, typical, rate=None):
    """Send every mail of the set (as fast as the clients can, or paced at
    rate mails/s) and wait until every record is queryable."""
    exp = json.load(open(os.path.join(typical, "expected.json")))
    names = sorted(os.listdir(os.path.join(typical, "mails")))
    mails = []
    for name in names:
        with open(os.path.join(typical, "mails", name), "rb") as f:
            mails.append(f.read())
    d = Dmarcd(dmarcd_bin, os.path.join(out, "queryable-dmarcd-%s" % (rate or "burst"))).start()
    lock = threading.Lock()
    nxt = [0]
    acked = [0]
    last_ack = [0.0]
    errors = []

    def client():
        s = None
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(mails):
                break
            if rate:
                wait = t0 + i / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            for attempt in range(20):
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", d.port, timeout=60)
                        s.ehlo("bench.test")
                    s.sendmail("reporter@sender.test", [RCPT], mails[i])
                    with lock:
                        acked[0] += 1
                        last_ack[0] = time.monotonic()
                    break
                except (smtplib.SMTPException, OSError) as e:
                    s = None
                    if attempt == 19:
                        errors.append(str(e))
                    time.sleep(0.2)
        if s is not None:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(SESSIONS)]
    for t in threads:
        t.start()
    peak = 0
    backlog = 0
    done_at = None
    while done_at is None and time.monotonic() - t0 < 900:
        st = d.stats()
        peak = max(peak, rss_kib(d.proc.pid))
        backlog = max(backlog, spool_depth(d.data))
        if st.get("records") == exp["records"] and st.get("messages") == exp["messages"]:
            done_at = time.monotonic()
            break
        time.sleep(0.2)
    for t in threads:
        t.join()
    d.stop()
    if errors or done_at is None:
        raise SystemExit("intake: queryable run failed: %d errors %s, stats %s"
                         % (len(errors), errors[:3], d.stats()))
    yield {"figure": "intake to queryable", "server": "dmarcd serve", "mails": len(mails),
           "records": exp["records"], "sessions": SESSIONS, "paced_mails_per_s": rate or 0,
           "intake_seconds": round(last_ack[0] - t0, 3),
           "queryable_seconds": round(done_at - t0, 3),
           "lag_seconds": round(done_at - last_ack[0], 3), "max_backlog": backlog,
           "records_per_s": round(exp["records"] / (done_at - t0)), "rss_mib": round(peak / 1024, 1)}


def idle(dmarcd_bin, out, n=1000):
    d = Dmarcd(dmarcd_bin, os.path.join(out, "idle-dmarcd"),
               {"smtp_max_per_ip": n + 10, "smtp_max_sessions": n + 10}).start()
    socks = []
    try:
        time.sleep(0.5)
        before = rss_kib(d.proc.pid)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.sendall(b"EHLO idle.test\r\n")
            socks.append(s)
        for s in socks:  # greeting and EHLO answered: the session is set up
            buf = b""
            while b"250 SMTPUTF8" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise SystemExit("intake: an idle session was closed")
                buf += chunk
        time.sleep(0.5)
        after = rss_kib(d.proc.pid)
    finally:
        for s in socks:
            s.close()
        d.stop()
    yield {"figure": "idle connections", "server": "dmarcd serve", "connections": n,
           "rss_before_mib": round(before / 1024, 1), "rss_after_mib": round(after / 1024, 1),
           "per_connection_kib": round((after - before) / n, 1)}


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    dmarcd_bin, _gen, out, typical = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    n = int(os.environ.get("BENCH_INTAKE_MAILS", "10000"))
    try:
        paced = int(os.environ.get("BENCH_INTAKE_PACE", "500"))
        for fig in (intake_rate(dmarcd_bin, out, typical, n),
                    intake_to_queryable(dmarcd_bin, out, typical),
                    intake_to_queryable(dmarcd_bin, out, typical, paced), idle(dmarcd_bin, out)):
            for row in fig:
                print(json.dumps(row), flush=True)
                log(json.dumps(row))
    finally:
        remove_aliases()


if __name__ == "__main__":
    main()
