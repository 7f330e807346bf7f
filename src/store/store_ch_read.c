/*
 * store_ch_read.c - the read side of the ClickHouse store: the queries of
 * the API over the HTTP interface (libcurl, as store_ch.c), each reader
 * with a connection of its own.
 *
 * Functions: the store_ch_read_ops table (open, close, error, ping,
 * domains, summary, timeseries, sources, source, reporters, reports,
 * report, export).
 *
 * The same answers as the SQLite store from the tables store_ch.c
 * writes (docs/ARCHITECTURE.md §9): day_totals for domains, summary, time
 * series and reporters; src_day for the sources; daily for a source's
 * days, reporters and header_from; reports and records for the lists,
 * the detail, the export and a source's DKIM and SPF results.  What
 * differs from the other stores:
 *
 *   - A report is live through an attempt with a commit row and no cancel
 *     row: every read of `reports` leaves cancelled attempts out, and
 *     every rollup has the cells of cancelled attempts subtracted (a
 *     UNION ALL of the rollup and those cells negated).  A group whose
 *     records sum to nothing is gone (HAVING), as if never stored.
 *   - The rollups are SummingMergeTree tables whose parts are merged
 *     later: every query sums, never reads a row as final.
 *   - A report's id is its attempt (below 2^53, so a JavaScript client
 *     reads it exactly); its records are found by the attempt and the
 *     whole identity.
 *   - No window functions in 18.16: a page of sources and its total are
 *     two queries.
 *
 * Strings from the request reach SQL only as unhex('...') literals of
 * their stored form (store_ch_literal); numbers are printed from C
 * integers.  Answers are TabSeparated, read line by line as they arrive,
 * so memory does not grow with a result; a caller that stops early makes
 * the transfer stop.  Every query is sent with readonly=2 (no writes;
 * settings allowed).  Logs nothing.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "core/arena.h"
#include "common/ip.h"
#include "store/backend.h"
#include "store/read.h"
#include "store/store.h"
#include "store/store_ch.h"

#define MAX_COLS 48
#define ERR_BODY 1024
#define OPEN_FROM (-(INT64_C(1) << 60))
#define OPEN_TO (INT64_C(1) << 60)

/* SQL laid out as SQL */
/* clang-format off */

/* The sums every rollup query returns, named c0..c6 and rc (records). */
#define COUNTS_AS \
	" sum(messages) AS c0, sum(if(dkim_pass OR spf_pass, messages, 0)) AS c1," \
	" sum(if(dkim_pass OR spf_pass, 0, messages)) AS c2," \
	" sum(if(spf_pass = 1, messages, 0)) AS c3, sum(if(dkim_pass = 1, messages, 0)) AS c4," \
	" sum(if(disposition = 'quarantine', messages, 0)) AS c5," \
	" sum(if(disposition = 'reject', messages, 0)) AS c6, sum(records) AS rc"
#define NCOUNTS 7
/* ... and from src_day */
#define SRC_COUNTS_AS \
	" sum(messages) AS c0, sum(dmarc_pass) AS c1, c0 - c1 AS c2, sum(spf_aligned) AS c3," \
	" sum(dkim_aligned) AS c4, sum(quarantine) AS c5, sum(reject) AS c6, sum(records) AS rc"

/* The rollup columns of day_totals and daily the queries group by. */
#define TOTALS_COLS "domain, day, reporter, disposition, dkim_pass, spf_pass"
#define DAILY_COLS TOTALS_COLS ", source_ip, header_from"

/* The report columns every report row is read with, in this order. */
#define REPORT_COLS \
	" attempt, account_id, org_name, email, extra_contact_info, report_id, policy_domain," \
	" date_begin, date_end, received_at, records, messages, generator, version, schema, xmlns," \
	" report_error, archive_key, warnings, adkim, aspf, p, sp, np, pct, fo, testing," \
	" discovery_method"
#define NREPORT 28
/* ... and a record's, after them in an export */
#define RECORD_COLS \
	" source_ip, count, disposition, dkim, spf, header_from, envelope_from, envelope_to," \
	" reasons, dkim_results, spf_results"
#define NRECORD 11
/* An export's report columns from the joined reports (renamed where
 * records has a column of the same name). */
#define EXPORT_REPORT \
	" attempt, account_id, org_name, email, extra_contact_info, report_id, policy_domain," \
	" date_begin, date_end, received_at, r_records, r_messages, generator, version, schema," \
	" xmlns, report_error, archive_key, warnings, adkim, aspf, p, sp, np, pct, fo, testing," \
	" discovery_method"
#define EXPORT_RIGHT \
	" attempt, org_name, email, extra_contact_info, received_at, records AS r_records," \
	" messages AS r_messages, generator, version, schema, xmlns, report_error, archive_key," \
	" warnings, adkim, aspf, p, sp, np, pct, fo, testing, discovery_method"
/* clang-format on */

struct chr {
	CURL *h;
	char base[600]; /* http://HOST:PORT/?database=DB&readonly=2 */
	/* a cluster's Distributed tables: the suffix of the tables queried
	 * ("_d", or ""), and DB. before a shard's own table in a subquery
	 * each shard runs on its rows (an attempt's rows are all on one) */
	char sfx[3], dbq[130];
	char user[128], password[256];
	char err[512];
	struct dm_buf sql, lit;
	/* the answer being read */
	struct dm_buf line;  /* the line not complete yet */
	struct dm_buf ebody; /* the answer of a failed query */
	long status;
	int ncols, stopped, bad;
	int (*row)(void *arg, char **f);
	void *arg;
	int row_rc;
	struct dm_arena keep;    /* strings kept past a row (a report's meta) */
	struct read_record rec;  /* one record's parsed results */
	struct read_parts parts; /* a source's DKIM and SPF results */
};

/* ---- talking to the server ------------------------------------------------ */

static void
set_err(struct chr *q, const char *what, const char *msg, size_t len)
{
	int n = snprintf(q->err, sizeof q->err, "clickhouse: %s: ", what);
	size_t o = n > 0 ? (size_t)n : 0;
	if (len == 0) {
		msg = "failed";
		len = 6;
	}
	for (size_t i = 0; i < len && o + 1 < sizeof q->err; i++)
		q->err[o++] = msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' ? ' ' : msg[i];
	while (o > 0 && q->err[o - 1] == ' ')
		o--;
	q->err[o] = '\0';
}

/* One complete line of the answer (NUL-terminated, writable): its fields
 * split, unescaped (\N is NULL), given to the query's row function. */
static int
one_line(struct chr *q, char *s)
{
	char *f[MAX_COLS];
	int n = 0;
	for (;;) {
		char *t = strchr(s, '\t');
		if (n == q->ncols)
			return q->bad = 1, -1;
		if (t)
			*t = '\0';
		if (strcmp(s, "\\N") == 0) {
			f[n++] = NULL;
		} else {
			store_ch_unescape(s);
			f[n++] = s;
		}
		if (!t)
			break;
		s = t + 1;
	}
	if (n != q->ncols)
		return q->bad = 1, -1;
	int rc = q->row(q->arg, f);
	if (rc != 0) {
		q->row_rc = rc;
		return -1;
	}
	return q->bad ? -1 : 0;
}

static size_t
on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct chr *q = arg;
	size_t len = size * nmemb;
	if (q->status == 0)
		curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->status != 200) {
		size_t room = ERR_BODY > q->ebody.len ? ERR_BODY - q->ebody.len : 0;
		if (dm_buf_add(&q->ebody, p, len < room ? len : room) != 0)
			return 0;
		return len;
	}
	size_t done = 0;
	while (done < len) {
		char *nl = memchr(p + done, '\n', len - done);
		size_t part = nl ? (size_t)(nl - (p + done)) : len - done;
		if (dm_buf_add(&q->line, p + done, part) != 0) {
			q->bad = 1; /* a line longer than any row of ours */
			return 0;
		}
		done += part;
		if (!nl)
			break;
		done++;
		if (dm_buf_addc(&q->line, '\0') != 0 || one_line(q, q->line.data) != 0)
			return 0; /* stops the transfer */
		dm_buf_reset(&q->line);
	}
	return len;
}

