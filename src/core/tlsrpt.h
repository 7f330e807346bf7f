/*
 * tlsrpt.h - the in-memory model of one SMTP TLS report (RFC 8460).
 *
 * The TLS-RPT parser (parse/tlsrpt.h) fills a struct dm_tls_report with
 * the report's metadata and totals, and hands every policy and every
 * failure detail over one at a time (struct dm_tls_policy,
 * struct dm_tls_failure), so nothing grows with their number.  Strings
 * live in arenas: the report's for the metadata, the parser's per-item
 * arena for a policy or a failure detail (reset after each callback).
 *
 * Real reporters differ from the RFC (SPECS 3.4, 6.6): mx-host is a
 * string or a list, sending-mta-ip or policy-domain may be missing, dates
 * come without a time zone; all are read, with a warning where data is
 * missing or guessed, never rejected.
 */
#ifndef DM_TLSRPT_MODEL_H
#define DM_TLSRPT_MODEL_H

#include <stdint.h>

#include "common/limits.h"
#include "core/arena.h"

struct dm_tls_report {
	struct dm_arena arena;
	const char *org_name;     /* organization-name */
	const char *contact_info; /* contact-info */
	const char *report_id;    /* report-id */
	int64_t begin, end;       /* date-range, Unix seconds UTC */
	int have_begin, have_end;
	/* the policy-domain of the first policy that has one (NULL: none) */
	const char *policy_domain;
	/* filled while parsing */
	unsigned npolicies;                 /* policies handed to the callback
					       (counting the one in the callback) */
	uint64_t failure_details;           /* failure details handed over (same) */
	uint64_t success, failure;          /* summed over the policies' summaries */
	unsigned nwarnings;
	unsigned warnings_dropped;
	const char *warnings[DM_MAX_WARNINGS];
};

/* One entry of "policies", complete (handed over at its end). */
struct dm_tls_policy {
	unsigned index;            /* 0, 1, ... in document order */
	const char *type;          /* "sts" | "tlsa" | "no-policy-found" | other, lower case;
				      "" when absent (never NULL) */
	const char *domain;        /* policy-domain, lower case, no trailing dot; NULL: absent */
	const char *mx_host;       /* mx-host: one string, or a list joined with ", "; NULL */
	const char *policy_string; /* the policy-string lines joined with "\n"; NULL */
	uint64_t success, failure; /* the summary's session counts */
};

/* One entry of a policy's "failure-details", complete.  The failure
 * details of a policy may come before or after the policy's own fields
 * (key order is free), so a failure carries its policy's index only. */
struct dm_tls_failure {
	unsigned policy;               /* index of its policy */
	const char *result_type;       /* lower case; unknown types kept as they came;
					  "" when absent (never NULL) */
	const char *sending_mta_ip;    /* canonical text; NULL when absent or invalid */
	const char *receiving_mx_hostname, *receiving_mx_helo;
	const char *receiving_ip;      /* canonical text; NULL when absent or invalid */
	const char *additional_info;   /* additional-information (never fetched) */
	const char *failure_reason_code;
	uint64_t sessions;             /* failed-session-count */
};

void dm_tls_report_init(struct dm_tls_report *r);
void dm_tls_report_free(struct dm_tls_report *r);
/* Empty r for the next report, keeping its arena's first block. */
void dm_tls_report_reset(struct dm_tls_report *r);
void dm_tls_report_warn(struct dm_tls_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Can the store claim it: report-id, organization-name, both dates. */
int dm_tls_report_claimable(const struct dm_tls_report *r);

#endif
