"""domains, summary, timeseries, reporters: every number equals what
bench/gen says it wrote (expected.json), for each viewer."""
import pytest

from conftest import day_add

VIEWERS = ("acme", "beta", "admin")


@pytest.fixture(scope="module")
def apis(acme, beta, admin):
    return {"acme": acme, "beta": beta, "admin": admin}


@pytest.mark.parametrize("viewer", VIEWERS)
def test_domains_equal_generated(world, apis, viewer):
    e = world.expect
    got = apis[viewer].api("domains")
    assert set(got) == {"domains"}
    rows = got["domains"]
    assert sorted(r["domain"] for r in rows) == e.domains(viewer)
    assert len(rows) == len({r["domain"] for r in rows}), "a domain listed twice: %s" % rows
    for r in rows:
        t = e.total(viewer, r["domain"])
        first, last = e.span(viewer, r["domain"])
        want = {"domain": r["domain"], "reports": t["reports"], "messages": t["messages"],
                "dmarc_pass": t["dmarc_pass"], "dmarc_fail": t["dmarc_fail"], "first": first, "last": last}
        assert r == want


def test_domains_span_is_generated_days(world, acme):
    exp = world.a_exp
    rows = {r["domain"]: r for r in acme.api("domains")["domains"]}
    ndays = len(next(iter(exp["domains"].values()))["days"])
    for dom in exp["domains"]:
        assert rows[dom]["first"] == exp["first_day"]
        assert rows[dom]["last"] == day_add(exp["first_day"], ndays - 1)
        assert rows[dom]["reports"] == exp["domains"][dom]["reports"]
        assert rows[dom]["messages"] == exp["domains"][dom]["messages"]
        assert rows[dom]["dmarc_pass"] == exp["domains"][dom]["dmarc_pass"]


def check_summary(s, domain, frm, to, want):
    assert s["domain"] == domain
    assert s["from"] == frm and s["to"] == to
    for k in ("reports", "messages", "dmarc_pass", "dmarc_fail"):
        assert s[k] == want[k], "%s: %s != %s (from %s to %s)" % (k, s[k], want[k], frm, to)
    assert 0 <= s["spf_aligned"] <= s["messages"]
    assert 0 <= s["dkim_aligned"] <= s["messages"]
    # dmarc_pass is dkim or spf aligned
    assert max(s["spf_aligned"], s["dkim_aligned"]) <= s["dmarc_pass"] <= s["spf_aligned"] + s["dkim_aligned"]
    disp = s["disposition"]
    assert set(disp) == {"none", "quarantine", "reject"}
    assert all(v >= 0 for v in disp.values())
    assert disp["none"] + disp["quarantine"] + disp["reject"] == s["messages"]


@pytest.mark.parametrize("viewer", VIEWERS)
def test_summary_all_time(world, apis, viewer):
    e = world.expect
    for dom in e.domains(viewer):
        s = apis[viewer].api("summary", {"domain": dom})
        check_summary(s, dom, None, None, e.total(viewer, dom))


def test_summary_sums_tenants_for_admin(world, acme, beta, admin):
    """acme.com has data of acme, of beta and unclaimed: each sees its own."""
    dom = world.shared_domain
    parts = [acme.api("summary", {"domain": dom}), beta.api("summary", {"domain": dom})]
    whole = admin.api("summary", {"domain": dom})
    unclaimed = world.expect.total("unclaimed", dom)
    for k in ("reports", "messages", "dmarc_pass", "dmarc_fail"):
        assert whole[k] == parts[0][k] + parts[1][k] + unclaimed[k], k
    assert parts[0]["messages"] == world.a_exp["domains"][dom]["messages"]
    assert parts[1]["messages"] == world.b_exp["domains"][dom]["days"][0][2]


@pytest.mark.parametrize("lo,hi", [(0, 0), (3, 9), (19, 19), (None, 4), (15, None), (-5, 2), (18, 40)])
def test_summary_range(world, acme, lo, hi):
    e = world.expect
    first = world.a_exp["first_day"]
    frm = day_add(first, lo) if lo is not None else None
    to = day_add(first, hi) if hi is not None else None
    for dom in e.domains("acme"):
        s = acme.api("summary", {"domain": dom, "from": frm, "to": to})
        want = e.total("acme", dom, frm, to)
        assert want["messages"] > 0
        check_summary(s, dom, frm, to, want)


