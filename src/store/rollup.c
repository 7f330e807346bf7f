/*
 * rollup.c - in-memory daily rollup with a bounded open-addressing table.
 *
 * Functions: rollup_init, rollup_free, rollup_clear, rollup_add, rollup_merge,
 * rollup_sort, rollup_days.
 */
#include "rollup.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/limits.h"
#include "common/xalloc.h"

#define DAY 86400

void
rollup_init(struct rollup *r, size_t max_cells)
{
	r->cap = 1;
	while (r->cap < 2 * max_cells)
		r->cap <<= 1;
	r->max = max_cells;
	r->cells = xcalloc(r->cap, sizeof *r->cells);
	r->used = xcalloc(max_cells, sizeof *r->used);
	r->n = 0;
	dm_arena_init(&r->arena);
}

void
rollup_free(struct rollup *r)
{
	free(r->cells);
	free(r->used);
	r->cells = NULL;
	r->used = NULL;
	dm_arena_free(&r->arena);
}

void
rollup_clear(struct rollup *r)
{
	/* only the used cells: clearing the whole table per report would
	 * cost more than the report */
	for (size_t i = 0; i < r->n; i++)
		r->cells[r->used[i]].used = 0;
	r->n = 0;
	dm_arena_reset(&r->arena);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void
rollup_days(int64_t begin, int64_t end, int64_t *first_day, int64_t *ndays)
{
	int64_t d0 = floor_div(begin, DAY);
	int64_t d1 = end > begin ? floor_div(end - 1, DAY) : d0;
	*first_day = d0 * DAY;
	*ndays = d1 - d0 + 1;
	if (*ndays > DM_MAX_REPORT_DAYS)
		*ndays = 1;
}

static uint32_t
fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

static int
streq(const char *a, const char *b)
{
	return (a == b) || (a && b && strcmp(a, b) == 0);
}

/* The key of a cell and what it adds. */
struct cell_add {
	const char *domain, *reporter;
	int64_t account, day;
	const unsigned char *ip;
	int ip_family;
	const char *header_from, *disposition;
	int dkim_pass, spf_pass;
	uint64_t messages, records;
};

static int
add_cell(struct rollup *r, const struct cell_add *k, rollup_flush_fn flush, void *arg)
{
	uint32_t h = 2166136261u;
	h = fnv(h, k->domain, strlen(k->domain));
	h = fnv(h, k->reporter, strlen(k->reporter));
	h = fnv(h, &k->account, sizeof k->account);
	h = fnv(h, &k->day, sizeof k->day);
	h = fnv(h, k->ip, 16);
	h = fnv(h, k->header_from, strlen(k->header_from));
	h = fnv(h, k->disposition, strlen(k->disposition));
	h = fnv(h, &k->dkim_pass, sizeof k->dkim_pass);
	h = fnv(h, &k->spf_pass, sizeof k->spf_pass);
	size_t mask = r->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct rollup_cell *c = &r->cells[i];
		if (!c->used) {
			if (r->n >= r->max) {
				int rc = flush(arg, r);
				if (rc)
					return rc;
				rollup_clear(r);
				return add_cell(r, k, flush, arg);
			}
			c->used = 1;
			c->hash = h;
			c->domain = dm_arena_strndup(&r->arena, k->domain, strlen(k->domain));
			c->reporter = dm_arena_strndup(&r->arena, k->reporter, strlen(k->reporter));
			c->account = k->account;
			c->day = k->day;
			memcpy(c->ip, k->ip, sizeof c->ip);
			c->ip_family = k->ip_family;
			c->header_from =
			        dm_arena_strndup(&r->arena, k->header_from, strlen(k->header_from));
			c->disposition =
			        dm_arena_strndup(&r->arena, k->disposition, strlen(k->disposition));
			c->dkim_pass = k->dkim_pass;
			c->spf_pass = k->spf_pass;
			c->messages = k->messages;
			c->records = k->records;
			r->used[r->n++] = i;
			return 0;
		}
		if (c->hash == h && c->day == k->day && c->dkim_pass == k->dkim_pass &&
		    c->spf_pass == k->spf_pass && c->account == k->account &&
		    c->ip_family == k->ip_family && memcmp(c->ip, k->ip, sizeof c->ip) == 0 &&
		    streq(c->header_from, k->header_from) &&
		    streq(c->disposition, k->disposition) && streq(c->domain, k->domain) &&
		    streq(c->reporter, k->reporter)) {
			c->messages += k->messages;
			c->records += k->records;
			return 0;
		}
	}
}

