/*
 * fetch.c - pull report mail from an IMAP mailbox into the spool, with
 * libcurl (imaps://, or imap:// with STARTTLS required).
 *
 * Functions: fetch_global_init, fetch_run.
 *
 * One run over one [fetch] source, on one connection:
 *
 *   load state (UIDVALIDITY, next UID, pending UID)   <data_dir>/fetch/<hash>.state
 *   SELECT + UID SEARCH UID next:*      UIDVALIDITY read from the SELECT answer;
 *                                       changed: next = 1 (search again)
 *   pending UID: do its after action    (spooled before a crash, action not done)
 *   UID FETCH lo:hi (UID RFC822.SIZE FLAGS)
 *   for each UID, ascending:
 *     too large? -> left in the mailbox, counted, skipped
 *     spool_msg_begin .. UID FETCH n BODY[] streamed into the spool .. commit
 *     state: next = n + 1, pending = n   (written durably: tmp, fsync, rename)
 *     after: UID STORE +FLAGS (\Seen) | UID MOVE n "FOLDER" |
 *            UID STORE +FLAGS (\Deleted) + UID EXPUNGE n
 *
 * The order is the guarantee: nothing is flagged, moved or deleted before
 * spool_msg_commit() returned 0 for it.  A crash (kill -9) before the
 * state write fetches the message again in the next run, a second spool
 * entry that the store's duplicate check makes harmless; a crash between
 * the state write and the after action leaves the UID pending, and the
 * next run does the action first.  libcurl reads a message with
 * BODY[] (it has no BODY.PEEK), which makes most servers set \Seen at
 * once; nothing here relies on \Seen (resumption is by UID), and a message
 * that then fails is given its \Seen back when it did not have it.
 *
 * Memory is bounded: a message goes from libcurl's write callback into the
 * spool file, never whole into memory, and stops at DM_MAX_MESSAGE_BYTES;
 * SEARCH answers are read as a stream of numbers, at most
 * DM_FETCH_MAX_PER_RUN of them per run.  A server's lines that are parsed
 * here are cut at DM_FETCH_MAX_LINE.  Message bytes are never parsed: a
 * mail's content cannot be taken for protocol (libcurl reads the literal
 * by its announced length).
 *
 * Logs nothing itself: errors are returned, messages reported through
 * the hooks (the callers log and print).
 */
#include "fetch/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "spool/spool.h"

#define FETCH_URL_MAX 1024

enum fetch_mode { M_NONE, M_SEARCH, M_ATTRS, M_BODY };

struct attr {
	uint32_t uid;
	uint64_t size;
	int seen;
};

struct state {
	uint32_t uidvalidity; /* 0: none yet */
	uint32_t next;        /* first UID not yet spooled */
	uint32_t pending;     /* spooled, after action maybe not done; 0: none */
};

struct fx {
	const struct dm_fetch_source *src;
	const struct fetch_hooks *hooks;
	CURL *h;
	char curlerr[CURL_ERROR_SIZE];
	char base[FETCH_URL_MAX]; /* scheme://host[:port]/ */
	char mbox[FETCH_URL_MAX]; /* base + mailbox (as in the URL) */
	char host[256];           /* for the envelope */
	enum fetch_mode mode;
	/* header lines: UIDVALIDITY from the SELECT answer */
	uint32_t uidvalidity;
	/* M_SEARCH: numbers streamed */
	uint32_t search_from;
	uint32_t *uids;
	size_t nuids;
	uint32_t min_dropped; /* smallest UID not kept (cap reached); 0 none */
	char head[10];
	size_t lpos;
	int is_search;
	uint64_t num;
	int in_num;
	/* M_ATTRS: lines */
	char line[DM_FETCH_MAX_LINE];
	size_t linelen;
	struct attr *attrs;
	size_t nattrs;
	/* M_BODY */
	struct spool_msg *msg;
	uint64_t body;
	int too_large;
	int spool_rc;
	/* paths */
	char state_path[PATH_MAX + 64];
	char dir[PATH_MAX];
};

int
fetch_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : DM_EIO;
}

/* ---- the server's answers --------------------------------------------- */

static const char *
find_ci(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return s + i;
	return NULL;
}

