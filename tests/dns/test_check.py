"""`dmarcd record check DOMAIN` against a real DNS server (knotd, tests/dns/
knot.py) serving zones written here: DMARC records found at the domain,
inherited, found differently by the Public Suffix List and the DNS tree
walk, several at one name, behind a CNAME, split over strings; external
report destinations with and without their authorization records; SPF
chains over the 10-lookup limit, void lookups, loops, several records,
includes without SPF; DKIM keys of known sizes, revoked and missing; and a
server that never answers."""
import base64
import json
import os
import subprocess
import time

import pytest

from knot import Knot, Silent

BIN = os.environ["DMARCD_BIN"]


def txt(s):
    """s as the character-strings of one TXT record in a zone file."""
    parts = [s[i:i + 200] for i in range(0, len(s), 200)] or [""]
    return " ".join('"%s"' % p.replace('"', '\\"') for p in parts)


def rsa_key(bits):
    priv = subprocess.run(["openssl", "genrsa", str(bits)], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=priv, check=True,
                         capture_output=True).stdout
    return base64.b64encode(der).decode()


def spf_chain():
    """over.test: 12 lookups over three levels (include, a, mx, exists,
    redirect), each level a zone entry."""
    z = []
    z.append("over TXT %s" % txt("v=spf1 include:l1.spf include:l2.spf a mx -all".replace(".spf", ".spf.test")))
    z.append("over A 192.0.2.10")
    z.append("over MX 10 mail.over.test.")
    z.append("mail.over A 192.0.2.11")
    z.append("l1.spf TXT %s" % txt("v=spf1 include:l3.spf.test a:host1.spf.test mx:over.test ~all"))
    z.append("l2.spf TXT %s" % txt("v=spf1 exists:host1.spf.test a:host1.spf.test redirect=l4.spf.test"))
    z.append("l3.spf TXT %s" % txt("v=spf1 ip4:198.51.100.0/24 a:host1.spf.test -all"))
    z.append("l4.spf TXT %s" % txt("v=spf1 a:host1.spf.test a:host2.spf.test -all"))
    z.append("host1.spf A 192.0.2.20")
    z.append("host2.spf AAAA 2001:db8::20")
    return z


