/*
 * store_sqlite.c - the default store: one SQLite database in WAL mode.
 *
 * Functions: the store_sqlite_ops table (open, close, tx_begin,
 * record_add, tx_commit, tx_abort, lookup, stats, prune, key_refs,
 * errmsg).
 *
 * Layout (DESIGN.md 5): <data>/dmarcd.sqlite with tables reports,
 * records (one row per <record>, all DKIM/SPF results as JSON arrays,
 * enrichment columns empty until the enrichment stage exists), daily (the
 * rollup, maintained in the report's transaction) and accounts.
 *
 * Reports are written in batches: the connection keeps one write
 * transaction open across up to STORE_BATCH_REPORTS reports (or
 * STORE_BATCH_SECONDS), which saves the page writes of thousands of tiny
 * commits (each commit appends every touched page to the WAL again).
 * store_flush() commits the batch; callers that must know a report is
 * durable (the spool) call it before they forget the input.
 *
 * A report is all or nothing without a savepoint of its own (a savepoint
 * copies every page the report touches into a statement journal first,
 * which cost more than the writes themselves):
 *  - tx_begin inserts a placeholder report row (identity columns NULL,
 *    which UNIQUE allows) so records can reference it;
 *  - the report is claimed at its first record (at commit when it has
 *    none) by setting the identity columns: a UNIQUE violation means it
 *    is a duplicate, and none of its records is written (ingest hands
 *    records over only once the identity is known, store.h);
 *  - its records have consecutive rowids (one connection writes them
 *    under the store's lock), so an aborted report is undone by deleting
 *    that range and the placeholder;
 *  - its rollup stays in memory until commit, where it is merged into
 *    the batch's rollup (one cell per domain, source, day, reporter and
 *    result across the batch's reports), written in key order when the
 *    batch commits.  Only a report whose own rollup outgrows memory
 *    (DM_MAX_ROLLUP_CELLS: hundreds of thousands of sources) writes
 *    cells before its commit, and opens a savepoint first, so an abort
 *    can still undo them.
 *
 * Logs nothing itself; errors are returned with sqlite3_errmsg() text.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/limits.h"
#include "common/xalloc.h"
#include "core/tlsrpt.h"
#include "store/backend.h"
#include "store/rollup.h"
#include "store/store.h"
#include "store/store_sqlite.h"

/* 1: the first schema.  2: daily keyed by domain first and by reporter,
 * the day_totals rollup, the indexes of the read side (migrated from 1 by
 * rebuilding the rollups from the records).  3: src_day (migrated from 2
 * by summing daily).  4: daily keyed by source first, without an index
 * of its own (it is only ever read per source; migrated by copying).
 * 5: ips, each source's latest enrichment (made empty: `dmarcd reenrich`
 * fills it for what was stored before).  6: ips a rowid table with a
 * UNIQUE ip (migrated by copying): new sources are appended, and only
 * the small index takes them in address order (keyed by the address,
 * every batch of new sources rewrote most of the table's pages).
 * 7: SMTP TLS reports (tls_reports, tls_policies, tls_failures) and
 * failure reports (failures); new tables, nothing to migrate. */
#define SCHEMA_VERSION 7

/* Failure reports (store.h): one row each, the columns of
 * BACKEND_FAILURE_COLS; the same report again (its content_hash) is a
 * duplicate. */
#define FAILURES_SQL                                                                               \
	"CREATE TABLE IF NOT EXISTS failures("                                                     \
	" id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, content_hash TEXT NOT NULL UNIQUE," \
	" reported_domain TEXT NOT NULL, day INTEGER NOT NULL, received_at INTEGER NOT NULL,"      \
	" archive_key TEXT, source TEXT, feedback_type TEXT NOT NULL, is_arf INTEGER NOT NULL,"     \
	" version TEXT, user_agent TEXT, auth_failure TEXT, delivery_result TEXT, source_ip TEXT,"  \
	" original_mail_from TEXT, original_rcpt_to TEXT, rcpt_to_count INTEGER,"                  \
	" original_envelope_id TEXT, reporting_mta TEXT, incidents INTEGER, arrival_date INTEGER," \
	" authentication_results TEXT, identity_alignment TEXT, dkim_domain TEXT,"                \
	" dkim_identity TEXT, dkim_selector TEXT, spf_dns TEXT, subject TEXT, header_from TEXT,"   \
	" header_from_domain TEXT, to_addr TEXT, message_id TEXT, date INTEGER, headers TEXT,"     \
	" warnings TEXT);"                                                                         \
	"CREATE INDEX IF NOT EXISTS failures_domain ON failures(reported_domain, day);"            \
	"CREATE INDEX IF NOT EXISTS failures_ip ON failures(source_ip, day);"

/* SMTP TLS reports (store.h): one row per report, per policy and per
 * failure detail; policies and failures carry the report's account,
 * domain and day, so the TLS page reads them without a join. */
