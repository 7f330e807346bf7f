/*
 * advise.h - the rollout advice of a domain (`dmarcd advise`, docs/ADVICE.md):
 * from the stored records of its last days, the share of messages that
 * pass DMARC, the failing volume split into known services that need a
 * fix (naming the fix), forwarders and mailing lists, and unknown
 * sources; and the next safe step of its policy (p=none -> quarantine ->
 * reject, then sp, then np) with the exact record to publish, or what
 * blocks it.
 *
 * Fed record by record (store_export), then finished once: the sources
 * are kept in a table bounded by DM_ADVISE_MAX_SOURCES (past it, their
 * messages count in the totals and as "not analysed").  Not thread-safe;
 * one advisor per question.
 */
#ifndef DM_DNS_ADVISE_H
#define DM_DNS_ADVISE_H

#include <stdint.h>
#include <stdio.h>

#include "core/report.h"
#include "store/store.h"

struct dm_services;
struct dm_json;
struct dm_advisor;

/* A new advisor for domain (lower case, checked), over [from, to] (unix
 * times of the first and last day, for the output). */
struct dm_advisor *dm_advisor_new(const char *domain, int64_t from, int64_t to);
void dm_advisor_free(struct dm_advisor *a);

/* One exported record of the domain's reports (a store_export callback:
 * arg is the advisor).  Always 0. */
int dm_advisor_add(void *arg, const struct store_report_row *r, const struct dm_record *rec);

/* Classify the sources (their stored enrichment from rd: may be NULL;
 * the services of svc: may be NULL) and decide the next step; rua: the
 * domain's report addresses for the record (n of them).  0, or the
 * store's error (in rd). */
int dm_advisor_finish(struct dm_advisor *a, struct store_reader *rd,
                      const struct dm_services *svc, const char *const *rua, size_t nrua);

/* The reports fed. */
uint64_t dm_advisor_reports(const struct dm_advisor *a);
/* Is the next step safe (or none is left)? */
int dm_advisor_safe(const struct dm_advisor *a);

void dm_advisor_json(const struct dm_advisor *a, struct dm_json *j);
void dm_advisor_text(const struct dm_advisor *a, FILE *out);

#endif