def zone(keys):
    rua_many = ",".join("mailto:agg%d@long.test" % i for i in range(14))
    lines = [
        "$ORIGIN test.",
        "$TTL 300",
        "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 60",
        "@ NS ns.test.",
        "ns A 127.0.0.1",
        # a domain in order
        "_dmarc.good TXT %s" % txt("v=DMARC1; p=reject; rua=mailto:dmarc@good.test"),
        "good TXT %s" % txt("v=spf1 ip4:192.0.2.1 include:_spf.esp.test -all"),
        "good TXT %s" % txt("google-site-verification=abc"),
        "_spf.esp TXT %s" % txt("v=spf1 ip4:198.51.100.0/24 -all"),
        "s2048._domainkey.good TXT %s" % txt("v=DKIM1; k=rsa; p=" + keys[2048]),
        "s1024._domainkey.good TXT %s" % txt("v=DKIM1; k=rsa; p=" + keys[1024]),
        "old._domainkey.good TXT %s" % txt("v=DKIM1; k=rsa; p="),
        # nothing published
        "none A 192.0.2.2",
        # inherited from the parent, which says sp=reject
        "_dmarc.inherit TXT %s" % txt("v=DMARC1; p=quarantine; sp=reject; rua=mailto:d@inherit.test"),
        "sub.inherit A 192.0.2.3",
        # two records at one name
        "_dmarc.several TXT %s" % txt("v=DMARC1; p=none"),
        "_dmarc.several TXT %s" % txt("v=DMARC1; p=reject"),
        # a CNAME to good's record
        "_dmarc.cname CNAME _dmarc.good.test.",
        # a long record over several strings, to its own host
        "_dmarc.long TXT %s" % txt("v=DMARC1; p=none; rua=" + rua_many),
        # external destinations: one authorized, one by wildcard, one not
        "_dmarc.ext TXT %s" % txt("v=DMARC1; p=quarantine; rua=mailto:a@reports.other.test,"
                                  "mailto:b@wild.test,mailto:c@noauth.test"),
        "ext.test._report._dmarc.reports.other TXT %s" % txt("v=DMARC1;"),
        "*._report._dmarc.wild TXT %s" % txt("v=DMARC1"),
        # the tree walk: psd=n below what the PSL calls the organisation
        "_dmarc.psd TXT %s" % txt("v=DMARC1; p=none"),
        "_dmarc.shop.psd TXT %s" % txt("v=DMARC1; p=reject; sp=quarantine; psd=n"),
        "x.shop.psd A 192.0.2.4",
        # a deep name: the walk jumps to its last 7 labels
        "_dmarc.deep TXT %s" % txt("v=DMARC1; p=reject"),
        # SPF: void lookups, a loop, several records, an include of nothing
        "voids TXT %s" % txt("v=spf1 a:nx1.voids.test a:nx2.voids.test mx:nx3.voids.test -all"),
        "loop TXT %s" % txt("v=spf1 include:loop2.test -all"),
        "loop2 TXT %s" % txt("v=spf1 include:loop.test -all"),
        "twospf TXT %s" % txt("v=spf1 -all"),
        "twospf TXT %s" % txt("v=spf1 ip4:192.0.2.1 -all"),
        "badinc TXT %s" % txt("v=spf1 include:nospf.test ?all"),
        "nospf A 192.0.2.5",
        # the instance's own report address: authorized for one domain only
        "_dmarc.ours TXT %s" % txt("v=DMARC1; p=none; rua=mailto:dmarc-ours@reports.host.test"),
        "_dmarc.ours2 TXT %s" % txt("v=DMARC1; p=none; rua=mailto:dmarc-ours2@reports.host.test"),
        "ours.test._report._dmarc.reports.host TXT %s" % txt("v=DMARC1"),
    ] + spf_chain()
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    keys = {1024: rsa_key(1024), 2048: rsa_key(2048)}
    k = Knot(tmp_path_factory.mktemp("knot"), {"test": zone(keys)})
    with k:
        yield k


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("data"))
    run_ok(["account", "add", "acme", "--data", d])
    for dom in ("ours", "ours2"):
        run_ok(["domain", "add", dom + ".test", "--account", "acme", "--address",
                "dmarc-%s@reports.host.test" % dom, "--data", d])
    return d


def run_ok(args):
    r = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def check(dns_addr, domain, *extra, data=None, expect_rc=None):
    args = [BIN, "record", "check", domain, "--json", "--resolver", dns_addr]
    if data:
        args += ["--data", data]
    r = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    out = json.loads(r.stdout)
    # the exit status says whether there are errors
    assert r.returncode == (1 if out["errors"] else 0)
    assert out["errors"] == sum(f["severity"] == "error" for f in out["findings"])
    assert out["warnings"] == sum(f["severity"] == "warning" for f in out["findings"])
    if expect_rc is not None:
        assert r.returncode == expect_rc, out["findings"]
    return out


def codes(out, severity=None):
    return sorted(f["code"] for f in out["findings"] if severity in (None, f["severity"]))


def test_good_domain(dns, tmp_path):
    out = check(dns.addr, "good.test", "--selector", "s2048", expect_rc=0,
                data=str(tmp_path / "empty"))
    assert out["findings"] == []
    d = out["dmarc"]
    assert d["records"] == 1 and d["dns"] == "ok"
    assert d["record"]["effective"]["p"] == "reject"
    assert d["psl"]["org_domain"] == "good.test" and d["psl"]["record_at"] == "good.test"
    assert d["tree_walk"]["record_at"] == "good.test" and d["applies"]["policy"] == "reject"
    assert d["destinations"] == [{"uri": "mailto:dmarc@good.test", "tag": "rua", "host": "good.test",
                                  "ours": False, "external": False}]
    # the TXT that is not SPF is not counted as a second record
    spf = out["spf"]
    assert spf["lookups"] == 1 and spf["void_lookups"] == 0
    assert spf["tree"]["record"] == "v=spf1 ip4:192.0.2.1 include:_spf.esp.test -all"
    [inc] = spf["tree"]["children"]
    assert (inc["name"], inc["via"], inc["status"], inc["lookups"]) == ("_spf.esp.test", "include", "ok", 1)
    [k] = out["dkim"]
    assert k["selector"] == "s2048" and k["name"] == "s2048._domainkey.good.test"
    assert k["key"]["key_type"] == "rsa" and k["key"]["bits"] == 2048 and k["key"]["valid"]


