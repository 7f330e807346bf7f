/*
 * store_sqlite_read.c - the read side of the SQLite store: the queries of
 * the API, each on a reader's own read-only connection.
 *
 * Functions: the store_sqlite_read_ops table (open, close, error, ping,
 * domains, summary, timeseries, sources, source, reporters, reports,
 * report, export).
 *
 * A reader is one connection opened read-only with query_only set, with
 * its own prepared statements, used by one thread at a time.  In WAL mode
 * a reader sees the last committed state and never waits for the writer
 * (nor the writer for it).
 *
 * Where the numbers come from:
 *   day_totals  (domain, day, account, reporter, disposition, dkim, spf):
 *               domains, summary, timeseries, reporters - a few rows per
 *               domain and day;
 *   src_day     (domain, source, account, day): the sources of a domain,
 *               read in source order and summed as they come (a bounded
 *               heap keeps the page), so no sort of every source is needed;
 *   daily       (domain, source, day, account, header_from, reporter, ...):
 *               a source's header_from and reporters, its days and parts;
 *   reports     the report lists and counts, the detail and export, whose
 *               records are read by their rowid range (first_record,
 *               last_record), so records need no index of their own;
 *   records     a source's DKIM and SPF results: the records of the
 *               domain's reports on the days the source was seen.
 * Every statement carries the scope as (?1 OR account_id = ?2): ?1 is 1
 * for the admin, ?2 the account.  Domain and day filters are bound, never
 * written into SQL.
 *
 * Logs nothing; errors are returned with the SQLite message in the
 * reader's error text.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/xalloc.h"
#include "core/arena.h"
#include "common/ip.h"
#include "store/backend.h"
#include "store/read.h"
#include "store/store.h"
#include "store/store_sqlite.h"

#define DAY 86400

/* The sums every rollup query returns, in this order, after its keys. */
#define COUNTS                                                                                     \
	" SUM(messages),"                                                                          \
	" SUM(CASE WHEN dkim_pass OR spf_pass THEN messages ELSE 0 END),"                          \
	" SUM(CASE WHEN dkim_pass OR spf_pass THEN 0 ELSE messages END),"                          \
	" SUM(CASE WHEN spf_pass THEN messages ELSE 0 END),"                                       \
	" SUM(CASE WHEN dkim_pass THEN messages ELSE 0 END),"                                      \
	" SUM(CASE WHEN disposition = 'quarantine' THEN messages ELSE 0 END),"                     \
	" SUM(CASE WHEN disposition = 'reject' THEN messages ELSE 0 END)"
#define NCOUNTS 7
#define SCOPE " (?1 OR account_id = ?2)"

/* The report columns every report row is read with, in this order. */
#define REPORT_COLS                                                                                \
	"id, account_id, org_name, email, extra_contact_info, report_id, policy_domain,"           \
	" date_begin, date_end, received_at, records, messages, generator, version,"               \
	" schema, xmlns, report_error, archive_key, warnings, adkim, aspf, p, sp, np,"             \
	" pct, fo, testing, discovery_method, first_record, last_record"

/* The TLS report columns, in this order (read_tls_report). */
#define TLS_COLS                                                                                   \
	"id, account_id, org_name, contact_info, report_id, policy_domain, date_begin, date_end,"  \
	" received_at, policies, failure_details, success, failure, archive_key, warnings"

enum rstmt {
	R_VISIBLE,
	R_DOMAINS,
	R_DOMAIN_REPORTS,
	R_SUMMARY,
	R_RANGE_REPORTS,
	R_TIMESERIES,
	R_SOURCES_MESSAGES,
	R_SOURCES_FAIL,
	R_SOURCES_PASS,
	R_SOURCES_IP,
	R_SOURCE_ROWS,
	R_SOURCE_LISTS,
	R_SOURCE_TOTAL,
	R_IP_INFO,
	R_SOURCE_DAYS,
	R_SOURCE_PARTS,
	R_REPORTERS,
	R_REPORTER_REPORTS,
	R_REPORTS,
	R_REPORTS_TOTAL,
	R_REPORT,
	R_RECORDS,
	R_RECORDS_IP,
	R_EXPORT,
	R_TLS_DOMAINS,
	R_TLS_VISIBLE,
	R_TLS_DAYS,
	R_TLS_FAILURES,
	R_TLS_REPORTS,
	R_TLS_REPORTS_TOTAL,
	R_TLS_REPORT,
	R_TLS_POLICIES,
	R_TLS_FAILURE_ROWS,
	R_FAILURES,
	R_FAILURES_TOTAL,
	R_FAILURE,
	R_COUNT
};

/* A deep page of sources (past DM_HTTP_SOURCES_HEAP): one statement per
 * sort order (ORDER BY cannot be bound); the total comes with every row,
 * SQLite's sorter spills to disk. */
#define SRC_COUNTS                                                                                 \
	" SUM(messages), SUM(dmarc_pass), SUM(messages) - SUM(dmarc_pass), SUM(spf_aligned),"      \
	" SUM(dkim_aligned), SUM(quarantine), SUM(reject)"
#define SOURCES_SQL(order)                                                                         \
	"SELECT source_ip," SRC_COUNTS ", COUNT(*) OVER () FROM src_day"                           \
	" WHERE domain = ?3 AND day BETWEEN ?4 AND ?5 AND" SCOPE " GROUP BY source_ip"             \
	" ORDER BY " order " LIMIT ?6 OFFSET ?7"

