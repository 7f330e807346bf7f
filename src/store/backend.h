/*
 * backend.h - what the store backends' write sides share (store_sqlite.c,
 * store_pg.c): the reporter key, the JSON columns of a record and of a
 * report's warnings, and the rollup steps that do not depend on the
 * engine.  Private to src/store/.
 */
#ifndef DM_STORE_BACKEND_H
#define DM_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "core/report.h"
#include "enrich/enrich.h"
#include "store/rollup.h"

/* Valid UTF-8 of s (invalid bytes become U+FFFD) into b, with the text
 * escapes of PostgreSQL's COPY and ClickHouse's TabSeparated (backslash,
 * tab, newline, carriage return) when escape is set.  DM_ELIMIT when b is
 * full. */
int backend_text(struct dm_buf *b, const char *s, int escape) DM_WUR;
/* One field of such a row: the text, or \N for NULL; then a tab, or a
 * newline for the last. */
int backend_field(struct dm_buf *b, const char *s, int last) DM_WUR;

/* The reporter of the duplicate key, lower case, into out (the same as
 * dm_report_reporter, without its arena copy: rep is const here). */
void backend_reporter(const struct dm_report *rep, char *out, size_t outlen);

/* A record's reasons, DKIM and SPF results as three JSON arrays, one after
 * the other in json (reset first) and NUL-terminated as a whole: where
 * each starts and how long it is.  DM_ELIMIT when they do not fit. */
int backend_record_json(struct dm_buf *json, const struct dm_record *rec, size_t off[3],
                        size_t len[3]) DM_WUR;

/* The report's warnings as a JSON array of strings, NUL-terminated, in
 * json (reset first). */
int backend_warnings_json(struct dm_buf *json, const struct dm_report *rep) DM_WUR;

struct dm_tls_report;
/* A TLS report's reporter (the lower-cased organization-name, or the
 * domain of contact-info), its policy domain ("" when no policy named
 * one), the day its policies are counted on (the UTC day it begins), and
 * its warnings as a JSON array like backend_warnings_json. */
void backend_tls_reporter(const struct dm_tls_report *rep, char *out, size_t outlen);
const char *backend_tls_domain(const struct dm_tls_report *rep);
int64_t backend_tls_day(const struct dm_tls_report *rep);
int backend_tls_warnings_json(struct dm_buf *json, const struct dm_tls_report *rep) DM_WUR;

/* ---- failure reports: one row, the same columns in every backend ---- */

struct dm_failure_report;
struct store_report_info;
struct store_failure_row;

/* The columns a failure report is written with, in this order. */
#define BACKEND_FAILURE_COLS                                                                       \
	"account_id, content_hash, reported_domain, day, received_at, archive_key, source,"        \
	" feedback_type, is_arf, version, user_agent, auth_failure, delivery_result, source_ip,"   \
	" original_mail_from, original_rcpt_to, rcpt_to_count, original_envelope_id,"              \
	" reporting_mta, incidents, arrival_date, authentication_results, identity_alignment,"     \
	" dkim_domain, dkim_identity, dkim_selector, spf_dns, subject, header_from,"               \
	" header_from_domain, to_addr, message_id, date, headers, warnings"
#define BACKEND_FAILURE_NCOLS 35
/* ... and read with (store_failure_row), in this order */
#define BACKEND_FAILURE_READ                                                                       \
	"id, account_id, reported_domain, feedback_type, auth_failure, delivery_result, source_ip," \
	" original_mail_from, original_rcpt_to, reporting_mta, user_agent, identity_alignment,"    \
	" dkim_domain, dkim_selector, spf_dns, subject, header_from, header_from_domain,"          \
	" message_id, authentication_results, arrival_date, date, received_at, is_arf, headers,"  \
	" archive_key, warnings, version, dkim_identity, to_addr, incidents"
#define BACKEND_FAILURE_NREAD 31

