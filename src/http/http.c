/*
 * http.c - the HTTP server of `dmarcd serve`: one evhttp loop on a thread
 * of its own, and query threads that run the API's handlers.
 *
 * Public: http_server_start, http_server_stop.  Private (api.h): the
 * struct http_out functions the handlers write through.
 *
 *   client --request--> loop: limits (connections, rate), auth, route,
 *                             parameters; static files, /metrics here
 *                         |  job
 *                         v
 *                       query thread: handler -> store reader -> out_write
 *                         |  bytes (at most DM_HTTP_MAX_PENDING_OUT unsent)
 *                         v
 *                       loop: evhttp_send_reply / chunks -> client
 *
 * A job's output passes through job->pending under job->mu; the loop
 * takes it when the job's event fires and hands it to evhttp, whose write
 * callback tells the thread the client took it (flow control).  When the
 * client goes away, evhttp detaches the request and calls the
 * connection's close callback: the job is marked gone, the thread stops
 * at its next write, and the loop frees the request with
 * evhttp_send_reply_end().  Nothing but the loop touches evhttp.
 *
 * Logs (component "http"): start-up, a thread that cannot open its store
 * reader, refusals for limits.  Every answer is counted in /metrics.
 */
#include "http/http.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <zlib.h>

#include "common/fsutil.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "http/api.h"

#define HTTP_FLUSH (64 * 1024) /* hand output to the loop in pieces of this */
#define HTTP_MAX_HEADERS_OUT 8 /* headers a handler sets */
#define HTTP_MAX_STATIC 64     /* files of the dashboard */
#define HTTP_MAX_STATIC_BYTES (8 * 1024 * 1024)
#define HTTP_CONN_BUCKETS 256

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                          "base-uri 'none'; form-action 'none'";

struct http_conn;
struct http_server;

/* A query thread. */
struct qthread {
	struct http_server *h;
	pthread_t thr;
	struct api_thread t;
};

struct job {
	struct http_server *h;
	struct evhttp_request *req; /* the loop's; NULL once answered */
	struct http_conn *conn;
	api_handler fn;
	struct api_call call;
	struct job *next;
	struct event *ev; /* "output to deliver", fired by the thread */
	/* shared with the query thread */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int status;
	char ctype[64];
	char *hname[HTTP_MAX_HEADERS_OUT], *hvalue[HTTP_MAX_HEADERS_OUT];
	unsigned nheaders;
	struct evbuffer *pending; /* written, not yet given to evhttp */
	size_t unsent;            /* pending + what evhttp has not written yet */
	int finished;             /* the handler returned */
	int aborted;              /* cut the answer short */
	int gone;                 /* the client went away */
	int started;              /* loop: the reply has begun (chunked) */
	int wrote;                /* thread: the body has begun */
};

struct http_out {
	struct job job;
};

struct http_conn {
	struct evhttp_connection *evcon;
	char ip[64];
	struct job *job; /* the job answering its request now */
	struct http_conn *next;
};

struct static_file {
	char path[128]; /* "/app.js" */
	const char *type;
	unsigned char *data, *gz;
	size_t len, gzlen;
	char etag[24];
};

struct rate_entry {
	char key[72]; /* "t:<token id>" or "a:<address>" */
	double tokens;
	double last; /* monotonic seconds */
};

struct http_server {
	struct http_config cfg;
	struct http_hooks hooks;
	struct event_base *base;
	struct evhttp *http;
	pthread_t loop_thr;
	int loop_started;
	struct event *ev_stop;
	/* query threads */
	struct qthread *threads;
	unsigned nthr;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct job *qhead, **qtail;
	unsigned queued;
	int quit;
	/* connections (loop only) */
	struct http_conn *conns[HTTP_CONN_BUCKETS];
	unsigned nconns;
	/* rate limits (loop only) */
	struct rate_entry *rates;
	size_t nrates;
	/* the dashboard */
	struct static_file files[HTTP_MAX_STATIC];
	size_t nfiles;
};

/* ---- answers on the loop ---------------------------------------------------------- */

static void
common_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
}

