/*
 * archive_s3.c - the archive in an S3-compatible bucket (AWS S3, R2, Ceph
 * RGW, MinIO): libcurl with its own AWS Signature Version 4.
 *
 * Functions: the archive_s3_ops table.
 *
 * An attachment is the object <s3_prefix><key>, key "YYYY/MM/<sha256>.<ext>"
 * as for every backend.  The key is the SHA-256 of the bytes, known only
 * once the last byte is in, so a writer keeps the bytes until commit: in
 * memory up to DM_S3_PART_BYTES, beyond that in an unlinked temporary file
 * under <data_dir>/tmp/.  Commit then sends one PUT, or a multipart upload
 * (parts of DM_S3_PART_BYTES read from that file) for a bigger one.  Every
 * request carries the SHA-256 of its body in x-amz-content-sha256, which
 * the signature covers and the service checks, so a body damaged on the
 * way is refused, not stored.  The same bytes sent again go to the same
 * key: a retry rewrites the same object, nothing is counted twice.  PUT
 * and CompleteMultipartUpload answer 200 only once the object is stored
 * durably, so archive_sync has nothing left to do.
 *
 * Nothing just written is fetched back: the temporary file of a big
 * attachment is kept after its commit (DM_S3_KEEP of them, the oldest
 * dropped first) and archive_blob_open() of that key reads it; only
 * other keys (`dmarcd archive get`, the API's raw download) are fetched
 * with GET, into an unlinked temporary file.
 *
 * Connections: a small pool of curl easy handles, each keeping its
 * connection alive between requests.  A request that fails (no
 * connection, a timeout, an answer other than 200) fails the commit with
 * the service's words; the caller keeps its input and tries again later
 * (the spool's back-off).  Logs nothing; errors are returned.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/limits.h"
#include "common/xalloc.h"

#define S3_POOL (DM_MAX_JOBS + 8) /* easy handles kept, one per concurrent writer */
#define S3_BODY_MAX (64 * 1024)   /* of an answer we read (errors, UploadId) */
#define S3_URL_MAX 2048
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The temporary file of a big attachment, kept after its commit. */
struct kept {
	char key[DM_ARCHIVE_KEY_MAX];
	int fd;
};

struct s3 {
	char base[S3_URL_MAX]; /* scheme://host[:port]/[bucket/] */
	char prefix[256];
	char sigv4[128]; /* "aws:amz:REGION:s3" */
	char user[256], secret[256];
	char tmpdir[PATH_MAX - 64];
	pthread_mutex_t lock;
	CURL *pool[S3_POOL];
	int npool;
	struct kept kept[DM_S3_KEEP];
	unsigned nkept, next_kept;
};

struct archive_writer {
	struct archive *a; /* first: see archive.c */
	time_t received;
	struct dm_sha256 *h;
	unsigned char *mem; /* the bytes, or a part's buffer once spilled */
	size_t len, cap;
	int fd; /* the spill file, -1 while everything fits in mem */
	uint64_t total;
	int rc;
};

struct archive_blob {
	struct archive *a; /* first: see archive.c */
	int fd;
	struct dm_pread_reader pr;
	struct dm_reader r;
};

/* ---- settings ------------------------------------------------------------ */

static int
all_of(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define DIGIT "0123456789"

/* The secret: s3_secret_key, or the first line of s3_secret_key_file. */
static int
read_secret(const struct dm_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
	if (cfg->s3_secret_key[0]) {
		snprintf(out, outlen, "%s", cfg->s3_secret_key);
		return 0;
	}
	if (!cfg->s3_secret_key_file[0]) {
		snprintf(err, errlen, "archive = s3 needs s3_secret_key or s3_secret_key_file");
		return DM_EUSAGE;
	}
	FILE *f = fopen(cfg->s3_secret_key_file, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read s3_secret_key_file %s: %s",
		         cfg->s3_secret_key_file, strerror(errno));
		return DM_EUSAGE;
	}
	char line[512];
	int ok = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	line[ok ? strcspn(line, "\r\n") : 0] = '\0';
	if (!line[0] || strlen(line) >= outlen) {
		snprintf(err, errlen, "s3_secret_key_file %s: no key on its first line",
		         cfg->s3_secret_key_file);
		return DM_EUSAGE;
	}
	snprintf(out, outlen, "%s", line);
	explicit_bzero(line, sizeof line);
	return 0;
}

