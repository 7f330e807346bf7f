/*
 * report.h - the in-memory model of one aggregate report and one record.
 *
 * The XML parser fills a struct dm_report (metadata and published policy,
 * complete at the end of the document) and hands each <record> over as a
 * struct dm_record, one at a time: nothing grows with the number of
 * records.  Strings live in arenas: the report's for metadata, the
 * parser's per-record arena for a record (reset after each one).
 * Enumerated values (p, disposition, results...) are kept as trimmed,
 * lower-case strings with the aliases of SPECS AGG-12 mapped; an unknown
 * value is kept as it came, with a warning, never rejected.
 */
#ifndef DM_REPORT_H
#define DM_REPORT_H

#include <stdint.h>

#include "common/limits.h"
#include "core/arena.h"

/* Bits of dm_report.have: which singletons were seen. */
enum {
	DM_HAVE_METADATA = 1 << 0,
	DM_HAVE_POLICY = 1 << 1,
	DM_HAVE_BEGIN = 1 << 2,
	DM_HAVE_END = 1 << 3,
	DM_HAVE_ORG = 1 << 4,
	DM_HAVE_REPORT_ID = 1 << 5,
	DM_HAVE_DOMAIN = 1 << 6,
	DM_HAVE_DATE_RANGE = 1 << 7,
};

struct dm_policy_published {
	const char *domain;
	const char *adkim, *aspf;	/* "r" | "s"; NULL when absent */
	const char *p, *sp, *np;	/* none | quarantine | reject */
	const char *fo;
	const char *testing;		/* "n" | "y" (RFC 9990) */
	const char *discovery_method;	/* "psl" | "treewalk" (RFC 9990) */
	int pct;			/* -1 when absent */
};

struct dm_report {
	struct dm_arena arena;
	unsigned have;
	const char *version;	/* <version> text or NULL */
	const char *xmlns;	/* namespace of <feedback>, "" for none */
	int bis;		/* RFC 9990 shaped (namespace or bis-only elements) */
	const char *org_name;
	const char *email;
	const char *extra_contact_info;
	const char *report_id;
	const char *generator;
	const char *error;	/* report_metadata/error (joined with "; ") */
	int64_t begin, end;	/* unix seconds, UTC */
	struct dm_policy_published policy;

	/* filled while parsing */
	uint64_t records;	/* records handed to the callback */
	uint64_t messages;	/* sum of their counts */
	uint64_t skipped;	/* records dropped (bad count) */
	unsigned nwarnings;
	unsigned warnings_dropped;
	const char *warnings[DM_MAX_WARNINGS];
};

struct dm_auth_dkim {
	const char *domain, *selector, *result, *human_result;
};

struct dm_auth_spf {
	const char *domain, *scope, *result, *human_result;
};

struct dm_enrichment;

struct dm_reason {
	const char *type, *comment;
};

struct dm_record {
	unsigned char ip[16];	/* IPv6, or IPv4-mapped IPv6 (::ffff:a.b.c.d) */
	int ip_family;		/* 0: missing or unparsable, 4 or 6 */
	const char *ip_text;	/* canonical text, or "" when ip_family is 0 */
	int64_t count;
	const char *disposition; /* none | quarantine | reject | pass */
	const char *dkim, *spf;	/* policy_evaluated: pass | fail */
	const char *header_from, *envelope_from, *envelope_to;
	unsigned nreasons, ndkim, nspf;
	struct dm_reason *reasons;
	struct dm_auth_dkim *dkim_res;
	struct dm_auth_spf *spf_res;
	/* who the source is (src/enrich/), set just before the record is
	 * stored; NULL: not enriched */
	const struct dm_enrichment *enr;
};

void dm_report_init(struct dm_report *r);
void dm_report_free(struct dm_report *r);
/* Empty r for the next report, keeping its arena's first block. */
void dm_report_reset(struct dm_report *r);
/* Add a warning (formatted, cut to DM_MAX_ERROR_LEN); past
 * DM_MAX_WARNINGS they are only counted. */
void dm_report_warn(struct dm_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* DMARC result of a record: pass when either aligned mechanism passed. */
int dm_record_dmarc_pass(const struct dm_record *rec);
/* Deep copy of src into dst, strings and arrays in arena a. */
void dm_record_copy(struct dm_arena *a, struct dm_record *dst,
		    const struct dm_record *src);
struct dm_json;
/* A record's override reasons, DKIM results and SPF results, each as one
 * JSON array of objects: the shape the store keeps and the API answers. */
void dm_record_reasons_json(struct dm_json *j, const struct dm_record *rec);
void dm_record_dkim_json(struct dm_json *j, const struct dm_record *rec);
void dm_record_spf_json(struct dm_json *j, const struct dm_record *rec);
/* Can a store claim the report: are its policy domain, report id, begin
 * and end known?  (The reporter may still be empty.) */
int dm_report_claimable(const struct dm_report *r);
/* That, and the reporter (org_name or email) known too: ingest hands
 * records to the store before the report's end only then. */
int dm_report_identity_known(const struct dm_report *r);
/* The reporter identity used in the duplicate key: the lower-cased
 * org_name, or the domain of email when org_name is empty. */
const char *dm_report_reporter(struct dm_report *r);

#endif