static uint64_t
read_num(const char *p, const char *end, int *ok)
{
	uint64_t v = 0;
	*ok = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return *ok = 0, 0;
		v = v * 10 + (uint64_t)(*p++ - '0');
		*ok = 1;
	}
	return v;
}

static void
search_push(struct fx *x)
{
	if (!x->in_num)
		return;
	x->in_num = 0;
	if (x->num == 0 || x->num > UINT32_MAX || x->num < x->search_from)
		return; /* "UID n:*" also answers the last UID when it is below n */
	if (x->nuids < DM_FETCH_MAX_PER_RUN) {
		x->uids[x->nuids++] = (uint32_t)x->num;
	} else if (x->min_dropped == 0 || x->num < x->min_dropped) {
		x->min_dropped = (uint32_t)x->num;
	}
}

/* "* SEARCH 1 2 3": a stream of numbers, however long the line. */
static void
search_bytes(struct fx *x, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\n') {
			search_push(x);
			x->lpos = 0;
			x->is_search = 0;
			continue;
		}
		if (x->lpos < 9) {
			x->head[x->lpos++] = c;
			if (x->lpos == 9)
				x->is_search = strncasecmp(x->head, "* SEARCH ", 9) == 0;
			continue;
		}
		if (!x->is_search)
			continue;
		if (c >= '0' && c <= '9') {
			if (!x->in_num)
				x->num = 0;
			x->in_num = 1;
			if (x->num <= UINT32_MAX)
				x->num = x->num * 10 + (uint64_t)(c - '0');
		} else {
			search_push(x);
		}
	}
}

/* "* 3 FETCH (UID 7 RFC822.SIZE 1234 FLAGS (\Seen))" */
static void
attrs_line(struct fx *x, const char *l, size_t n)
{
	const char *end = l + n, *p;
	struct attr a = {0, 0, 0};
	int ok;

	if (n < 2 || l[0] != '*' || !find_ci(l, n, " FETCH ("))
		return;
	if ((p = find_ci(l, n, "(UID ")) == NULL && (p = find_ci(l, n, " UID ")) == NULL)
		return;
	uint64_t uid = read_num(p + 5, end, &ok);
	if (!ok || uid == 0 || uid > UINT32_MAX)
		return;
	a.uid = (uint32_t)uid;
	if ((p = find_ci(l, n, "RFC822.SIZE ")) != NULL) {
		a.size = read_num(p + 12, end, &ok);
		if (!ok)
			a.size = 0;
	}
	if ((p = find_ci(l, n, "FLAGS (")) != NULL) {
		const char *close = memchr(p, ')', (size_t)(end - p));
		a.seen = find_ci(p, (size_t)((close ? close : end) - p), "\\Seen") != NULL;
	}
	if (x->nattrs < DM_FETCH_MAX_PER_RUN)
		x->attrs[x->nattrs++] = a;
}

static void
attrs_bytes(struct fx *x, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			attrs_line(x, x->line, x->linelen);
			x->linelen = 0;
		} else if (x->linelen < sizeof x->line) {
			x->line[x->linelen++] = p[i];
		}
	}
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fx *x = arg;
	size_t n = size * nmemb;

	switch (x->mode) {
	case M_SEARCH:
		search_bytes(x, p, n);
		return n;
	case M_ATTRS:
		attrs_bytes(x, p, n);
		return n;
	case M_BODY:
		if (DM_MAX_MESSAGE_BYTES - x->body < n) {
			x->too_large = 1;
			return 0; /* aborts the transfer */
		}
		x->body += n;
		if ((x->spool_rc = spool_msg_write(x->msg, p, n)) != 0)
			return 0;
		return n;
	default:
		return n;
	}
}

/* Every answer line libcurl reads comes here: UIDVALIDITY of the SELECT. */
static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fx *x = arg;
	size_t n = size * nmemb, k = n < DM_FETCH_MAX_LINE ? n : DM_FETCH_MAX_LINE;
	const char *u;
	int ok;

	if (k > 2 && p[0] == '*' && (u = find_ci(p, k, "[UIDVALIDITY ")) != NULL) {
		uint64_t v = read_num(u + 13, p + k, &ok);
		if (ok && v > 0 && v <= UINT32_MAX)
			x->uidvalidity = (uint32_t)v;
	}
	return n;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct fx *x = arg;
	(void)dt, (void)dn, (void)ut, (void)un;
	return x->hooks && x->hooks->stop && x->hooks->stop(x->hooks->arg);
}

