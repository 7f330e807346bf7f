"""SMTP TLS reports (RFC 8460) end to end: `dmarcd ingest` of TLS-RPT
JSON (plain, gzip, and inside mails), then the API's TLS endpoints
(docs/API.md) on a server of their own, with every store (http, http-pg,
http-ch).  The reports are written here, with the quirks real reporters
have (SPECS 3.4, 6.6): mx-host as a string and as a list, no
sending-mta-ip, no policy-domain for no-policy-found, dates without a
time zone or with fractional seconds, keys in any order.  The expected
numbers are computed here from the same dicts the JSON is made from."""
import gzip
import json
import os
import subprocess
import time
from collections import defaultdict
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from conftest import BIN, SHARED, Api, assert_error, dm, finish_server, run_server, store_conf, token_add

ACME = "tls-acme.example"
BETA = "tls-beta.example"
DAYS = ["2026-11-%02d" % d for d in range(20, 27)]


def report(rid, org, day, policies, tz="Z", order=1):
    """A TLS-RPT document as a dict (key order: order=1 as the RFC,
    -1 reversed at every level)."""
    doc = {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00" + tz,
                       "end-datetime": day + "T23:59:59" + tz},
        "contact-info": "smtp-tls-reporting@" + org,
        "report-id": rid,
        "policies": policies,
    }
    if order < 0:
        def rev(x):
            if isinstance(x, dict):
                return {k: rev(x[k]) for k in reversed(list(x))}
            if isinstance(x, list):
                return [rev(v) for v in x]
            return x
        doc = rev(doc)
    return doc


def policy(ptype, domain, ok, bad, details=(), mx="mx1.{d}", as_list=False):
    pol = {"policy-type": ptype}
    if domain is not None:
        pol["policy-domain"] = domain
    if ptype == "sts":
        pol["policy-string"] = ["version: STSv1", "mode: enforce", "mx: mx1.%s" % domain, "max_age: 86400"]
    if ptype == "tlsa":
        pol["policy-string"] = ["3 1 1 0123456789abcdef"]
    if mx and domain:
        m = mx.format(d=domain)
        pol["mx-host"] = [m, "mx2." + domain] if as_list else m
    return {"policy": pol,
            "summary": {"total-successful-session-count": ok, "total-failure-session-count": bad},
            "failure-details": list(details)}


def detail(rtype, n, mx, ip=None, rip=None, extra=None):
    d = {"result-type": rtype, "receiving-mx-hostname": mx, "failed-session-count": n}
    if ip:
        d["sending-mta-ip"] = ip
    if rip:
        d["receiving-ip"] = rip
    if extra:
        d.update(extra)
    return d


class Tls:
    pass


def mail(doc_bytes, domain, gz=True):
    """A TLS-RPT mail (RFC 8460 5.3) with doc_bytes attached (gzip when gz)."""
    m = MIMEMultipart("report", report_type="tlsrpt")
    m["From"] = "noreply-smtp-tls-reporting@reporter.example"
    m["To"] = "tlsrpt@" + domain
    m["Subject"] = "Report Domain: %s Submitter: reporter.example Report-ID: <x@y>" % domain
    m["TLS-Report-Domain"] = domain
    m["TLS-Report-Submitter"] = "reporter.example"
    m.attach(MIMEText("This is an aggregate TLS report from reporter.example\n"))
    if gz:
        part = MIMEApplication(doc_bytes, "tlsrpt+gzip")
        part.add_header("Content-Disposition", "attachment",
                        filename="reporter.example!%s!1!2.json.gz" % domain)
    else:
        part = MIMEApplication(doc_bytes, "tlsrpt+json")
    m.attach(part)
    return m.as_bytes()