/* Add rec's part of one day to a report's table. */
static int
add_record(struct rollup *r, int64_t day, const struct dm_record *rec, uint64_t messages,
           rollup_flush_fn flush, void *arg)
{
	struct cell_add k = {
	        .domain = "",
	        .reporter = "",
	        .day = day,
	        .ip = rec->ip,
	        .ip_family = rec->ip_family,
	        .header_from = rec->header_from ? rec->header_from : "",
	        .disposition = rec->disposition ? rec->disposition : "",
	        .dkim_pass = rec->dkim && strcmp(rec->dkim, "pass") == 0,
	        .spf_pass = rec->spf && strcmp(rec->spf, "pass") == 0,
	        .messages = messages,
	        .records = 1,
	};
	return add_cell(r, &k, flush, arg);
}

int
rollup_merge(struct rollup *dst, const struct rollup_cell *c, const char *domain,
             const char *reporter, int64_t account, int no_source, rollup_flush_fn flush, void *arg)
{
	static const unsigned char none[16];
	struct cell_add k = {
	        .domain = domain ? domain : "",
	        .reporter = reporter ? reporter : "",
	        .account = account,
	        .day = c->day,
	        .ip = no_source ? none : c->ip,
	        .ip_family = no_source ? 0 : c->ip_family,
	        .header_from = no_source ? "" : c->header_from,
	        .disposition = c->disposition,
	        .dkim_pass = c->dkim_pass,
	        .spf_pass = c->spf_pass,
	        .messages = c->messages,
	        .records = c->records,
	};
	return add_cell(dst, &k, flush, arg);
}

static int
cell_cmp(const struct rollup_cell *a, const struct rollup_cell *b)
{
	int c = strcmp(a->domain, b->domain);
	if (c)
		return c;
	c = memcmp(a->ip, b->ip, sizeof a->ip);
	if (c)
		return c;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	if (a->account != b->account)
		return a->account < b->account ? -1 : 1;
	c = strcmp(a->header_from, b->header_from);
	if (c)
		return c;
	c = strcmp(a->reporter, b->reporter);
	if (c)
		return c;
	c = strcmp(a->disposition, b->disposition);
	if (c)
		return c;
	if (a->dkim_pass != b->dkim_pass)
		return a->dkim_pass - b->dkim_pass;
	return a->spf_pass - b->spf_pass;
}

static int
used_cmp(const void *a, const void *b, void *arg)
{
	const struct rollup *r = arg;
	return cell_cmp(&r->cells[*(const size_t *)a], &r->cells[*(const size_t *)b]);
}

void
rollup_sort(struct rollup *r)
{
	qsort_r(r->used, r->n, sizeof *r->used, used_cmp, r);
}

int
rollup_add(struct rollup *r, int64_t begin, int64_t end, const struct dm_record *rec,
           rollup_flush_fn flush, void *arg)
{
	int64_t first, nd;
	rollup_days(begin, end, &first, &nd);
	uint64_t count = (uint64_t)rec->count;
	if (nd == 1 || end <= begin)
		return add_record(r, first, rec, count, flush, arg);
	/* spread by seconds covered, with cumulative rounding so the parts
	 * add up to count exactly */
	unsigned __int128 total = (unsigned __int128)(end - begin);
	unsigned __int128 cum = 0;
	uint64_t given = 0;
	for (int64_t k = 0; k < nd; k++) {
		int64_t ds = first + k * DAY, de = ds + DAY;
		int64_t lo = begin > ds ? begin : ds;
		int64_t hi = end < de ? end : de;
		if (hi > lo)
			cum += (unsigned __int128)(hi - lo);
		uint64_t upto = (uint64_t)((unsigned __int128)count * cum / total);
		if (k == nd - 1)
			upto = count;
		uint64_t part = upto - given;
		given = upto;
		if (part == 0)
			continue;
		int rc = add_record(r, ds, rec, part, flush, arg);
		if (rc)
			return rc;
	}
	return 0;
}
