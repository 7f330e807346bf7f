"""`dmarcd advise` (src/dns/advise.c, docs/ADVICE.md) on reports the test
writes with a known mix of senders - the domain's own servers, an ESP
signing aligned, services failing for known reasons, a mailing list, a
forwarder, spoofers - over known days: the pass rate, each group's
numbers, the fixes named, and the next step with its record, asserted
exactly.  No DNS is asked: services are known by their passing DKIM and
envelope domains (data/services.conf); the test addresses have no AS."""
import http.client
import importlib.util
import json
import os
import subprocess
import time

import pytest

from test_check import BIN, run_ok

_spec = importlib.util.spec_from_file_location(
    "apinode", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apinode.py"))
apinode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(apinode)

DOMAIN = "shop.test"
OWN = ("192.0.2.10", 1000, dict(dkim=[(DOMAIN, "s1", "pass")], spf=(DOMAIN, "pass"),
                                ev=("pass", "pass")))
ESP_OK = ("198.51.100.20", 300, dict(dkim=[(DOMAIN, "sg", "pass")], spf=("sendgrid.net", "pass"),
                                     ev=("pass", "fail")))
MAILCHIMP = ("203.0.113.30", 20, dict(dkim=[("mcsv.net", "k1", "pass")], spf=("mcsv.net", "pass"),
                                      ev=("fail", "fail")))
ZENDESK = ("203.0.113.40", 5, dict(dkim=[(DOMAIN, "zendesk1", "fail"), ("zendesk.com", "z", "pass")],
                                   spf=(DOMAIN, "fail"), ev=("fail", "fail")))
LIST = ("192.0.2.50", 30, dict(dkim=[(DOMAIN, "s1", "fail")], spf=("lists.example", "pass"),
                               ev=("fail", "fail"), reasons=[("mailing_list", "")]))
GROUPS = ("192.0.2.51", 10, dict(dkim=[("googlegroups.com", "g", "pass")],
                                 spf=("googlegroups.com", "pass"), ev=("fail", "fail")))
SPOOF = [("192.0.2.200", 50, dict(spf=(DOMAIN, "fail"), ev=("fail", "fail"))),
         ("192.0.2.201", 40, dict(spf=(DOMAIN, "softfail"), ev=("fail", "fail"))),
         ("192.0.2.202", 3, dict(spf=("spoof.example", "none"), ev=("fail", "fail")))]


def record(ip, count, o, header_from=DOMAIN):
    dkim = "".join("<dkim><domain>%s</domain><selector>%s</selector><result>%s</result></dkim>"
                   % d for d in o.get("dkim", []))
    reasons = "".join("<reason><type>%s</type><comment>%s</comment></reason>" % r
                      for r in o.get("reasons", []))
    return ("<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated>"
            "<disposition>none</disposition><dkim>%s</dkim><spf>%s</spf>%s</policy_evaluated>"
            "</row><identifiers><header_from>%s</header_from></identifiers><auth_results>%s"
            "<spf><domain>%s</domain><result>%s</result></spf></auth_results></record>"
            % (ip, count, o["ev"][0], o["ev"][1], reasons, header_from, dkim, o["spf"][0],
               o["spf"][1]))


def report(day, rows, p="none", sp=None, np=None, pct=None, n=0):
    begin = (int(time.time()) // 86400 - day) * 86400
    pol = "<domain>%s</domain><adkim>r</adkim><p>%s</p>" % (DOMAIN, p)
    pol += "<sp>%s</sp>" % sp if sp else ""
    pol += "<np>%s</np>" % np if np else ""
    pol += "<pct>%d</pct>" % pct if pct is not None else ""
    return ("<?xml version=\"1.0\"?><feedback><report_metadata><org_name>tester</org_name>"
            "<email>r@tester.test</email><report_id>adv-%d-%d</report_id><date_range>"
            "<begin>%d</begin><end>%d</end></date_range></report_metadata><policy_published>"
            "%s</policy_published>%s</feedback>"
            % (day, n, begin, begin + 86399, pol, "".join(record(*r) for r in rows)))


def store(tmp_path, days, rows, name="data", account=None, **policy):
    data = tmp_path / name
    d = tmp_path / (name + "-in")
    d.mkdir()
    for day in days:
        (d / ("r%d.xml" % day)).write_text(report(day, rows, **policy))
    run_ok(["ingest", str(d), "--data", str(data)] + (["--account", account] if account else []))
    return str(data)


def advise(data, *extra, rc=None):
    r = subprocess.run([BIN, "advise", DOMAIN, "--json", "--data", data] + list(extra),
                       capture_output=True, text=True, timeout=60)
    if rc is not None:
        assert r.returncode == rc, (r.returncode, r.stderr)
    return json.loads(r.stdout)


MIX = [OWN, ESP_OK, MAILCHIMP, ZENDESK, LIST, GROUPS] + SPOOF
DAYS = range(1, 11)  # ten daily reports


def test_known_mix(tmp_path):
    data = store(tmp_path, DAYS, MIX)
    out = advise(data, rc=1)
    per_day = sum(r[1] for r in MIX)
    assert (out["reports"], out["messages"], out["dmarc_pass"]) == (10, 10 * per_day, 10 * 1300)
    assert out["pass_rate"] == pytest.approx(1300 / per_day)
    assert out["policy"] == {"p": "none", "sp": None, "np": None, "pct": None}
    assert out["failing"] == {"messages": 10 * (per_day - 1300), "services": 250,
                              "forwarders": 400, "unknown": 930, "not_analysed": 0}
    svc = {s["service"]: s for s in out["services"]}
    assert list(svc) == ["Mailchimp", "Zendesk"]  # most failing first
    assert (svc["Mailchimp"]["type"], svc["Mailchimp"]["failing"],
            svc["Mailchimp"]["sources"]) == ("marketing", 200, 1)
    assert [a["code"] for a in svc["Mailchimp"]["actions"]] == [
        "dkim_not_aligned", "envelope_not_aligned"]
    assert "d=mcsv.net" in svc["Mailchimp"]["actions"][0]["message"]
    assert [a["code"] for a in svc["Zendesk"]["actions"]] == ["dkim_fails", "spf_include_missing"]
    assert "zendesk1._domainkey.shop.test" in svc["Zendesk"]["actions"][0]["message"]
    assert "include:zendesk.com" in svc["Zendesk"]["actions"][1]["message"]
    assert out["forwarders"] == {"messages": 400, "failing": 400, "sources": 2,
                                 "services": ["Google Groups"]}
    unk = out["unknown"]
    assert (unk["messages"], unk["failing"], unk["sources"]) == (930, 930, 3)
    assert [(t["ip"], t["failing"]) for t in unk["top"]] == [
        ("192.0.2.200", 500), ("192.0.2.201", 400), ("192.0.2.202", 30)]
    nxt = out["next"]
    # 250 of 13,250 legitimate messages fail: 1.887% > 1%
    assert (nxt["step"], nxt["safe"]) == ("quarantine", False)
    assert [(b["code"], b["message"].split(" fails")[0]) for b in nxt["blockers"]] == [
        ("service_fails", "Mailchimp"), ("service_fails", "Zendesk")]
    assert nxt["record"] == "v=DMARC1; p=quarantine"
    assert "1.887%" in nxt["why"]
    # the same as text
    r = subprocess.run([BIN, "advise", DOMAIN, "--data", data], capture_output=True, text=True)
    assert r.returncode == 1
    assert "next step: quarantine (not yet)" in r.stdout
    assert "add include:zendesk.com to its SPF record" in r.stdout


def test_fixed_services_make_quarantine_safe(tmp_path):
    """With the services fixed, the mailing list and the spoofers do not
    block: quarantine is safe, with the report address of the registry."""
    data = store(tmp_path, DAYS, [OWN, ESP_OK, LIST, GROUPS] + SPOOF)
    cfg = ["--data", data]
    run_ok(["account", "add", "shop"] + cfg)
    addr = [w for w in run_ok(["domain", "add", DOMAIN, "--account", "shop"] + cfg).stdout.split()
            if "@" in w][0]
    out = advise(data, rc=0)
    assert out["failing"]["services"] == 0 and out["services"] == []
    assert (out["next"]["step"], out["next"]["safe"], out["next"]["blockers"]) == (
        "quarantine", True, [])
    assert out["next"]["record"] == "v=DMARC1; p=quarantine; rua=mailto:%s" % addr
    assert out["next"]["zone"] == '"%s"' % out["next"]["record"]


@pytest.mark.parametrize("policy,step,safe", [
    (dict(p="quarantine", pct=50), "pct", True),
    (dict(p="quarantine"), "reject", True),
    (dict(p="reject"), "done", True),  # sp and np inherit reject
    (dict(p="reject", sp="none"), "sp", True),
    (dict(p="reject", sp="reject", np="quarantine"), "np", True),
    (dict(p="reject", sp="reject", np="reject"), "done", True),
])
def test_the_road_to_reject(tmp_path, policy, step, safe):
    """Each published policy gets the next step; one failing message of a
    known service a day in 1,301 legitimate ones (0.077%) is within what
    reject allows."""
    z1 = (ZENDESK[0], 1, ZENDESK[2])
    data = store(tmp_path, DAYS, [OWN, ESP_OK, z1] + SPOOF, **policy)
    out = advise(data, rc=0 if safe else 1)
    assert (out["next"]["step"], out["next"]["safe"]) == (step, safe)
    want = {"pct": "v=DMARC1; p=quarantine", "reject": "v=DMARC1; p=reject",
            "sp": "v=DMARC1; p=reject", "np": "v=DMARC1; p=reject"}
    if step == "done":
        assert out["next"]["record"] is None
    else:
        assert out["next"]["record"] == want[step], out["next"]
    assert out["failing"]["services"] == 10


def test_reject_blocked_by_failing_subdomain(tmp_path):
    """sp=reject looks at the subdomains' mail only: a service failing for
    news.shop.test blocks it though the domain's own mail passes."""
    news = ("203.0.113.40", 20, ZENDESK[2])
    rows = [OWN] + SPOOF
    d = tmp_path / "in"
    d.mkdir()
    for day in DAYS:
        x = report(day, rows, p="reject", sp="none").replace(
            "</feedback>", record(*news, header_from="news." + DOMAIN)
            + record("192.0.2.10", 100, OWN[2], header_from="news." + DOMAIN) + "</feedback>")
        (d / ("r%d.xml" % day)).write_text(x)
    data = str(tmp_path / "data")
    run_ok(["ingest", str(d), "--data", data])
    out = advise(data, rc=1)
    assert (out["next"]["step"], out["next"]["safe"]) == ("sp", False)
    assert "of the subdomains" in out["next"]["why"]


def test_too_little_data_and_none(tmp_path):
    """Three days are too few to take a step; a domain without reports in
    the window is said so (exit 1); --days counts back from today."""
    data = store(tmp_path, [1, 2, 3], [OWN])
    out = advise(data, rc=1)
    assert out["next"]["step"] == "quarantine" and not out["next"]["safe"]
    assert [b["code"] for b in out["next"]["blockers"]] == ["too_little_data"]
    old = store(tmp_path, [40, 41], [OWN], name="old")
    r = subprocess.run([BIN, "advise", DOMAIN, "--data", old], capture_output=True, text=True)
    assert r.returncode == 1 and "no reports of shop.test in the last 30 days" in r.stderr
    assert advise(old, "--days", "60")["messages"] == 2000
    r = subprocess.run([BIN, "advise", DOMAIN, "--days", "0", "--data", old],
                       capture_output=True, text=True)
    assert r.returncode == 2


def test_api_answers_the_same_in_scope(tmp_path):
    """GET /api/v1/advice answers what `dmarcd advise --json` prints, with
    the caller's report address of the domain in the record; another
    account's token gets 404, as for a domain that does not exist."""
    cfg = ["--data", str(tmp_path / "data")]
    run_ok(["account", "add", "shop"] + cfg)
    run_ok(["account", "add", "other"] + cfg)
    addr = [w for w in run_ok(["domain", "add", DOMAIN, "--account", "shop"] + cfg).stdout.split()
            if "@" in w][0]
    run_ok(["domain", "add", "other.test", "--account", "other"] + cfg)
    data = store(tmp_path, DAYS, MIX, account="shop")
    tok = {a: run_ok(["token", "add", "--account", a] + cfg).stdout.strip()
           for a in ("shop", "other")}
    cli = advise(data, rc=1)
    assert cli["next"]["record"] == "v=DMARC1; p=quarantine; rua=mailto:%s" % addr
    node = apinode.Node(BIN, tmp_path, "advice", cfg)
    try:
        def get(path, token=None):
            if token is None:
                return node.get(path)
            c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
            c.request("GET", path, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            return r.status, r.read()

        st, body = get("/api/v1/advice?domain=shop.test")
        assert st == 200 and json.loads(body) == cli
        st, body = get("/api/v1/advice?domain=SHOP.test&days=30", tok["shop"])
        assert st == 200 and json.loads(body) == cli
        assert get("/api/v1/advice?domain=shop.test", tok["other"])[0] == 404
        assert get("/api/v1/advice?domain=nowhere.test")[0] == 404
        assert get("/api/v1/advice?domain=shop.test&days=3")[0] == 200
        for bad in ("days=0", "days=3661", "days=x", "days="):
            assert get("/api/v1/advice?domain=shop.test&" + bad)[0] == 400, bad
        assert get("/api/v1/advice")[0] == 400
    finally:
        node.stop()