def test_text_output(dns):
    r = subprocess.run([BIN, "record", "check", "good.test", "--resolver", dns.addr],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "good.test: 0 errors, 0 warnings" in r.stdout
    assert "include _spf.esp.test  [ok, 1 lookup]" in r.stdout


def test_nothing_published(dns):
    out = check(dns.addr, "none.test", expect_rc=1)
    assert codes(out) == ["no_record", "no_spf"]
    assert out["dmarc"]["dns"] == "nxdomain" and out["dmarc"]["record"] is None
    assert out["dmarc"]["applies"] == {"record_at": None, "policy": None}
    assert out["spf"]["tree"]["status"] == "none"


def test_inherited_policy(dns):
    out = check(dns.addr, "sub.inherit.test")
    assert "inherited" in codes(out, "info")
    d = out["dmarc"]
    assert d["record"] is None
    assert d["psl"]["org_domain"] == "inherit.test" and d["psl"]["record_at"] == "inherit.test"
    # sp= applies to the subdomain, by both ways
    assert d["psl"]["policy"] == "reject" and d["tree_walk"]["policy"] == "reject"
    assert d["tree_walk"]["asked"] == ["_dmarc.sub.inherit.test", "_dmarc.inherit.test", "_dmarc.test"]
    assert "discovery_differs" not in codes(out)


def test_several_records(dns):
    out = check(dns.addr, "several.test", expect_rc=1)
    assert "several_records" in codes(out, "error")
    assert out["dmarc"]["records"] == 2 and out["dmarc"]["record"] is None


def test_cname_and_long_record(dns):
    out = check(dns.addr, "cname.test")
    assert out["dmarc"]["record"]["effective"]["p"] == "reject"
    # good.test is outside cname.test and has no authorization record
    [dest] = out["dmarc"]["destinations"]
    assert dest["external"] and not dest["authorized"]
    assert dest["authorization"]["name"] == "cname.test._report._dmarc.good.test"
    assert "ext_not_authorized" in codes(out, "error")
    out = check(dns.addr, "long.test")
    text = out["dmarc"]["text"]
    assert len(text) > 255 and text.endswith("mailto:agg13@long.test")
    assert len(out["dmarc"]["record"]["rua"]) == 14
    assert "more_than_two_uris" in codes(out)


def test_external_destinations(dns):
    out = check(dns.addr, "ext.test", expect_rc=1)
    by_host = {d["host"]: d for d in out["dmarc"]["destinations"]}
    assert by_host["reports.other.test"]["authorized"]
    assert by_host["reports.other.test"]["authorization"]["text"] == "v=DMARC1;"
    assert by_host["wild.test"]["authorized"]  # the wildcard record
    assert not by_host["noauth.test"]["authorized"]
    bad = [f for f in out["findings"] if f["code"] == "ext_not_authorized"]
    assert len(bad) == 1 and bad[0]["where"] == "rua:noauth.test"
    assert "ext.test._report._dmarc.noauth.test" in bad[0]["message"]


def test_tree_walk_differs_from_psl(dns):
    out = check(dns.addr, "x.shop.psd.test")
    d = out["dmarc"]
    assert d["psl"]["org_domain"] == "psd.test" and d["psl"]["record_at"] == "psd.test"
    assert d["psl"]["policy"] == "none"
    # psd=n makes shop.psd.test the organisational domain; its sp applies
    assert d["tree_walk"]["org_domain"] == "shop.psd.test"
    assert d["tree_walk"]["record_at"] == "shop.psd.test" and d["tree_walk"]["policy"] == "quarantine"
    # psd=n ends the walk
    assert d["tree_walk"]["asked"] == ["_dmarc.x.shop.psd.test", "_dmarc.shop.psd.test"]
    assert "discovery_differs" in codes(out, "warning")
    assert d["applies"] == {"record_at": "shop.psd.test", "policy": "quarantine"}


def test_deep_name_walk(dns):
    name = "a.b.c.d.e.f.g.h.i.deep.test"  # 11 labels
    out = check(dns.addr, name)
    asked = out["dmarc"]["tree_walk"]["asked"]
    assert len(asked) == 8
    assert asked[0] == "_dmarc." + name
    # then straight to the last 7 labels, one fewer each time
    assert asked[1] == "_dmarc.e.f.g.h.i.deep.test"
    assert [a.count(".") for a in asked[1:]] == [7, 6, 5, 4, 3, 2, 1]
    assert out["dmarc"]["tree_walk"]["record_at"] == "deep.test"
    assert out["dmarc"]["tree_walk"]["policy"] == "reject"


def test_spf_over_the_limit(dns):
    out = check(dns.addr, "over.test", expect_rc=1)
    spf = out["spf"]
    # include l1 (1) + its include l3 (1) + l3's a (1) + l1's a, mx (2)
    # + include l2 (1) + exists, a (2) + redirect l4 (1) + l4's a, a (2)
    # + the top's a, mx (2) = 13
    assert spf["lookups"] == 13, json.dumps(spf["tree"], indent=1)
    assert "spf_lookups" in codes(out, "error")
    tree = spf["tree"]
    kids = [(c["via"], c["name"], c["lookups"]) for c in tree["children"]]
    assert kids == [("include", "l1.spf.test", 5), ("include", "l2.spf.test", 6),
                    ("a", "over.test", 1), ("mx", "over.test", 1)]
    l2 = tree["children"][1]
    assert [(c["via"], c["name"]) for c in l2["children"]] == [
        ("exists", "host1.spf.test"), ("a", "host1.spf.test"), ("redirect", "l4.spf.test")]
    # an AAAA-only name is not a void lookup
    l4 = l2["children"][2]
    assert [c["status"] for c in l4["children"]] == ["ok", "ok"] and l4["void_lookups"] == 0
    assert spf["void_lookups"] == 0


def test_spf_void_lookups(dns):
    out = check(dns.addr, "voids.test", expect_rc=1)
    assert out["spf"]["void_lookups"] == 3
    assert "spf_void_lookups" in codes(out, "error")
    assert codes(out).count("spf_void_lookup") == 3
    assert [c["status"] for c in out["spf"]["tree"]["children"]] == ["void"] * 3


def test_spf_loop_several_and_missing_include(dns):
    out = check(dns.addr, "loop.test", expect_rc=1)
    assert "spf_loop" in codes(out, "error")
    [inc] = out["spf"]["tree"]["children"]
    assert inc["name"] == "loop2.test" and inc["children"][0]["status"] == "loop"
    out = check(dns.addr, "twospf.test", expect_rc=1)
    assert "several_spf" in codes(out, "error") and out["spf"]["tree"]["status"] == "several"
    out = check(dns.addr, "badinc.test", expect_rc=1)
    assert "include_no_spf" in codes(out, "error")
    assert "neutral_all" in codes(out)
    # an include of a name without SPF is also a void lookup (no TXT at all)
    assert out["spf"]["tree"]["children"][0]["status"] == "none"


def test_dkim_keys(dns):
    out = check(dns.addr, "good.test", "--selector", "s1024", "--selector", "old",
                "--selector", "gone", expect_rc=1)
    k = {x["selector"]: x for x in out["dkim"]}
    assert k["s1024"]["key"]["bits"] == 1024 and k["s1024"]["key"]["key_type"] == "rsa"
    assert k["old"]["key"]["revoked"]
    assert k["gone"]["key"] is None and k["gone"]["dns"] == "nxdomain"
    got = {(f["where"], f["code"]) for f in out["findings"]}
    assert ("dkim:s1024", "rsa_1024") in got
    assert ("dkim:old", "revoked") in got
    assert ("dkim:gone", "dkim_missing") in got


def test_instance_addresses(dns, data):
    # ours.test sends to the instance, which authorized it
    out = check(dns.addr, "ours.test", data=data)
    [d] = out["dmarc"]["destinations"]
    assert d["ours"] and d["external"] and d["authorized"]
    assert "not_reporting_here" not in codes(out)
    # ours2.test too, but reports.host.test has no record for it
    out = check(dns.addr, "ours2.test", data=data, expect_rc=1)
    [d] = out["dmarc"]["destinations"]
    assert d["ours"] and not d["authorized"]
    assert d["authorization"]["name"] == "ours2.test._report._dmarc.reports.host.test"
    # good.test is not in the registry: nothing is expected of it
    out = check(dns.addr, "good.test", data=data)
    assert "not_reporting_here" not in codes(out)


def test_not_reporting_here(dns, data, tmp_path):
    run_ok(["domain", "add", "good.test", "--account", "acme", "--address",
            "x@reports.host.test", "--data", data])
    out = check(dns.addr, "good.test", data=data)
    assert codes(out, "warning") == ["not_reporting_here"]
    assert "x@reports.host.test" in [f for f in out["findings"] if f["code"] == "not_reporting_here"][0]["message"]


def test_server_that_never_answers(tmp_path):
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("dns_timeout_ms = 200\n")
    with Silent() as s:
        t0 = time.monotonic()
        out = check(s.addr, "good.test", "--config", str(cfg), "--selector", "s1", expect_rc=1)
        took = time.monotonic() - t0
    assert out["dmarc"]["dns"] == "timeout"
    assert "dns_error" in codes(out, "error")
    assert out["spf"]["tree"]["status"] == "timeout"
    assert out["dkim"][0]["dns"] == "timeout"
    # two tries of 200 ms (the second waits twice as long) per question,
    # a handful of questions: seconds, not the 30 s deadline
    assert took < 15, took


def test_bad_domain_names():
    for bad in ["", "a..b", "x" * 64 + ".test", "bad domain.test", "caf\u00e9.test"]:
        r = subprocess.run([BIN, "record", "check", bad, "--resolver", "127.0.0.1:9"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (bad, r.stdout)
        assert "domain name" in r.stderr


def aggregate_xml(domain, begin, rows):
    """A small aggregate report: rows of (ip, count, [(d, selector, result)])."""
    recs = []
    for ip, count, dkim in rows:
        auth = "".join("<dkim><domain>%s</domain><selector>%s</selector><result>%s</result></dkim>"
                       % (d, s, res) for d, s, res in dkim)
        recs.append(
            "<record><row><source_ip>%s</source_ip><count>%d</count><policy_evaluated>"
            "<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>"
            "<identifiers><header_from>%s</header_from></identifiers><auth_results>%s"
            "<spf><domain>%s</domain><result>fail</result></spf></auth_results></record>"
            % (ip, count, domain, auth, domain))
    return ("<?xml version=\"1.0\"?><feedback><report_metadata><org_name>tester</org_name>"
            "<email>r@tester.test</email><report_id>sel-%d</report_id><date_range><begin>%d</begin>"
            "<end>%d</end></date_range></report_metadata><policy_published><domain>%s</domain>"
            "<p>none</p></policy_published>%s</feedback>"
            % (begin, begin, begin + 86399, domain, "".join(recs)))


def test_selectors_from_reports(dns, tmp_path):
    data = str(tmp_path / "data")
    begin = (int(time.time()) // 86400 - 3) * 86400
    xml = aggregate_xml("good.test", begin, [
        ("192.0.2.1", 50, [("good.test", "s2048", "pass")]),
        ("192.0.2.2", 70, [("good.test", "gone", "fail"), ("other.test", "x", "pass")]),
        ("192.0.2.3", 5, [("good.test", "a b;c", "fail"), ("good.test", "S2048", "pass")]),
    ])
    f = tmp_path / "r.xml"
    f.write_text(xml)
    run_ok(["ingest", str(f), "--data", data])
    out = check(dns.addr, "good.test", data=data, expect_rc=1)
    # most messages first; the selector that is no DNS name and the other
    # domain's are left out; case folded
    assert [k["selector"] for k in out["dkim"]] == ["gone", "s2048"]
    assert out["dkim"][1]["key"]["bits"] == 2048
    assert ("dkim:gone", "dkim_missing") in {(f["where"], f["code"]) for f in out["findings"]}
    # those asked for come first, without repeating one seen
    out = check(dns.addr, "good.test", "--selector", "s2048", data=data, expect_rc=1)
    assert [k["selector"] for k in out["dkim"]] == ["s2048", "gone"]
    # reports older than 90 days are not read
    data2 = str(tmp_path / "data2")
    f.write_text(aggregate_xml("good.test", begin - 100 * 86400, [("192.0.2.2", 70, [("good.test", "gone", "fail")])]))
    run_ok(["ingest", str(f), "--data", data2])
    out = check(dns.addr, "good.test", data=data2, expect_rc=0)
    assert out["dkim"] == []


def test_api_check_and_generate(dns, tmp_path):
    """GET /api/v1/dns answers what `dmarcd record check --json` prints for
    a domain with reports in the caller's scope (its DKIM selectors read
    from them); GET /api/v1/record makes the record with the caller's
    report address and reads it back.  Another account's token gets 404
    for both, like a domain nobody has."""
    import http.client
    import importlib.util
    import os
    spec = importlib.util.spec_from_file_location(
        "apinode", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apinode.py"))
    apinode = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(apinode)
    data = str(tmp_path / "data")
    cfg = tmp_path / "dmarcd.conf"
    cfg.write_text("data_dir = %s\nresolver = %s\ndns_timeout_ms = 500\nrdns = off\n"
                   % (data, dns.addr))
    args = ["--config", str(cfg)]
    run_ok(["account", "add", "acme"] + args)
    run_ok(["account", "add", "other"] + args)
    run_ok(["domain", "add", "good.test", "--account", "acme", "--address",
            "dmarc-good@reports.host.test"] + args)
    tok = {a: run_ok(["token", "add", "--account", a] + args).stdout.strip()
           for a in ("acme", "other")}
    begin = (int(time.time()) // 86400 - 3) * 86400
    f = tmp_path / "r.xml"
    f.write_text(aggregate_xml("good.test", begin, [
        ("192.0.2.1", 50, [("good.test", "s2048", "pass")])]))
    run_ok(["ingest", str(f), "--account", "acme"] + args)
    cli = check(dns.addr, "good.test", data=data)
    node = apinode.Node(BIN, tmp_path, "api", args)
    try:
        def get(path, token):
            c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
            c.request("GET", path, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            return r.status, r.read()

        st, body = get("/api/v1/dns?domain=good.test", tok["acme"])
        assert st == 200, body
        api = json.loads(body)
        for x in (api, cli):
            x.pop("took_ms")
        assert api == cli
        assert [k["selector"] for k in api["dkim"]] == ["s2048"]
        assert get("/api/v1/dns?domain=good.test", tok["other"])[0] == 404
        assert get("/api/v1/dns?domain=nowhere.test", tok["acme"])[0] == 404
        st, body = get("/api/v1/record?domain=good.test&p=reject&adkim=s", tok["acme"])
        assert st == 200, body
        rec = json.loads(body)
        assert rec["name"] == "_dmarc.good.test"
        assert rec["record"] == \
            "v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc-good@reports.host.test"
        assert rec["zone"] == '"%s"' % rec["record"]
        assert rec["parsed"]["valid"] is True
        st, body = get("/api/v1/record?domain=good.test", tok["acme"])
        assert json.loads(body)["record"] == \
            "v=DMARC1; p=none; rua=mailto:dmarc-good@reports.host.test"
        assert "p_none" in {f["code"] for f in json.loads(body)["parsed"]["findings"]}
        for bad in ("p=block", "adkim=x", "fo=2", "t=maybe", "sp=Reject"):
            assert get("/api/v1/record?domain=good.test&" + bad, tok["acme"])[0] == 400, bad
        assert get("/api/v1/record?domain=good.test", tok["other"])[0] == 404
    finally:
        node.stop()