static const char *const rstmt_sql[R_COUNT] = {
        [R_VISIBLE] = "SELECT 1 FROM reports WHERE policy_domain = ?3 AND" SCOPE " LIMIT 1",
        [R_DOMAINS] = "SELECT domain," COUNTS ", MIN(day), MAX(day) FROM day_totals"
                      " WHERE" SCOPE " GROUP BY domain ORDER BY domain",
        [R_DOMAIN_REPORTS] = "SELECT COUNT(*) FROM reports WHERE policy_domain = ?3 AND" SCOPE,
        [R_SUMMARY] = "SELECT" COUNTS " FROM day_totals"
                      " WHERE domain = ?3 AND day BETWEEN ?4 AND ?5 AND" SCOPE,
        /* the reports whose days meet [?4, ?5]: begin before the end of the
         * last day, end after the start of the first */
        [R_RANGE_REPORTS] = "SELECT COUNT(*) FROM reports WHERE policy_domain = ?3 AND" SCOPE
                            " AND date_begin < ?5 + 86400 AND date_end > ?4",
        [R_TIMESERIES] = "SELECT day," COUNTS " FROM day_totals"
                         " WHERE domain = ?3 AND day BETWEEN ?4 AND ?5 AND" SCOPE
                         " GROUP BY day ORDER BY day",
        [R_SOURCES_MESSAGES] = SOURCES_SQL("2 DESC, source_ip"),
        [R_SOURCES_FAIL] = SOURCES_SQL("4 DESC, 2 DESC, source_ip"),
        [R_SOURCES_PASS] = SOURCES_SQL("3 DESC, 2 DESC, source_ip"),
        [R_SOURCES_IP] = SOURCES_SQL("source_ip"),
        [R_SOURCE_ROWS] = "SELECT source_ip, messages, dmarc_pass, spf_aligned, dkim_aligned,"
                          " quarantine, reject FROM src_day WHERE domain = ?3 AND day BETWEEN ?4"
                          " AND ?5 AND" SCOPE " ORDER BY source_ip",
        /* its busiest header_from and reporter pairs first */
        [R_SOURCE_LISTS] =
                "SELECT header_from, reporter FROM daily"
                " WHERE domain = ?3 AND source_ip = ?6 AND day BETWEEN ?4 AND ?5 AND" SCOPE
                " GROUP BY header_from, reporter"
                " ORDER BY SUM(messages) DESC, header_from, reporter LIMIT 400",
        [R_IP_INFO] = "SELECT ptr_state, ptr, base_domain, asn, as_name, country, service,"
                      " service_type FROM ips WHERE ip = ?6",
        [R_SOURCE_TOTAL] = "SELECT" COUNTS " FROM daily WHERE domain = ?3 AND source_ip = ?6"
                           " AND day BETWEEN ?4 AND ?5 AND" SCOPE,
        [R_SOURCE_DAYS] = "SELECT day," COUNTS " FROM daily WHERE domain = ?3 AND source_ip = ?6"
                          " AND day BETWEEN ?4 AND ?5 AND" SCOPE " GROUP BY day ORDER BY day",
        [R_SOURCE_PARTS] = "SELECT 0, reporter, SUM(messages) FROM daily WHERE domain = ?3"
                           " AND source_ip = ?6 AND day BETWEEN ?4 AND ?5 AND" SCOPE
                           " GROUP BY reporter UNION ALL"
                           " SELECT 1, header_from, SUM(messages) FROM daily WHERE domain = ?3"
                           " AND source_ip = ?6 AND day BETWEEN ?4 AND ?5 AND" SCOPE
                           " GROUP BY header_from ORDER BY 1, 3 DESC, 2",
        [R_REPORTERS] = "SELECT reporter," COUNTS " FROM day_totals"
                        " WHERE domain = ?3 AND day BETWEEN ?4 AND ?5 AND" SCOPE
                        " GROUP BY reporter ORDER BY 2 DESC, reporter",
        [R_REPORTER_REPORTS] = "SELECT COUNT(*) FROM reports WHERE policy_domain = ?3 AND" SCOPE
                               " AND date_begin < ?5 + 86400 AND date_end > ?4 AND reporter = ?6",
        [R_REPORTS] = "SELECT " REPORT_COLS " FROM reports WHERE" SCOPE
                      " AND (?3 IS NULL OR policy_domain = ?3) AND (?6 IS NULL OR reporter = ?6)"
                      " AND date_begin < ?5 + 86400 AND date_end > ?4"
                      " ORDER BY date_begin DESC, id DESC LIMIT ?7 OFFSET ?8",
        [R_REPORTS_TOTAL] =
                "SELECT COUNT(*) FROM reports WHERE" SCOPE
                " AND (?3 IS NULL OR policy_domain = ?3) AND (?6 IS NULL OR reporter = ?6)"
                " AND date_begin < ?5 + 86400 AND date_end > ?4",
        [R_REPORT] = "SELECT " REPORT_COLS " FROM reports WHERE id = ?3 AND" SCOPE,
        [R_RECORDS] = "SELECT source_ip, count, disposition, dkim, spf, header_from,"
                      " envelope_from, envelope_to, reasons, dkim_results, spf_results"
                      " FROM records WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        /* one source's records of a report: compared here, parsed only when
         * they are its */
        [R_RECORDS_IP] = "SELECT source_ip, count, disposition, dkim, spf, header_from,"
                         " envelope_from, envelope_to, reasons, dkim_results, spf_results"
                         " FROM records WHERE id BETWEEN ?1 AND ?2 AND source_ip = ?3",
        [R_EXPORT] = "SELECT " REPORT_COLS " FROM reports WHERE" SCOPE
                     " AND (?3 IS NULL OR policy_domain = ?3) AND (?6 IS NULL OR reporter = ?6)"
                     " AND date_begin < ?5 + 86400 AND date_end > ?4 ORDER BY date_begin, id",
        [R_TLS_DOMAINS] = "SELECT policy_domain, COUNT(*), SUM(success), SUM(failure), MIN(day),"
                          " MAX(day) FROM tls_reports WHERE" SCOPE
                          " GROUP BY policy_domain ORDER BY policy_domain",
        [R_TLS_VISIBLE] = "SELECT 1 FROM tls_reports WHERE policy_domain = ?3 AND" SCOPE
                          " LIMIT 1",
        [R_TLS_DAYS] = "SELECT day, SUM(success), SUM(failure) FROM tls_policies"
                       " WHERE domain = ?3 AND day BETWEEN ?4 AND ?5 AND" SCOPE
                       " GROUP BY day ORDER BY day",
        [R_TLS_FAILURES] = "SELECT result_type, COALESCE(receiving_mx_hostname, ''), SUM(sessions)"
                           " FROM tls_failures WHERE domain = ?3 AND day BETWEEN ?4 AND ?5 AND"
                           SCOPE " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT ?6",
        [R_TLS_REPORTS] = "SELECT " TLS_COLS " FROM tls_reports WHERE" SCOPE
                          " AND (?3 IS NULL OR policy_domain = ?3)"
                          " AND date_begin < ?5 + 86400 AND date_end > ?4"
                          " ORDER BY date_begin DESC, id DESC LIMIT ?6 OFFSET ?7",
        [R_TLS_REPORTS_TOTAL] = "SELECT COUNT(*) FROM tls_reports WHERE" SCOPE
                                " AND (?3 IS NULL OR policy_domain = ?3)"
                                " AND date_begin < ?5 + 86400 AND date_end > ?4",
        [R_TLS_REPORT] = "SELECT " TLS_COLS " FROM tls_reports WHERE id = ?3 AND" SCOPE,
        [R_TLS_POLICIES] = "SELECT idx, policy_type, policy_domain, mx_host, policy_string,"
                           " success, failure FROM tls_policies WHERE report = ?3 AND" SCOPE
                           " ORDER BY idx",
        [R_TLS_FAILURE_ROWS] = "SELECT policy, result_type, sending_ip, receiving_mx_hostname,"
                               " receiving_mx_helo, receiving_ip, additional_info,"
                               " failure_reason_code, sessions FROM tls_failures"
                               " WHERE report = ?3 AND" SCOPE " ORDER BY n",
        /* ?6 a source address (text) or NULL */
        [R_FAILURES] = "SELECT " BACKEND_FAILURE_READ " FROM failures WHERE" SCOPE
                       " AND (?3 IS NULL OR reported_domain = ?3) AND (?6 IS NULL OR source_ip = ?6)"
                       " AND day BETWEEN ?4 AND ?5 ORDER BY day DESC, id DESC LIMIT ?7 OFFSET ?8",
        [R_FAILURES_TOTAL] = "SELECT COUNT(*) FROM failures WHERE" SCOPE
                             " AND (?3 IS NULL OR reported_domain = ?3)"
                             " AND (?6 IS NULL OR source_ip = ?6) AND day BETWEEN ?4 AND ?5",
        [R_FAILURE] = "SELECT " BACKEND_FAILURE_READ " FROM failures WHERE id = ?3 AND" SCOPE,
};

