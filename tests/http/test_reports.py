"""reports, reports/{id}, reports/{id}/raw, export.csv, export.json."""
import calendar
import csv
import io
import ipaddress
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from conftest import CSV_COLUMNS, assert_error, day_add, unpack

ITEM_KEYS = {"id", "org_name", "report_id", "policy_domain", "begin", "end", "records", "messages",
             "received_at"}


@pytest.fixture(scope="module")
def all_reports(acme):
    items, totals = acme.pages("reports", {}, limit=1000)
    return items, totals


def by_report_id(ingested):
    return {(r["org_name"], r["report_id"]): r for r in ingested}


def test_reports_all_of_scope(world, all_reports):
    items, totals = all_reports
    assert totals == [world.a_exp["reports"]]
    assert len(items) == world.a_exp["reports"]
    assert len({i["id"] for i in items}) == len(items)
    ing = by_report_id(world.acme_reports)
    assert {(i["org_name"], i["report_id"]) for i in items} == set(ing)
    for i in items:
        assert set(i) == ITEM_KEYS
        r = ing[(i["org_name"], i["report_id"])]
        for k in ("policy_domain", "begin", "end", "records", "messages"):
            assert i[k] == r[k], (i, k)
    assert sum(i["records"] for i in items) == world.a_exp["records"]
    assert sum(i["messages"] for i in items) == world.a_exp["messages"]


def test_reports_received_at(world, all_reports):
    for i in all_reports[0]:
        assert world.ingest_started <= i["received_at"] <= world.ingest_ended, i


def test_reports_newest_first(all_reports):
    begins = [i["begin"] for i in all_reports[0]]
    assert begins == sorted(begins, reverse=True)
    assert begins[0] > begins[-1]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_reports_per_domain(world, acme, k):
    dom = world.acme_domains[k]
    items, totals = acme.pages("reports", {"domain": dom}, limit=50)
    assert set(totals) == {world.a_exp["domains"][dom]["reports"]}
    assert len(items) == totals[0] and len({i["id"] for i in items}) == len(items)
    assert all(i["policy_domain"] == dom for i in items)
    assert sum(i["records"] for i in items) == world.a_exp["domains"][dom]["records"]
    assert sum(i["messages"] for i in items) == world.a_exp["domains"][dom]["messages"]
    begins = [i["begin"] for i in items]
    assert begins == sorted(begins, reverse=True)


def test_reports_paging(world, acme, all_reports):
    items = all_reports[0]
    total = len(items)
    p1 = acme.api("reports", {"limit": 7})
    p2 = acme.api("reports", {"limit": 7, "offset": 7})
    assert p1["total"] == p2["total"] == total
    assert p1["items"] == items[:7] and p2["items"] == items[7:14]
    dflt = acme.api("reports")
    assert dflt["items"] == items[:100]
    assert acme.api("reports", {"offset": total}) == {"total": total, "items": []}
    assert acme.api("reports", {"limit": 1, "offset": total - 1})["items"] == items[-1:]
    for name, v in (("limit", "0"), ("limit", "1001"), ("offset", "-1")):
        assert_error(acme.get("/api/v1/reports", {name: v}), 400, name)


def test_reports_range(world, acme):
    first = world.a_exp["first_day"]
    frm, to = day_add(first, 5), day_add(first, 8)
    items, totals = acme.pages("reports", {"from": frm, "to": to}, limit=1000)
    want = world.expect.scope_total("acme", "reports", frm, to)
    assert totals == [want] and len(items) == want == 4 * 3 * 8
    lo = calendar.timegm(tuple(int(x) for x in frm.split("-")) + (0, 0, 0))
    hi = calendar.timegm(tuple(int(x) for x in to.split("-")) + (0, 0, 0)) + 86400
    assert all(lo <= i["begin"] < hi for i in items)


