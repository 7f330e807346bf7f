/*
 * rollup.c - in-memory daily rollup with a bounded open-addressing table.
 *
 * Functions: rollup_init, rollup_free, rollup_clear, rollup_add, rollup_sort,
 * rollup_days.
 */
#include "rollup.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/limits.h"
#include "common/xalloc.h"

#define DAY 86400

void
rollup_init(struct rollup *r)
{
	r->cap = 1;
	while (r->cap < 2 * (size_t)DM_MAX_ROLLUP_CELLS)
		r->cap <<= 1;
	r->cells = xcalloc(r->cap, sizeof *r->cells);
	r->used = xcalloc(DM_MAX_ROLLUP_CELLS, sizeof *r->used);
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

static int
add_cell(struct rollup *r, int64_t day, const struct dm_record *rec, uint64_t messages,
	 rollup_flush_fn flush, void *arg)
{
	int dkim = rec->dkim && strcmp(rec->dkim, "pass") == 0;
	int spf = rec->spf && strcmp(rec->spf, "pass") == 0;
	const char *hf = rec->header_from ? rec->header_from : "";
	const char *disp = rec->disposition ? rec->disposition : "";
	uint32_t h = 2166136261u;
	h = fnv(h, &day, sizeof day);
	h = fnv(h, rec->ip, sizeof rec->ip);
	h = fnv(h, hf, strlen(hf));
	h = fnv(h, disp, strlen(disp));
	h = fnv(h, &dkim, sizeof dkim);
	h = fnv(h, &spf, sizeof spf);
	size_t mask = r->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct rollup_cell *c = &r->cells[i];
		if (!c->used) {
			if (r->n >= DM_MAX_ROLLUP_CELLS) {
				int rc = flush(arg, r);
				if (rc)
					return rc;
				rollup_clear(r);
				return add_cell(r, day, rec, messages, flush, arg);
			}
			c->used = 1;
			c->hash = h;
			c->day = day;
			memcpy(c->ip, rec->ip, sizeof c->ip);
			c->ip_family = rec->ip_family;
			c->header_from = dm_arena_strndup(&r->arena, hf, strlen(hf));
			c->disposition = dm_arena_strndup(&r->arena, disp, strlen(disp));
			c->dkim_pass = dkim;
			c->spf_pass = spf;
			c->messages = messages;
			c->records = 1;
			r->used[r->n++] = i;
			return 0;
		}
		if (c->hash == h && c->day == day && c->dkim_pass == dkim && c->spf_pass == spf &&
		    c->ip_family == rec->ip_family && memcmp(c->ip, rec->ip, sizeof c->ip) == 0 &&
		    streq(c->header_from, hf) && streq(c->disposition, disp)) {
			c->messages += messages;
			c->records++;
			return 0;
		}
	}
}

static int
cell_cmp(const struct rollup_cell *a, const struct rollup_cell *b)
{
	int c = memcmp(a->ip, b->ip, sizeof a->ip);
	if (c)
		return c;
	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	c = strcmp(a->header_from, b->header_from);
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
		return add_cell(r, first, rec, count, flush, arg);
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
		int rc = add_cell(r, ds, rec, part, flush, arg);
		if (rc)
			return rc;
	}
	return 0;
}