static const char *
reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return code < 400 ? "OK" : "Error";
	}
}

/* A whole JSON error answer from the loop. */
static void
send_error(struct evhttp_request *req, int code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	struct dm_buf s;
	dm_buf_init(&s, 4096);
	if (dm_json_escape(&s, msg, strlen(msg)) != 0)
		dm_buf_reset(&s);
	evbuffer_add_printf(b, "{\"error\":%s}\n", s.len ? s.data : "\"error\"");
	dm_buf_free(&s);
	common_headers(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (code == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer");
	dm_metric_http(code);
	evhttp_send_reply(req, code, reason(code), b);
	evbuffer_free(b);
}

/* ---- connections: counted at their first request ------------------------------------ */

static unsigned
conn_bucket(const struct evhttp_connection *evcon)
{
	uintptr_t v = (uintptr_t)evcon;
	return (unsigned)((v >> 4) ^ (v >> 12)) % HTTP_CONN_BUCKETS;
}

static struct http_conn *
conn_find(struct http_server *h, struct evhttp_connection *evcon)
{
	for (struct http_conn *c = h->conns[conn_bucket(evcon)]; c; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static unsigned
conns_from(struct http_server *h, const char *ip)
{
	unsigned n = 0;
	for (unsigned b = 0; b < HTTP_CONN_BUCKETS; b++)
		for (struct http_conn *c = h->conns[b]; c; c = c->next)
			n += strcmp(c->ip, ip) == 0;
	return n;
}

static void job_gone(struct job *j);

static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_server *h = arg;
	struct http_conn **pp = &h->conns[conn_bucket(evcon)];
	while (*pp && (*pp)->evcon != evcon)
		pp = &(*pp)->next;
	struct http_conn *c = *pp;
	if (c == NULL)
		return;
	*pp = c->next;
	h->nconns--;
	if (c->job != NULL)
		job_gone(c->job);
	free(c);
}

/* The connection of req, registered at its first request; NULL when a
 * limit refuses it (the answer is sent). */
static struct http_conn *
conn_of(struct http_server *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon == NULL)
		return NULL;
	struct http_conn *c = conn_find(h, evcon);
	if (c != NULL)
		return c;
	char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evcon, &addr, &port);
	const char *ip = addr ? addr : "";
	if (h->nconns >= h->cfg.max_conns || conns_from(h, ip) >= h->cfg.max_per_ip) {
		dm_log(DM_LOG_INFO, "http", "%s: connection refused: too many open", ip);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		send_error(req, 503, "too many connections");
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->evcon = evcon;
	snprintf(c->ip, sizeof c->ip, "%s", ip);
	unsigned b = conn_bucket(evcon);
	c->next = h->conns[b];
	h->conns[b] = c;
	h->nconns++;
	evhttp_connection_set_closecb(evcon, conn_closed, h);
	return c;
}

/* ---- rate limits: token buckets per token and per address --------------------------- */

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Take one request from key's bucket; 0 when allowed, else the seconds
 * to wait. */
static unsigned
rate_take(struct http_server *h, const char *key, double rate, double burst)
{
	double now = now_s();
	size_t cap = DM_HTTP_RATE_CLIENTS, oldest = 0;
	uint32_t hv = 2166136261u;
	for (const char *p = key; *p; p++)
		hv = (hv ^ (unsigned char)*p) * 16777619u;
	/* open addressing over a window of 8 slots; a full window forgets its
	 * least recently seen client */
	for (size_t k = 0; k < 8; k++) {
		size_t i = (hv + k) % cap;
		struct rate_entry *e = &h->rates[i];
		if (e->key[0] == '\0' || strcmp(e->key, key) == 0) {
			if (e->key[0] == '\0') {
				snprintf(e->key, sizeof e->key, "%s", key);
				e->tokens = burst;
				e->last = now;
			}
			e->tokens += (now - e->last) * rate;
			if (e->tokens > burst)
				e->tokens = burst;
			e->last = now;
			if (e->tokens >= 1) {
				e->tokens -= 1;
				return 0;
			}
			return (unsigned)((1 - e->tokens) / rate) + 1;
		}
		if (k == 0 || e->last < h->rates[oldest].last)
			oldest = i;
	}
	struct rate_entry *e = &h->rates[oldest];
	snprintf(e->key, sizeof e->key, "%s", key);
	e->tokens = burst - 1;
	e->last = now;
	return 0;
}

static int
limited(struct http_server *h, struct evhttp_request *req, const char *key, double rate,
        double burst)
{
	unsigned wait = rate_take(h, key, rate, burst);
	if (wait == 0)
		return 0;
	char s[16];
	snprintf(s, sizeof s, "%u", wait);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", s);
	send_error(req, 429, "too many requests");
	return 1;
}

/* ---- the dashboard's files ------------------------------------------------------ */

static const char *
static_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {{".html", "text/html; charset=utf-8"},
	             {".js", "text/javascript; charset=utf-8"},
	             {".css", "text/css; charset=utf-8"},
	             {".svg", "image/svg+xml"},
	             {".png", "image/png"},
	             {".ico", "image/x-icon"},
	             {".json", "application/json"},
	             {".map", "application/json"}};
	const char *dot = strrchr(name, '.');
	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

static int
static_name_ok(const char *name)
{
	if (name[0] == '.' || strlen(name) > 64)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return static_type(name) != NULL;
}

static void
gzip_copy(struct static_file *f)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return;
	size_t cap = deflateBound(&z, (uLong)f->len);
	f->gz = xmalloc(cap);
	z.next_in = f->data;
	z.avail_in = (uInt)f->len;
	z.next_out = f->gz;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out < f->len) {
		f->gzlen = z.total_out;
	} else {
		free(f->gz);
		f->gz = NULL;
	}
	deflateEnd(&z);
}

