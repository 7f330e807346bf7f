/*
 * floor.c - the SQLite write floor for `make bench`.
 *
 *   floor SRC.sqlite DST.sqlite
 *
 * SRC is a store that `dmarcd ingest` has just filled.  floor creates DST
 * with SRC's schema and the store's pragmas (WAL, synchronous=NORMAL, 8 MiB
 * page cache), loads every `records` row of SRC into memory, and then times
 * only the writes the schema demands for them, with nothing else around:
 *
 *   - one INSERT INTO records per record (the store's column list),
 *   - one upsert INTO daily per record (the rollup key of DESIGN.md §5:
 *     domain, source, day, account, header_from, reporter, disposition,
 *     dkim/spf pass), sorted by key within the transaction as the store does
 *     (the store sums a batch's cells first, but in the typical set every
 *     record is a key of its own, so that saves none of these upserts),
 *   - one upsert INTO src_day per record (domain, source, account, day), and
 *   - one upsert INTO day_totals per distinct key of a transaction (domain,
 *     day, account, reporter, disposition, dkim/spf pass), as the store,
 *     which sums its rollups per batch,
 *
 * in transactions of 1,000 reports, with prepared statements and no
 * parsing, MIME, archive, hashing or output.  It prints one JSON line:
 *
 *   {"records":N,"daily":N,"seconds":S,"records_per_s":R}
 *
 * This is a lower bound for the storage part of ingest: the time any
 * implementation of this schema on SQLite spends, however fast the rest is.
 * bench/run.sh sets it beside the bare expat + zlib pass so the table shows
 * how much of the ingest's time budget the storage alone already uses.
 * Single-day reports only are rolled up exactly; a multi-day report is put
 * on its first day (the floor counts upserts, not their spread).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define FLOOR_COLS 17            /* columns copied into records, as the store */
#define FLOOR_BATCH_REPORTS 1000 /* reports per transaction, as the store */

struct row {
	sqlite3_value *v[FLOOR_COLS];
	/* daily key parts */
	const unsigned char *domain, *header_from, *disposition, *reporter;
	sqlite3_value *reporter_v;
	const void *ip;
	int ip_len;
	int64_t day, count;
	int dkim_pass, spf_pass;
};

static const char cols[] = "report, account_id, policy_domain, date_begin, date_end,"
                           " source_ip, count, disposition, dkim, spf, dmarc_pass,"
                           " header_from, envelope_from, envelope_to, reasons,"
                           " dkim_results, spf_results";

static void
die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "failed");
	exit(1);
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const unsigned char *
text_or_empty(sqlite3_value *v)
{
	const unsigned char *s = sqlite3_value_text(v);

	return s != NULL ? s : (const unsigned char *)"";
}

static int
bytes_cmp(const void *a, int an, const void *b, int bn)
{
	int c = memcmp(a, b, (size_t)(an < bn ? an : bn));

	return c != 0 ? c : (an > bn) - (an < bn);
}

static int
row_cmp(const void *pa, const void *pb)
{
	const struct row *a = *(struct row *const *)pa, *b = *(struct row *const *)pb;
	int c;

	if ((c = strcmp((const char *)a->domain, (const char *)b->domain)) != 0)
		return c;
	if ((c = bytes_cmp(a->ip, a->ip_len, b->ip, b->ip_len)) != 0)
		return c;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if ((c = strcmp((const char *)a->header_from, (const char *)b->header_from)) != 0)
		return c;
	if ((c = strcmp((const char *)a->reporter, (const char *)b->reporter)) != 0)
		return c;
	if ((c = strcmp((const char *)a->disposition, (const char *)b->disposition)) != 0)
		return c;
	if (a->dkim_pass != b->dkim_pass)
		return a->dkim_pass - b->dkim_pass;
	return a->spf_pass - b->spf_pass;
}

/* The day_totals key: domain, day, reporter, disposition, dkim, spf. */
static int
totals_cmp(const void *pa, const void *pb)
{
	const struct row *a = *(struct row *const *)pa, *b = *(struct row *const *)pb;
	int c;

	if ((c = strcmp((const char *)a->domain, (const char *)b->domain)) != 0)
		return c;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if ((c = strcmp((const char *)a->reporter, (const char *)b->reporter)) != 0)
		return c;
	if ((c = strcmp((const char *)a->disposition, (const char *)b->disposition)) != 0)
		return c;
	if (a->dkim_pass != b->dkim_pass)
		return a->dkim_pass - b->dkim_pass;
	return a->spf_pass - b->spf_pass;
}

