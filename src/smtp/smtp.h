/*
 * smtp.h - the SMTP and LMTP listener of `dmarcd serve`.
 *
 * One event loop (libevent) runs every session; message bytes go straight
 * into a spool entry as they arrive, and the 250 after DATA is sent only
 * once a commit thread has made the entry durable (group commit: every
 * message that ended while the previous fsync ran shares the next one).
 * The server never parses mail: it only checks envelopes against the
 * registry (a callback) and limits; the workers do the rest.
 */
#ifndef DM_SMTP_H
#define DM_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "spool/spool.h"

struct event_base;
struct smtp_server;

struct smtp_config {
	const char *hostname;
	uint64_t max_size;
	unsigned max_rcpt, max_errors;
	unsigned timeout, data_timeout; /* seconds */
	unsigned max_sessions, max_per_ip;
	const char *tls_cert, *tls_key; /* both non-empty: STARTTLS offered */
};

struct smtp_hooks {
	/* Is a recipient served?  > 0 or < 0 yes (an account, postmaster),
	 * 0 no (550 5.1.1).  Called on the event loop thread. */
	int64_t (*rcpt)(void *arg, const char *address);
	/* A message was committed to spool/new (event loop thread). */
	void (*spooled)(void *arg, const char *id);
	void *arg;
};

/* Create the server on base (evthread_use_pthreads() must have been
 * called).  Starts the commit thread. */
struct smtp_server *smtp_server_new(struct event_base *base, const struct smtp_config *cfg,
                                    struct spool *spool, const struct smtp_hooks *hooks, char *err,
                                    size_t errlen);
/* Listen for SMTP on "ADDR:PORT" or "[V6]:PORT"; for LMTP on a Unix
 * socket path (an old socket file there is replaced). */
int smtp_server_listen(struct smtp_server *srv, const char *addrport, char *err,
                       size_t errlen) DM_WUR;
int smtp_server_listen_lmtp(struct smtp_server *srv, const char *path, char *err,
                            size_t errlen) DM_WUR;
/* Graceful stop: close listeners, answer idle sessions and sessions in
 * DATA with 421, let pending commits finish and be answered.  *done is
 * set to 1 (on the loop thread) once no session is left. */
void smtp_server_shutdown(struct smtp_server *srv, int *done);
/* Sessions open now. */
unsigned smtp_server_sessions(const struct smtp_server *srv);
/* Stop the commit thread and free everything (after the loop ended). */
void smtp_server_free(struct smtp_server *srv);

#endif