#define TLS_SQL                                                                                    \
	"CREATE TABLE IF NOT EXISTS tls_reports("                                                  \
	" id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, reporter TEXT NOT NULL,"            \
	" org_name TEXT, contact_info TEXT, report_id TEXT NOT NULL,"                              \
	" policy_domain TEXT NOT NULL, date_begin INTEGER NOT NULL, date_end INTEGER NOT NULL,"     \
	" day INTEGER NOT NULL, policies INTEGER NOT NULL, failure_details INTEGER NOT NULL,"      \
	" success INTEGER NOT NULL, failure INTEGER NOT NULL, archive_key TEXT,"                  \
	" content_hash TEXT, source TEXT, received_at INTEGER NOT NULL, warnings TEXT,"           \
	" UNIQUE(reporter, report_id));"                                                           \
	"CREATE INDEX IF NOT EXISTS tls_reports_domain ON tls_reports(policy_domain, date_begin);" \
	"CREATE TABLE IF NOT EXISTS tls_policies("                                                 \
	" report INTEGER NOT NULL, idx INTEGER NOT NULL, account_id INTEGER NOT NULL,"             \
	" domain TEXT NOT NULL, day INTEGER NOT NULL, policy_type TEXT NOT NULL,"                 \
	" policy_domain TEXT, mx_host TEXT, policy_string TEXT, success INTEGER NOT NULL,"         \
	" failure INTEGER NOT NULL, PRIMARY KEY(report, idx)) WITHOUT ROWID;"                      \
	"CREATE INDEX IF NOT EXISTS tls_policies_domain ON tls_policies(domain, day);"             \
	"CREATE TABLE IF NOT EXISTS tls_failures("                                                 \
	" report INTEGER NOT NULL, n INTEGER NOT NULL, policy INTEGER NOT NULL,"                   \
	" account_id INTEGER NOT NULL, domain TEXT NOT NULL, day INTEGER NOT NULL,"               \
	" result_type TEXT NOT NULL, sending_ip TEXT, receiving_mx_hostname TEXT,"                 \
	" receiving_mx_helo TEXT, receiving_ip TEXT, additional_info TEXT,"                        \
	" failure_reason_code TEXT, sessions INTEGER NOT NULL, PRIMARY KEY(report, n))"            \
	" WITHOUT ROWID;"                                                                          \
	"CREATE INDEX IF NOT EXISTS tls_failures_domain ON tls_failures(domain, day);"          \
	FAILURES_SQL

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS accounts("
	" id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS reports("
	" id INTEGER PRIMARY KEY,"
	" kind TEXT NOT NULL DEFAULT 'aggregate',"
	" account_id INTEGER NOT NULL DEFAULT 0,"
	" reporter TEXT, org_name TEXT, email TEXT, extra_contact_info TEXT,"
	" report_id TEXT, policy_domain TEXT, date_begin INTEGER, date_end INTEGER,"
	" adkim TEXT, aspf TEXT, p TEXT, sp TEXT, np TEXT, pct INTEGER, fo TEXT,"
	" testing TEXT, discovery_method TEXT,"
	" generator TEXT, version TEXT, xmlns TEXT, schema TEXT, report_error TEXT,"
	" archive_key TEXT, content_hash TEXT, source TEXT,"
	" records INTEGER NOT NULL DEFAULT 0, messages INTEGER NOT NULL DEFAULT 0,"
	" skipped INTEGER NOT NULL DEFAULT 0,"
	" received_at INTEGER NOT NULL, warnings TEXT,"
	" first_record INTEGER, last_record INTEGER,"
	" UNIQUE(reporter, policy_domain, report_id, date_begin, date_end));"
	"CREATE INDEX IF NOT EXISTS reports_hash ON reports(content_hash);"
	"CREATE INDEX IF NOT EXISTS reports_domain ON reports(policy_domain, date_begin);"
	"CREATE TABLE IF NOT EXISTS records("
	" id INTEGER PRIMARY KEY, report INTEGER NOT NULL,"
	" account_id INTEGER NOT NULL DEFAULT 0,"
	" policy_domain TEXT, date_begin INTEGER, date_end INTEGER,"
	" source_ip BLOB, count INTEGER NOT NULL, disposition TEXT,"
	" dkim TEXT, spf TEXT, dmarc_pass INTEGER NOT NULL,"
	" header_from TEXT, envelope_from TEXT, envelope_to TEXT,"
	" reasons TEXT, dkim_results TEXT, spf_results TEXT,"
	" ptr TEXT, base_domain TEXT, asn INTEGER, as_name TEXT, country TEXT, service TEXT);"
	/* the rollup with every dimension, read for one source at a time (its
	 * days, reporters, header_from): keyed by source first */
	"CREATE TABLE IF NOT EXISTS daily("
	" domain TEXT NOT NULL, source_ip BLOB NOT NULL, day INTEGER NOT NULL,"
	" account_id INTEGER NOT NULL, header_from TEXT NOT NULL, reporter TEXT NOT NULL,"
	" disposition TEXT NOT NULL, dkim_pass INTEGER NOT NULL, spf_pass INTEGER NOT NULL,"
	" messages INTEGER NOT NULL, records INTEGER NOT NULL,"
	" PRIMARY KEY(domain, source_ip, day, account_id, header_from, reporter, disposition,"
	"  dkim_pass, spf_pass)) WITHOUT ROWID;"
	/* the same without the source: a few rows per domain and day, for
	 * summaries, time series and reporters */
	"CREATE TABLE IF NOT EXISTS day_totals("
	" domain TEXT NOT NULL, day INTEGER NOT NULL, account_id INTEGER NOT NULL,"
	" reporter TEXT NOT NULL, disposition TEXT NOT NULL, dkim_pass INTEGER NOT NULL,"
	" spf_pass INTEGER NOT NULL, messages INTEGER NOT NULL, records INTEGER NOT NULL,"
	" PRIMARY KEY(domain, day, account_id, reporter, disposition, dkim_pass, spf_pass))"
	" WITHOUT ROWID;"
	/* per source and day: the sources of a domain are read in source
	 * order, one row per day a source sent, and summed as they come */
	"CREATE TABLE IF NOT EXISTS src_day("
	" domain TEXT NOT NULL, source_ip BLOB NOT NULL, account_id INTEGER NOT NULL,"
	" day INTEGER NOT NULL, messages INTEGER NOT NULL, dmarc_pass INTEGER NOT NULL,"
	" spf_aligned INTEGER NOT NULL, dkim_aligned INTEGER NOT NULL,"
	" quarantine INTEGER NOT NULL, reject INTEGER NOT NULL,"
	" PRIMARY KEY(domain, source_ip, account_id, day)) WITHOUT ROWID;"
	/* each source's latest enrichment (src/enrich/): what the source
	 * lists show; ptr_state as enum dm_ptr_state.  Rows in the order the
	 * sources came, found by the index of ip: new sources, a batch of
	 * thousands at random addresses, append their rows and touch only
	 * the index's pages, a fifth of the table's size */
	"CREATE TABLE IF NOT EXISTS ips("
	" ip BLOB NOT NULL UNIQUE, ptr_state INTEGER NOT NULL, ptr TEXT, base_domain TEXT,"
	" asn INTEGER, as_name TEXT, country TEXT, service TEXT, service_type TEXT,"
	" updated INTEGER NOT NULL);" TLS_SQL;

/* Schema 5 to 6: ips keyed by rowid (ips_v5: the table of 5). */
static const char migrate_ips_sql[] =
	"INSERT INTO ips(ip, ptr_state, ptr, base_domain, asn, as_name, country, service,"
	" service_type, updated) SELECT ip, ptr_state, ptr, base_domain, asn, as_name, country,"
	" service, service_type, updated FROM ips_v5;"
	"DROP TABLE ips_v5;";

/* Schema 2 to 3: src_day from daily (daily_old: the table before 4). */
static const char migrate_src_day_sql[] =
	"INSERT INTO src_day SELECT domain, source_ip, account_id, day, SUM(messages),"
	" SUM(CASE WHEN dkim_pass OR spf_pass THEN messages ELSE 0 END),"
	" SUM(CASE WHEN spf_pass THEN messages ELSE 0 END),"
	" SUM(CASE WHEN dkim_pass THEN messages ELSE 0 END),"
	" SUM(CASE WHEN disposition = 'quarantine' THEN messages ELSE 0 END),"
	" SUM(CASE WHEN disposition = 'reject' THEN messages ELSE 0 END)"
	" FROM daily_old GROUP BY domain, source_ip, account_id, day;";

/* Schema 2 or 3 to 4: daily keyed by source first. */
static const char migrate_daily_sql[] =
	"INSERT INTO daily(domain, source_ip, day, account_id, header_from, reporter,"
	" disposition, dkim_pass, spf_pass, messages, records)"
	" SELECT domain, source_ip, day, account_id, header_from, reporter, disposition,"
	" dkim_pass, spf_pass, messages, records FROM daily_old;"
	"DROP TABLE daily_old;";

/* A batch is committed after this many reports, records or seconds. */
#define STORE_BATCH_REPORTS 1000
#define STORE_BATCH_RECORDS 200000
#define STORE_BATCH_SECONDS 1.0

enum stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_REPORT_NEW,
	S_REPORT_SET,
	S_REPORT_CLAIM,
	S_REPORT_DEL,
	S_RECORD_DEL,
	S_RECORD,
	S_RECORD_SCAN,
	S_DAILY,
	S_TOTALS,
	S_SRCDAY,
	S_IP,
	S_LOOKUP,
	S_STATS,
	S_TLS_SAVEPOINT,
	S_TLS_RELEASE,
	S_TLS_ROLLBACK_TO,
	S_TLS_REPORT,
	S_TLS_POLICY,
	S_TLS_FAILURE,
	S_FAILURE,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT report",
	[S_RELEASE] = "RELEASE report",
	[S_ROLLBACK_TO] = "ROLLBACK TO report",
	[S_REPORT_NEW] = "INSERT INTO reports(received_at) VALUES(0)",
	[S_REPORT_SET] =
		"UPDATE reports SET account_id=?1, reporter=?2, org_name=?3, email=?4,"
		" extra_contact_info=?5, report_id=?6, policy_domain=?7, date_begin=?8,"
		" date_end=?9, adkim=?10, aspf=?11, p=?12, sp=?13, np=?14, pct=?15, fo=?16,"
		" testing=?17, discovery_method=?18, generator=?19, version=?20, xmlns=?21,"
		" schema=?22, report_error=?23, archive_key=?24, content_hash=?25, source=?26,"
		" records=?27, messages=?28, skipped=?29, received_at=?30, warnings=?31,"
		" first_record=?33, last_record=?34 WHERE id=?32",
	[S_REPORT_CLAIM] = "UPDATE reports SET reporter=?1, policy_domain=?2, report_id=?3,"
			   " date_begin=?4, date_end=?5 WHERE id=?6",
	[S_REPORT_DEL] = "DELETE FROM reports WHERE id=?1",
	[S_RECORD_DEL] = "DELETE FROM records WHERE id BETWEEN ?1 AND ?2",
	[S_RECORD] = "INSERT INTO records(report, account_id, policy_domain, date_begin,"
		     " date_end, source_ip, count, disposition, dkim, spf, dmarc_pass,"
		     " header_from, envelope_from, envelope_to, reasons, dkim_results,"
		     " spf_results, ptr, base_domain, asn, as_name, country, service)"
		     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,"
		     "?16,?17,?18,?19,?20,?21,?22,?23)",
	/* a reverse name not known now (ptr_state 0, or 4: the DNS failed)
	 * leaves the one known before, and the service found with it */
	[S_IP] = "INSERT INTO ips(ip, ptr_state, ptr, base_domain, asn, as_name, country,"
		 " service, service_type, updated) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
		 " ON CONFLICT(ip) DO UPDATE SET"
		 " asn = excluded.asn, as_name = excluded.as_name, country = excluded.country,"
		 " updated = excluded.updated,"
		 " ptr_state = CASE WHEN excluded.ptr_state IN (0, 4) AND ips.ptr_state NOT IN (0, 4)"
		 "  THEN ips.ptr_state ELSE excluded.ptr_state END,"
		 " ptr = CASE WHEN excluded.ptr_state IN (0, 4) AND ips.ptr_state NOT IN (0, 4)"
		 "  THEN ips.ptr ELSE excluded.ptr END,"
		 " base_domain = CASE WHEN excluded.ptr_state IN (0, 4) AND ips.ptr_state NOT IN (0, 4)"
		 "  THEN ips.base_domain ELSE excluded.base_domain END,"
		 " service = CASE WHEN excluded.ptr_state IN (0, 4) AND ips.ptr_state NOT IN (0, 4)"
		 "  THEN ips.service ELSE excluded.service END,"
		 " service_type = CASE WHEN excluded.ptr_state IN (0, 4) AND ips.ptr_state NOT IN (0, 4)"
		 "  THEN ips.service_type ELSE excluded.service_type END",
	[S_RECORD_SCAN] = "SELECT source_ip, count, disposition, dkim, spf, header_from"
			  " FROM records WHERE id BETWEEN ?1 AND ?2",
	[S_DAILY] = "INSERT INTO daily(account_id, domain, day, source_ip, header_from,"
		    " disposition, dkim_pass, spf_pass, messages, records, reporter)"
		    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
		    " ON CONFLICT DO UPDATE SET messages = messages + excluded.messages,"
		    " records = records + excluded.records",
	[S_SRCDAY] = "INSERT INTO src_day(domain, source_ip, account_id, day, messages,"
		     " dmarc_pass, spf_aligned, dkim_aligned, quarantine, reject)"
		     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) ON CONFLICT DO UPDATE SET"
		     " messages = messages + excluded.messages,"
		     " dmarc_pass = dmarc_pass + excluded.dmarc_pass,"
		     " spf_aligned = spf_aligned + excluded.spf_aligned,"
		     " dkim_aligned = dkim_aligned + excluded.dkim_aligned,"
		     " quarantine = quarantine + excluded.quarantine,"
		     " reject = reject + excluded.reject",
	[S_TOTALS] = "INSERT INTO day_totals(account_id, domain, day, reporter, disposition,"
		     " dkim_pass, spf_pass, messages, records) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
		     " ON CONFLICT DO UPDATE SET messages = messages + excluded.messages,"
		     " records = records + excluded.records",
	[S_LOOKUP] = "SELECT 1 FROM reports WHERE reporter=?1 AND policy_domain=?2"
		     " AND report_id=?3 AND date_begin=?4 AND date_end=?5",
	[S_STATS] =
		"SELECT r.policy_domain, r.n, r.rec, r.msg, COALESCE(d.pass, 0),"
		" COALESCE(d.fail, 0) FROM"
		" (SELECT policy_domain, COUNT(*) AS n, SUM(records) AS rec,"
		"  SUM(messages) AS msg FROM reports WHERE policy_domain IS NOT NULL"
		"  GROUP BY policy_domain) AS r"
		" LEFT JOIN (SELECT domain,"
		"  SUM(CASE WHEN dkim_pass OR spf_pass THEN messages ELSE 0 END) AS pass,"
		"  SUM(CASE WHEN dkim_pass OR spf_pass THEN 0 ELSE messages END) AS fail"
		"  FROM day_totals GROUP BY domain) AS d ON d.domain = r.policy_domain"
		" WHERE ?1 IS NULL OR r.policy_domain = ?1 ORDER BY r.policy_domain",
	[S_TLS_SAVEPOINT] = "SAVEPOINT tls",
	[S_TLS_RELEASE] = "RELEASE tls",
	[S_TLS_ROLLBACK_TO] = "ROLLBACK TO tls",
	[S_TLS_REPORT] = "INSERT INTO tls_reports(account_id, reporter, org_name, contact_info,"
			 " report_id, policy_domain, date_begin, date_end, day, policies,"
			 " failure_details, success, failure, archive_key, content_hash, source,"
			 " received_at, warnings) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
			 "?13,?14,?15,?16,?17,?18) ON CONFLICT DO NOTHING",
	[S_TLS_POLICY] = "INSERT INTO tls_policies(report, idx, account_id, domain, day,"
			 " policy_type, policy_domain, mx_host, policy_string, success, failure)"
			 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
	[S_TLS_FAILURE] = "INSERT INTO tls_failures(report, n, policy, account_id, domain, day,"
			  " result_type, sending_ip, receiving_mx_hostname, receiving_mx_helo,"
			  " receiving_ip, additional_info, failure_reason_code, sessions)"
			  " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
	[S_FAILURE] = "INSERT INTO failures(" BACKEND_FAILURE_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,"
		      "?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,"
		      "?27,?28,?29,?30,?31,?32,?33,?34,?35) ON CONFLICT DO NOTHING",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[S_COUNT];
	char err[256];
	/* the open report */
	sqlite3_int64 report_rowid;
	/* the report's records have consecutive rowids: one connection writes
	 * them under the store's lock, so a range replaces an index */
	sqlite3_int64 first_record, last_record;
	char path[4096]; /* the database file, for readers */
	int in_report; /* between tx_begin and commit/abort */
	int claimed;   /* the identity columns are set */
	int dup;       /* the claim found the report stored: write nothing */
	int sp_open;   /* the report's savepoint (only once it wrote cells) */
	/* the report's rollup, merged into the batch's at commit */
	struct rollup rollup;
	/* the report's reporter (lower case), set when first needed */
	char reporter[DM_MAX_ID_LEN + 1];
	int have_reporter;
	const struct dm_report *rollup_rep; /* for the flush callback */
	int64_t account_id;
	/* the batch's rollup cells: daily (and src_day from it), day_totals */
	struct rollup bdaily, btotals;
	struct backend_ips ips; /* the batch's sources, for the ips table */
	/* what this connection wrote to ips lately (DM_STORE_IPS_SEEN
	 * addresses, direct-mapped): a source that comes back with the same
	 * enrichment within DM_STORE_IPS_SEEN_SECS is not written again.
	 * Emptied whenever a transaction or savepoint is rolled back, so it
	 * only holds rows the database has (or the open transaction will
	 * commit); the time bound covers rows others change or remove. */
	struct ips_seen {
		unsigned char ip[16];
		uint64_t h;  /* of the values written; 0: empty */
		int64_t at; /* when (the row's updated) */
	} *seen;
	struct dm_buf json;
	/* the batch */
	int batch_open;
	int broken; /* a statement failed: the batch cannot be trusted */
	uint64_t batch_id;   /* of the open (or last) batch */
	uint64_t durable_id; /* every batch up to this one is committed */
	uint64_t failed_id;  /* the newest batch whose commit failed */
	unsigned batch_reports;
	uint64_t batch_records;
	struct timespec batch_start;
};

