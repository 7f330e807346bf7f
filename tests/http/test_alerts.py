"""Alerts and digests (docs/ALERTS.md) with every store (http, http-pg,
http-ch): aggregate reports written here so that each rule has something
to find, `dmarcd alerts run --now ...` evaluated at chosen moments, mail
delivered through a real SMTP server started here (Postfix's smtp-sink,
which writes each message it receives to a file) and webhooks POSTed to
a local HTTP receiver started here, which fails its first request to
show the retry.  Checked: each alert once, its resolve notice once, the
HMAC signature, the digest, accounts kept apart (in the state and in
/api/v1/alerts), and that a reporter's name cannot add a mail header."""
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BIN, SHARED, Api, dm, finish_server, free_port, run_server, store_conf, token_add

ACME = "alerts-acme.example"
BETA = "alerts-beta.example"
SECRET = "s3cret-for-the-webhook"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
D = datetime(2026, 11, 29, tzinfo=timezone.utc)  # the last complete day before NOW
EVIL = "Evil Reporter\r\nBcc: victim@elsewhere.example"


def ts(day):
    return int(day.timestamp())


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;").replace("\n", "&#10;"))


def aggregate(org, rid, domain, day, rows):
    """An aggregate report (RFC 7489) of one day; rows: (ip, count, pass)."""
    recs = "".join(
        "<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated></row>"
        "<identifiers><header_from>%s</header_from></identifiers><auth_results><spf><domain>%s</domain>"
        "<result>%s</result></spf></auth_results></record>"
        % (ip, n, "pass" if ok else "fail", "pass" if ok else "fail", domain, domain,
           "pass" if ok else "fail")
        for ip, n, ok in rows)
    return ("<?xml version=\"1.0\"?><feedback><report_metadata><org_name>%s</org_name>"
            "<email>dmarc@reporter.example</email><report_id>%s</report_id><date_range>"
            "<begin>%d</begin><end>%d</end></date_range></report_metadata><policy_published>"
            "<domain>%s</domain><p>none</p></policy_published>%s</feedback>"
            % (xml_escape(org), rid, ts(day), ts(day) + 86399, domain, recs)).encode()


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []
    fail_next = 1

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if Hooks.fail_next > 0:
            Hooks.fail_next -= 1
            self.send_response(500)
            self.end_headers()
            return
        Hooks.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


class A:
    pass


def mails(sink_dir, skip=()):
    """The messages smtp-sink wrote (envelope and message text each), but
    those of the files named in skip."""
    out = []
    for f in sorted(os.listdir(sink_dir)):
        if f not in skip:
            with open(os.path.join(sink_dir, f), "rb") as fh:
                out.append(fh.read().decode("utf-8", "replace"))
    return out


def header_block(m):
    """The message's own header fields (after smtp-sink's envelope lines)."""
    i = m.find("\nFrom: ")
    return m[i + 1:m.find("\r\n\r\n", i) if "\r\n\r\n" in m[i:] else m.find("\n\n", i)]