/* Run sql; each row of ncols fields goes to row(arg, fields).  0, the
 * row function's non-zero return, or why in q->err. */
static int
query(struct chr *q, const char *sql, const char *settings, int ncols,
      int (*row)(void *arg, char **f), void *arg)
{
	char url[sizeof q->base + 256];
	snprintf(url, sizeof url, "%s%s", q->base, settings ? settings : "");
	dm_buf_reset(&q->line);
	dm_buf_reset(&q->ebody);
	q->status = 0;
	q->ncols = ncols;
	q->row = row;
	q->arg = arg;
	q->row_rc = 0;
	q->bad = 0;
	curl_easy_setopt(q->h, CURLOPT_URL, url);
	curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, sql);
	curl_easy_setopt(q->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(sql));
	CURLcode cc = curl_easy_perform(q->h);
	if (q->row_rc != 0)
		return q->row_rc;
	if (q->status == 0)
		curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->bad || (cc == CURLE_OK && q->status == 200 && q->line.len > 0)) {
		/* a line that is not a row: an error the server wrote into
		 * an answer it had begun, or a row too long */
		const char *l = q->line.data ? q->line.data : "";
		set_err(q, "unexpected answer", l, strnlen(l, 300));
		return DM_ESTORE;
	}
	if (cc != CURLE_OK) {
		const char *m = curl_easy_strerror(cc);
		set_err(q, "query", m, strlen(m));
		return DM_EIO;
	}
	if (q->status != 200) {
		set_err(q, "query", q->ebody.data ? q->ebody.data : "", q->ebody.len);
		/* too many queries at once, or out of memory: try again later */
		if (strstr(q->err, "Code: 202,") || strstr(q->err, "Code: 241,"))
			return DM_EBUSY;
		return DM_ESTORE;
	}
	return 0;
}

/* A number field: NULL is 0; anything else that is not a number makes
 * the answer bad (an error text the server wrote after its 200). */
static int64_t
num(struct chr *q, const char *s)
{
	if (s == NULL)
		return 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end)
		q->bad = 1;
	return v;
}

/* A sum that is not negative (cancelled cells are subtracted). */
static uint64_t
unum(struct chr *q, const char *s)
{
	int64_t v = num(q, s);
	return v > 0 ? (uint64_t)v : 0;
}

static void
read_counts(struct chr *q, char **f, struct store_counts *c)
{
	c->messages = unum(q, f[0]);
	c->dmarc_pass = unum(q, f[1]);
	c->dmarc_fail = unum(q, f[2]);
	c->spf_aligned = unum(q, f[3]);
	c->dkim_aligned = unum(q, f[4]);
	c->quarantine = unum(q, f[5]);
	c->reject = unum(q, f[6]);
	c->none = c->messages - c->quarantine - c->reject;
}