/* Load the files of dir (web_dir or its vendor/) served under prefix. */
static int
static_load_dir(struct http_server *h, const char *dir, const char *prefix, size_t *total,
                char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0; /* checked by the caller for web_dir itself */
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (!static_name_ok(e->d_name))
			continue;
		if (h->nfiles == HTTP_MAX_STATIC) {
			snprintf(err, errlen, "%s: more than %d files", dir, HTTP_MAX_STATIC);
			rc = DM_ELIMIT;
			break;
		}
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if ((size_t)st.st_size > HTTP_MAX_STATIC_BYTES - *total) {
			close(fd);
			snprintf(err, errlen, "%s: the dashboard's files are over %d bytes", dir,
			         HTTP_MAX_STATIC_BYTES);
			rc = DM_ELIMIT;
			break;
		}
		struct static_file *f = &h->files[h->nfiles];
		memset(f, 0, sizeof *f);
		f->data = xmalloc((size_t)st.st_size + 1);
		f->len = (size_t)st.st_size;
		size_t got = 0;
		while (got < f->len) {
			ssize_t n = read(fd, f->data + got, f->len - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		if (got != f->len) {
			free(f->data);
			continue;
		}
		snprintf(f->path, sizeof f->path, "%s%.64s", prefix, e->d_name); /* names: <= 64 */
		f->type = static_type(e->d_name);
		struct dm_sha256 *hs = dm_sha256_new();
		char hex[DM_SHA256_HEX];
		dm_sha256_update(hs, f->data, f->len);
		dm_sha256_final_hex(hs, hex);
		dm_sha256_free(hs);
		snprintf(f->etag, sizeof f->etag, "\"%.16s\"", hex);
		gzip_copy(f);
		*total += f->len;
		h->nfiles++;
	}
	closedir(d);
	return rc;
}

static int
static_load(struct http_server *h, char *err, size_t errlen)
{
	struct stat st;
	size_t total = 0;
	if (stat(h->cfg.web_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "web_dir %s: not a folder", h->cfg.web_dir);
		return DM_EUSAGE;
	}
	char vendor[PATH_MAX];
	snprintf(vendor, sizeof vendor, "%s/vendor", h->cfg.web_dir);
	int rc = static_load_dir(h, h->cfg.web_dir, "/", &total, err, errlen);
	if (rc == 0)
		rc = static_load_dir(h, vendor, "/vendor/", &total, err, errlen);
	return rc;
}

static int
accepts_gzip(struct evhttp_request *req)
{
	const char *ae =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding");
	return ae != NULL && strstr(ae, "gzip") != NULL;
}

static int
serve_static(struct http_server *h, struct evhttp_request *req, const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	const struct static_file *f = NULL;
	for (size_t i = 0; i < h->nfiles; i++)
		if (strcmp(h->files[i].path, path) == 0)
			f = &h->files[i];
	if (f == NULL)
		return 0;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	common_headers(req);
	evhttp_add_header(oh, "Content-Type", f->type);
	evhttp_add_header(oh, "Cache-Control", "no-cache");
	evhttp_add_header(oh, "ETag", f->etag);
	evhttp_add_header(oh, "Vary", "Accept-Encoding");
	if (strncmp(f->type, "text/html", 9) == 0)
		evhttp_add_header(oh, "Content-Security-Policy", csp);
	const char *inm =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
	if (inm != NULL && strcmp(inm, f->etag) == 0) {
		dm_metric_http(304);
		evhttp_send_reply(req, 304, reason(304), NULL);
		return 1;
	}
	struct evbuffer *b = evbuffer_new();
	if (f->gz != NULL && accepts_gzip(req)) {
		evhttp_add_header(oh, "Content-Encoding", "gzip");
		evbuffer_add_reference(b, f->gz, f->gzlen, NULL, NULL);
	} else {
		evbuffer_add_reference(b, f->data, f->len, NULL, NULL);
	}
	dm_metric_http(200);
	evhttp_send_reply(req, 200, "OK",
	                  evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? NULL : b);
	evbuffer_free(b);
	return 1;
}

/* ---- jobs: the query threads' side ---------------------------------------------------- */

static void
job_free(struct job *j)
{
	struct api_call *c = &j->call;
	for (size_t i = 0; i < c->nparams; i++) {
		free(c->params[i].key);
		free(c->params[i].value);
	}
	free((char *)c->arg);
	if (c->body != NULL)
		evbuffer_free(c->body);
	for (unsigned i = 0; i < j->nheaders; i++) {
		free(j->hname[i]);
		free(j->hvalue[i]);
	}
	if (j->conn != NULL && j->conn->job == j)
		j->conn->job = NULL;
	evbuffer_free(j->pending);
	if (j->ev)
		event_free(j->ev);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j);
}

