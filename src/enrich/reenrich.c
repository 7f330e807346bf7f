/*
 * reenrich.c - the enrichment of a domain's stored sources made again
 * (reenrich.h).
 *
 * The sources come from the API's reads (store_sources, in address
 * order), a chunk of DM_REENRICH_CHUNK at a time: their reverse names are
 * asked all at once and awaited for three question timeouts (two tries,
 * the second twice as long), then the chunk is written in one
 * store_reenrich.  Memory is the chunk, whatever the number of sources.
 *
 * Functions: dm_reenrich_domain.  Logs nothing.
 */
#include "enrich/reenrich.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/xalloc.h"
#include "core/report.h"
#include "dns/resolver.h"
#include "enrich/enrich.h"
#include "store/store.h"

struct chunk {
	unsigned char (*ip)[16];
	size_t n;
	int missing;
	uint64_t seen;
};

static int
source_row(void *arg, const struct store_source_row *r)
{
	struct chunk *c = arg;
	c->seen++;
	if (c->missing && r->info.known && r->info.ptr_state != DM_PTR_UNKNOWN &&
	    r->info.ptr_state != DM_PTR_FAILED)
		return 0;
	memcpy(c->ip[c->n++], r->ip, 16);
	return 0;
}

static int
is_v4(const unsigned char ip[16])
{
	static const unsigned char pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(ip, pre, 12) == 0;
}

/* Enrich the chunk's sources and write them. */
static int
redo(struct dm_enricher *en, struct store *st, const char *domain, int64_t since, struct chunk *c,
     int timeout_ms, struct dm_reenrich_totals *t, char *err, size_t errlen)
{
	if (c->n == 0)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		dm_enricher_prefetch(en, c->ip[i]);
	dm_enricher_wait(en, dm_dns_now_ms() + 3 * (int64_t)timeout_ms + 1000);
	struct dm_record *recs = xcalloc(c->n, sizeof *recs);
	struct dm_enrichment *e = xcalloc(c->n, sizeof *e);
	for (size_t i = 0; i < c->n; i++) {
		dm_enricher_get(en, c->ip[i], NULL, 0, &e[i]);
		memcpy(recs[i].ip, c->ip[i], 16);
		recs[i].ip_family = is_v4(c->ip[i]) ? 4 : 6;
		recs[i].enr = &e[i];
		t->sources++;
		t->confirmed += e[i].ptr_state == DM_PTR_CONFIRMED;
		t->unconfirmed += e[i].ptr_state == DM_PTR_UNCONFIRMED;
		t->none += e[i].ptr_state == DM_PTR_NONE;
		t->failed += e[i].ptr_state == DM_PTR_FAILED;
		t->unknown += e[i].ptr_state == DM_PTR_UNKNOWN;
		t->with_service += e[i].service != NULL;
	}
	int rc = store_reenrich(st, domain, since, recs, c->n, err, errlen);
	free(recs);
	free(e);
	c->n = 0;
	return rc;
}

int
dm_reenrich_domain(struct dm_enricher *en, struct store *st, struct store_reader *rd,
                   const char *domain, int64_t since, int missing, int timeout_ms,
                   uint64_t *sources, struct dm_reenrich_totals *t, char *err, size_t errlen)
{
	struct store_scope admin = {.account = 0, .admin = 1};
	struct store_filter f = {.domain = domain,
	                         .from = since == INT64_MIN ? STORE_OPEN : since,
	                         .to = STORE_OPEN};
	struct chunk c = {.ip = xcalloc(DM_REENRICH_CHUNK, 16), .missing = missing};
	uint64_t total = 0;
	int rc = 0;
	for (unsigned off = 0;;) {
		/* a page never fills more than the room left in the chunk */
		unsigned room = (unsigned)(DM_REENRICH_CHUNK - c.n);
		uint64_t before = c.seen;
		rc = store_sources(&admin, rd, &f, STORE_SORT_IP, room, off, &total, source_row,
		                   &c);
		if (rc) {
			snprintf(err, errlen, "%s", store_reader_error(rd));
			break;
		}
		off += (unsigned)(c.seen - before);
		int last = off >= total || c.seen == before;
		if (c.n == DM_REENRICH_CHUNK || last)
			rc = redo(en, st, domain, since, &c, timeout_ms, t, err, errlen);
		if (rc || last)
			break;
	}
	*sources = total;
	free(c.ip);
	return rc;
}