/* The sums of a one-row answer (one_row's v, in COUNTS order). */
static void
counts_of(const int64_t *v, struct store_counts *c)
{
	uint64_t u[NCOUNTS];
	for (int i = 0; i < NCOUNTS; i++)
		u[i] = v[i] > 0 ? (uint64_t)v[i] : 0;
	c->messages = u[0];
	c->dmarc_pass = u[1];
	c->dmarc_fail = u[2];
	c->spf_aligned = u[3];
	c->dkim_aligned = u[4];
	c->quarantine = u[5];
	c->reject = u[6];
	c->none = c->messages - c->quarantine - c->reject;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A source_ip field (32 hex digits) into ip; 0 when it is one. */
static int
read_ip(const char *s, unsigned char ip[16])
{
	if (s == NULL || strlen(s) != 32)
		return -1;
	for (int i = 0; i < 16; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -1;
		ip[i] = (unsigned char)(h << 4 | l);
	}
	return 0;
}

/* ---- building statements ------------------------------------------------------ */

/* The statement being built; a failure to fit is remembered. */
struct stmt {
	struct chr *q;
	struct dm_buf *b;
	int bad;
};

static void
st_init(struct stmt *s, struct chr *q)
{
	s->q = q;
	s->b = &q->sql;
	s->bad = 0;
	dm_buf_reset(s->b);
}

static void DM_PRINTF(2, 3) add(struct stmt *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s->bad |= dm_buf_vprintf(s->b, fmt, ap);
	va_end(ap);
}

/* A string from the request as the literal of its stored form. */
static void
add_str(struct stmt *s, const char *v)
{
	s->bad |= store_ch_literal(s->b, &s->q->lit, v ? v : "");
}

static void
add_ip(struct stmt *s, const unsigned char ip[16])
{
	add(s, "'");
	for (int k = 0; k < 16; k++)
		add(s, "%02x", ip[k]);
	add(s, "'");
}

/* The scope: every account's rows for the admin, else the account's
 * (account -1 holds the write side's attempt markers, never read). */
static void
add_scope(struct stmt *s, const struct store_scope *sc)
{
	add(s, " ((%d AND account_id >= 0) OR account_id = %lld)", sc->admin ? 1 : 0,
	    (long long)sc->account);
}

/* The attempt is live: committed (its row is there) and not cancelled;
 * each shard asks its own cancels (an attempt's are where it is). */
static void
add_live(struct stmt *s)
{
	add(s, " attempt NOT IN (SELECT attempt FROM %scancels)", s->q->dbq);
}

static void
add_cancelled(struct stmt *s)
{
	add(s, " attempt IN (SELECT attempt FROM %scancels)", s->q->dbq);
}

static int64_t
from_of(const struct store_filter *f)
{
	return f->from == STORE_OPEN ? OPEN_FROM : f->from;
}

static int64_t
to_of(const struct store_filter *f)
{
	return f->to == STORE_OPEN ? OPEN_TO : f->to;
}

/* A rollup's filter: scope, and f's domain and days when f is given. */
static void
add_roll_where(struct stmt *s, const struct store_scope *sc, const struct store_filter *f,
               const unsigned char *ip, const struct store_source_row *page, size_t npage)
{
	add(s, " WHERE");
	add_scope(s, sc);
	if (f != NULL) {
		add(s, " AND domain = ");
		add_str(s, f->domain);
		add(s, " AND day BETWEEN %" PRId64 " AND %" PRId64, from_of(f), to_of(f));
	}
	if (ip != NULL) {
		add(s, " AND source_ip = ");
		add_ip(s, ip);
	}
	if (npage > 0) {
		add(s, " AND source_ip IN (");
		for (size_t i = 0; i < npage; i++) {
			add(s, i ? "," : "");
			add_ip(s, page[i].ip);
		}
		add(s, ")");
	}
}

/* A rollup (day_totals or daily: cols) with the cells of cancelled
 * attempts subtracted, as a subquery with cols, messages and records;
 * of one source (ip) or of a page's sources when given. */
static void
add_rollup_of(struct stmt *s, const char *table, const char *cols, const struct store_scope *sc,
              const struct store_filter *f, const unsigned char *ip,
              const struct store_source_row *page, size_t npage)
{
	add(s, " (SELECT %s, messages, records FROM %s%s", cols, table, s->q->sfx);
	add_roll_where(s, sc, f, ip, page, npage);
	add(s, " UNION ALL SELECT %s, -messages, -recs FROM cells%s", cols, s->q->sfx);
	add_roll_where(s, sc, f, ip, page, npage);
	add(s, " AND");
	add_cancelled(s);
	add(s, ")");
}

static void
add_rollup(struct stmt *s, const char *table, const char *cols, const struct store_scope *sc,
           const struct store_filter *f, const unsigned char *ip)
{
	add_rollup_of(s, table, cols, sc, f, ip, NULL, 0);
}

/* src_day likewise: the cancelled cells turned into its sums. */
static void
add_src_rollup(struct stmt *s, const struct store_scope *sc, const struct store_filter *f)
{
	add(s,
	    " (SELECT source_ip, messages, dmarc_pass, spf_aligned, dkim_aligned, quarantine,"
	    " reject, records FROM src_day%s",
	    s->q->sfx);
	add_roll_where(s, sc, f, NULL, NULL, 0);
	add(s,
	    " UNION ALL SELECT source_ip, -messages, -if(dkim_pass OR spf_pass, messages, 0),"
	    " -if(spf_pass = 1, messages, 0), -if(dkim_pass = 1, messages, 0),"
	    " -if(disposition = 'quarantine', messages, 0),"
	    " -if(disposition = 'reject', messages, 0), -recs FROM cells%s",
	    s->q->sfx);
	add_roll_where(s, sc, f, NULL, NULL, 0);
	add(s, " AND");
	add_cancelled(s);
	add(s, ")");
}

/* The live reports of f (domain may be NULL; reporter with_reporter). */
static void
add_reports_where(struct stmt *s, const struct store_scope *sc, const struct store_filter *f,
                  int with_reporter)
{
	add(s, " WHERE");
	add_scope(s, sc);
	if (f->domain != NULL) {
		add(s, " AND policy_domain = ");
		add_str(s, f->domain);
	}
	if (with_reporter && f->reporter != NULL) {
		add(s, " AND reporter = ");
		add_str(s, f->reporter);
	}
	add(s, " AND date_begin < %" PRId64 " + 86400 AND date_end > %" PRId64, to_of(f),
	    from_of(f));
}

static int
run(struct stmt *s, const char *settings, int ncols, int (*row)(void *arg, char **f), void *arg)
{
	if (s->bad || dm_buf_addc(s->b, '\0') != 0) {
		snprintf(s->q->err, sizeof s->q->err, "clickhouse: the query does not fit");
		return DM_ELIMIT;
	}
	return query(s->q, s->b->data, settings, ncols, row, arg);
}

/* ---- opening ---------------------------------------------------------------- */

static void *
rd_open(struct store *st, char *err, size_t errlen)
{
	struct chr *q = xcalloc(1, sizeof *q);
	store_ch_endpoint(st, q->base, sizeof q->base, q->user, sizeof q->user, q->password,
	                  sizeof q->password, q->sfx, q->dbq, sizeof q->dbq);
	size_t bl = strlen(q->base);
	snprintf(q->base + bl, sizeof q->base - bl, "&readonly=2");
	dm_buf_init(&q->sql, 4 * 1024 * 1024);
	dm_buf_init(&q->lit, 4 * DM_MAX_ID_LEN + 64);
	dm_buf_init(&q->line, DM_CH_READ_LINE_MAX);
	dm_buf_init(&q->ebody, ERR_BODY + 1);
	dm_arena_init(&q->keep);
	read_record_init(&q->rec);
	q->h = curl_easy_init();
	if (q->h == NULL) {
		snprintf(err, errlen, "clickhouse: curl_easy_init failed");
		snprintf(q->err, sizeof q->err, "clickhouse: curl_easy_init failed");
		return q;
	}
	curl_easy_setopt(q->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(q->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(q->h, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(q->h, CURLOPT_USERNAME, q->user);
	curl_easy_setopt(q->h, CURLOPT_PASSWORD, q->password);
	curl_easy_setopt(q->h, CURLOPT_POST, 1L);
	curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(q->h, CURLOPT_WRITEDATA, q);
	return q;
}

static void
rd_close(void *impl)
{
	struct chr *q = impl;
	if (q->h)
		curl_easy_cleanup(q->h);
	explicit_bzero(q->password, sizeof q->password);
	dm_buf_free(&q->sql);
	dm_buf_free(&q->lit);
	dm_buf_free(&q->line);
	dm_buf_free(&q->ebody);
	dm_arena_free(&q->keep);
	read_record_free(&q->rec);
	read_parts_free(&q->parts);
	free(q);
}

static const char *
rd_error(void *impl)
{
	struct chr *q = impl;
	return q->err;
}

static int
ready(struct chr *q)
{
	return q->h ? 0 : DM_EIO;
}

/* ---- small answers ------------------------------------------------------------- */

struct one {
	struct chr *q;
	int have;
	int64_t v[NCOUNTS + 1];
};

static int
one_row(void *arg, char **f)
{
	struct one *o = arg;
	o->have = 1;
	for (int i = 0; i < o->q->ncols && i < NCOUNTS + 1; i++)
		o->v[i] = num(o->q, f[i]);
	return 0;
}

/* Does f's domain have live reports in scope?  Not yours looks the same
 * as nothing there: DM_ENOTFOUND either way. */
static int
visible(struct chr *q, const struct store_scope *sc, const struct store_filter *f)
{
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT 1 FROM reports%s WHERE policy_domain = ", q->sfx);
	add_str(&s, f->domain);
	add(&s, " AND");
	add_scope(&s, sc);
	add(&s, " AND");
	add_live(&s);
	add(&s, " LIMIT 1");
	struct one o = {.q = q};
	int rc = run(&s, NULL, 1, one_row, &o);
	return rc ? rc : o.have ? 0 : DM_ENOTFOUND;
}

/* The number of live reports in scope whose range meets f's (domain and,
 * when with_reporter, reporter from f). */
static int
count_reports(struct chr *q, const struct store_scope *sc, const struct store_filter *f,
              int with_reporter, uint64_t *out)
{
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT count() FROM reports%s", q->sfx);
	add_reports_where(&s, sc, f, with_reporter);
	add(&s, " AND");
	add_live(&s);
	struct one o = {.q = q};
	int rc = run(&s, NULL, 1, one_row, &o);
	*out = o.have && o.v[0] > 0 ? (uint64_t)o.v[0] : 0;
	return rc;
}

static int
rd_ping(void *impl)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT 1 FROM reports%s LIMIT 1", q->sfx);
	struct one o = {.q = q};
	return run(&s, NULL, 1, one_row, &o);
}

/* ---- domains, summary, time series, reporters ---------------------------------- */

struct rows {
	struct chr *q;
	union {
		int (*domain)(void *arg, const struct store_domain_row *r);
		int (*day)(void *arg, const struct store_day_row *r);
		int (*reporter)(void *arg, const struct store_reporter_row *r);
		int (*report)(void *arg, const struct store_report_row *r);
	} fn;
	void *arg;
};

static int
domain_row(void *arg, char **f)
{
	struct rows *w = arg;
	struct store_domain_row d;
	memset(&d, 0, sizeof d);
	d.domain = f[0] ? f[0] : "";
	read_counts(w->q, f + 1, &d.c);
	d.first_day = num(w->q, f[1 + NCOUNTS]);
	d.last_day = num(w->q, f[2 + NCOUNTS]);
	d.reports = unum(w->q, f[3 + NCOUNTS]);
	if (w->q->bad)
		return 0;
	return w->fn.domain(w->arg, &d);
}

static int
rd_domains(void *impl, const struct store_scope *sc,
           int (*fn)(void *arg, const struct store_domain_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	/* per domain and day first: a day whose records were all cancelled
	 * is not a first or last day */
	add(&s, "SELECT domain, s0, s1, s2, s3, s4, s5, s6, d0, d1, nrep FROM"
	        " (SELECT domain, sum(c0) AS s0, sum(c1) AS s1, sum(c2) AS s2, sum(c3) AS s3,"
	        " sum(c4) AS s4, sum(c5) AS s5, sum(c6) AS s6, min(day) AS d0, max(day) AS d1 FROM"
	        " (SELECT domain, day," COUNTS_AS " FROM");
	add_rollup(&s, "day_totals", TOTALS_COLS, sc, NULL, NULL);
	add(&s,
	    " GROUP BY domain, day HAVING rc > 0) GROUP BY domain)"
	    " ANY LEFT JOIN (SELECT policy_domain AS domain, count() AS nrep FROM reports%s WHERE",
	    q->sfx);
	add_scope(&s, sc);
	add(&s, " AND");
	add_live(&s);
	add(&s, " GROUP BY policy_domain) USING domain ORDER BY domain");
	struct rows w = {.q = q, .fn.domain = fn, .arg = arg};
	return run(&s, NULL, 4 + NCOUNTS, domain_row, &w);
}

static int
rd_summary(void *impl, const struct store_scope *sc, const struct store_filter *f,
           uint64_t *reports, struct store_counts *out)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = visible(q, sc, f)) != 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT c0, c1, c2, c3, c4, c5, c6 FROM (SELECT" COUNTS_AS " FROM");
	add_rollup(&s, "day_totals", TOTALS_COLS, sc, f, NULL);
	add(&s, ")");
	struct one o = {.q = q};
	memset(out, 0, sizeof *out);
	if ((rc = run(&s, NULL, NCOUNTS, one_row, &o)) != 0)
		return rc;
	if (o.have)
		counts_of(o.v, out);
	return count_reports(q, sc, f, 0, reports);
}

static int
day_row(void *arg, char **f)
{
	struct rows *w = arg;
	struct store_day_row d;
	d.day = num(w->q, f[0]);
	read_counts(w->q, f + 1, &d.c);
	if (w->q->bad)
		return 0;
	return w->fn.day(w->arg, &d);
}

static int
rd_timeseries(void *impl, const struct store_scope *sc, const struct store_filter *f,
              int (*fn)(void *arg, const struct store_day_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = visible(q, sc, f)) != 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT day," COUNTS_AS " FROM");
	add_rollup(&s, "day_totals", TOTALS_COLS, sc, f, NULL);
	add(&s, " GROUP BY day HAVING rc > 0 ORDER BY day");
	struct rows w = {.q = q, .fn.day = fn, .arg = arg};
	return run(&s, NULL, 2 + NCOUNTS, day_row, &w);
}

static int
reporter_row(void *arg, char **f)
{
	struct rows *w = arg;
	struct store_reporter_row d;
	memset(&d, 0, sizeof d);
	d.reporter = f[0] ? f[0] : "";
	read_counts(w->q, f + 1, &d.c);
	d.reports = unum(w->q, f[1 + NCOUNTS]);
	if (w->q->bad)
		return 0;
	return w->fn.reporter(w->arg, &d);
}

static int
rd_reporters(void *impl, const struct store_scope *sc, const struct store_filter *f,
             int (*fn)(void *arg, const struct store_reporter_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = visible(q, sc, f)) != 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT reporter, c0, c1, c2, c3, c4, c5, c6, nrep FROM"
	        " (SELECT reporter," COUNTS_AS " FROM");
	add_rollup(&s, "day_totals", TOTALS_COLS, sc, f, NULL);
	add(&s,
	    " GROUP BY reporter HAVING rc > 0)"
	    " ANY LEFT JOIN (SELECT reporter, count() AS nrep FROM reports%s",
	    q->sfx);
	struct store_filter rf = *f;
	rf.reporter = NULL;
	add_reports_where(&s, sc, &rf, 0);
	add(&s, " AND");
	add_live(&s);
	add(&s, " GROUP BY reporter) USING reporter ORDER BY c0 DESC, reporter");
	struct rows w = {.q = q, .fn.reporter = fn, .arg = arg};
	return run(&s, NULL, 2 + NCOUNTS, reporter_row, &w);
}

/* ---- sources ------------------------------------------------------------------ */

struct page {
	struct chr *q;
	struct store_source_row *rows;
	size_t n, cap;
};

static int
source_row(void *arg, char **f)
{
	struct page *p = arg;
	if (p->n == p->cap)
		return 0; /* more rows than asked for: not the server's answer */
	struct store_source_row *r = &p->rows[p->n];
	memset(r, 0, sizeof *r);
	if (read_ip(f[0], r->ip) != 0)
		p->q->bad = 1;
	read_counts(p->q, f + 1, &r->c);
	p->n++;
	return 0;
}

static int
list_row(void *arg, char **f)
{
	struct page *p = arg;
	unsigned char ip[16];
	if (read_ip(f[0], ip) != 0)
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		struct store_source_row *r = &p->rows[i];
		if (memcmp(r->ip, ip, 16) != 0)
			continue;
		read_list_add(r->header_from, &r->nheader_from, f[1] ? f[1] : "", &p->q->rec.arena);
		read_list_add(r->reporters, &r->nreporters, f[2] ? f[2] : "", &p->q->rec.arena);
		break;
	}
	return 0;
}

/* The ips rows of a page's sources: the latest final reverse name
 * (ptr_state 1-3) with the service found with it, else the latest of
 * all; the latest AS and country. */
#define IPS_FINAL "ptr_state IN (1, 2, 3)"
static int
ips_row(void *arg, char **f)
{
	struct page *p = arg;
	unsigned char ip[16];
	if (read_ip(f[0], ip) != 0)
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		struct store_ip_info *info = &p->rows[i].info;
		if (memcmp(p->rows[i].ip, ip, 16) != 0)
			continue;
		const char **str[] = {&info->ptr, &info->base_domain, NULL, &info->as_org,
		                      &info->country, &info->service, &info->service_type};
		info->known = 1;
		info->ptr_state = (int)num(p->q, f[1]);
		info->asn = (uint32_t)num(p->q, f[4]);
		for (int c = 0; c < 7; c++)
			if (str[c] && f[2 + c] && f[2 + c][0])
				*str[c] = dm_arena_strndup(&p->q->rec.arena, f[2 + c], strlen(f[2 + c]));
		break;
	}
	return 0;
}

