"""Request rate limits (docs/API.md, src/common/limits.h): per token 20/s
with a burst of 100, per client address 50/s with a burst of 200; over
them 429 with Retry-After.  Each test has a server of its own, so that
the buckets start full and no other module is disturbed."""
import http.client
import json
import time

import pytest

from conftest import Api, copy_data, finish_server, run_server, token_add

TOKEN_BURST, TOKEN_RATE = 100, 20
IP_BURST, IP_RATE = 200, 50


@pytest.fixture
def fresh(world, tmp_path):
    servers = []

    def make():
        data = str(tmp_path / ("data%d" % len(servers)))
        copy_data(world.template, data)
        s = run_server(data, tmp_path)
        servers.append(s)
        return s

    yield make
    for s in servers:
        finish_server(s)


# The bursts ask for an API route that does not exist: it is answered 404
# after the token and its rate are checked, without the store, so the
# timing is the limiter's whatever store is behind (a ClickHouse query
# takes long enough for the buckets to refill).  test_token_burst shows a
# real route is refused the same way.
NO_ROUTE = "/api/v1/no-such-route"
MISS = 404


def burst(port, token, n, path=NO_ROUTE):
    """n requests as fast as one keep-alive connection goes; returns
    [(status, Retry-After, body)] and the seconds it took."""
    out = []
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.monotonic()
    for _ in range(n):
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
        except (http.client.HTTPException, OSError):
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", path, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
        body = r.read()
        out.append((r.status, r.getheader("Retry-After"), body, r.getheader("Content-Type")))
        if r.will_close:
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took = time.monotonic() - t0
    c.close()
    return out, took


def check_429s(res):
    limited = [x for x in res if x[0] == 429]
    for status, retry, body, ctype in limited:
        assert retry is not None and retry.isdigit() and 1 <= int(retry) <= 60, "Retry-After %r" % retry
        assert ctype and ctype.startswith("application/json")
        d = json.loads(body)
        assert set(d) == {"error"} and isinstance(d["error"], str)
    return limited


def test_token_burst(world, fresh):
    s = fresh()
    acme, beta = world.tokens["acme"], world.tokens["beta"]
    res, took = burst(s.port, acme, 150)
    statuses = [x[0] for x in res]
    assert set(statuses) <= {MISS, 429}, set(statuses)
    ok = statuses.count(MISS)
    limited = check_429s(res)
    assert limited, "150 requests in %.2f s with one token, none refused" % took
    # the burst is served in full, and not much more than the refill on top
    assert TOKEN_BURST <= ok <= TOKEN_BURST + TOKEN_RATE * took + 2, (ok, took)
    assert statuses[:TOKEN_BURST] == [MISS] * TOKEN_BURST
    # a real route is refused too while the bucket is empty: asked at
    # once, it is served no more often than the bucket refills (one request
    # after the burst alone would race the refill of 20/s on a loaded
    # machine, so a short burst of the real route is asked instead)
    res2, took2 = burst(s.port, acme, 30, "/api/v1/domains")
    st2 = [x[0] for x in res2]
    assert set(st2) <= {200, 429}, set(st2)
    assert check_429s(res2), "30 requests of /api/v1/domains in %.2f s after the burst, none refused" % took2
    assert st2.count(200) <= TOKEN_RATE * took2 + 2, (st2.count(200), took2)
    limited = limited + check_429s(res2)
    # another token is not limited by acme's bucket (the address has room)
    r = Api(s.port, beta, retry429=False).get("/api/v1/domains")
    assert r.status == 200
    # after Retry-After, acme is served again
    time.sleep(int(limited[-1][1]))
    r = Api(s.port, acme, retry429=False).get("/api/v1/domains")
    assert r.status == 200


def test_address_burst(world, fresh):
    """Several tokens, none over its own burst, together over the address's."""
    s = fresh()
    toks = [token_add(s.data, account="acme", name="many-%d" % i) for i in range(4)]
    # the server reloads the registry: wait until the last one works
    deadline = time.monotonic() + 5
    while Api(s.port, toks[-1], retry429=False).get("/api/v1/domains").status != 200:
        assert time.monotonic() < deadline, "new tokens never accepted"
        time.sleep(0.1)
    per = 90
    res, took = [], 0.0
    t0 = time.monotonic()
    for t in toks:
        r, _ = burst(s.port, t, per)
        res += r
    took = time.monotonic() - t0
    statuses = [x[0] for x in res]
    assert set(statuses) <= {MISS, 429}
    ok = statuses.count(MISS)
    assert check_429s(res), "%d requests from one address in %.2f s, none refused" % (len(res), took)
    assert ok <= IP_BURST + IP_RATE * took + 2, (ok, took)
    assert statuses[:IP_BURST - 10] == [MISS] * (IP_BURST - 10)

