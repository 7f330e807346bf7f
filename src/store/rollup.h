/*
 * rollup.h - the daily rollup of one report, built in memory.
 *
 * Dashboards read daily cells, not raw records (DESIGN.md 5).  While a
 * report is written, its records are summed into cells keyed by
 * (day, source IP, header_from, disposition, aligned DKIM, aligned SPF);
 * a record of a multi-day report is spread over its days in proportion to
 * the seconds of each day it covers (sums stay exact).  The table holds at
 * most the cells it was made for: when full, the backend merges them into
 * the store and the table starts again, so memory stays bounded.
 *
 * A backend also keeps the cells of every report of a write batch in one
 * table whose key adds the policy domain, the reporter and the account
 * (rollup_merge): reports that share a cell then cost one upsert per batch,
 * written in key order, instead of one per report.
 */
#ifndef DM_ROLLUP_H
#define DM_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/arena.h"
#include "core/report.h"

struct rollup_cell {
	const char *domain, *reporter; /* "" in one report's table */
	int64_t account;
	int64_t day; /* unix seconds of 00:00 UTC */
	unsigned char ip[16];
	int ip_family;
	const char *header_from;
	const char *disposition;
	int dkim_pass, spf_pass;
	uint64_t messages, records;
	uint32_t hash;
	int used;
};

struct rollup {
	struct rollup_cell *cells;
	size_t cap; /* power of two, twice the cell limit */
	size_t max; /* the cell limit */
	size_t n;
	size_t *used; /* indexes of the n used cells, in insertion order */
	struct dm_arena arena;
};

/* The i-th used cell (0 <= i < r->n). */
static inline struct rollup_cell *
rollup_cell(struct rollup *r, size_t i)
{
	return &r->cells[r->used[i]];
}

/* Called when the table is full; must consume every used cell. */
typedef int (*rollup_flush_fn)(void *arg, struct rollup *r);

/* A table of at most max_cells cells. */
void rollup_init(struct rollup *r, size_t max_cells);
void rollup_free(struct rollup *r);
void rollup_clear(struct rollup *r);
/* Add rec (of a report covering [begin, end]). */
int rollup_add(struct rollup *r, int64_t begin, int64_t end, const struct dm_record *rec,
               rollup_flush_fn flush, void *arg) DM_WUR;

/* Add cell c of a report's table to dst under the report's domain, reporter
 * and account.  With no_source, the source and header_from are left out
 * (the cells of day_totals). */
int rollup_merge(struct rollup *dst, const struct rollup_cell *c, const char *domain,
                 const char *reporter, int64_t account, int no_source, rollup_flush_fn flush,
                 void *arg) DM_WUR;

/* Put the used cells in key order (domain, source, day, account,
 * header_from, reporter, result), the order of the store's daily and
 * src_day tables, so a flush walks their B-trees once instead of jumping
 * around them.  Without source and header_from it is the order of
 * day_totals. */
void rollup_sort(struct rollup *r);

/* Days covered by [begin, end] as used by rollup_add: first day and count. */
void rollup_days(int64_t begin, int64_t end, int64_t *first_day, int64_t *ndays);

#endif
