/*
 * spf_record.h - an SPF record (RFC 7208) read term by term, without DNS:
 * its mechanisms and modifiers, the DNS lookups its own terms cost, and
 * every problem its text shows.  What needs the DNS (the lookup count
 * over includes and redirects, void lookups, several records) is for
 * `dmarcd record check`.
 */
#ifndef DM_DNS_SPF_RECORD_H
#define DM_DNS_SPF_RECORD_H

#include <stddef.h>

#include "common/limits.h"
#include "dns/dmarc_record.h"

enum dm_spf_kind {
	DM_SPF_ALL,
	DM_SPF_INCLUDE,
	DM_SPF_A,
	DM_SPF_MX,
	DM_SPF_PTR,
	DM_SPF_IP4,
	DM_SPF_IP6,
	DM_SPF_EXISTS,
	DM_SPF_REDIRECT,
	DM_SPF_EXP,
	DM_SPF_UNKNOWN_MODIFIER
};

struct dm_spf_term {
	enum dm_spf_kind kind;
	char qualifier;                  /* + - ~ ? (mechanisms; '+' when none written) */
	char value[DM_SPF_MAX_TERM + 1]; /* after ':' or '=', with any cidr; "" when none */
	int lookup;                      /* costs a DNS lookup (RFC 7208 §4.6.4) */
};

struct dm_spf_record {
	int is_spf; /* begins with v=spf1 */
	int valid;  /* no finding of severity error */
	struct dm_spf_term terms[DM_SPF_MAX_TERMS];
	size_t nterms;
	int lookups; /* the DNS lookups of this record's own terms */
	struct dm_finding findings[DM_DMARC_MAX_FINDINGS];
	size_t nfindings, nerrors;
	int findings_dropped;
};

/* Read text (len bytes; the TXT strings of one record already joined). */
void dm_spf_record_parse(const char *text, size_t len, struct dm_spf_record *r);

/* The name of a term's kind: "all", "include", ..., "redirect", "exp". */
const char *dm_spf_kind_name(enum dm_spf_kind k);

/* r as one JSON object: is_spf, valid, lookups, terms, findings. */
void dm_spf_record_json(const struct dm_spf_record *r, struct dm_json *j);

#endif