static int batch_commit(struct sq *q);

static int
map_rc(struct sq *q, int rc)
{
	q->broken = 1;
	/* the first message of a failure says why; what follows (a rollback
	 * of a savepoint SQLite already undid) does not */
	if (!q->err[0])
		snprintf(q->err, sizeof q->err, "%s", sqlite3_errmsg(q->db));
	switch (rc & 0xff) {
	case SQLITE_FULL: return DM_ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return DM_EBUSY;
	case SQLITE_IOERR: return DM_EIO;
	default: return DM_ESTORE;
	}
}

static int
step_done(struct sq *q, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return map_rc(q, rc);
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static int report_flush(void *arg, struct rollup *r);
static int report_merge(struct sq *q, const struct dm_report *rep);
static int batch_write(void *arg, struct rollup *unused);
static int rows_rollup(struct sq *q, const struct dm_report *rep);

static int
user_version(sqlite3 *db)
{
	sqlite3_stmt *s;
	int v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Make daily and day_totals again from every stored record (schema 1 to
 * 2), report by report, through the write path's own rollup code. */
static int
rebuild_rollups(struct sq *q)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(q->db,
				    "SELECT account_id, policy_domain, date_begin, date_end, org_name,"
				    " email, first_record, last_record FROM reports"
				    " WHERE first_record IS NOT NULL AND policy_domain IS NOT NULL"
				    " ORDER BY id",
				    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return map_rc(q, rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dm_report rep;
		memset(&rep, 0, sizeof rep);
		rep.policy.domain = (const char *)sqlite3_column_text(s, 1);
		rep.begin = sqlite3_column_int64(s, 2);
		rep.end = sqlite3_column_int64(s, 3);
		rep.org_name = (const char *)sqlite3_column_text(s, 4);
		rep.email = (const char *)sqlite3_column_text(s, 5);
		q->account_id = sqlite3_column_int64(s, 0);
		q->first_record = sqlite3_column_int64(s, 6);
		q->last_record = sqlite3_column_int64(s, 7);
		q->have_reporter = 0;
		rollup_clear(&q->rollup);
		int r = rows_rollup(q, &rep);
		if (r == 0)
			r = report_merge(q, &rep);
		rollup_clear(&q->rollup);
		if (r) {
			sqlite3_finalize(s);
			return r;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return map_rc(q, rc);
	return batch_write(q, NULL);
}

static int
sq_open(struct store *st, const char *data_dir, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/dmarcd.sqlite", data_dir);
	struct sq *q = xcalloc(1, sizeof *q);
	snprintf(q->path, sizeof q->path, "%s", path);
	int rc = sqlite3_open_v2(path, &q->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 q->db ? sqlite3_errmsg(q->db) : "out of memory");
		sqlite3_close(q->db);
		free(q);
		return DM_ESTORE;
	}
	sqlite3_busy_timeout(q->db, 30000);
	char *msg = NULL;
	/* WAL: readers never block the writer; NORMAL: a commit is durable
	 * at the next checkpoint, and the raw report is in the archive and
	 * (for mail) in the spool until then, so nothing is lost.  Two
	 * processes may create a new data folder at once: switching to WAL
	 * can answer BUSY without calling the busy handler, so it is retried,
	 * and the schema is created in one write transaction. */
	static const char setup_sql[] = "PRAGMA journal_mode=WAL;";
	for (int tries = 0;; tries++) {
		rc = sqlite3_exec(q->db, setup_sql, NULL, NULL, &msg);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 300)
			break;
		sqlite3_free(msg);
		msg = NULL;
		usleep(100 * 1000);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(q->db,
				  "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192;"
				  /* savepoint journals go to a temp file: in memory
				     they would grow with the pages a huge report
				     touches */
				  " PRAGMA temp_store=FILE;",
				  NULL, NULL, &msg);
	/* a store of this schema needs no write to be opened (a full disk
	 * must not keep the server from starting and reading); anything else
	 * is set up or migrated in one write transaction */
	int version = rc == SQLITE_OK ? user_version(q->db) : -1, prepared = 0;
	int setup = version != SCHEMA_VERSION;
	if (rc == SQLITE_OK && setup) {
		rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			version = user_version(q->db);
	}
	if (rc == SQLITE_OK && version > SCHEMA_VERSION) {
		/* written by a newer dmarcd: never touched by an older one */
		snprintf(q->err, sizeof q->err, "schema %d is newer than this dmarcd's %d", version,
			 SCHEMA_VERSION);
		rc = SQLITE_ERROR;
	}
	if (rc == SQLITE_OK && version == 1)
		rc = sqlite3_exec(q->db, "ALTER TABLE daily RENAME TO daily_v1", NULL, NULL, &msg);
	if (rc == SQLITE_OK && (version == 2 || version == 3))
		rc = sqlite3_exec(q->db,
				  "DROP INDEX IF EXISTS daily_source;"
				  " ALTER TABLE daily RENAME TO daily_old;",
				  NULL, NULL, &msg);
	if (rc == SQLITE_OK && version == 5)
		rc = sqlite3_exec(q->db, "ALTER TABLE ips RENAME TO ips_v5", NULL, NULL, &msg);
	if (rc == SQLITE_OK && setup)
		rc = sqlite3_exec(q->db, schema_sql, NULL, NULL, &msg);
	for (int i = 0; rc == SQLITE_OK && i < S_COUNT; i++) {
		rc = sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&q->st[i], NULL);
		prepared = i + 1;
	}
	rollup_init(&q->rollup, DM_MAX_ROLLUP_CELLS);
	rollup_init(&q->bdaily, DM_MAX_BATCH_ROLLUP_CELLS);
	rollup_init(&q->btotals, DM_MAX_BATCH_TOTAL_CELLS);
	backend_ips_init(&q->ips, DM_ENRICH_BATCH_IPS);
	q->seen = xcalloc(DM_STORE_IPS_SEEN, sizeof *q->seen);
	dm_buf_init(&q->json, 4 * 1024 * 1024);
	if (rc == SQLITE_OK && version == 1) {
		/* the rollups of schema 1 had no reporter: made again from the
		 * records, as they were made when the reports were stored */
		rc = rebuild_rollups(q) == 0 ? SQLITE_OK : SQLITE_ERROR;
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(q->db, "DROP TABLE daily_v1", NULL, NULL, &msg);
	}
	if (rc == SQLITE_OK && version == 2)
		rc = sqlite3_exec(q->db, migrate_src_day_sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK && (version == 2 || version == 3))
		rc = sqlite3_exec(q->db, migrate_daily_sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK && version == 5)
		rc = sqlite3_exec(q->db, migrate_ips_sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK && setup) {
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", SCHEMA_VERSION);
		rc = sqlite3_exec(q->db, pragma, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, &msg);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up %s: %s", path,
			 msg ? msg : q->err[0] ? q->err : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		for (int i = 0; i < prepared; i++)
			sqlite3_finalize(q->st[i]);
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(q->db);
		rollup_free(&q->rollup);
		rollup_free(&q->bdaily);
		rollup_free(&q->btotals);
		backend_ips_free(&q->ips);
		free(q->seen);
		dm_buf_free(&q->json);
		free(q);
		return DM_ESTORE;
	}
	st->impl = q;
	return 0;
}

static void
sq_close_impl(struct sq *q)
{
	(void)batch_commit(q); /* callers that care call store_flush first */
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	rollup_free(&q->rollup);
	rollup_free(&q->bdaily);
	rollup_free(&q->btotals);
	backend_ips_free(&q->ips);
	free(q->seen);
	dm_buf_free(&q->json);
	free(q);
}

static void
sq_close(struct store *st)
{
	struct sq *q = st->impl;
	if (!q)
		return;
	sq_close_impl(q);
	st->impl = NULL;
}

/* Forget what q->seen says was written: a rollback took it back. */
static void
seen_clear(struct sq *q)
{
	memset(q->seen, 0, DM_STORE_IPS_SEEN * sizeof *q->seen);
}

/*
 * Give up the open batch: after a failed statement SQLite may have rolled
 * back the statement, the savepoint, or the whole transaction (I/O errors,
 * a full disk or temp file), and a later COMMIT could then "succeed" with
 * reports missing that were printed as stored.  So a failure inside a
 * batch fails all of it: every report of it is reported as not durable
 * (store_failed) and its inputs are processed again.
 */
static void
batch_fail(struct sq *q)
{
	if (q->batch_open) {
		if (!sqlite3_get_autocommit(q->db))
			(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		__atomic_store_n(&q->failed_id, q->batch_id, __ATOMIC_RELEASE);
	}
	seen_clear(q);
	q->batch_open = 0;
	q->batch_reports = 0;
	q->batch_records = 0;
	q->broken = 0;
	rollup_clear(&q->bdaily);
	rollup_clear(&q->btotals);
}

static int
batch_commit(struct sq *q)
{
	if (!q->batch_open)
		return 0;
	if (!q->broken && !sqlite3_get_autocommit(q->db))
		(void)batch_write(q, NULL); /* a failure sets q->broken */
	if (q->broken || sqlite3_get_autocommit(q->db)) {
		/* an error rolled the transaction back (or may have) */
		if (!q->err[0])
			snprintf(q->err, sizeof q->err,
				 "the batch was rolled back by an earlier error");
		batch_fail(q);
		return DM_EIO;
	}
	q->batch_open = 0;
	q->batch_reports = 0;
	q->batch_records = 0;
	int rc = step_done(q, q->st[S_COMMIT]);
	if (rc) {
		(void)step_done(q, q->st[S_ROLLBACK]);
		seen_clear(q);
		__atomic_store_n(&q->failed_id, q->batch_id, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&q->durable_id, q->batch_id, __ATOMIC_RELEASE);
	}
	return rc;
}

/* Open a batch unless one is open (and still alive). */
static int
batch_open(struct sq *q)
{
	if (q->batch_open && (q->broken || sqlite3_get_autocommit(q->db)))
		batch_fail(q); /* its transaction is gone: see batch_fail */
	if (q->batch_open)
		return 0;
	q->broken = 0;
	int rc = step_done(q, q->st[S_BEGIN]);
	if (rc)
		return rc;
	q->batch_open = 1;
	q->batch_id++;
	clock_gettime(CLOCK_MONOTONIC, &q->batch_start);
	return 0;
}

/* A report was kept: commit the batch when it is full or old enough. */
static int
batch_counted(struct sq *q)
{
	q->batch_reports++;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double age = (double)(now.tv_sec - q->batch_start.tv_sec) +
		     (double)(now.tv_nsec - q->batch_start.tv_nsec) / 1e9;
	if (q->batch_reports >= STORE_BATCH_REPORTS || q->batch_records >= STORE_BATCH_RECORDS ||
	    age >= STORE_BATCH_SECONDS)
		return batch_commit(q);
	return 0;
}

static int
sq_tx_begin(struct store *st, int64_t account_id)
{
	struct sq *q = st->impl;
	int rc;
	q->err[0] = '\0';
	rc = batch_open(q);
	if (rc)
		return rc;
	rc = step_done(q, q->st[S_REPORT_NEW]);
	if (rc) {
		batch_fail(q);
		return rc;
	}
	q->report_rowid = sqlite3_last_insert_rowid(q->db);
	q->first_record = q->last_record = 0;
	q->have_reporter = 0;
	q->claimed = q->dup = q->sp_open = 0;
	q->in_report = 1;
	q->account_id = account_id;
	rollup_clear(&q->rollup);
	return 0;
}

/* Undo what the open report wrote: its cells (the savepoint), its records
 * (a range of rowids) and its placeholder row. */
static int
report_undo(struct sq *q)
{
	int rc = 0;
	if (q->sp_open) {
		rc = step_done(q, q->st[S_ROLLBACK_TO]);
		seen_clear(q); /* ips rows written since are gone */
		if (rc == 0)
			rc = step_done(q, q->st[S_RELEASE]);
		q->sp_open = 0;
	}
	if (rc == 0 && q->first_record) {
		sqlite3_stmt *s = q->st[S_RECORD_DEL];
		sqlite3_bind_int64(s, 1, q->first_record);
		sqlite3_bind_int64(s, 2, q->last_record);
		rc = step_done(q, s);
	}
	if (rc == 0) {
		sqlite3_bind_int64(q->st[S_REPORT_DEL], 1, q->report_rowid);
		rc = step_done(q, q->st[S_REPORT_DEL]);
	}
	return rc;
}

/* End the open report: keep it or undo it. */
static int
report_end(struct sq *q, int keep)
{
	int rc = 0;
	if (!q->in_report)
		return 0;
	q->in_report = 0;
	if (!keep)
		rc = report_undo(q);
	else if (q->sp_open)
		rc = step_done(q, q->st[S_RELEASE]);
	q->sp_open = 0;
	rollup_clear(&q->rollup);
	if (q->broken) {
		batch_fail(q);
		return rc ? rc : DM_EIO;
	}
	if (rc)
		return rc;
	if (!keep)
		return 0;
	return batch_counted(q);
}

/* The reporter of the report, lower case. */
static void
set_reporter(struct sq *q, const struct dm_report *rep)
{
	backend_reporter(rep, q->reporter, sizeof q->reporter);
	q->have_reporter = 1;
}

/* One src_day row (backend_src_days' callback). */
static int
src_day_write(void *arg, const struct backend_src_day *a)
{
	struct sq *q = arg;
	sqlite3_stmt *s = q->st[S_SRCDAY];
	bind_text(s, 1, a->domain);
	if (a->ip_family)
		sqlite3_bind_blob(s, 2, a->ip, 16, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(s, 2, 0);
	sqlite3_bind_int64(s, 3, a->account);
	sqlite3_bind_int64(s, 4, a->day);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)a->messages);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)a->pass);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)a->spf);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)a->dkim);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)a->quarantine);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)a->reject);
	return step_done(q, s);
}

