"""The S3 archive: what dmarcd puts in the bucket, read back by Debian's
`aws`; signatures checked by botocore; multipart uploads; no read-back of
what was just written; a service that goes away costs nothing."""
import gzip
import os
import re
import subprocess
import time

import pytest

from conftest import BUCKET, S3, dm, free_port, gen_typical, ingest_json, sha256_file, stats

KEY_RE = re.compile(r"^\d{4}/\d{2}/([0-9a-f]{64})\.(gz|zip|xml|bin)$")


def assert_bucket_matches(s3, keys, tmp_path):
    """Every key is in the bucket, and each object's SHA-256, as aws
    fetches it (one `aws s3 sync` of the whole bucket), is the one its key
    names."""
    have = s3.keys()
    assert set(keys) <= set(have), "missing from the bucket: %s" % sorted(set(keys) - set(have))[:5]
    d = tmp_path / "synced"
    s3.aws("s3", "sync", "--only-show-errors", "s3://%s" % BUCKET, str(d))
    for k in keys:
        m = KEY_RE.match(k)
        assert m, "key %r is not YYYY/MM/<sha256>.<ext>" % k
        got = sha256_file(d / k)
        assert got == m.group(1), "object %s has SHA-256 %s" % (k, got)


def test_ingest_puts_every_attachment_signed(s3, tmp_path):
    mails, exp = gen_typical(60)
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var")
    p, res = ingest_json(cfg, *mails)
    assert [r["status"] for r in res] == ["stored"] * len(mails), p.stderr[-2000:]
    assert stats(cfg) == {k: exp[k] for k in ("reports", "records", "messages")}
    keys = {r["archive_key"] for r in res}
    assert len(keys) == len(mails)  # gen writes distinct attachments
    assert set(s3.keys()) == keys
    assert_bucket_matches(s3, sorted(keys), tmp_path)
    reqs = s3.requests()
    assert reqs and all(r["signature_ok"] for r in reqs), [r["why"] for r in reqs if r["why"]][:2]
    assert sorted(r["method"] for r in reqs) == ["PUT"] * len(mails)  # one PUT each, no GET
    # nothing stays behind in the data folder's tmp/
    assert os.listdir(tmp_path / "var" / "tmp") == []


def test_same_bytes_twice_are_one_object(s3, tmp_path):
    mails, _ = gen_typical(60)
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var")
    _, first = ingest_json(cfg, mails[0])
    _, again = ingest_json(cfg, mails[0])
    assert first[0]["status"] == "stored" and again[0]["status"] == "duplicate"
    assert first[0]["archive_key"] == again[0]["archive_key"]
    assert list(s3.keys()) == [first[0]["archive_key"]]


def big_report(tmp_path, records):
    """A plain XML report bigger than one part (8 MiB): gen's, unzipped."""
    d = tmp_path / "big"
    subprocess.run([os.environ["DMARCD_GEN"], "big", str(d), "--reports", "1", "--records",
                    str(records)], check=True, capture_output=True)
    gz = [os.path.join(d, "reports", f) for f in os.listdir(d / "reports")][0]
    out = tmp_path / "big.xml"
    with gzip.open(gz) as src, open(out, "wb") as dst:
        while True:
            b = src.read(1 << 20)
            if not b:
                break
            dst.write(b)
    return str(out)


def test_big_attachment_goes_multipart_and_is_not_fetched_back(s3, tmp_path):
    xml = big_report(tmp_path, 25000)
    size = os.path.getsize(xml)
    assert size > 2 * 8 * 1024 * 1024, "the fixture should need three parts (%d bytes)" % size
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var")
    p, res = ingest_json(cfg, xml)
    assert res[0]["status"] == "stored" and res[0]["records"] == 25000, p.stderr[-2000:]
    key = res[0]["archive_key"]
    assert key.endswith("/%s.xml" % sha256_file(xml))
    assert s3.keys() == {key: size}
    assert_bucket_matches(s3, [key], tmp_path)
    reqs = s3.requests()
    assert all(r["signature_ok"] for r in reqs), [r["why"] for r in reqs if r["why"]][:2]
    calls = [(r["method"], re.sub(r"=[^&]+", "=", r["query"])) for r in reqs]
    parts = (size + 8 * 1024 * 1024 - 1) // (8 * 1024 * 1024)
    assert calls == ([("POST", "uploads=")] + [("PUT", "partNumber=&uploadId=")] * parts +
                     [("POST", "uploadId=")]), calls
    # parsing read the local copy: no GET of what was just sent
    assert not [r for r in reqs if r["method"] == "GET"]
    assert os.listdir(tmp_path / "var" / "tmp") == []


