/*
 * store_pg_read.c - the read side of the PostgreSQL store: the queries of
 * the API, each reader on a connection of its own (libpq, as store_pg.c).
 *
 * Functions: the store_pg_read_ops table (open, close, error, ping,
 * domains, summary, timeseries, sources, source, reporters, reports,
 * report, export).
 *
 * The same answers as the SQLite store (store_sqlite_read.c) from the
 * same logical tables: day_totals for domains, summary, time series and
 * reporters; src_day for the sources; daily for a source's days,
 * reporters and header_from; reports and records for the lists, the
 * detail, the export and a source's DKIM and SPF results.  Records are
 * kept in their report's order by their number n (PostgreSQL has no
 * rowid range), found by the index on (report, n).  Orders that SQLite
 * gets from byte comparison are asked for with COLLATE "C", so a database
 * created with another locale sorts the same.
 *
 * Every statement carries the scope as ($1 OR account_id = $2); domain,
 * days, reporter and the rest are parameters with their types given,
 * never written into SQL.  A connection is made read-only
 * (default_transaction_read_only) and autocommits: each statement sees
 * what was committed when it began, never a batch in progress.
 *
 * Results that may be long (a report's records, an export, a source's
 * records) are read row by row (single-row mode), so memory does not grow
 * with them; a caller that stops early makes the reader drop its
 * connection rather than read the rest, and the next query connects
 * again.  A server that went away is reconnected to on the next query;
 * until then queries fail (DM_EIO, the API's 503).  Logs nothing.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "common/ip.h"
#include "store/backend.h"
#include "store/read.h"
#include "store/store.h"
#include "store/store_pg.h"

/* type OIDs of the parameters (pg_type.h is the server's header) */
#define T_BOOL 16
#define T_INT8 20
#define T_TEXT 25
#define T_BYTEA 17
#define T_INT8_ARRAY 1016
#define T_TEXT_ARRAY 1009

/* SQL laid out as SQL */
/* clang-format off */
#define SCOPE_OF(t) " ($1 OR " t ".account_id = $2)"
#define DAYS_OF(t) " " t ".day BETWEEN $4 AND $5"
/* the reports whose days meet [$4, $5]: begin before the end of the last
 * day, end after the start of the first */
#define RANGE_OF(t) " " t ".date_begin < $5 + 86400 AND " t ".date_end > $4"

/* The sums every rollup query returns, in this order, after its keys. */
#define COUNTS \
	" SUM(messages)," \
	" SUM(CASE WHEN dkim_pass <> 0 OR spf_pass <> 0 THEN messages ELSE 0 END)," \
	" SUM(CASE WHEN dkim_pass <> 0 OR spf_pass <> 0 THEN 0 ELSE messages END)," \
	" SUM(CASE WHEN spf_pass <> 0 THEN messages ELSE 0 END)," \
	" SUM(CASE WHEN dkim_pass <> 0 THEN messages ELSE 0 END)," \
	" SUM(CASE WHEN disposition = 'quarantine' THEN messages ELSE 0 END)," \
	" SUM(CASE WHEN disposition = 'reject' THEN messages ELSE 0 END)"
#define NCOUNTS 7

/* The report columns every report row is read with, in this order. */
#define REPORT_COLS \
	" r.id, r.account_id, r.org_name, r.email, r.extra_contact_info, r.report_id," \
	" r.policy_domain, r.date_begin, r.date_end, r.received_at, r.records, r.messages," \
	" r.generator, r.version, r.schema, r.xmlns, r.report_error, r.archive_key, r.warnings," \
	" r.adkim, r.aspf, r.p, r.sp, r.np, r.pct, r.fo, r.testing, r.discovery_method"
#define NREPORT 28
/* ... and a record's, after them in an export */
#define RECORD_COLS \
	" c.source_ip, c.count, c.disposition, c.dkim, c.spf, c.header_from, c.envelope_from," \
	" c.envelope_to, c.reasons, c.dkim_results, c.spf_results"

/* The report list's filter: scope, optional domain and reporter, days. */
#define REPORTS_WHERE \
	" WHERE" SCOPE_OF("r") " AND ($3 IS NULL OR r.policy_domain = $3)" \
	" AND ($6 IS NULL OR r.reporter = $6) AND" RANGE_OF("r")

#define SRC_COUNTS \
	" SUM(messages), SUM(dmarc_pass), SUM(messages) - SUM(dmarc_pass), SUM(spf_aligned)," \
	" SUM(dkim_aligned), SUM(quarantine), SUM(reject)"
#define SOURCES_SQL(order) \
	"SELECT source_ip," SRC_COUNTS ", COUNT(*) OVER () FROM src_day s" \
	" WHERE s.domain = $3 AND" DAYS_OF("s") " AND" SCOPE_OF("s") \
	" GROUP BY source_ip ORDER BY " order " LIMIT $6 OFFSET $7"

#define ONE_SOURCE " d.domain = $3 AND d.source_ip = $6 AND" DAYS_OF("d") " AND" SCOPE_OF("d")

static const char q_visible[] =
	"SELECT 1 FROM reports r WHERE r.policy_domain = $3 AND" SCOPE_OF("r") " LIMIT 1";
static const char q_domains[] =
	"SELECT t.domain," COUNTS ", MIN(t.day), MAX(t.day),"
	" (SELECT COUNT(*) FROM reports r"
	"  WHERE r.policy_domain = t.domain AND" SCOPE_OF("r") ")"
	" FROM day_totals t WHERE" SCOPE_OF("t")
	" GROUP BY t.domain ORDER BY t.domain COLLATE \"C\"";
static const char q_summary[] =
	"SELECT" COUNTS " FROM day_totals t"
	" WHERE t.domain = $3 AND" DAYS_OF("t") " AND" SCOPE_OF("t");
static const char q_range_reports[] =
	"SELECT COUNT(*) FROM reports r"
	" WHERE r.policy_domain = $3 AND" SCOPE_OF("r") " AND" RANGE_OF("r");
static const char q_timeseries[] =
	"SELECT t.day," COUNTS " FROM day_totals t"
	" WHERE t.domain = $3 AND" DAYS_OF("t") " AND" SCOPE_OF("t")
	" GROUP BY t.day ORDER BY t.day";