void
out_status(struct http_out *o, int code, const char *content_type)
{
	struct job *j = &o->job;
	pthread_mutex_lock(&j->mu);
	j->status = code;
	snprintf(j->ctype, sizeof j->ctype, "%s", content_type);
	pthread_mutex_unlock(&j->mu);
}

void
out_header(struct http_out *o, const char *name, const char *value)
{
	struct job *j = &o->job;
	pthread_mutex_lock(&j->mu);
	if (j->nheaders < HTTP_MAX_HEADERS_OUT) {
		j->hname[j->nheaders] = xstrdup(name);
		j->hvalue[j->nheaders++] = xstrdup(value);
	}
	pthread_mutex_unlock(&j->mu);
}

void
out_clear_headers(struct http_out *o)
{
	struct job *j = &o->job;
	pthread_mutex_lock(&j->mu);
	for (unsigned i = 0; i < j->nheaders; i++) {
		free(j->hname[i]);
		free(j->hvalue[i]);
	}
	j->nheaders = 0;
	pthread_mutex_unlock(&j->mu);
}

int
out_started(const struct http_out *o)
{
	return o->job.wrote;
}

int
out_write(struct http_out *o, const void *p, size_t len)
{
	struct job *j = &o->job;
	int gone;
	pthread_mutex_lock(&j->mu);
	j->wrote = 1;
	if (!j->gone) {
		evbuffer_add(j->pending, p, len);
		j->unsent += len;
		if (evbuffer_get_length(j->pending) >= HTTP_FLUSH)
			event_active(j->ev, EV_WRITE, 0);
		/* wait for the client; a server that stops does not wait for a
		 * client that does not read (the timeout ends it too) */
		while (j->unsent > DM_HTTP_MAX_PENDING_OUT && !j->gone) {
			if (__atomic_load_n(&j->h->quit, __ATOMIC_RELAXED)) {
				j->gone = 1;
				break;
			}
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&j->cv, &j->mu, &until);
		}
	}
	gone = j->gone;
	pthread_mutex_unlock(&j->mu);
	return gone;
}