static int
ips_fill(struct chr *q, struct page *p)
{
	if (p->n == 0)
		return 0;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT ip, if(countIf(" IPS_FINAL ") > 0, argMaxIf(ptr_state, updated, " IPS_FINAL
	        "), argMax(ptr_state, updated)), argMaxIf(ptr, updated, " IPS_FINAL "),"
	        " argMaxIf(base_domain, updated, " IPS_FINAL "), argMax(asn, updated),"
	        " argMax(as_name, updated), argMax(country, updated),"
	        " if(countIf(" IPS_FINAL ") > 0, argMaxIf(service, updated, " IPS_FINAL "),"
	        " argMax(service, updated)),"
	        " if(countIf(" IPS_FINAL ") > 0, argMaxIf(service_type, updated, " IPS_FINAL "),"
	        " argMax(service_type, updated)) FROM ips%s WHERE ip IN (",
	    q->sfx);
	for (size_t i = 0; i < p->n; i++) {
		if (i)
			add(&s, ",");
		add_ip(&s, p->rows[i].ip);
	}
	add(&s, ") GROUP BY ip");
	return run(&s, NULL, 9, ips_row, p);
}

static int
rd_ip_info(void *impl, const unsigned char ip[16], struct store_ip_info *info)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct store_source_row row;
	memset(&row, 0, sizeof row);
	memcpy(row.ip, ip, 16);
	struct page p = {.q = q, .rows = &row, .n = 1, .cap = 1};
	dm_arena_reset(&q->rec.arena);
	rc = ips_fill(q, &p);
	*info = row.info;
	return rc;
}

