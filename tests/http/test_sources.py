"""sources and sources/{ip}: paging, sort orders, limits, one source's
details adding up to its row."""
import ipaddress

import pytest

from conftest import assert_error, day_add

SRC_KEYS = {"ip", "messages", "dmarc_pass", "dmarc_fail", "spf_aligned", "dkim_aligned", "header_from",
            "reporters", "who"}
WHO_KEYS = {"ptr", "ptr_state", "base_domain", "asn", "as_org", "country", "service", "service_type"}
SERVICE_TYPES = {"mailbox", "esp", "marketing", "crm", "support", "forwarder", "security", "hosting",
                 "other"}


@pytest.fixture(scope="module")
def listing(world, acme):
    """Every source of every acme domain, by sort=messages, paged by 100."""
    out = {}
    for dom in world.acme_domains:
        items, totals = acme.pages("sources", {"domain": dom})
        out[dom] = (items, totals)
    return out


def test_sources_add_up_to_summary(world, acme, listing):
    for dom in world.acme_domains:
        items, totals = listing[dom]
        assert len(set(totals)) == 1, "total changed across pages: %s" % totals
        assert totals[0] == len(items) > 100, dom
        ips = [i["ip"] for i in items]
        assert len(ips) == len(set(ips)), "an IP on two pages"
        s = acme.api("summary", {"domain": dom})
        assert s["messages"] == world.a_exp["domains"][dom]["messages"]
        for k in ("messages", "dmarc_pass", "dmarc_fail", "spf_aligned", "dkim_aligned"):
            assert sum(i[k] for i in items) == s[k], (dom, k)


def test_sources_rows(world, listing):
    reporters = set()
    for dom in world.acme_domains:
        items, _ = listing[dom]
        for i in items:
            assert set(i) == SRC_KEYS
            assert i["messages"] > 0
            assert i["dmarc_pass"] + i["dmarc_fail"] == i["messages"]
            assert 0 <= i["spf_aligned"] <= i["dmarc_pass"] and 0 <= i["dkim_aligned"] <= i["dmarc_pass"]
            assert 1 <= len(i["header_from"]) <= 20 and 1 <= len(i["reporters"]) <= 20
            assert len(set(i["header_from"])) == len(i["header_from"])
            assert all(h == dom or h.endswith("." + dom) for h in i["header_from"]), i
            # canonical text form (RFC 5952 for IPv6)
            assert str(ipaddress.ip_address(i["ip"])) == i["ip"]
            reporters.update(i["reporters"])
    versions = {ipaddress.ip_address(i["ip"]).version for dom in listing for i in listing[dom][0]}
    assert versions == {4, 6}, "the generated sets have IPv4 and IPv6 sources"
    assert len(reporters) > 5


def test_sort_messages_non_increasing(world, listing):
    for dom in world.acme_domains:
        m = [i["messages"] for i in listing[dom][0]]
        assert m == sorted(m, reverse=True), dom


@pytest.mark.parametrize("sort,key", [("dmarc_fail", "dmarc_fail"), ("dmarc_pass", "dmarc_pass")])
def test_sort_by_count(world, acme, listing, sort, key):
    dom = world.acme_domains[1]
    items, totals = acme.pages("sources", {"domain": dom, "sort": sort}, limit=250)
    assert len(set(totals)) == 1 and totals[0] == len(items) == len(listing[dom][0])
    v = [i[key] for i in items]
    assert v == sorted(v, reverse=True)
    assert {i["ip"] for i in items} == {i["ip"] for i in listing[dom][0]}
    assert v[0] > 0


def test_sort_ip(world, acme, listing):
    dom = world.acme_domains[2]
    items, totals = acme.pages("sources", {"domain": dom, "sort": "ip"}, limit=300)
    assert totals[0] == len(items) == len(listing[dom][0])
    ips = [ipaddress.ip_address(i["ip"]) for i in items]
    assert len(set(ips)) == len(ips)
    assert set(ips) == {ipaddress.ip_address(i["ip"]) for i in listing[dom][0]}
    for fam in (4, 6):
        same = [a for a in ips if a.version == fam]
        assert same and same == sorted(same), "IPv%d addresses not ascending" % fam
    # one family does not interleave with the other
    fams = [a.version for a in ips]
    assert fams == sorted(fams) or fams == sorted(fams, reverse=True)


