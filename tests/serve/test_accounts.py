"""Reports are stored for the account behind the address they came to only
when their policy domain belongs to that account; otherwise they are kept
as unclaimed (account 0), stored and counted but in no account's data."""
import json
import os
import smtplib
import sqlite3
from collections import Counter

from conftest import Server, dm, gen_set, mail_bytes, wait_totals
from conftest import mail_policy_domain as policy_domain


def account_ids(data):
    out = dm("account", "list", "--json", "--data", data).stdout
    return {o["account"]: o["account_id"] for o in map(json.loads, out.splitlines())}


def test_reports_go_to_the_owning_account_or_stay_unclaimed(tmp_path):
    data = tmp_path / "data"
    mails, exp = gen_set(40, seed=5)
    domains = Counter(policy_domain(m) for m in mails)
    owned = domains.most_common(1)[0][0]  # acme owns the commonest policy domain
    assert len(domains) > 1, "the set must hold foreign domains too"
    dm("account", "add", "acme", "--data", data)
    dm("account", "add", "other", "--data", data)
    dm("domain", "add", owned, "--account", "acme", "--address", "dmarc@reports.test", "--data", data)
    dm("domain", "add", "other.example", "--account", "other", "--address", "rua@other.test",
       "--data", data)
    ids = account_ids(data)

    half = len(mails) // 2
    to_acme, to_other = mails[:half], mails[half:]
    s = Server(data).start()
    try:
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=30)
        c.ehlo("client.test")
        for m in to_acme:
            c.sendmail("reporter@sender.test", ["dmarc@reports.test"], mail_bytes(m))
        for m in to_other:
            c.sendmail("reporter@sender.test", ["rua@other.test"], mail_bytes(m))
        # an address nobody registered is refused
        code, _ = c.docmd("MAIL FROM:<reporter@sender.test>")
        assert code == 250
        code, msg = c.docmd("RCPT TO:<dmarc@unknown.test>")
        assert (code, msg[:5]) == (550, b"5.1.1"), (code, msg)
        c.quit()
        wait_totals(data, exp, server=s)
    finally:
        assert s.stop()[0] == 0

    want = Counter()
    for m in to_acme:
        d = policy_domain(m)
        want[(d, ids["acme"] if d == owned else 0)] += 1
    for m in to_other:  # other owns none of these domains
        want[(policy_domain(m), 0)] += 1
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(str(data), "dmarcd.sqlite"), uri=True)
    got = Counter(db.execute("SELECT policy_domain, account_id FROM reports"))
    # every record row carries its report's account
    mixed = db.execute("SELECT COUNT(*) FROM records r JOIN reports p ON r.report = p.id"
                       " WHERE r.account_id != p.account_id").fetchone()[0]
    daily = dict(db.execute("SELECT account_id, SUM(records) FROM daily GROUP BY account_id"))
    recs = dict(db.execute("SELECT account_id, COUNT(*) FROM records GROUP BY account_id"))
    db.close()
    assert got == want
    assert mixed == 0
    assert daily == recs
    assert ids["acme"] in recs and 0 in recs and ids["other"] not in recs
