"""Crash safety: 2,000 report mails from 20 concurrent clients while the
server is killed with SIGKILL at random moments and restarted on the same
data folder and port.  Every mail is retried until it is acknowledged with
250; at the end the store must hold exactly the generated totals: nothing
acknowledged was lost, nothing was counted twice."""
import random
import smtplib
import threading
import time

from conftest import gen_set, mail_bytes, mail_rcpt, spool_list, stats, wait_spool_drained, QUEUED_RE

MAILS = 2000
CLIENTS = 20
MIN_KILLS = 3
BUDGET = 90.0  # seconds for sending and killing; draining gets its own 60 s
# Unpaced, the clients deliver all 2,000 mails in about a second, before the
# first kill; a short random pause between mails spreads the sending over
# about 10 s so that the kills land while mails are in flight.
PACE = (0.05, 0.15)


def test_sigkill_while_receiving(make_server):
    mails, exp = gen_set(MAILS, seed=1)
    payload = [(mail_rcpt(m), mail_bytes(m)) for m in mails]
    srv = make_server()
    rnd = random.Random(20261201)
    t_start = time.monotonic()
    deadline = t_start + BUDGET

    lock = threading.Lock()
    todo = list(range(MAILS))
    acked = {}  # mail index -> queue id
    permanent = []  # 5xx replies: never expected
    attempts = [0]
    done_sending = threading.Event()
    restart_errors = []
    kills = []

    def take():
        with lock:
            return todo.pop() if todo else None

    def sender(tid):
        r = random.Random(tid)
        s = None
        while True:
            idx = take()
            if idx is None:
                break
            rcpt, data = payload[idx]
            while True:
                if time.monotonic() > deadline:
                    with lock:
                        todo.append(idx)
                    if s is not None:
                        s.close()
                    return
                with lock:
                    attempts[0] += 1
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
                        code, msg = s.ehlo("client%d.test" % tid)
                        if code != 250:
                            raise smtplib.SMTPResponseException(code, msg)
                    code, msg = s.mail("noreply-dmarc@reporter.test")
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, msg)
                    code, msg = s.rcpt(rcpt)
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, msg)
                    code, msg = s.data(data)
                    m = QUEUED_RE.match(msg.decode("ascii", "replace"))
                    if code != 250 or not m:
                        raise smtplib.SMTPResponseException(code, msg)
                    with lock:
                        acked[idx] = m.group(1)
                    time.sleep(r.uniform(*PACE))
                    break
                except smtplib.SMTPResponseException as e:
                    if 500 <= e.smtp_code < 600:
                        with lock:
                            permanent.append((idx, e.smtp_code, e.smtp_error))
                    if s is not None:
                        try:
                            s.close()
                        except OSError:
                            pass
                    s = None
                    if 500 <= e.smtp_code < 600:
                        break
                except (smtplib.SMTPException, OSError):
                    if s is not None:
                        try:
                            s.close()
                        except OSError:
                            pass
                    s = None
                time.sleep(r.uniform(0.1, 0.5))
        if s is not None:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                s.close()

    def killer():
        while time.monotonic() < deadline:
            time.sleep(rnd.uniform(1.0, 3.0))
            if done_sending.is_set() and len([k for k in kills if k[1] < MAILS]) >= MIN_KILLS:
                return
            with lock:
                sent = len(acked)
            srv.proc.kill()
            srv.proc.wait()
            kills.append((round(time.monotonic() - t_start, 1), sent))
            try:
                srv.start()
            except AssertionError as e:
                restart_errors.append(str(e))
                return

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(CLIENTS)]
    kt = threading.Thread(target=killer, daemon=True)
    kt.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(BUDGET + 30)
    done_sending.set()
    t_sent = time.monotonic() - t_start
    kt.join(BUDGET + 30)

    assert not restart_errors, "restart after SIGKILL failed:\n%s" % restart_errors[0]
    assert not permanent, "permanent (5xx) replies: %s" % permanent[:5]
    assert len(acked) == MAILS, "only %d of %d mails acknowledged within %.0f s (kills at %s)" % (
        len(acked), MAILS, BUDGET, kills)
    assert len(set(acked.values())) == MAILS, "queue IDs repeated"
    during = [k for k in kills if k[1] < MAILS]
    assert len(during) >= MIN_KILLS, "only %d kills while mails were being sent: %s" % (len(during), kills)
    assert attempts[0] > MAILS, "no transaction was ever interrupted (%d attempts)" % attempts[0]
    srv.check_alive()

    ents = wait_spool_drained(srv.data, timeout=60, allow_failed=True)
    assert ents == [], "spool entries left (failed?): %s" % ents[:5]
    got = stats(srv.data)
    want = {k: exp[k] for k in ("reports", "records", "messages")}
    assert got == want, "store %s != expected %s (kills at [s, acked]: %s, %d attempts)" % (
        got, want, kills, attempts[0])
    print("crash: %d mails, %d attempts, kills at %s, sent in %.1f s, total %.1f s"
          % (MAILS, attempts[0], kills, t_sent, time.monotonic() - t_start))
    assert spool_list(srv.data) == []
