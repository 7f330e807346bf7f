/*
 * api.h - between the HTTP server (http.c: sockets, threads, streaming)
 * and the API's handlers (api.c: parameters, store reads, JSON and CSV).
 * Private to src/http/.
 *
 * A handler runs on a query thread with the request's scope and a store
 * reader of its own, and writes its answer through struct http_out:
 * status and headers first, then the body in pieces.  out_write() hands
 * the bytes to the HTTP loop and waits while too many are unsent; it
 * returns non-zero once the client has gone, and the handler then stops.
 */
#ifndef DM_HTTP_API_H
#define DM_HTTP_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct evbuffer;
#include "http/http.h"
#include "ingest/ingest.h"
#include "store/store.h"

struct http_out;

/* Before the first out_write: the status and content type, and headers
 * (name and value copied). */
void out_status(struct http_out *o, int code, const char *content_type);
void out_header(struct http_out *o, const char *name, const char *value);
/* Forget the headers set so far (an error answer replaces them). */
void out_clear_headers(struct http_out *o);
/* Body bytes; non-zero when the client is gone (stop producing). */
int out_write(struct http_out *o, const void *p, size_t len);
/* Has anything of the body left yet?  (An error can then no longer be
 * answered with its own status: the connection is cut instead.) */
int out_started(const struct http_out *o);
/* Give up on a started answer: the client sees it cut short. */
void out_abort(struct http_out *o);

#define API_MAX_PARAMS 16

struct api_param {
	char *key, *value;
};

/* What a query thread keeps between requests. */
struct api_thread {
	struct store_reader *rd;
	struct ingest_job *job; /* uploads; made on first use */
	const struct http_config *cfg;
	const struct http_hooks *hooks;
	/* the upload in progress */
	struct dm_buf results;
	unsigned nresults;
	int64_t upload_account;
	int store_failed;
};

struct api_call {
	struct api_thread *t;
	struct store_scope scope;
	struct http_out *out;
	const char *arg; /* the path's variable part: an IP or a report id */
	struct api_param params[API_MAX_PARAMS];
	size_t nparams;
	struct evbuffer *body; /* an upload's body (owned by the call), or NULL */
};

typedef void (*api_handler)(struct api_call *c);

enum api_method { API_GET = 1, API_POST = 2 };

struct api_route {
	const char *path;  /* exact, or a prefix ending in '/' with an argument */
	const char *after; /* for a prefix: what follows the argument ("" or "/raw") */
	unsigned methods;  /* API_GET | API_POST */
	api_handler get, post;
	const char *const *params; /* the parameters it takes (NULL-terminated) */
};

/* The route for path; *arg points into path (the variable part), and
 * *arglen is its length.  NULL when no route matches. */
const struct api_route *api_route_find(const char *path, const char **arg, size_t *arglen);

/* Answer with {"error": msg} and code (only before the body started). */
void api_error(struct api_call *c, int code, const char *msg);

/* The thread's resources (reader), made when the thread starts. */
int api_thread_init(struct api_thread *t, const struct http_config *cfg,
                    const struct http_hooks *hooks, char *err, size_t errlen) DM_WUR;
void api_thread_free(struct api_thread *t);

/* GET /healthz on a query thread. */
void api_healthz(struct api_call *c);

#endif