@pytest.fixture(scope="module")
def tls(module_tmp):
    t = Tls()
    t.data = str(module_tmp / "data")
    t.dir = str(module_tmp / "in")
    os.makedirs(t.dir)
    dm("account", "add", "acme", "--catch-all", "--data", t.data)
    dm("account", "add", "beta", "--data", t.data)
    dm("domain", "add", BETA, "--account", "beta", "--data", t.data)
    t.tok = {"acme": token_add(t.data, account="acme", name="acme"),
             "beta": token_add(t.data, account="beta", name="beta"),
             "admin": token_add(t.data, admin=True, name="admin")}

    # expected: per (domain, day) success/failure; per (domain, type, mx) sessions
    t.days = defaultdict(lambda: [0, 0])
    t.groups = defaultdict(int)
    t.docs = {}
    files = []

    def add(name, doc, kind="json", domain=ACME):
        raw = json.dumps(doc, indent=1).encode()
        path = os.path.join(t.dir, name)
        # data: the file; att: the attachment, what the archive keeps
        att = gzip.compress(raw) if kind in ("gz", "mail") else raw
        data = mail(att, domain, gz=kind == "mail") if kind.startswith("mail") else att
        with open(path, "wb") as f:
            f.write(data)
        t.docs[doc["report-id"]] = (doc, att)
        files.append(path)
        day = doc["date-range"]["start-datetime"][:10]
        for p in doc["policies"]:
            dom = p["policy"].get("policy-domain") or domain
            t.days[(dom, day)][0] += p["summary"]["total-successful-session-count"]
            t.days[(dom, day)][1] += p["summary"]["total-failure-session-count"]
            for d in p.get("failure-details", []):
                t.groups[(dom, d["result-type"], d.get("receiving-mx-hostname", ""))] += d["failed-session-count"]
        return path

    for i, day in enumerate(DAYS):
        pols = [policy("sts", ACME, 1000 + i, 3 + i, [
            detail("certificate-expired", 2 + i, "mx1." + ACME, "192.0.2.%d" % (i + 1), "198.51.100.7"),
            detail("starttls-not-supported", 1, "mx2." + ACME, None, None,
                   {"failure-reason-code": "421 4.7.0"}),
        ], as_list=(i % 2 == 0))]
        if i % 3 == 0:
            pols.append(policy("tlsa", ACME, 50, 4, [
                detail("dane-required", 4, "mx1." + ACME, "2001:db8:0:0::1", "2001:db8::25")]))
        kind = ("json", "gz", "mail", "mail-json")[i % 4]
        add("acme-%d" % i, report("acme-%d@google.example" % i, "google.example", day, pols,
                                  tz=("Z", "", ".123+00:00", "Z")[i % 4], order=1 if i % 2 else -1), kind)
    # a reporter that sends no-policy-found without a policy-domain: the
    # domain comes from the file name RFC 8460 recommends
    add("acme!%s!1!2!npf.json" % ACME, report("npf-1", "microsoft.example", DAYS[0],
                           [policy("no-policy-found", None, 77, 0, mx=None)]), "json")
    # beta's domain
    for i, day in enumerate(DAYS[:3]):
        add("beta-%d" % i, report("beta-%d" % i, "yahoo.example", day, [
            policy("sts", BETA, 500, 10, [detail("validation-failure", 10, "mx." + BETA, "203.0.113.9",
                                                 "203.0.113.25")])]), "gz", domain=BETA)
    t.files = files
    t.results = []
    for acct in ("acme", "beta"):
        mine = [f for f in files if os.path.basename(f).startswith(acct)]
        p = dm("ingest", "--json", "--data", t.data, "--account", acct, *mine)
        t.results += [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    t.server = run_server(t.data, module_tmp)
    t.api = {k: Api(t.server.port, v) for k, v in t.tok.items()}
    yield t
    finish_server(t.server)


def test_ingest_results(tls):
    assert len(tls.results) == len(tls.files), tls.results
    for r in tls.results:
        assert r["kind"] == "tlsrpt", r
        assert r["status"] == "stored", r
        assert r["archive_key"], r
    by_id = {r["report_id"]: r for r in tls.results}
    r = by_id["acme-1@google.example"]
    doc = tls.docs["acme-1@google.example"][0]
    assert r["org_name"] == "google.example"
    assert r["policy_domain"] == ACME
    # records: the policies; messages: the sessions
    assert r["records"] == len(doc["policies"])
    assert r["messages"] == sum(p["summary"]["total-successful-session-count"] +
                                p["summary"]["total-failure-session-count"] for p in doc["policies"])
    # a date without a time zone is read as UTC (its warning: in the detail)
    r = by_id["acme-1@google.example"]
    assert r["begin"] == by_id["acme-0@google.example"]["begin"] + 86400
    # no policy-domain, no mx-host: stored under the file name's domain
    r = by_id["npf-1"]
    assert r["status"] == "stored" and r["records"] == 1 and r["policy_domain"] == ACME


def test_duplicates_and_rejections(tls, tmp_path):
    # the same reports again, in other containers: duplicates, nothing counted twice
    again = []
    for rid in ("acme-2@google.example", "beta-1"):
        doc, _ = tls.docs[rid]
        f = tmp_path / (rid.replace("@", "_") + ".json")
        f.write_bytes(json.dumps(doc).encode())
        again.append(str(f))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"organization-name": "x", "report-id": "1", "report-id": "2", "policies": []}')
    trunc = tmp_path / "trunc.json.gz"
    trunc.write_bytes(gzip.compress(json.dumps(tls.docs["acme-3@google.example"][0]).encode())[:-30])
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100000)
    p = dm("ingest", "--json", "--data", tls.data, *(again + [str(bad), str(trunc), str(deep)]), check=False)
    res = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    assert [r["status"] for r in res] == ["duplicate", "duplicate", "rejected", "rejected", "rejected"], res
    assert all(r["kind"] == "tlsrpt" for r in res[:3]), res
    assert "report-id" in res[2]["error"], res[2]
    assert res[3]["error"] and res[4]["error"], res
    # the API's totals did not move (checked in test_days too)
    d = tls.api["admin"].ok("/api/v1/tls/reports", {"limit": 1000})
    assert d["total"] == len(tls.files)


