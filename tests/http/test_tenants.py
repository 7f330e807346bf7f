"""Tenant isolation: an account token sees its account's reports only; the
admin token sees every account's and the unclaimed ones; "not yours" is
answered byte for byte like "does not exist"."""
import json

import pytest

from conftest import assert_error

NOWHERE = "no-such-domain.example"
NO_ID = 987654321


@pytest.fixture(scope="module")
def beta_items(beta):
    items, _ = beta.pages("reports", {}, limit=1000)
    return items


@pytest.fixture(scope="module")
def admin_items(admin):
    items, _ = admin.pages("reports", {}, limit=1000)
    return items


@pytest.fixture(scope="module")
def beta_ip(world, beta):
    """An IP beta has for each of its own domains."""
    return {dom: beta.api("sources", {"domain": dom})["items"][0]["ip"] for dom in world.beta_domains}


def same_answer(a, b):
    """Two answers a client cannot tell apart (Date aside)."""
    assert (a.status, a.body) == (b.status, b.body)
    assert a.header_items() == b.header_items()


def domain_requests(dom, ip):
    return [
        ("/api/v1/summary", {"domain": dom}),
        ("/api/v1/summary", {"domain": dom, "from": "2026-12-01", "to": "2026-12-31"}),
        ("/api/v1/timeseries", {"domain": dom}),
        ("/api/v1/sources", {"domain": dom}),
        ("/api/v1/sources", {"domain": dom, "sort": "ip", "limit": 5}),
        ("/api/v1/sources/" + ip, {"domain": dom}),
        ("/api/v1/reporters", {"domain": dom}),
        ("/api/v1/reports", {"domain": dom}),
        ("/api/v1/export.csv", {"domain": dom}),
        ("/api/v1/export.json", {"domain": dom}),
    ]


def test_beta_domain_is_not_found_for_acme(world, acme, beta, beta_ip):
    for dom in world.beta_domains:
        for (path, params), (npath, nparams) in zip(domain_requests(dom, beta_ip[dom]),
                                                    domain_requests(NOWHERE, beta_ip[dom])):
            mine = beta.get(path, params)
            assert mine.status == 200, (path, params, mine)  # it exists, for beta
            theirs = acme.get(path, params)
            assert_error(theirs, 404)
            assert theirs.json() == {"error": "not found"}
            same_answer(theirs, acme.get(npath, nparams))


def test_acme_domain_is_not_found_for_beta(world, acme, beta):
    dom = world.acme_domains[1]  # acme's alone (beta has acme.com too)
    ip = acme.api("sources", {"domain": dom})["items"][0]["ip"]
    for (path, params), (npath, nparams) in zip(domain_requests(dom, ip), domain_requests(NOWHERE, ip)):
        assert acme.get(path, params).status == 200
        theirs = beta.get(path, params)
        assert_error(theirs, 404)
        same_answer(theirs, beta.get(npath, nparams))