/* Upsert the batch's daily cells in key order, then src_day from them. */
static int
daily_write(struct sq *q, struct rollup *r)
{
	sqlite3_stmt *s = q->st[S_DAILY];
	int rc = 0;
	rollup_sort(r);
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct rollup_cell *c = rollup_cell(r, i);
		sqlite3_bind_int64(s, 1, c->account);
		bind_text(s, 2, c->domain);
		sqlite3_bind_int64(s, 3, c->day);
		if (c->ip_family)
			sqlite3_bind_blob(s, 4, c->ip, 16, SQLITE_STATIC);
		else
			sqlite3_bind_zeroblob(s, 4, 0);
		bind_text(s, 5, c->header_from);
		bind_text(s, 6, c->disposition);
		sqlite3_bind_int(s, 7, c->dkim_pass);
		sqlite3_bind_int(s, 8, c->spf_pass);
		sqlite3_bind_int64(s, 9, (sqlite3_int64)c->messages);
		sqlite3_bind_int64(s, 10, (sqlite3_int64)c->records);
		bind_text(s, 11, c->reporter);
		rc = step_done(q, s);
	}
	return rc ? rc : backend_src_days(r, src_day_write, q);
}

/* Upsert the batch's day_totals cells. */
static int
totals_write(struct sq *q, struct rollup *r)
{
	sqlite3_stmt *s = q->st[S_TOTALS];
	int rc = 0;
	rollup_sort(r);
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct rollup_cell *c = rollup_cell(r, i);
		sqlite3_bind_int64(s, 1, c->account);
		bind_text(s, 2, c->domain);
		sqlite3_bind_int64(s, 3, c->day);
		bind_text(s, 4, c->reporter);
		bind_text(s, 5, c->disposition);
		sqlite3_bind_int(s, 6, c->dkim_pass);
		sqlite3_bind_int(s, 7, c->spf_pass);
		sqlite3_bind_int64(s, 8, (sqlite3_int64)c->messages);
		sqlite3_bind_int64(s, 9, (sqlite3_int64)c->records);
		rc = step_done(q, s);
	}
	return rc;
}

/* Upsert the batch's sources into ips, and empty the table.  A source
 * this connection wrote with the same values in the last
 * DM_STORE_IPS_SEEN_SECS (q->seen) is left alone, unless all is set:
 * the upsert of the same values again changes nothing (see S_IP), so
 * only its `updated` stays older, by less than that. */