def test_archive_get_and_missing_keys(s3, tmp_path):
    mails, _ = gen_typical(60)
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var")
    _, res = ingest_json(cfg, mails[1])
    key = res[0]["archive_key"]
    got = dm("archive", "get", key, "--config", cfg).stdout
    want = open(s3.fetch(key, tmp_path / "obj"), "rb").read()
    assert got == want and len(got) > 100
    assert [r["method"] for r in s3.requests()][-1] == "GET"
    missing = key[:8] + "0" * 64 + ".gz"
    p = dm("archive", "get", missing, "--config", cfg, check=False)
    assert p.returncode != 0 and b"not found" in p.stderr
    # a key that is not YYYY/MM/<sha256>.<ext> never reaches a URL
    n = len(s3.requests())
    p = dm("archive", "get", "../" + key, "--config", cfg, check=False)
    assert p.returncode != 0 and len(s3.requests()) == n


def test_wrong_secret_is_refused_and_stores_nothing(s3, tmp_path):
    mails, _ = gen_typical(60)
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var", secret="not-the-secret")
    p, res = ingest_json(cfg, mails[2], check=False)
    assert p.returncode != 0
    assert res[0]["status"] == "rejected"
    assert "s3: PUT" in res[0]["error"] and "HTTP 403 SignatureDoesNotMatch" in res[0]["error"]
    assert s3.keys() == {}
    # the same input once the secret is right: stored
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var")
    _, res = ingest_json(cfg, mails[2])
    assert res[0]["status"] == "stored"
    assert list(s3.keys()) == [res[0]["archive_key"]]