void
out_abort(struct http_out *o)
{
	struct job *j = &o->job;
	pthread_mutex_lock(&j->mu);
	j->aborted = 1;
	pthread_mutex_unlock(&j->mu);
}

/* The client went away (loop). */
static void
job_gone(struct job *j)
{
	pthread_mutex_lock(&j->mu);
	j->gone = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	j->conn = NULL;
}

/* ---- jobs: the loop's side ------------------------------------------------------- */

/* evhttp wrote what it had: the thread may go on. */
static void
job_sent(struct evhttp_connection *evcon, void *arg)
{
	struct job *j = arg;
	(void)evcon;
	pthread_mutex_lock(&j->mu);
	j->unsent = evbuffer_get_length(j->pending);
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static void
job_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct evbuffer *out = evbuffer_new();
	(void)fd;
	(void)what;
	pthread_mutex_lock(&j->mu);
	evbuffer_add_buffer(out, j->pending);
	int finished = j->finished, gone = j->gone, aborted = j->aborted;
	pthread_mutex_unlock(&j->mu);
	struct evhttp_request *req = j->req;
	if (gone || req == NULL) {
		if (finished) {
			if (req != NULL)
				evhttp_send_reply_end(req); /* frees a detached request */
			job_free(j);
		}
		evbuffer_free(out);
		return;
	}
	if (!j->started) {
		struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
		common_headers(req);
		evhttp_add_header(oh, "Content-Type", j->ctype[0] ? j->ctype : "application/json");
		evhttp_add_header(oh, "Cache-Control", "no-store");
		for (unsigned i = 0; i < j->nheaders; i++)
			evhttp_add_header(oh, j->hname[i], j->hvalue[i]);
		int code = j->status ? j->status : 200;
		dm_metric_http(code);
		if (finished && !aborted) {
			/* all of it at once: a plain answer with Content-Length */
			evhttp_send_reply(req, code, reason(code), out);
			j->req = NULL;
			evbuffer_free(out);
			job_free(j);
			return;
		}
		evhttp_send_reply_start(req, code, reason(code));
		j->started = 1;
	}
	if (aborted && !finished) {
		/* the rest is dropped; the job is freed when its thread is done
		 * with it (the event fires again then) */
		evbuffer_free(out);
		return;
	}
	if (aborted) {
		/* cut it: the client sees a chunked answer without its end.
		 * Freeing the connection frees the request with it (and calls
		 * conn_closed); a request whose connection is gone already was
		 * detached by evhttp and is freed by evhttp_send_reply_end. */
		struct evhttp_connection *evcon = evhttp_request_get_connection(req);
		if (evcon != NULL)
			evhttp_connection_free(evcon);
		else
			evhttp_send_reply_end(req);
		j->req = NULL;
		job_free(j);
		evbuffer_free(out);
		return;
	}
	if (evbuffer_get_length(out) > 0)
		evhttp_send_reply_chunk_with_cb(req, out, job_sent, j);
	evbuffer_free(out);
	if (finished) {
		evhttp_send_reply_end(req);
		j->req = NULL;
		job_free(j);
	}
}

/* Hand j to the query threads; -1 when DM_HTTP_MAX_QUEUED wait already
 * (the caller answers 503). */
static int
enqueue(struct http_server *h, struct job *j)
{
	pthread_mutex_lock(&h->qmu);
	if (h->queued >= DM_HTTP_MAX_QUEUED) {
		pthread_mutex_unlock(&h->qmu);
		return -1;
	}
	j->next = NULL;
	*h->qtail = j;
	h->qtail = &j->next;
	h->queued++;
	pthread_cond_signal(&h->qcv);
	pthread_mutex_unlock(&h->qmu);
	return 0;
}