static const char *const sources_order[] = {
        [STORE_SORT_MESSAGES] = "c0 DESC, source_ip",
        [STORE_SORT_FAIL] = "c2 DESC, c0 DESC, source_ip",
        [STORE_SORT_PASS] = "c1 DESC, c0 DESC, source_ip",
        [STORE_SORT_IP] = "source_ip",
};

static int
rd_sources(void *impl, const struct store_scope *sc, const struct store_filter *f,
           enum store_source_sort sort, unsigned limit, unsigned offset, uint64_t *total,
           int (*fn)(void *arg, const struct store_source_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = visible(q, sc, f)) != 0)
		return rc;
	if ((unsigned)sort >= sizeof sources_order / sizeof sources_order[0])
		sort = STORE_SORT_MESSAGES;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT count() FROM (SELECT source_ip, sum(records) AS rc FROM");
	add_src_rollup(&s, sc, f);
	add(&s, " GROUP BY source_ip HAVING rc > 0)");
	struct one o = {.q = q};
	if ((rc = run(&s, NULL, 1, one_row, &o)) != 0)
		return rc;
	*total = o.v[0] > 0 ? (uint64_t)o.v[0] : 0;

	struct page p = {.q = q, .cap = limit};
	p.rows = xcalloc(limit ? limit : 1, sizeof *p.rows);
	st_init(&s, q);
	add(&s, "SELECT source_ip," SRC_COUNTS_AS " FROM");
	add_src_rollup(&s, sc, f);
	add(&s, " GROUP BY source_ip HAVING rc > 0 ORDER BY %s LIMIT %u, %u", sources_order[sort],
	    offset, limit);
	rc = limit ? run(&s, NULL, 2 + NCOUNTS, source_row, &p) : 0;

	/* every row's lists in one query, each source's busiest pairs first */
	if (rc == 0 && p.n > 0) {
		st_init(&s, q);
		add(&s, "SELECT source_ip, header_from, reporter FROM"
		        " (SELECT source_ip, header_from, reporter, sum(messages) AS m,"
		        " sum(records) AS rc FROM");
		add_rollup_of(&s, "daily", DAILY_COLS, sc, f, NULL, p.rows, p.n);
		add(&s,
		    " GROUP BY source_ip, header_from, reporter HAVING rc > 0)"
		    " ORDER BY source_ip, m DESC, header_from, reporter LIMIT 400 BY source_ip");
		dm_arena_reset(&q->rec.arena);
		rc = run(&s, NULL, 3, list_row, &p);
	}
	if (rc == 0)
		rc = ips_fill(q, &p);
	for (size_t i = 0; rc == 0 && i < p.n; i++)
		rc = fn(arg, &p.rows[i]);
	free(p.rows);
	return rc;
}

struct src {
	struct chr *q;
	const struct store_filter *f;
	int (*day_fn)(void *arg, const struct store_day_row *r);
	int (*part_fn)(void *arg, const struct store_part_row *r);
	void *arg;
	int64_t *days;
	size_t ndays, capdays;
	const unsigned char *ip;
	uint64_t scanned;
};

static int
src_day_row(void *arg, char **f)
{
	struct src *x = arg;
	struct store_day_row d;
	d.day = num(x->q, f[0]);
	read_counts(x->q, f + 1, &d.c);
	if (x->q->bad)
		return 0;
	if (x->ndays == x->capdays) {
		x->capdays = x->capdays ? 2 * x->capdays : 64;
		x->days = xrealloc(x->days, x->capdays * sizeof *x->days);
	}
	x->days[x->ndays++] = d.day;
	return x->day_fn(x->arg, &d);
}

static int
src_part_row(void *arg, char **f)
{
	struct src *x = arg;
	struct store_part_row p = {
	        .kind = num(x->q, f[0]) == 0 ? STORE_PART_REPORTER : STORE_PART_HEADER_FROM,
	        .name = f[1] ? f[1] : "",
	        .messages = unum(x->q, f[2]),
	};
	if (x->q->bad)
		return 0;
	return x->part_fn(x->arg, &p);
}

/* Does the report [begin, end) meet one of the source's days (sorted)? */
static int
meets_a_day(const struct src *x, int64_t begin, int64_t end)
{
	/* the first day d with d + 86400 > begin */
	size_t lo = 0, hi = x->ndays;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->days[mid] + 86400 > begin)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo < x->ndays && x->days[lo] < end;
}

static int
scan_row(void *arg, char **f)
{
	struct src *x = arg;
	if (!meets_a_day(x, num(x->q, f[3]), num(x->q, f[4])))
		return 0;
	if (++x->scanned > DM_HTTP_MAX_SOURCE_SCAN)
		return 1; /* enough: the transfer stops */
	struct dm_record rec;
	read_record_start(&x->q->rec, &rec, x->ip);
	rec.count = num(x->q, f[0]);
	read_record_results(&x->q->rec, &rec, NULL, 0, f[1], f[1] ? strlen(f[1]) : 0, f[2],
	                    f[2] ? strlen(f[2]) : 0);
	read_parts_record(&x->q->parts, &rec);
	return 0;
}

