/*
 * enrich.h - who a source address is: its reverse DNS name (confirmed
 * forward), the registrable domain of that name, its AS number and
 * organisation, its country, and the sending service (docs/ENRICH.md).
 *
 * struct dm_enrich_shared holds what every thread reads: the MMDB files
 * (libmaxminddb, opened once, read-only), the service map, and the
 * reverse-DNS thread with its table of addresses.  struct dm_enricher is
 * one ingest thread's: its budget of waiting.
 *
 * Reverse DNS is asynchronous: dm_enricher_prefetch queues the question,
 * dm_enricher_settle waits for the answers (up to a deadline, never
 * cancelling), and dm_enricher_get gives what is known now.  A name is kept only when
 * the name's own address records contain the address (forward-confirmed
 * reverse DNS): anyone can publish any PTR name for their own address,
 * so an unconfirmed name says nothing about who sent.
 */
#ifndef DM_ENRICH_ENRICH_H
#define DM_ENRICH_ENRICH_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

enum dm_ptr_state {
	DM_PTR_UNKNOWN,     /* not asked, or no answer yet */
	DM_PTR_CONFIRMED,   /* ptr holds the confirmed name */
	DM_PTR_UNCONFIRMED, /* a name whose addresses do not include the source */
	DM_PTR_NONE,        /* no PTR record */
	DM_PTR_FAILED       /* the DNS failed or timed out */
};

struct dm_enrichment {
	enum dm_ptr_state ptr_state;
	char ptr[256];         /* the confirmed name, "" otherwise */
	char base_domain[256]; /* its registrable domain (Public Suffix List) */
	uint32_t asn;          /* 0: unknown */
	char as_org[DM_ENRICH_ORG_MAX + 1];
	char country[3]; /* ISO 3166 alpha-2, "" unknown */
	/* the record's sending service: by reverse name, then by the
	 * record's passing DKIM domains, then by AS; NULL: unknown.  The
	 * strings live as long as the shared state. */
	const char *service;
	const char *service_type; /* "mailbox", "esp", ... */
	/* the address's own: by reverse name or AS only, the same for every
	 * record of the source (what the ips table keeps) */
	const char *ip_service, *ip_service_type;
};

struct dm_enrich_conf {
	const char *asn_db;     /* MMDB path, "" none */
	const char *country_db; /* MMDB path, "" none */
	const char *services;   /* data/services.conf, "" none */
	int rdns;               /* ask PTRs */
	const char *resolver;   /* as the resolver setting */
	int timeout_ms;
	long rate; /* sources asked per second at most (0: DM_ENRICH_RDNS_RATE) */
};

struct dm_enrich_shared;
struct dm_enricher;

/* NULL with err set when a file cannot be read. */
struct dm_enrich_shared *dm_enrich_shared_new(const struct dm_enrich_conf *c, char *err,
                                              size_t errlen);
void dm_enrich_shared_free(struct dm_enrich_shared *s);

/* One per thread; NULL with err when the resolver cannot be made. */
struct dm_enricher *dm_enricher_new(struct dm_enrich_shared *s, char *err, size_t errlen);
void dm_enricher_free(struct dm_enricher *e);

/* Ask ip's reverse name unless known or asked (ip: 16 bytes, IPv4
 * mapped). Sends; never waits. */
void dm_enricher_prefetch(struct dm_enricher *e, const unsigned char ip[16]);
/* Wait for the answers until none is outstanding or deadline_ms
 * (monotonic) passes, within the enricher's budget: in all at most
 * DM_ENRICH_WAIT_SHARE percent of the time since its first record (plus
 * one report's DM_ENRICH_REPORT_WAIT_MS); questions left stay asked. */
void dm_enricher_settle(struct dm_enricher *e, int64_t deadline_ms);
/* The same without the budget (dmarcd reenrich). */
void dm_enricher_wait(struct dm_enricher *e, int64_t deadline_ms);
/* Can the names asked now be answered within a report's deadline (the
 * queue is shorter than the pace asks in that time)? */
int dm_enricher_keeping_up(const struct dm_enricher *e);
/* Questions asked and not yet answered. */
size_t dm_enricher_pending(const struct dm_enricher *e);

/* What is known of ip now (dkim_domains: the d= of the record's DKIM
 * results, to name a service when the name does not). */
void dm_enricher_get(struct dm_enricher *e, const unsigned char ip[16],
                     const char *const *dkim_domains, size_t ndkim, struct dm_enrichment *out);

/* The shared state the configuration asks for: NULL with err "" when
 * enrich = off; NULL with err set when a file it names cannot be read
 * (a default file that is not there is left out, said in *note). */
struct dm_config;
struct dm_enrich_shared *dm_enrich_from_config(const struct dm_config *cfg, char *note,
                                               size_t notelen, char *err, size_t errlen);

/* Are reverse names asked? */
/* The service map of s (NULL: none loaded). */
const struct dm_services *dm_enrich_services(const struct dm_enrich_shared *s);
int dm_enrich_rdns(const struct dm_enrich_shared *s);

/* What the shared state has: for logs and `dmarcd config check`. */
void dm_enrich_describe(const struct dm_enrich_shared *s, char *out, size_t outlen);

#endif