/* Queue j for its connection, or answer 503 and drop it. */
static void
submit(struct http_server *h, struct http_conn *conn, struct job *j)
{
	conn->job = j;
	if (enqueue(h, j) != 0) {
		conn->job = NULL;
		send_error(j->req, 503, "busy");
		j->req = NULL;
		job_free(j);
	}
}

/* ---- requests ------------------------------------------------------------------ */

static const char *
bearer(struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return a;
}

static int
param_allowed(const struct api_route *r, const char *key)
{
	for (const char *const *p = r->params; p && *p; p++)
		if (strcmp(*p, key) == 0)
			return 1;
	return 0;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct http_conn *conn = conn_of(h, req);
	if (conn == NULL)
		return;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *rawpath = uri ? evhttp_uri_get_path(uri) : NULL;
	if (rawpath == NULL || !*rawpath)
		rawpath = "/";
	size_t plen = 0;
	char *path = evhttp_uridecode(rawpath, 0, &plen);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char key[72];
	if (path == NULL || strlen(path) != plen) {
		/* a NUL in a decoded path is never one of ours */
		send_error(req, 400, "bad path");
		goto out;
	}
	snprintf(key, sizeof key, "a:%s", conn->ip);
	if (limited(h, req, key, DM_HTTP_RATE_IP, DM_HTTP_BURST_IP))
		goto out;

	if (strncmp(path, "/api/", 5) != 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			                  "GET, HEAD");
			send_error(req, 405, "method not allowed");
		} else if (strcmp(path, "/metrics") == 0) {
			struct dm_buf b;
			dm_buf_init(&b, 1024 * 1024);
			dm_metrics_write(&b);
			if (h->hooks.metrics)
				h->hooks.metrics(h->hooks.arg, &b);
			struct evbuffer *eb = evbuffer_new();
			evbuffer_add(eb, b.data ? b.data : "", b.len);
			dm_buf_free(&b);
			common_headers(req);
			evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			                  "text/plain; version=0.0.4");
			dm_metric_http(200);
			evhttp_send_reply(req, 200, "OK", eb);
			evbuffer_free(eb);
		} else if (strcmp(path, "/healthz") == 0) {
			goto job_healthz;
		} else if (!serve_static(h, req, path)) {
			send_error(req, 404, "not found");
		}
		goto out;
	}

	/* the API: a token, its rate, a route, its parameters */
	{
		const char *tok = bearer(req);
		struct store_scope scope;
		int64_t token_id = 0;
		if (tok == NULL || strlen(tok) > 256 ||
		    h->hooks.auth(h->hooks.arg, tok, &scope, &token_id) != 0) {
			send_error(req, 401, tok == NULL ? "no token" : "bad token");
			goto out;
		}
		snprintf(key, sizeof key, "t:%lld", (long long)token_id);
		if (limited(h, req, key, DM_HTTP_RATE_TOKEN, DM_HTTP_BURST_TOKEN))
			goto out;
		const char *a;
		size_t alen;
		const struct api_route *r = api_route_find(path, &a, &alen);
		if (r == NULL) {
			send_error(req, 404, "not found");
			goto out;
		}
		unsigned m = cmd == EVHTTP_REQ_GET    ? API_GET
		             : cmd == EVHTTP_REQ_POST ? API_POST
		                                      : 0;
		if (!(r->methods & m)) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			                  r->methods == (API_GET | API_POST) ? "GET, POST"
			                  : r->methods == API_POST           ? "POST"
			                                                     : "GET");
			send_error(req, 405, "method not allowed");
			goto out;
		}
		struct job *j = xcalloc(1, sizeof *j);
		pthread_mutex_init(&j->mu, NULL);
		pthread_cond_init(&j->cv, NULL);
		j->h = h;
		j->req = req;
		j->conn = conn;
		j->pending = evbuffer_new();
		j->ev = event_new(h->base, -1, 0, job_deliver, j);
		j->fn = m == API_GET ? r->get : r->post;
		j->call.scope = scope;
		j->call.out = (struct http_out *)j;
		j->call.arg = alen ? xstrndup(a, alen) : NULL;
		/* the parameters, checked by name here, by value by the handler */
		const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
		if (query != NULL) {
			struct evkeyvalq kv;
			TAILQ_INIT(&kv);
			if (evhttp_parse_query_str(query, &kv) != 0) {
				send_error(req, 400, "bad query string");
				job_free(j);
				goto out;
			}
			const char *bad = NULL;
			for (struct evkeyval *e = kv.tqh_first; e && !bad; e = e->next.tqe_next) {
				if (!param_allowed(r, e->key))
					bad = e->key;
				else if (strlen(e->value) > DM_HTTP_MAX_PARAM)
					bad = e->key;
				else if (j->call.nparams == API_MAX_PARAMS)
					bad = e->key;
				else {
					j->call.params[j->call.nparams].key = xstrdup(e->key);
					j->call.params[j->call.nparams++].value = xstrdup(e->value);
				}
			}
			if (bad != NULL) {
				char msg[128];
				char esc[64];
				dm_log_escape(esc, sizeof esc, bad, strlen(bad));
				snprintf(msg, sizeof msg, "bad parameter '%s'", esc);
				evhttp_clear_headers(&kv);
				send_error(req, 400, msg);
				job_free(j);
				goto out;
			}
			evhttp_clear_headers(&kv);
		}
		if (m == API_POST) {
			/* the body (at most DM_HTTP_MAX_BODY, read by evhttp) is the
			 * job's now: the query thread writes it to a file, not the
			 * loop */
			j->call.body = evbuffer_new();
			evbuffer_add_buffer(j->call.body, evhttp_request_get_input_buffer(req));
		}
		submit(h, conn, j);
	}
	goto out;