static int
rd_source(void *impl, const struct store_scope *sc, const struct store_filter *f,
          const unsigned char ip[16], struct store_counts *total,
          int (*day_fn)(void *arg, const struct store_day_row *r),
          int (*part_fn)(void *arg, const struct store_part_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = visible(q, sc, f)) != 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT c0, c1, c2, c3, c4, c5, c6, rc FROM (SELECT" COUNTS_AS " FROM");
	add_rollup(&s, "daily", DAILY_COLS, sc, f, ip);
	add(&s, ")");
	struct one o = {.q = q};
	if ((rc = run(&s, NULL, NCOUNTS + 1, one_row, &o)) != 0)
		return rc;
	memset(total, 0, sizeof *total);
	if (!o.have || o.v[NCOUNTS] <= 0)
		return DM_ENOTFOUND; /* never seen for this domain in scope and range */
	counts_of(o.v, total);

	/* its days; the reports of those days are where its records are */
	struct src x = {.q = q, .f = f, .day_fn = day_fn, .part_fn = part_fn, .arg = arg, .ip = ip};
	st_init(&s, q);
	add(&s, "SELECT day," COUNTS_AS " FROM");
	add_rollup(&s, "daily", DAILY_COLS, sc, f, ip);
	add(&s, " GROUP BY day HAVING rc > 0 ORDER BY day");
	rc = run(&s, NULL, 2 + NCOUNTS, src_day_row, &x);

	/* reporters and header_from from the rollup */
	if (rc == 0) {
		st_init(&s, q);
		add(&s,
		    "SELECT k, name, m FROM (SELECT 0 AS k, reporter AS name, sum(messages) AS m,"
		    " sum(records) AS rc FROM");
		add_rollup(&s, "daily", DAILY_COLS, sc, f, ip);
		add(&s, " GROUP BY reporter HAVING rc > 0 UNION ALL SELECT 1 AS k, header_from AS"
		        " name, sum(messages) AS m, sum(records) AS rc FROM");
		add_rollup(&s, "daily", DAILY_COLS, sc, f, ip);
		add(&s, " GROUP BY header_from HAVING rc > 0) ORDER BY k, m DESC, name");
		rc = run(&s, NULL, 3, src_part_row, &x);
	}

	/* DKIM and SPF results from its records in the domain's live reports
	 * that meet its days (checked here, day by day) */
	read_parts_clear(&q->parts);
	if (rc == 0 && x.ndays > 0) {
		int64_t lo = x.days[0], hi = x.days[x.ndays - 1];
		st_init(&s, q);
		add(&s,
		    "SELECT count, dkim_results, spf_results, date_begin, date_end FROM records%s"
		    " WHERE policy_domain = ",
		    q->sfx);
		add_str(&s, f->domain);
		add(&s, " AND source_ip = ");
		add_ip(&s, ip);
		add(&s, " AND date_begin < %" PRId64 " + 86400 AND date_end > %" PRId64, hi, lo);
		add(&s, " AND attempt IN (SELECT attempt FROM %sreports WHERE policy_domain = ",
		    q->dbq);
		add_str(&s, f->domain);
		add(&s, " AND");
		add_scope(&s, sc);
		add(&s, " AND date_begin < %" PRId64 " + 86400 AND date_end > %" PRId64 " AND", hi,
		    lo);
		add_live(&s);
		add(&s, ")");
		rc = run(&s, NULL, 5, scan_row, &x);
		if (rc == 1)
			rc = 0; /* stopped at the scan limit */
	}
	free(x.days);
	if (rc == 0)
		rc = read_parts_emit(&q->parts, part_fn, arg);
	read_parts_clear(&q->parts);
	return rc;
}

/* ---- reports ---------------------------------------------------------------------- */

/* The report columns (REPORT_COLS, from f) into rr. */
static void
read_report(struct chr *q, char **f, struct store_report_row *rr)
{
	memset(rr, 0, sizeof *rr);
	rr->id = num(q, f[0]);
	rr->account_id = num(q, f[1]);
	rr->org_name = f[2];
	rr->email = f[3];
	rr->extra_contact_info = f[4];
	rr->report_id = f[5];
	rr->policy_domain = f[6];
	rr->begin = num(q, f[7]);
	rr->end = num(q, f[8]);
	rr->received_at = num(q, f[9]);
	rr->records = unum(q, f[10]);
	rr->messages = unum(q, f[11]);
	rr->generator = f[12];
	rr->version = f[13];
	rr->schema = f[14];
	rr->xmlns = f[15];
	rr->report_error = f[16];
	rr->archive_key = f[17];
	rr->warnings_json = f[18];
	rr->policy.domain = rr->policy_domain;
	rr->policy.adkim = f[19];
	rr->policy.aspf = f[20];
	rr->policy.p = f[21];
	rr->policy.sp = f[22];
	rr->policy.np = f[23];
	rr->policy.pct = f[24] ? (int)num(q, f[24]) : -1;
	rr->policy.fo = f[25];
	rr->policy.testing = f[26];
	rr->policy.discovery_method = f[27];
}

/* The record columns (RECORD_COLS, from f) into rec. */
static void
read_record(struct chr *q, char **f, struct dm_record *rec)
{
	unsigned char ip[16];
	int have = read_ip(f[0], ip) == 0;
	read_record_start(&q->rec, rec, have ? ip : NULL);
	rec->count = num(q, f[1]);
	rec->disposition = f[2];
	rec->dkim = f[3];
	rec->spf = f[4];
	rec->header_from = f[5];
	rec->envelope_from = f[6];
	rec->envelope_to = f[7];
	read_record_results(&q->rec, rec, f[8], f[8] ? strlen(f[8]) : 0, f[9],
	                    f[9] ? strlen(f[9]) : 0, f[10], f[10] ? strlen(f[10]) : 0);
}

static int
list_report_row(void *arg, char **f)
{
	struct rows *w = arg;
	struct store_report_row rr;
	read_report(w->q, f, &rr);
	if (w->q->bad)
		return 0;
	/* a list row: the detail fields stay out */
	rr.generator = rr.version = rr.schema = rr.xmlns = rr.report_error = NULL;
	rr.archive_key = rr.warnings_json = NULL;
	return w->fn.report(w->arg, &rr);
}

static int
rd_reports(void *impl, const struct store_scope *sc, const struct store_filter *f, unsigned limit,
           unsigned offset, uint64_t *total, int (*fn)(void *arg, const struct store_report_row *r),
           void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (f->domain != NULL && (rc = visible(q, sc, f)) != 0))
		return rc;
	if ((rc = count_reports(q, sc, f, 1, total)) != 0 || limit == 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT" REPORT_COLS " FROM reports%s", q->sfx);
	add_reports_where(&s, sc, f, 1);
	add(&s, " AND");
	add_live(&s);
	add(&s, " ORDER BY date_begin DESC, attempt DESC LIMIT %u, %u", offset, limit);
	struct rows w = {.q = q, .fn.report = fn, .arg = arg};
	return run(&s, NULL, NREPORT, list_report_row, &w);
}

/* A report's row kept (its strings copied) while its records are read. */
struct kept {
	struct chr *q;
	int have;
	struct store_report_row rr;
	const char *reporter;
	int (*rec_fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec);
	void *arg;
};

static const char *
keep(struct chr *q, const char *s)
{
	return s ? dm_arena_strndup(&q->keep, s, strlen(s)) : NULL;
}

static int
kept_row(void *arg, char **f)
{
	struct kept *k = arg;
	if (k->have)
		return 0;
	struct chr *q = k->q;
	char *c[NREPORT + 1];
	for (int i = 0; i <= NREPORT; i++)
		c[i] = (char *)keep(q, f[i]);
	read_report(q, c, &k->rr);
	k->reporter = c[NREPORT] ? c[NREPORT] : "";
	k->have = !q->bad;
	return 0;
}

static int
record_row(void *arg, char **f)
{
	struct kept *k = arg;
	struct dm_record rec;
	read_record(k->q, f, &rec);
	if (k->q->bad)
		return 0;
	return k->rec_fn(k->arg, &k->rr, &rec);
}

static int
rd_report(void *impl, const struct store_scope *sc, int64_t id,
          int (*meta_fn)(void *arg, const struct store_report_row *r),
          int (*rec_fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
          void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT" REPORT_COLS ", reporter FROM reports%s WHERE attempt = %" PRId64 " AND",
	    q->sfx, id);
	add_scope(&s, sc);
	add(&s, " AND");
	add_live(&s);
	add(&s, " LIMIT 1");
	dm_arena_reset(&q->keep);
	struct kept k = {.q = q, .rec_fn = rec_fn, .arg = arg};
	if ((rc = run(&s, NULL, NREPORT + 1, kept_row, &k)) != 0)
		return rc;
	if (!k.have)
		return DM_ENOTFOUND;
	rc = meta_fn(arg, &k.rr);
	if (rc == 0 && rec_fn != NULL) {
		/* by the attempt and the whole identity (the primary key's
		 * order: domain, begin, attempt, n) */
		st_init(&s, q);
		add(&s, "SELECT" RECORD_COLS " FROM records%s WHERE policy_domain = ", q->sfx);
		add_str(&s, k.rr.policy_domain);
		add(&s,
		    " AND date_begin = %" PRId64 " AND attempt = %" PRId64
		    " AND date_end = %" PRId64,
		    k.rr.begin, k.rr.id, k.rr.end);
		add(&s, " AND report_id = ");
		add_str(&s, k.rr.report_id);
		add(&s, " AND reporter = ");
		add_str(&s, k.reporter);
		add(&s, " ORDER BY n");
		rc = run(&s, NULL, NRECORD, record_row, &k);
	}
	dm_arena_reset(&q->keep);
	return rc;
}

struct exp {
	struct chr *q;
	int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec);
	void *arg;
};

static int
export_row(void *arg, char **f)
{
	struct exp *e = arg;
	struct store_report_row rr;
	struct dm_record rec;
	read_report(e->q, f, &rr);
	read_record(e->q, f + NREPORT, &rec);
	if (e->q->bad)
		return 0;
	return e->fn(e->arg, &rr, &rec);
}