@pytest.fixture(scope="module")
def al(module_tmp):
    a = A()
    a.tmp = module_tmp
    a.data = str(module_tmp / "data")
    dm("account", "add", "acme", "--catch-all", "--data", a.data)
    dm("account", "add", "beta", "--data", a.data)
    dm("domain", "add", BETA, "--account", "beta", "--data", a.data)
    a.tok = {"acme": token_add(a.data, account="acme", name="acme"),
             "beta": token_add(a.data, account="beta", name="beta"),
             "admin": token_add(a.data, admin=True, name="admin")}
    # the SMTP sink (a real SMTP server from Debian's postfix package)
    # (a folder of its own that its unprivileged user can reach: pytest's
    # are private to root)
    a.sink_dir = tempfile.mkdtemp(prefix="dmarcd-smtp-sink-")
    os.chmod(a.sink_dir, 0o777)
    a.sink_port = free_port()
    argv = ["/usr/sbin/smtp-sink", "-d", a.sink_dir + "/%M.", "127.0.0.1:%d" % a.sink_port, "10"]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]
    a.sink = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # the webhook receiver
    Hooks.got, Hooks.fail_next = [], 1
    a.httpd = http.server.HTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=a.httpd.serve_forever, daemon=True).start()
    secret = module_tmp / "hook.secret"
    secret.write_text(SECRET + "\n")
    a.conf = module_tmp / "dmarcd.conf"
    text = ("data_dir = %s\nsmtp_relay = 127.0.0.1:%d\nmail_from = dmarcd@alerts.example\n"
            "[account acme]\nalert_to = ops@acme.example\nwebhook_url = http://127.0.0.1:%d/hook\n"
            "webhook_secret_file = %s\ndigest = daily\nrejected = 3\n"
            "[account beta]\nalert_to = ops@beta.example\ndigest = daily\n"
            % (a.data, a.sink_port, a.httpd.server_address[1], secret))
    if SHARED:
        with open(store_conf(a.data)) as f:
            text = f.read() + text
    a.conf.write_text(text)
    for _ in range(100):  # the sink listens
        if subprocess.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/%d" % a.sink_port],
                          capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    yield a
    a.httpd.shutdown()
    a.sink.send_signal(signal.SIGTERM)
    a.sink.wait(10)
    if not os.environ.get("DMARCD_KEEP_SINK"):
        shutil.rmtree(a.sink_dir, ignore_errors=True)


def ingest(a, files, account):
    p = subprocess.run([BIN, "ingest", "--json", "--config", str(a.conf), "--account", account] + files,
                       capture_output=True, text=True, timeout=120)
    res = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    assert all(r["status"] == "stored" for r in res), res
    return res


def write(a, name, data):
    p = a.tmp / "in" / name
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(data)
    return str(p)