job_healthz : {
	struct job *j = xcalloc(1, sizeof *j);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->h = h;
	j->req = req;
	j->conn = conn;
	j->pending = evbuffer_new();
	j->ev = event_new(h->base, -1, 0, job_deliver, j);
	j->fn = api_healthz;
	j->call.scope.admin = 1;
	j->call.out = (struct http_out *)j;
	submit(h, conn, j);
}
out:
	free(path);
}

/* ---- threads ---------------------------------------------------------------------- */

static void *
query_thread(void *arg)
{
	struct qthread *qt = arg;
	struct http_server *h = qt->h;
	for (;;) {
		pthread_mutex_lock(&h->qmu);
		while (!h->quit && h->qhead == NULL)
			pthread_cond_wait(&h->qcv, &h->qmu);
		struct job *j = h->qhead;
		if (j != NULL) {
			h->qhead = j->next;
			if (h->qhead == NULL)
				h->qtail = &h->qhead;
			h->queued--;
		}
		int quit = h->quit;
		pthread_mutex_unlock(&h->qmu);
		if (j == NULL)
			break;
		j->call.t = &qt->t;
		if (quit)
			api_error(&j->call, 503, "stopping");
		else
			j->fn(&j->call);
		/* from here on the job is the loop's: it may free it as soon as
		 * the lock is let go, so the event is fired under the lock */
		pthread_mutex_lock(&j->mu);
		j->finished = 1;
		event_active(j->ev, EV_WRITE, 0);
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

static void *
loop_thread(void *arg)
{
	struct http_server *h = arg;
	event_base_dispatch(h->base);
	return NULL;
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *h = arg;
	(void)fd;
	(void)what;
	event_base_loopbreak(h->base);
}

/* "ADDR:PORT" or "[V6]:PORT" into host and port. */
static int
split_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= hostlen)
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= hostlen)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || *end || p < 1 || p > 65535 || !host[0])
		return -1;
	*port = (unsigned)p;
	return 0;
}