/* base = scheme://host[:port]/ (path style: .../bucket/, else
 * scheme://bucket.host[:port]/), from settings checked here. */
static int
make_base(struct s3 *s, const struct dm_config *cfg, char *err, size_t errlen)
{
	const char *ep = cfg->s3_endpoint, *host;
	int https = strncmp(ep, "https://", 8) == 0;
	if (https)
		host = ep + 8;
	else if (strncmp(ep, "http://", 7) == 0)
		host = ep + 7;
	else {
		snprintf(err, errlen, "s3_endpoint must be https://HOST[:PORT] (got '%s')", ep);
		return DM_EUSAGE;
	}
	size_t hl = strcspn(host, "/");
	if (hl == 0 || !(host[hl] == '\0' || (host[hl] == '/' && host[hl + 1] == '\0')) ||
	    host[strspn(host, LOWER DIGIT "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:[]")] != host[hl]) {
		snprintf(err, errlen,
		         "s3_endpoint must be https://HOST[:PORT] with no path (got '%s')", ep);
		return DM_EUSAGE;
	}
	const char *b = cfg->s3_bucket;
	size_t bl = strlen(b);
	if (bl < 3 || bl > 63 || !all_of(b, LOWER DIGIT ".-") || b[0] == '.' || b[0] == '-') {
		snprintf(err, errlen, "s3_bucket must be 3 to 63 of a-z 0-9 . - (got '%s')", b);
		return DM_EUSAGE;
	}
	if (!all_of(cfg->s3_prefix, LOWER DIGIT "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-/") ||
	    cfg->s3_prefix[0] == '/' || strstr(cfg->s3_prefix, "..")) {
		snprintf(err, errlen,
		         "s3_prefix may hold only letters, digits and . _ - / (got '%s')",
		         cfg->s3_prefix);
		return DM_EUSAGE;
	}
	const char *region = cfg->s3_region;
	if (!region[0] || !all_of(region, LOWER DIGIT "-")) {
		snprintf(err, errlen, "s3_region must be like us-east-1 (got '%s')", region);
		return DM_EUSAGE;
	}
	if (!cfg->s3_access_key[0] || strchr(cfg->s3_access_key, ':')) {
		snprintf(err, errlen, "archive = s3 needs s3_access_key");
		return DM_EUSAGE;
	}
	int n;
	if (strcmp(cfg->s3_path_style, "yes") == 0)
		n = snprintf(s->base, sizeof s->base, "%s://%.*s/%s/", https ? "https" : "http",
		             (int)hl, host, b);
	else
		n = snprintf(s->base, sizeof s->base, "%s://%s.%.*s/", https ? "https" : "http", b,
		             (int)hl, host);
	if (n < 0 || (size_t)n >= sizeof s->base) {
		snprintf(err, errlen, "s3_endpoint too long");
		return DM_EUSAGE;
	}
	snprintf(s->prefix, sizeof s->prefix, "%s", cfg->s3_prefix);
	snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
	snprintf(s->user, sizeof s->user, "%s", cfg->s3_access_key);
	return 0;
}

static int
s3_open(struct archive *a, const struct dm_config *cfg, char *err, size_t errlen)
{
	struct s3 *s = xcalloc(1, sizeof *s);
	int rc = make_base(s, cfg, err, errlen);
	if (rc == 0)
		rc = read_secret(cfg, s->secret, sizeof s->secret, err, errlen);
	int n = snprintf(s->tmpdir, sizeof s->tmpdir, "%s/tmp", cfg->data_dir);
	if (rc == 0 && (n < 0 || (size_t)n >= sizeof s->tmpdir)) {
		snprintf(err, errlen, "data directory path too long");
		rc = DM_EINVAL;
	}
	if (rc == 0 && dm_mkdir_p(s->tmpdir, 0750) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", s->tmpdir, strerror(errno));
		rc = DM_EIO;
	}
	if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		rc = DM_EIO;
	}
	if (rc) {
		explicit_bzero(s->secret, sizeof s->secret);
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->lock, NULL);
	a->impl = s;
	return 0;
}

static void
s3_close(struct archive *a)
{
	struct s3 *s = a->impl;
	for (int i = 0; i < s->npool; i++)
		curl_easy_cleanup(s->pool[i]);
	for (unsigned i = 0; i < s->nkept; i++)
		close(s->kept[i].fd);
	pthread_mutex_destroy(&s->lock);
	explicit_bzero(s->secret, sizeof s->secret);
	free(s);
}