static int
ips_write(struct sq *q, int all)
{
	sqlite3_stmt *s = q->st[S_IP];
	int rc = 0;
	backend_ips_sort(&q->ips);
	for (size_t i = 0; i < q->ips.n && rc == 0; i++) {
		const struct backend_ip *x = backend_ips_at(&q->ips, i);
		struct ips_seen *seen = &q->seen[backend_ip_hash(x->ip) & (DM_STORE_IPS_SEEN - 1)];
		uint64_t h = backend_ip_values_hash(&x->e);
		if (!all && seen->h == h && memcmp(seen->ip, x->ip, 16) == 0 &&
		    x->updated >= seen->at && x->updated - seen->at < DM_STORE_IPS_SEEN_SECS)
			continue;
		seen->h = 0;
		sqlite3_bind_blob(s, 1, x->ip, 16, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, (int)x->e.ptr_state);
		bind_text(s, 3, x->e.ptr[0] ? x->e.ptr : NULL);
		bind_text(s, 4, x->e.base_domain[0] ? x->e.base_domain : NULL);
		if (x->e.asn)
			sqlite3_bind_int64(s, 5, x->e.asn);
		else
			sqlite3_bind_null(s, 5);
		bind_text(s, 6, x->e.as_org[0] ? x->e.as_org : NULL);
		bind_text(s, 7, x->e.country[0] ? x->e.country : NULL);
		bind_text(s, 8, x->e.ip_service);
		bind_text(s, 9, x->e.ip_service_type);
		sqlite3_bind_int64(s, 10, x->updated);
		rc = step_done(q, s);
		if (rc == 0) {
			memcpy(seen->ip, x->ip, 16);
			seen->h = h;
			seen->at = x->updated;
		}
	}
	backend_ips_clear(&q->ips);
	return rc;
}

/* Write the batch's rollup cells out and empty its tables (when the batch
 * commits, or when a table is full: the callback of rollup_merge). */
static int
batch_write(void *arg, struct rollup *unused)
{
	struct sq *q = arg;
	(void)unused;
	int rc = daily_write(q, &q->bdaily);
	if (rc == 0)
		rc = totals_write(q, &q->btotals);
	if (rc == 0)
		rc = ips_write(q, 0);
	rollup_clear(&q->bdaily);
	rollup_clear(&q->btotals);
	return rc;
}

/* Merge the report's rollup cells into the batch's. */
static int
report_merge(struct sq *q, const struct dm_report *rep)
{
	if (!q->have_reporter)
		set_reporter(q, rep);
	return backend_merge(&q->rollup, &q->bdaily, &q->btotals, rep->policy.domain, q->reporter,
			     q->account_id, batch_write, q);
}

/* The report's own rollup is full (a report with a huge number of
 * sources): its cells are written now, after a savepoint so an abort or a
 * duplicate can still undo them.  The batch's cells so far belong to
 * reports already stored and are written before the savepoint. */
static int
report_flush(void *arg, struct rollup *r)
{
	struct sq *q = arg;
	int rc;
	(void)r;
	if (q->in_report && !q->sp_open) {
		rc = batch_write(q, NULL);
		if (rc == 0)
			rc = step_done(q, q->st[S_SAVEPOINT]);
		if (rc)
			return rc;
		q->sp_open = 1;
	}
	rc = report_merge(q, q->rollup_rep);
	if (rc == 0)
		rc = batch_write(q, NULL);
	return rc;
}

/* Claim the report's identity (it must be known): set the identity
 * columns of its row.  A UNIQUE violation means it is stored already
 * (q->dup). */
static int
claim(struct sq *q, const struct dm_report *rep)
{
	sqlite3_stmt *s = q->st[S_REPORT_CLAIM];
	if (!q->have_reporter)
		set_reporter(q, rep);
	bind_text(s, 1, q->reporter);
	bind_text(s, 2, rep->policy.domain);
	bind_text(s, 3, rep->report_id);
	sqlite3_bind_int64(s, 4, rep->begin);
	sqlite3_bind_int64(s, 5, rep->end);
	sqlite3_bind_int64(s, 6, q->report_rowid);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	q->claimed = 1;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		q->dup = 1;
		return 0;
	}
	return rc == SQLITE_DONE ? 0 : map_rc(q, rc);
}

static int
sq_record_add(struct store *st, const struct dm_report *rep, const struct dm_record *rec)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = q->st[S_RECORD];
	size_t off[3], len[3];
	int rc;
	/* ingest hands records over only once the report can be claimed
	 * (its identity known): records that came before the metadata are
	 * fixed up there, once, for every backend */
	if (!dm_report_claimable(rep)) {
		snprintf(q->err, sizeof q->err, "a record before the report's identity is known");
		return DM_EINVAL;
	}
	if (!q->claimed) {
		rc = claim(q, rep);
		if (rc)
			return rc;
	}
	if (q->dup)
		return 0; /* stored already: nothing of it is written */
	rc = backend_record_json(&q->json, rec, off, len);
	if (rc) {
		snprintf(q->err, sizeof q->err, "record results too large");
		return DM_ELIMIT;
	}
	sqlite3_bind_int64(s, 1, q->report_rowid);
	sqlite3_bind_int64(s, 2, q->account_id);
	bind_text(s, 3, rep->policy.domain);
	sqlite3_bind_int64(s, 4, rep->begin);
	sqlite3_bind_int64(s, 5, rep->end);
	if (rec->ip_family)
		sqlite3_bind_blob(s, 6, rec->ip, 16, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 6);
	sqlite3_bind_int64(s, 7, rec->count);
	bind_text(s, 8, rec->disposition);
	bind_text(s, 9, rec->dkim);
	bind_text(s, 10, rec->spf);
	sqlite3_bind_int(s, 11, dm_record_dmarc_pass(rec));
	bind_text(s, 12, rec->header_from);
	bind_text(s, 13, rec->envelope_from);
	bind_text(s, 14, rec->envelope_to);
	for (int i = 0; i < 3; i++) {
		if (len[i] <= 2) /* "[]" */
			sqlite3_bind_null(s, 15 + i);
		else
			sqlite3_bind_text(s, 15 + i, q->json.data + off[i], (int)len[i],
					  SQLITE_STATIC);
	}
	const struct dm_enrichment *e = rec->enr;
	if (e) {
		bind_text(s, 18, e->ptr[0] ? e->ptr : NULL);
		bind_text(s, 19, e->base_domain[0] ? e->base_domain : NULL);
		if (e->asn)
			sqlite3_bind_int64(s, 20, e->asn);
		else
			sqlite3_bind_null(s, 20);
		bind_text(s, 21, e->as_org[0] ? e->as_org : NULL);
		bind_text(s, 22, e->country[0] ? e->country : NULL);
		bind_text(s, 23, e->service);
	} else {
		for (int i = 18; i <= 23; i++)
			sqlite3_bind_null(s, i);
	}
	rc = step_done(q, s);
	if (rc)
		return rc;
	if (e && (rc = backend_ips_add(&q->ips, rec, (int64_t)time(NULL))) == DM_ELIMIT) {
		rc = ips_write(q, 0);
		if (rc == 0)
			rc = backend_ips_add(&q->ips, rec, (int64_t)time(NULL));
	}
	if (rc)
		return rc;
	q->last_record = sqlite3_last_insert_rowid(q->db);
	if (!q->first_record)
		q->first_record = q->last_record;
	q->batch_records++;
	q->rollup_rep = rep;
	return rollup_add(&q->rollup, rep->begin, rep->end, rec, report_flush, q);
}

/* The rollup of a stored report made again from its rows (first_record ..
 * last_record): the migration from schema 1. */
static int
rows_rollup(struct sq *q, const struct dm_report *rep)
{
	int rc;
	q->rollup_rep = rep;
	sqlite3_stmt *s = q->st[S_RECORD_SCAN];
	sqlite3_bind_int64(s, 1, q->first_record);
	sqlite3_bind_int64(s, 2, q->last_record);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct dm_record rec;
		memset(&rec, 0, sizeof rec);
		const void *ip = sqlite3_column_blob(s, 0);
		if (ip && sqlite3_column_bytes(s, 0) == 16) {
			memcpy(rec.ip, ip, 16);
			rec.ip_family = 6;
		}
		rec.count = sqlite3_column_int64(s, 1);
		rec.disposition = (const char *)sqlite3_column_text(s, 2);
		rec.dkim = (const char *)sqlite3_column_text(s, 3);
		rec.spf = (const char *)sqlite3_column_text(s, 4);
		rec.header_from = (const char *)sqlite3_column_text(s, 5);
		int arc = rollup_add(&q->rollup, rep->begin, rep->end, &rec, report_flush, q);
		if (arc) {
			sqlite3_reset(s);
			return arc;
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return map_rc(q, rc);
	return 0;
}

static int
sq_tx_commit(struct store *st, struct dm_report *rep, const struct store_report_info *info,
	     enum store_outcome *out)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = q->st[S_REPORT_SET];
	const struct dm_policy_published *pol = &rep->policy;
	int rc;
	if (backend_warnings_json(&q->json, rep) != 0) {
		rc = DM_ELIMIT;
		goto fail;
	}
	const char *reporter = dm_report_reporter(rep);
	sqlite3_bind_int64(s, 1, q->account_id);
	bind_text(s, 2, reporter);
	bind_text(s, 3, rep->org_name);
	bind_text(s, 4, rep->email);
	bind_text(s, 5, rep->extra_contact_info);
	bind_text(s, 6, rep->report_id);
	bind_text(s, 7, pol->domain);
	sqlite3_bind_int64(s, 8, rep->begin);
	sqlite3_bind_int64(s, 9, rep->end);
	bind_text(s, 10, pol->adkim);
	bind_text(s, 11, pol->aspf);
	bind_text(s, 12, pol->p);
	bind_text(s, 13, pol->sp);
	bind_text(s, 14, pol->np);
	if (pol->pct >= 0)
		sqlite3_bind_int(s, 15, pol->pct);
	else
		sqlite3_bind_null(s, 15);
	bind_text(s, 16, pol->fo);
	bind_text(s, 17, pol->testing);
	bind_text(s, 18, pol->discovery_method);
	bind_text(s, 19, rep->generator);
	bind_text(s, 20, rep->version);
	bind_text(s, 21, rep->xmlns);
	bind_text(s, 22, rep->bis ? "rfc9990" : "rfc7489");
	bind_text(s, 23, rep->error);
	bind_text(s, 24, info->archive_key);
	bind_text(s, 25, info->content_hash);
	bind_text(s, 26, info->source);
	sqlite3_bind_int64(s, 27, (sqlite3_int64)rep->records);
	sqlite3_bind_int64(s, 28, (sqlite3_int64)rep->messages);
	sqlite3_bind_int64(s, 29, (sqlite3_int64)rep->skipped);
	sqlite3_bind_int64(s, 30, info->received_at);
	sqlite3_bind_text(s, 31, q->json.data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 32, q->report_rowid);
	if (q->first_record) {
		sqlite3_bind_int64(s, 33, q->first_record);
		sqlite3_bind_int64(s, 34, q->last_record);
	} else {
		sqlite3_bind_null(s, 33);
		sqlite3_bind_null(s, 34);
	}
	rc = q->claimed ? 0 : claim(q, rep);
	if (rc)
		goto fail;
	if (q->dup) {
		sqlite3_clear_bindings(s);
		*out = STORE_DUPLICATE;
		return report_end(q, 0);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		/* the identity changed after the claim (a report that says
		 * it twice) and is taken */
		*out = STORE_DUPLICATE;
		return report_end(q, 0);
	}
	if (rc != SQLITE_DONE) {
		rc = map_rc(q, rc);
		goto fail;
	}
	/* last: once merged, the cells are the batch's (a failure from here
	 * on fails the whole batch, which forgets them) */
	rc = report_merge(q, rep);
	if (rc)
		goto fail;
	*out = STORE_STORED;
	return report_end(q, 1);
fail:
	(void)report_end(q, 0);
	return rc;
}