def test_summary_range_without_data_is_zero(world, acme):
    dom = world.acme_domains[1]
    frm = day_add(world.a_exp["first_day"], -30)
    to = day_add(world.a_exp["first_day"], -1)
    s = acme.api("summary", {"domain": dom, "from": frm, "to": to})
    check_summary(s, dom, frm, to, {"reports": 0, "messages": 0, "dmarc_pass": 0, "dmarc_fail": 0})


@pytest.mark.parametrize("viewer", VIEWERS)
def test_timeseries_per_day(world, apis, viewer):
    e = world.expect
    api = apis[viewer]
    for dom in e.domains(viewer):
        ts = api.api("timeseries", {"domain": dom})
        assert ts["domain"] == dom and ts["from"] is None and ts["to"] is None
        pts = ts["points"]
        days = e.days(viewer, dom)
        assert [p["date"] for p in pts] == [d for d, _ in days]
        for p, (d, c) in zip(pts, days):
            assert p["messages"] == c[2], (dom, d)
            assert p["dmarc_pass"] == c[3], (dom, d)
            assert p["dmarc_fail"] == c[2] - c[3], (dom, d)
            assert p["quarantine"] >= 0 and p["reject"] >= 0
            assert p["quarantine"] + p["reject"] <= p["messages"]
        s = api.api("summary", {"domain": dom})
        for k in ("messages", "dmarc_pass", "dmarc_fail"):
            assert sum(p[k] for p in pts) == s[k], k
        assert sum(p["quarantine"] for p in pts) == s["disposition"]["quarantine"]
        assert sum(p["reject"] for p in pts) == s["disposition"]["reject"]


def test_timeseries_range(world, acme):
    e = world.expect
    dom = world.acme_domains[2]
    frm, to = day_add(world.a_exp["first_day"], 4), day_add(world.a_exp["first_day"], 11)
    ts = acme.api("timeseries", {"domain": dom, "from": frm, "to": to})
    assert ts["from"] == frm and ts["to"] == to
    want = [(d, c) for d, c in e.days("acme", dom) if frm <= d <= to]
    assert len(want) == 8
    assert [(p["date"], p["messages"], p["dmarc_pass"]) for p in ts["points"]] == \
        [(d, c[2], c[3]) for d, c in want]
    s = acme.api("summary", {"domain": dom, "from": frm, "to": to})
    assert sum(p["messages"] for p in ts["points"]) == s["messages"]


def test_timeseries_admin_has_days_of_every_tenant(world, admin):
    """acme.com for the admin: beta's day before acme's first, and the two
    unclaimed days added to acme's last two."""
    dom = world.shared_domain
    pts = admin.api("timeseries", {"domain": dom})["points"]
    a_first = world.a_exp["first_day"]
    b_first = world.b_exp["first_day"]
    assert pts[0]["date"] == b_first < a_first
    assert pts[0]["messages"] == world.b_exp["domains"][dom]["days"][0][2]


@pytest.mark.parametrize("viewer", VIEWERS)
def test_reporters(world, apis, viewer):
    e = world.expect
    api = apis[viewer]
    for dom in e.domains(viewer):
        got = api.api("reporters", {"domain": dom})
        rows = got["reporters"]
        assert rows, dom
        names = [r["reporter"] for r in rows]
        assert len(names) == len(set(names)), "a reporter listed twice: %s" % names
        t = e.total(viewer, dom)
        assert sum(r["reports"] for r in rows) == t["reports"], dom
        assert sum(r["messages"] for r in rows) == t["messages"], dom
        assert sum(r["dmarc_pass"] for r in rows) == t["dmarc_pass"], dom
        for r in rows:
            assert r["dmarc_pass"] + r["dmarc_fail"] == r["messages"]
            assert r["reports"] > 0


def test_reporters_range(world, acme):
    e = world.expect
    dom = world.acme_domains[0]
    frm = to = day_add(world.a_exp["first_day"], 7)
    rows = acme.api("reporters", {"domain": dom, "from": frm, "to": to})["reporters"]
    t = e.total("acme", dom, frm, to)
    assert sum(r["reports"] for r in rows) == t["reports"] == 8
    assert sum(r["messages"] for r in rows) == t["messages"]


def test_reporters_match_reports_list(acme, world):
    """Each reporter's report count equals the reports list filtered on it."""
    dom = world.acme_domains[1]
    rows = acme.api("reporters", {"domain": dom})["reporters"]
    for r in rows[:4]:
        lst = acme.api("reports", {"domain": dom, "reporter": r["reporter"], "limit": 1000})
        assert lst["total"] == r["reports"], r
        assert sum(i["messages"] for i in lst["items"]) == r["messages"], r

