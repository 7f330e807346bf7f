/*
 * smtp.c - SMTP (RFC 5321) and LMTP (RFC 2033) sessions on one libevent
 * loop, writing each message into the spool as it arrives.
 *
 * Public: smtp_server_new, smtp_server_listen, smtp_server_listen_lmtp,
 * smtp_server_shutdown, smtp_server_sessions, smtp_server_free.
 *
 * A session:
 *
 *   connect -> 220 -> INIT --EHLO/HELO/LHLO--> READY --MAIL--> MAIL
 *                      ^                         ^  <--RSET--    |
 *                      |                         |             RCPT (1..max)
 *                 STARTTLS (220, drop            |               v
 *                 pipelined input, handshake)    |             RCPT --DATA--> DATA (354)
 *                                                |                              |
 *                                           250 / 451 / 552 <-- COMMIT <-- CRLF.CRLF
 *
 * DATA ends only at CRLF "." CRLF; a bare LF or CR never ends it (SMTP
 * smuggling).  A line starting with "." loses that dot.  A message over
 * the size limit, or with a line over DM_SMTP_MAX_DATA_LINE, is read to
 * its end and then refused with 552 (errors latch; the session goes on).
 * While a message is being committed, the session reads nothing more, so
 * pipelined commands are answered in order afterwards.
 *
 * The commit thread takes every message that has ended, fdatasyncs them
 * and fsyncs spool/new once (spool_commit_batch), then hands the results
 * back to the loop through an event; only then is 250 sent.  A session
 * whose client went away meanwhile is freed there.
 *
 * Logs (component "smtp"): connects refused by limits, timeouts, too many
 * errors, each message queued (with its spool id and size), refusals.
 */
#include "smtp/smtp.h"
#include "smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/limits.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"

#define SMTP_CHUNK (64 * 1024)
#define SMTP_MAX_LISTENERS 16

enum smtp_state {
	SMTP_ST_INIT,   /* greeted, no EHLO yet */
	SMTP_ST_READY,  /* EHLO done, no transaction */
	SMTP_ST_MAIL,   /* MAIL accepted */
	SMTP_ST_DATA,   /* reading message text */
	SMTP_ST_COMMIT, /* message ended, waiting for the commit thread */
};

enum smtp_data_err { SMTP_DE_NONE, SMTP_DE_SIZE, SMTP_DE_IO };

struct smtp_session {
	struct smtp_server *srv;
	struct bufferevent *bev;
	struct smtp_session *prev, *next;
	char ip[INET6_ADDRSTRLEN];
	int lmtp, tls, esmtp;
	enum smtp_state state;
	unsigned errors;
	int closing;            /* reply queued, free when the output drains */
	int gone;               /* client went away while a commit was pending */
	int skipping;           /* discarding the rest of an over-long command line */
	struct event *flush_ev; /* TLS: waits for the encrypted bytes to leave */
	unsigned flush_ticks;
	int tls_shut; /* close_notify sent */
	char helo[DM_SMTP_MAX_ADDRESS + 1];
	/* transaction */
	char *from;
	char **rcpt;
	unsigned nrcpt;
	int rcpt_tried; /* a RCPT was refused in this transaction */
	int smtputf8;
	struct spool_msg *msg;
	struct smtp_data_scan scan;
	enum smtp_data_err derr;
	uint64_t dsize; /* message bytes after unstuffing */
	char id[SPOOL_ID_MAX];
	/* commit result */
	int commit_rc;
	struct smtp_session *cnext;
	struct spool_msg *cmsg;
};

struct smtp_server {
	struct event_base *base;
	struct smtp_config cfg;
	char hostname[256];
	struct spool *spool;
	struct smtp_hooks hooks;
	SSL_CTX *ssl;
	struct evconnlistener *lis[SMTP_MAX_LISTENERS];
	char *lmtp_path;
	unsigned nlis;
	struct smtp_session *sessions;
	unsigned nsessions;
	int stopping;
	int *stopped;
	/* commit thread */
	pthread_t thr;
	int thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct smtp_session *pending, **pending_tail; /* to commit */
	struct smtp_session *done;                    /* committed, to answer */
	int quit;
	struct event *done_ev;
};

static void session_read(struct bufferevent *bev, void *arg);
static void session_event(struct bufferevent *bev, short what, void *arg);
static void session_process(struct smtp_session *s);

/* ---- replies and teardown -------------------------------------------------- */