def test_days_and_failures(tls):
    d = tls.api["acme"].ok("/api/v1/tls", {"domain": ACME})
    want = sorted((day, v) for (dom, day), v in tls.days.items() if dom == ACME)
    got = [(p["date"], [p["success"], p["failure"]]) for p in d["points"]]
    assert got == want
    assert d["success"] == sum(v[0] for _, v in want)
    assert d["failure"] == sum(v[1] for _, v in want)
    groups = {(g["result_type"], g["mx"]): g["sessions"] for g in d["failures"]}
    assert groups == {(t, mx): n for (dom, t, mx), n in tls.groups.items() if dom == ACME}
    sessions = [g["sessions"] for g in d["failures"]]
    assert sessions == sorted(sessions, reverse=True)
    # a range: the days inside it only
    d = tls.api["acme"].ok("/api/v1/tls", {"domain": ACME, "from": DAYS[2], "to": DAYS[3]})
    assert [p["date"] for p in d["points"]] == DAYS[2:4]


def test_reports_list_and_detail(tls):
    api = tls.api["acme"]
    d = api.ok("/api/v1/tls/reports", {"domain": ACME, "limit": 3})
    n_acme = len([k for k in tls.docs if not k.startswith("beta-")])
    assert d["total"] == n_acme
    assert len(d["items"]) == 3
    begins = [x["begin"] for x in d["items"]]
    assert begins == sorted(begins, reverse=True)
    # every report's detail is what was sent
    seen = 0
    for off in range(0, n_acme, 5):
        for item in api.ok("/api/v1/tls/reports", {"domain": ACME, "limit": 5, "offset": off})["items"]:
            doc, raw = tls.docs[item["report_id"]]
            x = api.ok("/api/v1/tls/reports/%d" % item["id"])
            assert x["org_name"] == doc["organization-name"]
            assert x["contact_info"] == doc["contact-info"]
            assert len(x["policies"]) == len(doc["policies"])
            zoned = doc["date-range"]["start-datetime"].endswith(("Z", "+00:00"))
            assert zoned or any("time zone" in w for w in x["warnings"]), x["warnings"]
            want_fail = []
            for i, (pp, p) in enumerate(zip(x["policies"], doc["policies"])):
                assert pp["index"] == i
                assert pp["policy_type"] == p["policy"]["policy-type"]
                assert pp["success"] == p["summary"]["total-successful-session-count"]
                assert pp["failure"] == p["summary"]["total-failure-session-count"]
                mx = p["policy"].get("mx-host")
                assert pp["mx_host"] == (", ".join(mx) if isinstance(mx, list) else mx)
                if "policy-string" in p["policy"]:
                    assert pp["policy_string"] == "\n".join(p["policy"]["policy-string"])
                for f in p.get("failure-details", []):
                    want_fail.append((i, f["result-type"], f.get("sending-mta-ip"),
                                      f.get("receiving-mx-hostname"), f["failed-session-count"],
                                      f.get("failure-reason-code")))
            got_fail = [(f["policy"], f["result_type"], f["sending_mta_ip"], f["receiving_mx_hostname"],
                         f["failed_session_count"], f["failure_reason_code"]) for f in x["failures"]]
            # IPv6 texts come back canonical
            want_fail = [(a, b, "2001:db8::1" if c == "2001:db8:0:0::1" else c, d, e, f)
                         for a, b, c, d, e, f in want_fail]
            assert got_fail == want_fail
            # the raw file as it came
            r = api.get("/api/v1/tls/reports/%d/raw" % item["id"])
            assert r.status == 200 and r.body == raw
            seen += 1
    assert seen == n_acme