def test_reports_reporter_filter(world, acme):
    dom = world.acme_domains[0]
    reporters = acme.api("reporters", {"domain": dom})["reporters"]
    # one whose org_name is not all lower-case, if there is one
    mixed = [r for r in reporters if any(i["org_name"] != i["org_name"].lower() and
                                         i["org_name"].lower() == r["reporter"]
                                         for i in world.acme_reports)]
    chosen = (mixed[:1] or reporters[:1]) + reporters[1:2]
    assert mixed, "the generated set has reporters with capitals (Outlook.com, Comcast)"
    for r in chosen:
        name = r["reporter"]
        items, totals = acme.pages("reports", {"domain": dom, "reporter": name}, limit=5)
        assert totals[0] == r["reports"] == len(items)
        assert all(i["org_name"].lower() == name and i["policy_domain"] == dom for i in items)
        # without the domain: that reporter's reports of every acme domain
        every = acme.api("reports", {"reporter": name, "limit": 1000})
        want = sum(1 for x in world.acme_reports if x["org_name"].lower() == name)
        assert every["total"] == want and all(i["org_name"].lower() == name for i in every["items"])
    # an upper-cased filter is the same filter
    up = acme.api("reports", {"domain": dom, "reporter": chosen[0]["reporter"].upper(), "limit": 1})
    assert up["total"] == chosen[0]["reports"]
    assert acme.api("reports", {"reporter": "no-such-reporter.example"}) == {"total": 0, "items": []}


# ---------------------------------------------------------------- one report


DETAIL_KEYS = {"id", "org_name", "email", "extra_contact_info", "report_id", "policy_domain", "begin", "end",
               "received_at", "records", "messages", "generator", "version", "schema", "xmlns",
               "report_error", "archive_key", "policy_published", "warnings", "rows"}
ROW_KEYS = {"ip", "count", "disposition", "dkim", "spf", "dmarc_pass", "header_from", "envelope_from",
            "envelope_to", "reasons", "dkim_results", "spf_results"}
POLICY_KEYS = {"domain", "adkim", "aspf", "p", "sp", "np", "pct", "fo", "testing", "discovery_method"}


def sample(items):
    return [items[0], items[1], items[len(items) // 3], items[len(items) // 2], items[-1]]


def test_report_detail(world, acme, all_reports):
    ing = by_report_id(world.acme_reports)
    for it in sample(all_reports[0]):
        d = acme.api("reports/%d" % it["id"])
        assert set(d) == DETAIL_KEYS
        for k in ITEM_KEYS:
            assert d[k] == it[k], k
        assert d["archive_key"] == ing[(it["org_name"], it["report_id"])]["archive_key"]
        assert len(d["rows"]) == d["records"] == it["records"]
        assert sum(r["count"] for r in d["rows"]) == it["messages"]
        pp = d["policy_published"]
        assert set(pp) == POLICY_KEYS and pp["domain"] == it["policy_domain"]
        assert pp["p"] in ("none", "quarantine", "reject")
        assert isinstance(d["warnings"], list)
        for r in d["rows"]:
            assert set(r) == ROW_KEYS
            assert str(ipaddress.ip_address(r["ip"])) == r["ip"]
            assert r["disposition"] in ("none", "quarantine", "reject")
            assert r["dmarc_pass"] == (r["dkim"] == "pass" or r["spf"] == "pass")
            assert isinstance(r["dkim_results"], list) and isinstance(r["spf_results"], list)
            assert r["spf_results"], "every generated record has an SPF result"


def test_report_detail_matches_xml(acme, all_reports):
    """The rows are the records of the archived file, in order."""
    it = all_reports[0][len(all_reports[0]) // 4]
    d = acme.api("reports/%d" % it["id"])
    raw = acme.get("/api/v1/reports/%d/raw" % it["id"])
    assert raw.status == 200
    root = ET.fromstring(unpack(raw.body))
    recs = [e for e in root.iter() if e.tag.split("}")[-1] == "record"]
    counts = [int(next(x for x in r.iter() if x.tag.split("}")[-1] == "count").text) for r in recs]
    ips = [next(x for x in r.iter() if x.tag.split("}")[-1] == "source_ip").text for r in recs]
    assert [r["count"] for r in d["rows"]] == counts
    assert [r["ip"] for r in d["rows"]] == [str(ipaddress.ip_address(i)) for i in ips]


@pytest.mark.parametrize("rid", ["999999", "0", "-1", "abc", "1.5", "17abc", "99999999999999999999999"])
def test_report_unknown(acme, rid):
    assert_error(acme.get("/api/v1/reports/" + rid), 404)
    assert_error(acme.get("/api/v1/reports/" + rid + "/raw"), 404)


def xml_report_id(xml):
    root = ET.fromstring(xml)
    ids = [e.text for e in root.iter() if e.tag.split("}")[-1] == "report_id"]
    assert len(ids) == 1, ids
    return ids[0]


def test_report_raw(world, acme, all_reports):
    for it in sample(all_reports[0]):
        r = acme.get("/api/v1/reports/%d/raw" % it["id"])
        assert r.status == 200, r
        assert r.header("Content-Type") == "application/gzip"
        cd = r.header("Content-Disposition")
        assert cd and cd.startswith('attachment; filename="'), cd
        assert re.fullmatch(r'attachment; filename="[^"/\\]+!%s!%d!%d\.gz"'
                            % (re.escape(it["policy_domain"]), it["begin"], it["end"]), cd), cd
        assert r.body[:2] == b"\x1f\x8b"
        assert xml_report_id(unpack(r.body)) == it["report_id"]
        assert int(r.header("Content-Length") or len(r.body)) == len(r.body)


# ---------------------------------------------------------------- export


def export_csv(api, params):
    r = api.get("/api/v1/export.csv", params)
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text(), newline="")))
    assert rows, "no header row"
    return rows[0], rows[1:]