struct http_server *
http_server_start(const struct http_config *cfg, const struct http_hooks *hooks, char *err,
                  size_t errlen)
{
	struct http_server *h = xcalloc(1, sizeof *h);
	h->cfg = *cfg;
	h->hooks = *hooks;
	h->qtail = &h->qhead;
	pthread_mutex_init(&h->qmu, NULL);
	pthread_cond_init(&h->qcv, NULL);
	h->rates = xcalloc(DM_HTTP_RATE_CLIENTS, sizeof *h->rates);
	if (static_load(h, err, errlen) != 0)
		goto fail;
	h->base = event_base_new();
	h->http = h->base ? evhttp_new(h->base) : NULL;
	h->ev_stop = h->base ? event_new(h->base, -1, 0, on_stop, h) : NULL;
	if (h->http == NULL || h->ev_stop == NULL) {
		snprintf(err, errlen, "cannot set up the HTTP loop");
		goto fail;
	}
	evhttp_set_timeout(h->http, (int)cfg->timeout);
	evhttp_set_max_headers_size(h->http, DM_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, DM_HTTP_MAX_BODY);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h->http, on_request, h);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		char host[256];
		unsigned port;
		if (split_listen(cfg->listen[i], host, sizeof host, &port) != 0) {
			snprintf(err, errlen, "http %s: not ADDR:PORT or [V6]:PORT",
			         cfg->listen[i]);
			goto fail;
		}
		if (evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port) == NULL) {
			if (errno == EADDRINUSE)
				snprintf(
				        err, errlen,
				        "http %s: address already in use (another program listens "
				        "there; pick another with --http ADDR:PORT or http_listen)",
				        cfg->listen[i]);
			else
				snprintf(err, errlen, "http %s: %s", cfg->listen[i],
				         strerror(errno));
			goto fail;
		}
	}
	h->threads = xcalloc(cfg->threads, sizeof *h->threads);
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct qthread *qt = &h->threads[i];
		qt->h = h;
		if (api_thread_init(&qt->t, &h->cfg, &h->hooks, err, errlen) != 0)
			goto fail;
		if (pthread_create(&qt->thr, NULL, query_thread, qt) != 0) {
			api_thread_free(&qt->t);
			snprintf(err, errlen, "cannot start a query thread");
			goto fail;
		}
		h->nthr++;
	}
	if (pthread_create(&h->loop_thr, NULL, loop_thread, h) != 0) {
		snprintf(err, errlen, "cannot start the HTTP thread");
		goto fail;
	}
	h->loop_started = 1;
	return h;
fail:
	http_server_stop(h);
	return NULL;
}

void
http_server_stop(struct http_server *h)
{
	if (h == NULL)
		return;
	/* the query threads finish what they run (the loop still delivers
	 * it), answer what waits with 503, and end */
	pthread_mutex_lock(&h->qmu);
	__atomic_store_n(&h->quit, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&h->qcv);
	pthread_mutex_unlock(&h->qmu);
	for (unsigned i = 0; i < h->nthr; i++) {
		pthread_join(h->threads[i].thr, NULL);
		api_thread_free(&h->threads[i].t);
	}
	if (h->loop_started) {
		event_active(h->ev_stop, EV_READ, 0);
		pthread_join(h->loop_thr, NULL);
	}
	/* answers the threads finished after the loop stopped are delivered
	 * by one more turn of the loop, on this thread */
	if (h->base != NULL)
		event_base_loop(h->base, EVLOOP_NONBLOCK);
	if (h->http != NULL)
		evhttp_free(h->http);
	while (h->qhead != NULL) { /* never taken: the threads could not start */
		struct job *j = h->qhead;
		h->qhead = j->next;
		job_free(j);
	}
	for (unsigned b = 0; b < HTTP_CONN_BUCKETS; b++)
		while (h->conns[b] != NULL) {
			struct http_conn *c = h->conns[b];
			h->conns[b] = c->next;
			free(c);
		}
	if (h->ev_stop)
		event_free(h->ev_stop);
	if (h->base)
		event_base_free(h->base);
	for (size_t i = 0; i < h->nfiles; i++) {
		free(h->files[i].data);
		free(h->files[i].gz);
	}
	free(h->threads);
	free(h->rates);
	pthread_mutex_destroy(&h->qmu);
	pthread_cond_destroy(&h->qcv);
	free(h);
}