static void reply(struct smtp_session *s, const char *fmt, ...) DM_PRINTF(2, 3);

static void
reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *out = bufferevent_get_output(s->bev);

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
txn_reset(struct smtp_session *s)
{
	if (s->msg != NULL) {
		spool_msg_abort(s->msg);
		s->msg = NULL;
	}
	free(s->from);
	s->from = NULL;
	for (unsigned i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	s->nrcpt = 0;
	s->rcpt_tried = 0;
	s->smtputf8 = 0;
	s->derr = SMTP_DE_NONE;
	s->dsize = 0;
	if (s->state > SMTP_ST_READY)
		s->state = SMTP_ST_READY;
}

static void
session_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;

	txn_reset(s);
	free(s->rcpt);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->nsessions--;
	dm_metric_add(DM_M_SMTP_OPEN, -1);
	free(s);
	if (srv->stopping && srv->nsessions == 0 && srv->stopped != NULL)
		*srv->stopped = 1;
}

/* Bytes still to send: with TLS, the filter's output is encrypted into
 * the socket's bufferevent, which must drain too before the close. */
static size_t
pending_output(struct smtp_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void session_drained(struct bufferevent *bev, void *arg);

static void
flush_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_drained(NULL, arg);
}

static void
session_drained(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	struct timeval tick = {0, 10000};

	(void)bev;
	if (!s->closing)
		return;
	if (s->tls && !s->tls_shut && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		/* every reply is encrypted by now: say goodbye properly */
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		s->tls_shut = 1;
		if (ssl != NULL)
			(void)SSL_shutdown(ssl);
	}
	if (pending_output(s) == 0 || s->flush_ticks > 500) {
		session_free(s);
		return;
	}
	/* only the socket's buffer is left (TLS): look again shortly */
	if (s->flush_ev == NULL)
		s->flush_ev = evtimer_new(s->srv->base, flush_tick, s);
	if (s->flush_ev == NULL) {
		session_free(s);
		return;
	}
	s->flush_ticks++;
	evtimer_add(s->flush_ev, &tick);
}

