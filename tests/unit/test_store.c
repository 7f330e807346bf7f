/*
 * test_store.c - the SQLite store and the daily rollup.
 *
 * A real database in a temporary folder: reports are written through the
 * store interface and read back with plain SQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "enrich/enrich.h"
#include "store/rollup.h"
#include "store/store.h"

static char dir[256];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/dmstore-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static int64_t
query_int(const char *sql)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof path, "%s/dmarcd.sqlite", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int64_t v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
make_report(struct dm_report *r, const char *id, int64_t begin, int64_t end)
{
	dm_report_init(r);
	r->org_name = "Reporter Inc";
	r->email = "dmarc@reporter.example";
	r->report_id = id;
	r->policy.domain = "example.com";
	r->policy.p = "none";
	r->begin = begin;
	r->end = end;
	r->have = DM_HAVE_METADATA | DM_HAVE_POLICY | DM_HAVE_BEGIN | DM_HAVE_END |
		  DM_HAVE_DOMAIN | DM_HAVE_REPORT_ID;
}

static void
make_record(struct dm_record *rec, unsigned char last, int64_t count, const char *dkim)
{
	memset(rec, 0, sizeof *rec);
	rec->ip[10] = rec->ip[11] = 0xff;
	rec->ip[12] = 192;
	rec->ip[14] = 2;
	rec->ip[15] = last;
	rec->ip_family = 4;
	rec->ip_text = "192.0.2.x";
	rec->count = count;
	rec->disposition = "none";
	rec->dkim = dkim;
	rec->spf = "fail";
	rec->header_from = "example.com";
}

static enum store_outcome write_report_for(struct store *st, struct dm_report *r, int nrec,
				       int64_t count, int64_t account);

static enum store_outcome
write_report(struct store *st, struct dm_report *r, int nrec, int64_t count)
{
	return write_report_for(st, r, nrec, count, 0);
}

static enum store_outcome
write_report_for(struct store *st, struct dm_report *r, int nrec, int64_t count, int64_t account)
{
	struct dm_record rec;
	struct store_report_info info = {.archive_key = "2026/11/x.xml", .content_hash = "x",
					 .source = "test", .received_at = 1};
	enum store_outcome out;
	assert_int_equal(store_tx_begin(st, account, NULL, 0), 0);
	for (int i = 0; i < nrec; i++) {
		make_record(&rec, (unsigned char)i, count, i % 2 ? "pass" : "fail");
		assert_int_equal(store_record_add(st, r, &rec, NULL, 0), 0);
		r->records++;
		r->messages += (uint64_t)count;
	}
	assert_int_equal(store_tx_commit(st, r, &info, &out, NULL, 0), 0);
	return out;
}

static void
test_store_and_duplicate(void **state)
{
	char err[256];
	struct store *st = store_open("sqlite", dir, err, sizeof err);
	assert_non_null(st);
	struct dm_report r;
	make_report(&r, "id-1", 1700006400, 1700092799);
	assert_int_equal(write_report(st, &r, 4, 10), STORE_STORED);
	dm_report_free(&r);

	/* the same identity again: duplicate, nothing added */
	make_report(&r, "id-1", 1700006400, 1700092799);
	int exists = 0;
	assert_int_equal(store_lookup(st, &r, &exists, NULL, 0), 0);
	assert_true(exists);
	assert_int_equal(write_report(st, &r, 4, 10), STORE_DUPLICATE);
	dm_report_free(&r);

	/* another period with the same id is another report */
	make_report(&r, "id-1", 1700092800, 1700179199);
	assert_int_equal(write_report(st, &r, 1, 5), STORE_STORED);
	dm_report_free(&r);

	assert_int_equal(store_flush(st, NULL, 0), 0); /* the batch is committed */
	assert_int_equal(query_int("SELECT COUNT(*) FROM reports"), 2);
	assert_int_equal(query_int("SELECT COUNT(*) FROM records"), 5);
	assert_int_equal(query_int("SELECT SUM(count) FROM records"), 45);
	assert_int_equal(query_int("SELECT SUM(messages) FROM daily"), 45);
	assert_int_equal(query_int("SELECT SUM(messages) FROM daily WHERE dkim_pass"), 20);

	struct store_stats t;
	assert_int_equal(store_stats(st, NULL, &t, NULL, NULL, NULL, 0), 0);
	assert_int_equal(t.reports, 2);
	assert_int_equal(t.records, 5);
	assert_int_equal(t.messages, 45);
	assert_int_equal(t.dmarc_pass, 20);
	assert_int_equal(t.dmarc_fail, 25);
	assert_int_equal(store_stats(st, "other.example", &t, NULL, NULL, NULL, 0), 0);
	assert_int_equal(t.reports, 0);
	store_close(st);
}