int
main(int argc, char **argv)
{
	sqlite3 *src, *dst;
	sqlite3_stmt *st, *ins, *up, *sd, *tot;
	struct row *rows = NULL, **order;
	size_t n = 0, cap = 0, i, j, start;
	int64_t daily = 0;
	double t0, secs;
	char sql[512];

	if (argc != 3) {
		fprintf(stderr, "usage: floor SRC.sqlite DST.sqlite\n");
		return 2;
	}
	if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die(src, argv[1]);
	unlink(argv[2]);
	if (sqlite3_open(argv[2], &dst) != SQLITE_OK)
		die(dst, argv[2]);
	if (sqlite3_exec(dst,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                 " PRAGMA cache_size=-8192; PRAGMA temp_store=FILE;",
	                 NULL, NULL, NULL) != SQLITE_OK)
		die(dst, "pragmas");

	/* The schema, exactly as the store made it. */
	if (sqlite3_prepare_v2(src,
	                       "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"
	                       " AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
	                       -1, &st, NULL) != SQLITE_OK)
		die(src, "schema");
	while (sqlite3_step(st) == SQLITE_ROW)
		if (sqlite3_exec(dst, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL) !=
		    SQLITE_OK)
			die(dst, "create");
	sqlite3_finalize(st);

	/* Every record, in the order ingest wrote them. */
	snprintf(sql, sizeof sql,
	         "SELECT %s, (SELECT reporter FROM reports WHERE reports.id = records.report)"
	         " FROM records ORDER BY id",
	         cols);
	if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
		die(src, "select");
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct row *r;

		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 65536;
			rows = realloc(rows, cap * sizeof *rows);
			if (rows == NULL)
				die(NULL, "out of memory");
		}
		r = &rows[n++];
		for (i = 0; i < FLOOR_COLS; i++)
			if ((r->v[i] = sqlite3_value_dup(sqlite3_column_value(st, (int)i))) == NULL)
				die(NULL, "out of memory");
		r->domain = text_or_empty(r->v[2]);
		r->day = sqlite3_value_int64(r->v[3]) / 86400;
		r->ip = sqlite3_value_blob(r->v[5]);
		r->ip_len = sqlite3_value_bytes(r->v[5]);
		if (r->ip == NULL)
			r->ip = "", r->ip_len = 0;
		r->count = sqlite3_value_int64(r->v[6]);
		r->disposition = text_or_empty(r->v[7]);
		r->dkim_pass = strcmp((const char *)text_or_empty(r->v[8]), "pass") == 0;
		r->spf_pass = strcmp((const char *)text_or_empty(r->v[9]), "pass") == 0;
		r->header_from = text_or_empty(r->v[11]);
		if ((r->reporter_v = sqlite3_value_dup(sqlite3_column_value(st, FLOOR_COLS))) == NULL)
			die(NULL, "out of memory");
		r->reporter = text_or_empty(r->reporter_v);
	}
	sqlite3_finalize(st);
	if ((order = malloc((n + 1) * sizeof *order)) == NULL)
		die(NULL, "out of memory");

	snprintf(sql, sizeof sql,
	         "INSERT INTO records(%s) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
	         "?13,?14,?15,?16,?17)",
	         cols);
	if (sqlite3_prepare_v2(dst, sql, -1, &ins, NULL) != SQLITE_OK)
		die(dst, "prepare records");
	if (sqlite3_prepare_v2(dst,
	                       "INSERT INTO daily(account_id, domain, day, source_ip, header_from,"
	                       " disposition, dkim_pass, spf_pass, messages, records, reporter)"
	                       " VALUES(0,?1,?2,?3,?4,?5,?6,?7,?8,1,?9)"
	                       " ON CONFLICT DO UPDATE SET messages = messages + excluded.messages,"
	                       " records = records + excluded.records",
	                       -1, &up, NULL) != SQLITE_OK)
		die(dst, "prepare daily");
	if (sqlite3_prepare_v2(dst,
	                       "INSERT INTO src_day(domain, source_ip, account_id, day, messages,"
	                       " dmarc_pass, spf_aligned, dkim_aligned, quarantine, reject)"
	                       " VALUES(?1,?2,0,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT DO UPDATE SET"
	                       " messages = messages + excluded.messages,"
	                       " dmarc_pass = dmarc_pass + excluded.dmarc_pass,"
	                       " spf_aligned = spf_aligned + excluded.spf_aligned,"
	                       " dkim_aligned = dkim_aligned + excluded.dkim_aligned,"
	                       " quarantine = quarantine + excluded.quarantine,"
	                       " reject = reject + excluded.reject",
	                       -1, &sd, NULL) != SQLITE_OK)
		die(dst, "prepare src_day");
	if (sqlite3_prepare_v2(dst,
	                       "INSERT INTO day_totals(account_id, domain, day, reporter,"
	                       " disposition, dkim_pass, spf_pass, messages, records)"
	                       " VALUES(0,?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT DO UPDATE SET"
	                       " messages = messages + excluded.messages,"
	                       " records = records + excluded.records",
	                       -1, &tot, NULL) != SQLITE_OK)
		die(dst, "prepare day_totals");

	t0 = now();
	for (start = 0; start < n; start = i) {
		int64_t first_report = sqlite3_value_int64(rows[start].v[0]);

		/* One transaction: the records of the next 1,000 reports. */
		for (i = start; i < n && sqlite3_value_int64(rows[i].v[0]) - first_report <
		                                 FLOOR_BATCH_REPORTS;
		     i++)
			;
		if (sqlite3_exec(dst, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			die(dst, "begin");
		for (j = start; j < i; j++) {
			for (int c = 0; c < FLOOR_COLS; c++)
				sqlite3_bind_value(ins, c + 1, rows[j].v[c]);
			if (sqlite3_step(ins) != SQLITE_DONE)
				die(dst, "insert records");
			sqlite3_reset(ins);
			order[j - start] = &rows[j];
		}
		qsort(order, i - start, sizeof *order, row_cmp);
		for (j = 0; j < i - start; j++) {
			const struct row *r = order[j];

			sqlite3_bind_text(up, 1, (const char *)r->domain, -1, SQLITE_STATIC);
			sqlite3_bind_int64(up, 2, r->day);
			sqlite3_bind_blob(up, 3, r->ip, r->ip_len, SQLITE_STATIC);
			sqlite3_bind_text(up, 4, (const char *)r->header_from, -1, SQLITE_STATIC);
			sqlite3_bind_text(up, 5, (const char *)r->disposition, -1, SQLITE_STATIC);
			sqlite3_bind_int(up, 6, r->dkim_pass);
			sqlite3_bind_int(up, 7, r->spf_pass);
			sqlite3_bind_int64(up, 8, r->count);
			sqlite3_bind_text(up, 9, (const char *)r->reporter, -1, SQLITE_STATIC);
			if (sqlite3_step(up) != SQLITE_DONE)
				die(dst, "upsert daily");
			sqlite3_reset(up);
			int pass = r->dkim_pass || r->spf_pass;
			sqlite3_bind_text(sd, 1, (const char *)r->domain, -1, SQLITE_STATIC);
			sqlite3_bind_blob(sd, 2, r->ip, r->ip_len, SQLITE_STATIC);
			sqlite3_bind_int64(sd, 3, r->day);
			sqlite3_bind_int64(sd, 4, r->count);
			sqlite3_bind_int64(sd, 5, pass ? r->count : 0);
			sqlite3_bind_int64(sd, 6, r->spf_pass ? r->count : 0);
			sqlite3_bind_int64(sd, 7, r->dkim_pass ? r->count : 0);
			sqlite3_bind_int64(sd, 8,
			                   strcmp((const char *)r->disposition, "quarantine") == 0 ? r->count : 0);
			sqlite3_bind_int64(sd, 9,
			                   strcmp((const char *)r->disposition, "reject") == 0 ? r->count : 0);
			if (sqlite3_step(sd) != SQLITE_DONE)
				die(dst, "upsert src_day");
			sqlite3_reset(sd);
		}
		/* day_totals: one upsert per distinct key of the transaction */
		qsort(order, i - start, sizeof *order, totals_cmp);
		for (j = 0; j < i - start;) {
			const struct row *r = order[j];
			int64_t messages = 0, records = 0;
			size_t k = j;

			for (; k < i - start && totals_cmp(&order[j], &order[k]) == 0; k++) {
				messages += order[k]->count;
				records++;
			}
			sqlite3_bind_text(tot, 1, (const char *)r->domain, -1, SQLITE_STATIC);
			sqlite3_bind_int64(tot, 2, r->day);
			sqlite3_bind_text(tot, 3, (const char *)r->reporter, -1, SQLITE_STATIC);
			sqlite3_bind_text(tot, 4, (const char *)r->disposition, -1, SQLITE_STATIC);
			sqlite3_bind_int(tot, 5, r->dkim_pass);
			sqlite3_bind_int(tot, 6, r->spf_pass);
			sqlite3_bind_int64(tot, 7, messages);
			sqlite3_bind_int64(tot, 8, records);
			if (sqlite3_step(tot) != SQLITE_DONE)
				die(dst, "upsert day_totals");
			sqlite3_reset(tot);
			j = k;
		}
		if (sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			die(dst, "commit");
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(up);
	sqlite3_finalize(sd);
	sqlite3_finalize(tot);
	if (sqlite3_close(dst) != SQLITE_OK)
		die(dst, "close");
	secs = now() - t0;

	if (sqlite3_open_v2(argv[2], &dst, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(dst, "SELECT COUNT(*) FROM daily", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		die(dst, "count daily");
	daily = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(dst);

	for (i = 0; i < n; i++) {
		for (int c = 0; c < FLOOR_COLS; c++)
			sqlite3_value_free(rows[i].v[c]);
		sqlite3_value_free(rows[i].reporter_v);
	}
	free(rows);
	free(order);
	sqlite3_close(src);
	printf("{\"records\":%zu,\"daily\":%" PRId64 ",\"seconds\":%.3f,\"records_per_s\":%.0f}\n",
	       n, daily, secs, secs > 0 ? (double)n / secs : 0.0);
	return 0;
}