struct sqr {
	sqlite3 *db;
	sqlite3_stmt *st[R_COUNT];
	char err[256];
	struct read_record rec; /* one record's parsed results */
	/* a source's DKIM and SPF results, summed while its records are read */
	struct read_parts parts;
};

static int
fail(struct sqr *q, int rc)
{
	snprintf(q->err, sizeof q->err, "%s", sqlite3_errmsg(q->db));
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? DM_EBUSY : DM_ESTORE;
}

static void *
rd_open(struct store *st, char *err, size_t errlen)
{
	const char *path = store_sqlite_path(st);
	struct sqr *q = xcalloc(1, sizeof *q);
	int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(q->db, 5000);
		rc = sqlite3_exec(q->db, "PRAGMA query_only=1; PRAGMA cache_size=-16384;", NULL,
		                  NULL, NULL);
	}
	for (int i = 0; rc == SQLITE_OK && i < R_COUNT; i++)
		rc = sqlite3_prepare_v3(q->db, rstmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                        &q->st[i], NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s for reading: %s", path,
		         q->db ? sqlite3_errmsg(q->db) : "out of memory");
		for (int i = 0; i < R_COUNT; i++)
			sqlite3_finalize(q->st[i]);
		sqlite3_close(q->db);
		free(q);
		return NULL;
	}
	read_record_init(&q->rec);
	return q;
}