static const char q_reporters[] =
	"SELECT t.reporter," COUNTS ","
	" (SELECT COUNT(*) FROM reports r WHERE r.policy_domain = $3 AND" SCOPE_OF("r")
	"  AND" RANGE_OF("r") " AND r.reporter = t.reporter)"
	" FROM day_totals t WHERE t.domain = $3 AND" DAYS_OF("t") " AND" SCOPE_OF("t")
	" GROUP BY t.reporter ORDER BY 2 DESC, t.reporter COLLATE \"C\"";
static const char *const q_sources[] = {
	[STORE_SORT_MESSAGES] = SOURCES_SQL("2 DESC, source_ip"),
	[STORE_SORT_FAIL] = SOURCES_SQL("4 DESC, 2 DESC, source_ip"),
	[STORE_SORT_PASS] = SOURCES_SQL("3 DESC, 2 DESC, source_ip"),
	[STORE_SORT_IP] = SOURCES_SQL("source_ip"),
};
/* the header_from and reporters of a page of sources ($6: their
 * addresses, hex): each one's busiest pairs first, 400 at most */
static const char q_source_lists[] =
	"SELECT source_ip, header_from, reporter FROM ("
	" SELECT d.source_ip, d.header_from, d.reporter, row_number() OVER (PARTITION BY d.source_ip"
	"  ORDER BY SUM(d.messages) DESC, d.header_from COLLATE \"C\", d.reporter COLLATE \"C\") AS k"
	" FROM daily d WHERE d.domain = $3"
	"  AND d.source_ip = ANY (SELECT decode(x, 'hex') FROM unnest($6) AS x)"
	"  AND" DAYS_OF("d") " AND" SCOPE_OF("d")
	" GROUP BY d.source_ip, d.header_from, d.reporter) AS u"
	" WHERE k <= 400 ORDER BY source_ip, k";
static const char q_source_total[] = "SELECT" COUNTS " FROM daily d WHERE" ONE_SOURCE;
static const char q_source_days[] =
	"SELECT d.day," COUNTS " FROM daily d WHERE" ONE_SOURCE " GROUP BY d.day ORDER BY d.day";
static const char q_source_parts[] =
	"SELECT k, name, m FROM ("
	" SELECT 0 AS k, d.reporter AS name, SUM(d.messages) AS m FROM daily d WHERE" ONE_SOURCE
	" GROUP BY d.reporter UNION ALL"
	" SELECT 1, d.header_from, SUM(d.messages) FROM daily d WHERE" ONE_SOURCE
	" GROUP BY d.header_from) AS u ORDER BY k, m DESC, name COLLATE \"C\"";
/* the source's records in the domain's reports that meet one of its days
 * ($7); at most DM_HTTP_MAX_SOURCE_SCAN of them ($8) are read */
static const char q_source_scan[] =
	"SELECT c.count, c.dkim_results, c.spf_results FROM reports r"
	" JOIN records c ON c.report = r.id"
	" WHERE r.policy_domain = $3 AND" SCOPE_OF("r") " AND c.source_ip = $6"
	" AND EXISTS (SELECT 1 FROM unnest($7) AS x(day)"
	"  WHERE r.date_begin < x.day + 86400 AND r.date_end > x.day)"
	" LIMIT $8";
static const char q_reports[] =
	"SELECT" REPORT_COLS " FROM reports r" REPORTS_WHERE
	" ORDER BY r.date_begin DESC, r.id DESC LIMIT $7 OFFSET $8";
static const char q_reports_total[] = "SELECT COUNT(*) FROM reports r" REPORTS_WHERE;
static const char q_report[] =
	"SELECT" REPORT_COLS " FROM reports r WHERE r.id = $3 AND" SCOPE_OF("r");
static const char q_records[] =
	"SELECT" RECORD_COLS " FROM records c WHERE c.report = $1 ORDER BY c.n";
static const char q_export[] =
	"SELECT" REPORT_COLS "," RECORD_COLS
	" FROM reports r JOIN records c ON c.report = r.id" REPORTS_WHERE
	" ORDER BY r.date_begin, r.id, c.n";
/* clang-format on */

struct pgr {
	struct store *st;
	PGconn *c;     /* NULL: connect at the next query */
	int streaming; /* a single-row query is in flight */
	char err[512];
	struct read_record rec;  /* one record's parsed results */
	struct read_parts parts; /* a source's DKIM and SPF results */
};

/* ---- connection and errors ------------------------------------------------------ */

static void
set_err(struct pgr *q, const char *what, const char *msg)
{
	store_pg_words(q->err, sizeof q->err, "postgres", what, msg);
}

/* r failed (or NULL: the connection did): why, and the code for it. */
static int
fail(struct pgr *q, PGresult *r, const char *what)
{
	set_err(q, what, r ? PQresultErrorMessage(r) : PQerrorMessage(q->c));
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int busy = state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0 ||
	                     strcmp(state, "57014") == 0);
	if (r)
		PQclear(r);
	if (busy)
		return DM_EBUSY;
	if (PQstatus(q->c) != CONNECTION_OK) {
		PQfinish(q->c);
		q->c = NULL;
		return DM_EIO;
	}
	return DM_ESTORE;
}

static void
drop(struct pgr *q)
{
	PQfinish(q->c);
	q->c = NULL;
	q->streaming = 0;
}

/* A working connection, made now if there is none. */
static int
connected(struct pgr *q)
{
	if (q->c != NULL && PQstatus(q->c) == CONNECTION_OK)
		return 0;
	if (q->c != NULL)
		drop(q);
	char err[512];
	PGconn *c = (PGconn *)store_pg_connect(q->st, err, sizeof err);
	if (c == NULL) {
		snprintf(q->err, sizeof q->err, "%s", err);
		return DM_EIO;
	}
	PGresult *r = PQexec(c, "SET default_transaction_read_only = on;"
	                        " SET work_mem = '" DM_PG_READ_WORK_MEM "'");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		set_err(q, "read-only session", PQerrorMessage(c));
		PQfinish(c);
		return DM_EIO;
	}
	q->c = c;
	return 0;
}

static void *
rd_open(struct store *st, char *err, size_t errlen)
{
	struct pgr *q = xcalloc(1, sizeof *q);
	q->st = st;
	/* a server that is not there yet is connected to by the first query */
	if (connected(q) != 0 && err != NULL)
		snprintf(err, errlen, "%s", q->err);
	read_record_init(&q->rec);
	return q;
}