static int
rd_export(void *impl, const struct store_scope *sc, const struct store_filter *f,
          int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
          void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (f->domain != NULL && (rc = visible(q, sc, f)) != 0))
		return rc;
	struct stmt s;
	st_init(&s, q);
	/* each shard joins its own records and reports (an attempt's are on
	 * one shard); the server that asked merges the sorted streams */
	add(&s,
	    "SELECT" EXPORT_REPORT "," RECORD_COLS " FROM records%s"
	    " ALL INNER JOIN (SELECT" EXPORT_RIGHT " FROM %sreports",
	    q->sfx, q->dbq);
	add_reports_where(&s, sc, f, 1);
	add(&s, " AND");
	add_live(&s);
	add(&s, ") USING attempt");
	add_reports_where(&s, sc, f, 1);
	add(&s, " ORDER BY date_begin, attempt, n");
	struct exp e = {q, fn, arg};
	/* the server sorts what does not fit in memory on its disk */
	return run(&s, "&max_bytes_before_external_sort=268435456", NREPORT + NRECORD, export_row,
	           &e);
}


/* ---- SMTP TLS reports ------------------------------------------------------------ */

/* The live TLS attempts: the smallest committed attempt of each identity
 * (store_ch.c); over every shard when there are several (GLOBAL IN). */
static void
add_tls_live(struct stmt *s)
{
	add(s, " attempt %sIN (SELECT min(attempt) FROM tls_reports%s GROUP BY ident)",
	    s->q->sfx[0] ? "GLOBAL " : "", s->q->sfx);
}

struct tls_rows {
	struct chr *q;
	union {
		int (*domain)(void *arg, const struct store_tls_domain_row *r);
		int (*day)(void *arg, const struct store_tls_day_row *r);
		int (*group)(void *arg, const struct store_tls_failure_group *r);
		int (*report)(void *arg, const struct store_tls_report_row *r);
		int (*pol)(void *arg, const struct store_tls_policy_row *r);
		int (*fail)(void *arg, const struct store_tls_failure_row *r);
	} fn;
	void *arg;
	int detail, have;
};

static int
tls_domain_row(void *arg, char **f)
{
	struct tls_rows *w = arg;
	struct store_tls_domain_row d = {
	        .domain = f[0] ? f[0] : "",
	        .reports = unum(w->q, f[1]),
	        .success = unum(w->q, f[2]),
	        .failure = unum(w->q, f[3]),
	        .first_day = num(w->q, f[4]),
	        .last_day = num(w->q, f[5]),
	};
	return w->q->bad ? 0 : w->fn.domain(w->arg, &d);
}

static int
rd_tls_domains(void *impl, const struct store_scope *sc,
               int (*fn)(void *arg, const struct store_tls_domain_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT policy_domain, count(), sum(success), sum(failure), min(day), max(day)"
	        " FROM tls_reports%s WHERE", q->sfx);
	add_scope(&s, sc);
	add(&s, " AND");
	add_tls_live(&s);
	add(&s, " GROUP BY policy_domain ORDER BY policy_domain");
	struct tls_rows w = {.q = q, .fn.domain = fn, .arg = arg};
	return run(&s, NULL, 6, tls_domain_row, &w);
}

static int
tls_one(void *arg, char **f)
{
	struct tls_rows *w = arg;
	(void)f;
	w->have = 1;
	return 0;
}

static int
tls_visible(struct chr *q, const struct store_scope *sc, const struct store_filter *f)
{
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT 1 FROM tls_reports%s WHERE policy_domain = ", q->sfx);
	add_str(&s, f->domain);
	add(&s, " AND");
	add_scope(&s, sc);
	add(&s, " AND");
	add_tls_live(&s);
	add(&s, " LIMIT 1");
	struct tls_rows w = {.q = q};
	int rc = run(&s, NULL, 1, tls_one, &w);
	return rc ? rc : w.have ? 0 : DM_ENOTFOUND;
}

/* f's domain and days, in scope, live. */
static void
add_tls_where(struct stmt *s, const struct store_scope *sc, const struct store_filter *f)
{
	add(s, " WHERE domain = ");
	add_str(s, f->domain);
	add(s, " AND day BETWEEN %" PRId64 " AND %" PRId64 " AND", from_of(f), to_of(f));
	add_scope(s, sc);
	add(s, " AND");
	add_tls_live(s);
}

static int
tls_day_row(void *arg, char **f)
{
	struct tls_rows *w = arg;
	struct store_tls_day_row d = {
	        .day = num(w->q, f[0]), .success = unum(w->q, f[1]), .failure = unum(w->q, f[2])};
	return w->q->bad ? 0 : w->fn.day(w->arg, &d);
}

static int
rd_tls_days(void *impl, const struct store_scope *sc, const struct store_filter *f,
            int (*fn)(void *arg, const struct store_tls_day_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = tls_visible(q, sc, f)) != 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT day, sum(success), sum(failure) FROM tls_policies%s", q->sfx);
	add_tls_where(&s, sc, f);
	add(&s, " GROUP BY day ORDER BY day");
	struct tls_rows w = {.q = q, .fn.day = fn, .arg = arg};
	return run(&s, NULL, 3, tls_day_row, &w);
}

static int
tls_group_row(void *arg, char **f)
{
	struct tls_rows *w = arg;
	struct store_tls_failure_group g = {
	        .result_type = f[0] ? f[0] : "", .mx = f[1] ? f[1] : "", .sessions = unum(w->q, f[2])};
	return w->q->bad ? 0 : w->fn.group(w->arg, &g);
}

static int
rd_tls_failures(void *impl, const struct store_scope *sc, const struct store_filter *f,
                unsigned limit, int (*fn)(void *arg, const struct store_tls_failure_group *r),
                void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc || (rc = tls_visible(q, sc, f)) != 0)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT result_type, ifNull(receiving_mx_hostname, '') AS mx, sum(sessions) AS n"
	        " FROM tls_failures%s", q->sfx);
	add_tls_where(&s, sc, f);
	add(&s, " GROUP BY result_type, mx ORDER BY n DESC, result_type, mx LIMIT %u", limit);
	struct tls_rows w = {.q = q, .fn.group = fn, .arg = arg};
	return run(&s, NULL, 3, tls_group_row, &w);
}

#define TLS_COLS \
	" attempt, account_id, org_name, contact_info, report_id, policy_domain, date_begin," \
	" date_end, received_at, policies, failure_details, success, failure, archive_key, warnings"

static int
tls_report_row(void *arg, char **f)
{
	struct tls_rows *w = arg;
	struct chr *q = w->q;
	struct store_tls_report_row t = {
	        .id = num(q, f[0]),
	        .account_id = num(q, f[1]),
	        .org_name = f[2],
	        .contact_info = f[3],
	        .report_id = f[4],
	        .policy_domain = f[5],
	        .begin = num(q, f[6]),
	        .end = num(q, f[7]),
	        .received_at = num(q, f[8]),
	        .policies = unum(q, f[9]),
	        .failure_details = unum(q, f[10]),
	        .success = unum(q, f[11]),
	        .failure = unum(q, f[12]),
	        .archive_key = w->detail ? f[13] : NULL,
	        .warnings_json = w->detail ? f[14] : NULL,
	};
	w->have = 1;
	return q->bad ? 0 : w->fn.report(w->arg, &t);
}

static void
add_tls_reports_where(struct stmt *s, const struct store_scope *sc, const struct store_filter *f)
{
	add(s, " WHERE");
	add_scope(s, sc);
	if (f->domain != NULL) {
		add(s, " AND policy_domain = ");
		add_str(s, f->domain);
	}
	add(s, " AND date_begin < %" PRId64 " + 86400 AND date_end > %" PRId64 " AND", to_of(f),
	    from_of(f));
	add_tls_live(s);
}

static int
tls_count_row(void *arg, char **f)
{
	uint64_t *n = arg;
	*n = f[0] ? strtoull(f[0], NULL, 10) : 0;
	return 0;
}

