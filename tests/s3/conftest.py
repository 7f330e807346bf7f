"""Harness for the S3 archive tests (archive = s3).

Environment (set by tests/s3/run.sh): DMARCD_BIN, DMARCD_WORK, DMARCD_GEN.

Servers, all on 127.0.0.1, each in a temporary folder and stopped by its
process id:
  s3rver       the S3 server from npm (node_modules/.bin/s3rver), one bucket
  sigv4_proxy  in front of it: checks each request's SigV4 signature and
               body hash with botocore (s3rver checks neither), logs them
dmarcd talks to the proxy; Debian's `aws` talks to s3rver directly.
"""
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

BIN = os.environ.get("DMARCD_BIN", "")
WORK = os.environ.get("DMARCD_WORK", "")
GEN = os.environ.get("DMARCD_GEN", "")
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
S3RVER = os.path.join(TOP, "node_modules", ".bin", "s3rver")
AWS = "/usr/bin/aws"
BUCKET = "dmarc-archive"
ACCESS, SECRET = "S3RVER", "S3RVER"  # s3rver's own account


def pytest_configure(config):
    missing = [n for n, v in (("DMARCD_BIN", BIN), ("DMARCD_WORK", WORK), ("DMARCD_GEN", GEN)) if not v]
    if missing:
        raise pytest.UsageError("set %s (tests/s3/run.sh does)" % ", ".join(missing))
    for path, what in ((S3RVER, "s3rver (npm ci: `make test` installs it)"),
                       (AWS, "Debian's awscli (`make test` installs it)")):
        if not os.access(path, os.X_OK):
            raise pytest.UsageError("%s is missing: %s" % (path, what))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dm(*args, check=True, timeout=120, input=None):
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError("dmarcd %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:],
                                p.stderr[-2000:]))
    return p


def ingest_json(cfg, *paths, check=True):
    p = dm("ingest", "--json", "--config", cfg, *paths, check=check)
    return p, [json.loads(ln) for ln in p.stdout.decode().splitlines() if ln.strip()]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Proc:
    """A helper process whose stdout/stderr go to a log; ready when a line
    containing `ready` appears."""

    def __init__(self, argv, log, ready, timeout=20.0, env=None):
        self.argv, self.log = argv, log
        out = open(log, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        got = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                out.write(raw)
                out.flush()
                if ready in raw.decode("utf-8", "replace"):
                    got.set()
            out.close()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not got.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(log, errors="replace") as f:
                    tail = f.read()[-3000:]
                raise AssertionError("%s not ready (exit %s):\n%s" % (argv[0], self.proc.returncode, tail))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class S3:
    """s3rver with one bucket, and the signature-checking proxy in front."""

    def __init__(self, root):
        self.root = str(root)
        self.port = free_port()
        self.proxy_port = free_port()
        self.proxy_log = os.path.join(self.root, "requests.jsonl")
        os.makedirs(os.path.join(self.root, "data"), exist_ok=True)
        self.server = None
        self.proxy = None

    def start_server(self):
        # s3rver 3.7 makes ListObjectsV2 continuation tokens (past 1,000
        # keys) with DES, which OpenSSL 3 keeps in its legacy provider
        env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
        self.server = Proc([S3RVER, "--directory", os.path.join(self.root, "data"),
                            "--address", "127.0.0.1", "--port", str(self.port),
                            "--configure-bucket", BUCKET, "--silent"],
                           os.path.join(self.root, "s3rver.log"), "listening", env=env)
        return self

    def start_proxy(self, secret=SECRET):
        self.proxy = Proc(["/usr/bin/python3", os.path.join(HERE, "sigv4_proxy.py"),
                           str(self.proxy_port), str(self.port), ACCESS, secret, self.proxy_log],
                          os.path.join(self.root, "proxy.log"), "ready")
        return self

    def stop(self):
        for p in (self.proxy, self.server):
            if p is not None:
                p.stop()

    def requests(self):
        if not os.path.exists(self.proxy_log):
            return []
        with open(self.proxy_log) as f:
            return [json.loads(ln) for ln in f if ln.strip()]

    def config(self, path, data, secret=SECRET, **extra):
        kv = {"data_dir": data, "archive": "s3",
              "s3_endpoint": "http://127.0.0.1:%d" % self.proxy_port, "s3_bucket": BUCKET,
              "s3_path_style": "yes", "s3_access_key": ACCESS, "s3_secret_key": secret}
        kv.update(extra)
        with open(path, "w") as f:
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))
        return str(path)

    def aws(self, *args, check=True):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
        p = subprocess.run([AWS, "--endpoint-url", "http://127.0.0.1:%d" % self.port] + list(args),
                           capture_output=True, text=True, env=env, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("aws %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr[-2000:]))
        return p

    def keys(self, prefix=""):
        """{key: size} of every object, as `aws s3api list-objects-v2` sees them."""
        p = self.aws("s3api", "list-objects-v2", "--bucket", BUCKET, "--output", "json")
        out = {}
        if p.stdout.strip():
            for o in json.loads(p.stdout).get("Contents", []):
                if o["Key"].startswith(prefix):
                    out[o["Key"]] = o["Size"]
        return out

    def fetch(self, key, dest):
        self.aws("s3", "cp", "--only-show-errors", "s3://%s/%s" % (BUCKET, key), str(dest))
        return str(dest)


@pytest.fixture
def s3(tmp_path):
    s = S3(tmp_path / "s3")
    s.start_server()
    s.start_proxy()
    yield s
    s.stop()


_gen_lock = threading.Lock()


def gen_typical(n, seed=1):
    """`gen typical --mails n` once per run: (mail paths, expected)."""
    d = os.path.join(WORK, "typical-%d-%d" % (n, seed))
    with _gen_lock:
        if not os.path.exists(os.path.join(d, "expected.json")):
            subprocess.run([GEN, "typical", d, "--mails", str(n), "--seed", str(seed)], check=True,
                           capture_output=True)
    mails = sorted(os.path.join(d, "mails", f) for f in os.listdir(os.path.join(d, "mails")))
    with open(os.path.join(d, "expected.json")) as f:
        return mails, json.load(f)


def stats(cfg):
    p = dm("stats", "--json", "--config", cfg)
    d = json.loads(p.stdout)
    return {k: d[k] for k in ("reports", "records", "messages")}