def test_default_limit_is_100(world, acme, listing):
    dom = world.acme_domains[0]
    page = acme.api("sources", {"domain": dom})
    assert len(page["items"]) == 100
    assert page["items"] == listing[dom][0][:100]


def test_limit_edges(world, acme, listing):
    dom = world.acme_domains[0]
    items = listing[dom][0]
    total = len(items)
    one = acme.api("sources", {"domain": dom, "limit": 1})
    assert one["total"] == total and one["items"] == items[:1]
    second = acme.api("sources", {"domain": dom, "limit": 1, "offset": 1})
    assert second["items"] == items[1:2]
    last = acme.api("sources", {"domain": dom, "limit": 1, "offset": total - 1})
    assert last["items"] == items[-1:] and last["total"] == total
    big = acme.api("sources", {"domain": dom, "limit": 1000})
    assert big["total"] == total and big["items"] == items[:1000]
    for off in (total, total + 1, 1000000):
        past = acme.api("sources", {"domain": dom, "offset": off})
        assert past == {"total": total, "items": []}, off


@pytest.mark.parametrize("name,value", [("limit", "0"), ("limit", "1001"), ("limit", "-1"), ("limit", "ten"),
                                        ("limit", ""), ("offset", "-1"), ("offset", "1000001"),
                                        ("offset", "1x"), ("sort", "bogus"), ("sort", "")])
def test_bad_paging_parameters(world, acme, name, value):
    r = acme.get("/api/v1/sources", {"domain": world.acme_domains[0], name: value})
    assert_error(r, 400, name)


def test_sources_range_adds_up(world, acme):
    dom = world.acme_domains[1]
    frm, to = day_add(world.a_exp["first_day"], 2), day_add(world.a_exp["first_day"], 5)
    items, _ = acme.pages("sources", {"domain": dom, "from": frm, "to": to}, limit=500)
    s = acme.api("summary", {"domain": dom, "from": frm, "to": to})
    assert s["messages"] == world.expect.total("acme", dom, frm, to)["messages"]
    assert sum(i["messages"] for i in items) == s["messages"]
    assert sum(i["dmarc_fail"] for i in items) == s["dmarc_fail"]


