/*
 * check.h - `dmarcd record check DOMAIN`: a domain's published DMARC,
 * SPF and DKIM records read from the DNS and checked as receivers would
 * read them (../shared/SPECS.md §2.3-2.6, RFC 7208, RFC 6376).
 *
 * DMARC: the record at _dmarc.DOMAIN, and the policy that applies found
 * both ways (the Organizational Domain from the Public Suffix List, RFC
 * 7489; the DNS tree walk, RFC 9989), with a finding when they differ;
 * every rua/ruf destination outside the policy domain's Organizational
 * Domain checked for its authorization record.  SPF: every record
 * followed through include and redirect, the lookups and void lookups
 * counted, as a tree.  DKIM: the key of every selector asked for.
 *
 * The result is a struct (dm_check_run), written as JSON (dm_check_json)
 * or as text (dm_check_text).  Everything in it came from the DNS:
 * written only through the JSON writer or printed escaped.
 */
#ifndef DM_DNS_CHECK_H
#define DM_DNS_CHECK_H

#include <stdio.h>

#include "common/limits.h"
#include "dns/dkim_record.h"
#include "dns/dmarc_record.h"
#include "dns/resolver.h"
#include "dns/spf_record.h"

struct dm_json;

#define DM_CHECK_NAME 256 /* a domain name as text, with its NUL */

struct dm_check_args {
	const char *domain;
	/* DKIM selectors to check (e.g. those seen in the domain's reports) */
	const char *selectors[DM_CHECK_MAX_SELECTORS];
	size_t nselectors;
	/* the report addresses this instance has for the domain (registry):
	 * a record that sends its reports elsewhere is said so */
	const char *ours[DM_DMARC_MAX_URIS];
	size_t nours;
};

/* One place a record can be: what the DNS said and the records there. */
struct dm_check_txt {
	char name[DM_CHECK_NAME + 32];
	enum dm_dns_status dns;
	size_t nrecords; /* of the kind looked for (v=DMARC1, v=spf1, a DKIM key) */
	char *text;      /* the first of them (owned) */
	size_t len;
};

/* One discovery of the policy that applies to the domain. */
struct dm_check_discovery {
	char org[DM_CHECK_NAME];       /* the Organizational Domain found */
	char record_at[DM_CHECK_NAME]; /* the domain whose _dmarc record applies; "" none */
	char policy[16];               /* what applies to the domain itself: p, sp or "" */
	char names[8][DM_CHECK_NAME];  /* tree walk: the names asked, in order */
	size_t nnames;
};

struct dm_check_dest {
	char uri[DM_DMARC_MAX_URI + 1];
	char host[DM_CHECK_NAME];
	int ruf;                  /* from ruf= (else rua=) */
	int external;             /* outside the policy domain's Organizational Domain */
	int ours;                 /* one of this instance's addresses */
	struct dm_check_txt auth; /* external: DOMAIN._report._dmarc.HOST */
	int authorized;
	char override[DM_DMARC_MAX_URI + 1]; /* rua= of the authorization record */
};

struct dm_spf_node {
	char name[DM_CHECK_NAME];
	char via[16];                 /* "", "include", "redirect", "a", "mx", "exists", "ptr" */
	char status[16];              /* "ok", "none", "several", "loop", "too_deep", "macro",
	                                 "void", "skipped" or a DNS status */
	int lookups;                  /* counted here and below (RFC 7208 §4.6.4) */
	int voids;                    /* void lookups here and below */
	size_t answers;               /* a, mx, exists: records in the answer */
	char *record;                 /* owned; the SPF record read at name */
	struct dm_spf_record *parsed; /* owned */
	struct dm_spf_node *child, *next;
};

struct dm_check_dkim {
	char selector[64];
	struct dm_check_txt txt;
	struct dm_dkim_record *rec; /* owned; NULL when no key was read */
};

struct dm_check_finding {
	struct dm_finding f;
	char where[DM_CHECK_NAME + 16]; /* "dmarc", "spf:NAME", "dkim:SELECTOR", "rua:HOST" */
};

struct dm_check {
	char domain[DM_CHECK_NAME];
	/* DMARC */
	struct dm_check_txt dmarc;
	struct dm_dmarc_record *dmarc_rec; /* owned; the record at the domain */
	struct dm_check_discovery psl, walk;
	struct dm_dmarc_record *applied; /* owned; the record that applies, when not the domain's */
	struct dm_check_dest dests[2 * DM_DMARC_MAX_URIS];
	size_t ndests;
	/* SPF */
	struct dm_spf_node *spf;
	int spf_lookups, spf_voids;
	/* DKIM */
	struct dm_check_dkim dkim[DM_CHECK_MAX_SELECTORS];
	size_t ndkim;
	/* everything, records' own findings included */
	struct dm_check_finding *findings;
	size_t nfindings, nerrors, nwarnings;
	uint64_t queries; /* DNS questions asked (answered from the cache too) */
	int64_t took_ms;
};

/* A usable domain name, lower-cased into out (no trailing dot).  0, or
 * -1 with a reason in err. */
int dm_check_domain_name(const char *in, char out[DM_CHECK_NAME], char *err, size_t errlen);

/* The Organizational Domain of name by the Public Suffix List (the
 * system's list, or libpsl's own), into out; name itself when it is one
 * or a public suffix. */
void dm_check_org_domain(const char *name, char out[DM_CHECK_NAME]);

/* Check a->domain (already through dm_check_domain_name) into c (zeroed
 * by the caller).  Never fails: what the DNS did not answer is a finding. */
void dm_check_run(struct dm_resolver *r, const struct dm_check_args *a, struct dm_check *c);
void dm_check_free(struct dm_check *c);

/* The DKIM selectors of domain's own signatures (d= the domain) in the
 * records of the last days days the scope sees, most messages first: at
 * most DM_CHECK_MAX_SELECTORS into sel, their number into *n.  Selectors
 * come from reports (anyone's text): only those that make a DNS name are
 * kept.  0 or a DM_E* code (the reader's error says why). */
struct store_reader;
struct store_scope;
int dm_check_seen_selectors(struct store_reader *rd, const struct store_scope *sc,
                            const char *domain, int days, char sel[][64], size_t *n);

void dm_check_json(const struct dm_check *c, struct dm_json *j);
void dm_check_text(const struct dm_check *c, FILE *out);

#endif