def export_json(api, params):
    r = api.get("/api/v1/export.json", params)
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("application/json")
    d = json.loads(r.body)
    assert isinstance(d, list)
    return d


FILTERS = [
    ("all", lambda w: ({}, w.a_exp["records"], w.a_exp["messages"])),
    ("domain", lambda w: ({"domain": w.acme_domains[1]},
                          w.a_exp["domains"][w.acme_domains[1]]["records"],
                          w.a_exp["domains"][w.acme_domains[1]]["messages"])),
    ("range", lambda w: ({"domain": w.acme_domains[2], "from": day_add(w.a_exp["first_day"], 3),
                          "to": day_add(w.a_exp["first_day"], 6)},
                         w.expect.total("acme", w.acme_domains[2], day_add(w.a_exp["first_day"], 3),
                                        day_add(w.a_exp["first_day"], 6))["records"],
                         w.expect.total("acme", w.acme_domains[2], day_add(w.a_exp["first_day"], 3),
                                        day_add(w.a_exp["first_day"], 6))["messages"])),
    ("scope-range", lambda w: ({"from": day_add(w.a_exp["first_day"], 19)},
                               w.expect.scope_total("acme", "records", day_add(w.a_exp["first_day"], 19)),
                               w.expect.scope_total("acme", "messages", day_add(w.a_exp["first_day"], 19)))),
]


@pytest.mark.parametrize("name,make", FILTERS, ids=[f[0] for f in FILTERS])
def test_export_csv(world, acme, name, make):
    params, records, messages = make(world)
    header, rows = export_csv(acme, params)
    assert header == CSV_COLUMNS
    assert len(rows) == records
    assert all(len(r) == len(CSV_COLUMNS) for r in rows)
    col = {c: i for i, c in enumerate(CSV_COLUMNS)}
    assert sum(int(r[col["count"]]) for r in rows) == messages
    if "domain" in params:
        assert {r[col["domain"]] for r in rows} == {params["domain"]}
    else:
        assert {r[col["domain"]] for r in rows} == set(world.acme_domains)
    for r in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r[col["begin_date"]])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r[col["end_date"]])
        if "from" in params:
            assert r[col["begin_date"]][:10] >= params["from"]
        if "to" in params:
            assert r[col["begin_date"]][:10] <= params["to"]
        for b in ("spf_aligned", "dkim_aligned", "dmarc_aligned", "normalized_timespan"):
            assert r[col[b]] in ("True", "False"), (b, r[col[b]])
        assert r[col["dmarc_aligned"]] == ("True" if "True" in (r[col["spf_aligned"]], r[col["dkim_aligned"]])
                                           else "False")
        for e in ("source_country", "source_reverse_dns", "source_base_domain", "source_name", "source_type"):
            assert r[col[e]] == ""
        n = len(r[col["dkim_domains"]].split("|")) if r[col["dkim_domains"]] else 0
        assert n == (len(r[col["dkim_results"]].split("|")) if r[col["dkim_results"]] else 0)