def pick(items):
    """A few IPs of a listing: the top one, one from the middle, the last
    one, and an IPv6 one."""
    out = [items[0], items[len(items) // 2], items[-1]]
    v6 = [i for i in items if ":" in i["ip"]]
    out += v6[:1]
    return out


def test_source_detail(world, acme, listing):
    checked_parts = 0
    for dom in world.acme_domains:
        for row in pick(listing[dom][0]):
            d = acme.api("sources/" + row["ip"], {"domain": dom})
            assert d["ip"] == row["ip"] and d["domain"] == dom
            assert d["from"] is None and d["to"] is None
            for k in ("messages", "dmarc_pass", "dmarc_fail", "spf_aligned", "dkim_aligned"):
                assert d[k] == row[k], (dom, row["ip"], k)
            days = d["days"]
            assert days and [x["date"] for x in days] == sorted({x["date"] for x in days})
            for k in ("messages", "dmarc_pass", "dmarc_fail"):
                assert sum(x[k] for x in days) == d[k], (row["ip"], k)
            assert all(x["messages"] > 0 for x in days)
            first, last = world.expect.span("acme", dom)
            assert first <= days[0]["date"] and days[-1]["date"] <= last
            assert sum(x["messages"] for x in d["reporters"]) == d["messages"]
            assert sorted(x["reporter"] for x in d["reporters"]) == sorted(row["reporters"])
            assert sum(x["messages"] for x in d["header_from"]) == d["messages"]
            assert sorted(x["domain"] for x in d["header_from"]) == sorted(row["header_from"])
            assert isinstance(d["dkim"], list) and isinstance(d["spf"], list)
            for x in d["dkim"]:
                assert set(x) == {"domain", "selector", "result", "messages"} and x["messages"] > 0
                assert x["messages"] <= d["messages"]
            for x in d["spf"]:
                assert set(x) == {"domain", "scope", "result", "messages"} and x["messages"] > 0
                assert x["messages"] <= d["messages"]
            checked_parts += bool(d["dkim"]) + bool(d["spf"])
    # every generated record has DKIM and SPF results: most sources show both
    assert checked_parts >= 2 * 3 * 4 - 4


def test_source_detail_range(world, acme, listing):
    dom = world.acme_domains[0]
    row = listing[dom][0][0]
    full = acme.api("sources/" + row["ip"], {"domain": dom})
    days = full["days"]
    assert len(days) >= 2, "the top source sends on several days"
    frm = to = days[-1]["date"]
    d = acme.api("sources/" + row["ip"], {"domain": dom, "from": frm, "to": to})
    assert d["from"] == frm and d["to"] == to
    assert d["days"] == [days[-1]]
    assert d["messages"] == days[-1]["messages"] < full["messages"]


def test_source_unknown_and_malformed(world, acme, listing):
    dom = world.acme_domains[0]
    seen = {i["ip"] for i in listing[dom][0]}
    for ip in ("192.0.2.254", "2001:db8:ffff::1"):
        assert ip not in seen
        assert_error(acme.get("/api/v1/sources/" + ip, {"domain": dom}), 404)
    for ip in ("1.2.3", "not-an-ip", "1.2.3.4.5", "::g", "999.1.1.1"):
        assert_error(acme.get("/api/v1/sources/" + ip, {"domain": dom}), 404)
    # an IP acme saw, but for another of its domains
    other = [i["ip"] for i in listing[world.acme_domains[1]][0] if i["ip"] not in seen]
    assert other
    assert_error(acme.get("/api/v1/sources/" + other[0], {"domain": dom}), 404)


def test_source_needs_domain(world, acme, listing):
    ip = listing[world.acme_domains[0]][0][0]["ip"]
    assert_error(acme.get("/api/v1/sources/" + ip), 400, "domain")


def test_sources_who(world, listing):
    """Who each source is (docs/ENRICH.md): stored at ingest from the IP
    databases the build installs, without reverse names (no resolver is
    set here); the AS as `dmarcd geoip lookup` reads the same database."""
    import json
    import os
    import subprocess
    items = [i for dom in world.acme_domains for i in listing[dom][0]]
    for i in items:
        w = i["who"]
        assert w is not None and set(w) == WHO_KEYS, i
        assert w["ptr"] is None and w["base_domain"] is None and w["ptr_state"] == "unknown"
        assert w["country"] is None or (len(w["country"]) == 2 and w["country"].isupper())
        assert (w["service"] is None) == (w["service_type"] is None)
        assert w["service_type"] is None or w["service_type"] in SERVICE_TYPES
    sample = items[:200]
    db = os.path.join(os.path.dirname(os.environ["DMARCD_BIN"]), "asn.mmdb")
    r = subprocess.run([os.environ["DMARCD_BIN"], "geoip", "lookup", "--json", "--db", db] +
                       [i["ip"] for i in sample], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    looked = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["address"] for x in looked] == [i["ip"] for i in sample]
    for i, x in zip(sample, looked):
        assert i["who"]["asn"] == (x["asn"] if x["found"] else None), (i["ip"], x)
        assert i["who"]["as_org"] == (x.get("org") if x["found"] else None), (i["ip"], x)
    # the generated addresses are random public ones: most are in the database
    assert sum(x["found"] for x in looked) > len(looked) // 2
    assert any(i["who"]["country"] for i in items) and any(i["who"]["service"] for i in items)