static void
test_abort_leaves_nothing(void **state)
{
	char err[256];
	struct store *st = store_open("sqlite", dir, err, sizeof err);
	struct dm_report r;
	struct dm_record rec;
	make_report(&r, "id-abort", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	make_record(&rec, 1, 3, "pass");
	assert_int_equal(store_record_add(st, &r, &rec, NULL, 0), 0);
	store_tx_abort(st);
	dm_report_free(&r);
	assert_int_equal(store_flush(st, NULL, 0), 0);
	assert_int_equal(query_int("SELECT COUNT(*) FROM reports"), 0);
	assert_int_equal(query_int("SELECT COUNT(*) FROM records"), 0);
	assert_int_equal(query_int("SELECT COUNT(*) FROM daily"), 0);
	store_close(st);
}

static void
test_multiday(void **state)
{
	char err[256];
	struct store *st = store_open("sqlite", dir, err, sizeof err);
	struct dm_report r;
	struct dm_record rec;
	struct store_report_info info = {.archive_key = "k", .content_hash = "h", .source = "s"};
	enum store_outcome out;
	/* a range of 3 days starting mid-day */
	make_report(&r, "multi-1", 1700000000, 1700000000 + 3 * 86400); /* 2023-11-14 22:13:20 */
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	make_record(&rec, 1, 1000, "pass");
	assert_int_equal(store_record_add(st, &r, &rec, NULL, 0), 0);
	make_record(&rec, 1, 700, "pass");
	assert_int_equal(store_record_add(st, &r, &rec, NULL, 0), 0);
	r.records = 2;
	r.messages = 1700;
	assert_int_equal(store_tx_commit(st, &r, &info, &out, NULL, 0), 0);
	assert_int_equal(out, STORE_STORED);
	dm_report_free(&r);
	assert_int_equal(store_flush(st, NULL, 0), 0);
	assert_int_equal(query_int("SELECT SUM(messages) FROM daily"), 1700);
	/* 6400 s of 259200 fall on the first day: 1700 * 6400 / 259200 = 41 */
	assert_int_equal(query_int("SELECT messages FROM daily ORDER BY day LIMIT 1"), 41);
	assert_int_equal(query_int("SELECT COUNT(DISTINCT day) FROM daily"), 4);
	store_close(st);
}

/* Add n records with distinct sources (192.0.x.y from base) to the open
 * report, each of count messages. */
static void
add_sources(struct store *st, struct dm_report *r, int base, int n, int64_t count)
{
	struct dm_record rec;
	for (int i = 0; i < n; i++) {
		make_record(&rec, (unsigned char)((base + i) & 255), count, "pass");
		rec.ip[13] = (unsigned char)((base + i) >> 8);
		assert_int_equal(store_record_add(st, r, &rec, NULL, 0), 0);
		r->records++;
		r->messages += (uint64_t)count;
	}
}

/* Every rollup sums to what the kept records say. */
static void
assert_rollups_match(int64_t messages)
{
	assert_int_equal(query_int("SELECT SUM(count) FROM records"), messages);
	assert_int_equal(query_int("SELECT SUM(messages) FROM daily"), messages);
	assert_int_equal(query_int("SELECT SUM(messages) FROM src_day"), messages);
	assert_int_equal(query_int("SELECT SUM(messages) FROM day_totals"), messages);
	assert_int_equal(query_int("SELECT SUM(messages) FROM reports"), messages);
}

/* No report has a savepoint of its own: a duplicate or an aborted report
 * is undone by its range of records, and a report whose own rollup
 * overflows (more sources than DM_MAX_ROLLUP_CELLS) writes its cells
 * after a savepoint.  All of it inside one batch, next to stored reports
 * whose cells wait in the batch's rollup. */
static void
test_batch_rollup_and_undo(void **state)
{
	char err[256];
	struct store *st = store_open("sqlite", dir, err, sizeof err);
	assert_non_null(st);
	struct store_report_info info = {.archive_key = "k", .content_hash = "h", .source = "s"};
	enum store_outcome out;
	struct dm_report r;
	int huge = DM_MAX_ROLLUP_CELLS + 100;

	/* two reports of one reporter, same sources and day: their cells
	 * are summed in the batch, one daily and src_day row per source */
	make_report(&r, "b-1", 1700006400, 1700092799);
	assert_int_equal(write_report(st, &r, 4, 10), STORE_STORED);
	dm_report_free(&r);
	make_report(&r, "b-2", 1700006400, 1700092799);
	assert_int_equal(write_report(st, &r, 4, 5), STORE_STORED);
	dm_report_free(&r);

	/* a huge report aborted half way: its overflowed cells were
	 * written after a savepoint and go with it */
	make_report(&r, "b-huge-aborted", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_sources(st, &r, 1000, huge, 7);
	store_tx_abort(st);
	dm_report_free(&r);

	/* a huge report that is stored already (b-1): claimed at its first
	 * record, a duplicate, none of its rows written */
	make_report(&r, "b-1", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_sources(st, &r, 1000, huge, 7);
	assert_int_equal(store_tx_commit(st, &r, &info, &out, NULL, 0), 0);
	assert_int_equal(out, STORE_DUPLICATE);
	dm_report_free(&r);

	/* a record before the identity is known is refused (ingest keeps
	 * such records until it is) */
	struct dm_record rec;
	make_report(&r, NULL, 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	make_record(&rec, 1, 5, "pass");
	assert_int_equal(store_record_add(st, &r, &rec, NULL, 0), DM_EINVAL);
	store_tx_abort(st);
	dm_report_free(&r);

	/* a huge report that is stored: overflowed cells and the rest */
	make_report(&r, "b-huge", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_sources(st, &r, 1000, huge, 2);
	assert_int_equal(store_tx_commit(st, &r, &info, &out, NULL, 0), 0);
	assert_int_equal(out, STORE_STORED);
	dm_report_free(&r);

	assert_int_equal(store_flush(st, NULL, 0), 0);
	assert_int_equal(query_int("SELECT COUNT(*) FROM reports"), 3);
	assert_int_equal(query_int("SELECT COUNT(*) FROM records"), 8 + huge);
	assert_rollups_match(60 + 2 * (int64_t)huge);
	/* b-1 and b-2 share their 4 sources: 4 daily rows for them */
	assert_int_equal(query_int("SELECT COUNT(*) FROM daily"), 4 + huge);
	assert_int_equal(query_int("SELECT COUNT(*) FROM src_day"), 4 + huge);
	assert_int_equal(query_int("SELECT messages FROM daily WHERE records = 2 LIMIT 1"), 15);
	assert_int_equal(query_int("SELECT COUNT(*) FROM day_totals"), 2); /* dkim pass, fail */
	store_close(st);
}

/* Add n records with distinct sources from base (as add_sources), each
 * with the enrichment e. */
static void
add_enriched(struct store *st, struct dm_report *r, int base, int n,
             const struct dm_enrichment *e)
{
	struct dm_record rec;
	for (int i = 0; i < n; i++) {
		make_record(&rec, (unsigned char)((base + i) & 255), 1, "pass");
		rec.ip[13] = (unsigned char)((base + i) >> 8);
		rec.enr = e;
		assert_int_equal(store_record_add(st, r, &rec, NULL, 0), 0);
		r->records++;
		r->messages++;
	}
}

static void
commit_report(struct store *st, struct dm_report *r)
{
	struct store_report_info info = {.archive_key = "k", .content_hash = "h", .source = "s"};
	enum store_outcome out;
	assert_int_equal(store_tx_commit(st, r, &info, &out, NULL, 0), 0);
	assert_int_equal(out, STORE_STORED);
	dm_report_free(r);
	assert_int_equal(store_flush(st, NULL, 0), 0);
}

/* The ips table: a row per source with its latest enrichment.  A source
 * that comes back with the same enrichment is not written again (a row
 * changed behind the writer's back stays so), a changed one is; and the
 * rows a rolled-back savepoint took back are written when their sources
 * come again, though the writer had written them once. */
static void
test_ips_rows(void **state)
{
	char err[256];
	struct store *st = store_open("sqlite", dir, err, sizeof err);
	assert_non_null(st);
	struct dm_enrichment e = {.ptr_state = DM_PTR_NONE, .asn = 64500, .as_org = "Example Org",
	                          .country = "DE"};
	struct dm_report r;

	make_report(&r, "i-1", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_enriched(st, &r, 1, 3, &e);
	commit_report(st, &r);
	assert_int_equal(query_int("SELECT COUNT(*) FROM ips WHERE asn = 64500 AND country = 'DE'"
	                           " AND as_name = 'Example Org' AND ptr_state = 3"),
	                 3);

	query_int("UPDATE ips SET asn = 1");
	make_report(&r, "i-2", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_enriched(st, &r, 1, 3, &e);
	commit_report(st, &r);
	assert_int_equal(query_int("SELECT COUNT(*) FROM ips WHERE asn = 1"), 3);

	struct dm_enrichment e2 = e;
	e2.asn = 64501;
	make_report(&r, "i-3", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_enriched(st, &r, 1, 1, &e2);
	commit_report(st, &r);
	assert_int_equal(query_int("SELECT COUNT(*) FROM ips WHERE asn = 64501"), 1);
	assert_int_equal(query_int("SELECT COUNT(*) FROM ips WHERE asn = 1"), 2);

	/* enough sources for the report's savepoint (its own rollup
	 * overflows) and for a write of ips after it, then aborted */
	int n = DM_MAX_ROLLUP_CELLS + 2 * DM_ENRICH_BATCH_IPS;
	make_report(&r, "i-aborted", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_enriched(st, &r, 1000, n, &e);
	store_tx_abort(st);
	dm_report_free(&r);
	make_report(&r, "i-again", 1700006400, 1700092799);
	assert_int_equal(store_tx_begin(st, 0, NULL, 0), 0);
	add_enriched(st, &r, 1000, n, &e);
	commit_report(st, &r);
	assert_int_equal(query_int("SELECT COUNT(*) FROM ips"), 3 + n);
	assert_int_equal(query_int("SELECT COUNT(*) FROM ips WHERE asn = 64500"), n);
	store_close(st);
}

static int
flush_count(void *arg, struct rollup *r)
{
	uint64_t *sum = arg;
	for (size_t i = 0; i < r->n; i++)
		*sum += rollup_cell(r, i)->messages;
	return 0;
}

static void
test_rollup_exact_and_bounded(void **state)
{
	struct rollup r;
	struct dm_record rec;
	uint64_t flushed = 0;
	rollup_init(&r, DM_MAX_ROLLUP_CELLS);
	/* 50,000 distinct sources: the table flushes instead of growing */
	for (int i = 0; i < 50000; i++) {
		make_record(&rec, (unsigned char)(i & 255), 3, "pass");
		rec.ip[13] = (unsigned char)(i >> 8);
		assert_int_equal(rollup_add(&r, 86400, 2 * 86400 - 1, &rec, flush_count, &flushed), 0);
		assert_true(r.n <= DM_MAX_ROLLUP_CELLS);
	}
	assert_int_equal(flush_count(&flushed, &r), 0);
	assert_int_equal(flushed, 150000);
	rollup_clear(&r);

	/* a count spread over days adds up exactly */
	flushed = 0;
	make_record(&rec, 1, 1000003, "fail");
	assert_int_equal(rollup_add(&r, 1000, 1000 + 5 * 86400 + 17, &rec, flush_count, &flushed),
			 0);
	assert_int_equal(r.n, 6);
	assert_int_equal(flush_count(&flushed, &r), 0);
	assert_int_equal(flushed, 1000003);

	int64_t first, nd;
	rollup_days(86400, 2 * 86400, &first, &nd); /* end at midnight: one day */
	assert_int_equal(first, 86400);
	assert_int_equal(nd, 1);
	rollup_days(0, 400LL * 86400, &first, &nd); /* absurd: one day */
	assert_int_equal(nd, 1);
	rollup_free(&r);
}

/* Reads see what their scope allows, decided in the store: an account
 * its own reports, the admin all (the unclaimed too); a scope that sees
 * nothing is refused before any query. */
static int
count_domains(void *arg, const struct store_domain_row *r)
{
	(*(int *)arg)++;
	assert_string_equal(r->domain, "example.com");
	return 0;
}

static void
test_scoped_reads(void **state)
{
	char err[256];
	struct store *st = store_open("sqlite", dir, err, sizeof err);
	assert_non_null(st);
	struct dm_report a, b, u;
	make_report(&a, "acct-1", 1700006400, 1700092799);
	make_report(&b, "acct-2", 1700006400, 1700092799);
	make_report(&u, "unclaimed", 1700006400, 1700092799);
	assert_int_equal(write_report_for(st, &a, 2, 10, 1), STORE_STORED);
	assert_int_equal(write_report_for(st, &b, 3, 100, 2), STORE_STORED);
	assert_int_equal(write_report_for(st, &u, 1, 1000, 0), STORE_STORED);
	assert_int_equal(store_flush(st, NULL, 0), 0);

	struct store_reader *rd = store_reader_open(st, err, sizeof err);
	assert_non_null(rd);
	struct store_filter f = {.domain = "example.com", .from = STORE_OPEN, .to = STORE_OPEN};
	struct store_counts c;
	uint64_t reports;
	struct store_scope one = {.account = 1}, two = {.account = 2}, admin = {.admin = 1},
			   other = {.account = 3}, none = {.account = 0};
	assert_int_equal(store_summary(&one, rd, &f, &reports, &c), 0);
	assert_int_equal(c.messages, 20);
	assert_int_equal(reports, 1);
	assert_int_equal(store_summary(&two, rd, &f, &reports, &c), 0);
	assert_int_equal(c.messages, 300);
	assert_int_equal(store_summary(&admin, rd, &f, &reports, &c), 0);
	assert_int_equal(c.messages, 1320);
	assert_int_equal(reports, 3);
	/* an account without data there: as if the domain did not exist */
	assert_int_equal(store_summary(&other, rd, &f, &reports, &c), DM_ENOTFOUND);
	struct store_filter nosuch = {.domain = "nosuch.example", .from = STORE_OPEN,
				      .to = STORE_OPEN};
	assert_int_equal(store_summary(&admin, rd, &nosuch, &reports, &c), DM_ENOTFOUND);
	/* account 0 is the admin's only; no scope, no query */
	assert_int_equal(store_summary(&none, rd, &f, &reports, &c), DM_EINVAL);
	assert_int_equal(store_summary(NULL, rd, &f, &reports, &c), DM_EINVAL);
	int n = 0;
	assert_int_equal(store_domains(&other, rd, count_domains, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_domains(&one, rd, count_domains, &n), 0);
	assert_int_equal(n, 1);
	store_reader_close(rd);
	dm_report_free(&a);
	dm_report_free(&b);
	dm_report_free(&u);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scoped_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiday, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_rollup_and_undo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ips_rows, setup, teardown),
		cmocka_unit_test(test_rollup_exact_and_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