/* ---- requests ------------------------------------------------------------ */

static CURL *
handle_take(struct s3 *s)
{
	CURL *h = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->npool > 0)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->lock);
	return h ? h : curl_easy_init();
}

static void
handle_give(struct s3 *s, CURL *h)
{
	pthread_mutex_lock(&s->lock);
	if (s->npool < S3_POOL) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* What a request sends and what it keeps of the answer. */
struct req {
	const char *method; /* PUT POST GET DELETE */
	const char *url;
	const char *sha256; /* of the body */
	/* the body: memory, or a file's [off, off + len) */
	const unsigned char *body;
	int body_fd;
	uint64_t body_off, body_len, sent;
	/* the answer: into out_fd (GET), or its first S3_BODY_MAX bytes */
	int out_fd;
	int out_failed;
	char answer[S3_BODY_MAX + 1];
	size_t nanswer;
	char etag[128];
	long status;
};

static size_t
on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct req *r = arg;
	size_t want = size * nitems;
	uint64_t left = r->body_len - r->sent;
	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (r->body) {
		memcpy(buf, r->body + r->sent, want);
	} else {
		ssize_t n;
		do
			n = pread(r->body_fd, buf, want, (off_t)(r->body_off + r->sent));
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)n;
	}
	r->sent += want;
	return want;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	if (r->out_fd >= 0 && r->status == 200) {
		if (dm_write_all(r->out_fd, p, n) != 0) {
			r->out_failed = 1;
			return 0;
		}
		return n;
	}
	size_t room = S3_BODY_MAX - r->nanswer;
	size_t k = n < room ? n : room;
	memcpy(r->answer + r->nanswer, p, k);
	r->nanswer += k;
	r->answer[r->nanswer] = '\0';
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nitems, void *arg)
{
	struct req *r = arg;
	size_t n = size * nitems;
	if (n > 9 && strncasecmp(p, "HTTP/", 5) == 0) {
		/* a new answer (after 100 Continue): its own status */
		const char *sp = memchr(p, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
	} else if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		size_t i = 5, e = n;
		while (i < e && (p[i] == ' ' || p[i] == '\t'))
			i++;
		while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
			e--;
		if (e - i < sizeof r->etag) {
			memcpy(r->etag, p + i, e - i);
			r->etag[e - i] = '\0';
		}
	}
	return n;
}

/* The text of an S3 error answer's <Code>, or "". */
static void
error_code(const char *answer, char *out, size_t outlen)
{
	const char *b = strstr(answer, "<Code>"), *e;
	out[0] = '\0';
	if (b && (e = strstr(b + 6, "</Code>")) != NULL && (size_t)(e - (b + 6)) < outlen) {
		memcpy(out, b + 6, (size_t)(e - (b + 6)));
		out[e - (b + 6)] = '\0';
		if (!all_of(out, LOWER DIGIT "ABCDEFGHIJKLMNOPQRSTUVWXYZ."))
			out[0] = '\0'; /* the answer's words reach logs: only a plain code */
	}
}

/* Send r; 0 when it was answered 200 (and, for CompleteMultipartUpload,
 * with no <Error> in the answer), else DM_EIO with why in err. */
static int
request(struct s3 *s, struct req *r, const char *what, char *err, size_t errlen)
{
	CURL *h = handle_take(s);
	if (!h) {
		snprintf(err, errlen, "s3: %s: cannot create a request", what);
		return DM_EIO;
	}
	char sha[128];
	struct curl_slist *hdr = NULL;
	snprintf(sha, sizeof sha, "x-amz-content-sha256: %s", r->sha256);
	/* no "Expect:" to save the 100-continue round trip: libcurl 7.88
	 * would sign that empty header, which the service never sees */
	hdr = curl_slist_append(hdr, sha);
	r->status = 0;
	r->nanswer = 0;
	r->answer[0] = '\0';
	r->etag[0] = '\0';
	r->sent = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)DM_S3_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)DM_S3_STALL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	curl_slist_free_all(hdr);
	handle_give(s, h);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "s3: %s: %s", what,
		         r->out_failed ? "cannot write the local copy" : curl_easy_strerror(cc));
		return DM_EIO;
	}
	/* a DELETE is answered 204 No Content */
	int ok = status == 200 || (status == 204 && strcmp(r->method, "DELETE") == 0);
	if (!ok || strstr(r->answer, "<Error>") != NULL) {
		char code[64];
		error_code(r->answer, code, sizeof code);
		snprintf(err, errlen, "s3: %s: HTTP %ld%s%s", what, status, code[0] ? " " : "",
		         code);
		return status == 404 ? DM_ENOTFOUND : DM_EIO;
	}
	return 0;
}