def test_secret_from_file_and_never_printed(s3, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("S3RVER\n")
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var", secret="")
    with open(cfg) as f:
        text = f.read().replace("s3_secret_key = \n", "s3_secret_key_file = %s\n" % secret)
    with open(cfg, "w") as f:
        f.write(text)
    mails, _ = gen_typical(60)
    _, res = ingest_json(cfg, mails[3])
    assert res[0]["status"] == "stored"
    cfg2 = s3.config(tmp_path / "shown.conf", tmp_path / "var")
    shown = dm("config", "show", "--config", cfg2).stdout.decode()
    assert "S3RVER" in shown  # the access key is not a secret
    assert "s3_secret_key is set" in shown and "s3_secret_key =" not in shown


@pytest.mark.parametrize("setting,value,words", [
    ("s3_endpoint", "ftp://127.0.0.1:1", "s3_endpoint must be"),
    ("s3_endpoint", "http://127.0.0.1:1/path", "no path"),
    ("s3_bucket", "Bad_Bucket", "s3_bucket must be"),
    ("s3_prefix", "../up", "s3_prefix may hold only"),
    ("s3_access_key", "", "needs s3_access_key"),
])
def test_bad_settings_say_which(tmp_path, setting, value, words):
    s = S3(tmp_path / "s3")  # not started: nothing is sent
    cfg = s.config(tmp_path / "dmarcd.conf", tmp_path / "var", **{setting: value})
    p = dm("ingest", "--config", cfg, os.devnull, check=False)
    assert p.returncode != 0 and words.encode() in p.stderr, p.stderr


def deliver(cfg, mail):
    with open(mail, "rb") as f:
        body = f.read()
    dm("deliver", "--config", cfg, "--rcpt", "dmarc@reports.example", input=body)


def test_service_away_costs_nothing(tmp_path):
    """dmarcd serve with the S3 service down: mails are taken into the
    spool, stay there while PUTs fail, and are all stored (and archived)
    once the service is back, retried with back-off."""
    s3 = S3(tmp_path / "s3")
    s3.start_server()  # the proxy dmarcd talks to is down for now
    data = tmp_path / "var"
    cfg = s3.config(tmp_path / "dmarcd.conf", data)
    dm("account", "add", "any", "--catch-all", "--config", cfg)
    mails, _ = gen_typical(60)
    mails = mails[:20]
    serve = subprocess.Popen([os.environ["DMARCD_BIN"], "serve", "--config", cfg, "--smtp",
                              "127.0.0.1:%d" % free_port(), "--http", "none", "--workers", "2"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / "serve.log", "wb"))
    try:
        for m in mails:
            deliver(cfg, m)
        time.sleep(3)
        assert stats(cfg)["reports"] == 0
        spool = dm("spool", "list", "--json", "--config", cfg).stdout.decode().splitlines()
        assert len(spool) == len(mails), spool  # all kept, none failed
        assert b"stays in the spool" in open(tmp_path / "serve.log", "rb").read()
        s3.start_proxy()
        deadline = time.monotonic() + 90
        keys = {}
        while time.monotonic() < deadline:
            keys = s3.keys()
            if len(keys) == len(mails) and stats(cfg)["reports"] == len(mails):
                break
            time.sleep(0.5)
        assert len(keys) == len(mails) and stats(cfg)["reports"] == len(mails)
        deadline = time.monotonic() + 30
        while dm("spool", "list", "--config", cfg).stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert dm("spool", "list", "--config", cfg).stdout.strip() == b""
        assert serve.poll() is None, "dmarcd serve died"
    finally:
        serve.terminate()
        serve.wait(20)
        s3.stop()


def test_prune_deletes_the_objects_past_retention(s3, tmp_path):
    """`dmarcd prune` (retention_days of an [account] section) removes the
    objects of the reports it removed, by signed DELETEs, and keeps the
    others, as `aws` lists the bucket."""
    import json
    from datetime import datetime, timedelta, timezone
    from conftest import GEN
    today = datetime.now(timezone.utc).date()
    d = tmp_path / "hist"
    subprocess.run([GEN, "history", str(d), "--records", "200", "--days", "20", "--domains", "1",
                    "--end", today.isoformat(), "--seed", "5"], check=True, capture_output=True)
    files = []
    for day in sorted(os.listdir(d / "reports")):
        files += [str(d / "reports" / day / f) for f in sorted(os.listdir(d / "reports" / day))]
    cfg = s3.config(tmp_path / "dmarcd.conf", tmp_path / "var")
    with open(cfg, "a") as f:
        f.write("\n[account old]\nretention_days = 10\n")
    dm("account", "add", "old", "--catch-all", "--config", cfg)
    p = dm("ingest", "--json", "--account", "old", "--config", cfg, *files)
    res = [json.loads(ln) for ln in p.stdout.decode().splitlines() if ln.strip()]
    assert all(r["status"] == "stored" for r in res)
    cutoff = int(datetime.combine(today - timedelta(days=10), datetime.min.time(),
                                  tzinfo=timezone.utc).timestamp())
    past = {r["archive_key"] for r in res if r["end"] < cutoff}
    kept = {r["archive_key"] for r in res} - past
    assert past and kept
    assert set(s3.keys()) == past | kept
    out = json.loads(dm("prune", "--json", "--config", cfg).stdout)
    old = [a for a in out["accounts"] if a["account"] == "old"][0]
    assert old["archive_objects"] == len(past), old
    assert set(s3.keys()) == kept
    deletes = [r for r in s3.requests() if r["method"] == "DELETE"]
    assert len(deletes) == len(past) and all(r["signature_ok"] for r in deletes)
    # what is kept reads back whole
    assert_bucket_matches(s3, sorted(kept), tmp_path)