@pytest.mark.parametrize("name,make", FILTERS, ids=[f[0] for f in FILTERS])
def test_export_json(world, acme, name, make):
    params, records, messages = make(world)
    rows = export_json(acme, params)
    assert len(rows) == records
    assert all(list(r) == CSV_COLUMNS for r in rows), "keys differ from the CSV columns"
    assert all(isinstance(r["count"], int) for r in rows)
    assert sum(r["count"] for r in rows) == messages
    for r in rows:
        assert isinstance(r["spf_aligned"], bool) and isinstance(r["dkim_aligned"], bool)
        assert r["dmarc_aligned"] == (r["spf_aligned"] or r["dkim_aligned"])
        assert isinstance(r["dkim_domains"], list) and isinstance(r["spf_results"], list)
        assert len(r["dkim_domains"]) == len(r["dkim_selectors"]) == len(r["dkim_results"])
        assert len(r["spf_domains"]) == len(r["spf_scopes"]) == len(r["spf_results"])
        if "domain" in params:
            assert r["domain"] == params["domain"]


def as_cell(v):
    """A JSON export value as its CSV cell (docs/API.md: booleans True/False,
    lists joined with |, null empty)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, list):
        return "|".join(as_cell(x) for x in v)
    return str(v)


def test_export_csv_and_json_agree(world, acme):
    """Row for row, cell for cell (a cell may carry the leading apostrophe
    that defuses a spreadsheet formula)."""
    params = {"domain": world.acme_domains[0], "from": day_add(world.a_exp["first_day"], 10),
              "to": day_add(world.a_exp["first_day"], 11)}
    header, rows = export_csv(acme, params)
    js = export_json(acme, params)
    assert len(rows) == len(js) > 0
    want = sorted(tuple(as_cell(r[c]) for c in CSV_COLUMNS) for r in js)
    got = sorted(tuple(rows_) for rows_ in rows)
    for g, w in zip(got, want):
        for c, gv, wv in zip(CSV_COLUMNS, g, w):
            assert gv == wv or gv == "'" + wv, (c, gv, wv)


def test_export_dates_and_report_fields(world, acme):
    """begin_date/end_date are the report's begin/end in UTC; the report
    fields are the ingested report's."""
    dom = world.acme_domains[2]
    day = day_add(world.a_exp["first_day"], 13)
    js = export_json(acme, {"domain": dom, "from": day, "to": day})
    ing = {(r["org_name"], r["report_id"]): r for r in world.acme_reports}
    fmt = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    per = {}
    for x in js:
        r = ing[(x["org_name"], x["report_id"])]
        assert x["begin_date"] == fmt(r["begin"]) and x["end_date"] == fmt(r["end"])
        assert x["begin_date"].startswith(day)
        assert x["domain"] == r["policy_domain"] == dom
        assert str(ipaddress.ip_address(x["source_ip_address"])) == x["source_ip_address"]
        per.setdefault(x["report_id"], [0, 0])
        per[x["report_id"]][0] += 1
        per[x["report_id"]][1] += x["count"]
    assert len(per) == 8
    for rid, (n, m) in per.items():
        r = next(v for k, v in ing.items() if k[1] == rid)
        assert (n, m) == (r["records"], r["messages"]), rid


def test_export_reporter_filter(world, acme):
    dom = world.acme_domains[1]
    rep = acme.api("reporters", {"domain": dom})["reporters"][2]
    lst = acme.api("reports", {"domain": dom, "reporter": rep["reporter"], "limit": 1000})
    header, rows = export_csv(acme, {"domain": dom, "reporter": rep["reporter"]})
    col = {c: i for i, c in enumerate(CSV_COLUMNS)}
    assert len(rows) == sum(i["records"] for i in lst["items"])
    assert sum(int(r[col["count"]]) for r in rows) == rep["messages"]
    assert {r[col["org_name"]].lower() for r in rows} == {rep["reporter"]}
    js = export_json(acme, {"reporter": rep["reporter"], "domain": dom})
    assert len(js) == len(rows)


def test_export_bad_parameters(world, acme):
    for ext in ("csv", "json"):
        assert_error(acme.get("/api/v1/export." + ext, {"from": "2026-13-01"}), 400, "from")
        assert_error(acme.get("/api/v1/export." + ext, {"limit": "5"}), 400, "limit")