static void
sq_tx_abort(struct store *st)
{
	struct sq *q = st->impl;
	(void)report_end(q, 0);
}


/* ---- SMTP TLS reports ----------------------------------------------------------- */

/* The report row, then its policies and failures, after a savepoint of
 * their own: a failure undoes the report alone (a failure SQLite may
 * have rolled further back fails the batch, as everywhere). */
static int
tls_rows(struct sq *q, int64_t account_id, struct dm_tls_report *rep,
	 const struct store_report_info *info, store_tls_next_fn next, void *arg,
	 enum store_outcome *out)
{
	char reporter[DM_MAX_ID_LEN + 1];
	const char *domain = backend_tls_domain(rep);
	int64_t day = backend_tls_day(rep);
	backend_tls_reporter(rep, reporter, sizeof reporter);
	if (backend_tls_warnings_json(&q->json, rep) != 0) {
		snprintf(q->err, sizeof q->err, "the report's warnings are too long");
		return DM_ELIMIT;
	}
	sqlite3_stmt *s = q->st[S_TLS_REPORT];
	sqlite3_bind_int64(s, 1, account_id);
	bind_text(s, 2, reporter);
	bind_text(s, 3, rep->org_name);
	bind_text(s, 4, rep->contact_info);
	bind_text(s, 5, rep->report_id);
	bind_text(s, 6, domain);
	sqlite3_bind_int64(s, 7, rep->begin);
	sqlite3_bind_int64(s, 8, rep->end);
	sqlite3_bind_int64(s, 9, day);
	sqlite3_bind_int64(s, 10, rep->npolicies);
	sqlite3_bind_int64(s, 11, (sqlite3_int64)rep->failure_details);
	sqlite3_bind_int64(s, 12, (sqlite3_int64)rep->success);
	sqlite3_bind_int64(s, 13, (sqlite3_int64)rep->failure);
	bind_text(s, 14, info->archive_key);
	bind_text(s, 15, info->content_hash);
	bind_text(s, 16, info->source);
	sqlite3_bind_int64(s, 17, info->received_at);
	sqlite3_bind_text(s, 18, q->json.data, -1, SQLITE_STATIC);
	int rc = step_done(q, s);
	sqlite3_clear_bindings(s);
	if (rc)
		return rc;
	if (sqlite3_changes(q->db) == 0) {
		*out = STORE_DUPLICATE;
		return 0;
	}
	int64_t id = sqlite3_last_insert_rowid(q->db);
	int64_t n = 0;
	struct store_tls_item it;
	while (rc == 0 && (rc = next(arg, &it)) == 1) {
		rc = 0;
		if (it.pol) {
			const struct dm_tls_policy *p = it.pol;
			s = q->st[S_TLS_POLICY];
			sqlite3_bind_int64(s, 1, id);
			sqlite3_bind_int64(s, 2, p->index);
			sqlite3_bind_int64(s, 3, account_id);
			bind_text(s, 4, p->domain ? p->domain : domain);
			sqlite3_bind_int64(s, 5, day);
			bind_text(s, 6, p->type ? p->type : "");
			bind_text(s, 7, p->domain);
			bind_text(s, 8, p->mx_host);
			bind_text(s, 9, p->policy_string);
			sqlite3_bind_int64(s, 10, (sqlite3_int64)p->success);
			sqlite3_bind_int64(s, 11, (sqlite3_int64)p->failure);
		} else {
			const struct dm_tls_failure *f = it.fail;
			s = q->st[S_TLS_FAILURE];
			sqlite3_bind_int64(s, 1, id);
			sqlite3_bind_int64(s, 2, n++);
			sqlite3_bind_int64(s, 3, f->policy);
			sqlite3_bind_int64(s, 4, account_id);
			bind_text(s, 5, domain);
			sqlite3_bind_int64(s, 6, day);
			bind_text(s, 7, f->result_type ? f->result_type : "");
			bind_text(s, 8, f->sending_mta_ip);
			bind_text(s, 9, f->receiving_mx_hostname);
			bind_text(s, 10, f->receiving_mx_helo);
			bind_text(s, 11, f->receiving_ip);
			bind_text(s, 12, f->additional_info);
			bind_text(s, 13, f->failure_reason_code);
			sqlite3_bind_int64(s, 14, (sqlite3_int64)f->sessions);
		}
		rc = step_done(q, s);
		sqlite3_clear_bindings(s);
	}
	if (rc < 0)
		return rc;
	q->batch_records += (uint64_t)n + rep->npolicies;
	*out = STORE_STORED;
	return 0;
}

static int
sq_tls_put(struct store *st, int64_t account_id, struct dm_tls_report *rep,
	   const struct store_report_info *info, store_tls_next_fn next, void *arg,
	   enum store_outcome *out)
{
	struct sq *q = st->impl;
	q->err[0] = '\0';
	if (!dm_tls_report_claimable(rep)) {
		snprintf(q->err, sizeof q->err, "a TLS report without its identity");
		return DM_EINVAL;
	}
	int rc = batch_open(q);
	if (rc == 0)
		rc = step_done(q, q->st[S_TLS_SAVEPOINT]);
	if (rc) {
		batch_fail(q);
		return rc;
	}
	rc = tls_rows(q, account_id, rep, info, next, arg, out);
	if (rc == 0) {
		rc = step_done(q, q->st[S_TLS_RELEASE]);
	} else {
		/* the report's rows go; the reason stays the first failure's */
		char why[sizeof q->err];
		snprintf(why, sizeof why, "%s", q->err);
		if (sqlite3_get_autocommit(q->db) || step_done(q, q->st[S_TLS_ROLLBACK_TO]) != 0 ||
		    step_done(q, q->st[S_TLS_RELEASE]) != 0)
			batch_fail(q);
		snprintf(q->err, sizeof q->err, "%s", why);
		return rc;
	}
	if (rc || q->broken || sqlite3_get_autocommit(q->db)) {
		batch_fail(q);
		return rc ? rc : DM_EIO;
	}
	return *out == STORE_STORED ? batch_counted(q) : 0;
}

/* ---- failure reports ------------------------------------------------------------ */

static int
sq_failure_put(struct store *st, int64_t account_id, const struct dm_failure_report *r,
	       const char *headers, const struct store_report_info *info, enum store_outcome *out)
{
	struct sq *q = st->impl;
	struct backend_failure_vals fv;
	q->err[0] = '\0';
	if (backend_failure_warnings_json(&q->json, r) != 0) {
		snprintf(q->err, sizeof q->err, "the report's warnings are too long");
		return DM_ELIMIT;
	}
	int rc = batch_open(q);
	if (rc)
		return rc;
	backend_failure_values(&fv, account_id, r, headers, info, q->json.data);
	sqlite3_stmt *s = q->st[S_FAILURE];
	for (int i = 0; i < BACKEND_FAILURE_NCOLS; i++)
		bind_text(s, i + 1, fv.v[i]);
	rc = step_done(q, s);
	sqlite3_clear_bindings(s);
	if (rc || q->broken || sqlite3_get_autocommit(q->db)) {
		batch_fail(q);
		return rc ? rc : DM_EIO;
	}
	if (sqlite3_changes(q->db) == 0) {
		*out = STORE_DUPLICATE;
		return 0;
	}
	*out = STORE_STORED;
	return batch_counted(q);
}

static int
sq_flush(struct store *st)
{
	struct sq *q = st->impl;
	q->err[0] = '\0';
	return batch_commit(q);
}

/* Commit, then make the commits durable against power loss: with
 * synchronous=NORMAL SQLite syncs the WAL only at checkpoints, so the
 * WAL is fdatasync'ed here (the spool forgets a message only after). */