static CURLcode
perform(struct fx *x, const char *url, const char *custom, enum fetch_mode mode)
{
	x->mode = mode;
	x->lpos = 0;
	x->is_search = 0;
	x->in_num = 0;
	x->linelen = 0;
	x->curlerr[0] = '\0';
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, custom);
	CURLcode cc = curl_easy_perform(x->h);
	if (mode == M_SEARCH)
		search_bytes(x, "\n", 1);
	else if (mode == M_ATTRS && x->linelen > 0)
		attrs_bytes(x, "\n", 1);
	x->mode = M_NONE;
	return cc;
}

/* One line about a failed request. */
static void
curl_why(struct fx *x, CURLcode cc, const char *what, char *err, size_t errlen)
{
	const char *detail = x->curlerr[0] ? x->curlerr : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_LOGIN_DENIED:
		snprintf(err, errlen, "%s: login refused (wrong user or password?): %s",
		         x->src->url, detail);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		snprintf(err, errlen,
		         "%s: TLS: the server's certificate is not trusted (%s); ca_file names a"
		         " private CA",
		         x->src->url, detail);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(err, errlen, "%s: ca_file %s cannot be used: %s", x->src->url,
		         x->src->ca_file, detail);
		break;
	case CURLE_USE_SSL_FAILED:
		snprintf(err, errlen,
		         "%s: the server offers no STARTTLS (plain = yes allows imap:// without"
		         " TLS): %s",
		         x->src->url, detail);
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "%s: cannot reach the server: %s", x->src->url, detail);
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		snprintf(err, errlen, "%s: stopped", x->src->url);
		break;
	default:
		snprintf(err, errlen, "%s: %s: %s", x->src->url, what, detail);
	}
}

/* ---- state file --------------------------------------------------------- */

static int
state_load(struct fx *x, struct state *st)
{
	char buf[2048];
	int fd = open(x->state_path, O_RDONLY | O_CLOEXEC);

	memset(st, 0, sizeof *st);
	st->next = 1;
	if (fd < 0)
		return errno == ENOENT ? 0 : DM_EIO;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return DM_EIO;
	buf[n] = '\0';
	for (char *l = buf; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl++ = '\0';
		const char *keys[] = {"uidvalidity ", "next ", "pending "};
		uint32_t *vals[] = {&st->uidvalidity, &st->next, &st->pending};
		for (int i = 0; i < 3; i++) {
			size_t k = strlen(keys[i]);
			if (strncmp(l, keys[i], k) == 0) {
				char *end;
				errno = 0;
				unsigned long long v = strtoull(l + k, &end, 10);
				if (errno == 0 && end != l + k && *end == '\0' && v <= UINT32_MAX)
					*vals[i] = (uint32_t)v;
			}
		}
		l = nl;
	}
	if (st->next == 0)
		st->next = 1;
	return 0;
}

