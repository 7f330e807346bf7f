"""Authentication, parameter checking, methods, security headers,
/metrics and /healthz."""
import base64
import re
import time

import pytest

from conftest import CSP, SECURITY_HEADERS, assert_error, dm, token_add, token_list

ENDPOINTS = ["/api/v1/domains", "/api/v1/summary?domain=acme.com", "/api/v1/timeseries?domain=acme.com",
             "/api/v1/sources?domain=acme.com", "/api/v1/sources/192.0.2.1?domain=acme.com",
             "/api/v1/reporters?domain=acme.com", "/api/v1/reports", "/api/v1/reports/1",
             "/api/v1/reports/1/raw", "/api/v1/export.csv", "/api/v1/export.json"]


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_token(anon, path):
    r = anon.get(path)
    assert_error(r, 401)


@pytest.mark.parametrize("auth", [
    "Bearer garbage",
    "Bearer ",
    "Bearer",
    "Basic " + base64.b64encode(b"acme:secret").decode(),
    "Token abc",
    "",
])
def test_bad_authorization(anon, auth):
    for path in ("/api/v1/domains", "/api/v1/reports/1"):
        r = anon.get(path, headers={"Authorization": auth})
        assert_error(r, 401)


def test_token_look_alikes(world, anon):
    good = world.tokens["acme"]
    assert anon.get("/api/v1/domains", headers={"Authorization": "Bearer " + good}).status == 200
    m = re.fullmatch(r"(.*?)(\d+)_(.+)", good)
    variants = [good + "x", good[:-1], good[:-1] + ("A" if good[-1] != "A" else "B"), good.upper(),
                "Basic " + good]
    if m:  # same secret under another token id
        variants.append("%s%d_%s" % (m.group(1), int(m.group(2)) + 1, m.group(3)))
    for v in variants:
        auth = v if v.startswith("Basic ") else "Bearer " + v
        assert_error(anon.get("/api/v1/domains", headers={"Authorization": auth}), 401)


def test_post_needs_token(anon):
    assert_error(anon.request("POST", "/api/v1/reports", body=b"<feedback/>"), 401)


def wait_status(api, want, timeout=5.0):
    t0 = time.monotonic()
    while True:
        r = api.get("/api/v1/domains")
        if r.status == want:
            return time.monotonic() - t0, r
        assert time.monotonic() - t0 < timeout, "still %d after %.0f s, wanted %d" % (r.status, timeout, want)
        time.sleep(0.1)


def test_new_and_revoked_token(world, world_server, acme, anon):
    data = world_server.data
    tok = token_add(data, account="acme", name="short-lived")
    api = anon.with_token(tok)
    wait_status(api, 200)
    assert api.api("domains") == acme.api("domains")
    tid = [t["id"] for t in token_list(data) if t["name"] == "short-lived" and t["revoked_at"] is None]
    assert len(tid) == 1
    dm("token", "revoke", tid[0], "--data", data)
    took, r = wait_status(api, 401)
    assert_error(r, 401)
    assert took < 3.0, "a revoked token worked for %.1f s (docs: within a second)" % took
    # stays revoked, on every endpoint
    for path in ENDPOINTS:
        assert_error(api.get(path), 401)
    # the others still work
    assert acme.get("/api/v1/domains").status == 200


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("name,value", [
    ("from", "2026-13-01"),
    ("from", "2026-02-30"),
    ("from", "2026-00-10"),
    ("from", "2026-04-31"),
    ("to", "2026-02-29"),
    ("to", "2100-02-29"),
    ("from", "2026-1-01"),
    ("from", "20261201"),
    ("from", "2026-12-01T00:00:00"),
    ("to", "yesterday"),
    ("from", ""),
])
@pytest.mark.parametrize("endpoint", ["summary", "timeseries", "sources", "reporters", "reports",
                                      "export.csv"])
def test_bad_date(world, acme, endpoint, name, value):
    r = acme.get("/api/v1/" + endpoint, {"domain": world.acme_domains[0], name: value})
    assert_error(r, 400, "'%s'" % name)


def test_leap_day_is_a_date(world, acme):
    s = acme.api("summary", {"domain": world.acme_domains[0], "from": "2028-02-29", "to": "2028-02-29"})
    assert s["from"] == s["to"] == "2028-02-29" and s["messages"] == 0


def test_to_before_from(world, acme):
    for ep in ("summary", "timeseries", "sources", "reports", "export.json"):
        r = acme.get("/api/v1/" + ep, {"domain": world.acme_domains[0], "from": "2026-12-20",
                                        "to": "2026-12-19"})
        msg = assert_error(r, 400)
        assert "'to'" in msg or "'from'" in msg, msg
    # the same day is a range
    assert acme.get("/api/v1/summary", {"domain": world.acme_domains[0], "from": "2026-12-20",
                                        "to": "2026-12-20"}).status == 200


@pytest.mark.parametrize("endpoint", ["summary", "timeseries", "sources", "reporters"])
def test_domain_required(acme, endpoint):
    assert_error(acme.get("/api/v1/" + endpoint), 400, "domain")
    assert_error(acme.get("/api/v1/" + endpoint, {"domain": ""}), 400, "domain")


