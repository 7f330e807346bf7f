/*
 * http.h - the HTTP side of `dmarcd serve`: the JSON API, the dashboard's
 * files, /metrics and /healthz.
 *
 * The server runs an event loop of its own on a thread of its own
 * (libevent's evhttp), so nothing it does can stall the SMTP loop; and
 * the queries run on a pool of query threads, each with its own store
 * reader, so a slow query never stalls the HTTP loop either.  Answers are
 * streamed with flow control: a thread that produces faster than the
 * client reads waits (DM_HTTP_MAX_PENDING_OUT), so memory does not grow
 * with the size of an export.
 */
#ifndef DM_HTTP_H
#define DM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "store/store.h"

struct dm_services;

struct http_server;

struct http_hooks {
	/* A bearer token's scope: 0, or DM_ENOTFOUND when the token is not
	 * valid (malformed, unknown, revoked).  Called on the HTTP thread. */
	int (*auth)(void *arg, const char *token, struct store_scope *scope, int64_t *token_id);
	/* The account an uploaded report is stored for, from its policy
	 * domain, for a token of account `account` (0 for an admin token). */
	int64_t (*upload_account)(void *arg, int64_t account, const char *policy_domain);
	/* Append the Prometheus lines of the rest of the process (SMTP,
	 * spool, processing) to out.  Called on the HTTP thread. */
	void (*metrics)(void *arg, struct dm_buf *out);
	/* The report addresses of domain for a token of account (0 for an
	 * admin token: any account's), at most max into out; their number.
	 * Called on the HTTP thread. */
	size_t (*domain_addresses)(void *arg, int64_t account, const char *domain,
	                           char out[][DM_REGISTRY_MAX_ADDRESS + 1], size_t max);
	void *arg;
};

struct http_config {
	const char *const *listen; /* "ADDR:PORT" or "[V6]:PORT" */
	size_t nlisten;
	const char *web_dir; /* the dashboard's files */
	const char *tmp_dir; /* uploads are written here before they are read */
	const char *data_dir;       /* for failure reports' redaction key (ingest_env) */
	const char *failure_redact; /* hashed | headers | none */
	unsigned threads;    /* query threads */
	unsigned max_conns, max_per_ip;
	unsigned timeout;    /* seconds */
	struct store *store; /* readers are opened on it; uploads stored in it */
	struct archive *archive;
	const struct dm_services *services; /* the service map for the advice, or NULL */
	const char *resolver; /* the DNS server of the record checks ("": the system's) */
	int dns_timeout_ms;
};

/* Bind the listeners, load the dashboard's files, start the loop thread
 * and the query threads.  NULL with err filled when it cannot. */
struct http_server *http_server_start(const struct http_config *cfg, const struct http_hooks *hooks,
                                      char *err, size_t errlen);
/* Stop accepting, finish or cancel what runs, join the threads. */
void http_server_stop(struct http_server *h);

#endif