def run(a, when):
    p = subprocess.run([BIN, "alerts", "run", "--json", "--config", str(a.conf), "--now",
                        when.strftime("%Y-%m-%dT%H:%M")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def alerts(a, account, open_only=False):
    args = [BIN, "alerts", "list", "--json", "--config", str(a.conf), "--account", account]
    if open_only:
        args.append("--open")
    p = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


def failed_entry(a, n, rcpt):
    """A spool entry that could not be read (as serve leaves one in failed/)."""
    d = os.path.join(a.data, "spool", "failed")
    os.makedirs(d, exist_ok=True)
    eid = "1796000000.%d.%d0abcdef" % (os.getpid(), n)
    with open(os.path.join(d, eid), "w") as f:
        f.write("X-Dmarcd-Envelope: 1\nX-Dmarcd-From: <x@sender.example>\nX-Dmarcd-Rcpt: <%s>\n"
                "X-Dmarcd-Client: 192.0.2.1 helo ESMTP 1796000000\n\nnot a report\n" % rcpt)
    with open(os.path.join(d, eid + ".why"), "w") as f:
        f.write("not a report\n")


def test_alerts_open_once_then_resolve(al):
    a = al
    files = []
    for k in range(-10, 1):
        day = D + timedelta(days=k)
        # a reporter that reports daily until D-3, then is silent
        if k <= -3:
            files.append(write(a, "evil-%d.xml" % k, aggregate(EVIL, "evil-%d" % k, ACME, day,
                                                                [("192.0.2.10", 50, True)])))
        # a steady reporter: 95% pass, on D 50%, and a new failing source on D
        rows = [("198.51.100.1", 950, True), ("198.51.100.2", 50, False)]
        if k == 0:
            rows = [("198.51.100.1", 500, True), ("198.51.100.2", 500, False), ("203.0.113.77", 400, False)]
        files.append(write(a, "steady-%d.xml" % k, aggregate("Steady Reporter", "steady-%d" % k, ACME, day,
                                                             rows)))
    ingest(a, files, "acme")
    beta = [write(a, "beta-%d.xml" % k, aggregate("Steady Reporter", "beta-%d" % k, BETA, D + timedelta(days=k),
                                                  [("198.51.100.9", 100, True)])) for k in range(-10, 1)]
    ingest(a, beta, "beta")
    for n in range(3):
        failed_entry(a, n, "dmarc@" + ACME)

    t = run(a, NOW)
    assert t["opened"] == 4, t
    got = {x["rule"]: x for x in alerts(a, "acme", open_only=True)}
    assert set(got) == {"silent", "pass_drop", "new_source", "rejected"}, got
    assert got["silent"]["subject"] == "evil reporter  bcc: victim@elsewhere.example" or \
        "evil reporter" in got["silent"]["subject"], got["silent"]
    assert got["new_source"]["subject"] == "203.0.113.77"
    # D: 500 of 1400 pass; the 7 days before: 6650 + 250 of 7000 + 250
    assert "35.7%" in got["pass_drop"]["message"] and "95.2%" in got["pass_drop"]["message"]
    assert alerts(a, "beta") == []

    # mail: four alerts and a digest to acme, a digest to beta; nothing else
    m = mails(a.sink_dir)
    to_acme = [x for x in m if "ops@acme.example" in x]
    to_beta = [x for x in m if "ops@beta.example" in x]
    assert len(to_acme) == 5 and len(to_beta) == 1, [x[:300] for x in m]
    assert sum("Subject: [dmarcd] alert: " in x for x in to_acme) == 4
    digest = [x for x in to_acme if "digest" in x.split("Subject:", 1)[1].split("\n", 1)[0]]
    assert len(digest) == 1
    body = digest[0]
    assert ACME in body and "203.0.113.77" in body and "1400 reports" not in body
    assert "messages 1400 in 1 reports, DMARC pass 35.7%" in body
    assert "next step:" in body  # the rollout advice
    # what changed: the four alerts just opened
    assert body.count(" opened: ") == 4 and "203.0.113.77" in body.split("Alerts since")[1]
    # no header came from the reporter's name
    for x in m:
        assert "\nBcc:" not in header_block(x) and "\r\nBcc:" not in header_block(x)
    assert "Bcc: victim" not in "".join(header_block(x) for x in m)

    # webhook: the first POST failed (500): three now, the fourth on the retry
    assert len(Hooks.got) == 3, Hooks.got
    t = run(a, NOW + timedelta(minutes=2))
    assert t["opened"] == 0 and t["sent"] == 1, t
    assert len(Hooks.got) == 4
    rules = set()
    for headers, raw in Hooks.got:
        sig = headers.get("X-Dmarcd-Signature")
        assert sig == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        ev = json.loads(raw)
        assert ev["event"] == "alert" and ev["account"] == "acme" and ev["domain"] in (ACME, "")
        rules.add(ev["rule"])
    assert rules == {"silent", "pass_drop", "new_source", "rejected"}
    # again at the same moment: nothing new, no mail
    n_mail = len(mails(a.sink_dir))
    t = run(a, NOW + timedelta(minutes=3))
    assert t["opened"] == 0 and t["queued"] == 0 and len(mails(a.sink_dir)) == n_mail

    # the API, scoped by account
    srv = run_server(a.data, a.tmp)
    try:
        acme = Api(srv.port, a.tok["acme"]).ok("/api/v1/alerts", {"open": 1})["items"]
        assert {x["rule"] for x in acme} == {"silent", "pass_drop", "new_source", "rejected"}
        assert Api(srv.port, a.tok["beta"]).ok("/api/v1/alerts")["items"] == []
        assert len(Api(srv.port, a.tok["admin"]).ok("/api/v1/alerts")["items"]) == 4
    finally:
        finish_server(srv)

    # the next days all is well again: each alert resolves, once
    files = []
    for k in (1, 2):
        day = D + timedelta(days=k)
        files.append(write(a, "evil+%d.xml" % k, aggregate(EVIL, "evil+%d" % k, ACME, day,
                                                            [("192.0.2.10", 50, True)])))
        files.append(write(a, "steady+%d.xml" % k, aggregate("Steady Reporter", "steady+%d" % k, ACME, day,
                                                             [("198.51.100.1", 950, True),
                                                              ("198.51.100.2", 50, False)])))
    ingest(a, files, "acme")
    ingest(a, [write(a, "beta+%d.xml" % k, aggregate("Steady Reporter", "beta+%d" % k, BETA, D + timedelta(days=k),
                                                    [("198.51.100.9", 100, True)])) for k in (1, 2)], "beta")
    shutil.rmtree(os.path.join(a.data, "spool", "failed"))
    before = set(os.listdir(a.sink_dir))
    t = run(a, NOW + timedelta(days=3))
    assert t["resolved"] == 4 and t["opened"] == 0, t
    assert alerts(a, "acme", open_only=True) == []
    new = mails(a.sink_dir, skip=before)
    assert sum("Subject: [dmarcd] resolved: " in x for x in new) == 4
    assert sum(json.loads(r)["event"] == "resolved" for _, r in Hooks.got) == 4
    # a new day's digest for both accounts
    assert sum("digest" in x and "ops@beta.example" in x for x in new) == 1


@pytest.mark.parametrize("how", ["timer", "batch"])
def test_serve_runs_the_rules(how, tmp_path):
    """`dmarcd serve` runs the rules by itself: two mails that are not
    reports come in by SMTP and end in the spool's failed/, then a report;
    the `rejected` rule (threshold 2) opens an alert the API shows.
    timer: alert_interval = 10 s.  batch: alert_interval is an hour, and
    the run comes after the report's batch is stored (the gap after a
    batch shortened to 1 s for the test: DMARCD_ALERT_BATCH_GAP)."""
    import smtplib
    data = str(tmp_path / "data")
    dm("account", "add", "acme", "--catch-all", "--data", data)
    tok = token_add(data, admin=True, name="admin")
    conf = tmp_path / "serve.conf"
    text = "data_dir = %s\nalert_interval = %d\n[account acme]\nrejected = 2\n" % (
        data, 10 if how == "timer" else 3600)
    if SHARED:
        with open(store_conf(data)) as f:
            text = f.read() + text
    conf.write_text(text)
    smtp, web = free_port(), free_port()
    log = open(tmp_path / "serve.log", "w")
    env = dict(os.environ)
    if how == "batch":
        env["DMARCD_ALERT_BATCH_GAP"] = "1"
    p = subprocess.Popen([BIN, "serve", "--config", str(conf), "--smtp", "127.0.0.1:%d" % smtp, "--http",
                          "127.0.0.1:%d" % web, "--workers", "1"], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, env=env)
    try:
        api = Api(web, tok)
        deadline = time.monotonic() + 15
        while True:
            try:
                c = smtplib.SMTP("127.0.0.1", smtp, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline and p.poll() is None, "serve did not start"
                time.sleep(0.1)
        for n in range(2):
            c.sendmail("x@sender.example", ["dmarc@acme.example"],
                       "From: x@sender.example\r\nSubject: hello %d\r\n\r\nnot a report at all\r\n" % n)
        rep = aggregate("Steady Reporter", "serve-1", ACME, D, [("198.51.100.1", 10, True)]).decode()
        c.sendmail("x@sender.example", ["dmarc@acme.example"],
                   "From: x@sender.example\r\nSubject: Report domain: %s\r\nContent-Type: text/xml\r\n"
                   "\r\n%s\r\n" % (ACME, rep))
        c.quit()
        t0 = time.monotonic()
        deadline = t0 + 40
        items = []
        while time.monotonic() < deadline:
            r = api.get("/api/v1/alerts")
            if r.status == 200:
                items = r.json()["items"]
                if items:
                    break
            time.sleep(0.5)
        assert [x["rule"] for x in items] == ["rejected"], items
        assert "2 report mails" in items[0]["message"]
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        log.close()