static int
sq_sync(struct store *st)
{
	struct sq *q = st->impl;
	char wal[4200];
	q->err[0] = '\0';
	int rc = batch_commit(q);
	if (rc)
		return rc;
	const char *db = sqlite3_db_filename(q->db, "main");
	if (db == NULL || !*db)
		return 0;
	snprintf(wal, sizeof wal, "%s-wal", db);
	int fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : DM_EIO; /* checkpointed and removed */
	rc = fdatasync(fd) == 0 ? 0 : DM_EIO;
	if (rc)
		snprintf(q->err, sizeof q->err, "fdatasync of the WAL: %s", strerror(errno));
	close(fd);
	return rc;
}

static uint64_t
sq_batch(struct store *st)
{
	struct sq *q = st->impl;
	return q->batch_id;
}

static uint64_t
sq_durable(struct store *st)
{
	struct sq *q = st->impl;
	return __atomic_load_n(&q->durable_id, __ATOMIC_ACQUIRE);
}

static uint64_t
sq_failed(struct store *st)
{
	struct sq *q = st->impl;
	return __atomic_load_n(&q->failed_id, __ATOMIC_ACQUIRE);
}

static int
sq_lookup(struct store *st, struct dm_report *rep, int *exists)
{
	struct sq *q = st->impl;
	*exists = 0;
	q->err[0] = '\0';
	if (!dm_report_claimable(rep))
		return 0;
	sqlite3_stmt *s = q->st[S_LOOKUP];
	bind_text(s, 1, dm_report_reporter(rep));
	bind_text(s, 2, rep->policy.domain);
	bind_text(s, 3, rep->report_id);
	sqlite3_bind_int64(s, 4, rep->begin);
	sqlite3_bind_int64(s, 5, rep->end);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		*exists = 1;
	else if (rc != SQLITE_DONE)
		return map_rc(q, rc);
	return 0;
}

/* dmarcd reenrich: the sources into a temporary table, then one pass over
 * the records (UPDATE ... FROM) and the ips upsert, in one transaction. */