static void
rd_close(void *impl)
{
	struct pgr *q = impl;
	PQfinish(q->c);
	read_record_free(&q->rec);
	read_parts_free(&q->parts);
	free(q);
}

static const char *
rd_error(void *impl)
{
	struct pgr *q = impl;
	return q->err;
}

/* ---- parameters ------------------------------------------------------------------ */

#define MAX_ARGS 8

struct args {
	int n;
	const char *v[MAX_ARGS];
	Oid t[MAX_ARGS];
	char num[MAX_ARGS][40];       /* a number, or 16 bytes of bytea as \x and hex */
	struct dm_buf text[MAX_ARGS]; /* text made valid UTF-8, bytea and arrays */
};

static void
arg_int(struct args *a, int i, long long v)
{
	snprintf(a->num[i], sizeof a->num[i], "%lld", v);
	a->v[i] = a->num[i];
	a->t[i] = T_INT8;
	if (a->n <= i)
		a->n = i + 1;
}

/* Text as the server takes it: invalid UTF-8 bytes become U+FFFD, as the
 * writer stored them (store_pg_text). */
static void
arg_text(struct args *a, int i, const char *s)
{
	a->t[i] = T_TEXT;
	if (a->n <= i)
		a->n = i + 1;
	a->v[i] = NULL;
	if (s == NULL)
		return;
	dm_buf_init(&a->text[i], 4 * DM_MAX_ID_LEN + 16);
	if (store_pg_text(&a->text[i], s) == 0)
		a->v[i] = a->text[i].data;
	else
		a->v[i] = ""; /* longer than anything stored: matches nothing */
}

static void
arg_ip(struct args *a, int i, const unsigned char ip[16])
{
	static const char hex[] = "0123456789abcdef";
	char *o = a->num[i];
	*o++ = '\\';
	*o++ = 'x';
	for (int k = 0; k < 16; k++) {
		*o++ = hex[ip[k] >> 4];
		*o++ = hex[ip[k] & 15];
	}
	*o = '\0';
	a->v[i] = a->num[i];
	a->t[i] = T_BYTEA;
	if (a->n <= i)
		a->n = i + 1;
}

/* $1 admin, $2 account, $3 domain, $4 and $5 the first and last day. */
static void
args_init(struct args *a, const struct store_scope *sc, const struct store_filter *f)
{
	memset(a, 0, sizeof *a);
	a->v[0] = sc->admin ? "t" : "f";
	a->t[0] = T_BOOL;
	a->n = 1;
	arg_int(a, 1, sc->account);
	if (f != NULL) {
		arg_text(a, 2, f->domain);
		/* open ends: far enough that "+ 86400" cannot overflow */
		arg_int(a, 3, f->from == STORE_OPEN ? -(INT64_C(1) << 60) : f->from);
		arg_int(a, 4, f->to == STORE_OPEN ? (INT64_C(1) << 60) : f->to);
	}
}

static void
args_free(struct args *a)
{
	for (int i = 0; i < MAX_ARGS; i++)
		if (a->t[i] == T_TEXT || a->t[i] == T_INT8_ARRAY || a->t[i] == T_TEXT_ARRAY)
			dm_buf_free(&a->text[i]);
}

/* ---- running queries ------------------------------------------------------------------ */