/* Send what is queued, then close. */
static void
session_close(struct smtp_session *s)
{
	s->closing = 1;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setcb(s->bev, NULL, session_drained, session_event, s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_drained(s->bev, s);
}

/* A bad command: count it; past the limit the session ends. */
static int
bad(struct smtp_session *s)
{
	if (++s->errors >= s->srv->cfg.max_errors) {
		dm_log(DM_LOG_INFO, "smtp", "%s: too many errors, disconnecting", s->ip);
		reply(s, "421 4.7.0 %s Too many errors, closing connection", s->srv->hostname);
		session_close(s);
		return 1;
	}
	return 0;
}

static void
set_timeouts(struct smtp_session *s, unsigned secs)
{
	struct timeval tv = {.tv_sec = secs, .tv_usec = 0};

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* ---- commit thread -------------------------------------------------------- */

static void *
commit_main(void *arg)
{
	struct smtp_server *srv = arg;
	struct spool_msg *msgs[DM_SPOOL_MAX_GROUP];
	struct smtp_session *batch[DM_SPOOL_MAX_GROUP];
	int rc[DM_SPOOL_MAX_GROUP];

	pthread_mutex_lock(&srv->mu);
	for (;;) {
		size_t n = 0;

		while (srv->pending == NULL && !srv->quit)
			pthread_cond_wait(&srv->cv, &srv->mu);
		if (srv->pending == NULL && srv->quit)
			break;
		while (srv->pending != NULL && n < DM_SPOOL_MAX_GROUP) {
			struct smtp_session *s = srv->pending;

			srv->pending = s->cnext;
			batch[n] = s;
			msgs[n] = s->cmsg;
			n++;
		}
		if (srv->pending == NULL)
			srv->pending_tail = &srv->pending;
		pthread_mutex_unlock(&srv->mu);

		if (spool_commit_batch(msgs, n, rc) != 0)
			dm_log(DM_LOG_WARN, "smtp",
			       "group commit: some messages could not be spooled");

		pthread_mutex_lock(&srv->mu);
		for (size_t i = 0; i < n; i++) {
			batch[i]->cmsg = NULL;
			batch[i]->commit_rc = rc[i];
			batch[i]->cnext = srv->done;
			srv->done = batch[i];
		}
		event_active(srv->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

static void
commit_submit(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;

	s->state = SMTP_ST_COMMIT;
	s->cmsg = s->msg;
	s->msg = NULL;
	s->cnext = NULL;
	bufferevent_disable(s->bev, EV_READ);
	pthread_mutex_lock(&srv->mu);
	*srv->pending_tail = s;
	srv->pending_tail = &s->cnext;
	pthread_cond_signal(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

/* Loop thread: answer every committed message. */
static void
commit_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *list, *s, *next, *rev = NULL;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&srv->mu);
	list = srv->done;
	srv->done = NULL;
	pthread_mutex_unlock(&srv->mu);
	for (s = list; s != NULL; s = next) { /* oldest first */
		next = s->cnext;
		s->cnext = rev;
		rev = s;
	}
	for (s = rev; s != NULL; s = next) {
		next = s->cnext;
		if (s->commit_rc == 0) {
			dm_log(DM_LOG_INFO, "smtp",
			       "%s: queued from %s, %llu bytes, %u recipient(s)", s->id, s->ip,
			       (unsigned long long)s->dsize, s->nrcpt);
			if (s->srv->hooks.spooled != NULL)
				s->srv->hooks.spooled(s->srv->hooks.arg, s->id);
		} else {
			dm_log(DM_LOG_ERROR, "smtp", "%s: could not be spooled (%s)", s->id,
			       dm_strerror(s->commit_rc));
		}
		if (s->gone) {
			session_free(s);
			continue;
		}
		dm_metric_add(s->commit_rc == 0 ? DM_M_SMTP_ACCEPTED : DM_M_SMTP_REFUSED_SPOOL, 1);
		for (unsigned i = 0; i < (s->lmtp ? s->nrcpt : 1); i++) {
			if (s->commit_rc == 0)
				reply(s, "250 2.0.0 Ok: queued as %s", s->id);
			else
				reply(s, "451 4.3.0 Local error in processing, try again later");
		}
		s->state = SMTP_ST_READY;
		txn_reset(s);
		if (srv->stopping) {
			reply(s, "421 4.3.2 %s Service shutting down", srv->hostname);
			session_close(s);
			continue;
		}
		set_timeouts(s, srv->cfg.timeout);
		bufferevent_enable(s->bev, EV_READ);
		session_process(s); /* what the client pipelined meanwhile */
	}
}

/* ---- DATA ---------------------------------------------------------------- */

/* Message bytes to the spool entry (which buffers them), unless an error
 * has latched; past the size limit nothing more is written. */
static void
data_emit(void *arg, const char *p, size_t n)
{
	struct smtp_session *s = arg;

	if (s->derr != SMTP_DE_NONE || s->scan.long_line)
		return;
	if (s->srv->cfg.max_size - s->dsize < n) {
		s->derr = SMTP_DE_SIZE;
		return;
	}
	s->dsize += n;
	if (spool_msg_write(s->msg, p, n) != 0)
		s->derr = SMTP_DE_IO;
}

static void
data_end(struct smtp_session *s)
{
	const char *why = NULL;

	if (s->derr == SMTP_DE_SIZE) {
		dm_log(DM_LOG_INFO, "smtp", "%s: %s: message too large (> %llu bytes)",
		       spool_msg_id(s->msg), s->ip, (unsigned long long)s->srv->cfg.max_size);
		why = "552 5.3.4 Message too big for system";
		dm_metric_add(DM_M_SMTP_REFUSED_SIZE, 1);
	} else if (s->scan.long_line) {
		dm_log(DM_LOG_INFO, "smtp", "%s: %s: line longer than %d bytes",
		       spool_msg_id(s->msg), s->ip, DM_SMTP_MAX_DATA_LINE);
		why = "552 5.3.4 Line too long";
		dm_metric_add(DM_M_SMTP_REFUSED_LINE, 1);
	} else if (s->derr == SMTP_DE_IO) {
		dm_log(DM_LOG_ERROR, "smtp", "%s: spool write failed", spool_msg_id(s->msg));
		why = "451 4.3.0 Local error in processing, try again later";
		dm_metric_add(DM_M_SMTP_REFUSED_SPOOL, 1);
	}
	if (why != NULL) {
		for (unsigned i = 0; i < (s->lmtp ? s->nrcpt : 1); i++)
			reply(s, "%s", why);
		txn_reset(s);
		set_timeouts(s, s->srv->cfg.timeout);
		return;
	}
	snprintf(s->id, sizeof s->id, "%s", spool_msg_id(s->msg));
	commit_submit(s);
}

/* Consume message text from the input; returns 1 when DATA ended. */
static int
data_read(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char buf[SMTP_CHUNK];
	int end = 0;

	while (!end && evbuffer_get_length(in) > 0) {
		int n = evbuffer_remove(in, buf, sizeof buf);
		size_t used;

		if (n <= 0)
			break;
		used = smtp_data_scan(&s->scan, buf, (size_t)n, &end);
		if (used < (size_t)n)
			evbuffer_prepend(in, buf + used, (size_t)n - used);
	}
	if (end)
		data_end(s);
	return end;
}

/* ---- commands ------------------------------------------------------------- */

static void
cmd_helo(struct smtp_session *s, const char *verb, char *arg)
{
	struct smtp_server *srv = s->srv;
	int lhlo = strcasecmp(verb, "LHLO") == 0;

	if (s->lmtp != lhlo) {
		reply(s, "500 5.5.1 %s",
		      s->lmtp ? "Use LHLO (this is LMTP)" : "Command unrecognized");
		bad(s);
		return;
	}
	if (*arg == '\0') {
		reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		bad(s);
		return;
	}
	txn_reset(s);
	/* the name goes into a Received header: printable bytes only */
	snprintf(s->helo, sizeof s->helo, "%s", arg);
	for (char *c = s->helo; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == 0x7f || *c == '(' || *c == ')')
			*c = '?';
	s->state = SMTP_ST_READY;
	s->esmtp = strcasecmp(verb, "HELO") != 0;
	if (!s->esmtp) {
		reply(s, "250 %s", srv->hostname);
		return;
	}
	reply(s, "250-%s", srv->hostname);
	reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu", (unsigned long long)srv->cfg.max_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-ENHANCEDSTATUSCODES");
	if (srv->ssl != NULL && !s->tls)
		reply(s, "250-STARTTLS");
	reply(s, "250 SMTPUTF8");
}

static void
cmd_mail(struct smtp_session *s, char *arg)
{
	char *path, *params, *tok, *next;

	if (s->state == SMTP_ST_INIT) {
		reply(s, "503 5.5.1 Send %s first", s->lmtp ? "LHLO" : "EHLO/HELO");
		bad(s);
		return;
	}
	if (s->state != SMTP_ST_READY) {
		reply(s, "503 5.5.1 Nested MAIL command");
		bad(s);
		return;
	}
	if (smtp_parse_path(arg, "FROM:", &path, &params) != 0) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		bad(s);
		return;
	}
	for (tok = params; *tok != '\0'; tok = next) {
		next = strchr(tok, ' ');
		if (next != NULL) {
			*next++ = '\0';
			while (*next == ' ')
				next++;
		} else {
			next = tok + strlen(tok);
		}
		if (strncasecmp(tok, "SIZE=", 5) == 0) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(tok + 5, &end, 10);
			if (errno == ERANGE && end != tok + 5 && *end == '\0')
				v = ULLONG_MAX; /* too big to count is too big */
			else if (errno != 0 || end == tok + 5 || *end != '\0' || tok[5] == '-') {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				bad(s);
				return;
			}
			if (v > s->srv->cfg.max_size) {
				reply(s,
				      "552 5.3.4 Message size exceeds fixed maximum message size");
				return;
			}
		} else if (strcasecmp(tok, "BODY=7BIT") == 0 ||
		           strcasecmp(tok, "BODY=8BITMIME") == 0) {
			/* we store bytes as they come */
		} else if (strcasecmp(tok, "SMTPUTF8") == 0) {
			s->smtputf8 = 1;
		} else {
			reply(s, "555 5.5.4 Unsupported parameter");
			bad(s);
			return;
		}
	}
	s->from = xstrdup(path);
	s->state = SMTP_ST_MAIL;
	reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct smtp_session *s, char *arg)
{
	char *path, *params;
	int64_t who;

	if (s->state != SMTP_ST_MAIL) {
		reply(s, "503 5.5.1 Need MAIL before RCPT");
		bad(s);
		return;
	}
	if (smtp_parse_path(arg, "TO:", &path, &params) != 0 || *path == '\0') {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		bad(s);
		return;
	}
	if (*params != '\0') {
		reply(s, "555 5.5.4 Unsupported parameter");
		bad(s);
		return;
	}
	s->rcpt_tried = 1;
	if (s->nrcpt >= s->srv->cfg.max_rcpt) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	who = s->srv->hooks.rcpt(s->srv->hooks.arg, path);
	if (who == 0) {
		char esc[128];

		dm_log_escape(esc, sizeof esc, path, strlen(path));
		dm_log(DM_LOG_INFO, "smtp", "%s: recipient not served: %s", s->ip, esc);
		dm_metric_add(DM_M_SMTP_REFUSED_RCPT, 1);
		reply(s, "550 5.1.1 Mailbox unavailable: no reports are accepted for this address");
		bad(s);
		return;
	}
	if (s->rcpt == NULL)
		s->rcpt = xcalloc(s->srv->cfg.max_rcpt, sizeof *s->rcpt);
	s->rcpt[s->nrcpt++] = xstrdup(path);
	reply(s, "250 2.1.5 Ok");
}

static void
received_header(struct smtp_session *s)
{
	char date[64], hdr[1024];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = snprintf(hdr, sizeof hdr,
	             "Received: from %.255s (%s)\r\n\tby %s (dmarcd) with %s id %s;\r\n\t%s\r\n",
	             s->helo[0] ? s->helo : "unknown", s->ip[0] ? s->ip : "local", s->srv->hostname,
	             s->lmtp    ? "LMTP"
	             : s->tls   ? "ESMTPS"
	             : s->esmtp ? "ESMTP"
	                        : "SMTP",
	             spool_msg_id(s->msg), date);
	if (n < 0 || (size_t)n >= sizeof hdr)
		n = (int)strlen(hdr);
	/* counted like the client's bytes: the worker reads the message
	 * with this field, under the same size limit */
	data_emit(s, hdr, (size_t)n);
}

static void
cmd_data(struct smtp_session *s, char *arg)
{
	struct spool_envelope env;

	if (*arg != '\0') {
		reply(s, "501 5.5.4 DATA takes no argument");
		bad(s);
		return;
	}
	if (s->state != SMTP_ST_MAIL) {
		reply(s, "503 5.5.1 Need MAIL before DATA");
		bad(s);
		return;
	}
	if (s->nrcpt == 0 && !s->rcpt_tried) {
		reply(s, "503 5.5.1 Need RCPT before DATA");
		bad(s);
		return;
	}
	if (s->nrcpt == 0) {
		reply(s, "554 5.5.1 No valid recipients");
		bad(s);
		return;
	}
	memset(&env, 0, sizeof env);
	env.from = s->from;
	env.rcpt = (const char *const *)s->rcpt;
	env.nrcpt = s->nrcpt;
	env.client_ip = s->ip;
	env.helo = s->helo;
	env.proto = s->lmtp ? "LMTP" : s->tls ? "ESMTPS" : s->esmtp ? "ESMTP" : "SMTP";
	env.received_at = (int64_t)time(NULL);
	if (spool_msg_begin(s->srv->spool, &env, &s->msg) != 0) {
		s->msg = NULL;
		dm_log(DM_LOG_ERROR, "smtp", "%s: cannot open a spool entry", s->ip);
		reply(s, "451 4.3.0 Local error in processing, try again later");
		return;
	}
	s->state = SMTP_ST_DATA;
	smtp_data_scan_init(&s->scan, data_emit, s);
	s->dsize = 0;
	received_header(s);
	set_timeouts(s, s->srv->cfg.data_timeout);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
cmd_starttls(struct smtp_session *s, char *arg)
{
	struct smtp_server *srv = s->srv;
	struct bufferevent *tls;
	SSL *ssl;

	if (srv->ssl == NULL || s->lmtp) {
		reply(s, "502 5.5.1 STARTTLS not available");
		bad(s);
		return;
	}
	if (s->tls) {
		reply(s, "503 5.5.1 TLS already active");
		bad(s);
		return;
	}
	if (*arg != '\0') {
		reply(s, "501 5.5.4 STARTTLS takes no argument");
		bad(s);
		return;
	}
	if ((ssl = SSL_new(srv->ssl)) == NULL) {
		reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* whatever the client pipelined before the handshake is discarded */
	evbuffer_drain(bufferevent_get_input(s->bev),
	               evbuffer_get_length(bufferevent_get_input(s->bev)));
	tls = bufferevent_openssl_filter_new(srv->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		session_close(s);
		return;
	}
	s->bev = tls;
	s->tls = 1;
	txn_reset(s);
	s->state = SMTP_ST_INIT;
	s->helo[0] = '\0';
	bufferevent_setcb(tls, session_read, NULL, session_event, s);
	set_timeouts(s, srv->cfg.timeout);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

/* One command line (CR LF already removed).  Returns 1 when the session
 * must stop reading (closed, or switched to TLS). */
static int
command(struct smtp_session *s, char *line)
{
	char *verb = line, *arg;

	arg = strchr(line, ' ');
	if (arg != NULL) {
		*arg++ = '\0';
	} else {
		arg = line + strlen(line);
	}
	if (strcasecmp(verb, "EHLO") == 0 || strcasecmp(verb, "HELO") == 0 ||
	    strcasecmp(verb, "LHLO") == 0) {
		cmd_helo(s, verb, arg);
	} else if (strcasecmp(verb, "MAIL") == 0) {
		cmd_mail(s, arg);
	} else if (strcasecmp(verb, "RCPT") == 0) {
		cmd_rcpt(s, arg);
	} else if (strcasecmp(verb, "DATA") == 0) {
		cmd_data(s, arg);
	} else if (strcasecmp(verb, "RSET") == 0) {
		if (*arg != '\0') {
			reply(s, "501 5.5.4 RSET takes no argument");
			return bad(s);
		}
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
	} else if (strcasecmp(verb, "NOOP") == 0) {
		reply(s, "250 2.0.0 Ok");
	} else if (strcasecmp(verb, "VRFY") == 0) {
		reply(s,
		      "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
	} else if (strcasecmp(verb, "HELP") == 0) {
		reply(s, "214 2.0.0 Commands: %s MAIL RCPT DATA RSET NOOP VRFY HELP QUIT%s",
		      s->lmtp ? "LHLO" : "EHLO HELO",
		      s->srv->ssl != NULL && !s->lmtp ? " STARTTLS" : "");
	} else if (strcasecmp(verb, "QUIT") == 0) {
		reply(s, "221 2.0.0 Bye");
		session_close(s);
		return 1;
	} else if (strcasecmp(verb, "STARTTLS") == 0) {
		cmd_starttls(s, arg);
		return 1;
	} else {
		reply(s, "500 5.5.2 Command unrecognized");
		return bad(s);
	}
	return s->closing;
}

/* Handle everything complete in the input buffer. */
static void
session_process(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char line[DM_SMTP_MAX_COMMAND_LINE + 1];

	while (!s->closing) {
		struct evbuffer_ptr eol;
		size_t eol_len = 0, len;

		if (s->state == SMTP_ST_COMMIT)
			return;
		if (s->state == SMTP_ST_DATA) {
			if (!data_read(s))
				return;
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > DM_SMTP_MAX_COMMAND_LINE) {
				evbuffer_drain(in, evbuffer_get_length(in));
				if (!s->skipping) {
					s->skipping = 1;
					reply(s, "500 5.5.2 Line too long");
					if (bad(s))
						return;
				}
			}
			return;
		}
		len = (size_t)eol.pos;
		if (s->skipping || len > DM_SMTP_MAX_COMMAND_LINE) {
			evbuffer_drain(in, len + eol_len);
			if (!s->skipping) {
				reply(s, "500 5.5.2 Line too long");
				if (bad(s))
					return;
			}
			s->skipping = 0;
			continue;
		}
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (memchr(line, '\0', len) != NULL) {
			reply(s, "500 5.5.2 NUL in command");
			if (bad(s))
				return;
			continue;
		}
		if (command(s, line))
			return;
	}
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process(arg);
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->state == SMTP_ST_COMMIT) {
		/* the commit thread owns the message: the session is freed when
		 * its answer comes (commit_done), whatever happened here */
		s->gone = 1;
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !s->closing) {
		dm_log(DM_LOG_INFO, "smtp", "%s: timeout%s", s->ip,
		       s->state == SMTP_ST_DATA ? " in DATA" : "");
		txn_reset(s);
		reply(s, "421 4.4.2 %s Timeout, closing connection", s->srv->hostname);
		set_timeouts(s, 5);
		session_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (s->state == SMTP_ST_DATA)
			dm_log(DM_LOG_INFO, "smtp", "%s: connection lost in DATA; nothing kept",
			       s->ip);
		session_free(s);
	}
}

/* ---- accepting -------------------------------------------------------------- */

static void
refuse(evutil_socket_t fd, const char *msg)
{
	ssize_t n = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)n;
	evutil_closesocket(fd);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s;
	char ip[INET6_ADDRSTRLEN] = "";
	unsigned same = 0;
	int lmtp = sa->sa_family == AF_UNIX;
	char msg[512];

	(void)l;
	(void)salen;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
	if (srv->stopping) {
		snprintf(msg, sizeof msg, "421 4.3.2 %s Service shutting down\r\n", srv->hostname);
		refuse(fd, msg);
		return;
	}
	if (srv->nsessions >= srv->cfg.max_sessions) {
		dm_log(DM_LOG_WARN, "smtp", "%s: refused, %u sessions open", ip[0] ? ip : "local",
		       srv->nsessions);
		snprintf(msg, sizeof msg, "421 4.3.2 %s Too many connections, try again later\r\n",
		         srv->hostname);
		dm_metric_add(DM_M_SMTP_REFUSED_CONN, 1);
		refuse(fd, msg);
		return;
	}
	if (ip[0] != '\0') {
		for (s = srv->sessions; s != NULL; s = s->next)
			if (strcmp(s->ip, ip) == 0)
				same++;
		if (same >= srv->cfg.max_per_ip) {
			dm_log(DM_LOG_INFO, "smtp", "%s: refused, %u sessions from this address",
			       ip, same);
			snprintf(msg, sizeof msg,
			         "421 4.7.0 %s Too many connections from your address\r\n",
			         srv->hostname);
			dm_metric_add(DM_M_SMTP_REFUSED_CONN, 1);
			refuse(fd, msg);
			return;
		}
	}
	s = xcalloc(1, sizeof *s);
	s->srv = srv;
	s->lmtp = lmtp;
	snprintf(s->ip, sizeof s->ip, "%s", ip);
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		evutil_closesocket(fd);
		free(s);
		return;
	}
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	dm_metric_add(DM_M_SMTP_SESSIONS, 1);
	dm_metric_add(DM_M_SMTP_OPEN, 1);
	bufferevent_setcb(s->bev, session_read, NULL, session_event, s);
	set_timeouts(s, srv->cfg.timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	reply(s, "220 %s %s dmarcd ready", srv->hostname, lmtp ? "LMTP" : "ESMTP");
}

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* accept() failed (out of descriptors, most likely): pause this listener
 * for a second instead of spinning on it; queued clients wait. */
static void
accept_error(struct evconnlistener *l, void *arg)
{
	struct smtp_server *srv = arg;
	struct timeval pause = {1, 0};
	int e = EVUTIL_SOCKET_ERROR();

	dm_log(DM_LOG_ERROR, "smtp", "accept: %s; pausing the listener for 1 s",
	       evutil_socket_error_to_string(e));
	if (srv->stopping)
		return;
	evconnlistener_disable(l);
	if (event_base_once(srv->base, -1, EV_TIMEOUT, listener_resume, l, &pause) != 0)
		evconnlistener_enable(l);
}

static int
add_listener(struct smtp_server *srv, struct evconnlistener *l, char *err, size_t errlen)
{
	if (l == NULL) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen,
			         "address already in use (another program listens there; pick "
			         "another with --smtp ADDR:PORT or smtp_listen)");
		else
			snprintf(err, errlen, "%s", strerror(errno));
		return DM_EIO;
	}
	evconnlistener_set_error_cb(l, accept_error);
	srv->lis[srv->nlis++] = l;
	return 0;
}

int
smtp_server_listen(struct smtp_server *srv, const char *addrport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;

	if (srv->nlis >= SMTP_MAX_LISTENERS) {
		snprintf(err, errlen, "too many listeners (at most %d)", SMTP_MAX_LISTENERS);
		return DM_ELIMIT;
	}
	memset(&ss, 0, sizeof ss);
	if (evutil_parse_sockaddr_port(addrport, (struct sockaddr *)&ss, &sslen) != 0 ||
	    ((struct sockaddr_in *)&ss)->sin_port == 0) {
		snprintf(err, errlen, "'%s' is not ADDR:PORT or [V6]:PORT", addrport);
		return DM_EUSAGE;
	}
	return add_listener(srv,
	                    evconnlistener_new_bind(srv->base, accept_cb, srv,
	                                            LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
	                                                    LEV_OPT_CLOSE_ON_EXEC,
	                                            512, (struct sockaddr *)&ss, sslen),
	                    err, errlen);
}

int
smtp_server_listen_lmtp(struct smtp_server *srv, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat sb;

	if (srv->nlis >= SMTP_MAX_LISTENERS) {
		snprintf(err, errlen, "too many listeners (at most %d)", SMTP_MAX_LISTENERS);
		return DM_ELIMIT;
	}
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return DM_EUSAGE;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left over by a server that is gone is replaced; anything
	 * else at that path (a file, a folder, a live server's socket) is
	 * left alone and refused. */
	if (lstat(path, &sb) == 0) {
		int probe, live;

		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket; not replaced", path);
			return DM_EUSAGE;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			snprintf(err, errlen, "%s: another server is listening on this socket",
			         path);
			return DM_EBUSY;
		}
		if (unlink(path) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: cannot remove the old socket: %s", path,
			         strerror(errno));
			return DM_EIO;
		}
	}
	if (add_listener(srv,
	                 evconnlistener_new_bind(srv->base, accept_cb, srv,
	                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 512,
	                                         (struct sockaddr *)&sun, sizeof sun),
	                 err, errlen) != 0)
		return DM_EIO;
	srv->lmtp_path = xstrdup(path);
	/* the MTA connects as its own user: group access, no one else */
	if (chmod(path, 0660) != 0) {
		snprintf(err, errlen, "%s: cannot set mode 0660: %s", path, strerror(errno));
		return DM_EIO;
	}
	return 0;
}

