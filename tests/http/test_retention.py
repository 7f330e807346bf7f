"""Retention: `dmarcd prune` removes what is past an account's
retention_days ([account NAME] section, docs/CONFIG.md) and nothing else.

A 40-day history ending today (bench/gen) for two accounts: "old" (its
domain 0, retention_days = 10) and "other" (domain 1, no retention).
The numbers that should go and stay are computed from gen's
expected.json; the API (summary, timeseries, reports, sources) and
`dmarcd archive get` check what is left.  A prune killed with SIGKILL
mid-way (tiny batches: DMARCD_PRUNE_BATCH, DMARCD_PRUNE_PAUSE_MS) loses
nothing that should stay, and the next prune finishes the job.
"""
import json
import os
import signal
import subprocess
import time
from datetime import datetime, timezone

import pytest

from conftest import (BIN, CH, SHARED, Api, copy_data, day_add, dm, finish_server, gen_set,
                      history_files, ingest, run_server, store_conf, token_add)

DAYS = 40
KEEP = 10


def today():
    return datetime.now(timezone.utc).date().isoformat()


class Ret:
    pass


def prune_conf(data):
    """The store's config (shared stores) plus the retention section."""
    conf = os.path.abspath(str(data)).rstrip("/") + ".retention.conf"
    text = ""
    sc = store_conf(data)
    if sc:
        with open(sc) as f:
            text = f.read()
    text += "\n[account old]\nretention_days = %d\n" % KEEP
    with open(conf, "w") as f:
        f.write(text)
    return conf


def prune_argv(data, *args):
    return [BIN, "prune", "--json", "--data", str(data), "--config", prune_conf(data)] + list(args)


