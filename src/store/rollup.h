/*
 * rollup.h - the daily rollup of one report, built in memory.
 *
 * Dashboards read daily cells, not raw records (DESIGN.md 5).  While a
 * report is written, its records are summed into cells keyed by
 * (day, source IP, header_from, disposition, aligned DKIM, aligned SPF);
 * a record of a multi-day report is spread over its days in proportion to
 * the seconds of each day it covers (sums stay exact).  The table holds at
 * most DM_MAX_ROLLUP_CELLS cells: when full, the backend merges them into
 * the store and the table starts again, so memory stays bounded.
 */
#ifndef DM_ROLLUP_H
#define DM_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "core/arena.h"
#include "core/report.h"

struct rollup_cell {
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

void rollup_init(struct rollup *r);
void rollup_free(struct rollup *r);
void rollup_clear(struct rollup *r);
/* Add rec (of a report covering [begin, end]). */
int rollup_add(struct rollup *r, int64_t begin, int64_t end, const struct dm_record *rec,
	       rollup_flush_fn flush, void *arg) DM_WUR;

/* Put the used cells in key order (source, day, header_from, result), the
 * order of the store's daily and src_day tables, so a flush walks their
 * B-trees once instead of jumping around them. */
void rollup_sort(struct rollup *r);

/* Days covered by [begin, end] as used by rollup_add: first day and count. */
void rollup_days(int64_t begin, int64_t end, int64_t *first_day, int64_t *ndays);

#endif