@pytest.mark.parametrize("path", ["/api/v1/domains", "/api/v1/summary?domain=acme.com",
                                  "/api/v1/timeseries?domain=acme.com", "/api/v1/sources?domain=acme.com",
                                  "/api/v1/reporters?domain=acme.com", "/api/v1/reports",
                                  "/api/v1/export.csv", "/api/v1/export.json"])
def test_unknown_parameter(acme, path):
    sep = "&" if "?" in path else "?"
    r = acme.get(path + sep + "colour=blue")
    assert_error(r, 400, "colour")


def test_unknown_parameter_on_one_report(acme):
    rid = acme.api("reports", {"limit": 1})["items"][0]["id"]
    assert acme.get("/api/v1/reports/%d" % rid).status == 200
    assert_error(acme.get("/api/v1/reports/%d?colour=blue" % rid), 400, "colour")


@pytest.mark.parametrize("endpoint", ["summary", "timeseries", "sources", "reporters", "reports",
                                      "export.csv"])
def test_long_domain(acme, endpoint):
    r = acme.get("/api/v1/" + endpoint, {"domain": "a" * 300})
    assert_error(r, 400, "domain")
    r = acme.get("/api/v1/" + endpoint, {"domain": ("a" * 60 + ".") * 5 + "com"})
    assert_error(r, 400, "domain")


def test_unknown_path(acme):
    for p in ("/api/v1/nothing", "/api/v1/", "/api/v2/domains", "/api/v1/domains/extra"):
        assert_error(acme.get(p), 404)


# ---------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["DELETE", "PUT", "POST", "PATCH"])
def test_domains_method_not_allowed(acme, method):
    r = acme.request(method, "/api/v1/domains", body=b"")
    assert_error(r, 405)
    allow = [m.strip() for m in (r.header("Allow") or "").split(",")]
    assert "GET" in allow and method not in allow, r.header("Allow")


def test_other_methods_not_allowed(world, acme):
    for method, path, must in (("POST", "/api/v1/summary?domain=acme.com", "GET"),
                               ("DELETE", "/api/v1/reports", "POST"),
                               ("PUT", "/api/v1/reports/1", "GET"),
                               ("POST", "/api/v1/export.csv", "GET")):
        r = acme.request(method, path, body=b"x")
        assert_error(r, 405)
        allow = [m.strip() for m in (r.header("Allow") or "").split(",")]
        assert must in allow and method not in allow, (path, r.header("Allow"))


# ---------------------------------------------------------------- headers


def check_security_headers(r, api=True):
    for k, v in SECURITY_HEADERS.items():
        assert r.header(k) == v, "%s: %r (status %d)" % (k, r.header(k), r.status)
    if api:
        assert r.header("Cache-Control") == "no-store", "Cache-Control %r (status %d)" % (
            r.header("Cache-Control"), r.status)


def test_api_headers(world, acme, anon):
    rid = acme.api("reports", {"limit": 1})["items"][0]["id"]
    answers = [acme.get(p) for p in ENDPOINTS[:7]]
    answers += [acme.get("/api/v1/reports/%d" % rid), acme.get("/api/v1/reports/%d/raw" % rid),
                acme.get("/api/v1/export.csv", {"domain": world.acme_domains[0]}),
                acme.get("/api/v1/export.json", {"domain": world.acme_domains[0]}),
                acme.get("/api/v1/summary"),                      # 400
                anon.get("/api/v1/domains"),                      # 401
                acme.get("/api/v1/reports/999999"),               # 404
                acme.get("/api/v1/nothing"),                      # 404
                acme.request("DELETE", "/api/v1/domains")]        # 405
    statuses = {r.status for r in answers}
    assert {200, 400, 401, 404, 405} <= statuses, statuses
    for r in answers:
        check_security_headers(r)


def test_page_headers(anon):
    r = anon.get("/")
    assert r.status == 200
    assert (r.header("Content-Type") or "").startswith("text/html")
    check_security_headers(r, api=False)
    assert r.header("Content-Security-Policy") == CSP


def test_health_and_metrics_headers(anon):
    for p in ("/healthz", "/metrics"):
        r = anon.get(p)
        assert r.status == 200
        check_security_headers(r, api=False)


# ---------------------------------------------------------------- /healthz, /metrics


def test_healthz(anon):
    t0 = time.monotonic()
    r = anon.get("/healthz")
    assert r.status == 200 and r.body.strip() == b"ok"
    assert time.monotonic() - t0 < 2


def metric(anon, status):
    r = anon.get("/metrics")
    assert r.status == 200
    assert (r.header("Content-Type") or "").startswith("text/plain")
    m = re.search(r'^dmarcd_http_requests_total\{status="%d"\} (\d+)$' % status, r.text(), re.M)
    return int(m.group(1)) if m else 0


def test_metrics_count_requests(acme, anon):
    before200, before404 = metric(anon, 200), metric(anon, 404)
    for _ in range(3):
        assert acme.get("/api/v1/domains").status == 200
    assert acme.get("/api/v1/reports/999999").status == 404
    after200, after404 = metric(anon, 200), metric(anon, 404)
    assert after200 >= before200 + 3 and after200 > 0
    assert after404 >= before404 + 1
    text = anon.get("/metrics").text()
    assert "# TYPE dmarcd_http_requests_total counter" in text