/* Every value of the row as text (NULL: SQL NULL; numbers printed into
 * num), for the columns of BACKEND_FAILURE_COLS.  The reported domain
 * is "" when the report named none; the day is the UTC day of its
 * Arrival-Date, else of when it was received. */
struct backend_failure_vals {
	const char *v[BACKEND_FAILURE_NCOLS];
	char num[8][24];
};
void backend_failure_values(struct backend_failure_vals *fv, int64_t account_id,
			    const struct dm_failure_report *r, const char *headers,
			    const struct store_report_info *info, const char *warnings_json);
int backend_failure_warnings_json(struct dm_buf *json, const struct dm_failure_report *r) DM_WUR;
int64_t backend_failure_day(const struct dm_failure_report *r, int64_t received_at);
/* A row read back: col[i] the text of column i of BACKEND_FAILURE_READ
 * (NULL for SQL NULL); detail 0 leaves the detail fields NULL. */
void backend_failure_row(struct store_failure_row *row, const char *const *col, int detail);

/* Merge one report's rollup cells into the batch's tables (daily cells,
 * and day_totals cells without the source), flush called when one is
 * full. */
int backend_merge(const struct rollup *report, struct rollup *daily, struct rollup *totals,
                  const char *domain, const char *reporter, int64_t account, rollup_flush_fn flush,
                  void *arg) DM_WUR;

/* One source's day, summed over a run of sorted daily cells: a src_day row. */
struct backend_src_day {
	const char *domain;
	int64_t account, day;
	const unsigned char *ip;
	int ip_family;
	uint64_t messages, pass, spf, dkim, quarantine, reject;
};

/* Call fn once per source and day of daily (sorted by rollup_sort); stops
 * at fn's first non-zero return and returns it. */
int backend_src_days(struct rollup *daily, int (*fn)(void *arg, const struct backend_src_day *d),
                     void *arg) DM_WUR;

/* e's ptr, base_domain, asn, AS organisation, country and service as
 * fields of a COPY (PostgreSQL) or TabSeparated (ClickHouse) row, \N for
 * what is unknown (e NULL: all); with own, the address's own service and
 * its type instead of the record's service.  last: the row ends there.
 * DM_ELIMIT when b is full. */
int backend_enrich_fields(struct dm_buf *b, const struct dm_enrichment *e, int own,
                          int last) DM_WUR;

/* The sources of a write batch with their enrichment (rec->enr), once
 * each: the rows of the ips table, written with the batch.  A source met
 * again in the batch keeps the reverse name it had when the new one is
 * not known (asked, not answered by the report's deadline). */
struct backend_ip {
	unsigned char ip[16];
	struct dm_enrichment e;
	int64_t updated;
};

struct backend_ips {
	struct backend_ip *v;
	size_t *slot; /* of each used entry, in insertion order */
	size_t cap, max, n;
};

void backend_ips_init(struct backend_ips *s, size_t max);
void backend_ips_free(struct backend_ips *s);
void backend_ips_clear(struct backend_ips *s);
/* Add rec's source; DM_ELIMIT when the table is full (write it, clear
 * it, add again). */
int backend_ips_add(struct backend_ips *s, const struct dm_record *rec, int64_t now) DM_WUR;
/* A hash of an address, and one of the values its ips row is written
 * with (never 0). */
uint64_t backend_ip_hash(const unsigned char ip[16]);
uint64_t backend_ip_values_hash(const struct dm_enrichment *e);
/* Put the entries in address order (the ips table's): a write walks
 * its B-tree once. */
void backend_ips_sort(struct backend_ips *s);
/* The i-th entry (0 <= i < s->n). */
const struct backend_ip *backend_ips_at(const struct backend_ips *s, size_t i);
/* Does the reverse-name state carry a result (confirmed, unconfirmed,
 * none), rather than "not known yet" or "the DNS failed"? */
int backend_ptr_final(int ptr_state);

#endif