def test_beta_reports_are_not_found_for_acme(world, acme, beta, beta_items):
    assert len(beta_items) == len(world.beta_reports)
    ids = [beta_items[0]["id"], beta_items[len(beta_items) // 2]["id"], beta_items[-1]["id"]]
    # and one of beta's reports for the shared domain
    ids += [i["id"] for i in beta_items if i["policy_domain"] == world.shared_domain][:1]
    assert len(ids) == 4
    none = acme.get("/api/v1/reports/%d" % NO_ID)
    none_raw = acme.get("/api/v1/reports/%d/raw" % NO_ID)
    assert_error(none, 404)
    for rid in ids:
        assert beta.get("/api/v1/reports/%d" % rid).status == 200
        assert beta.get("/api/v1/reports/%d/raw" % rid).status == 200
        r = acme.get("/api/v1/reports/%d" % rid)
        assert_error(r, 404)
        same_answer(r, none)
        r = acme.get("/api/v1/reports/%d/raw" % rid)
        assert_error(r, 404)
        same_answer(r, none_raw)


def test_acme_lists_hold_nothing_of_beta(world, acme, beta_items):
    doms = {d["domain"] for d in acme.api("domains")["domains"]}
    assert doms == set(world.acme_domains)
    assert not doms & set(world.beta_domains)
    items, totals = acme.pages("reports", {}, limit=1000)
    assert totals == [world.a_exp["reports"]]
    assert not {i["id"] for i in items} & {i["id"] for i in beta_items}
    # the shared domain: acme's reports only
    shared, _ = acme.pages("reports", {"domain": world.shared_domain}, limit=1000)
    assert len(shared) == world.a_exp["domains"][world.shared_domain]["reports"]
    assert not {i["id"] for i in shared} & {i["id"] for i in beta_items}


def test_acme_export_holds_nothing_of_beta(world, acme):
    r = acme.get("/api/v1/export.json")
    assert r.status == 200
    rows = json.loads(r.body)
    assert len(rows) == world.a_exp["records"]
    assert {x["domain"] for x in rows} == set(world.acme_domains)
    foreign = {x["report_id"] for x in world.beta_reports + world.unclaimed_reports}
    assert not {x["report_id"] for x in rows} & foreign
    csv_body = acme.get("/api/v1/export.csv").text()
    assert csv_body.count("\n") == world.a_exp["records"] + 1
    for rid in list(foreign)[:50]:
        assert rid not in csv_body


def test_beta_sees_its_own(world, beta, beta_items):
    e = world.expect
    doms = {d["domain"]: d for d in beta.api("domains")["domains"]}
    assert sorted(doms) == e.domains("beta") == sorted(world.beta_domains + [world.shared_domain])
    assert doms[world.shared_domain]["messages"] == e.total("beta", world.shared_domain)["messages"]
    assert {(i["org_name"], i["report_id"]) for i in beta_items} == \
        {(r["org_name"], r["report_id"]) for r in world.beta_reports}
    rows = json.loads(beta.get("/api/v1/export.json").body)
    assert len(rows) == sum(r["records"] for r in world.beta_reports)


def test_source_ip_of_beta_in_shared_domain(world, acme, beta):
    """An IP only beta's reports show for acme.com: acme gets 404 for it
    on acme.com, though acme has acme.com."""
    dom = world.shared_domain
    theirs = {i["ip"] for i in beta.pages("sources", {"domain": dom}, limit=1000)[0]}
    mine = {i["ip"] for i in acme.pages("sources", {"domain": dom}, limit=1000)[0]}
    only = sorted(theirs - mine)
    assert only
    assert beta.api("sources/" + only[0], {"domain": dom})["messages"] > 0
    r = acme.get("/api/v1/sources/" + only[0], {"domain": dom})
    assert_error(r, 404)
    same_answer(r, acme.get("/api/v1/sources/192.0.2.253", {"domain": dom}))


def test_unclaimed_for_admin_only(world, acme, beta, admin, admin_items):
    dom = world.unclaimed_domain
    s = admin.api("summary", {"domain": dom})
    assert s["messages"] == world.expect.total("unclaimed", dom)["messages"] > 0
    uids = [i["id"] for i in admin_items if i["policy_domain"] == dom]
    assert len(uids) == world.expect.total("unclaimed", dom)["reports"]
    for api in (acme, beta):
        for path in ("summary", "timeseries", "sources", "reporters", "reports", "export.csv"):
            r = api.get("/api/v1/" + path, {"domain": dom})
            assert_error(r, 404)
            same_answer(r, api.get("/api/v1/" + path, {"domain": NOWHERE}))
        assert dom not in {d["domain"] for d in api.api("domains")["domains"]}
        for rid in uids[:2]:
            same_answer(api.get("/api/v1/reports/%d" % rid), api.get("/api/v1/reports/%d" % NO_ID))
            assert_error(api.get("/api/v1/reports/%d/raw" % rid), 404)
        assert admin.get("/api/v1/reports/%d/raw" % uids[0]).status == 200


def test_admin_sees_everything(world, admin, admin_items):
    e = world.expect
    doms = {d["domain"]: d for d in admin.api("domains")["domains"]}
    assert sorted(doms) == e.domains("admin")
    assert set(doms) == set(world.acme_domains + world.beta_domains + [world.unclaimed_domain])
    for dom, d in doms.items():
        assert d["messages"] == e.total("admin", dom)["messages"], dom
        assert d["reports"] == e.total("admin", dom)["reports"], dom
    n = len(world.acme_reports) + len(world.beta_reports) + len(world.unclaimed_reports)
    assert len(admin_items) == n
    rows = json.loads(admin.get("/api/v1/export.json").body)
    assert len(rows) == sum(r["records"] for r in world.acme_reports + world.beta_reports +
                            world.unclaimed_reports)
    # the admin opens anybody's report
    for group in (world.beta_reports, world.acme_reports, world.unclaimed_reports):
        want = group[0]
        it = next(i for i in admin_items if (i["org_name"], i["report_id"]) == (want["org_name"], want["report_id"]))
        d = admin.api("reports/%d" % it["id"])
        assert sum(r["count"] for r in d["rows"]) == want["messages"]


def test_admin_source_sums_tenants(world, acme, beta, admin):
    """An IP's messages for the shared domain, for the admin, are acme's
    plus beta's plus the unclaimed ones."""
    dom = world.shared_domain
    all_rows = {i["ip"]: i for i in admin.pages("sources", {"domain": dom}, limit=1000)[0]}
    a = {i["ip"]: i for i in acme.pages("sources", {"domain": dom}, limit=1000)[0]}
    b = {i["ip"]: i for i in beta.pages("sources", {"domain": dom}, limit=1000)[0]}
    assert set(a) | set(b) <= set(all_rows)
    assert sum(i["messages"] for i in all_rows.values()) == e_total(world, dom)
    for ip in list(a)[:20]:
        assert all_rows[ip]["messages"] >= a[ip]["messages"] + b.get(ip, {"messages": 0})["messages"]


def e_total(world, dom):
    return world.expect.total("admin", dom)["messages"]