/* Durably: a temp file, fdatasync, rename over, fsync of the folder. */
static int
state_save(struct fx *x, const struct state *st)
{
	char tmp[PATH_MAX + 128], buf[FETCH_URL_MAX + 256];
	int n = snprintf(buf, sizeof buf,
	                 "# dmarcd fetch state (docs/FETCH.md)\nurl %s\nuidvalidity %u\nnext "
	                 "%u\npending %u\n",
	                 x->src->url, st->uidvalidity, st->next, st->pending);
	snprintf(tmp, sizeof tmp, "%s.tmp", x->state_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return dm_errno_code(errno);
	int rc = dm_write_all(fd, buf, (size_t)n);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = dm_errno_code(errno);
	if (close(fd) != 0 && rc == 0)
		rc = dm_errno_code(errno);
	if (rc == 0 && rename(tmp, x->state_path) != 0)
		rc = dm_errno_code(errno);
	if (rc == 0)
		rc = dm_fsync_dir(x->dir);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* ---- one source --------------------------------------------------------- */

/* Split the configured URL: user (decoded) out, base and mailbox URLs. */
static int
split_url(struct fx *x, char *user, size_t userlen, char *err, size_t errlen)
{
	const char *url = x->src->url;
	const char *rest = strstr(url, "://") + 3;
	const char *slash = strchr(rest, '/');
	size_t auth = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *at = memchr(rest, '@', auth);
	const char *mbox = slash ? slash + 1 : "";
	size_t mlen = strlen(mbox);

	while (mlen > 0 && mbox[mlen - 1] == '/')
		mlen--;
	int un = 0;
	char *dec = curl_easy_unescape(x->h, rest, (int)(at - rest), &un);
	if (!dec || (size_t)un >= userlen || memchr(dec, '\0', (size_t)un)) {
		curl_free(dec);
		snprintf(err, errlen, "%s: the user name is not usable", url);
		return DM_EUSAGE;
	}
	memcpy(user, dec, (size_t)un);
	user[un] = '\0';
	curl_free(dec);
	size_t hl = (size_t)(rest + auth - (at + 1));
	if (hl >= sizeof x->host) {
		snprintf(err, errlen, "%s: the host name is too long", url);
		return DM_EUSAGE;
	}
	memcpy(x->host, at + 1, hl);
	x->host[hl] = '\0';
	/* url is at most 511 bytes (config.h): base and mbox fit */
	int n = snprintf(x->base, sizeof x->base, "%.*s%s/", (int)(rest - url), url, x->host);
	if (n < 0 || (size_t)n >= sizeof x->base)
		return DM_EUSAGE;
	n = snprintf(x->mbox, sizeof x->mbox, "%s%.*s", x->base, (int)(mlen ? mlen : 5),
	             mlen ? mbox : "INBOX");
	if (n < 0 || (size_t)n >= sizeof x->mbox)
		return DM_EUSAGE;
	return 0;
}

static int
read_password(const struct dm_fetch_source *src, char *pw, size_t pwlen, char *err, size_t errlen)
{
	if (src->password[0]) {
		snprintf(pw, pwlen, "%s", src->password);
		return 0;
	}
	if (!src->password_file[0]) {
		snprintf(err, errlen,
		         "%s: no password: set password or password_file in its [fetch]", src->url);
		return DM_EUSAGE;
	}
	FILE *f = fopen(src->password_file, "r");
	if (!f) {
		snprintf(err, errlen, "%s: password_file %s: %s", src->url, src->password_file,
		         strerror(errno));
		return DM_EUSAGE;
	}
	if (!fgets(pw, (int)pwlen, f))
		pw[0] = '\0';
	fclose(f);
	pw[strcspn(pw, "\r\n")] = '\0';
	if (!pw[0]) {
		snprintf(err, errlen, "%s: password_file %s is empty", src->url,
		         src->password_file);
		return DM_EUSAGE;
	}
	return 0;
}

/* The after action on uid.  0, or DM_EIO with err. */
static int
do_after(struct fx *x, uint32_t uid, const char **done, char *err, size_t errlen)
{
	char cmd[DM_FETCH_MAX_MAILBOX + 64];
	const char *after = x->src->after;
	CURLcode cc;

	if (strcmp(after, "flag") == 0) {
		snprintf(cmd, sizeof cmd, "UID STORE %u +FLAGS.SILENT (\\Seen)", uid);
		cc = perform(x, x->mbox, cmd, M_NONE);
		*done = "flagged";
	} else if (strcmp(after, "delete") == 0) {
		snprintf(cmd, sizeof cmd, "UID STORE %u +FLAGS.SILENT (\\Deleted)", uid);
		cc = perform(x, x->mbox, cmd, M_NONE);
		if (cc == CURLE_OK) {
			/* UIDPLUS: expunges this message only, never others marked
			 * \Deleted by someone else */
			snprintf(cmd, sizeof cmd, "UID EXPUNGE %u", uid);
			cc = perform(x, x->mbox, cmd, M_NONE);
		}
		*done = "deleted";
	} else {
		snprintf(cmd, sizeof cmd, "UID MOVE %u \"%s\"", uid, after + 5);
		cc = perform(x, x->mbox, cmd, M_NONE);
		*done = "moved";
	}
	if (cc != CURLE_OK) {
		char why[512];
		curl_why(x, cc, "after", why, sizeof why);
		snprintf(err, errlen, "UID %u: %s failed (%s)", uid, after, why);
		*done = "after_failed";
		return DM_EIO;
	}
	return 0;
}

static void
report(struct fx *x, const struct fetch_event *e)
{
	if (x->hooks && x->hooks->on_msg)
		x->hooks->on_msg(x->hooks->arg, e);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static const struct attr *
attr_of(const struct fx *x, uint32_t uid)
{
	for (size_t i = 0; i < x->nattrs; i++)
		if (x->attrs[i].uid == uid)
			return &x->attrs[i];
	return NULL;
}

/* UID SEARCH from st->next; restarts at 1 when UIDVALIDITY changed. */
static int
search(struct fx *x, struct state *st, struct fetch_totals *t, char *err, size_t errlen)
{
	char cmd[64];
	x->uidvalidity = 0; /* set by the SELECT libcurl sends first */
	for (int pass = 0; pass < 2; pass++) {
		x->nuids = 0;
		x->min_dropped = 0;
		x->search_from = st->next;
		snprintf(cmd, sizeof cmd, "UID SEARCH UID %u:*", st->next);
		CURLcode cc = perform(x, x->mbox, cmd, M_SEARCH);
		if (cc != CURLE_OK) {
			curl_why(x, cc, "SELECT and SEARCH", err, errlen);
			return DM_EIO;
		}
		if (x->uidvalidity == 0) {
			snprintf(err, errlen, "%s: the server sent no UIDVALIDITY", x->src->url);
			return DM_EIO;
		}
		t->uidvalidity = x->uidvalidity;
		if (st->uidvalidity == x->uidvalidity)
			return 0;
		if (st->uidvalidity != 0)
			t->restarted = 1; /* changed: every UID may name another message */
		st->uidvalidity = x->uidvalidity;
		st->pending = 0;
		if (st->next == 1)
			return 0;
		st->next = 1;
	}
	return 0;
}

static int
one_message(struct fx *x, struct spool *sp, struct state *st, uint32_t uid, struct fetch_totals *t,
            char *err, size_t errlen)
{
	const struct attr *a = attr_of(x, uid);
	struct fetch_event e = {uid, a ? a->size : 0, "", "", "", ""};
	char url[FETCH_URL_MAX + 64], why[1024] = "", id[SPOOL_ID_MAX];
	const char *rcpt[1] = {x->src->rcpt};
	struct spool_envelope env = {
	        .from = "",
	        .rcpt = rcpt,
	        .nrcpt = 1,
	        .client_ip = "",
	        .helo = x->host,
	        .proto = "IMAP",
	        .received_at = (int64_t)time(NULL),
	};
	int rc;

	if (a && a->size > DM_MAX_MESSAGE_BYTES) {
		snprintf(why, sizeof why,
		         "UID %u: too large (%llu > %llu bytes): left in the mailbox", uid,
		         (unsigned long long)a->size, (unsigned long long)DM_MAX_MESSAGE_BYTES);
		e.status = "too_large";
		e.error = why;
		t->failed++;
		report(x, &e);
		return 0;
	}
	if ((rc = spool_msg_begin(sp, &env, &x->msg)) != 0) {
		snprintf(err, errlen, "spool: %s", dm_strerror(rc));
		return rc;
	}
	snprintf(id, sizeof id, "%s", spool_msg_id(x->msg));
	x->body = 0;
	x->too_large = 0;
	x->spool_rc = 0;
	snprintf(url, sizeof url, "%s;UIDVALIDITY=%u/;UID=%u", x->mbox, st->uidvalidity, uid);
	CURLcode cc = perform(x, url, NULL, M_BODY);
	if (cc == CURLE_OK && x->body == 0) {
		cc = CURLE_REMOTE_FILE_NOT_FOUND;
		snprintf(x->curlerr, sizeof x->curlerr, "no such message");
	}
	if (cc != CURLE_OK) {
		spool_msg_abort(x->msg);
		x->msg = NULL;
		if (x->spool_rc != 0) {
			snprintf(err, errlen, "spool %s: %s", id, dm_strerror(x->spool_rc));
			return x->spool_rc;
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			snprintf(err, errlen, "%s: stopped", x->src->url);
			return DM_ESTOP;
		}
		if (x->too_large)
			snprintf(why, sizeof why,
			         "UID %u: too large (more than %llu bytes): left in"
			         " the mailbox",
			         uid, (unsigned long long)DM_MAX_MESSAGE_BYTES);
		else if (cc == CURLE_REMOTE_FILE_NOT_FOUND)
			snprintf(why, sizeof why, "UID %u: gone from the mailbox", uid);
		else if (cc == CURLE_WRITE_ERROR || cc == CURLE_RECV_ERROR ||
		         cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT ||
		         cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING ||
		         cc == CURLE_SSL_CONNECT_ERROR) {
			/* the connection: the others would fail too; next run */
			curl_why(x, cc, "FETCH", err, errlen);
			return DM_EIO;
		} else {
			char w[512];
			curl_why(x, cc, "FETCH", w, sizeof w);
			snprintf(why, sizeof why, "UID %u: %s", uid, w);
		}
		/* BODY[] set \Seen; give it back (on a new connection if need be) */
		if (a && !a->seen && cc != CURLE_REMOTE_FILE_NOT_FOUND) {
			char cmd[64];
			snprintf(cmd, sizeof cmd, "UID STORE %u -FLAGS.SILENT (\\Seen)", uid);
			(void)perform(x, x->mbox, cmd, M_NONE);
		}
		e.status = cc == CURLE_REMOTE_FILE_NOT_FOUND ? "gone"
		           : x->too_large                    ? "too_large"
		                                             : "failed";
		e.error = why;
		t->failed++;
		report(x, &e);
		return 0;
	}
	uint64_t size = x->body;
	rc = spool_msg_commit(x->msg);
	x->msg = NULL;
	if (rc != 0) {
		snprintf(err, errlen, "spool %s: %s", id, dm_strerror(rc));
		return rc;
	}
	/* durable: now, and only now, the message may be acted upon */
	t->spooled++;
	t->bytes += size;
	st->next = uid + 1;
	st->pending = uid;
	if ((rc = state_save(x, st)) != 0) {
		snprintf(err, errlen, "state file %s: %s (UID %u is in the spool as %s)",
		         x->state_path, dm_strerror(rc), uid, id);
		return rc;
	}
	e.status = "spooled";
	e.spool_id = id;
	e.size = size;
	if (do_after(x, uid, &e.after, why, sizeof why) != 0) {
		t->after_failed++;
		e.error = why;
	}
	st->pending = 0;
	report(x, &e);
	return 0;
}

static int
run(struct fx *x, struct spool *sp, struct fetch_totals *t, char *err, size_t errlen)
{
	struct state st;
	int rc;

	if ((rc = state_load(x, &st)) != 0) {
		snprintf(err, errlen, "state file %s: %s", x->state_path, dm_strerror(rc));
		return rc;
	}
	uint32_t old_validity = st.uidvalidity;
	if ((rc = search(x, &st, t, err, errlen)) != 0)
		return rc;
	if (st.pending != 0 && st.uidvalidity == old_validity) {
		/* spooled before a crash, its after action perhaps not done */
		const char *done;
		char why[1024];
		if (do_after(x, st.pending, &done, why, sizeof why) != 0) {
			struct fetch_event e = {st.pending, 0, "spooled", "", done, why};
			t->after_failed++;
			report(x, &e);
		}
		st.pending = 0;
	}
	if (strncmp(x->src->after, "move:", 5) == 0 && x->nuids > 0) {
		/* the folder may not exist yet: an error here means it does */
		char cmd[DM_FETCH_MAX_MAILBOX + 16];
		snprintf(cmd, sizeof cmd, "CREATE \"%s\"", x->src->after + 5);
		(void)perform(x, x->base, cmd, M_NONE);
	}
	qsort(x->uids, x->nuids, sizeof *x->uids, cmp_u32);
	if (x->nuids > 0) {
		char cmd[96];
		snprintf(cmd, sizeof cmd, "UID FETCH %u:%u (UID RFC822.SIZE FLAGS)", x->uids[0],
		         x->uids[x->nuids - 1]);
		x->nattrs = 0;
		CURLcode cc = perform(x, x->mbox, cmd, M_ATTRS);
		if (cc != CURLE_OK) {
			curl_why(x, cc, "FETCH sizes", err, errlen);
			return DM_EIO;
		}
	}
	for (size_t i = 0; i < x->nuids; i++) {
		uint32_t uid = x->uids[i];
		if (x->min_dropped && uid >= x->min_dropped)
			break;
		if (i > 0 && uid == x->uids[i - 1])
			continue;
		if (x->hooks && x->hooks->stop && x->hooks->stop(x->hooks->arg)) {
			snprintf(err, errlen, "%s: stopped", x->src->url);
			rc = DM_ESTOP;
			break;
		}
		if ((rc = one_message(x, sp, &st, uid, t, err, errlen)) != 0)
			break;
		st.next = uid + 1; /* failed ones too: they stay in the mailbox */
	}
	if (x->min_dropped || x->nuids >= DM_FETCH_MAX_PER_RUN)
		t->more = 1;
	int rs = state_save(x, &st);
	if (rs != 0 && rc == 0) {
		snprintf(err, errlen, "state file %s: %s", x->state_path, dm_strerror(rs));
		rc = rs;
	}
	return rc;
}

int
fetch_run(const struct dm_fetch_source *src, const char *data_dir, struct spool *sp,
          const struct fetch_hooks *hooks, struct fetch_totals *t, char *err, size_t errlen)
{
	struct fx *x = xcalloc(1, sizeof *x);
	char user[256], pw[512], hex[DM_SHA256_HEX], lock_path[PATH_MAX + 64];
	int rc, lock_fd = -1;

	memset(t, 0, sizeof *t);
	x->src = src;
	x->hooks = hooks;
	x->uids = xcalloc(DM_FETCH_MAX_PER_RUN, sizeof *x->uids);
	x->attrs = xcalloc(DM_FETCH_MAX_PER_RUN, sizeof *x->attrs);
	pw[0] = '\0';
	if ((x->h = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		rc = DM_EIO;
		goto out;
	}
	if ((rc = split_url(x, user, sizeof user, err, errlen)) != 0)
		goto out;
	if ((rc = read_password(src, pw, sizeof pw, err, errlen)) != 0)
		goto out;

	/* state and lock: <data_dir>/fetch/<sha256 of the URL>.state|.lock */
	struct dm_sha256 *hs = dm_sha256_new();
	dm_sha256_update(hs, src->url, strlen(src->url));
	dm_sha256_final_hex(hs, hex);
	dm_sha256_free(hs);
	snprintf(x->dir, sizeof x->dir, "%s/fetch", data_dir);
	if ((rc = dm_mkdir_p(x->dir, 0700)) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", x->dir, dm_strerror(rc));
		goto out;
	}
	snprintf(x->state_path, sizeof x->state_path, "%s/%.32s.state", x->dir, hex);
	snprintf(lock_path, sizeof lock_path, "%s/%.32s.lock", x->dir, hex);
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		snprintf(err, errlen, "%s: %s", lock_path, strerror(errno));
		rc = DM_EIO;
		goto out;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "%s: another fetch of this mailbox is running", src->url);
		rc = DM_EBUSY;
		goto out;
	}

	CURL *h = x->h;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curlerr);
	curl_easy_setopt(h, CURLOPT_USERNAME, user);
	curl_easy_setopt(h, CURLOPT_PASSWORD, pw);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)DM_FETCH_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)DM_FETCH_STALL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_USE_SSL,
	                 strcmp(src->plain, "yes") == 0 ? (long)CURLUSESSL_TRY
	                                                : (long)CURLUSESSL_ALL);
	if (src->ca_file[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, src->ca_file);
	if (strcmp(src->insecure, "yes") == 0) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	rc = run(x, sp, t, err, errlen);
out:
	explicit_bzero(pw, sizeof pw);
	if (x->msg)
		spool_msg_abort(x->msg);
	if (x->h)
		curl_easy_cleanup(x->h);
	if (lock_fd >= 0)
		close(lock_fd);
	free(x->uids);
	free(x->attrs);
	free(x);
	return rc;
}