def test_tenants(tls):
    acme, beta, admin = tls.api["acme"], tls.api["beta"], tls.api["admin"]
    assert [x["domain"] for x in acme.ok("/api/v1/tls/domains")["domains"]] == [ACME]
    assert [x["domain"] for x in beta.ok("/api/v1/tls/domains")["domains"]] == [BETA]
    assert [x["domain"] for x in admin.ok("/api/v1/tls/domains")["domains"]] == sorted([ACME, BETA])
    # not yours looks like not there
    r1 = beta.get("/api/v1/tls", {"domain": ACME})
    r2 = beta.get("/api/v1/tls", {"domain": "nothing.example"})
    assert r1.status == r2.status == 404 and r1.body == r2.body
    item = acme.ok("/api/v1/tls/reports", {"domain": ACME, "limit": 1})["items"][0]
    for path in ("/api/v1/tls/reports/%d" % item["id"], "/api/v1/tls/reports/%d/raw" % item["id"]):
        assert_error(beta.get(path), 404)
        assert acme.get(path).status == 200
        assert admin.get(path).status == 200
    assert beta.ok("/api/v1/tls/reports", {"domain": ACME})["total"] == 0
    assert beta.ok("/api/v1/tls/reports")["total"] == 3
    d = beta.ok("/api/v1/tls", {"domain": BETA})
    assert d["failure"] == 30 and d["failures"] == [
        {"result_type": "validation-failure", "mx": "mx." + BETA, "sessions": 30}]
    # no token: nothing
    assert Api(tls.server.port, None).get("/api/v1/tls/domains").status == 401


def test_bad_parameters(tls):
    api = tls.api["acme"]
    assert_error(api.get("/api/v1/tls"), 400, "domain")
    assert_error(api.get("/api/v1/tls", {"domain": ACME, "from": "yesterday"}), 400, "from")
    assert_error(api.get("/api/v1/tls/reports", {"limit": 0}), 400, "limit")
    assert_error(api.get("/api/v1/tls/reports/abc"), 404)
    assert_error(api.get("/api/v1/tls/reports/99999999"), 404)