/* ---- lifetime --------------------------------------------------------------- */

static SSL_CTX *
tls_context(const struct smtp_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		char e[256];

		ERR_error_string_n(ERR_get_error(), e, sizeof e);
		snprintf(err, errlen, "TLS certificate %s / key %s: %s", cfg->tls_cert,
		         cfg->tls_key, e);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	return ctx;
}

struct smtp_server *
smtp_server_new(struct event_base *base, const struct smtp_config *cfg, struct spool *spool,
                const struct smtp_hooks *hooks, char *err, size_t errlen)
{
	struct smtp_server *srv = xcalloc(1, sizeof *srv);

	srv->base = base;
	srv->cfg = *cfg;
	snprintf(srv->hostname, sizeof srv->hostname, "%s", cfg->hostname);
	srv->cfg.hostname = srv->hostname;
	srv->spool = spool;
	srv->hooks = *hooks;
	srv->pending_tail = &srv->pending;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	if (cfg->tls_cert != NULL && cfg->tls_cert[0] && cfg->tls_key != NULL && cfg->tls_key[0]) {
		srv->ssl = tls_context(cfg, err, errlen);
		if (srv->ssl == NULL)
			goto fail;
	}
	srv->done_ev = event_new(base, -1, 0, commit_done, srv);
	if (srv->done_ev == NULL) {
		snprintf(err, errlen, "cannot create an event");
		goto fail;
	}
	if (pthread_create(&srv->thr, NULL, commit_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the commit thread");
		goto fail;
	}
	srv->thr_started = 1;
	return srv;
fail:
	smtp_server_free(srv);
	return NULL;
}

void
smtp_server_shutdown(struct smtp_server *srv, int *done)
{
	struct smtp_session *s, *next;

	srv->stopping = 1;
	srv->stopped = done;
	for (unsigned i = 0; i < srv->nlis; i++)
		evconnlistener_disable(srv->lis[i]);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SMTP_ST_COMMIT || s->closing)
			continue; /* answered when its commit is done */
		txn_reset(s);
		reply(s, "421 4.3.2 %s Service shutting down", srv->hostname);
		session_close(s);
	}
	if (srv->nsessions == 0)
		*done = 1;
}

unsigned
smtp_server_sessions(const struct smtp_server *srv)
{
	return srv->nsessions;
}

void
smtp_server_free(struct smtp_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->thr_started) {
		pthread_mutex_lock(&srv->mu);
		srv->quit = 1;
		pthread_cond_signal(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
		pthread_join(srv->thr, NULL);
	}
	while (srv->sessions != NULL) {
		struct smtp_session *s = srv->sessions;

		if (s->cmsg != NULL) {
			spool_msg_abort(s->cmsg);
			s->cmsg = NULL;
		}
		session_free(s);
	}
	for (unsigned i = 0; i < srv->nlis; i++)
		evconnlistener_free(srv->lis[i]);
	if (srv->lmtp_path != NULL) {
		unlink(srv->lmtp_path);
		free(srv->lmtp_path);
	}
	if (srv->done_ev != NULL)
		event_free(srv->done_ev);
	if (srv->ssl != NULL)
		SSL_CTX_free(srv->ssl);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cv);
	free(srv);
}