static int
object_url(const struct s3 *s, const char *key, const char *query, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s%s%s", s->base, s->prefix, key, query);
	return n < 0 || (size_t)n >= outlen ? DM_EINVAL : 0;
}

/* Percent-encode v (an UploadId) for a query: what SigV4's canonical form
 * also has, so the URL is already canonical. */
static int
query_escape(const char *v, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (o + 4 > outlen)
			return DM_ELIMIT;
		if (strchr(LOWER DIGIT "ABCDEFGHIJKLMNOPQRSTUVWXYZ-._~", *p) && *p) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

static void
sha256_hex(const void *p, size_t n, char out[DM_SHA256_HEX])
{
	struct dm_sha256 *h = dm_sha256_new();
	dm_sha256_update(h, p, n);
	dm_sha256_final_hex(h, out);
	dm_sha256_free(h);
}

/* ---- writing ------------------------------------------------------------- */

static struct archive_writer *
s3_put_begin(struct archive *a, time_t received)
{
	struct archive_writer *w = xcalloc(1, sizeof *w);
	w->a = a;
	w->received = received;
	w->h = dm_sha256_new();
	w->fd = -1;
	return w;
}

/* A new unlinked temporary file under <data_dir>/tmp. */
static int
temp_file(const struct s3 *s)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/s3-XXXXXX", s->tmpdir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static int
s3_put_write(struct archive_writer *w, const void *p, size_t len)
{
	struct s3 *s = w->a->impl;
	if (w->rc)
		return w->rc;
	dm_sha256_update(w->h, p, len);
	w->total += len;
	if (w->fd < 0 && w->len + len <= DM_S3_PART_BYTES) {
		if (w->len + len > w->cap) {
			size_t cap = w->cap ? w->cap : 64 * 1024;
			while (cap < w->len + len)
				cap *= 2;
			if (cap > DM_S3_PART_BYTES)
				cap = DM_S3_PART_BYTES;
			w->mem = xrealloc(w->mem, cap);
			w->cap = cap;
		}
		memcpy(w->mem + w->len, p, len);
		w->len += len;
		return 0;
	}
	if (w->fd < 0) { /* bigger than a part: on to a file */
		w->fd = temp_file(s);
		if (w->fd < 0 || dm_write_all(w->fd, w->mem, w->len) != 0)
			return w->rc = dm_errno_code(errno);
	}
	if (dm_write_all(w->fd, p, len) != 0)
		return w->rc = dm_errno_code(errno);
	return 0;
}

static void
s3_put_abort(struct archive_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	dm_sha256_free(w->h);
	free(w->mem);
	free(w);
}

/* Keep the spill file of key for a read-back (see the top). */
static void
keep(struct s3 *s, const char *key, int fd)
{
	int drop = -1;
	pthread_mutex_lock(&s->lock);
	struct kept *k;
	if (s->nkept < DM_S3_KEEP) {
		k = &s->kept[s->nkept++];
	} else {
		k = &s->kept[s->next_kept];
		s->next_kept = (s->next_kept + 1) % DM_S3_KEEP;
		drop = k->fd;
	}
	snprintf(k->key, sizeof k->key, "%s", key);
	k->fd = fd;
	pthread_mutex_unlock(&s->lock);
	if (drop >= 0)
		close(drop);
}

static int
multipart(struct s3 *s, struct archive_writer *w, const char *key, char *err, size_t errlen)
{
	char url[S3_URL_MAX], id[512], eid[1536], q[1600], what[256];
	struct req *r = xcalloc(1, sizeof *r);
	struct dm_buf done;
	int rc;
	dm_buf_init(&done, 1024 * 1024);
	r->out_fd = -1;

	/* start: the answer names the upload */
	snprintf(what, sizeof what, "start multipart upload of %s", key);
	rc = object_url(s, key, "?uploads=", url, sizeof url);
	r->method = "POST";
	r->url = url;
	r->sha256 = EMPTY_SHA256;
	if (rc == 0)
		rc = request(s, r, what, err, errlen);
	const char *b = rc == 0 ? strstr(r->answer, "<UploadId>") : NULL;
	const char *e = b ? strstr(b, "</UploadId>") : NULL;
	if (rc == 0 && (!e || (size_t)(e - b - 10) >= sizeof id || e == b + 10)) {
		snprintf(err, errlen, "s3: %s: no UploadId in the answer", what);
		rc = DM_EIO;
	}
	if (rc) {
		free(r);
		dm_buf_free(&done);
		return rc;
	}
	memcpy(id, b + 10, (size_t)(e - b - 10));
	id[e - b - 10] = '\0';
	rc = query_escape(id, eid, sizeof eid);

	/* the parts, read back from the local file one at a time */
	if (rc == 0 && w->cap < DM_S3_PART_BYTES) {
		w->mem = xrealloc(w->mem, DM_S3_PART_BYTES);
		w->cap = DM_S3_PART_BYTES;
	}
	if (rc == 0 && dm_buf_adds(&done, "<CompleteMultipartUpload>") != 0)
		rc = DM_ELIMIT;
	unsigned part = 0;
	for (uint64_t off = 0; rc == 0 && off < w->total; off += DM_S3_PART_BYTES) {
		size_t n = w->total - off < DM_S3_PART_BYTES ? (size_t)(w->total - off)
		                                             : DM_S3_PART_BYTES;
		if (dm_pread_all(w->fd, w->mem, n, (long long)off) != 0) {
			snprintf(err, errlen, "s3: reading back the local copy: %s",
			         strerror(errno));
			rc = DM_EIO;
			break;
		}
		char sha[DM_SHA256_HEX];
		sha256_hex(w->mem, n, sha);
		part++;
		snprintf(q, sizeof q, "?partNumber=%u&uploadId=%s", part, eid);
		rc = object_url(s, key, q, url, sizeof url);
		snprintf(what, sizeof what, "part %u of %s", part, key);
		memset(r, 0, sizeof *r);
		r->method = "PUT";
		r->url = url;
		r->sha256 = sha;
		r->body = w->mem;
		r->body_len = n;
		r->out_fd = -1;
		if (rc == 0)
			rc = request(s, r, what, err, errlen);
		if (rc == 0 && (!r->etag[0] || strpbrk(r->etag, "<>&"))) {
			snprintf(err, errlen, "s3: %s: no ETag in the answer", what);
			rc = DM_EIO;
		}
		if (rc == 0 &&
		    dm_buf_printf(&done, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
		                  part, r->etag) != 0)
			rc = DM_ELIMIT;
	}
	if (rc == 0 && dm_buf_adds(&done, "</CompleteMultipartUpload>") != 0)
		rc = DM_ELIMIT;

	/* complete, or give the parts up */
	snprintf(q, sizeof q, "?uploadId=%s", eid);
	if (object_url(s, key, q, url, sizeof url) != 0)
		rc = rc ? rc : DM_EINVAL;
	memset(r, 0, sizeof *r);
	r->url = url;
	r->out_fd = -1;
	if (rc == 0) {
		char sha[DM_SHA256_HEX];
		sha256_hex(done.data, done.len, sha);
		snprintf(what, sizeof what, "complete multipart upload of %s", key);
		r->method = "POST";
		r->sha256 = sha;
		r->body = (const unsigned char *)done.data;
		r->body_len = done.len;
		rc = request(s, r, what, err, errlen);
	} else {
		char ignored[64];
		r->method = "DELETE";
		r->sha256 = EMPTY_SHA256;
		(void)request(s, r, "abort multipart upload", ignored, sizeof ignored);
	}
	free(r);
	dm_buf_free(&done);
	return rc;
}

static int
s3_put_commit(struct archive_writer *w, const char *ext, char *key, size_t keylen,
              char hash[DM_SHA256_HEX], char *err, size_t errlen)
{
	struct s3 *s = w->a->impl;
	int rc = w->rc;
	struct tm tm;
	gmtime_r(&w->received, &tm);
	dm_sha256_final_hex(w->h, hash);
	int n = snprintf(key, keylen, "%04d/%02d/%s.%s", tm.tm_year + 1900, tm.tm_mon + 1, hash,
	                 ext);
	if (rc == 0 && (n < 0 || (size_t)n >= keylen))
		rc = DM_EINVAL;
	if (rc) {
		snprintf(err, errlen, "s3: keeping %s until it is sent: %s", key, dm_strerror(rc));
	} else if (w->fd < 0) {
		char url[S3_URL_MAX], what[192];
		struct req *r = xcalloc(1, sizeof *r);
		snprintf(what, sizeof what, "PUT %s", key);
		rc = object_url(s, key, "", url, sizeof url);
		r->method = "PUT";
		r->url = url;
		r->sha256 = hash; /* the body is the whole attachment */
		r->body = w->mem ? w->mem : (const unsigned char *)"";
		r->body_len = w->len;
		r->out_fd = -1;
		if (rc == 0)
			rc = request(s, r, what, err, errlen);
		free(r);
	} else {
		rc = multipart(s, w, key, err, errlen);
		if (rc == 0) {
			keep(s, key, w->fd);
			w->fd = -1;
		}
	}
	s3_put_abort(w); /* frees the writer */
	return rc;
}

/* ---- reading ------------------------------------------------------------- */

static int
s3_blob_open(struct archive *a, const char *key, struct archive_blob **out)
{
	struct s3 *s = a->impl;
	int y, m, fd = -1, rc = 0;
	if (strlen(key) >= DM_ARCHIVE_KEY_MAX || archive_key_parse(key, &y, &m) != 0)
		return DM_EINVAL;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nkept; i++) {
		if (s->kept[i].fd >= 0 && strcmp(s->kept[i].key, key) == 0) {
			fd = s->kept[i].fd; /* taken: read once */
			s->kept[i].fd = -1;
			s->kept[i].key[0] = '\0';
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (fd < 0) {
		char url[S3_URL_MAX], err[256];
		fd = temp_file(s);
		if (fd < 0)
			return dm_errno_code(errno);
		struct req *r = xcalloc(1, sizeof *r);
		r->method = "GET";
		r->url = url;
		r->sha256 = EMPTY_SHA256;
		r->out_fd = fd;
		rc = object_url(s, key, "", url, sizeof url);
		if (rc == 0)
			rc = request(s, r, "GET", err, sizeof err);
		free(r);
		if (rc) {
			close(fd);
			return rc;
		}
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return DM_EIO;
	}
	struct archive_blob *b = xcalloc(1, sizeof *b);
	b->a = a;
	b->fd = fd;
	dm_reader_pread(&b->r, &b->pr, fd, 0, (unsigned long long)st.st_size);
	*out = b;
	return 0;
}

static struct dm_reader *
s3_blob_reader(struct archive_blob *b)
{
	return &b->r;
}

static void
s3_blob_close(struct archive_blob *b)
{
	close(b->fd);
	free(b);
}

/* ---- removing (dmarcd prune) ------------------------------------------------ */

/* DELETE each key; one that is not there (404, or a 204 for a key S3
 * never had) counts as removed.  Sizes are not known without a HEAD
 * each: *bytes stays 0. */
static int
s3_remove(struct archive *a, const char *const *keys, size_t n, uint64_t *objects,
          uint64_t *bytes, char *err, size_t errlen)
{
	struct s3 *s = a->impl;
	(void)bytes;
	for (size_t i = 0; i < n; i++) {
		int y, m;
		if (strlen(keys[i]) >= DM_ARCHIVE_KEY_MAX || archive_key_parse(keys[i], &y, &m) != 0)
			continue; /* never a key of ours: nothing to remove */
		char url[S3_URL_MAX], what[192];
		struct req *r = xcalloc(1, sizeof *r);
		snprintf(what, sizeof what, "DELETE %s", keys[i]);
		r->method = "DELETE";
		r->url = url;
		r->sha256 = EMPTY_SHA256;
		r->out_fd = -1;
		int rc = object_url(s, keys[i], "", url, sizeof url);
		if (rc == 0)
			rc = request(s, r, what, err, errlen);
		free(r);
		if (rc == DM_ENOTFOUND)
			rc = 0;
		if (rc)
			return rc;
		(*objects)++;
	}
	return 0;
}

static int
s3_sync(struct archive *a)
{
	(void)a; /* every commit was answered 200: stored durably */
	return 0;
}

const struct archive_ops archive_s3_ops = {
        .name = "s3",
        .open = s3_open,
        .close = s3_close,
        .put_begin = s3_put_begin,
        .put_write = s3_put_write,
        .put_commit = s3_put_commit,
        .put_abort = s3_put_abort,
        .blob_open = s3_blob_open,
        .blob_reader = s3_blob_reader,
        .blob_close = s3_blob_close,
        .sync = s3_sync,
        .remove = s3_remove,
};