def big_detail(k):
    return detail("certificate-not-trusted", 1 + k % 7, "mx%d.%s" % (k % 13, ACME),
                  "10.%d.%d.%d" % (k >> 16 & 255, k >> 8 & 255, k & 255), "192.0.2.1",
                  {"additional-information": "https://reporter.example/tls/%08d" % k})


def write_big_report(path, n):
    """A report of n failure details, written as it is made (the test's own
    memory must stay small: a forked child starts with its size), gzip."""
    total = sum(1 + k % 7 for k in range(n))
    with gzip.open(path, "wt", compresslevel=1) as f:
        # the failure details before the policy itself: key order is free
        f.write('{"policies": [{"failure-details": [')
        for k in range(n):
            f.write((", " if k else "") + json.dumps(big_detail(k)))
        f.write('], "summary": {"total-successful-session-count": 5, "total-failure-session-count": %d},'
                ' "policy": {"policy-type": "sts", "policy-domain": "%s", "mx-host": "*.%s",'
                ' "policy-string": ["version: STSv1", "mode: testing"]}}],' % (total, ACME, ACME))
        f.write(' "organization-name": "big.example", "report-id": "big-%d",'
                ' "contact-info": "tls@big.example", "date-range": {"start-datetime": "%sT00:00:00Z",'
                ' "end-datetime": "%sT23:59:59Z"}}' % (n, DAYS[-1], DAYS[-1]))


def ingest_peak(data, path, out):
    """`dmarcd ingest --json` of path: (its result, its peak resident KiB).
    The peak is the process's VmHWM, read every 5 ms while it runs (its
    rusage would count this process's size at the fork: Linux carries it
    over exec into ru_maxrss)."""
    args = [BIN, "ingest", "--json", "--data", data]
    if SHARED:
        args += ["--config", store_conf(data)]
    peak = 0
    with open(out, "wb") as f:
        # under AddressSanitizer, freed memory is held in a quarantine of
        # 256 MiB: a small one keeps the measure about the program
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4")
        proc = subprocess.Popen(args + [path], stdout=f, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=env)
        while proc.poll() is None:
            try:
                with open("/proc/%d/status" % proc.pid) as st:
                    for ln in st:
                        if ln.startswith("VmHWM:"):
                            peak = max(peak, int(ln.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
    with open(out) as f:
        text = f.read()
    assert proc.returncode == 0, text
    assert peak > 0, "VmHWM never read"
    return json.loads(text.splitlines()[0]), peak


def test_big_report_streams(tls, tmp_path):
    """A report of 200,000 failure details (50 MB of JSON, gzip), its
    identity last, is stored whole, and ingest's memory does not grow with
    it: a report 20 times smaller takes about as much."""
    peaks = {}
    for n in (10000, 200000):
        f = tmp_path / ("big-%d.json.gz" % n)
        write_big_report(str(f), n)
        data = str(tmp_path / ("data-%d" % n))
        r, peaks[n] = ingest_peak(data, str(f), str(tmp_path / ("out-%d" % n)))
        assert r["status"] == "stored", r
        assert r["records"] == 1
        if n == 200000:
            # every detail is there
            tok = token_add(data, admin=True, name="a")
            srv = run_server(data, tmp_path)
            try:
                api = Api(srv.port, tok)
                item = api.ok("/api/v1/tls/reports")["items"][0]
                assert item["failure_details"] == n
                d = api.ok("/api/v1/tls", {"domain": ACME})
                assert sum(g["sessions"] for g in d["failures"]) == sum(1 + k % 7 for k in range(n))
            finally:
                finish_server(srv)
    # 20 times the details, not 20 times the memory
    print("peak resident KiB by failure details:", peaks)
    assert peaks[200000] - peaks[10000] < 16 * 1024, peaks