/* sql with a's parameters, the whole result at once (for short results). */
static int
run(struct pgr *q, const char *sql, struct args *a, PGresult **out)
{
	*out = NULL;
	int rc = connected(q);
	if (rc == 0) {
		PGresult *r = PQexecParams(q->c, sql, a->n, a->t, a->v, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			*out = r;
		else
			rc = fail(q, r, "query");
	}
	args_free(a);
	return rc;
}

/* sql started row by row; q_row gives the rows. */
static int
stream(struct pgr *q, const char *sql, struct args *a)
{
	int rc = connected(q);
	if (rc == 0) {
		if (!PQsendQueryParams(q->c, sql, a->n, a->t, a->v, NULL, NULL, 0) ||
		    !PQsetSingleRowMode(q->c))
			rc = fail(q, NULL, "query");
		else
			q->streaming = 1;
	}
	args_free(a);
	return rc;
}

/* The next row of a streamed query (the caller clears it), or NULL at its
 * end (*rc 0) or on failure (*rc the code). */
static PGresult *
next_row(struct pgr *q, int *rc)
{
	*rc = 0;
	PGresult *r = PQgetResult(q->c);
	if (r != NULL && PQresultStatus(r) == PGRES_SINGLE_TUPLE)
		return r;
	if (r != NULL && PQresultStatus(r) != PGRES_TUPLES_OK)
		*rc = fail(q, r, "query");
	else
		PQclear(r);
	/* the end: read what is left until libpq says there is no more */
	while (q->c != NULL && (r = PQgetResult(q->c)) != NULL)
		PQclear(r);
	q->streaming = 0;
	return NULL;
}

/* A streamed query given up before its end: the connection is dropped
 * rather than its rest read (it may be millions of rows). */
static void
stop(struct pgr *q)
{
	if (q->streaming)
		drop(q);
}

static const char *
val(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t
num(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static uint64_t
unum(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoull(PQgetvalue(r, row, col), NULL, 10);
}

static void
read_counts(PGresult *r, int row, int first, struct store_counts *c)
{
	c->messages = unum(r, row, first);
	c->dmarc_pass = unum(r, row, first + 1);
	c->dmarc_fail = unum(r, row, first + 2);
	c->spf_aligned = unum(r, row, first + 3);
	c->dkim_aligned = unum(r, row, first + 4);
	c->quarantine = unum(r, row, first + 5);
	c->reject = unum(r, row, first + 6);
	c->none = c->messages - c->quarantine - c->reject;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A bytea column of 16 bytes (text form \x...) into ip; 0 when it is one. */
static int
read_ip(PGresult *r, int row, int col, unsigned char ip[16])
{
	const char *s = val(r, row, col);
	if (s == NULL || strlen(s) != 34 || s[0] != '\\' || s[1] != 'x')
		return -1;
	for (int i = 0; i < 16; i++) {
		int h = hexval(s[2 + 2 * i]), l = hexval(s[3 + 2 * i]);
		if (h < 0 || l < 0)
			return -1;
		ip[i] = (unsigned char)(h << 4 | l);
	}
	return 0;
}

/* A statement that returns one number (0 when it returns no row). */
static int
one_number(struct pgr *q, const char *sql, struct args *a, uint64_t *out)
{
	PGresult *r;
	int rc = run(q, sql, a, &r);
	*out = rc == 0 && PQntuples(r) > 0 ? unum(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

/* Does f's domain have reports in scope?  Not yours looks the same as
 * nothing there: DM_ENOTFOUND either way. */
static int
visible(struct pgr *q, const struct store_scope *sc, const struct store_filter *f)
{
	struct args a;
	args_init(&a, sc, f);
	PGresult *r;
	int rc = run(q, q_visible, &a, &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = DM_ENOTFOUND;
	PQclear(r);
	return rc;
}

static int
rd_ping(void *impl)
{
	struct pgr *q = impl;
	int rc = connected(q);
	if (rc == 0) {
		PGresult *r = PQexec(q->c, "SELECT 1 FROM reports LIMIT 1");
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			return fail(q, r, "ping");
		PQclear(r);
	}
	return rc;
}

/* ---- domains, summary, time series, reporters ---------------------------------- */

static int
rd_domains(void *impl, const struct store_scope *sc,
           int (*fn)(void *arg, const struct store_domain_row *r), void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_init(&a, sc, NULL);
	PGresult *r;
	int rc = run(q, q_domains, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_domain_row d;
		memset(&d, 0, sizeof d);
		d.domain = val(r, i, 0);
		read_counts(r, i, 1, &d.c);
		d.first_day = num(r, i, 1 + NCOUNTS);
		d.last_day = num(r, i, 2 + NCOUNTS);
		d.reports = unum(r, i, 3 + NCOUNTS);
		rc = fn(arg, &d);
	}
	PQclear(r);
	return rc;
}

static int
rd_summary(void *impl, const struct store_scope *sc, const struct store_filter *f,
           uint64_t *reports, struct store_counts *out)
{
	struct pgr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	struct args a;
	args_init(&a, sc, f);
	PGresult *r;
	memset(out, 0, sizeof *out);
	if ((rc = run(q, q_summary, &a, &r)) == 0 && PQntuples(r) > 0)
		read_counts(r, 0, 0, out);
	PQclear(r);
	if (rc)
		return rc;
	args_init(&a, sc, f);
	return one_number(q, q_range_reports, &a, reports);
}

static int
rd_timeseries(void *impl, const struct store_scope *sc, const struct store_filter *f,
              int (*fn)(void *arg, const struct store_day_row *r), void *arg)
{
	struct pgr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	struct args a;
	args_init(&a, sc, f);
	PGresult *r;
	rc = run(q, q_timeseries, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_day_row d;
		d.day = num(r, i, 0);
		read_counts(r, i, 1, &d.c);
		rc = fn(arg, &d);
	}
	PQclear(r);
	return rc;
}

static int
rd_reporters(void *impl, const struct store_scope *sc, const struct store_filter *f,
             int (*fn)(void *arg, const struct store_reporter_row *r), void *arg)
{
	struct pgr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	struct args a;
	args_init(&a, sc, f);
	PGresult *r;
	rc = run(q, q_reporters, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_reporter_row d;
		memset(&d, 0, sizeof d);
		d.reporter = val(r, i, 0);
		read_counts(r, i, 1, &d.c);
		d.reports = unum(r, i, 1 + NCOUNTS);
		rc = fn(arg, &d);
	}
	PQclear(r);
	return rc;
}

/* ---- sources ------------------------------------------------------------------ */

static const char q_ips[] =
	"SELECT ip, ptr_state, ptr, base_domain, asn, as_name, country, service, service_type"
	" FROM ips WHERE ip = ANY (SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)";

/* The ips rows of n sources into their info, strings in the reader's
 * record arena (not reset here). */
static int
ips_fill(struct pgr *q, struct store_source_row *rows, int n)
{
	if (n <= 0)
		return 0;
	struct args a;
	memset(&a, 0, sizeof a);
	a.t[0] = T_TEXT_ARRAY;
	a.n = 1;
	dm_buf_init(&a.text[0], (size_t)n * 36 + 16);
	int bad = dm_buf_addc(&a.text[0], '{');
	for (int i = 0; i < n; i++) {
		bad |= dm_buf_add(&a.text[0], i ? ",\"" : "\"", i ? 2 : 1);
		for (int k = 0; k < 16; k++)
			bad |= dm_buf_printf(&a.text[0], "%02x", rows[i].ip[k]);
		bad |= dm_buf_addc(&a.text[0], '"');
	}
	bad |= dm_buf_add(&a.text[0], "}", 2);
	a.v[0] = a.text[0].data;
	if (bad) {
		args_free(&a);
		snprintf(q->err, sizeof q->err, "the page does not fit");
		return DM_ELIMIT;
	}
	PGresult *r;
	int rc = run(q, q_ips, &a, &r);
	for (int k = 0; rc == 0 && k < PQntuples(r); k++) {
		unsigned char ip[16];
		if (read_ip(r, k, 0, ip) != 0)
			continue;
		for (int i = 0; i < n; i++) {
			struct store_ip_info *info = &rows[i].info;
			if (memcmp(rows[i].ip, ip, 16) != 0)
				continue;
			const char **str[] = {&info->ptr, &info->base_domain, NULL, &info->as_org,
			                      &info->country, &info->service, &info->service_type};
			info->known = 1;
			info->ptr_state = (int)num(r, k, 1);
			info->asn = (uint32_t)num(r, k, 4);
			for (int c = 0; c < 7; c++) {
				const char *t = val(r, k, 2 + c);
				if (str[c] && t)
					*str[c] = dm_arena_strndup(&q->rec.arena, t, strlen(t));
			}
			break;
		}
	}
	PQclear(r);
	return rc;
}

static int
rd_ip_info(void *impl, const unsigned char ip[16], struct store_ip_info *info)
{
	struct pgr *q = impl;
	struct store_source_row row;
	memset(&row, 0, sizeof row);
	memcpy(row.ip, ip, 16);
	dm_arena_reset(&q->rec.arena);
	int rc = ips_fill(q, &row, 1);
	*info = row.info;
	return rc;
}

static int
rd_sources(void *impl, const struct store_scope *sc, const struct store_filter *f,
           enum store_source_sort sort, unsigned limit, unsigned offset, uint64_t *total,
           int (*fn)(void *arg, const struct store_source_row *r), void *arg)
{
	struct pgr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	if ((unsigned)sort >= sizeof q_sources / sizeof q_sources[0])
		sort = STORE_SORT_MESSAGES;
	struct args a;
	args_init(&a, sc, f);
	arg_int(&a, 5, limit);
	arg_int(&a, 6, offset);
	PGresult *page;
	if ((rc = run(q, q_sources[sort], &a, &page)) != 0)
		return rc;
	int n = PQntuples(page);
	*total = n > 0 ? unum(page, 0, 1 + NCOUNTS) : 0;
	if (n == 0 && offset > 0) {
		/* past the end: the total from a page that has rows */
		args_init(&a, sc, f);
		arg_int(&a, 5, 1);
		arg_int(&a, 6, 0);
		PGresult *first;
		if ((rc = run(q, q_sources[sort], &a, &first)) == 0 && PQntuples(first) > 0)
			*total = unum(first, 0, 1 + NCOUNTS);
		PQclear(first);
	}
	struct store_source_row *rows = xcalloc(n > 0 ? (size_t)n : 1, sizeof *rows);
	for (int i = 0; i < n; i++) {
		(void)read_ip(page, i, 0, rows[i].ip);
		read_counts(page, i, 1, &rows[i].c);
	}
	PQclear(page);
	/* every row's lists in one query: the page's addresses as text[] */
	PGresult *l = NULL;
	if (rc == 0 && n > 0) {
		args_init(&a, sc, f);
		a.t[5] = T_TEXT_ARRAY;
		dm_buf_init(&a.text[5], (size_t)n * 36 + 16); /* ,"<32 hex>" each */
		int bad = dm_buf_addc(&a.text[5], '{');
		for (int i = 0; i < n; i++) {
			bad |= dm_buf_add(&a.text[5], i ? ",\"" : "\"", i ? 2 : 1);
			for (int k = 0; k < 16; k++)
				bad |= dm_buf_printf(&a.text[5], "%02x", rows[i].ip[k]);
			bad |= dm_buf_addc(&a.text[5], '"');
		}
		bad |= dm_buf_add(&a.text[5], "}", 2);
		a.v[5] = a.text[5].data;
		a.n = 6;
		if (bad) {
			args_free(&a);
			snprintf(q->err, sizeof q->err, "the page does not fit");
			rc = DM_ELIMIT;
		} else {
			rc = run(q, q_source_lists, &a, &l);
		}
	}
	dm_arena_reset(&q->rec.arena);
	for (int k = 0; rc == 0 && k < PQntuples(l); k++) {
		unsigned char ip[16];
		if (read_ip(l, k, 0, ip) != 0)
			continue;
		for (int i = 0; i < n; i++) {
			struct store_source_row *r = &rows[i];
			if (memcmp(r->ip, ip, 16) != 0)
				continue;
			read_list_add(r->header_from, &r->nheader_from, val(l, k, 1), &q->rec.arena);
			read_list_add(r->reporters, &r->nreporters, val(l, k, 2), &q->rec.arena);
			break;
		}
	}
	PQclear(l);
	if (rc == 0)
		rc = ips_fill(q, rows, n);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = fn(arg, &rows[i]);
	free(rows);
	return rc;
}

/* The source's days as a bigint[] literal: {d1,d2,...}. */
static int
days_array(struct dm_buf *b, const int64_t *days, size_t n)
{
	int bad = dm_buf_addc(b, '{');
	for (size_t i = 0; i < n; i++)
		bad |= dm_buf_printf(b, i ? ",%" PRId64 : "%" PRId64, days[i]);
	bad |= dm_buf_add(b, "}", 2); /* with its NUL */
	return bad ? DM_ELIMIT : 0;
}

/* The source's DKIM and SPF results, from its records in the reports of
 * its days (a report of several days counts once). */
static int
source_parts(struct pgr *q, const struct store_scope *sc, const struct store_filter *f,
             const unsigned char ip[16], const int64_t *days, size_t ndays)
{
	read_parts_clear(&q->parts);
	if (ndays == 0)
		return 0;
	struct args a;
	args_init(&a, sc, f);
	arg_ip(&a, 5, ip);
	dm_buf_init(&a.text[6], ndays * 24 + 16);
	a.t[6] = T_INT8_ARRAY;
	if (days_array(&a.text[6], days, ndays) != 0) {
		args_free(&a);
		snprintf(q->err, sizeof q->err, "the source's days do not fit");
		return DM_ELIMIT;
	}
	a.v[6] = a.text[6].data;
	arg_int(&a, 7, DM_HTTP_MAX_SOURCE_SCAN);
	int rc = stream(q, q_source_scan, &a);
	PGresult *r;
	while (rc == 0 && (r = next_row(q, &rc)) != NULL) {
		struct dm_record rec;
		read_record_start(&q->rec, &rec, ip);
		rec.count = num(r, 0, 0);
		read_record_results(&q->rec, &rec, NULL, 0, val(r, 0, 1),
		                    (size_t)PQgetlength(r, 0, 1), val(r, 0, 2),
		                    (size_t)PQgetlength(r, 0, 2));
		read_parts_record(&q->parts, &rec);
		PQclear(r);
	}
	return rc;
}

static int
rd_source(void *impl, const struct store_scope *sc, const struct store_filter *f,
          const unsigned char ip[16], struct store_counts *total,
          int (*day_fn)(void *arg, const struct store_day_row *r),
          int (*part_fn)(void *arg, const struct store_part_row *r), void *arg)
{
	struct pgr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	struct args a;
	args_init(&a, sc, f);
	arg_ip(&a, 5, ip);
	PGresult *r;
	if ((rc = run(q, q_source_total, &a, &r)) != 0)
		return rc;
	memset(total, 0, sizeof *total);
	int none = PQntuples(r) == 0 || PQgetisnull(r, 0, 0);
	if (!none)
		read_counts(r, 0, 0, total);
	PQclear(r);
	if (none)
		return DM_ENOTFOUND; /* never seen for this domain in scope and range */

	/* its days; the reports of those days are where its records are */
	args_init(&a, sc, f);
	arg_ip(&a, 5, ip);
	if ((rc = run(q, q_source_days, &a, &r)) != 0)
		return rc;
	size_t ndays = (size_t)PQntuples(r);
	int64_t *days = xcalloc(ndays ? ndays : 1, sizeof *days);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_day_row d;
		d.day = num(r, i, 0);
		read_counts(r, i, 1, &d.c);
		days[i] = d.day;
		rc = day_fn(arg, &d);
	}
	PQclear(r);

	/* reporters and header_from from the rollup */
	if (rc == 0) {
		args_init(&a, sc, f);
		arg_ip(&a, 5, ip);
		rc = run(q, q_source_parts, &a, &r);
		for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
			struct store_part_row p = {
			        .kind = num(r, i, 0) == 0 ? STORE_PART_REPORTER
			                                  : STORE_PART_HEADER_FROM,
			        .name = val(r, i, 1),
			        .messages = unum(r, i, 2),
			};
			rc = part_fn(arg, &p);
		}
		PQclear(r);
	}
	if (rc == 0)
		rc = source_parts(q, sc, f, ip, days, ndays);
	free(days);
	if (rc == 0)
		rc = read_parts_emit(&q->parts, part_fn, arg);
	read_parts_clear(&q->parts);
	return rc;
}

/* ---- reports ---------------------------------------------------------------------- */

/* A row's report columns (REPORT_COLS) into rr. */
static void
read_report(PGresult *r, int row, struct store_report_row *rr)
{
	memset(rr, 0, sizeof *rr);
	rr->id = num(r, row, 0);
	rr->account_id = num(r, row, 1);
	rr->org_name = val(r, row, 2);
	rr->email = val(r, row, 3);
	rr->extra_contact_info = val(r, row, 4);
	rr->report_id = val(r, row, 5);
	rr->policy_domain = val(r, row, 6);
	rr->begin = num(r, row, 7);
	rr->end = num(r, row, 8);
	rr->received_at = num(r, row, 9);
	rr->records = unum(r, row, 10);
	rr->messages = unum(r, row, 11);
	rr->generator = val(r, row, 12);
	rr->version = val(r, row, 13);
	rr->schema = val(r, row, 14);
	rr->xmlns = val(r, row, 15);
	rr->report_error = val(r, row, 16);
	rr->archive_key = val(r, row, 17);
	rr->warnings_json = val(r, row, 18);
	rr->policy.domain = rr->policy_domain;
	rr->policy.adkim = val(r, row, 19);
	rr->policy.aspf = val(r, row, 20);
	rr->policy.p = val(r, row, 21);
	rr->policy.sp = val(r, row, 22);
	rr->policy.np = val(r, row, 23);
	rr->policy.pct = PQgetisnull(r, row, 24) ? -1 : (int)num(r, row, 24);
	rr->policy.fo = val(r, row, 25);
	rr->policy.testing = val(r, row, 26);
	rr->policy.discovery_method = val(r, row, 27);
}

/* A row's record columns (RECORD_COLS, from column first) into rec. */
static void
read_record(struct pgr *q, PGresult *r, int first, struct dm_record *rec)
{
	unsigned char ip[16];
	int have = read_ip(r, 0, first, ip) == 0;
	read_record_start(&q->rec, rec, have ? ip : NULL);
	rec->count = num(r, 0, first + 1);
	rec->disposition = val(r, 0, first + 2);
	rec->dkim = val(r, 0, first + 3);
	rec->spf = val(r, 0, first + 4);
	rec->header_from = val(r, 0, first + 5);
	rec->envelope_from = val(r, 0, first + 6);
	rec->envelope_to = val(r, 0, first + 7);
	read_record_results(&q->rec, rec, val(r, 0, first + 8),
	                    (size_t)PQgetlength(r, 0, first + 8), val(r, 0, first + 9),
	                    (size_t)PQgetlength(r, 0, first + 9), val(r, 0, first + 10),
	                    (size_t)PQgetlength(r, 0, first + 10));
}

/* The filter of the report list and export: $6 the reporter. */
static void
args_reports(struct args *a, const struct store_scope *sc, const struct store_filter *f)
{
	args_init(a, sc, f);
	arg_text(a, 5, f->reporter);
}

static int
rd_reports(void *impl, const struct store_scope *sc, const struct store_filter *f, unsigned limit,
           unsigned offset, uint64_t *total, int (*fn)(void *arg, const struct store_report_row *r),
           void *arg)
{
	struct pgr *q = impl;
	int rc;
	if (f->domain != NULL && (rc = visible(q, sc, f)) != 0)
		return rc;
	struct args a;
	args_reports(&a, sc, f);
	if ((rc = one_number(q, q_reports_total, &a, total)) != 0)
		return rc;
	args_reports(&a, sc, f);
	arg_int(&a, 6, limit);
	arg_int(&a, 7, offset);
	PGresult *r;
	rc = run(q, q_reports, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_report_row rr;
		read_report(r, i, &rr);
		/* a list row: the detail fields stay out */
		rr.generator = rr.version = rr.schema = rr.xmlns = rr.report_error = NULL;
		rr.archive_key = rr.warnings_json = NULL;
		rc = fn(arg, &rr);
	}
	PQclear(r);
	return rc;
}

static int
rd_report(void *impl, const struct store_scope *sc, int64_t id,
          int (*meta_fn)(void *arg, const struct store_report_row *r),
          int (*rec_fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
          void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_init(&a, sc, NULL);
	arg_int(&a, 2, id);
	PGresult *meta;
	int rc = run(q, q_report, &a, &meta);
	if (rc)
		return rc;
	if (PQntuples(meta) == 0) {
		PQclear(meta);
		return DM_ENOTFOUND;
	}
	struct store_report_row rr;
	read_report(meta, 0, &rr);
	rc = meta_fn(arg, &rr);
	if (rc == 0 && rec_fn != NULL) {
		memset(&a, 0, sizeof a);
		arg_int(&a, 0, rr.id);
		rc = stream(q, q_records, &a);
		PGresult *r;
		while (rc == 0 && (r = next_row(q, &rc)) != NULL) {
			struct dm_record rec;
			read_record(q, r, 0, &rec);
			rc = rec_fn(arg, &rr, &rec);
			PQclear(r);
		}
		stop(q);
	}
	PQclear(meta);
	return rc;
}

static int
rd_export(void *impl, const struct store_scope *sc, const struct store_filter *f,
          int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
          void *arg)
{
	struct pgr *q = impl;
	int rc;
	if (f->domain != NULL && (rc = visible(q, sc, f)) != 0)
		return rc;
	struct args a;
	args_reports(&a, sc, f);
	rc = stream(q, q_export, &a);
	PGresult *r;
	while (rc == 0 && (r = next_row(q, &rc)) != NULL) {
		struct store_report_row rr;
		struct dm_record rec;
		read_report(r, 0, &rr);
		read_record(q, r, NREPORT, &rec);
		rc = fn(arg, &rr, &rec);
		PQclear(r);
	}
	stop(q);
	return rc;
}


/* ---- SMTP TLS reports ------------------------------------------------------------ */

/* clang-format off */
#define TLS_COLS \
	" t.id, t.account_id, t.org_name, t.contact_info, t.report_id, t.policy_domain," \
	" t.date_begin, t.date_end, t.received_at, t.policies, t.failure_details, t.success," \
	" t.failure, t.archive_key, t.warnings"
#define TLS_WHERE \
	" WHERE" SCOPE_OF("t") " AND ($3::text IS NULL OR t.policy_domain = $3) AND" RANGE_OF("t")
static const char q_tls_domains[] =
	"SELECT t.policy_domain, COUNT(*), SUM(t.success), SUM(t.failure), MIN(t.day), MAX(t.day)"
	" FROM tls_reports t WHERE" SCOPE_OF("t")
	" GROUP BY t.policy_domain ORDER BY t.policy_domain COLLATE \"C\"";
static const char q_tls_visible[] =
	"SELECT 1 FROM tls_reports t WHERE t.policy_domain = $3 AND" SCOPE_OF("t") " LIMIT 1";
static const char q_tls_days[] =
	"SELECT t.day, SUM(t.success), SUM(t.failure) FROM tls_policies t"
	" WHERE t.domain = $3 AND" DAYS_OF("t") " AND" SCOPE_OF("t")
	" GROUP BY t.day ORDER BY t.day";
static const char q_tls_failures[] =
	"SELECT t.result_type, COALESCE(t.receiving_mx_hostname, '') AS mx, SUM(t.sessions) AS n"
	" FROM tls_failures t WHERE t.domain = $3 AND" DAYS_OF("t") " AND" SCOPE_OF("t")
	" GROUP BY 1, 2 ORDER BY n DESC, t.result_type COLLATE \"C\","
	" COALESCE(t.receiving_mx_hostname, '') COLLATE \"C\" LIMIT $6";
static const char q_tls_reports[] =
	"SELECT" TLS_COLS " FROM tls_reports t" TLS_WHERE
	" ORDER BY t.date_begin DESC, t.id DESC LIMIT $6 OFFSET $7";
static const char q_tls_reports_total[] = "SELECT COUNT(*) FROM tls_reports t" TLS_WHERE;
static const char q_tls_report[] =
	"SELECT" TLS_COLS " FROM tls_reports t WHERE t.id = $3 AND" SCOPE_OF("t");
static const char q_tls_policies[] =
	"SELECT t.idx, t.policy_type, t.policy_domain, t.mx_host, t.policy_string, t.success,"
	" t.failure FROM tls_policies t WHERE t.report = $3 AND" SCOPE_OF("t") " ORDER BY t.idx";
static const char q_tls_failure_rows[] =
	"SELECT t.policy, t.result_type, t.sending_ip, t.receiving_mx_hostname,"
	" t.receiving_mx_helo, t.receiving_ip, t.additional_info, t.failure_reason_code,"
	" t.sessions FROM tls_failures t WHERE t.report = $3 AND" SCOPE_OF("t") " ORDER BY t.n";
/* clang-format on */

static int
rd_tls_domains(void *impl, const struct store_scope *sc,
               int (*fn)(void *arg, const struct store_tls_domain_row *r), void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_init(&a, sc, NULL);
	PGresult *r;
	int rc = run(q, q_tls_domains, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_tls_domain_row d = {
		        .domain = val(r, i, 0),
		        .reports = unum(r, i, 1),
		        .success = unum(r, i, 2),
		        .failure = unum(r, i, 3),
		        .first_day = num(r, i, 4),
		        .last_day = num(r, i, 5),
		};
		rc = fn(arg, &d);
	}
	PQclear(r);
	return rc;
}

static int
tls_visible(struct pgr *q, const struct store_scope *sc, const struct store_filter *f)
{
	struct args a;
	args_init(&a, sc, f);
	PGresult *r;
	int rc = run(q, q_tls_visible, &a, &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = DM_ENOTFOUND;
	PQclear(r);
	return rc;
}

static int
rd_tls_days(void *impl, const struct store_scope *sc, const struct store_filter *f,
            int (*fn)(void *arg, const struct store_tls_day_row *r), void *arg)
{
	struct pgr *q = impl;
	int rc = tls_visible(q, sc, f);
	if (rc)
		return rc;
	struct args a;
	args_init(&a, sc, f);
	PGresult *r;
	rc = run(q, q_tls_days, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_tls_day_row d = {
		        .day = num(r, i, 0), .success = unum(r, i, 1), .failure = unum(r, i, 2)};
		rc = fn(arg, &d);
	}
	PQclear(r);
	return rc;
}

static int
rd_tls_failures(void *impl, const struct store_scope *sc, const struct store_filter *f,
                unsigned limit, int (*fn)(void *arg, const struct store_tls_failure_group *r),
                void *arg)
{
	struct pgr *q = impl;
	int rc = tls_visible(q, sc, f);
	if (rc)
		return rc;
	struct args a;
	args_init(&a, sc, f);
	arg_int(&a, 5, limit);
	PGresult *r;
	rc = run(q, q_tls_failures, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_tls_failure_group g = {
		        .result_type = val(r, i, 0), .mx = val(r, i, 1), .sessions = unum(r, i, 2)};
		rc = fn(arg, &g);
	}
	PQclear(r);
	return rc;
}

static void
read_tls_report(PGresult *r, int i, struct store_tls_report_row *t, int detail)
{
	memset(t, 0, sizeof *t);
	t->id = num(r, i, 0);
	t->account_id = num(r, i, 1);
	t->org_name = val(r, i, 2);
	t->contact_info = val(r, i, 3);
	t->report_id = val(r, i, 4);
	t->policy_domain = val(r, i, 5);
	t->begin = num(r, i, 6);
	t->end = num(r, i, 7);
	t->received_at = num(r, i, 8);
	t->policies = unum(r, i, 9);
	t->failure_details = unum(r, i, 10);
	t->success = unum(r, i, 11);
	t->failure = unum(r, i, 12);
	if (detail) {
		t->archive_key = val(r, i, 13);
		t->warnings_json = val(r, i, 14);
	}
}

static int
rd_tls_reports(void *impl, const struct store_scope *sc, const struct store_filter *f,
               unsigned limit, unsigned offset, uint64_t *total,
               int (*fn)(void *arg, const struct store_tls_report_row *r), void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_init(&a, sc, f);
	int rc = one_number(q, q_tls_reports_total, &a, total);
	if (rc)
		return rc;
	args_init(&a, sc, f);
	arg_int(&a, 5, limit);
	arg_int(&a, 6, offset);
	PGresult *r;
	rc = run(q, q_tls_reports, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_tls_report_row t;
		read_tls_report(r, i, &t, 0);
		rc = fn(arg, &t);
	}
	PQclear(r);
	return rc;
}

static int
rd_tls_report(void *impl, const struct store_scope *sc, int64_t id,
              int (*meta_fn)(void *arg, const struct store_tls_report_row *r),
              int (*pol_fn)(void *arg, const struct store_tls_policy_row *r),
              int (*fail_fn)(void *arg, const struct store_tls_failure_row *r), void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_init(&a, sc, NULL);
	arg_int(&a, 2, id);
	PGresult *r;
	int rc = run(q, q_tls_report, &a, &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = DM_ENOTFOUND;
	if (rc == 0) {
		struct store_tls_report_row t;
		read_tls_report(r, 0, &t, 1);
		rc = meta_fn(arg, &t);
	}
	PQclear(r);
	if (rc || pol_fn == NULL)
		return rc;
	args_init(&a, sc, NULL);
	arg_int(&a, 2, id);
	rc = run(q, q_tls_policies, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_tls_policy_row p = {
		        .idx = (unsigned)num(r, i, 0),
		        .type = val(r, i, 1),
		        .domain = val(r, i, 2),
		        .mx_host = val(r, i, 3),
		        .policy_string = val(r, i, 4),
		        .success = unum(r, i, 5),
		        .failure = unum(r, i, 6),
		};
		rc = pol_fn(arg, &p);
	}
	PQclear(r);
	if (rc || fail_fn == NULL)
		return rc;
	/* failure details may be many: row by row */
	args_init(&a, sc, NULL);
	arg_int(&a, 2, id);
	rc = stream(q, q_tls_failure_rows, &a);
	int n = 0;
	while (rc == 0 && n == 0 && (r = next_row(q, &rc)) != NULL) {
		struct store_tls_failure_row f = {
		        .policy = (unsigned)num(r, 0, 0),
		        .result_type = val(r, 0, 1),
		        .sending_ip = val(r, 0, 2),
		        .receiving_mx_hostname = val(r, 0, 3),
		        .receiving_mx_helo = val(r, 0, 4),
		        .receiving_ip = val(r, 0, 5),
		        .additional_info = val(r, 0, 6),
		        .failure_reason_code = val(r, 0, 7),
		        .sessions = unum(r, 0, 8),
		};
		n = fail_fn(arg, &f);
		PQclear(r);
	}
	if (n) {
		stop(q);
		return n;
	}
	return rc;
}


/* ---- failure reports ------------------------------------------------------------ */

/* clang-format off */
#define FAILURES_WHERE \
	" WHERE ($1 OR account_id = $2) AND ($3::text IS NULL OR reported_domain = $3)" \
	" AND ($6::text IS NULL OR source_ip = $6) AND day BETWEEN $4 AND $5"
static const char q_failures_total[] = "SELECT COUNT(*) FROM failures" FAILURES_WHERE;
static const char q_failures[] =
	"SELECT " BACKEND_FAILURE_READ " FROM failures" FAILURES_WHERE
	" ORDER BY day DESC, id DESC LIMIT $7 OFFSET $8";
static const char q_failure[] =
	"SELECT " BACKEND_FAILURE_READ " FROM failures WHERE id = $3 AND ($1 OR account_id = $2)";
/* clang-format on */

static void
read_failure(PGresult *r, int i, struct store_failure_row *row, int detail)
{
	const char *c[BACKEND_FAILURE_NREAD];
	for (int k = 0; k < BACKEND_FAILURE_NREAD; k++)
		c[k] = val(r, i, k);
	backend_failure_row(row, c, detail);
}

static void
args_failures(struct args *a, const struct store_scope *sc, const struct store_filter *f,
              const unsigned char *ip)
{
	char text[DM_IP_TEXT];
	args_init(a, sc, f);
	if (ip != NULL)
		dm_ip_format(ip, text, sizeof text);
	arg_text(a, 5, ip != NULL ? text : NULL);
}

static int
rd_failures(void *impl, const struct store_scope *sc, const struct store_filter *f,
            const unsigned char *ip, unsigned limit, unsigned offset, uint64_t *total,
            int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_failures(&a, sc, f, ip);
	int rc = one_number(q, q_failures_total, &a, total);
	if (rc)
		return rc;
	args_failures(&a, sc, f, ip);
	arg_int(&a, 6, limit);
	arg_int(&a, 7, offset);
	PGresult *r;
	rc = run(q, q_failures, &a, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		struct store_failure_row row;
		read_failure(r, i, &row, 0);
		rc = fn(arg, &row);
	}
	PQclear(r);
	return rc;
}

static int
rd_failure(void *impl, const struct store_scope *sc, int64_t id,
           int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	struct pgr *q = impl;
	struct args a;
	args_init(&a, sc, NULL);
	arg_int(&a, 2, id);
	PGresult *r;
	int rc = run(q, q_failure, &a, &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = DM_ENOTFOUND;
	if (rc == 0) {
		struct store_failure_row row;
		read_failure(r, 0, &row, 1);
		rc = fn(arg, &row);
	}
	PQclear(r);
	return rc;
}

const struct store_read_ops store_pg_read_ops = {
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