static int
rd_tls_reports(void *impl, const struct store_scope *sc, const struct store_filter *f,
               unsigned limit, unsigned offset, uint64_t *total,
               int (*fn)(void *arg, const struct store_tls_report_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT count() FROM tls_reports%s", q->sfx);
	add_tls_reports_where(&s, sc, f);
	*total = 0;
	if ((rc = run(&s, NULL, 1, tls_count_row, total)) != 0 || limit == 0)
		return rc;
	st_init(&s, q);
	add(&s, "SELECT" TLS_COLS " FROM tls_reports%s", q->sfx);
	add_tls_reports_where(&s, sc, f);
	add(&s, " ORDER BY date_begin DESC, attempt DESC LIMIT %u, %u", offset, limit);
	struct tls_rows w = {.q = q, .fn.report = fn, .arg = arg};
	return run(&s, NULL, 15, tls_report_row, &w);
}

static int
tls_pol_row(void *arg, char **f)
{
	struct tls_rows *w = arg;
	struct store_tls_policy_row p = {
	        .idx = (unsigned)unum(w->q, f[0]),
	        .type = f[1] ? f[1] : "",
	        .domain = f[2],
	        .mx_host = f[3],
	        .policy_string = f[4],
	        .success = unum(w->q, f[5]),
	        .failure = unum(w->q, f[6]),
	};
	return w->q->bad ? 0 : w->fn.pol(w->arg, &p);
}

static int
tls_fail_row(void *arg, char **f)
{
	struct tls_rows *w = arg;
	struct store_tls_failure_row x = {
	        .policy = (unsigned)unum(w->q, f[0]),
	        .result_type = f[1] ? f[1] : "",
	        .sending_ip = f[2],
	        .receiving_mx_hostname = f[3],
	        .receiving_mx_helo = f[4],
	        .receiving_ip = f[5],
	        .additional_info = f[6],
	        .failure_reason_code = f[7],
	        .sessions = unum(w->q, f[8]),
	};
	return w->q->bad ? 0 : w->fn.fail(w->arg, &x);
}

static int
rd_tls_report(void *impl, const struct store_scope *sc, int64_t id,
              int (*meta_fn)(void *arg, const struct store_tls_report_row *r),
              int (*pol_fn)(void *arg, const struct store_tls_policy_row *r),
              int (*fail_fn)(void *arg, const struct store_tls_failure_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT" TLS_COLS " FROM tls_reports%s WHERE attempt = %" PRId64 " AND", q->sfx,
	    id);
	add_scope(&s, sc);
	add(&s, " AND");
	add_tls_live(&s);
	add(&s, " LIMIT 1");
	struct tls_rows w = {.q = q, .fn.report = meta_fn, .arg = arg, .detail = 1};
	if ((rc = run(&s, NULL, 15, tls_report_row, &w)) != 0)
		return rc;
	if (!w.have)
		return DM_ENOTFOUND;
	if (pol_fn != NULL) {
		st_init(&s, q);
		add(&s, "SELECT idx, policy_type, policy_domain, mx_host, policy_string, success,"
		        " failure FROM tls_policies%s WHERE attempt = %" PRId64 " ORDER BY idx",
		    q->sfx, id);
		w.fn.pol = pol_fn;
		if ((rc = run(&s, NULL, 7, tls_pol_row, &w)) != 0)
			return rc;
	}
	if (fail_fn != NULL) {
		st_init(&s, q);
		add(&s, "SELECT policy, result_type, sending_ip, receiving_mx_hostname,"
		        " receiving_mx_helo, receiving_ip, additional_info, failure_reason_code,"
		        " sessions FROM tls_failures%s WHERE attempt = %" PRId64 " ORDER BY n",
		    q->sfx, id);
		w.fn.fail = fail_fn;
		rc = run(&s, NULL, 9, tls_fail_row, &w);
	}
	return rc;
}


/* ---- failure reports ------------------------------------------------------------ */

/* The live failure reports: the smallest attempt of each content_hash. */
static void
add_failures_where(struct stmt *s, const struct store_scope *sc, const struct store_filter *f,
                   const unsigned char *ip)
{
	add(s, " WHERE");
	add_scope(s, sc);
	if (f->domain != NULL) {
		add(s, " AND reported_domain = ");
		add_str(s, f->domain);
	}
	if (ip != NULL) {
		char text[DM_IP_TEXT];
		dm_ip_format(ip, text, sizeof text);
		add(s, " AND source_ip = ");
		add_str(s, text);
	}
	add(s, " AND day BETWEEN %" PRId64 " AND %" PRId64 " AND attempt %sIN (SELECT min(attempt)"
	       " FROM failures%s GROUP BY content_hash)",
	    from_of(f), to_of(f), s->q->sfx[0] ? "GLOBAL " : "", s->q->sfx);
}

struct failure_rows {
	struct chr *q;
	int (*fn)(void *arg, const struct store_failure_row *r);
	void *arg;
	int detail, have;
};

static int
failure_row(void *arg, char **f)
{
	struct failure_rows *w = arg;
	struct store_failure_row r;
	backend_failure_row(&r, (const char *const *)f, w->detail);
	w->have = 1;
	return w->fn(w->arg, &r);
}

static int
rd_failures(void *impl, const struct store_scope *sc, const struct store_filter *f,
            const unsigned char *ip, unsigned limit, unsigned offset, uint64_t *total,
            int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT count() FROM failures%s", q->sfx);
	add_failures_where(&s, sc, f, ip);
	*total = 0;
	if ((rc = run(&s, NULL, 1, tls_count_row, total)) != 0 || limit == 0)
		return rc;
	st_init(&s, q);
	/* the id is the attempt */
	add(&s, "SELECT attempt AS id, %s FROM failures%s",
	    BACKEND_FAILURE_READ + strlen("id, "), q->sfx);
	add_failures_where(&s, sc, f, ip);
	add(&s, " ORDER BY day DESC, attempt DESC LIMIT %u, %u", offset, limit);
	struct failure_rows w = {.q = q, .fn = fn, .arg = arg};
	return run(&s, NULL, BACKEND_FAILURE_NREAD, failure_row, &w);
}

static int
rd_failure(void *impl, const struct store_scope *sc, int64_t id,
           int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	struct chr *q = impl;
	int rc = ready(q);
	if (rc)
		return rc;
	struct stmt s;
	st_init(&s, q);
	add(&s, "SELECT attempt AS id, %s FROM failures%s WHERE attempt = %" PRId64 " AND",
	    BACKEND_FAILURE_READ + strlen("id, "), q->sfx, id);
	add_scope(&s, sc);
	add(&s, " LIMIT 1");
	struct failure_rows w = {.q = q, .fn = fn, .arg = arg, .detail = 1};
	if ((rc = run(&s, NULL, BACKEND_FAILURE_NREAD, failure_row, &w)) != 0)
		return rc;
	return w.have ? 0 : DM_ENOTFOUND;
}

const struct store_read_ops store_ch_read_ops = {
        .open = rd_open,
        .close = rd_close,
        .error = rd_error,
        .ping = rd_ping,
        .domains = rd_domains,
        .summary = rd_summary,
        .timeseries = rd_timeseries,
        .sources = rd_sources,
        .source = rd_source,
        .ip_info = rd_ip_info,
        .reporters = rd_reporters,
        .reports = rd_reports,
        .report = rd_report,
        .export = rd_export,
        .tls_domains = rd_tls_domains,
        .tls_days = rd_tls_days,
        .tls_failures = rd_tls_failures,
        .tls_reports = rd_tls_reports,
        .tls_report = rd_tls_report,
        .failures = rd_failures,
        .failure = rd_failure,
};