static int
sq_reenrich(struct store *st, const char *domain, int64_t since, const struct dm_record *src,
            size_t n)
{
	struct sq *q = st->impl;
	int rc = batch_commit(q);
	if (rc)
		return rc;
	q->err[0] = '\0';
	q->broken = 0;
	char *msg = NULL;
	int src_rc = sqlite3_exec(q->db,
	                          "BEGIN IMMEDIATE;"
	                          " CREATE TEMP TABLE IF NOT EXISTS reenrich(ip BLOB PRIMARY KEY,"
	                          " keep_ptr INTEGER, ptr TEXT, base_domain TEXT, asn INTEGER,"
	                          " as_name TEXT, country TEXT, service TEXT);"
	                          " DELETE FROM reenrich;",
	                          NULL, NULL, &msg);
	sqlite3_stmt *ins = NULL, *upd = NULL;
	if (src_rc == SQLITE_OK)
		src_rc = sqlite3_prepare_v2(q->db, "INSERT OR REPLACE INTO reenrich VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
		                            -1, &ins, NULL);
	for (size_t i = 0; src_rc == SQLITE_OK && i < n; i++) {
		const struct dm_enrichment *e = src[i].enr;
		if (!e || !src[i].ip_family)
			continue;
		sqlite3_bind_blob(ins, 1, src[i].ip, 16, SQLITE_STATIC);
		sqlite3_bind_int(ins, 2, !backend_ptr_final(e->ptr_state));
		bind_text(ins, 3, e->ptr[0] ? e->ptr : NULL);
		bind_text(ins, 4, e->base_domain[0] ? e->base_domain : NULL);
		if (e->asn)
			sqlite3_bind_int64(ins, 5, e->asn);
		else
			sqlite3_bind_null(ins, 5);
		bind_text(ins, 6, e->as_org[0] ? e->as_org : NULL);
		bind_text(ins, 7, e->country[0] ? e->country : NULL);
		bind_text(ins, 8, e->service);
		src_rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(q->db);
		sqlite3_reset(ins);
	}
	if (src_rc == SQLITE_OK)
		src_rc = sqlite3_prepare_v2(
		        q->db,
		        "UPDATE records SET"
		        " ptr = CASE WHEN e.keep_ptr THEN records.ptr ELSE e.ptr END,"
		        " base_domain = CASE WHEN e.keep_ptr THEN records.base_domain ELSE e.base_domain END,"
		        " asn = e.asn, as_name = e.as_name, country = e.country,"
		        " service = COALESCE(e.service, records.service)"
		        /* the records of the reports in question, by their id
		         * ranges: not a pass over every record */
		        " FROM reenrich e, (SELECT first_record, last_record FROM reports"
		        "  WHERE (?1 IS NULL OR policy_domain = ?1) AND date_end >= ?2) AS r"
		        " WHERE records.id BETWEEN r.first_record AND r.last_record"
		        " AND records.source_ip = e.ip",
		        -1, &upd, NULL);
	if (src_rc == SQLITE_OK) {
		bind_text(upd, 1, domain);
		sqlite3_bind_int64(upd, 2, since);
		src_rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(q->db);
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	if (src_rc != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "%s", msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return DM_ESTORE;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = backend_ips_add(&q->ips, &src[i], (int64_t)time(NULL));
		if (rc == DM_ELIMIT && (rc = ips_write(q, 1)) == 0)
			rc = backend_ips_add(&q->ips, &src[i], (int64_t)time(NULL));
	}
	if (rc == 0)
		rc = ips_write(q, 1);
	if (rc == 0 && sqlite3_exec(q->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "%s", msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		rc = DM_ESTORE;
	}
	if (rc) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		backend_ips_clear(&q->ips);
		seen_clear(q);
	}
	return rc;
}

static int
sq_stats(struct store *st, const char *domain, struct store_stats *total,
	 int (*per_domain)(void *arg, const struct store_domain_stats *d), void *arg)
{
	struct sq *q = st->impl;
	sqlite3_stmt *s = q->st[S_STATS];
	q->err[0] = '\0';
	memset(total, 0, sizeof *total);
	bind_text(s, 1, domain);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_domain_stats d;
		d.domain = (const char *)sqlite3_column_text(s, 0);
		d.reports = (uint64_t)sqlite3_column_int64(s, 1);
		d.records = (uint64_t)sqlite3_column_int64(s, 2);
		d.messages = (uint64_t)sqlite3_column_int64(s, 3);
		d.dmarc_pass = (uint64_t)sqlite3_column_int64(s, 4);
		d.dmarc_fail = (uint64_t)sqlite3_column_int64(s, 5);
		total->reports += d.reports;
		total->records += d.records;
		total->messages += d.messages;
		total->dmarc_pass += d.dmarc_pass;
		total->dmarc_fail += d.dmarc_fail;
		if (per_domain && per_domain(arg, &d) != 0)
			break;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return map_rc(q, rc);
	return 0;
}

/* ---- retention (store_prune) ------------------------------------------------- */

/* The indexes a prune needs and ingest does not: made by the first
 * prune (once; a few seconds on millions of reports) rather than by a
 * schema migration every store would pay for. */
static const char prune_index_sql[] =
	"CREATE INDEX IF NOT EXISTS reports_account_end ON reports(account_id, date_end);"
	"CREATE INDEX IF NOT EXISTS reports_archive ON reports(archive_key);"
	"CREATE INDEX IF NOT EXISTS tls_reports_archive ON tls_reports(archive_key);"
	"CREATE INDEX IF NOT EXISTS failures_archive ON failures(archive_key);";

/* Run sql with ?1 = account, ?2 = cutoff, ?3 = limit; the first column
 * of each row (text) to res->keys when keys, the number of rows in *n,
 * or, with sum, the first column summed into *n. */
static int
prune_query(struct sq *q, const char *sql, int64_t account, int64_t cutoff, unsigned limit,
	    struct store_prune *keys, int sum, uint64_t *n)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(q->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return map_rc(q, rc);
	int np = sqlite3_bind_parameter_count(s);
	sqlite3_bind_int64(s, 1, account);
	if (np >= 2)
		sqlite3_bind_int64(s, 2, cutoff);
	if (np >= 3)
		sqlite3_bind_int64(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (keys)
			store_prune_key_add(keys, (const char *)sqlite3_column_text(s, 0));
		*n += sum ? (uint64_t)sqlite3_column_int64(s, 0) : 1;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return map_rc(q, rc);
	return 0;
}

/* Run one statement with the same parameters; rows changed into *n. */
static int
prune_exec(struct sq *q, const char *sql, int64_t account, int64_t cutoff, unsigned limit,
	   uint64_t *n)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(q->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return map_rc(q, rc);
	int np = sqlite3_bind_parameter_count(s);
	sqlite3_bind_int64(s, 1, account);
	if (np >= 2)
		sqlite3_bind_int64(s, 2, cutoff);
	if (np >= 3)
		sqlite3_bind_int64(s, 3, limit);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return map_rc(q, rc);
	if (n)
		*n += (uint64_t)sqlite3_changes(q->db);
	return 0;
}

/* What goes (?1 account, ?2 cutoff): the reports, TLS reports and failure
 * reports of the account before the cutoff. */
#define PRUNE_AGG "account_id = ?1 AND date_end < ?2"
#define PRUNE_DAY "account_id = ?1 AND day < ?2"
/* Archive keys of what goes that nothing staying references. */
static const char prune_keys_sql[] =
	"SELECT DISTINCT k FROM (SELECT archive_key AS k FROM reports WHERE " PRUNE_AGG
	" UNION ALL SELECT archive_key FROM tls_reports WHERE " PRUNE_DAY
	" UNION ALL SELECT archive_key FROM failures WHERE " PRUNE_DAY ")"
	" WHERE k IS NOT NULL"
	" AND k NOT IN (SELECT archive_key FROM reports WHERE archive_key IS NOT NULL"
	"  AND NOT (" PRUNE_AGG "))"
	" AND k NOT IN (SELECT archive_key FROM tls_reports WHERE archive_key IS NOT NULL"
	"  AND NOT (" PRUNE_DAY "))"
	" AND k NOT IN (SELECT archive_key FROM failures WHERE archive_key IS NOT NULL"
	"  AND NOT (" PRUNE_DAY "))";

static int
sq_prune_count(struct sq *q, int64_t account, int64_t cutoff, struct store_prune *res)
{
	uint64_t unused = 0;
	int rc = prune_query(q, "SELECT COUNT(*) FROM reports WHERE " PRUNE_AGG, account, cutoff, 0,
			     NULL, 1, &res->reports);
	if (rc == 0)
		rc = prune_query(q, "SELECT COALESCE(SUM(records), 0) FROM reports WHERE " PRUNE_AGG,
				 account, cutoff, 0, NULL, 1, &res->records);
	static const char *const counts[] = {
		"SELECT COUNT(*) FROM daily WHERE " PRUNE_DAY,
		"SELECT COUNT(*) FROM day_totals WHERE " PRUNE_DAY,
		"SELECT COUNT(*) FROM src_day WHERE " PRUNE_DAY,
	};
	for (size_t i = 0; rc == 0 && i < sizeof counts / sizeof counts[0]; i++)
		rc = prune_query(q, counts[i], account, cutoff, 0, NULL, 1, &res->rollups);
	if (rc == 0)
		rc = prune_query(q, "SELECT COUNT(*) FROM tls_reports WHERE " PRUNE_DAY, account,
				 cutoff, 0, NULL, 1, &res->tls_reports);
	if (rc == 0)
		rc = prune_query(q, "SELECT COUNT(*) FROM failures WHERE " PRUNE_DAY, account, cutoff,
				 0, NULL, 1, &res->failures);
	if (rc == 0)
		rc = prune_query(q, prune_keys_sql, account, cutoff, 0, res, 0, &unused);
	q->broken = 0;
	return rc;
}

/* The aggregate reports of one batch: their records (by their rowid
 * range, or by report for a report stored without one), then the rows. */
static int
prune_reports(struct sq *q, int64_t account, int64_t cutoff, unsigned limit,
	      struct store_prune *res, uint64_t *n)
{
	sqlite3_stmt *sel = NULL, *by_range = NULL, *by_report = NULL, *del = NULL;
	int rc = sqlite3_prepare_v2(q->db,
				    "SELECT id, archive_key, first_record, last_record, records"
				    " FROM reports WHERE " PRUNE_AGG " LIMIT ?3",
				    -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(q->db, "DELETE FROM records WHERE id BETWEEN ?1 AND ?2"
					" AND report = ?3", -1, &by_range, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(q->db, "DELETE FROM records WHERE report = ?1", -1,
					&by_report, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(q->db, "DELETE FROM reports WHERE id = ?1", -1, &del, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(sel, 1, account);
		sqlite3_bind_int64(sel, 2, cutoff);
		sqlite3_bind_int64(sel, 3, limit);
	}
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		sqlite3_int64 id = sqlite3_column_int64(sel, 0);
		store_prune_key_add(res, (const char *)sqlite3_column_text(sel, 1));
		sqlite3_stmt *d = by_report;
		if (sqlite3_column_type(sel, 2) != SQLITE_NULL) {
			d = by_range;
			sqlite3_bind_int64(d, 1, sqlite3_column_int64(sel, 2));
			sqlite3_bind_int64(d, 2, sqlite3_column_int64(sel, 3));
			sqlite3_bind_int64(d, 3, id);
		} else if (sqlite3_column_int64(sel, 4) == 0) {
			d = NULL; /* no records */
		} else {
			sqlite3_bind_int64(d, 1, id);
		}
		if (d) {
			if (sqlite3_step(d) != SQLITE_DONE)
				rc = sqlite3_errcode(q->db);
			sqlite3_reset(d);
			res->records += (uint64_t)sqlite3_changes(q->db);
		}
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(del, 1, id);
			if (sqlite3_step(del) != SQLITE_DONE)
				rc = sqlite3_errcode(q->db);
			sqlite3_reset(del);
		}
		res->reports++;
		(*n)++;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(sel);
	sqlite3_finalize(by_range);
	sqlite3_finalize(by_report);
	sqlite3_finalize(del);
	return rc == SQLITE_OK ? 0 : map_rc(q, rc);
}

/* One batch of one kind, in one transaction: aggregate reports, then TLS
 * reports, then failure reports, then rollup rows; the first kind that
 * has something to remove is this batch. */
static int
sq_prune(struct store *st, int64_t account, int64_t cutoff, unsigned limit, int dry_run,
	 struct store_prune *res)
{
	struct sq *q = st->impl;
	int rc = batch_commit(q); /* ingest's open batch first */
	if (rc)
		return rc;
	q->err[0] = '\0';
	q->broken = 0;
	char *msg = NULL;
	if (sqlite3_exec(q->db, prune_index_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "prune: %s", msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		return DM_ESTORE;
	}
	if (dry_run)
		return sq_prune_count(q, account, cutoff, res);
	rc = step_done(q, q->st[S_BEGIN]);
	if (rc) {
		q->broken = 0;
		return rc;
	}
	uint64_t n = 0;
	rc = prune_reports(q, account, cutoff, limit, res, &n);
	if (rc == 0 && n == 0) {
		/* TLS reports: keys, then policies and failures, then rows */
		rc = prune_query(q, "SELECT archive_key FROM tls_reports WHERE " PRUNE_DAY
				 " ORDER BY id LIMIT ?3",
				 account, cutoff, limit, res, 0, &n);
		if (rc == 0 && n > 0) {
			rc = prune_exec(q, "DELETE FROM tls_policies WHERE report IN (SELECT id FROM"
					" tls_reports WHERE " PRUNE_DAY " ORDER BY id LIMIT ?3)",
					account, cutoff, limit, NULL);
			if (rc == 0)
				rc = prune_exec(q, "DELETE FROM tls_failures WHERE report IN (SELECT id"
						" FROM tls_reports WHERE " PRUNE_DAY " ORDER BY id LIMIT ?3)",
						account, cutoff, limit, NULL);
			if (rc == 0)
				rc = prune_exec(q, "DELETE FROM tls_reports WHERE id IN (SELECT id FROM"
						" tls_reports WHERE " PRUNE_DAY " ORDER BY id LIMIT ?3)",
						account, cutoff, limit, &res->tls_reports);
		}
	}
	if (rc == 0 && n == 0) {
		rc = prune_query(q, "SELECT archive_key FROM failures WHERE " PRUNE_DAY " LIMIT ?3",
				 account, cutoff, limit, res, 0, &n);
		if (rc == 0 && n > 0)
			rc = prune_exec(q, "DELETE FROM failures WHERE id IN (SELECT id FROM failures"
					" WHERE " PRUNE_DAY " LIMIT ?3)",
					account, cutoff, limit, &res->failures);
	}
	/* the rollups: keyed by domain first, so a batch is picked by the
	 * whole key */
	static const char *const rollups[] = {
		"DELETE FROM daily WHERE (domain, source_ip, day, account_id, header_from, reporter,"
		" disposition, dkim_pass, spf_pass) IN (SELECT domain, source_ip, day, account_id,"
		" header_from, reporter, disposition, dkim_pass, spf_pass FROM daily WHERE "
		PRUNE_DAY " LIMIT ?3)",
		"DELETE FROM day_totals WHERE (domain, day, account_id, reporter, disposition,"
		" dkim_pass, spf_pass) IN (SELECT domain, day, account_id, reporter, disposition,"
		" dkim_pass, spf_pass FROM day_totals WHERE " PRUNE_DAY " LIMIT ?3)",
		"DELETE FROM src_day WHERE (domain, source_ip, account_id, day) IN (SELECT domain,"
		" source_ip, account_id, day FROM src_day WHERE " PRUNE_DAY " LIMIT ?3)",
	};
	for (size_t i = 0; rc == 0 && n == 0 && i < sizeof rollups / sizeof rollups[0]; i++) {
		uint64_t before = res->rollups;
		rc = prune_exec(q, rollups[i], account, cutoff, DM_PRUNE_BATCH_ROWS, &res->rollups);
		n = res->rollups - before;
	}
	if (rc == 0)
		rc = step_done(q, q->st[S_COMMIT]);
	if (rc) {
		(void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		q->broken = 0;
		return rc;
	}
	seen_clear(q);
	res->more = n > 0;
	return 0;
}

static int
sq_key_refs(struct store *st, const char *const *keys, size_t n, unsigned char *used)
{
	struct sq *q = st->impl;
	q->err[0] = '\0';
	char *msg = NULL;
	if (sqlite3_exec(q->db, prune_index_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "prune: %s", msg ? msg : sqlite3_errmsg(q->db));
		sqlite3_free(msg);
		return DM_ESTORE;
	}
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(q->db,
				    "SELECT EXISTS(SELECT 1 FROM reports WHERE archive_key = ?1)"
				    " OR EXISTS(SELECT 1 FROM tls_reports WHERE archive_key = ?1)"
				    " OR EXISTS(SELECT 1 FROM failures WHERE archive_key = ?1)",
				    -1, &s, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		bind_text(s, 1, keys[i]);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			used[i] = sqlite3_column_int(s, 0) != 0;
			rc = SQLITE_OK;
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_OK) {
		int r = map_rc(q, rc);
		q->broken = 0;
		return r;
	}
	return 0;
}

static const char *
sq_errmsg(struct store *st)
{
	struct sq *q = st->impl;
	return q ? q->err : "";
}

const char *
store_sqlite_path(struct store *st)
{
	struct sq *q = st->impl;
	return q->path;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.tx_begin = sq_tx_begin,
	.record_add = sq_record_add,
	.tx_commit = sq_tx_commit,
	.tx_abort = sq_tx_abort,
	.flush = sq_flush,
	.sync = sq_sync,
	.batch = sq_batch,
	.durable = sq_durable,
	.failed = sq_failed,
	.lookup = sq_lookup,
	.stats = sq_stats,
	.reenrich = sq_reenrich,
	.tls_put = sq_tls_put,
	.failure_put = sq_failure_put,
	.prune = sq_prune,
	.key_refs = sq_key_refs,
	.errmsg = sq_errmsg,
};
