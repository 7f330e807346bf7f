#!/usr/bin/python3
"""sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET LOG_FILE

A reverse proxy on 127.0.0.1 in front of s3rver that does what s3rver does
not: it checks every request's AWS Signature Version 4 the way S3 does,
with botocore's own signer (the copy inside Debian's awscli package, an
implementation independent of libcurl's), and checks that the body's
SHA-256 is the x-amz-content-sha256 the signature covers.  A request that
fails either check is answered 403 SignatureDoesNotMatch (or 400
XAmzContentSHA256Mismatch) like S3 would, and never reaches s3rver.

Every request is logged to LOG_FILE as one JSON line: method, path,
query, status and whether its signature was right, so the tests can say
what dmarcd sent (how many PUTs, whether it ever fetched back what it had
just written).
"""
import hashlib
import http.client
import http.server
import json
import sys
import threading
import urllib.parse

import awscli  # noqa: F401  (makes its bundled botocore importable as botocore)
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
ACCESS, SECRET = sys.argv[3], sys.argv[4]
LOG = open(sys.argv[5], "a", buffering=1)
LOG_LOCK = threading.Lock()


def check_signature(method, path, headers, body):
    """None when the request is signed right, else why not."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "not signed with AWS4-HMAC-SHA256"
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        ak, day, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        given = fields["Signature"]
    except (KeyError, ValueError):
        return "malformed Authorization"
    amz_date = headers.get("X-Amz-Date", "")
    if ak != ACCESS or service != "s3" or term != "aws4_request" or day != amz_date[:8]:
        return "bad credential scope %s" % fields["Credential"]
    for must in ("host", "x-amz-date", "x-amz-content-sha256"):
        if must not in signed:
            return "%s is not signed" % must
    lower = {k.lower(): v for k, v in headers.items()}
    req = AWSRequest(method=method, url="http://%s%s" % (lower["host"], path),
                     headers={h: lower.get(h, "") for h in signed}, data=body)
    signer = S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", region)
    req.context["timestamp"] = amz_date
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    if expected != given:
        return "signature mismatch; canonical request was:\n" + canonical
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        why = check_signature(self.command, self.path, self.headers, body)
        status = None
        if why:
            status = 403
            err = b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code></Error>"
            self.answer(403, err, [("Content-Type", "application/xml")])
        elif hashlib.sha256(body).hexdigest() != self.headers.get("x-amz-content-sha256"):
            status = 400
            why = "body does not match x-amz-content-sha256"
            err = b"<?xml version=\"1.0\"?><Error><Code>XAmzContentSHA256Mismatch</Code></Error>"
            self.answer(400, err, [("Content-Type", "application/xml")])
        else:
            conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
            fwd = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "expect", "content-length")}
            fwd["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            hdrs = [(k, v) for k, v in resp.getheaders()
                    if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                         "keep-alive")]
            conn.close()
            self.answer(status, data, hdrs)
        with LOG_LOCK:
            LOG.write(json.dumps({"method": self.command, "path": url.path, "query": url.query,
                                  "status": status, "bytes": len(body),
                                  "signature_ok": why is None, "why": why}) + "\n")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
