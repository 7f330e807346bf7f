"""The alert rule `dns` (src/alert/alert.c): a domain's DMARC record as a
real knotd serves it is remembered at the first run; when the zone
changes, the next run opens an alert naming the old and the new record,
and the run after resolves it.  A domain of another account is not
looked at for this one."""
import json
import subprocess
import time

import pytest

from knot import Knot
from test_check import BIN, run_ok, txt

DOMAIN = "watch.test"


def zone(record):
    return "\n".join([
        "$ORIGIN test.",
        "$TTL 1",
        "@ SOA ns.test. hostmaster.test. %d 3600 600 86400 1" % int(time.time()),
        "@ NS ns.test.",
        "ns A 127.0.0.1",
        "_dmarc.watch TXT %s" % txt(record),
        "",
    ])


def aggregate(day):
    begin = (int(time.time()) // 86400 - day) * 86400
    return ("<feedback><report_metadata><org_name>R</org_name><email>r@r.example</email>"
            "<report_id>w-%d</report_id><date_range><begin>%d</begin><end>%d</end></date_range>"
            "</report_metadata><policy_published><domain>%s</domain><p>none</p></policy_published>"
            "<record><row><source_ip>192.0.2.1</source_ip><count>5</count><policy_evaluated>"
            "<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>"
            "<identifiers><header_from>%s</header_from></identifiers><auth_results><spf><domain>%s"
            "</domain><result>pass</result></spf></auth_results></record></feedback>"
            % (day, begin, begin + 86399, DOMAIN, DOMAIN, DOMAIN))


def test_dmarc_record_change(tmp_path):
    data = str(tmp_path / "data")
    run_ok(["account", "add", "acme", "--data", data])
    run_ok(["domain", "add", DOMAIN, "--account", "acme", "--data", data])
    f = tmp_path / "r.xml"
    f.write_text(aggregate(1))
    run_ok(["ingest", "--data", data, "--account", "acme", str(f)])
    k = Knot(tmp_path / "knot", {"test": zone("v=DMARC1; p=none")})
    conf = tmp_path / "dmarcd.conf"
    conf.write_text("data_dir = %s\nresolver = %s\ndns_timeout_ms = 500\n" % (data, k.addr))

    def run():
        r = subprocess.run([BIN, "alerts", "run", "--json", "--config", str(conf)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def listed():
        r = run_ok(["alerts", "list", "--json", "--config", str(conf), "--account", "acme"])
        return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]

    with k:
        t = run()  # the record seen first: nothing to say
        assert t["opened"] == 0, t
        t = run()
        assert t["opened"] == 0, t
    k.zones = {"test": zone("v=DMARC1; p=reject; rua=mailto:d@watch.test")}
    with k:
        t = run()
        assert t["opened"] == 1, t
        a = [x for x in listed() if x["rule"] == "dns"]
        assert len(a) == 1 and a[0]["resolved_at"] is None
        assert a[0]["domain"] == DOMAIN
        assert '"v=DMARC1; p=none"' in a[0]["message"]
        assert '"v=DMARC1; p=reject; rua=mailto:d@watch.test"' in a[0]["message"]
        t = run()  # the same record again: resolved
        assert t["resolved"] == 1 and t["opened"] == 0, t
        assert [x["resolved_at"] is not None for x in listed() if x["rule"] == "dns"] == [True]
    # the DNS away: nothing is known to have changed, nothing opens
    t = run()
    assert t["opened"] == 0, t
