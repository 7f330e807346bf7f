/*
 * reenrich.h - the enrichment of stored sources made again
 * (docs/ENRICH.md): by `dmarcd reenrich`, and by `dmarcd serve` every
 * few minutes for the reverse names that missed their report's deadline.
 */
#ifndef DM_ENRICH_REENRICH_H
#define DM_ENRICH_REENRICH_H

#include <stddef.h>
#include <stdint.h>

struct dm_enricher;
struct store;
struct store_reader;

struct dm_reenrich_totals {
	uint64_t sources; /* enriched again */
	uint64_t confirmed, unconfirmed, none, failed, unknown, with_service;
};

/* The sources of domain in its reports that end on since or later (a day,
 * unix seconds; INT64_MIN for all), read page by page through rd (admin
 * scope), asked DM_REENRICH_CHUNK at a time, and written with
 * store_reenrich; with missing, only those whose reverse name is not
 * known.  *sources: the domain's sources in that range; t: added to.
 * 0, or a DM_E* code with err set. */
int dm_reenrich_domain(struct dm_enricher *en, struct store *st, struct store_reader *rd,
                       const char *domain, int64_t since, int missing, int timeout_ms,
                       uint64_t *sources, struct dm_reenrich_totals *t, char *err, size_t errlen);

#endif