def prune(data, *args):
    p = subprocess.run(prune_argv(data, *args), capture_output=True, text=True, timeout=600,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, "prune %s: %s %s" % (args, p.stdout, p.stderr)
    out = json.loads(p.stdout)
    return {a["account"]: a for a in out["accounts"]}


@pytest.fixture(scope="module")
def ret(module_tmp):
    r = Ret()
    r.today = today()
    r.first_kept = day_add(r.today, -KEEP)
    g, exp = gen_set("history", "--records", 1200, "--days", DAYS, "--domains", 2, "--end", r.today,
                     "--seed", 77)
    r.exp = exp
    names = list(exp["domains"])
    r.dom_old, r.dom_other = names[0], names[1]
    r.data = os.path.join(str(module_tmp), "data")
    d = r.data
    dm("account", "add", "old", "--catch-all", "--data", d)
    dm("account", "add", "other", "--data", d)
    dm("domain", "add", r.dom_other, "--account", "other", "--data", d)
    res = ingest(d, history_files(g, domains={0}), "old") + ingest(d, history_files(g, domains={1}), "other")
    # archive key -> the day its report covers, per account
    r.keys = {"old": {}, "other": {}}
    for x in res:
        acct = "old" if x["policy_domain"] == r.dom_old else "other"
        day = datetime.fromtimestamp(x["begin"], timezone.utc).date().isoformat()
        r.keys[acct][x["archive_key"]] = day
    r.tokens = {a: token_add(d, account=a, name=a) for a in ("old", "other")}
    # an untouched copy for the kill -9 test
    r.copy = os.path.join(str(module_tmp), "copy")
    copy_data(d, r.copy)
    return r


def per_day(r, dom):
    days = r.exp["domains"][dom]["days"]
    return [(day_add(r.exp["first_day"], i), c) for i, c in enumerate(days)]


def sums(r, dom, frm=None):
    t = [0, 0, 0, 0]
    for d, c in per_day(r, dom):
        if frm is None or d >= frm:
            t = [a + b for a, b in zip(t, c)]
    return dict(zip(("reports", "records", "messages", "dmarc_pass"), t))


def gone(r, dom):
    t = [0, 0, 0, 0]
    for d, c in per_day(r, dom):
        if d < r.first_kept:
            t = [a + b for a, b in zip(t, c)]
    return dict(zip(("reports", "records", "messages", "dmarc_pass"), t))


def archived(data, key):
    argv = [BIN, "archive", "get", key, "--data", str(data)]
    if SHARED:
        argv += ["--config", store_conf(data)]
    p = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode == 0 and len(p.stdout) > 0


def check_left(r, data, logdir):
    """What the API shows after a complete prune: old's days from the
    cutoff on, exactly; other's everything."""
    s = run_server(data, logdir)
    try:
        old = Api(s.port, r.tokens["old"])
        other = Api(s.port, r.tokens["other"])
        for api, dom, frm in ((old, r.dom_old, r.first_kept), (other, r.dom_other, None)):
            want = sums(r, dom, frm)
            got = api.api("summary", {"domain": dom})
            for k in ("reports", "messages", "dmarc_pass"):
                assert got[k] == want[k], (dom, k, got[k], want[k])
            ts = api.api("timeseries", {"domain": dom})
            days = [(d, c) for d, c in per_day(r, dom) if (frm is None or d >= frm) and c[0] > 0]
            assert [p["date"] for p in ts["points"]] == [d for d, _ in days], dom
            for p, (d, c) in zip(ts["points"], days):
                assert p["messages"] == c[2] and p["dmarc_pass"] == c[3], (dom, d)
            items, totals = api.pages("reports", {"domain": dom}, limit=500)
            assert set(totals) == {want["reports"]} and len(items) == want["reports"]
            assert sum(i["records"] for i in items) == want["records"]
            srcs, _ = api.pages("sources", {"domain": dom}, limit=500)
            assert sum(x["messages"] for x in srcs) == want["messages"], dom
        # the other account's view of old's domain is empty, and old's
        # days before the cutoff are gone
        early = old.api("summary", {"domain": r.dom_old, "to": day_add(r.first_kept, -1)})
        assert early["messages"] == 0 and early["reports"] == 0
    finally:
        finish_server(s)


def check_archive(r, data):
    pruned = [k for k, d in sorted(r.keys["old"].items()) if d < r.first_kept]
    kept = [k for k, d in sorted(r.keys["old"].items()) if d >= r.first_kept]
    other = sorted(r.keys["other"])
    assert pruned and kept
    for k in pruned[::max(1, len(pruned) // 12)]:
        assert not archived(data, k), "pruned %s still archived" % k
    for k in kept[::max(1, len(kept) // 12)] + other[::max(1, len(other) // 12)]:
        assert archived(data, k), "kept %s not archived" % k


def test_dry_run_then_prune(ret, module_tmp):
    r = ret
    want = gone(r, r.dom_old)
    assert want["reports"] > 0 and sums(r, r.dom_old, r.first_kept)["reports"] > 0
    dry = prune(r.data, "--dry-run")
    assert set(dry) == {"old", "other"}
    o = dry["old"]
    assert o["retention_days"] == KEEP and o["first_day_kept"] == r.first_kept
    assert o["reports"] == want["reports"] and o["records"] == want["records"]
    assert o["archive_objects"] == sum(1 for d in r.keys["old"].values() if d < r.first_kept)
    assert o["rollup_rows"] > 0 and o["tls_reports"] == 0 and o["failure_reports"] == 0
    assert dry["other"]["retention_days"] == 0 and dry["other"]["first_day_kept"] is None
    assert all(dry["other"][k] == 0 for k in ("reports", "records", "rollup_rows", "archive_objects"))
    # the dry run removed nothing
    assert prune(r.data, "--dry-run") == dry
    for k in list(r.keys["old"])[:3]:
        assert archived(r.data, k)

    done = prune(r.data)
    for k in ("reports", "records", "archive_objects", "tls_reports", "failure_reports"):
        assert done["old"][k] == o[k], k
    if not CH:  # ClickHouse counts rollup rows as stored (parts not yet summed)
        assert done["old"]["rollup_rows"] == o["rollup_rows"]
    assert all(done["other"][k] == 0 for k in ("reports", "records", "rollup_rows", "archive_objects"))

    check_left(r, r.data, module_tmp)
    check_archive(r, r.data)

    again = prune(r.data)
    for k in ("reports", "records", "rollup_rows", "archive_objects", "tls_reports", "failure_reports"):
        assert again["old"][k] == 0, (k, again["old"])
    assert prune(r.data, "--account", "other")["other"]["reports"] == 0
    p = subprocess.run(prune_argv(r.data, "--account", "nobody"), capture_output=True, text=True)
    assert p.returncode == 2 and "nobody" in p.stderr


def test_prune_killed_midway_loses_nothing(ret, module_tmp):
    r = ret
    data = r.copy
    env = dict(os.environ, DMARCD_PRUNE_BATCH="3", DMARCD_PRUNE_PAUSE_MS="20")
    proc = subprocess.Popen(prune_argv(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    time.sleep(1.0)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    # what should stay is all there, the interrupted prune or not
    s = run_server(data, module_tmp)
    try:
        for tok, dom, frm in ((r.tokens["old"], r.dom_old, r.first_kept), (r.tokens["other"], r.dom_other, None)):
            api = Api(s.port, tok)
            got = api.api("summary", {"domain": dom, "from": frm})
            want = sums(r, dom, frm)
            for k in ("messages", "dmarc_pass"):
                assert got[k] == want[k], (dom, k)
    finally:
        finish_server(s)
    rest = prune(data)
    if not finished and not CH:
        assert rest["old"]["reports"] > 0, "the prune was not interrupted"
    check_left(r, data, module_tmp)
    check_archive(r, data)


def test_tls_and_failure_reports_pruned(tmp_path):
    """TLS reports and failure reports past the retention go too (with
    their archived files); those inside it and other accounts' stay."""
    from test_failures import arf_mail
    from test_tls import policy, report as tls_report
    data = str(tmp_path / "data")
    dm("account", "add", "old", "--catch-all", "--data", data)
    dm("account", "add", "other", "--data", data)
    dm("domain", "add", "other.example", "--account", "other", "--data", data)
    t = today()
    old_day, new_day = day_add(t, -(KEEP + 10)), day_add(t, -2)
    files = {}
    for acct, dom in (("old", "old.example"), ("other", "other.example")):
        for tag, day in (("past", old_day), ("kept", new_day)):
            doc = tls_report("%s-%s" % (acct, tag), "r.example", day, [policy("sts", dom, 10, 1)])
            p = tmp_path / ("%s-%s.json" % (acct, tag))
            p.write_text(json.dumps(doc))
            arrival = datetime.fromisoformat(day).strftime("%a, %d %b %Y 10:00:00 +0000")
            m = tmp_path / ("%s-%s.eml" % (acct, tag))
            m.write_bytes(arf_mail(len(files), dom, "192.0.2.7", arrival))
            files[(acct, tag)] = [str(p), str(m)]
    keys = {}
    for (acct, tag), paths in files.items():
        res = ingest(data, paths, acct)
        keys[(acct, tag)] = [x["archive_key"] for x in res]
    dry = prune(data, "--dry-run")
    assert dry["old"]["tls_reports"] == 1 and dry["old"]["failure_reports"] == 1, dry
    got = prune(data)
    assert got["old"]["tls_reports"] == 1 and got["old"]["failure_reports"] == 1, got
    assert got["other"]["tls_reports"] == 0 and got["other"]["failure_reports"] == 0, got
    tok = {a: token_add(data, account=a, name=a) for a in ("old", "other")}
    srv = run_server(data, tmp_path)
    try:
        for acct, dom in (("old", "old.example"), ("other", "other.example")):
            api = Api(srv.port, tok[acct])
            tls = api.ok("/api/v1/tls/reports")["items"]
            fails = api.ok("/api/v1/failures")["items"]
            want = ["kept"] if acct == "old" else ["kept", "past"]
            assert sorted(x["report_id"].split("-")[1] for x in tls) == want, tls
            assert len(fails) == len(want), fails
    finally:
        finish_server(srv)
    for (acct, tag), ks in keys.items():
        for k in ks:
            assert archived(data, k) == (acct == "other" or tag == "kept"), (acct, tag, k)