static void
rd_close(void *impl)
{
	struct sqr *q = impl;
	for (int i = 0; i < R_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	read_record_free(&q->rec);
	read_parts_free(&q->parts);
	free(q);
}

static const char *
rd_error(void *impl)
{
	struct sqr *q = impl;
	return q->err;
}

static int
rd_ping(void *impl)
{
	struct sqr *q = impl;
	int rc = sqlite3_exec(q->db, "SELECT 1 FROM reports LIMIT 1", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(q, rc);
}

/* ---- binding ----------------------------------------------------------------- */

/* The scope, the domain and the day range into ?1..?5 of s. */
static sqlite3_stmt *
prep(struct sqr *q, enum rstmt which, const struct store_scope *sc, const struct store_filter *f)
{
	sqlite3_stmt *s = q->st[which];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	sqlite3_bind_int(s, 1, sc->admin ? 1 : 0);
	sqlite3_bind_int64(s, 2, sc->account);
	if (f != NULL) {
		if (f->domain != NULL)
			sqlite3_bind_text(s, 3, f->domain, -1, SQLITE_STATIC);
		/* open ends: far enough that "+ 86400" cannot overflow */
		sqlite3_bind_int64(s, 4, f->from == STORE_OPEN ? -(INT64_C(1) << 60) : f->from);
		sqlite3_bind_int64(s, 5, f->to == STORE_OPEN ? (INT64_C(1) << 60) : f->to);
	}
	return s;
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static void
read_counts(sqlite3_stmt *s, int first, struct store_counts *c)
{
	c->messages = (uint64_t)sqlite3_column_int64(s, first);
	c->dmarc_pass = (uint64_t)sqlite3_column_int64(s, first + 1);
	c->dmarc_fail = (uint64_t)sqlite3_column_int64(s, first + 2);
	c->spf_aligned = (uint64_t)sqlite3_column_int64(s, first + 3);
	c->dkim_aligned = (uint64_t)sqlite3_column_int64(s, first + 4);
	c->quarantine = (uint64_t)sqlite3_column_int64(s, first + 5);
	c->reject = (uint64_t)sqlite3_column_int64(s, first + 6);
	c->none = c->messages - c->quarantine - c->reject;
}

/* Run a statement that returns one number. */
static int
one_number(struct sqr *q, sqlite3_stmt *s, uint64_t *out)
{
	int rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(q, rc);
}

/* Does f's domain have reports in scope?  Not yours looks the same as
 * nothing there: DM_ENOTFOUND either way. */
static int
visible(struct sqr *q, const struct store_scope *sc, const struct store_filter *f)
{
	sqlite3_stmt *s = prep(q, R_VISIBLE, sc, f);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? DM_ENOTFOUND : fail(q, rc);
}

/* ---- domains, summary, time series, reporters ---------------------------------- */

static int
rd_domains(void *impl, const struct store_scope *sc,
           int (*fn)(void *arg, const struct store_domain_row *r), void *arg)
{
	struct sqr *q = impl;
	sqlite3_stmt *s = prep(q, R_DOMAINS, sc, NULL);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_domain_row r;
		struct store_filter f = {.domain = col_text(s, 0)};
		memset(&r, 0, sizeof r);
		r.domain = f.domain;
		read_counts(s, 1, &r.c);
		r.first_day = sqlite3_column_int64(s, 1 + NCOUNTS);
		r.last_day = sqlite3_column_int64(s, 2 + NCOUNTS);
		int n = one_number(q, prep(q, R_DOMAIN_REPORTS, sc, &f), &r.reports);
		if (n == 0)
			n = fn(arg, &r);
		if (n) {
			sqlite3_reset(s);
			return n;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static int
rd_summary(void *impl, const struct store_scope *sc, const struct store_filter *f,
           uint64_t *reports, struct store_counts *out)
{
	struct sqr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_SUMMARY, sc, f);
	rc = sqlite3_step(s);
	memset(out, 0, sizeof *out);
	if (rc == SQLITE_ROW)
		read_counts(s, 0, out);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(q, rc);
	return one_number(q, prep(q, R_RANGE_REPORTS, sc, f), reports);
}

static int
rd_timeseries(void *impl, const struct store_scope *sc, const struct store_filter *f,
              int (*fn)(void *arg, const struct store_day_row *r), void *arg)
{
	struct sqr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_TIMESERIES, sc, f);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_day_row r;
		r.day = sqlite3_column_int64(s, 0);
		read_counts(s, 1, &r.c);
		int n = fn(arg, &r);
		if (n) {
			sqlite3_reset(s);
			return n;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static int
rd_reporters(void *impl, const struct store_scope *sc, const struct store_filter *f,
             int (*fn)(void *arg, const struct store_reporter_row *r), void *arg)
{
	struct sqr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_REPORTERS, sc, f);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_reporter_row r;
		memset(&r, 0, sizeof r);
		r.reporter = col_text(s, 0);
		read_counts(s, 1, &r.c);
		sqlite3_stmt *c = prep(q, R_REPORTER_REPORTS, sc, f);
		sqlite3_bind_text(c, 6, r.reporter, -1, SQLITE_STATIC);
		int n = one_number(q, c, &r.reports);
		if (n == 0)
			n = fn(arg, &r);
		if (n) {
			sqlite3_reset(s);
			return n;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

/* ---- sources ------------------------------------------------------------------ */

/* Is a before b in the order asked for (best first)? */
static int
source_before(enum store_source_sort sort, const struct store_source_row *a,
              const struct store_source_row *b)
{
	uint64_t ka = 0, kb = 0;
	switch (sort) {
	case STORE_SORT_IP:
		return memcmp(a->ip, b->ip, 16) < 0;
	case STORE_SORT_FAIL:
		ka = a->c.dmarc_fail;
		kb = b->c.dmarc_fail;
		break;
	case STORE_SORT_PASS:
		ka = a->c.dmarc_pass;
		kb = b->c.dmarc_pass;
		break;
	case STORE_SORT_MESSAGES:
		break;
	}
	if (ka != kb)
		return ka > kb;
	if (a->c.messages != b->c.messages)
		return a->c.messages > b->c.messages;
	return memcmp(a->ip, b->ip, 16) < 0;
}

/* The kept rows: a heap whose root is the worst kept, so a better row
 * replaces it. */
struct top {
	struct store_source_row *v;
	size_t n, cap;
	enum store_source_sort sort;
};

static void
top_sift(struct top *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, worst = i;
		if (l < t->n && source_before(t->sort, &t->v[worst], &t->v[l]))
			worst = l;
		if (r < t->n && source_before(t->sort, &t->v[worst], &t->v[r]))
			worst = r;
		if (worst == i)
			return;
		struct store_source_row tmp = t->v[i];
		t->v[i] = t->v[worst];
		t->v[worst] = tmp;
		i = worst;
	}
}

static void
top_add(struct top *t, const struct store_source_row *r)
{
	if (t->n < t->cap) {
		size_t i = t->n++;
		t->v[i] = *r;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!source_before(t->sort, &t->v[p], &t->v[i]))
				break;
			struct store_source_row tmp = t->v[i];
			t->v[i] = t->v[p];
			t->v[p] = tmp;
			i = p;
		}
		return;
	}
	if (t->cap == 0 || !source_before(t->sort, r, &t->v[0]))
		return;
	t->v[0] = *r;
	top_sift(t, 0);
}

static int
top_cmp(const void *a, const void *b, void *arg)
{
	enum store_source_sort sort = *(const enum store_source_sort *)arg;
	return source_before(sort, a, b) ? -1 : source_before(sort, b, a) ? 1 : 0;
}

/* The page [offset, offset+limit) of every source of f, in one pass over
 * src_day in source order. */
static int
sources_pass(struct sqr *q, const struct store_scope *sc, const struct store_filter *f,
             enum store_source_sort sort, unsigned limit, unsigned offset, uint64_t *total,
             struct store_source_row *page, size_t *npage)
{
	struct top t = {.sort = sort, .cap = (size_t)offset + limit};
	t.v = xcalloc(t.cap ? t.cap : 1, sizeof *t.v);
	struct store_source_row cur;
	int have = 0, rc;
	*total = 0;
	sqlite3_stmt *s = prep(q, R_SOURCE_ROWS, sc, f);
	for (;;) {
		rc = sqlite3_step(s);
		const unsigned char *ip = NULL;
		if (rc == SQLITE_ROW) {
			ip = sqlite3_column_blob(s, 0);
			if (ip == NULL || sqlite3_column_bytes(s, 0) != 16)
				ip = (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
		}
		if (have && (rc != SQLITE_ROW || memcmp(cur.ip, ip, 16) != 0)) {
			cur.c.dmarc_fail = cur.c.messages - cur.c.dmarc_pass;
			cur.c.none = cur.c.messages - cur.c.quarantine - cur.c.reject;
			(*total)++;
			top_add(&t, &cur);
			have = 0;
		}
		if (rc != SQLITE_ROW)
			break;
		if (!have) {
			memset(&cur, 0, sizeof cur);
			memcpy(cur.ip, ip, 16);
			have = 1;
		}
		cur.c.messages += (uint64_t)sqlite3_column_int64(s, 1);
		cur.c.dmarc_pass += (uint64_t)sqlite3_column_int64(s, 2);
		cur.c.spf_aligned += (uint64_t)sqlite3_column_int64(s, 3);
		cur.c.dkim_aligned += (uint64_t)sqlite3_column_int64(s, 4);
		cur.c.quarantine += (uint64_t)sqlite3_column_int64(s, 5);
		cur.c.reject += (uint64_t)sqlite3_column_int64(s, 6);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(t.v);
		return fail(q, rc);
	}
	qsort_r(t.v, t.n, sizeof *t.v, top_cmp, &sort);
	*npage = 0;
	for (size_t i = offset; i < t.n; i++)
		page[(*npage)++] = t.v[i];
	free(t.v);
	return 0;
}

/* A deep page: SQLite sorts every source. */
static int
sources_sql(struct sqr *q, const struct store_scope *sc, const struct store_filter *f,
            enum store_source_sort sort, unsigned limit, unsigned offset, uint64_t *total,
            struct store_source_row *page, size_t *npage)
{
	static const enum rstmt by[] = {[STORE_SORT_MESSAGES] = R_SOURCES_MESSAGES,
	                                [STORE_SORT_FAIL] = R_SOURCES_FAIL,
	                                [STORE_SORT_PASS] = R_SOURCES_PASS,
	                                [STORE_SORT_IP] = R_SOURCES_IP};
	sqlite3_stmt *s = prep(q, by[sort], sc, f);
	int rc;
	sqlite3_bind_int64(s, 6, limit);
	sqlite3_bind_int64(s, 7, offset);
	*npage = 0;
	*total = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *npage < limit) {
		struct store_source_row *r = &page[(*npage)++];
		memset(r, 0, sizeof *r);
		const void *ip = sqlite3_column_blob(s, 0);
		if (ip != NULL && sqlite3_column_bytes(s, 0) == 16)
			memcpy(r->ip, ip, 16);
		read_counts(s, 1, &r->c);
		*total = (uint64_t)sqlite3_column_int64(s, 1 + NCOUNTS);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(q, rc);
	if (*npage == 0) {
		/* past the end: the total from a page that has rows */
		sqlite3_bind_int64(s, 6, 1);
		sqlite3_bind_int64(s, 7, 0);
		if (sqlite3_step(s) == SQLITE_ROW)
			*total = (uint64_t)sqlite3_column_int64(s, 1 + NCOUNTS);
		sqlite3_reset(s);
	}
	return 0;
}

/* ip's row of ips into info, its strings copied into the reader's
 * record arena (not reset here). */
static int
ip_info_read(struct sqr *q, const unsigned char ip[16], struct store_ip_info *info)
{
	static const struct store_scope none = {0, 0};
	sqlite3_stmt *s = prep(q, R_IP_INFO, &none, NULL);
	sqlite3_bind_blob(s, 6, ip, 16, SQLITE_STATIC);
	int st = sqlite3_step(s);
	memset(info, 0, sizeof *info);
	if (st == SQLITE_ROW) {
		const char **str[] = {&info->ptr, &info->base_domain, NULL, &info->as_org,
		                      &info->country, &info->service, &info->service_type};
		info->known = 1;
		info->ptr_state = sqlite3_column_int(s, 0);
		info->asn = (uint32_t)sqlite3_column_int64(s, 3);
		for (int i = 0; i < 7; i++) {
			const char *t = col_text(s, 1 + i);
			if (str[i] && t)
				*str[i] = dm_arena_strndup(&q->rec.arena, t, strlen(t));
		}
	}
	sqlite3_reset(s);
	return st == SQLITE_ROW || st == SQLITE_DONE ? 0 : fail(q, st);
}

static int
rd_sources(void *impl, const struct store_scope *sc, const struct store_filter *f,
           enum store_source_sort sort, unsigned limit, unsigned offset, uint64_t *total,
           int (*fn)(void *arg, const struct store_source_row *r), void *arg)
{
	struct sqr *q = impl;
	int rc = visible(q, sc, f);
	if (rc)
		return rc;
	struct store_source_row *page = xcalloc(limit ? limit : 1, sizeof *page);
	size_t n = 0;
	if ((uint64_t)offset + limit <= DM_HTTP_SOURCES_HEAP)
		rc = sources_pass(q, sc, f, sort, limit, offset, total, page, &n);
	else
		rc = sources_sql(q, sc, f, sort, limit, offset, total, page, &n);
	if (rc) {
		free(page);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct store_source_row *r = &page[i];
		sqlite3_stmt *l = prep(q, R_SOURCE_LISTS, sc, f);
		sqlite3_bind_blob(l, 6, r->ip, 16, SQLITE_STATIC);
		int st;
		/* a column's text lives until the next step: copied */
		dm_arena_reset(&q->rec.arena);
		while ((st = sqlite3_step(l)) == SQLITE_ROW) {
			read_list_add(r->header_from, &r->nheader_from, col_text(l, 0),
			              &q->rec.arena);
			read_list_add(r->reporters, &r->nreporters, col_text(l, 1), &q->rec.arena);
		}
		if (st != SQLITE_DONE && st != SQLITE_ROW)
			rc = fail(q, st);
		sqlite3_reset(l);
		if (rc == 0)
			rc = ip_info_read(q, r->ip, &r->info);
		if (rc == 0)
			rc = fn(arg, r);
	}
	free(page);
	return rc;
}

static int
rd_ip_info(void *impl, const unsigned char ip[16], struct store_ip_info *info)
{
	struct sqr *q = impl;
	dm_arena_reset(&q->rec.arena);
	return ip_info_read(q, ip, info);
}

/* ---- one record ------------------------------------------------------------------- */

/* A records row into rec; strings in q->rec or the statement. */
static void
read_record(struct sqr *q, sqlite3_stmt *s, struct dm_record *rec)
{
	const void *ip = sqlite3_column_blob(s, 0);
	read_record_start(&q->rec, rec, ip != NULL && sqlite3_column_bytes(s, 0) == 16 ? ip : NULL);
	rec->count = sqlite3_column_int64(s, 1);
	rec->disposition = col_text(s, 2);
	rec->dkim = col_text(s, 3);
	rec->spf = col_text(s, 4);
	rec->header_from = col_text(s, 5);
	rec->envelope_from = col_text(s, 6);
	rec->envelope_to = col_text(s, 7);
	const char *j[3];
	size_t n[3];
	for (int i = 0; i < 3; i++) {
		j[i] = sqlite3_column_blob(s, 8 + i);
		n[i] = j[i] ? (size_t)sqlite3_column_bytes(s, 8 + i) : 0;
	}
	read_record_results(&q->rec, rec, j[0], n[0], j[1], n[1], j[2], n[2]);
}

/* A reports row (REPORT_COLS) into r; *first, *last: its records. */
static void
read_report(sqlite3_stmt *s, struct store_report_row *r, int64_t *first, int64_t *last)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(s, 0);
	r->account_id = sqlite3_column_int64(s, 1);
	r->org_name = col_text(s, 2);
	r->email = col_text(s, 3);
	r->extra_contact_info = col_text(s, 4);
	r->report_id = col_text(s, 5);
	r->policy_domain = col_text(s, 6);
	r->begin = sqlite3_column_int64(s, 7);
	r->end = sqlite3_column_int64(s, 8);
	r->received_at = sqlite3_column_int64(s, 9);
	r->records = (uint64_t)sqlite3_column_int64(s, 10);
	r->messages = (uint64_t)sqlite3_column_int64(s, 11);
	r->generator = col_text(s, 12);
	r->version = col_text(s, 13);
	r->schema = col_text(s, 14);
	r->xmlns = col_text(s, 15);
	r->report_error = col_text(s, 16);
	r->archive_key = col_text(s, 17);
	r->warnings_json = col_text(s, 18);
	r->policy.domain = r->policy_domain;
	r->policy.adkim = col_text(s, 19);
	r->policy.aspf = col_text(s, 20);
	r->policy.p = col_text(s, 21);
	r->policy.sp = col_text(s, 22);
	r->policy.np = col_text(s, 23);
	r->policy.pct = sqlite3_column_type(s, 24) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 24);
	r->policy.fo = col_text(s, 25);
	r->policy.testing = col_text(s, 26);
	r->policy.discovery_method = col_text(s, 27);
	*first = sqlite3_column_type(s, 28) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 28);
	*last = sqlite3_column_int64(s, 29);
}

/* Every record of one report (rowids first..last) to fn; with ip, only
 * that source's. */
static int
each_record(struct sqr *q, const struct store_report_row *r, int64_t first, int64_t last,
            const unsigned char *ip,
            int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
            void *arg)
{
	if (first == 0)
		return 0;
	sqlite3_stmt *s = q->st[ip ? R_RECORDS_IP : R_RECORDS];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, first);
	sqlite3_bind_int64(s, 2, last);
	if (ip)
		sqlite3_bind_blob(s, 3, ip, 16, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dm_record rec;
		read_record(q, s, &rec);
		int n = fn(arg, r, &rec);
		if (n) {
			sqlite3_reset(s);
			return n;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

/* ---- one source ------------------------------------------------------------------- */

struct source_scan {
	struct sqr *q;
	unsigned char ip[16];
	int64_t from, to; /* days */
	uint64_t scanned;
};

/* A record of the domain: count its results when it is the source's and
 * its report's days meet the range. */
static int
source_record(void *arg, const struct store_report_row *r, const struct dm_record *rec)
{
	struct source_scan *ss = arg;
	if (++ss->scanned > DM_HTTP_MAX_SOURCE_SCAN)
		return 1; /* enough to describe the source: stop reading */
	if (memcmp(rec->ip, ss->ip, 16) == 0)
		read_parts_record(&ss->q->parts, rec);
	return 0;
}

static int
rd_source(void *impl, const struct store_scope *sc, const struct store_filter *f,
          const unsigned char ip[16], struct store_counts *total,
          int (*day_fn)(void *arg, const struct store_day_row *r),
          int (*part_fn)(void *arg, const struct store_part_row *r), void *arg)
{
	struct sqr *q = impl;
	int rc = visible(q, sc, f), n = 0;
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_SOURCE_TOTAL, sc, f);
	sqlite3_bind_blob(s, 6, ip, 16, SQLITE_STATIC);
	rc = sqlite3_step(s);
	memset(total, 0, sizeof *total);
	if (rc == SQLITE_ROW)
		read_counts(s, 0, total);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(q, rc);
	if (total->messages == 0 && sqlite3_column_type(s, 0) == SQLITE_NULL) {
		/* no row: never seen for this domain in scope and range */
		s = prep(q, R_SOURCE_DAYS, sc, f);
		sqlite3_bind_blob(s, 6, ip, 16, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return DM_ENOTFOUND;
	}

	/* its days; the reports of those days are where its records are */
	int64_t *days = NULL;
	size_t ndays = 0, capdays = 0;
	s = prep(q, R_SOURCE_DAYS, sc, f);
	sqlite3_bind_blob(s, 6, ip, 16, SQLITE_STATIC);
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_day_row r;
		r.day = sqlite3_column_int64(s, 0);
		read_counts(s, 1, &r.c);
		if (ndays == capdays) {
			capdays = capdays ? 2 * capdays : 64;
			days = xrealloc(days, capdays * sizeof *days);
		}
		days[ndays++] = r.day;
		n = day_fn(arg, &r);
	}
	sqlite3_reset(s);
	if (n == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		n = fail(q, rc);

	/* reporters and header_from from the rollup */
	s = prep(q, R_SOURCE_PARTS, sc, f);
	sqlite3_bind_blob(s, 6, ip, 16, SQLITE_STATIC);
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_part_row p = {
		        .kind = sqlite3_column_int(s, 0) == 0 ? STORE_PART_REPORTER
		                                              : STORE_PART_HEADER_FROM,
		        .name = col_text(s, 1),
		        .messages = (uint64_t)sqlite3_column_int64(s, 2),
		};
		n = part_fn(arg, &p);
	}
	sqlite3_reset(s);
	if (n == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		n = fail(q, rc);

	/* DKIM and SPF results from the records of the domain's reports on
	 * each of its days (a report of several days counts once) */
	struct source_scan ss = {.q = q};
	memcpy(ss.ip, ip, 16);
	read_parts_clear(&q->parts);
	int64_t done_until = INT64_MIN; /* reports beginning before this are read */
	for (size_t d = 0; n == 0 && d < ndays; d++) {
		struct store_filter day = {.domain = f->domain, .from = days[d], .to = days[d]};
		s = prep(q, R_EXPORT, sc, &day);
		/* R_EXPORT lists each report once per call: a report spanning
		 * several of the days is read on its first */
		int64_t *ids = NULL, *firsts = NULL, *lasts = NULL;
		size_t nids = 0, cap = 0;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (sqlite3_column_int64(s, 7) < done_until)
				continue;
			if (nids == cap) {
				cap = cap ? 2 * cap : 64;
				ids = xrealloc(ids, cap * sizeof *ids);
				firsts = xrealloc(firsts, cap * sizeof *firsts);
				lasts = xrealloc(lasts, cap * sizeof *lasts);
			}
			ids[nids] = sqlite3_column_int64(s, 0);
			firsts[nids] = sqlite3_column_type(s, 28) == SQLITE_NULL
			                       ? 0
			                       : sqlite3_column_int64(s, 28);
			lasts[nids++] = sqlite3_column_int64(s, 29);
		}
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			n = fail(q, rc);
		done_until = days[d] + DAY;
		struct store_report_row none;
		memset(&none, 0, sizeof none);
		for (size_t i = 0; n == 0 && i < nids; i++) {
			int e = each_record(q, &none, firsts[i], lasts[i], ss.ip, source_record,
			                    &ss);
			if (e == 1)
				break; /* the scan limit */
			n = e;
		}
		free(ids);
		free(firsts);
		free(lasts);
		if (ss.scanned > DM_HTTP_MAX_SOURCE_SCAN)
			break;
	}
	free(days);
	if (n == 0)
		n = read_parts_emit(&q->parts, part_fn, arg);
	read_parts_clear(&q->parts);
	return n;
}

/* ---- reports ---------------------------------------------------------------------- */

static int
rd_reports(void *impl, const struct store_scope *sc, const struct store_filter *f, unsigned limit,
           unsigned offset, uint64_t *total, int (*fn)(void *arg, const struct store_report_row *r),
           void *arg)
{
	struct sqr *q = impl;
	int rc;
	if (f->domain != NULL && (rc = visible(q, sc, f)) != 0)
		return rc;
	sqlite3_stmt *s = prep(q, R_REPORTS_TOTAL, sc, f);
	if (f->reporter != NULL)
		sqlite3_bind_text(s, 6, f->reporter, -1, SQLITE_STATIC);
	if ((rc = one_number(q, s, total)) != 0)
		return rc;
	s = prep(q, R_REPORTS, sc, f);
	if (f->reporter != NULL)
		sqlite3_bind_text(s, 6, f->reporter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, limit);
	sqlite3_bind_int64(s, 8, offset);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_report_row r;
		int64_t first, last;
		read_report(s, &r, &first, &last);
		/* a list row: the detail fields stay out */
		r.generator = r.version = r.schema = r.xmlns = r.report_error = NULL;
		r.archive_key = r.warnings_json = NULL;
		int n = fn(arg, &r);
		if (n) {
			sqlite3_reset(s);
			return n;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static int
rd_report(void *impl, const struct store_scope *sc, int64_t id,
          int (*meta_fn)(void *arg, const struct store_report_row *r),
          int (*rec_fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
          void *arg)
{
	struct sqr *q = impl;
	sqlite3_stmt *s = prep(q, R_REPORT, sc, NULL);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? DM_ENOTFOUND : fail(q, rc);
	}
	struct store_report_row r;
	int64_t first, last;
	read_report(s, &r, &first, &last);
	/* the row's strings stay valid while s is not reset: records are read
	 * with their own statement meanwhile */
	int n = meta_fn(arg, &r);
	if (n == 0 && rec_fn != NULL)
		n = each_record(q, &r, first, last, NULL, rec_fn, arg);
	sqlite3_reset(s);
	return n;
}

static int
rd_export(void *impl, const struct store_scope *sc, const struct store_filter *f,
          int (*fn)(void *arg, const struct store_report_row *r, const struct dm_record *rec),
          void *arg)
{
	struct sqr *q = impl;
	int rc;
	if (f->domain != NULL && (rc = visible(q, sc, f)) != 0)
		return rc;
	sqlite3_stmt *s = prep(q, R_EXPORT, sc, f);
	if (f->reporter != NULL)
		sqlite3_bind_text(s, 6, f->reporter, -1, SQLITE_STATIC);
	int n = 0;
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_report_row r;
		int64_t first, last;
		read_report(s, &r, &first, &last);
		n = each_record(q, &r, first, last, NULL, fn, arg);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}


/* ---- SMTP TLS reports ------------------------------------------------------------ */

static int
rd_tls_domains(void *impl, const struct store_scope *sc,
               int (*fn)(void *arg, const struct store_tls_domain_row *r), void *arg)
{
	struct sqr *q = impl;
	sqlite3_stmt *s = prep(q, R_TLS_DOMAINS, sc, NULL);
	int rc, n = 0;
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_tls_domain_row r = {
		        .domain = col_text(s, 0),
		        .reports = (uint64_t)sqlite3_column_int64(s, 1),
		        .success = (uint64_t)sqlite3_column_int64(s, 2),
		        .failure = (uint64_t)sqlite3_column_int64(s, 3),
		        .first_day = sqlite3_column_int64(s, 4),
		        .last_day = sqlite3_column_int64(s, 5),
		};
		n = fn(arg, &r);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

/* Does f's domain have TLS reports in scope? */
static int
tls_visible(struct sqr *q, const struct store_scope *sc, const struct store_filter *f)
{
	sqlite3_stmt *s = prep(q, R_TLS_VISIBLE, sc, f);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? DM_ENOTFOUND : fail(q, rc);
}

static int
rd_tls_days(void *impl, const struct store_scope *sc, const struct store_filter *f,
            int (*fn)(void *arg, const struct store_tls_day_row *r), void *arg)
{
	struct sqr *q = impl;
	int rc = tls_visible(q, sc, f), n = 0;
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_TLS_DAYS, sc, f);
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_tls_day_row r = {
		        .day = sqlite3_column_int64(s, 0),
		        .success = (uint64_t)sqlite3_column_int64(s, 1),
		        .failure = (uint64_t)sqlite3_column_int64(s, 2),
		};
		n = fn(arg, &r);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static int
rd_tls_failures(void *impl, const struct store_scope *sc, const struct store_filter *f,
                unsigned limit, int (*fn)(void *arg, const struct store_tls_failure_group *r),
                void *arg)
{
	struct sqr *q = impl;
	int rc = tls_visible(q, sc, f), n = 0;
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_TLS_FAILURES, sc, f);
	sqlite3_bind_int64(s, 6, limit);
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_tls_failure_group r = {
		        .result_type = col_text(s, 0),
		        .mx = col_text(s, 1),
		        .sessions = (uint64_t)sqlite3_column_int64(s, 2),
		};
		n = fn(arg, &r);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static void
read_tls_report(sqlite3_stmt *s, struct store_tls_report_row *r, int detail)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(s, 0);
	r->account_id = sqlite3_column_int64(s, 1);
	r->org_name = col_text(s, 2);
	r->contact_info = col_text(s, 3);
	r->report_id = col_text(s, 4);
	r->policy_domain = col_text(s, 5);
	r->begin = sqlite3_column_int64(s, 6);
	r->end = sqlite3_column_int64(s, 7);
	r->received_at = sqlite3_column_int64(s, 8);
	r->policies = (uint64_t)sqlite3_column_int64(s, 9);
	r->failure_details = (uint64_t)sqlite3_column_int64(s, 10);
	r->success = (uint64_t)sqlite3_column_int64(s, 11);
	r->failure = (uint64_t)sqlite3_column_int64(s, 12);
	if (detail) {
		r->archive_key = col_text(s, 13);
		r->warnings_json = col_text(s, 14);
	}
}

static int
rd_tls_reports(void *impl, const struct store_scope *sc, const struct store_filter *f,
               unsigned limit, unsigned offset, uint64_t *total,
               int (*fn)(void *arg, const struct store_tls_report_row *r), void *arg)
{
	struct sqr *q = impl;
	int rc = one_number(q, prep(q, R_TLS_REPORTS_TOTAL, sc, f), total), n = 0;
	if (rc)
		return rc;
	sqlite3_stmt *s = prep(q, R_TLS_REPORTS, sc, f);
	sqlite3_bind_int64(s, 6, limit);
	sqlite3_bind_int64(s, 7, offset);
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_tls_report_row r;
		read_tls_report(s, &r, 0);
		n = fn(arg, &r);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static int
rd_tls_report(void *impl, const struct store_scope *sc, int64_t id,
              int (*meta_fn)(void *arg, const struct store_tls_report_row *r),
              int (*pol_fn)(void *arg, const struct store_tls_policy_row *r),
              int (*fail_fn)(void *arg, const struct store_tls_failure_row *r), void *arg)
{
	struct sqr *q = impl;
	sqlite3_stmt *s = prep(q, R_TLS_REPORT, sc, NULL);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? DM_ENOTFOUND : fail(q, rc);
	}
	struct store_tls_report_row r;
	read_tls_report(s, &r, 1);
	int n = meta_fn(arg, &r);
	sqlite3_reset(s);
	if (n)
		return n;
	s = prep(q, R_TLS_POLICIES, sc, NULL);
	sqlite3_bind_int64(s, 3, id);
	while (n == 0 && pol_fn != NULL && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_tls_policy_row p = {
		        .idx = (unsigned)sqlite3_column_int64(s, 0),
		        .type = col_text(s, 1),
		        .domain = col_text(s, 2),
		        .mx_host = col_text(s, 3),
		        .policy_string = col_text(s, 4),
		        .success = (uint64_t)sqlite3_column_int64(s, 5),
		        .failure = (uint64_t)sqlite3_column_int64(s, 6),
		};
		n = pol_fn(arg, &p);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	if (pol_fn != NULL && rc != SQLITE_DONE)
		return fail(q, rc);
	s = prep(q, R_TLS_FAILURE_ROWS, sc, NULL);
	sqlite3_bind_int64(s, 3, id);
	while (n == 0 && fail_fn != NULL && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_tls_failure_row f = {
		        .policy = (unsigned)sqlite3_column_int64(s, 0),
		        .result_type = col_text(s, 1),
		        .sending_ip = col_text(s, 2),
		        .receiving_mx_hostname = col_text(s, 3),
		        .receiving_mx_helo = col_text(s, 4),
		        .receiving_ip = col_text(s, 5),
		        .additional_info = col_text(s, 6),
		        .failure_reason_code = col_text(s, 7),
		        .sessions = (uint64_t)sqlite3_column_int64(s, 8),
		};
		n = fail_fn(arg, &f);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return fail_fn == NULL || rc == SQLITE_DONE ? 0 : fail(q, rc);
}


/* ---- failure reports ------------------------------------------------------------ */

static void
read_failure(sqlite3_stmt *s, struct store_failure_row *r, int detail)
{
	const char *c[BACKEND_FAILURE_NREAD];
	for (int i = 0; i < BACKEND_FAILURE_NREAD; i++)
		c[i] = col_text(s, i);
	backend_failure_row(r, c, detail);
}

static int
rd_failures(void *impl, const struct store_scope *sc, const struct store_filter *f,
            const unsigned char *ip, unsigned limit, unsigned offset, uint64_t *total,
            int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	struct sqr *q = impl;
	char text[DM_IP_TEXT];
	if (ip != NULL)
		dm_ip_format(ip, text, sizeof text);
	sqlite3_stmt *s = prep(q, R_FAILURES_TOTAL, sc, f);
	if (ip != NULL)
		sqlite3_bind_text(s, 6, text, -1, SQLITE_STATIC);
	int rc = one_number(q, s, total), n = 0;
	if (rc)
		return rc;
	s = prep(q, R_FAILURES, sc, f);
	if (ip != NULL)
		sqlite3_bind_text(s, 6, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, limit);
	sqlite3_bind_int64(s, 8, offset);
	while (n == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_failure_row r;
		read_failure(s, &r, 0);
		n = fn(arg, &r);
	}
	sqlite3_reset(s);
	if (n)
		return n;
	return rc == SQLITE_DONE ? 0 : fail(q, rc);
}

static int
rd_failure(void *impl, const struct store_scope *sc, int64_t id,
           int (*fn)(void *arg, const struct store_failure_row *r), void *arg)
{
	struct sqr *q = impl;
	sqlite3_stmt *s = prep(q, R_FAILURE, sc, NULL);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? DM_ENOTFOUND : fail(q, rc);
	}
	struct store_failure_row r;
	read_failure(s, &r, 1);
	int n = fn(arg, &r);
	sqlite3_reset(s);
	return n;
}

const struct store_read_ops store_sqlite_read_ops = {
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
